//! The bundle: all five SPEC 1.5 checks in order, as one layer.
//!
//! See the [layer module](super) for an example.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::HeaderName;
use http::{HeaderValue, Request, Response};
use http_body::Body;
use http_body_util::Full;
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::{
    CallbackBody, CallbackBodyLayer, CallbackRejection, CheckAppId, CheckAppIdLayer,
    CheckTimestamp, CheckTimestampLayer, RequireHttps, RequireHttpsLayer, RequireOrigin,
    RequireOriginLayer, Responder, callback_body,
};
use crate::Clock;
use crate::future;
use crate::utilsio::TimestampWindow;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Layer that applies [`SignatureCallback`]: the origin, HTTPS, body,
/// timestamp and appId checks, in the SPEC 1.5 order. The first failing
/// check answers; the inner service (the handler that signs) runs only when
/// all pass, and finds the [`CallbackRequest`](super::CallbackRequest) in the
/// request's extensions.
///
/// Defaults: origin `X-utilsio-Origin: utilsio.dev`, HTTPS required, 16 KiB
/// body limit, ±60 s window on the system clock.
#[derive(Debug, Clone)]
#[must_use]
pub struct SignatureCallbackLayer {
    origin: RequireOriginLayer,
    https: RequireHttpsLayer,
    body: CallbackBodyLayer,
    timestamp: CheckTimestampLayer,
    app_id: CheckAppIdLayer,
}

impl SignatureCallbackLayer {
    /// All five checks with secure defaults, accepting callbacks for `app_id`.
    pub fn new(app_id: impl Into<Arc<str>>) -> Self {
        SignatureCallbackLayer {
            origin: RequireOriginLayer::new(),
            https: RequireHttpsLayer::new(),
            body: CallbackBodyLayer::new(),
            timestamp: CheckTimestampLayer::new(),
            app_id: CheckAppIdLayer::new(app_id),
        }
    }

    /// Checks another origin header name (default `x-utilsio-origin`).
    pub fn with_origin_header(mut self, header: HeaderName) -> Self {
        self.origin = self.origin.with_header(header);
        self
    }

    /// Requires another origin value (default `utilsio.dev`).
    pub fn with_expected_origin(mut self, expected: HeaderValue) -> Self {
        self.origin = self.origin.with_expected(expected);
        self
    }

    /// Turns the HTTPS check on (the default) or off. Read
    /// [`RequireHttpsLayer`]'s trust caveat.
    ///
    /// ```
    /// use tower_signing::utilsio::layer::SignatureCallbackLayer;
    ///
    /// let dev = SignatureCallbackLayer::new("my-app-id").with_require_https(false);
    /// ```
    ///
    /// # Warning
    /// Turn it off only for local development.
    pub fn with_require_https(mut self, required: bool) -> Self {
        self.https = self.https.with_enabled(required);
        self
    }

    /// Sets the body limit in bytes (default 16 KiB).
    pub fn with_body_limit(mut self, limit: usize) -> Self {
        self.body = self.body.with_limit(limit);
        self
    }

    /// Sets the timestamp window (default ±60 s).
    ///
    /// # Warning
    /// A wider window gives a captured callback longer to be replayed.
    pub fn with_window(mut self, window: TimestampWindow) -> Self {
        self.timestamp = self.timestamp.with_window(window);
        self
    }

    /// Reads the time from `clock` (default: the system clock).
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.timestamp = self.timestamp.with_clock(clock);
        self
    }

    /// Reads the time from a clock shared with other parts of the app.
    pub fn with_shared_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.timestamp = self.timestamp.with_shared_clock(clock);
        self
    }

    /// Replaces the JSON rejection response of every check. The typed
    /// [`CallbackRejection`] is still added to the response's extensions.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http::Response;
    /// use tower_signing::utilsio::layer::SignatureCallbackLayer;
    ///
    /// let layer = SignatureCallbackLayer::new("my-app-id").with_rejection_response(|rejection| {
    ///     let mut res = Response::new(Bytes::from(rejection.body_text().into_owned()));
    ///     *res.status_mut() = rejection.status();
    ///     res
    /// });
    /// ```
    pub fn with_rejection_response<F>(self, f: F) -> Self
    where
        F: Fn(&CallbackRejection) -> Response<Bytes> + Send + Sync + 'static,
    {
        let responder = Responder::custom(f);
        SignatureCallbackLayer {
            origin: self.origin.with_responder(responder.clone()),
            https: self.https.with_responder(responder.clone()),
            body: self.body.with_responder(responder.clone()),
            timestamp: self.timestamp.with_responder(responder.clone()),
            app_id: self.app_id.with_responder(responder),
        }
    }

    /// The app id callbacks must carry.
    pub fn app_id(&self) -> &str {
        self.app_id.app_id()
    }
}

type Stack<S> = RequireOrigin<RequireHttps<CallbackBody<CheckTimestamp<CheckAppId<S>>>>>;

impl<S> Layer<S> for SignatureCallbackLayer {
    type Service = SignatureCallback<S>;

    fn layer(&self, inner: S) -> Self::Service {
        let stack = self.origin.layer(
            self.https.layer(
                self.body
                    .layer(self.timestamp.layer(self.app_id.layer(inner))),
            ),
        );
        SignatureCallback { stack }
    }
}

/// Middleware running all five callback checks in order. See
/// [`SignatureCallbackLayer`].
///
/// The inner service receives `Request<Full<Bytes>>` and must be `Clone`.
#[derive(Debug, Clone)]
pub struct SignatureCallback<S> {
    stack: Stack<S>,
}

impl<S> SignatureCallback<S> {
    /// Wraps `inner` with all checks at their defaults, for `app_id`.
    pub fn new(inner: S, app_id: impl Into<Arc<str>>) -> Self {
        SignatureCallbackLayer::new(app_id).layer(inner)
    }

    /// A [`SignatureCallbackLayer`] for `app_id`.
    pub fn layer(app_id: impl Into<Arc<str>>) -> SignatureCallbackLayer {
        SignatureCallbackLayer::new(app_id)
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        self.stack.get_ref().get_ref().get_ref().get_ref().get_ref()
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        self.stack.get_mut().get_mut().get_mut().get_mut().get_mut()
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.stack
            .into_inner()
            .into_inner()
            .into_inner()
            .into_inner()
            .into_inner()
    }
}

type Nested<S, ReqBody, ResBody> = future::ResponseFuture<
    future::ResponseFuture<
        callback_body::ResponseFuture<CheckTimestamp<CheckAppId<S>>, ReqBody>,
        ResBody,
    >,
    ResBody,
>;

pin_project! {
    /// Response future of [`SignatureCallback`].
    pub struct ResponseFuture<S, ReqBody, ResBody>
    where
        S: Service<Request<Full<Bytes>>, Response = Response<ResBody>>,
        ReqBody: Body,
        ReqBody::Error: Into<BoxError>,
        ResBody: From<Bytes>,
    {
        #[pin]
        inner: Nested<S, ReqBody, ResBody>,
    }
}

impl<S, ReqBody, ResBody> fmt::Debug for ResponseFuture<S, ReqBody, ResBody>
where
    S: Service<Request<Full<Bytes>>, Response = Response<ResBody>>,
    ReqBody: Body,
    ReqBody::Error: Into<BoxError>,
    ResBody: From<Bytes>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Future for ResponseFuture<S, ReqBody, ResBody>
where
    S: Service<Request<Full<Bytes>>, Response = Response<ResBody>>,
    ReqBody: Body,
    ReqBody::Error: Into<BoxError>,
    ResBody: From<Bytes>,
{
    type Output = Result<Response<ResBody>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SignatureCallback<S>
where
    S: Service<Request<Full<Bytes>>, Response = Response<ResBody>> + Clone,
    ReqBody: Body,
    ReqBody::Error: Into<BoxError>,
    ResBody: From<Bytes>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Service::<Request<ReqBody>>::poll_ready(&mut self.stack, cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        ResponseFuture {
            inner: self.stack.call(req),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;
    use crate::utilsio::layer::test_util::{echo, full, status_and_body};
    use tower::ServiceExt;

    const NOW: u64 = 1_700_000_000;

    fn body(app_id: &str, ts: u64) -> String {
        format!(r#"{{"deviceId":"d","appId":"{app_id}","additionalData":"x","timestamp":{ts}}}"#)
    }

    async fn send(origin: Option<&str>, proto: Option<&str>, body: String) -> (u16, String, usize) {
        let (inner, calls) = echo();
        let svc = SignatureCallbackLayer::new("app")
            .with_clock(ManualClock::new(NOW))
            .layer(inner);
        let mut req = Request::post("/");
        if let Some(o) = origin {
            req = req.header("x-utilsio-origin", o);
        }
        if let Some(p) = proto {
            req = req.header("x-forwarded-proto", p);
        }
        let res = svc.oneshot(req.body(full(&body)).unwrap()).await.unwrap();
        let (status, text) = status_and_body(res).await;
        (status.as_u16(), text, calls.get())
    }

    fn err(text: &str) -> String {
        serde_json::json!({ "error": text }).to_string()
    }

    #[tokio::test]
    async fn all_checks_pass_reaches_inner_once() {
        let b = body("app", NOW - 30);
        assert_eq!(
            send(Some("utilsio.dev"), Some("https"), b.clone()).await,
            (200, b, 1)
        );
    }

    #[tokio::test]
    async fn first_failing_check_answers() {
        // Everything wrong: origin wins.
        let all_bad = send(Some("evil"), Some("http"), "{".into()).await;
        assert_eq!(all_bad, (403, err("Unauthorized origin"), 0));
        // Bad origin + stale timestamp: origin.
        let stale = body("app", NOW - 3600);
        assert_eq!(
            send(None, Some("https"), stale.clone()).await,
            (403, err("Unauthorized origin"), 0)
        );
        // Plain HTTP + malformed body: HTTPS.
        assert_eq!(
            send(Some("utilsio.dev"), None, "{".into()).await,
            (403, err("HTTPS required"), 0)
        );
        // Missing fields + wrong app: missing fields.
        assert_eq!(
            send(
                Some("utilsio.dev"),
                Some("https"),
                r#"{"appId":"other"}"#.into()
            )
            .await
            .0,
            400
        );
        // Stale + wrong app: timestamp.
        assert_eq!(
            send(
                Some("utilsio.dev"),
                Some("https"),
                body("other", NOW - 3600)
            )
            .await,
            (400, err("Invalid timestamp"), 0)
        );
        // Only the app id wrong.
        assert_eq!(
            send(Some("utilsio.dev"), Some("https"), body("other", NOW)).await,
            (403, err("Invalid appId"), 0)
        );
    }

    #[tokio::test]
    async fn custom_rejection_applies_to_every_check() {
        let (inner, calls) = echo();
        let svc = SignatureCallbackLayer::new("app")
            .with_require_https(false)
            .with_clock(ManualClock::new(NOW))
            .with_rejection_response(|r| {
                let mut res = Response::new(Bytes::from(r.kind()));
                *res.status_mut() = r.status();
                res
            });
        let req = Request::post("/")
            .header("x-utilsio-origin", "utilsio.dev")
            .body(full(&body("other", NOW)))
            .unwrap();
        let res = svc.layer(inner).oneshot(req).await.unwrap();
        assert_eq!(
            status_and_body(res).await,
            (http::StatusCode::FORBIDDEN, "invalid_app_id".into())
        );
        assert_eq!(calls.get(), 0);
    }

    #[test]
    fn inner_service_is_reachable() {
        let mut svc = SignatureCallback::new(7u8, "app");
        assert_eq!(*svc.get_ref(), 7);
        *svc.get_mut() = 8;
        assert_eq!(svc.into_inner(), 8);
    }
}
