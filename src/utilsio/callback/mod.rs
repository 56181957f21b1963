//! The signature callback verifier, framework-neutral (only `http` types).

mod https;
mod rejection;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use http::header::HeaderName;
use http::request::Parts;
use http::{Extensions, HeaderMap, HeaderValue, Method};
use ipnet::IpNet;
use subtle::ConstantTimeEq;

pub use https::{HttpsPolicy, PeerAddr, TlsConnected};
pub use rejection::{CallbackField, CallbackRejection, OriginProblem};

use crate::json_body::{JsonField, read_fields};
use crate::utilsio::{SignatureMessage, Timestamp, TimestampWindow};
use crate::{Clock, DEFAULT_BODY_LIMIT, SystemClock};

/// The header utilsio.dev sends: `x-utilsio-origin`.
pub const ORIGIN_HEADER: HeaderName = HeaderName::from_static("x-utilsio-origin");

/// The value utilsio.dev sends: `utilsio.dev`.
pub const DEFAULT_ORIGIN: HeaderValue = HeaderValue::from_static("utilsio.dev");

/// A validated signature callback body: four non-empty fields, the
/// timestamp a whole number of seconds. None of its fields is secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackRequest {
    message: SignatureMessage<'static>,
    seconds: u64,
}

const FIELDS: [&str; 4] = ["deviceId", "appId", "additionalData", "timestamp"];

impl CallbackRequest {
    /// Parses and validates a callback body: a JSON object (whatever the
    /// content type said) whose four fields are present and truthy (not
    /// `null`, `""`, `0` or `false`), three strings and a timestamp that is
    /// a non-negative integer or a string of decimal digits fitting in 64
    /// bits. Unknown keys are ignored; a repeated key keeps its last value.
    ///
    /// ```
    /// use tower_signing::utilsio::{CallbackField, CallbackRejection, CallbackRequest};
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
        let fields = read_fields(bytes, &FIELDS)?;
        // Missing beats wrong type, as in the reference's single check.
        if fields.iter().any(JsonField::is_falsy) {
            return Err(CallbackRejection::MissingFields);
        }
        let [device_id, app_id, additional_data, timestamp] = fields;
        let string = |field: JsonField, name| match field {
            JsonField::Str(s) => Ok(s),
            _ => Err(CallbackRejection::InvalidField(name)),
        };
        let device_id = string(device_id, CallbackField::DeviceId)?;
        let app_id = string(app_id, CallbackField::AppId)?;
        let additional_data = string(additional_data, CallbackField::AdditionalData)?;
        let invalid = CallbackRejection::InvalidField(CallbackField::Timestamp);
        let (timestamp, seconds) = match timestamp {
            JsonField::UInt(n) => (Timestamp::Seconds(n), n),
            JsonField::Str(s) => {
                let seconds = Timestamp::from(s.as_str()).as_seconds().ok_or(invalid)?;
                (Timestamp::from(s), seconds)
            }
            _ => return Err(invalid),
        };
        // Every field is non-empty here, so this cannot fail; map it anyway
        // rather than panic.
        let message = SignatureMessage::new(device_id, app_id, timestamp)
            .map_err(|_| CallbackRejection::MissingFields)?
            .with_additional_data(additional_data);
        Ok(CallbackRequest { message, seconds })
    }

    /// The deviceId.
    pub fn device_id(&self) -> &str {
        self.message.device_id()
    }

    /// The appId the caller sent.
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

    /// The canonical message to sign: `deviceId-appId-timestamp-additionalData`.
    pub fn message(&self) -> &SignatureMessage<'static> {
        &self.message
    }
}

/// How this app verifies utilsio's signature callback: the origin header,
/// the HTTPS rules, the body limit, the timestamp window and clock, this
/// app's id and, opt-in, the addresses callbacks may come from.
///
/// Built once at start-up; cloning is one reference-count increment.
/// Defaults: `X-utilsio-Origin: utilsio.dev`, [`HttpsPolicy::required`],
/// [`DEFAULT_BODY_LIMIT`], ±60 s on the system clock, any source address.
///
/// utilsio.dev calls `POST /api/signature-callback` on the app's backend
/// (header `X-utilsio-Origin: utilsio.dev`, JSON body `{deviceId, appId,
/// additionalData, timestamp}`) and asks it to sign. [`CallbackPolicy::verify`]
/// runs the checks in this order; the first failure answers:
///
/// | # | check | failure |
/// |---|---|---|
/// | 0 | the method is `POST` | 405 `Method not allowed: use POST` |
/// | 1 | `X-utilsio-Origin: utilsio.dev`, exactly once (and, opt-in, the caller's address is an allowed source) | 403 `Unauthorized origin` |
/// | 2 | the request came over HTTPS ([`HttpsPolicy`]) | 403 `HTTPS required` |
/// | 3 | the body, at most 16 KiB, is a JSON object whose four fields are truthy: three strings and a timestamp in whole seconds | 413, or 400 `Missing required fields: deviceId, appId, additionalData, timestamp` (or a message naming the bad field) |
/// | 4 | `\|now - timestamp\| <= 60 s` | 400 `Invalid timestamp` |
/// | 5 | the body's appId is this app's | 403 `Invalid appId` |
///
/// The tower layers ([`layer`](crate::utilsio::layer)) and the axum
/// extractor call the same policy.
///
/// ```
/// use tower_signing::ManualClock;
/// use tower_signing::utilsio::{CallbackPolicy, CallbackRejection};
///
/// let policy = CallbackPolicy::new("my-app-id").with_clock(ManualClock::new(1_700_000_000));
/// let (parts, ()) = http::Request::post("/api/signature-callback")
///     .header("x-utilsio-origin", "utilsio.dev")
///     .header("x-forwarded-proto", "https")
///     .body(())?
///     .into_parts();
/// let body = br#"{"deviceId":"d1","appId":"my-app-id","additionalData":"0.5","timestamp":1700000000}"#;
/// let callback = policy.verify(&parts, None, body)?;
/// assert_eq!(callback.message().to_string(), "d1-my-app-id-1700000000-0.5");
///
/// let stale = br#"{"deviceId":"d1","appId":"my-app-id","additionalData":"0.5","timestamp":1600000000}"#;
/// assert!(matches!(policy.verify(&parts, None, stale), Err(CallbackRejection::InvalidTimestamp(_))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct CallbackPolicy {
    inner: Arc<Policy>,
}

#[derive(Clone)]
struct Policy {
    origin_header: HeaderName,
    origin: HeaderValue,
    https: HttpsPolicy,
    body_limit: usize,
    window: TimestampWindow,
    clock: Arc<dyn Clock>,
    app_id: Arc<str>,
    sources: Option<Arc<[IpNet]>>,
}

impl fmt::Debug for CallbackPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.inner;
        f.debug_struct("CallbackPolicy")
            .field("origin_header", &p.origin_header)
            .field("origin", &p.origin)
            .field("https", &p.https)
            .field("body_limit", &p.body_limit)
            .field("window", &p.window)
            .field("app_id", &p.app_id)
            .field("sources", &p.sources)
            .finish_non_exhaustive()
    }
}

impl CallbackPolicy {
    /// Secure defaults, accepting callbacks for `app_id`.
    pub fn new(app_id: impl Into<Arc<str>>) -> Self {
        CallbackPolicy {
            inner: Arc::new(Policy {
                origin_header: ORIGIN_HEADER,
                origin: DEFAULT_ORIGIN,
                https: HttpsPolicy::required(),
                body_limit: DEFAULT_BODY_LIMIT,
                window: TimestampWindow::default(),
                clock: Arc::new(SystemClock),
                app_id: app_id.into(),
                sources: None,
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Policy)) -> Self {
        f(Arc::make_mut(&mut self.inner));
        self
    }

    /// Checks another origin header name (default `x-utilsio-origin`).
    #[must_use]
    pub fn with_origin_header(self, header: HeaderName) -> Self {
        self.edit(|p| p.origin_header = header)
    }

    /// Requires another origin value (default `utilsio.dev`), compared byte
    /// for byte.
    #[must_use]
    pub fn with_expected_origin(self, origin: HeaderValue) -> Self {
        self.edit(|p| p.origin = origin)
    }

    /// Sets the HTTPS rules (default [`HttpsPolicy::required`]).
    ///
    /// # Warning
    /// [`HttpsPolicy::off`] signs callbacks that came over plain HTTP, and
    /// trusted proxies are trusted with the scheme and the caller's address.
    #[must_use]
    pub fn with_https(self, https: HttpsPolicy) -> Self {
        self.edit(|p| p.https = https)
    }

    /// Requires HTTPS (the default) or turns the check off, keeping the
    /// trusted proxies (which still resolve the caller's address).
    ///
    /// # Warning
    /// Off, a callback over plain HTTP is signed: local development only.
    #[must_use]
    pub fn with_require_https(self, required: bool) -> Self {
        self.edit(|p| p.https.required = required)
    }

    /// Sets the body limit in bytes (default [`DEFAULT_BODY_LIMIT`]).
    ///
    /// # Warning
    /// A larger limit lets each caller make the server hold more memory.
    #[must_use]
    pub fn with_body_limit(self, limit: usize) -> Self {
        self.edit(|p| p.body_limit = limit)
    }

    /// Sets the timestamp window (default ±60 s).
    ///
    /// # Warning
    /// A wider window gives a captured callback longer to be replayed.
    #[must_use]
    pub fn with_window(self, window: TimestampWindow) -> Self {
        self.edit(|p| p.window = window)
    }

    /// Reads the time from `clock` (default: the system clock).
    #[must_use]
    pub fn with_clock(self, clock: impl Clock) -> Self {
        self.with_shared_clock(Arc::new(clock))
    }

    /// Reads the time from a clock shared with other parts of the app.
    #[must_use]
    pub fn with_shared_clock(self, clock: Arc<dyn Clock>) -> Self {
        self.edit(|p| p.clock = clock)
    }

    /// Accepts callbacks only from these addresses or CIDR ranges (utilsio's
    /// egress), refusing others with 403 `Unauthorized origin`. The caller's
    /// address is [`HttpsPolicy::client_addr`]: the TCP peer, or behind
    /// trusted proxies the rightmost `X-Forwarded-For` address that is not
    /// one of them. Default: any address.
    ///
    /// ```
    /// use tower_signing::utilsio::CallbackPolicy;
    ///
    /// let policy = CallbackPolicy::new("my-app-id").with_allowed_sources(["203.0.113.0/24".parse()?]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_allowed_sources(self, sources: impl IntoIterator<Item = IpNet>) -> Self {
        let sources: Arc<[IpNet]> = sources.into_iter().collect();
        self.edit(|p| p.sources = Some(sources))
    }

    /// This app's id.
    pub fn app_id(&self) -> &str {
        &self.inner.app_id
    }

    /// The HTTPS rules.
    pub fn https(&self) -> &HttpsPolicy {
        &self.inner.https
    }

    /// The body limit in bytes.
    pub fn body_limit(&self) -> usize {
        self.inner.body_limit
    }

    /// The timestamp window.
    pub fn window(&self) -> TimestampWindow {
        self.inner.window
    }

    /// The current Unix time from the policy's clock.
    pub fn now(&self) -> u64 {
        self.inner.clock.now_unix_seconds()
    }

    /// Runs every check, in order, on a request head (and the TCP peer when
    /// known) and its whole body.
    ///
    /// # Errors
    /// The first failing check's [`CallbackRejection`].
    pub fn verify(
        &self,
        parts: &Parts,
        peer: Option<SocketAddr>,
        body: &[u8],
    ) -> Result<CallbackRequest, CallbackRejection> {
        self.check_head(&parts.method, &parts.headers, &parts.extensions, peer)?;
        self.verify_body(body)
    }

    /// The checks that need no body (method, origin, source, HTTPS), in
    /// order: run them before reading any body byte.
    ///
    /// # Errors
    /// The first failing check's [`CallbackRejection`].
    pub fn check_head(
        &self,
        method: &Method,
        headers: &HeaderMap,
        extensions: &Extensions,
        peer: Option<SocketAddr>,
    ) -> Result<(), CallbackRejection> {
        if method != Method::POST {
            return Err(CallbackRejection::MethodNotAllowed);
        }
        self.check_origin(headers)?;
        self.check_source(headers, peer)?;
        self.check_https(headers, extensions, peer)
    }

    /// The checks on the body, in order: parse, timestamp, appId.
    ///
    /// # Errors
    /// The first failing check's [`CallbackRejection`].
    pub fn verify_body(&self, body: &[u8]) -> Result<CallbackRequest, CallbackRejection> {
        let callback = self.parse_body(body)?;
        self.check_parsed(&callback)?;
        Ok(callback)
    }

    /// The checks on a parsed body: timestamp, then appId.
    ///
    /// # Errors
    /// The first failing check's [`CallbackRejection`].
    pub fn check_parsed(&self, callback: &CallbackRequest) -> Result<(), CallbackRejection> {
        self.check_timestamp(callback)?;
        self.check_app_id(callback)
    }

    /// The origin header is present exactly once with exactly the expected
    /// value (case-sensitive, no trimming). It is not a secret: it keeps
    /// browsers and casual callers out.
    ///
    /// # Errors
    /// [`CallbackRejection::UnauthorizedOrigin`].
    pub fn check_origin(&self, headers: &HeaderMap) -> Result<(), CallbackRejection> {
        let mut values = headers.get_all(&self.inner.origin_header).iter();
        let problem = match (values.next(), values.next()) {
            (None, _) => OriginProblem::Missing,
            (Some(_), Some(_)) => OriginProblem::Repeated,
            (Some(v), None) if v.as_bytes() == self.inner.origin.as_bytes() => return Ok(()),
            (Some(_), None) => OriginProblem::Mismatch,
        };
        Err(CallbackRejection::UnauthorizedOrigin(problem))
    }

    /// With allowed sources configured, the caller's address is one of them.
    ///
    /// # Errors
    /// [`CallbackRejection::UnauthorizedOrigin`] with
    /// [`OriginProblem::SourceNotAllowed`].
    pub fn check_source(
        &self,
        headers: &HeaderMap,
        peer: Option<SocketAddr>,
    ) -> Result<(), CallbackRejection> {
        let Some(sources) = &self.inner.sources else {
            return Ok(());
        };
        match self.inner.https.client_addr(headers, peer) {
            Some(addr) if sources.iter().any(|net| net.contains(&addr)) => Ok(()),
            _ => Err(CallbackRejection::UnauthorizedOrigin(
                OriginProblem::SourceNotAllowed,
            )),
        }
    }

    /// The request came over HTTPS, by the [`HttpsPolicy`].
    ///
    /// # Errors
    /// [`CallbackRejection::HttpsRequired`].
    pub fn check_https(
        &self,
        headers: &HeaderMap,
        extensions: &Extensions,
        peer: Option<SocketAddr>,
    ) -> Result<(), CallbackRejection> {
        if self.inner.https.allows(headers, extensions, peer) {
            Ok(())
        } else {
            Err(CallbackRejection::HttpsRequired)
        }
    }

    /// Parses a whole body within the limit ([`CallbackRequest::from_json`]).
    ///
    /// # Errors
    /// [`CallbackRejection::BodyTooLarge`] or the parse error.
    pub fn parse_body(&self, body: &[u8]) -> Result<CallbackRequest, CallbackRejection> {
        if body.len() > self.inner.body_limit {
            return Err(CallbackRejection::BodyTooLarge {
                limit: self.inner.body_limit,
            });
        }
        CallbackRequest::from_json(body)
    }

    /// The timestamp is within the window of the clock's now.
    ///
    /// # Errors
    /// [`CallbackRejection::InvalidTimestamp`], saying whether it was too old
    /// or in the future.
    pub fn check_timestamp(&self, callback: &CallbackRequest) -> Result<(), CallbackRejection> {
        self.inner
            .window
            .check(self.now(), callback.timestamp_seconds())
            .map_err(CallbackRejection::InvalidTimestamp)
    }

    /// The body's appId is this app's, byte for byte.
    ///
    /// # Errors
    /// [`CallbackRejection::InvalidAppId`].
    pub fn check_app_id(&self, callback: &CallbackRequest) -> Result<(), CallbackRejection> {
        // The app id is public; comparing in constant time costs nothing.
        let (given, expected) = (callback.app_id().as_bytes(), self.inner.app_id.as_bytes());
        if given.len() == expected.len() && bool::from(given.ct_eq(expected)) {
            Ok(())
        } else {
            Err(CallbackRejection::InvalidAppId)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;
    use crate::utilsio::{SigningKey, TimestampError};

    const NOW: u64 = 1_700_000_000;

    fn policy() -> CallbackPolicy {
        CallbackPolicy::new("app").with_clock(ManualClock::new(NOW))
    }

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut request = http::Request::post("/api/signature-callback");
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        request.body(()).unwrap().into_parts().0
    }

    fn body(app_id: &str, ts: &str) -> String {
        format!(r#"{{"deviceId":"d","appId":"{app_id}","additionalData":"x","timestamp":{ts}}}"#)
    }

    const GOOD: [(&str, &str); 2] = [
        ("x-utilsio-origin", "utilsio.dev"),
        ("x-forwarded-proto", "https"),
    ];

    /// Known answer (a Node-computed vector): verify, then sign the message.
    #[test]
    fn verified_callback_signs_the_known_answer() {
        let key = SigningKey::from_app_hash_hex(
            "f4726150e3d12c41e22c7f04ac8ec28a3a9178d8c887996cd56406a9ab4f372d",
        )
        .unwrap();
        let policy = CallbackPolicy::new("AE3aaEYO7D").with_clock(ManualClock::new(1_825_056_170));
        let body = r#"{"deviceId":"éojx","appId":"AE3aaEYO7D","additionalData":"2.9","timestamp":1825056170}"#;
        let callback = policy.verify(&parts(&GOOD), None, body.as_bytes()).unwrap();
        assert_eq!(
            callback.message().to_string(),
            "éojx-AE3aaEYO7D-1825056170-2.9"
        );
        assert_eq!(
            key.sign(callback.message()).as_str(),
            "9b114dc1d6eca03acffbac7a860afff8b4cf89bf25272185d532739a838cfbe4"
        );
    }

    #[test]
    fn checks_run_in_order() {
        let p = policy();
        let all_bad = parts(&[("x-forwarded-proto", "http")]);
        assert_eq!(
            p.verify(&all_bad, None, b"{").unwrap_err(),
            CallbackRejection::UnauthorizedOrigin(OriginProblem::Missing)
        );
        let no_https = parts(&GOOD[..1]);
        assert_eq!(
            p.verify(&no_https, None, b"{").unwrap_err(),
            CallbackRejection::HttpsRequired
        );
        let good = parts(&GOOD);
        assert!(matches!(
            p.verify(&good, None, b"{"),
            Err(CallbackRejection::InvalidJson(_))
        ));
        assert_eq!(
            p.verify(&good, None, br#"{"appId":"other"}"#).unwrap_err(),
            CallbackRejection::MissingFields
        );
        assert_eq!(
            p.verify(&good, None, body("other", "1").as_bytes())
                .unwrap_err(),
            CallbackRejection::InvalidTimestamp(TimestampError::TooOld {
                age_secs: NOW - 1,
                max_secs: 60
            })
        );
        assert_eq!(
            p.verify(&good, None, body("other", &NOW.to_string()).as_bytes())
                .unwrap_err(),
            CallbackRejection::InvalidAppId
        );
        let mut get = parts(&GOOD);
        get.method = Method::GET;
        assert_eq!(
            p.verify(&get, None, b"").unwrap_err(),
            CallbackRejection::MethodNotAllowed
        );
    }

    #[test]
    fn origin_is_exact_and_single() {
        let p = policy();
        for (headers, problem) in [
            (&[][..], OriginProblem::Missing),
            (
                &[("x-utilsio-origin", "Utilsio.dev")],
                OriginProblem::Mismatch,
            ),
            (
                &[("x-utilsio-origin", "utilsio.dev ")],
                OriginProblem::Mismatch,
            ),
            (
                &[
                    ("x-utilsio-origin", "utilsio.dev"),
                    ("x-utilsio-origin", "utilsio.dev"),
                ],
                OriginProblem::Repeated,
            ),
        ] {
            assert_eq!(
                p.check_origin(&parts(headers).headers),
                Err(CallbackRejection::UnauthorizedOrigin(problem))
            );
        }
        let custom = p
            .with_origin_header(HeaderName::from_static("x-origin"))
            .with_expected_origin(HeaderValue::from_static("example.org"));
        assert!(
            custom
                .check_origin(&parts(&[("x-origin", "example.org")]).headers)
                .is_ok()
        );
    }

    #[test]
    fn body_limit_and_window_and_app_id() {
        let p = policy().with_body_limit(10);
        assert_eq!(
            p.parse_body(body("app", "1").as_bytes()).unwrap_err(),
            CallbackRejection::BodyTooLarge { limit: 10 }
        );
        let p = policy();
        let cb =
            |ts: u64| CallbackRequest::from_json(body("app", &ts.to_string()).as_bytes()).unwrap();
        assert!(p.check_timestamp(&cb(NOW - 60)).is_ok());
        assert!(p.check_timestamp(&cb(NOW + 60)).is_ok());
        assert!(matches!(
            p.check_timestamp(&cb(NOW + 61)),
            Err(CallbackRejection::InvalidTimestamp(
                TimestampError::InFuture { .. }
            ))
        ));
        assert!(p.check_timestamp(&cb(u64::MAX)).is_err());
        assert!(p.check_app_id(&cb(NOW)).is_ok());
        let other = CallbackRequest::from_json(body("ap", "1").as_bytes()).unwrap();
        assert_eq!(p.check_app_id(&other), Err(CallbackRejection::InvalidAppId));
        let unicode = CallbackPolicy::new("app-Ünï");
        for other in ["app-Üni", "APP-ÜNÏ", "app-Ünï ", "app", "app-Ünïx"] {
            let cb = CallbackRequest::from_json(body(other, "1").as_bytes()).unwrap();
            assert_eq!(
                unicode.check_app_id(&cb),
                Err(CallbackRejection::InvalidAppId),
                "{other}"
            );
        }
        let own = CallbackRequest::from_json(body("app-Ünï", "1").as_bytes()).unwrap();
        assert!(unicode.check_app_id(&own).is_ok());
    }

    #[test]
    fn separate_past_and_future_tolerances() {
        use std::time::Duration;
        let p = policy().with_window(
            TimestampWindow::default()
                .with_max_past(Duration::from_secs(10))
                .with_max_future(Duration::from_secs(2)),
        );
        let cb =
            |ts: u64| CallbackRequest::from_json(body("app", &ts.to_string()).as_bytes()).unwrap();
        assert!(p.check_timestamp(&cb(NOW - 10)).is_ok());
        assert!(p.check_timestamp(&cb(NOW - 11)).is_err());
        assert!(p.check_timestamp(&cb(NOW + 2)).is_ok());
        assert!(p.check_timestamp(&cb(NOW + 3)).is_err());
    }

    #[test]
    fn source_allow_list_uses_the_client_address() {
        let p = policy()
            .with_https(HttpsPolicy::off().with_trusted_proxies(["10.0.0.0/8".parse().unwrap()]))
            .with_allowed_sources(["203.0.113.0/24".parse().unwrap()]);
        let head = parts(&GOOD[..1]);
        let direct = |addr: &str| p.check_source(&head.headers, Some(addr.parse().unwrap()));
        assert!(direct("203.0.113.5:1000").is_ok());
        assert_eq!(
            direct("198.51.100.1:1000"),
            Err(CallbackRejection::UnauthorizedOrigin(
                OriginProblem::SourceNotAllowed
            ))
        );
        assert!(p.check_source(&head.headers, None).is_err());
        let proxied = parts(&[("x-forwarded-for", "198.51.100.1, 203.0.113.5")]);
        assert!(
            p.check_source(&proxied.headers, Some("10.1.1.1:80".parse().unwrap()))
                .is_ok()
        );
        let spoofed = parts(&[("x-forwarded-for", "203.0.113.5, 198.51.100.1")]);
        assert!(
            p.check_source(&spoofed.headers, Some("10.1.1.1:80".parse().unwrap()))
                .is_err()
        );
    }

    #[test]
    fn body_rules() {
        let missing = [
            r#"{}"#,
            r#"{"deviceId":"d","appId":"a","additionalData":"x"}"#,
            r#"{"deviceId":"","appId":"a","additionalData":"x","timestamp":1}"#,
            r#"{"deviceId":"d","appId":null,"additionalData":"x","timestamp":1}"#,
            r#"{"deviceId":"d","appId":"a","additionalData":false,"timestamp":1}"#,
            r#"{"deviceId":"d","appId":"a","additionalData":"x","timestamp":0}"#,
            r#"{"deviceId":"d","appId":"a","additionalData":"x","timestamp":0.0}"#,
            r#"{"deviceId":"d","appId":"a","additionalData":"x","timestamp":""}"#,
            r#"{"deviceId":5,"appId":"a","additionalData":"","timestamp":1}"#,
        ];
        for b in missing {
            assert_eq!(
                CallbackRequest::from_json(b.as_bytes()),
                Err(CallbackRejection::MissingFields),
                "{b}"
            );
        }
        for (b, field) in [
            (
                r#"{"deviceId":5,"appId":"a","additionalData":"x","timestamp":1}"#,
                CallbackField::DeviceId,
            ),
            (
                r#"{"deviceId":"d","appId":true,"additionalData":"x","timestamp":1}"#,
                CallbackField::AppId,
            ),
            (
                r#"{"deviceId":"d","appId":"a","additionalData":{"a":1},"timestamp":1}"#,
                CallbackField::AdditionalData,
            ),
        ] {
            assert_eq!(
                CallbackRequest::from_json(b.as_bytes()),
                Err(CallbackRejection::InvalidField(field)),
                "{b}"
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
            assert_eq!(
                CallbackRequest::from_json(body("a", ts).as_bytes()),
                Err(CallbackRejection::InvalidField(CallbackField::Timestamp)),
                "{ts}"
            );
        }
        let cb = CallbackRequest::from_json(body("a", "\"01700000000\"").as_bytes()).unwrap();
        assert_eq!(cb.timestamp().to_string(), "01700000000");
        assert_eq!(cb.timestamp_seconds(), 1_700_000_000);
        assert_eq!(cb.message().to_string(), "d-a-01700000000-x");
        for b in ["[]", "\"s\"", "1", "null"] {
            assert_eq!(
                CallbackRequest::from_json(b.as_bytes()),
                Err(CallbackRejection::NotAnObject),
                "{b}"
            );
        }
    }
}
