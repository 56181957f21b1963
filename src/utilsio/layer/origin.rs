//! SPEC 1.5 row 1: the callback must carry `X-utilsio-Origin: utilsio.dev`.
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Full;
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_signing::utilsio::layer::RequireOriginLayer;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let service = ServiceBuilder::new()
//!     .layer(RequireOriginLayer::new())
//!     .service_fn(|_req: Request<Full<Bytes>>| async {
//!         Ok::<_, std::convert::Infallible>(Response::new(Full::<Bytes>::default()))
//!     });
//!
//! let ok = Request::post("/").header("x-utilsio-origin", "utilsio.dev").body(Full::default())?;
//! assert_eq!(service.clone().oneshot(ok).await?.status(), StatusCode::OK);
//!
//! let other = Request::post("/").header("x-utilsio-origin", "evil.example").body(Full::default())?;
//! assert_eq!(service.oneshot(other).await?.status(), StatusCode::FORBIDDEN);
//! # Ok(())
//! # }
//! ```

use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::HeaderName;
use http::{HeaderValue, Request, Response};
use tower::{Layer, Service};

use super::{CallbackRejection, OriginProblem, Responder};
pub use crate::future::ResponseFuture;

/// The header utilsio.dev sends: `x-utilsio-origin`.
pub const ORIGIN_HEADER: HeaderName = HeaderName::from_static("x-utilsio-origin");

/// The value utilsio.dev sends: `utilsio.dev`.
pub const DEFAULT_ORIGIN: HeaderValue = HeaderValue::from_static("utilsio.dev");

/// Layer that applies [`RequireOrigin`]: the origin header must be present
/// exactly once with exactly the expected value (case-sensitive, no
/// trimming). Otherwise 403 `Unauthorized origin`.
///
/// The header is not a secret and anyone can send it; it keeps browsers and
/// casual callers out, while the signature itself is what utilsio verifies.
#[derive(Debug, Clone)]
#[must_use]
pub struct RequireOriginLayer {
    header: HeaderName,
    expected: HeaderValue,
    responder: Responder,
}

impl Default for RequireOriginLayer {
    fn default() -> Self {
        RequireOriginLayer {
            header: ORIGIN_HEADER,
            expected: DEFAULT_ORIGIN,
            responder: Responder::default(),
        }
    }
}

impl RequireOriginLayer {
    /// Requires `X-utilsio-Origin: utilsio.dev`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks another header name (default `x-utilsio-origin`).
    ///
    /// ```
    /// use http::header::HeaderName;
    /// use tower_signing::utilsio::layer::RequireOriginLayer;
    ///
    /// let layer = RequireOriginLayer::new().with_header(HeaderName::from_static("x-vendor-origin"));
    /// ```
    pub fn with_header(mut self, header: HeaderName) -> Self {
        self.header = header;
        self
    }

    /// Requires another value (default `utilsio.dev`), compared byte for byte.
    ///
    /// ```
    /// use http::HeaderValue;
    /// use tower_signing::utilsio::layer::RequireOriginLayer;
    ///
    /// let staging = RequireOriginLayer::new().with_expected(HeaderValue::from_static("staging.utilsio.dev"));
    /// ```
    pub fn with_expected(mut self, expected: HeaderValue) -> Self {
        self.expected = expected;
        self
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

    /// Checks a request's headers.
    fn check(&self, headers: &http::HeaderMap) -> Result<(), OriginProblem> {
        let mut values = headers.get_all(&self.header).iter();
        match (values.next(), values.next()) {
            (None, _) => Err(OriginProblem::Missing),
            (Some(_), Some(_)) => Err(OriginProblem::Repeated),
            (Some(v), None) if v.as_bytes() == self.expected.as_bytes() => Ok(()),
            (Some(_), None) => Err(OriginProblem::Mismatch),
        }
    }
}

impl<S> Layer<S> for RequireOriginLayer {
    type Service = RequireOrigin<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireOrigin {
            inner,
            config: self.clone(),
        }
    }
}

/// Middleware that rejects requests without the expected origin header. See
/// [`RequireOriginLayer`].
#[derive(Debug, Clone)]
pub struct RequireOrigin<S> {
    inner: S,
    config: RequireOriginLayer,
}

impl<S> RequireOrigin<S> {
    /// Wraps `inner` with the default check.
    pub fn new(inner: S) -> Self {
        RequireOriginLayer::new().layer(inner)
    }

    /// A [`RequireOriginLayer`] with the default check.
    pub fn layer() -> RequireOriginLayer {
        RequireOriginLayer::new()
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

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireOrigin<S>
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
        match self.config.check(req.headers()) {
            Ok(()) => ResponseFuture::inner(self.inner.call(req)),
            Err(problem) => ResponseFuture::rejected(
                self.config
                    .responder
                    .reject(CallbackRejection::UnauthorizedOrigin(problem)),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::utilsio::layer::test_util::{echo, full, status_and_body};
    use tower::ServiceExt;

    const FORBIDDEN: &str = r#"{"error":"Unauthorized origin"}"#;

    async fn send(req: Request<http_body_util::Full<Bytes>>) -> (u16, String, usize) {
        let (inner, calls) = echo();
        let res = RequireOrigin::new(inner).oneshot(req).await.unwrap();
        let reason = res.extensions().get::<CallbackRejection>().cloned();
        let (status, body) = status_and_body(res).await;
        if status.is_success() {
            assert_eq!(reason, None);
        } else {
            assert!(matches!(
                reason,
                Some(CallbackRejection::UnauthorizedOrigin(_))
            ));
        }
        (status.as_u16(), body, calls.get())
    }

    #[tokio::test]
    async fn exact_origin_reaches_inner_once() {
        let req = Request::post("/")
            .header("X-utilsio-Origin", "utilsio.dev")
            .body(full("hi"))
            .unwrap();
        assert_eq!(send(req).await, (200, "hi".into(), 1));
    }

    #[tokio::test]
    async fn missing_origin_is_403_without_calling_inner() {
        let req = Request::post("/").body(full("hi")).unwrap();
        assert_eq!(send(req).await, (403, FORBIDDEN.into(), 0));
    }

    #[tokio::test]
    async fn origin_value_is_case_sensitive_and_untrimmed() {
        for value in [
            "Utilsio.dev",
            "utilsio.dev ",
            "utilsio.dev.evil",
            "",
            "https://utilsio.dev",
        ] {
            let req = Request::post("/")
                .header("x-utilsio-origin", value)
                .body(full("hi"))
                .unwrap();
            assert_eq!(send(req).await, (403, FORBIDDEN.into(), 0), "{value:?}");
        }
    }

    #[tokio::test]
    async fn repeated_origin_is_403_even_if_both_match() {
        let req = Request::post("/")
            .header("x-utilsio-origin", "utilsio.dev")
            .header("x-utilsio-origin", "utilsio.dev")
            .body(full("hi"))
            .unwrap();
        let (inner, calls) = echo();
        let res = RequireOrigin::new(inner).oneshot(req).await.unwrap();
        assert_eq!(
            res.extensions().get::<CallbackRejection>(),
            Some(&CallbackRejection::UnauthorizedOrigin(
                OriginProblem::Repeated
            ))
        );
        assert_eq!(
            res.headers()[http::header::CONTENT_TYPE],
            "application/json"
        );
        assert_eq!(status_and_body(res).await.1, FORBIDDEN);
        assert_eq!(calls.get(), 0);
    }

    #[tokio::test]
    async fn custom_header_and_value() {
        let (inner, calls) = echo();
        let svc = RequireOriginLayer::new()
            .with_header(HeaderName::from_static("x-origin"))
            .with_expected(HeaderValue::from_static("example.org"))
            .layer(inner);
        let ok = Request::post("/")
            .header("x-origin", "example.org")
            .body(full(""))
            .unwrap();
        assert_eq!(svc.clone().oneshot(ok).await.unwrap().status(), 200);
        let old = Request::post("/")
            .header("x-utilsio-origin", "utilsio.dev")
            .body(full(""))
            .unwrap();
        assert_eq!(svc.oneshot(old).await.unwrap().status(), 403);
        assert_eq!(calls.get(), 1);
    }
}
