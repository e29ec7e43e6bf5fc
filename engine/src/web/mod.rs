//! What the two HTTP listeners share: the one error a request is answered with (a status and
//! `{"error": {"code", "message"}}`), extractors whose rejections are that error, and request
//! spans named by route. The control API (`api`) and the carriers' webhooks both build on it.

pub mod error;
pub mod extract;
pub mod refusals;
pub mod trace;

pub use error::{ApiError, ApiResult, ErrorBody, ErrorCode, ErrorDetail};
pub use extract::{Json, Query};
pub use refusals::Refusals;
pub use trace::trace_layer;
