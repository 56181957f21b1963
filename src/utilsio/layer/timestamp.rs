//! SPEC 1.5 row 4: the callback's timestamp must be within 60 s of now.
//!
//! Needs [`CallbackBodyLayer`](super::CallbackBodyLayer) in front of it (it
//! reads the parsed [`CallbackRequest`] from the request's extensions).
//!
//! ```
//! use std::time::Duration;
//! use tower_signing::ManualClock;
//! use tower_signing::utilsio::TimestampWindow;
//! use tower_signing::utilsio::layer::CheckTimestampLayer;
//!
//! let layer = CheckTimestampLayer::new()
//!     .with_window(TimestampWindow::default().with_max_future(Duration::from_secs(5)))
//!     .with_clock(ManualClock::new(1_700_000_000)); // tests only; the default is the system clock
//! ```

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use tower::{Layer, Service};

use super::{CallbackRejection, CallbackRequest, Responder};
pub use crate::future::ResponseFuture;
use crate::utilsio::TimestampWindow;
use crate::{Clock, SystemClock};

/// Layer that applies [`CheckTimestamp`]: `|now - timestamp| <= 60 s` by
/// default ([`TimestampWindow`]), the system clock by default. Otherwise
/// 400 `Invalid timestamp`; the typed reason says whether it was too old or
/// in the future.
#[derive(Clone)]
#[must_use]
pub struct CheckTimestampLayer {
    window: TimestampWindow,
    clock: Arc<dyn Clock>,
    responder: Responder,
}

impl fmt::Debug for CheckTimestampLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckTimestampLayer")
            .field("window", &self.window)
            .field("responder", &self.responder)
            .finish_non_exhaustive()
    }
}

impl Default for CheckTimestampLayer {
    fn default() -> Self {
        CheckTimestampLayer {
            window: TimestampWindow::default(),
            clock: Arc::new(SystemClock),
            responder: Responder::default(),
        }
    }
}

impl CheckTimestampLayer {
    /// The SPEC window (60 s both ways) on the system clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the window.
    ///
    /// # Warning
    /// A wider window gives a captured callback longer to be replayed.
    pub fn with_window(mut self, window: TimestampWindow) -> Self {
        self.window = window;
        self
    }

    /// The window.
    pub fn window(&self) -> TimestampWindow {
        self.window
    }

    /// Reads the time from `clock` (e.g. [`ManualClock`](crate::ManualClock) in tests).
    pub fn with_clock(self, clock: impl Clock) -> Self {
        self.with_shared_clock(Arc::new(clock))
    }

    /// Reads the time from a clock shared with other parts of the app.
    pub fn with_shared_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
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

    fn check(&self, callback: Option<&CallbackRequest>) -> Result<(), CallbackRejection> {
        let callback = callback.ok_or(CallbackRejection::BodyNotParsed)?;
        self.window
            .check(self.clock.now_unix_seconds(), callback.timestamp_seconds())
            .map_err(CallbackRejection::InvalidTimestamp)
    }
}

impl<S> Layer<S> for CheckTimestampLayer {
    type Service = CheckTimestamp<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CheckTimestamp {
            inner,
            config: self.clone(),
        }
    }
}

/// Middleware that rejects callbacks whose timestamp is outside the window.
/// See [`CheckTimestampLayer`].
#[derive(Debug, Clone)]
pub struct CheckTimestamp<S> {
    inner: S,
    config: CheckTimestampLayer,
}

impl<S> CheckTimestamp<S> {
    /// Wraps `inner` with the default window and the system clock.
    pub fn new(inner: S) -> Self {
        CheckTimestampLayer::new().layer(inner)
    }

    /// A [`CheckTimestampLayer`] with the default window and the system clock.
    pub fn layer() -> CheckTimestampLayer {
        CheckTimestampLayer::new()
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

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for CheckTimestamp<S>
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
        match self.config.check(req.extensions().get()) {
            Ok(()) => ResponseFuture::inner(self.inner.call(req)),
            Err(rejection) => ResponseFuture::rejected(self.config.responder.reject(rejection)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;
    use crate::utilsio::TimestampError;
    use crate::utilsio::layer::test_util::{echo, full, status_and_body};
    use std::time::Duration;
    use tower::ServiceExt;

    const NOW: u64 = 1_700_000_000;

    fn callback(ts: u64) -> CallbackRequest {
        let body =
            format!(r#"{{"deviceId":"d","appId":"a","additionalData":"x","timestamp":{ts}}}"#);
        CallbackRequest::from_json(body.as_bytes()).unwrap()
    }

    async fn send(
        layer: CheckTimestampLayer,
        ts: u64,
    ) -> (u16, String, usize, Option<CallbackRejection>) {
        let (inner, calls) = echo();
        let mut req = Request::post("/").body(full("ok")).unwrap();
        req.extensions_mut().insert(callback(ts));
        let res = layer.layer(inner).oneshot(req).await.unwrap();
        let reason = res.extensions().get::<CallbackRejection>().cloned();
        let (status, body) = status_and_body(res).await;
        (status.as_u16(), body, calls.get(), reason)
    }

    fn layer() -> CheckTimestampLayer {
        CheckTimestampLayer::new().with_clock(ManualClock::new(NOW))
    }

    const INVALID: &str = r#"{"error":"Invalid timestamp"}"#;

    #[tokio::test]
    async fn within_sixty_seconds_reaches_inner_once() {
        for ts in [NOW, NOW - 55, NOW - 60, NOW + 60] {
            assert_eq!(send(layer(), ts).await, (200, "ok".into(), 1, None), "{ts}");
        }
    }

    #[tokio::test]
    async fn seventy_seconds_old_or_ahead_is_400() {
        let old = send(layer(), NOW - 70).await;
        assert_eq!((old.0, old.1.as_str(), old.2), (400, INVALID, 0));
        assert_eq!(
            old.3,
            Some(CallbackRejection::InvalidTimestamp(
                TimestampError::TooOld {
                    age_secs: 70,
                    max_secs: 60
                }
            ))
        );
        let ahead = send(layer(), NOW + 70).await;
        assert_eq!((ahead.0, ahead.1.as_str(), ahead.2), (400, INVALID, 0));
        assert!(matches!(
            ahead.3,
            Some(CallbackRejection::InvalidTimestamp(
                TimestampError::InFuture { .. }
            ))
        ));
    }

    #[tokio::test]
    async fn extreme_timestamps_do_not_overflow() {
        assert_eq!(send(layer(), u64::MAX).await.0, 400);
        assert_eq!(send(layer(), 1).await.0, 400);
    }

    #[tokio::test]
    async fn separate_past_and_future_tolerances() {
        let strict = layer().with_window(
            TimestampWindow::default()
                .with_max_past(Duration::from_secs(10))
                .with_max_future(Duration::from_secs(2)),
        );
        assert_eq!(send(strict.clone(), NOW - 10).await.0, 200);
        assert_eq!(send(strict.clone(), NOW - 11).await.0, 400);
        assert_eq!(send(strict.clone(), NOW + 2).await.0, 200);
        assert_eq!(send(strict, NOW + 3).await.0, 400);
    }

    #[tokio::test]
    async fn the_clock_is_read_per_request() {
        let clock = ManualClock::new(NOW);
        let layer = CheckTimestampLayer::new().with_clock(clock.clone());
        assert_eq!(send(layer.clone(), NOW).await.0, 200);
        clock.advance(61);
        assert_eq!(send(layer, NOW).await.0, 400);
    }

    #[tokio::test]
    async fn without_the_body_layer_is_a_500_not_a_pass() {
        let (inner, calls) = echo();
        let req = Request::post("/").body(full("ok")).unwrap();
        let res = layer().layer(inner).oneshot(req).await.unwrap();
        assert_eq!(res.status(), 500);
        assert_eq!(calls.get(), 0);
    }
}
