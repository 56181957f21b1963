//! What the examples share (not an example itself): logs on stderr, and
//! request ids on request spans.
#![allow(dead_code)] // each example uses a subset

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::http::{HeaderName, HeaderValue, Request};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use tracing_subscriber::EnvFilter;

/// Logs on stderr at `RUST_LOG` (default `info`), without ANSI colours
/// unless stderr is a terminal.
pub(crate) fn init_logs() {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// Every request in a span with its request id: the caller's `x-request-id`
/// or a new one (`<pid>-<n>`), echoed in the response.
pub(crate) fn with_request_ids(app: Router) -> Router {
    let header = HeaderName::from_static("x-request-id");
    let span = |request: &Request<_>| {
        // A header value that reads as a string is visible ASCII.
        let id = request
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        tracing::info_span!("request", id, method = %request.method(), path = request.uri().path())
    };
    app.layer(
        tower::ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(
                header.clone(),
                RequestIds::default(),
            ))
            .layer(TraceLayer::new_for_http().make_span_with(span))
            .layer(PropagateRequestIdLayer::new(header)),
    )
}

/// Request ids `<pid>-<n>`: unique in this process, and across instances on
/// one host.
#[derive(Clone, Default)]
struct RequestIds(Arc<AtomicU64>);

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n}", std::process::id()))
            .ok()
            .map(RequestId::new)
    }
}
