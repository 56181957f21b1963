//! Tower layers for the utilsio signature callback: the checks of
//! [`CallbackPolicy`] as middleware, one per check or all at once.
//!
//! | layer | check | failure |
//! |---|---|---|
//! | [`RequireOriginLayer`] | `X-utilsio-Origin: utilsio.dev`, exactly once; the caller's address is an allowed source (when configured) | 403 `Unauthorized origin` |
//! | [`RequireHttpsLayer`] | the request came over HTTPS ([`HttpsPolicy`]) | 403 `HTTPS required` |
//! | [`CallbackBodyLayer`] | a JSON object with the four fields, all truthy | 400 `Missing required fields: ...` (413 when too large) |
//! | [`CheckTimestampLayer`] | `\|now - timestamp\| <= 60 s` | 400 `Invalid timestamp` |
//! | [`CheckAppIdLayer`] | the body's appId is this app's | 403 `Invalid appId` |
//!
//! [`SignatureCallbackLayer`] runs all five in that order, so a request
//! failing several checks gets the first failing check's answer. Every layer
//! answers a method other than `POST` with 405 `Method not allowed: use POST`
//! and `Allow: POST`.
//!
//! The per-check layers stack in any order: a check that needs the body
//! reads it (once, within the limit) and parses it if no layer in front of it
//! did, and leaves the [`CallbackRequest`] in the request's extensions for
//! the next. Checks on headers answer before any body byte is read.
//!
//! Every rejection is a JSON response `{"error": "..."}` with
//! `content-type: application/json`; the inner service is not called; the
//! typed [`CallbackRejection`] is in the response's extensions; and a
//! `tracing` warn event says why, without secrets, signatures or the body.
//! `with_rejection_response` replaces the response.
//!
//! The layers work on `http::Request<B>` for any body `B`, answer with any
//! response body that is `From<Bytes>` (axum's `Body`,
//! `http_body_util::Full<Bytes>`), and keep `type Error = S::Error`. The inner
//! service receives `http::Request<Full<Bytes>>` (the bytes that were read)
//! and must be `Clone`. The TCP peer (for trusted proxies and allowed
//! sources) is read from the [`PeerAddr`] extension
//! or axum's `ConnectInfo<SocketAddr>`.
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::{BodyExt, Full};
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_signing::ManualClock;
//! use tower_signing::utilsio::CallbackRequest;
//! use tower_signing::utilsio::layer::SignatureCallbackLayer;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let clock = ManualClock::new(1_700_000_000);
//! let service = ServiceBuilder::new()
//!     .layer(
//!         SignatureCallbackLayer::new("my-app-id")
//!             .with_require_https(false) // local development only
//!             .with_clock(clock.clone()),
//!     )
//!     .service_fn(|req: Request<Full<Bytes>>| async move {
//!         let callback = req.extensions().get::<CallbackRequest>().expect("set by the layer");
//!         let text = format!("sign {}", callback.device_id());
//!         Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(text))))
//!     });
//!
//! let body = r#"{"deviceId":"d1","appId":"my-app-id","additionalData":"x","timestamp":1700000000}"#;
//! let request = Request::post("/api/signature-callback")
//!     .header("x-utilsio-origin", "utilsio.dev")
//!     .body(Full::new(Bytes::from(body)))?;
//! let response = service.clone().oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! assert_eq!(response.into_body().collect().await?.to_bytes(), "sign d1");
//!
//! // Without the origin header: the first check answers.
//! let request = Request::post("/api/signature-callback").body(Full::new(Bytes::from(body)))?;
//! let response = service.oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::FORBIDDEN);
//! assert_eq!(
//!     response.into_body().collect().await?.to_bytes(),
//!     r#"{"error":"Unauthorized origin"}"#
//! );
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::header::HeaderName;
use http::request::Parts;
use http::{Extensions, HeaderMap, HeaderValue, Method, Request, Response, header};
use http_body::Body;
use http_body_util::combinators::Collect;
use http_body_util::{Full, Limited};
use ipnet::IpNet;
use pin_project_lite::pin_project;
use tower::{BoxError, Layer, Service};

use super::{
    CallbackPolicy, CallbackRejection, CallbackRequest, HttpsPolicy, PeerAddr, TimestampWindow,
};
use crate::Clock;
use crate::json_body::{finish_limited, json_error, start_limited};

/// One check of the callback, run by [`Check`]. A new check is one type
/// implementing this trait; [`CheckLayer::from_policy`] makes it a layer.
///
/// ```
/// use tower_signing::utilsio::layer::{CallbackCheck, CheckLayer};
/// use tower_signing::utilsio::{CallbackPolicy, CallbackRejection, CallbackRequest};
///
/// /// Refuses callbacks for one device.
/// #[derive(Clone, Default)]
/// struct NotDevice42;
///
/// impl CallbackCheck for NotDevice42 {
///     const NEEDS_BODY: bool = true;
///     fn check_body(&self, _: &CallbackPolicy, cb: &CallbackRequest) -> Result<(), CallbackRejection> {
///         if cb.device_id() == "42" { Err(CallbackRejection::MissingFields) } else { Ok(()) }
///     }
/// }
///
/// let layer = CheckLayer::<NotDevice42>::from_policy(CallbackPolicy::new("my-app-id"));
/// ```
pub trait CallbackCheck: Clone + Send + Sync + 'static {
    /// Whether [`CallbackCheck::check_body`] needs the parsed body.
    const NEEDS_BODY: bool;

    /// Runs on the request head, before any body byte is read.
    ///
    /// # Errors
    /// The rejection to answer with.
    fn check_head(
        &self,
        _policy: &CallbackPolicy,
        _headers: &HeaderMap,
        _extensions: &Extensions,
        _peer: Option<SocketAddr>,
    ) -> Result<(), CallbackRejection> {
        Ok(())
    }

    /// Runs on the parsed body (only when [`CallbackCheck::NEEDS_BODY`]).
    ///
    /// # Errors
    /// The rejection to answer with.
    fn check_body(
        &self,
        _policy: &CallbackPolicy,
        _callback: &CallbackRequest,
    ) -> Result<(), CallbackRejection> {
        Ok(())
    }
}

/// The origin header, and the caller's address when allowed sources are set.
#[derive(Debug, Clone, Copy, Default)]
pub struct OriginCheck;

/// The request came over HTTPS.
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpsCheck;

/// The body parses into a [`CallbackRequest`].
#[derive(Debug, Clone, Copy, Default)]
pub struct BodyCheck;

/// The timestamp is within the window.
#[derive(Debug, Clone, Copy, Default)]
pub struct TimestampCheck;

/// The body's appId is this app's.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppIdCheck;

/// Every check, in order.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllChecks;

impl CallbackCheck for OriginCheck {
    const NEEDS_BODY: bool = false;
    fn check_head(
        &self,
        policy: &CallbackPolicy,
        headers: &HeaderMap,
        _: &Extensions,
        peer: Option<SocketAddr>,
    ) -> Result<(), CallbackRejection> {
        policy.check_origin(headers)?;
        policy.check_source(headers, peer)
    }
}

impl CallbackCheck for HttpsCheck {
    const NEEDS_BODY: bool = false;
    fn check_head(
        &self,
        policy: &CallbackPolicy,
        headers: &HeaderMap,
        extensions: &Extensions,
        peer: Option<SocketAddr>,
    ) -> Result<(), CallbackRejection> {
        policy.check_https(headers, extensions, peer)
    }
}

impl CallbackCheck for BodyCheck {
    const NEEDS_BODY: bool = true;
}

impl CallbackCheck for TimestampCheck {
    const NEEDS_BODY: bool = true;
    fn check_body(
        &self,
        policy: &CallbackPolicy,
        cb: &CallbackRequest,
    ) -> Result<(), CallbackRejection> {
        policy.check_timestamp(cb)
    }
}

impl CallbackCheck for AppIdCheck {
    const NEEDS_BODY: bool = true;
    fn check_body(
        &self,
        policy: &CallbackPolicy,
        cb: &CallbackRequest,
    ) -> Result<(), CallbackRejection> {
        policy.check_app_id(cb)
    }
}

impl CallbackCheck for AllChecks {
    const NEEDS_BODY: bool = true;
    fn check_head(
        &self,
        policy: &CallbackPolicy,
        headers: &HeaderMap,
        extensions: &Extensions,
        peer: Option<SocketAddr>,
    ) -> Result<(), CallbackRejection> {
        OriginCheck.check_head(policy, headers, extensions, peer)?;
        policy.check_https(headers, extensions, peer)
    }
    fn check_body(
        &self,
        policy: &CallbackPolicy,
        cb: &CallbackRequest,
    ) -> Result<(), CallbackRejection> {
        policy.check_parsed(cb)
    }
}

/// Layer checking the origin header (and allowed sources). See the [module docs](self).
pub type RequireOriginLayer = CheckLayer<OriginCheck>;
/// Layer checking that the callback came over HTTPS.
pub type RequireHttpsLayer = CheckLayer<HttpsCheck>;
/// Layer reading and validating the callback body.
pub type CallbackBodyLayer = CheckLayer<BodyCheck>;
/// Layer checking the callback's timestamp.
pub type CheckTimestampLayer = CheckLayer<TimestampCheck>;
/// Layer checking the callback's appId.
pub type CheckAppIdLayer = CheckLayer<AppIdCheck>;
/// Layer running every callback check, in order.
pub type SignatureCallbackLayer = CheckLayer<AllChecks>;
/// Middleware of [`RequireOriginLayer`].
pub type RequireOrigin<S> = Check<S, OriginCheck>;
/// Middleware of [`RequireHttpsLayer`].
pub type RequireHttps<S> = Check<S, HttpsCheck>;
/// Middleware of [`CallbackBodyLayer`].
pub type CallbackBody<S> = Check<S, BodyCheck>;
/// Middleware of [`CheckTimestampLayer`].
pub type CheckTimestamp<S> = Check<S, TimestampCheck>;
/// Middleware of [`CheckAppIdLayer`].
pub type CheckAppId<S> = Check<S, AppIdCheck>;
/// Middleware of [`SignatureCallbackLayer`].
pub type SignatureCallback<S> = Check<S, AllChecks>;

/// Layer that applies [`Check`]: runs the check `C` with a
/// [`CallbackPolicy`]. Use it through the aliases ([`SignatureCallbackLayer`],
/// [`RequireOriginLayer`], ...).
#[derive(Clone)]
#[must_use]
pub struct CheckLayer<C> {
    policy: CallbackPolicy,
    check: C,
    responder: Responder,
}

impl<C: fmt::Debug> fmt::Debug for CheckLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckLayer")
            .field("check", &self.check)
            .field("policy", &self.policy)
            .field("responder", &self.responder)
            .finish()
    }
}

macro_rules! new_without_app_id {
    ($($check:ty),*) => {$(
        impl Default for CheckLayer<$check> {
            fn default() -> Self {
                Self::from_policy(CallbackPolicy::new(""))
            }
        }

        impl CheckLayer<$check> {
            /// The check with the default policy.
            pub fn new() -> Self {
                Self::default()
            }
        }
    )*};
}

new_without_app_id!(OriginCheck, HttpsCheck, BodyCheck, TimestampCheck);

impl CheckLayer<AppIdCheck> {
    /// Accepts only callbacks for `app_id`.
    pub fn new(app_id: impl Into<Arc<str>>) -> Self {
        Self::from_policy(CallbackPolicy::new(app_id))
    }
}

impl CheckLayer<AllChecks> {
    /// Every check with secure defaults, accepting callbacks for `app_id`.
    pub fn new(app_id: impl Into<Arc<str>>) -> Self {
        Self::from_policy(CallbackPolicy::new(app_id))
    }
}

impl<C: CallbackCheck + Default> CheckLayer<C> {
    /// The check with this policy.
    pub fn from_policy(policy: CallbackPolicy) -> Self {
        CheckLayer {
            policy,
            check: C::default(),
            responder: Responder::default(),
        }
    }
}

impl<C> CheckLayer<C> {
    /// The policy the check runs with.
    pub fn policy(&self) -> &CallbackPolicy {
        &self.policy
    }

    /// This app's id.
    pub fn app_id(&self) -> &str {
        self.policy.app_id()
    }

    fn edit(mut self, f: impl FnOnce(CallbackPolicy) -> CallbackPolicy) -> Self {
        self.policy = f(self.policy);
        self
    }

    /// Checks another origin header name (default `x-utilsio-origin`).
    pub fn with_origin_header(self, header: HeaderName) -> Self {
        self.edit(|p| p.with_origin_header(header))
    }

    /// Requires another origin value (default `utilsio.dev`).
    pub fn with_expected_origin(self, origin: HeaderValue) -> Self {
        self.edit(|p| p.with_expected_origin(origin))
    }

    /// Sets the HTTPS rules, e.g. trusted proxies.
    ///
    /// # Warning
    /// As [`CallbackPolicy::with_https`].
    pub fn with_https(self, https: HttpsPolicy) -> Self {
        self.edit(|p| p.with_https(https))
    }

    /// Requires HTTPS (the default) or turns the check off.
    ///
    /// ```
    /// use tower_signing::utilsio::layer::SignatureCallbackLayer;
    ///
    /// let dev = SignatureCallbackLayer::new("my-app-id").with_require_https(false);
    /// ```
    ///
    /// # Warning
    /// Off, a callback over plain HTTP is signed: local development only.
    pub fn with_require_https(self, required: bool) -> Self {
        self.edit(|p| p.with_require_https(required))
    }

    /// Accepts callbacks only from these addresses or ranges.
    pub fn with_allowed_sources(self, sources: impl IntoIterator<Item = IpNet>) -> Self {
        self.edit(|p| p.with_allowed_sources(sources))
    }

    /// Sets the body limit in bytes (default 16 KiB). axum's
    /// `DefaultBodyLimit` does not apply: the layer reads the body itself.
    ///
    /// # Warning
    /// A larger limit lets each caller make the server hold more memory.
    pub fn with_body_limit(self, limit: usize) -> Self {
        self.edit(|p| p.with_body_limit(limit))
    }

    /// Sets the timestamp window (default ±60 s).
    ///
    /// # Warning
    /// A wider window gives a captured callback longer to be replayed.
    pub fn with_window(self, window: TimestampWindow) -> Self {
        self.edit(|p| p.with_window(window))
    }

    /// Reads the time from `clock` (default: the system clock).
    pub fn with_clock(self, clock: impl Clock) -> Self {
        self.edit(|p| p.with_clock(clock))
    }

    /// Reads the time from a clock shared with other parts of the app.
    pub fn with_shared_clock(self, clock: Arc<dyn Clock>) -> Self {
        self.edit(|p| p.with_shared_clock(clock))
    }

    /// Replaces the default JSON rejection response. The typed
    /// [`CallbackRejection`] is still added to the response's extensions
    /// (and `Allow: POST` to a 405).
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
    pub fn with_rejection_response<F>(mut self, f: F) -> Self
    where
        F: Fn(&CallbackRejection) -> Response<Bytes> + Send + Sync + 'static,
    {
        self.responder = Responder {
            custom: Some(Arc::new(f)),
        };
        self
    }
}

impl<C: CallbackCheck> CheckLayer<C> {
    /// The body part of the check: parses the body unless a layer in front
    /// did, runs the check, and leaves the parsed request for the next.
    fn check_body(
        &self,
        extensions: &mut Extensions,
        bytes: &[u8],
    ) -> Result<(), CallbackRejection> {
        if !C::NEEDS_BODY {
            return Ok(());
        }
        if let Some(callback) = extensions.get::<CallbackRequest>() {
            return self.check.check_body(&self.policy, callback);
        }
        let callback = self.policy.parse_body(bytes)?;
        self.check.check_body(&self.policy, &callback)?;
        extensions.insert(callback);
        Ok(())
    }
}

impl<S, C: Clone> Layer<S> for CheckLayer<C> {
    type Service = Check<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        Check {
            inner,
            layer: self.clone(),
        }
    }
}

/// Middleware running one callback check (or all of them). See the
/// [module docs](self).
#[derive(Debug, Clone)]
pub struct Check<S, C> {
    inner: S,
    layer: CheckLayer<C>,
}

impl<S, C> Check<S, C> {
    crate::define_inner_service_accessors!();
}

impl<S> Check<S, AllChecks> {
    /// Wraps `inner` with every check at its defaults, for `app_id`.
    pub fn new(inner: S, app_id: impl Into<Arc<str>>) -> Self {
        SignatureCallbackLayer::new(app_id).layer(inner)
    }
}

/// The TCP peer: the [`PeerAddr`] extension, or axum's `ConnectInfo`.
pub(crate) fn peer_addr(extensions: &Extensions) -> Option<SocketAddr> {
    if let Some(PeerAddr(addr)) = extensions.get() {
        return Some(*addr);
    }
    #[cfg(feature = "axum")]
    if let Some(axum::extract::ConnectInfo(addr)) = extensions.get() {
        return Some(*addr);
    }
    None
}

impl<S, C, B, ResBody> Service<Request<B>> for Check<S, C>
where
    S: Service<Request<Full<Bytes>>, Response = Response<ResBody>> + Clone,
    C: CallbackCheck,
    B: Body,
    B::Error: Into<BoxError>,
    ResBody: From<Bytes>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, B, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let layer = &self.layer;
        let head = if req.method() == Method::POST {
            let peer = peer_addr(req.extensions());
            layer
                .check
                .check_head(&layer.policy, req.headers(), req.extensions(), peer)
        } else {
            Err(CallbackRejection::MethodNotAllowed)
        };
        let (parts, body) = req.into_parts();
        let collect = head.and_then(|()| {
            start_limited(&parts.headers, body, layer.policy.body_limit()).map_err(Into::into)
        });
        let state = match collect {
            Ok(collect) => {
                // Take the service that was driven to readiness; leave a clone.
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                State::Reading {
                    collect,
                    rest: Some((parts, inner, self.layer.clone())),
                }
            }
            Err(rejection) => State::Done {
                response: Some(layer.responder.reject(rejection)),
            },
        };
        ResponseFuture { state }
    }
}

pin_project! {
    /// Response future of [`Check`]: reads the body, then either rejects or
    /// runs the inner service.
    pub struct ResponseFuture<S, B, C>
    where
        S: Service<Request<Full<Bytes>>>,
        B: Body,
        B::Error: Into<BoxError>,
    {
        #[pin]
        state: State<S, B, C>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B, C>
    where
        S: Service<Request<Full<Bytes>>>,
        B: Body,
        B::Error: Into<BoxError>,
    {
        Reading {
            #[pin]
            collect: Collect<Limited<B>>,
            rest: Option<(Parts, S, CheckLayer<C>)>,
        },
        Calling {
            #[pin]
            future: S::Future,
        },
        Done {
            response: Option<S::Response>,
        },
    }
}

impl<S, B, C> fmt::Debug for ResponseFuture<S, B, C>
where
    S: Service<Request<Full<Bytes>>>,
    B: Body,
    B::Error: Into<BoxError>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Reading { .. } => "Reading",
            State::Calling { .. } => "Calling",
            State::Done { .. } => "Done",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

impl<S, B, C, ResBody> Future for ResponseFuture<S, B, C>
where
    S: Service<Request<Full<Bytes>>, Response = Response<ResBody>>,
    C: CallbackCheck,
    B: Body,
    B::Error: Into<BoxError>,
    ResBody: From<Bytes>,
{
    type Output = Result<Response<ResBody>, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let mut this = self.as_mut().project();
            let next = match this.state.as_mut().project() {
                StateProj::Reading { collect, rest } => {
                    let collected = ready!(collect.poll(cx));
                    let (mut parts, mut inner, layer) =
                        rest.take().expect("polled after completion");
                    let checked = finish_limited(collected, layer.policy.body_limit())
                        .map_err(CallbackRejection::from)
                        .and_then(|bytes| {
                            layer.check_body(&mut parts.extensions, &bytes)?;
                            Ok(bytes)
                        });
                    match checked {
                        Ok(bytes) => State::Calling {
                            future: inner.call(Request::from_parts(parts, Full::new(bytes))),
                        },
                        Err(rejection) => State::Done {
                            response: Some(layer.responder.reject(rejection)),
                        },
                    }
                }
                StateProj::Calling { future } => return future.poll(cx),
                StateProj::Done { response } => {
                    return Poll::Ready(Ok(response.take().expect("polled after completion")));
                }
            };
            this.state.set(next);
        }
    }
}

type CustomResponse = dyn Fn(&CallbackRejection) -> Response<Bytes> + Send + Sync;

/// Turns a rejection into a response: the JSON default or a custom one.
#[derive(Clone, Default)]
pub(crate) struct Responder {
    custom: Option<Arc<CustomResponse>>,
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.custom.is_some() {
            "Responder(custom)"
        } else {
            "Responder(json)"
        })
    }
}

impl Responder {
    /// Logs the rejection and builds its response, with the typed reason in
    /// the extensions.
    pub(crate) fn reject<B: From<Bytes>>(&self, rejection: CallbackRejection) -> Response<B> {
        let status = rejection.status();
        tracing::warn!(
            reason = rejection.kind(),
            status = status.as_u16(),
            "utilsio callback rejected: {rejection}"
        );
        let mut response = match &self.custom {
            Some(custom) => custom(&rejection).map(B::from),
            None => json_error(status, &rejection.body_text()),
        };
        if rejection == CallbackRejection::MethodNotAllowed {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
        }
        response.extensions_mut().insert(rejection);
        response
    }
}
