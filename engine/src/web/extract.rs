//! Extractors whose rejections are the API's JSON errors instead of axum's plain text.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A JSON object body. Unreadable JSON, a wrong content type, anything but an object at the
/// top, wrong types or unknown fields are all 400 `malformed`, with what is wrong.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // Through `Value` first: serde would otherwise read a struct from a JSON array too.
        let value = match axum::Json::<serde_json::Value>::from_request(req, state).await {
            Ok(axum::Json(v)) => v,
            Err(JsonRejection::MissingJsonContentType(_)) => {
                return Err(ApiError::malformed(
                    "send the body as JSON with `Content-Type: application/json`",
                ));
            }
            Err(e) => return Err(ApiError::malformed(e.body_text())),
        };
        if !value.is_object() {
            return Err(ApiError::malformed("the body must be a JSON object"));
        }
        serde_json::from_value(value)
            .map(Self)
            .map_err(|e| ApiError::malformed(format!("the body does not fit: {e}")))
    }
}

/// Query parameters; unreadable ones are 400 `malformed`.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Self(v))
            .map_err(|e: QueryRejection| ApiError::malformed(e.body_text()))
    }
}
