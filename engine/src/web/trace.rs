//! Request spans named by route template, so ids (and any query) never appear in logs.

use axum::extract::MatchedPath;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{MakeSpan, TraceLayer};

#[derive(Clone)]
pub struct RouteSpan;

impl<B> MakeSpan<B> for RouteSpan {
    fn make_span(&mut self, req: &axum::http::Request<B>) -> tracing::Span {
        // Named by route template so ids (and any query) never appear in logs.
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str)
            .unwrap_or("unmatched");
        tracing::info_span!("request", method = %req.method(), route)
    }
}

pub fn trace_layer() -> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, RouteSpan> {
    TraceLayer::new_for_http().make_span_with(RouteSpan)
}
