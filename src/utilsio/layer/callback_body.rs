//! SPEC 1.5 row 3: read the callback body once, with a size limit, and
//! validate its four fields.
//!
//! The body is parsed as JSON whatever the `content-type` says (utilsio may
//! send none). The parsed [`CallbackRequest`] goes into the request's
//! extensions, and the bytes are put back as the body
//! (`http_body_util::Full<Bytes>`) for any inner service that wants them.
//!
//! | body | answer |
//! |---|---|
//! | over the limit (default 16 KiB) | 413, the rest is never buffered |
//! | not JSON, or empty | 400 `Invalid JSON body: ...` |
//! | JSON but not an object | 400 `Request body must be a JSON object` |
//! | a field missing, `null`, `""`, `0` or `false` | 400 `Missing required fields: deviceId, appId, additionalData, timestamp` |
//! | a string field that is not a string | 400 `Invalid field type: <field> must be a string` |
//! | a timestamp that is a float, negative, out of range, or a string with a non-digit | 400 `Invalid field type: timestamp must be ...` |
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::{BodyExt, Full};
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_signing::utilsio::layer::{CallbackBodyLayer, CallbackRequest};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let service = ServiceBuilder::new()
//!     .layer(CallbackBodyLayer::new().with_limit(4096))
//!     .service_fn(|req: Request<Full<Bytes>>| async move {
//!         let callback = req.extensions().get::<CallbackRequest>().unwrap();
//!         assert_eq!(callback.timestamp_seconds(), 1_700_000_000);
//!         Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(
//!             callback.message().to_string(),
//!         ))))
//!     });
//!
//! let body = r#"{"deviceId":"d1","appId":"app","additionalData":"0.5","timestamp":"1700000000"}"#;
//! let response = service.clone().oneshot(Request::post("/").body(Full::new(Bytes::from(body)))?).await?;
//! assert_eq!(response.into_body().collect().await?.to_bytes(), "d1-app-1700000000-0.5");
//!
//! let response = service.oneshot(Request::post("/").body(Full::new(Bytes::from("{}")))?).await?;
//! assert_eq!(response.status(), StatusCode::BAD_REQUEST);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::request::Parts;
use http::{Request, Response};
use http_body::Body;
use http_body_util::combinators::Collect;
use http_body_util::{Full, Limited};
use pin_project_lite::pin_project;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use tower::{Layer, Service};

use super::{CallbackField, CallbackRejection, Responder};
use crate::http::{BodyError, finish_limited, start_limited};
use crate::utilsio::{SignatureMessage, Timestamp};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The default body limit: 16 KiB. A real callback is a few hundred bytes.
pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024;

/// A validated signature callback body: four non-empty fields, the
/// timestamp a whole number of seconds.
///
/// Put into the request's extensions by [`CallbackBodyLayer`]; read it in
/// the handler (axum: `Extension<CallbackRequest>`) instead of parsing again.
/// None of its fields is secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackRequest {
    message: SignatureMessage<'static>,
    seconds: u64,
}

impl CallbackRequest {
    /// Parses and validates a callback body (SPEC 1.5 row 3, plus the
    /// stricter type checks of this crate).
    ///
    /// ```
    /// use tower_signing::utilsio::layer::{CallbackField, CallbackRejection, CallbackRequest};
    ///
    /// let ok = CallbackRequest::from_json(
    ///     br#"{"deviceId":"d","appId":"a","additionalData":"x","timestamp":5}"#,
    /// )?;
    /// assert_eq!(ok.message().to_string(), "d-a-5-x");
    ///
    /// let err = CallbackRequest::from_json(
    ///     br#"{"deviceId":"d","appId":"a","additionalData":"x","timestamp":5.5}"#,
    /// ).unwrap_err();
    /// assert_eq!(err, CallbackRejection::InvalidField(CallbackField::Timestamp));
    /// # Ok::<(), CallbackRejection>(())
    /// ```
    ///
    /// # Errors
    /// The [`CallbackRejection`] to answer with.
    pub fn from_json(bytes: &[u8]) -> Result<Self, CallbackRejection> {
        let raw: RawCallback = match serde_json::from_slice(bytes) {
            Ok(raw) => raw,
            // The visitors accept every value, so a data error can only be a
            // top-level value that is not an object.
            Err(e) if e.is_data() => return Err(CallbackRejection::NotAnObject),
            Err(e) => return Err(CallbackRejection::InvalidJson(e.to_string())),
        };
        raw.validate()
    }

    /// The deviceId.
    pub fn device_id(&self) -> &str {
        self.message.device_id()
    }

    /// The appId the caller sent (checked by
    /// [`CheckAppIdLayer`](super::CheckAppIdLayer)).
    pub fn app_id(&self) -> &str {
        self.message.app_id()
    }

    /// The additionalData (never empty).
    pub fn additional_data(&self) -> &str {
        self.message.additional_data().unwrap_or_default()
    }

    /// The timestamp as sent: an integer, or the string of digits verbatim.
    /// This is what is signed and echoed back.
    pub fn timestamp(&self) -> &Timestamp<'static> {
        self.message.timestamp()
    }

    /// The timestamp as Unix seconds.
    pub fn timestamp_seconds(&self) -> u64 {
        self.seconds
    }

    /// The canonical message to sign (SPEC 1.2).
    pub fn message(&self) -> &SignatureMessage<'static> {
        &self.message
    }
}

/// A JSON value, reduced to what the checks need. Strings are the only
/// values kept.
#[derive(Debug, Default)]
enum Raw {
    #[default]
    Absent,
    Null,
    Bool(bool),
    Str(String),
    UInt(u64),
    Negative,
    Float(f64),
    Compound,
}

impl Raw {
    /// JavaScript's falsiness, as the reference's `!field` checks it.
    fn is_falsy(&self) -> bool {
        match self {
            Raw::Absent | Raw::Null | Raw::Bool(false) => true,
            Raw::Str(s) => s.is_empty(),
            Raw::UInt(n) => *n == 0,
            Raw::Float(f) => *f == 0.0,
            Raw::Bool(true) | Raw::Negative | Raw::Compound => false,
        }
    }

    fn into_string(self, field: CallbackField) -> Result<String, CallbackRejection> {
        match self {
            Raw::Str(s) => Ok(s),
            _ => Err(CallbackRejection::InvalidField(field)),
        }
    }

    fn into_timestamp(self) -> Result<(Timestamp<'static>, u64), CallbackRejection> {
        let invalid = CallbackRejection::InvalidField(CallbackField::Timestamp);
        match self {
            Raw::UInt(n) => Ok((Timestamp::Seconds(n), n)),
            Raw::Str(s) => {
                let seconds = Timestamp::from(s.as_str()).as_seconds().ok_or(invalid)?;
                Ok((Timestamp::from(s), seconds))
            }
            _ => Err(invalid),
        }
    }
}

impl<'de> de::Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_none<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Bool(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw::UInt(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
        Ok(u64::try_from(v).map_or(Raw::Negative, Raw::UInt))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Raw::Compound)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Raw::Compound)
    }
}

/// The four fields, each as sent. Unknown keys are skipped; a repeated key
/// keeps its last value, like `JSON.parse`.
#[derive(Debug, Default)]
struct RawCallback {
    device_id: Raw,
    app_id: Raw,
    additional_data: Raw,
    timestamp: Raw,
}

impl RawCallback {
    fn validate(self) -> Result<CallbackRequest, CallbackRejection> {
        let fields = [
            &self.device_id,
            &self.app_id,
            &self.additional_data,
            &self.timestamp,
        ];
        if fields.iter().any(|f| f.is_falsy()) {
            return Err(CallbackRejection::MissingFields);
        }
        let device_id = self.device_id.into_string(CallbackField::DeviceId)?;
        let app_id = self.app_id.into_string(CallbackField::AppId)?;
        let additional_data = self
            .additional_data
            .into_string(CallbackField::AdditionalData)?;
        let (timestamp, seconds) = self.timestamp.into_timestamp()?;
        // Every field is non-empty here, so this cannot fail; map it anyway
        // rather than panic.
        let message = SignatureMessage::new(device_id, app_id, timestamp)
            .map_err(|_| CallbackRejection::MissingFields)?
            .with_additional_data(additional_data);
        Ok(CallbackRequest { message, seconds })
    }
}

enum Key {
    DeviceId,
    AppId,
    AdditionalData,
    Timestamp,
    Other,
}

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "deviceId" => Key::DeviceId,
                    "appId" => Key::AppId,
                    "additionalData" => Key::AdditionalData,
                    "timestamp" => Key::Timestamp,
                    _ => Key::Other,
                })
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

impl<'de> de::Deserialize<'de> for RawCallback {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = RawCallback;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawCallback, A::Error> {
                let mut raw = RawCallback::default();
                while let Some(key) = map.next_key::<Key>()? {
                    let slot = match key {
                        Key::DeviceId => &mut raw.device_id,
                        Key::AppId => &mut raw.app_id,
                        Key::AdditionalData => &mut raw.additional_data,
                        Key::Timestamp => &mut raw.timestamp,
                        Key::Other => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    *slot = map.next_value()?;
                }
                Ok(raw)
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// Layer that applies [`CallbackBody`]: reads the body once (at most
/// [`DEFAULT_BODY_LIMIT`] bytes unless changed), validates it and puts the
/// [`CallbackRequest`] into the request's extensions.
///
/// axum's `DefaultBodyLimit` does not apply to this layer: it reads the body
/// itself, with its own limit.
#[derive(Debug, Clone)]
#[must_use]
pub struct CallbackBodyLayer {
    limit: usize,
    responder: Responder,
}

impl Default for CallbackBodyLayer {
    fn default() -> Self {
        CallbackBodyLayer {
            limit: DEFAULT_BODY_LIMIT,
            responder: Responder::default(),
        }
    }
}

impl CallbackBodyLayer {
    /// Reads at most [`DEFAULT_BODY_LIMIT`] bytes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the body limit in bytes. A larger body is answered with 413
    /// without reading the rest of it.
    ///
    /// ```
    /// use tower_signing::utilsio::layer::CallbackBodyLayer;
    ///
    /// let layer = CallbackBodyLayer::new().with_limit(4 * 1024);
    /// assert_eq!(layer.limit(), 4096);
    /// ```
    ///
    /// # Warning
    /// A larger limit lets each caller make the server hold more memory.
    pub fn with_limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// The body limit in bytes.
    pub fn limit(&self) -> usize {
        self.limit
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

impl<S> Layer<S> for CallbackBodyLayer {
    type Service = CallbackBody<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CallbackBody {
            inner,
            config: self.clone(),
        }
    }
}

/// Middleware that reads and validates the callback body. See
/// [`CallbackBodyLayer`].
///
/// The inner service receives `Request<Full<Bytes>>` (the same bytes) and
/// must be `Clone`: the ready service moves into the response future while
/// the body is read.
#[derive(Debug, Clone)]
pub struct CallbackBody<S> {
    inner: S,
    config: CallbackBodyLayer,
}

impl<S> CallbackBody<S> {
    /// Wraps `inner` with the default limit.
    pub fn new(inner: S) -> Self {
        CallbackBodyLayer::new().layer(inner)
    }

    /// A [`CallbackBodyLayer`] with the default limit.
    pub fn layer() -> CallbackBodyLayer {
        CallbackBodyLayer::new()
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

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for CallbackBody<S>
where
    S: Service<Request<Full<Bytes>>, Response = Response<ResBody>> + Clone,
    ReqBody: Body,
    ReqBody::Error: Into<BoxError>,
    ResBody: From<Bytes>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let (parts, body) = req.into_parts();
        let state = match start_limited(&parts.headers, body, self.config.limit) {
            Ok(collect) => {
                // Take the service that was driven to readiness; leave a clone.
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                State::Reading {
                    collect,
                    parts: Some(parts),
                    inner: Some(inner),
                    limit: self.config.limit,
                    responder: self.config.responder.clone(),
                }
            }
            Err(e) => State::Done {
                response: Some(self.config.responder.reject(body_rejection(e))),
            },
        };
        ResponseFuture { state }
    }
}

fn body_rejection(e: BodyError) -> CallbackRejection {
    match e {
        BodyError::TooLarge { limit } => CallbackRejection::BodyTooLarge { limit },
        _ => CallbackRejection::BodyUnreadable,
    }
}

pin_project! {
    /// Response future of [`CallbackBody`]: reads the body, then either
    /// rejects or runs the inner service.
    pub struct ResponseFuture<S, ReqBody>
    where
        S: Service<Request<Full<Bytes>>>,
        ReqBody: Body,
        ReqBody::Error: Into<BoxError>,
    {
        #[pin]
        state: State<S, ReqBody>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqBody>
    where
        S: Service<Request<Full<Bytes>>>,
        ReqBody: Body,
        ReqBody::Error: Into<BoxError>,
    {
        Reading {
            #[pin]
            collect: Collect<Limited<ReqBody>>,
            parts: Option<Parts>,
            inner: Option<S>,
            limit: usize,
            responder: Responder,
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

impl<S, ReqBody> fmt::Debug for ResponseFuture<S, ReqBody>
where
    S: Service<Request<Full<Bytes>>>,
    ReqBody: Body,
    ReqBody::Error: Into<BoxError>,
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

impl<S, ReqBody, ResBody> Future for ResponseFuture<S, ReqBody>
where
    S: Service<Request<Full<Bytes>>, Response = Response<ResBody>>,
    ReqBody: Body,
    ReqBody::Error: Into<BoxError>,
    ResBody: From<Bytes>,
{
    type Output = Result<Response<ResBody>, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let mut this = self.as_mut().project();
            let next = match this.state.as_mut().project() {
                StateProj::Reading {
                    collect,
                    parts,
                    inner,
                    limit,
                    responder,
                } => {
                    let collected = ready!(collect.poll(cx));
                    let parsed = finish_limited(collected, *limit)
                        .map_err(body_rejection)
                        .and_then(|bytes| CallbackRequest::from_json(&bytes).map(|r| (bytes, r)));
                    match parsed {
                        Ok((bytes, callback)) => {
                            let parts = parts.take().expect("polled after completion");
                            let mut inner = inner.take().expect("polled after completion");
                            let mut req = Request::from_parts(parts, Full::new(bytes));
                            req.extensions_mut().insert(callback);
                            State::Calling {
                                future: inner.call(req),
                            }
                        }
                        Err(rejection) => State::Done {
                            response: Some(responder.reject(rejection)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::utilsio::layer::test_util::{echo, full, status_and_body};
    use http_body_util::StreamBody;
    use tower::ServiceExt;

    const VALID: &str =
        r#"{"deviceId":"d1","appId":"app","additionalData":"0.033333","timestamp":1700000000}"#;

    async fn send<B>(layer: CallbackBodyLayer, body: B) -> (u16, String, usize)
    where
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let (inner, calls) = echo();
        let res = layer
            .layer(inner)
            .oneshot(Request::post("/").body(body).unwrap())
            .await
            .unwrap();
        let (status, body) = status_and_body(res).await;
        (status.as_u16(), body, calls.get())
    }

    fn err(text: &str) -> String {
        serde_json::json!({ "error": text }).to_string()
    }

    #[tokio::test]
    async fn valid_body_reaches_inner_once_with_bytes_and_extension() {
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = calls.clone();
        let svc =
            CallbackBodyLayer::new().layer(tower::service_fn(move |req: Request<Full<Bytes>>| {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async move {
                    let cb = req.extensions().get::<CallbackRequest>().cloned().unwrap();
                    assert_eq!(cb.device_id(), "d1");
                    assert_eq!(cb.additional_data(), "0.033333");
                    assert_eq!(cb.timestamp_seconds(), 1_700_000_000);
                    let bytes = http_body_util::BodyExt::collect(req.into_body())
                        .await
                        .unwrap()
                        .to_bytes();
                    Ok::<_, std::convert::Infallible>(Response::new(Full::new(bytes)))
                }
            }));
        let res = svc
            .oneshot(Request::post("/").body(full(VALID)).unwrap())
            .await
            .unwrap();
        assert_eq!(status_and_body(res).await.1, VALID);
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn missing_or_falsy_fields() {
        let missing = err(super::super::rejection::MISSING_FIELDS);
        for body in [
            r#"{}"#,
            r#"{"deviceId":"d","appId":"a","additionalData":"x"}"#,
            r#"{"deviceId":"","appId":"a","additionalData":"x","timestamp":1}"#,
            r#"{"deviceId":"d","appId":null,"additionalData":"x","timestamp":1}"#,
            r#"{"deviceId":"d","appId":"a","additionalData":false,"timestamp":1}"#,
            r#"{"deviceId":"d","appId":"a","additionalData":"x","timestamp":0}"#,
            r#"{"deviceId":"d","appId":"a","additionalData":"x","timestamp":0.0}"#,
            r#"{"deviceId":"d","appId":"a","additionalData":"x","timestamp":""}"#,
            // Missing beats wrong type, as in the reference's single check.
            r#"{"deviceId":5,"appId":"a","additionalData":"","timestamp":1}"#,
        ] {
            assert_eq!(
                send(CallbackBodyLayer::new(), full(body)).await,
                (400, missing.clone(), 0),
                "{body}"
            );
        }
    }

    #[tokio::test]
    async fn wrong_types_name_the_field() {
        let cases = [
            (
                r#"{"deviceId":5,"appId":"a","additionalData":"x","timestamp":1}"#,
                "deviceId",
            ),
            (
                r#"{"deviceId":"d","appId":true,"additionalData":"x","timestamp":1}"#,
                "appId",
            ),
            (
                r#"{"deviceId":"d","appId":"a","additionalData":["x"],"timestamp":1}"#,
                "additionalData",
            ),
            (
                r#"{"deviceId":"d","appId":"a","additionalData":{"a":1},"timestamp":1}"#,
                "additionalData",
            ),
        ];
        for (body, field) in cases {
            let expected = err(&format!("Invalid field type: {field} must be a string"));
            assert_eq!(
                send(CallbackBodyLayer::new(), full(body)).await,
                (400, expected, 0),
                "{body}"
            );
        }
        for ts in [
            "1.5",
            "-5",
            "1e3",
            "18446744073709551616",
            "\"12a\"",
            "\"-1\"",
            "\" 1\"",
            "\"99999999999999999999\"",
            "true",
            "[1]",
        ] {
            let body =
                format!(r#"{{"deviceId":"d","appId":"a","additionalData":"x","timestamp":{ts}}}"#);
            let (status, text, calls) = send(CallbackBodyLayer::new(), full(&body)).await;
            assert_eq!((status, calls), (400, 0), "{ts}");
            assert!(
                text.contains("Invalid field type: timestamp"),
                "{ts}: {text}"
            );
        }
    }

    #[tokio::test]
    async fn numeric_string_timestamp_is_kept_verbatim() {
        let cb = CallbackRequest::from_json(
            br#"{"deviceId":"d","appId":"a","additionalData":"x","timestamp":"01700000000"}"#,
        )
        .unwrap();
        assert_eq!(cb.timestamp().to_string(), "01700000000");
        assert_eq!(cb.timestamp_seconds(), 1_700_000_000);
        assert_eq!(cb.message().to_string(), "d-a-01700000000-x");
    }

    #[tokio::test]
    async fn malformed_and_non_object_json() {
        for body in ["", "{", "{\"deviceId\":}", "{} x", "nul"] {
            let (status, text, calls) = send(CallbackBodyLayer::new(), full(body)).await;
            assert_eq!((status, calls), (400, 0), "{body:?}");
            assert!(
                text.starts_with(r#"{"error":"Invalid JSON body: "#),
                "{body:?}: {text}"
            );
        }
        let not_object = err("Request body must be a JSON object");
        for body in ["[]", "[1,2]", "\"s\"", "1", "null"] {
            assert_eq!(
                send(CallbackBodyLayer::new(), full(body)).await,
                (400, not_object.clone(), 0),
                "{body}"
            );
        }
    }

    #[tokio::test]
    async fn unknown_keys_are_ignored_and_last_duplicate_wins() {
        let body = r#"{"x":[{"y":1}],"deviceId":"first","deviceId":"d","appId":"a","additionalData":"x","timestamp":1}"#;
        let cb = CallbackRequest::from_json(body.as_bytes()).unwrap();
        assert_eq!(cb.device_id(), "d");
    }

    #[tokio::test]
    async fn over_limit_is_413_streamed_or_declared() {
        let too_large = err("Request body is larger than the 16-byte limit");
        assert_eq!(
            send(CallbackBodyLayer::new().with_limit(16), full(VALID)).await,
            (413, too_large.clone(), 0)
        );
        // A stream that never ends: the layer stops at the limit.
        let endless = futures_util::stream::iter(std::iter::repeat_with(|| {
            Ok::<_, std::io::Error>(http_body::Frame::data(Bytes::from_static(b"aaaa")))
        }));
        assert_eq!(
            send(
                CallbackBodyLayer::new().with_limit(16),
                StreamBody::new(endless)
            )
            .await,
            (413, too_large, 0)
        );
    }

    #[tokio::test]
    async fn body_in_many_small_chunks() {
        let chunks: Vec<_> = VALID
            .as_bytes()
            .chunks(3)
            .map(|c| Ok::<_, std::io::Error>(http_body::Frame::data(Bytes::copy_from_slice(c))))
            .collect();
        let body = StreamBody::new(futures_util::stream::iter(chunks));
        assert_eq!(
            send(CallbackBodyLayer::new(), body).await,
            (200, VALID.into(), 1)
        );
    }

    #[tokio::test]
    async fn failing_stream_is_400() {
        let chunks = vec![
            Ok(http_body::Frame::data(Bytes::from_static(b"{"))),
            Err(std::io::Error::other("reset")),
        ];
        let body = StreamBody::new(futures_util::stream::iter(chunks));
        assert_eq!(
            send(CallbackBodyLayer::new(), body).await,
            (400, err("Could not read the request body"), 0)
        );
    }
}
