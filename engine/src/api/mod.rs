//! The control API: REST + the `/api/events` WebSocket on the loopback listener, behind a
//! bearer token. Everything the UI does goes through here, so scripts and CRMs get the same
//! surface. The OpenAPI document is generated from the handlers' annotations.

mod agents;
mod audio;
mod backup;
mod call_analysis;
mod calls;
mod campaigns;
mod cluster;
mod cost_rates;
mod credentials;
mod diagnostics;
mod do_not_call;
mod events;
mod guard;
mod listen;
mod overview;
mod phone_numbers;
pub mod settings;
mod test_calls;
mod tool_secrets;
mod ui;
mod webhooks;

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tower::ServiceExt;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::services::{ServeDir, ServeFile};
use tower_http::timeout::TimeoutLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::engine::Engine;
use crate::web::{ApiError, ErrorCode};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchboard control API",
        description = "Agents, phone numbers, calls, settings and credentials of a Switchboard engine. \
            Every route needs `Authorization: Bearer <token>` (`switchboard token` prints it). \
            Errors are `{\"error\": {\"code\", \"message\"}}`.",
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "agents", description = "AI agents"),
        (name = "phone-numbers", description = "Managed numbers and their agents"),
        (name = "calls", description = "Call log and transcripts"),
        (name = "campaigns", description = "Outbound campaigns, leads and progress"),
        (name = "do-not-call", description = "Numbers never dialed: the global list and campaigns' lists"),
        (name = "settings", description = "Plain settings and credentials"),
        (name = "events", description = "Live event stream"),
        (name = "audio", description = "This machine's microphones and speakers"),
        (name = "webhooks", description = "Your systems told about calls, signed, with a delivery log"),
    ),
    components(schemas(crate::events::Event))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every operation can answer 401 (token) and 400 (unreadable request); say so once here
/// rather than on each handler.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{RefOr, ResponseBuilder, content::ContentBuilder};
        let error = |description: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build(),
            )
        };
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                let responses = &mut op.responses.responses;
                responses
                    .entry("401".into())
                    .or_insert_with(|| error("Missing or wrong bearer token"));
                responses.entry("403".into()).or_insert_with(|| {
                    error(
                        "Sent by a page of another origin, or to a name that is not the \
                         listener's loopback address",
                    )
                });
                responses
                    .entry("400".into())
                    .or_insert_with(|| error("The request could not be read"));
            }
        }
    }
}

/// The API's routes and its OpenAPI document, built from the same handler list.
fn api_routes() -> (Router<Engine>, utoipa::openapi::OpenApi) {
    let routes = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(agents::list, agents::create))
        .routes(routes!(agents::get, agents::update, agents::delete))
        .routes(routes!(agents::stats))
        .routes(routes!(agents::create_with_number))
        .routes(routes!(campaigns::load_stats))
        .routes(routes!(agents::put_context))
        .routes(routes!(phone_numbers::list, phone_numbers::create))
        .routes(routes!(
            phone_numbers::get,
            phone_numbers::update,
            phone_numbers::delete
        ))
        .routes(routes!(phone_numbers::point))
        .routes(routes!(phone_numbers::point_all))
        .routes(routes!(phone_numbers::sync))
        .routes(routes!(phone_numbers::import))
        .routes(routes!(phone_numbers::search))
        .routes(routes!(phone_numbers::buy))
        .routes(routes!(phone_numbers::requirements))
        .routes(routes!(tool_secrets::list))
        .routes(routes!(tool_secrets::put, tool_secrets::delete))
        .routes(routes!(overview::overview))
        .routes(routes!(calls::list))
        .routes(routes!(calls::export))
        .routes(routes!(calls::get, calls::delete))
        .routes(routes!(calls::recording))
        .routes(routes!(calls::put_context))
        .routes(routes!(calls::whisper))
        .routes(routes!(calls::hang_up))
        .routes(routes!(call_analysis::rerun))
        .routes(routes!(calls::place))
        .routes(routes!(do_not_call::list, do_not_call::add))
        .routes(routes!(do_not_call::remove))
        .routes(routes!(do_not_call::import))
        .routes(routes!(listen::audio))
        .routes(routes!(listen::get_listening, listen::put_listening))
        .routes(routes!(listen::take_over))
        .routes(routes!(listen::hand_back))
        .routes(routes!(test_calls::start))
        .routes(routes!(test_calls::mute))
        .routes(routes!(audio::devices))
        .routes(routes!(audio::tone))
        .routes(routes!(audio::level))
        .routes(routes!(campaigns::list, campaigns::create))
        .routes(routes!(
            campaigns::get,
            campaigns::update,
            campaigns::delete
        ))
        .routes(routes!(campaigns::start))
        .routes(routes!(campaigns::pause))
        .routes(routes!(campaigns::resume))
        .routes(routes!(campaigns::stop))
        .routes(routes!(campaigns::leads))
        .routes(routes!(overview::funnel))
        .routes(routes!(campaigns::import_leads))
        .routes(routes!(settings::get, settings::update))
        .routes(routes!(backup::download))
        .routes(routes!(backup::status))
        .routes(routes!(backup::restore))
        .routes(routes!(cost_rates::get, cost_rates::put, cost_rates::reset))
        .routes(routes!(cluster::get))
        .routes(routes!(diagnostics::get))
        .routes(routes!(credentials::list))
        .routes(routes!(credentials::put, credentials::delete))
        .routes(routes!(webhooks::list, webhooks::create))
        .routes(routes!(webhooks::get, webhooks::update, webhooks::delete))
        .routes(routes!(webhooks::secret))
        .routes(routes!(webhooks::rotate_secret))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(webhooks::redeliver))
        .routes(routes!(events::stream));
    let (router, mut doc) = routes.split_for_parts();
    // Applied after the routes are in, so it reaches every operation.
    CommonResponses.modify(&mut doc);
    (router, doc)
}

/// The OpenAPI document, for tools that generate clients.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_routes().1
}

pub fn router(engine: Engine) -> Router {
    let guard = std::sync::Arc::new(guard::Guard::new(&engine.config().allow_origins));
    let (api, doc) = api_routes();
    let doc = std::sync::Arc::new(doc);
    let api = api
        .route_layer(middleware::from_fn_with_state(
            engine.clone(),
            require_token,
        ))
        .route(
            "/api/openapi.json",
            get(move || async move { Json(doc.as_ref().clone()) }),
        )
        .route(
            "/api/health",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        );
    // A browser on a server gets the same pages the desktop window shows: from `--ui-dir`
    // when given, else built into the binary (`ui`); unknown non-API paths are the UI's routes.
    let ui_dir = engine.config().ui_dir.clone().map(|dir| {
        let index = dir.join("index.html");
        ServeDir::new(dir).fallback(ServeFile::new(index))
    });
    let app = api
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(move |req: Request| async move {
            if req.uri().path().starts_with("/api") {
                return not_found(req).await.into_response();
            }
            match ui_dir {
                Some(dir) => dir.oneshot(req).await.into_response(),
                None => ui::serve(req).await,
            }
        });
    // Lead lists are the biggest bodies (100,000 rows is a few megabytes).
    app.layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(cors(guard.clone()))
        // Outside CORS, so a foreign page's preflight is refused too, with its reason.
        .layer(middleware::from_fn_with_state(guard, guard::guard))
        .layer(crate::web::trace_layer())
        .with_state(engine)
}

/// The desktop window's origin and those allowed by `--allow-origin` may read answers; the
/// UI's own pages are same-origin and need no CORS. The bearer token is what grants access
/// (no cookies are used).
fn cors(guard: std::sync::Arc<guard::Guard>) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |o: &HeaderValue, _| {
            guard.cors_allows(o)
        }))
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(Duration::from_secs(600))
}

async fn require_token(State(engine): State<Engine>, req: Request, next: Next) -> Response {
    let from_header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    // Browsers cannot set headers on a WebSocket, so the event stream and a call's audio
    // alone also take the token as a query parameter.
    let path = req.uri().path();
    let websocket = path == "/api/events"
        || path
            .strip_prefix("/api/calls/")
            .is_some_and(|p| p.ends_with("/audio"));
    let from_query = websocket
        .then(|| {
            req.uri().query().and_then(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "access_token")
                    .map(|(_, v)| v.into_owned())
            })
        })
        .flatten();
    let presented = from_header.map(str::to_owned).or(from_query);
    match presented {
        Some(t) if engine.token_matches(t.trim()) => next.run(req).await,
        _ => ApiError::unauthorized().into_response(),
    }
}

async fn not_found(req: Request) -> ApiError {
    ApiError::not_found(format!("no route {} {}", req.method(), req.uri().path()))
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::Malformed,
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
}
