//! SPEC 1.5 row 2: in production the callback must have come over HTTPS.
//!
//! # Trust caveat
//! A Rust server behind a TLS-terminating proxy (a load balancer, nginx,
//! Fly, Render...) sees plain HTTP and learns the original scheme only from
//! the `X-Forwarded-Proto` or `Forwarded` header **the proxy adds**. Those
//! headers are only meaningful when the proxy overwrites whatever the client
//! sent; a server reachable directly, or behind a proxy that passes client
//! headers through, can be fooled by a client sending
//! `X-Forwarded-Proto: https` itself. Check your proxy's configuration.
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Full;
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_signing::utilsio::layer::RequireHttpsLayer;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let service = ServiceBuilder::new()
//!     .layer(RequireHttpsLayer::new())
//!     .service_fn(|_req: Request<Full<Bytes>>| async {
//!         Ok::<_, std::convert::Infallible>(Response::new(Full::<Bytes>::default()))
//!     });
//!
//! let proxied = Request::post("/").header("x-forwarded-proto", "https").body(Full::default())?;
//! assert_eq!(service.clone().oneshot(proxied).await?.status(), StatusCode::OK);
//!
//! let plain = Request::post("/").body(Full::default())?;
//! assert_eq!(service.oneshot(plain).await?.status(), StatusCode::FORBIDDEN);
//! # Ok(())
//! # }
//! ```

use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, Uri, header};
use tower::{Layer, Service};

use super::{CallbackRejection, Responder};
pub use crate::future::ResponseFuture;

/// Layer that applies [`RequireHttps`]: accepts a request when its first
/// `X-Forwarded-Proto` value is `https`, when the first element of its
/// RFC 7239 `Forwarded` header has `proto=https`, or when its URI's scheme is
/// `https`. Otherwise 403 `HTTPS required`.
///
/// On by default. Read the [module docs](self) for the trust caveat.
#[derive(Debug, Clone)]
#[must_use]
pub struct RequireHttpsLayer {
    enabled: bool,
    responder: Responder,
}

impl Default for RequireHttpsLayer {
    fn default() -> Self {
        RequireHttpsLayer {
            enabled: true,
            responder: Responder::default(),
        }
    }
}

impl RequireHttpsLayer {
    /// Requires HTTPS.
    pub fn new() -> Self {
        Self::default()
    }

    /// Turns the check on (the default) or off.
    ///
    /// ```
    /// use tower_signing::utilsio::layer::RequireHttpsLayer;
    ///
    /// let local_dev = RequireHttpsLayer::new().with_enabled(false);
    /// ```
    ///
    /// # Warning
    /// Off, a callback over plain HTTP is signed; turn it off only for local
    /// development (the reference checks it only when `NODE_ENV=production`).
    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Whether the check is on.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Replaces the default JSON rejection response. The typed
    /// [`CallbackRejection`] is still added to the response's extensions.
    pub fn with_rejection_response<F>(mut self, f: F) -> Self
    where
        F: Fn(&CallbackRejection) -> Response<Bytes> + Send + Sync + 'static,
    {
        self.responder = Responder::custom(f);
        self
    }

    pub(crate) fn with_responder(mut self, responder: Responder) -> Self {
        self.responder = responder;
        self
    }
}

/// Whether the request came over HTTPS, as far as its URI and (proxy-set)
/// headers tell.
fn is_https(uri: &Uri, headers: &HeaderMap) -> bool {
    if uri.scheme() == Some(&http::uri::Scheme::HTTPS) {
        return true;
    }
    let forwarded_proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim);
    if forwarded_proto.is_some_and(|p| p.eq_ignore_ascii_case("https")) {
        return true;
    }
    headers
        .get(header::FORWARDED)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|element| {
            element.split(';').any(|pair| {
                let mut kv = pair.splitn(2, '=');
                let key = kv.next().unwrap_or("").trim();
                let value = kv.next().unwrap_or("").trim().trim_matches('"');
                key.eq_ignore_ascii_case("proto") && value.eq_ignore_ascii_case("https")
            })
        })
}

impl<S> Layer<S> for RequireHttpsLayer {
    type Service = RequireHttps<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireHttps {
            inner,
            config: self.clone(),
        }
    }
}

/// Middleware that rejects requests that did not come over HTTPS. See
/// [`RequireHttpsLayer`].
#[derive(Debug, Clone)]
pub struct RequireHttps<S> {
    inner: S,
    config: RequireHttpsLayer,
}

impl<S> RequireHttps<S> {
    /// Wraps `inner`, requiring HTTPS.
    pub fn new(inner: S) -> Self {
        RequireHttpsLayer::new().layer(inner)
    }

    /// A [`RequireHttpsLayer`] requiring HTTPS.
    pub fn layer() -> RequireHttpsLayer {
        RequireHttpsLayer::new()
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireHttps<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: From<Bytes>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        if !self.config.enabled || is_https(req.uri(), req.headers()) {
            ResponseFuture::inner(self.inner.call(req))
        } else {
            ResponseFuture::rejected(
                self.config
                    .responder
                    .reject(CallbackRejection::HttpsRequired),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::utilsio::layer::test_util::{echo, full, status_and_body};
    use tower::ServiceExt;

    async fn send(
        layer: RequireHttpsLayer,
        req: Request<http_body_util::Full<Bytes>>,
    ) -> (u16, String, usize) {
        let (inner, calls) = echo();
        let res = layer.layer(inner).oneshot(req).await.unwrap();
        let (status, body) = status_and_body(res).await;
        (status.as_u16(), body, calls.get())
    }

    fn with(name: &str, value: &str) -> Request<http_body_util::Full<Bytes>> {
        Request::post("/")
            .header(name, value)
            .body(full("ok"))
            .unwrap()
    }

    const REQUIRED: &str = r#"{"error":"HTTPS required"}"#;

    #[tokio::test]
    async fn forwarded_proto_https_is_accepted_once() {
        for value in ["https", "HTTPS", "https, http", " https "] {
            let got = send(RequireHttpsLayer::new(), with("x-forwarded-proto", value)).await;
            assert_eq!(got, (200, "ok".into(), 1), "{value:?}");
        }
    }

    #[tokio::test]
    async fn only_the_first_forwarded_proto_counts() {
        let got = send(
            RequireHttpsLayer::new(),
            with("x-forwarded-proto", "http, https"),
        )
        .await;
        assert_eq!(got, (403, REQUIRED.into(), 0));
        let req = Request::post("/")
            .header("x-forwarded-proto", "http")
            .header("x-forwarded-proto", "https")
            .body(full(""))
            .unwrap();
        assert_eq!(send(RequireHttpsLayer::new(), req).await.0, 403);
    }

    #[tokio::test]
    async fn rfc7239_forwarded_header() {
        for value in [
            "proto=https",
            "for=1.2.3.4;proto=\"https\";by=x",
            "Proto=HTTPS, proto=http",
        ] {
            let got = send(RequireHttpsLayer::new(), with("forwarded", value)).await;
            assert_eq!(got.0, 200, "{value:?}");
        }
        for value in ["proto=http", "for=1.2.3.4, proto=https", "protocol=https"] {
            let got = send(RequireHttpsLayer::new(), with("forwarded", value)).await;
            assert_eq!(got, (403, REQUIRED.into(), 0), "{value:?}");
        }
    }

    #[tokio::test]
    async fn https_uri_scheme_is_accepted() {
        let req = Request::post("https://example.org/cb")
            .body(full(""))
            .unwrap();
        assert_eq!(send(RequireHttpsLayer::new(), req).await.0, 200);
    }

    #[tokio::test]
    async fn plain_http_is_403_and_carries_reason() {
        let (inner, calls) = echo();
        let req = with("x-forwarded-proto", "http");
        let res = RequireHttpsLayer::new()
            .layer(inner)
            .oneshot(req)
            .await
            .unwrap();
        assert_eq!(
            res.extensions().get::<CallbackRejection>(),
            Some(&CallbackRejection::HttpsRequired)
        );
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(status_and_body(res).await.1, REQUIRED);
        assert_eq!(calls.get(), 0);
    }

    #[tokio::test]
    async fn disabled_check_lets_plain_http_through() {
        let req = Request::post("/").body(full("ok")).unwrap();
        let got = send(RequireHttpsLayer::new().with_enabled(false), req).await;
        assert_eq!(got, (200, "ok".into(), 1));
    }
}
