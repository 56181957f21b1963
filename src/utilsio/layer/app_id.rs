//! SPEC 1.5 row 5: the callback's appId must be this app's.
//!
//! Needs [`CallbackBodyLayer`](super::CallbackBodyLayer) in front of it (it
//! reads the parsed [`CallbackRequest`] from the request's extensions).
//!
//! ```
//! use tower_signing::utilsio::layer::CheckAppIdLayer;
//!
//! let layer = CheckAppIdLayer::new("my-app-id");
//! assert_eq!(layer.app_id(), "my-app-id");
//! ```

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use subtle::ConstantTimeEq;
use tower::{Layer, Service};

use super::{CallbackRejection, CallbackRequest, Responder};
pub use crate::future::ResponseFuture;

/// Layer that applies [`CheckAppId`]: the body's appId must equal the
/// configured one, byte for byte. Otherwise 403 `Invalid appId`.
#[derive(Debug, Clone)]
#[must_use]
pub struct CheckAppIdLayer {
    app_id: Arc<str>,
    responder: Responder,
}

impl CheckAppIdLayer {
    /// Accepts only callbacks for `app_id`.
    pub fn new(app_id: impl Into<Arc<str>>) -> Self {
        CheckAppIdLayer {
            app_id: app_id.into(),
            responder: Responder::default(),
        }
    }

    /// The app id callbacks must carry.
    pub fn app_id(&self) -> &str {
        &self.app_id
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
        // The app id is public; comparing in constant time costs nothing.
        let given = callback.app_id().as_bytes();
        if given.len() == self.app_id.len() && bool::from(given.ct_eq(self.app_id.as_bytes())) {
            Ok(())
        } else {
            Err(CallbackRejection::InvalidAppId)
        }
    }
}

impl<S> Layer<S> for CheckAppIdLayer {
    type Service = CheckAppId<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CheckAppId {
            inner,
            config: self.clone(),
        }
    }
}

/// Middleware that rejects callbacks for another app. See [`CheckAppIdLayer`].
#[derive(Debug, Clone)]
pub struct CheckAppId<S> {
    inner: S,
    config: CheckAppIdLayer,
}

impl<S> CheckAppId<S> {
    /// Wraps `inner`, accepting only callbacks for `app_id`.
    pub fn new(inner: S, app_id: impl Into<Arc<str>>) -> Self {
        CheckAppIdLayer::new(app_id).layer(inner)
    }

    /// A [`CheckAppIdLayer`] for `app_id`.
    pub fn layer(app_id: impl Into<Arc<str>>) -> CheckAppIdLayer {
        CheckAppIdLayer::new(app_id)
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

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for CheckAppId<S>
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
    use crate::utilsio::layer::test_util::{echo, full, status_and_body};
    use tower::ServiceExt;

    async fn send(app_id_in_body: &str) -> (u16, String, usize) {
        let (inner, calls) = echo();
        let body = format!(
            r#"{{"deviceId":"d","appId":{},"additionalData":"x","timestamp":1}}"#,
            serde_json::to_string(app_id_in_body).unwrap()
        );
        let mut req = Request::post("/").body(full("ok")).unwrap();
        req.extensions_mut()
            .insert(CallbackRequest::from_json(body.as_bytes()).unwrap());
        let res = CheckAppId::new(inner, "app-Ünï")
            .oneshot(req)
            .await
            .unwrap();
        let (status, body) = status_and_body(res).await;
        (status.as_u16(), body, calls.get())
    }

    #[tokio::test]
    async fn own_app_id_reaches_inner_once() {
        assert_eq!(send("app-Ünï").await, (200, "ok".into(), 1));
    }

    #[tokio::test]
    async fn other_app_id_is_403() {
        for other in ["app-Üni", "APP-ÜNÏ", "app-Ünï ", "app", "app-Ünïx"] {
            assert_eq!(
                send(other).await,
                (403, r#"{"error":"Invalid appId"}"#.into(), 0),
                "{other}"
            );
        }
    }
}
