//! A Macrofy client with the SDK's session lifecycle (SPEC 2.4), on hyper 1 +
//! hyper-util, with rustls (ring, Mozilla roots) for `https` base URLs.
//!
//! - [`MacrofyClient::connect`] validates `{appId, userId, signature}`
//!   locally, POSTs `/api/auth/connect`, and persists `{token, user}` in a
//!   [`SessionStore`].
//! - [`MacrofyClient::restore_session`] makes no network call: it returns the
//!   stored session only while its JWT `exp` is in the future, and drops it
//!   otherwise.
//! - [`MacrofyClient::is_connected`], [`MacrofyClient::session_user`],
//!   [`MacrofyClient::disconnect`] (clears the store).
//! - [`MacrofyClient::exchange`] is the stateless exchange a backend uses
//!   for the recommended flow (it persists nothing).
//!
//! HTTP failures are typed ([`ClientError`]); the whole exchange is bounded by
//! a timeout (default 30 s).
//!
//! ```no_run
//! use tower_signing::macrofy::{SigningKey, client::{FileSessionStore, MacrofyClient}};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = MacrofyClient::builder()
//!     .base_url("http://127.0.0.1:4000")
//!     .session_store(FileSessionStore::new("macrofy-session.json"))
//!     .build()?;
//! let session = match client.restore_session().await? {
//!     Some(session) => session,
//!     None => {
//!         // Normally the payload comes from the app's backend.
//!         let payload = SigningKey::new("app-secret")?.payload("my_app_id_1", "user-42");
//!         client.connect(&payload).await?
//!     }
//! };
//! println!("connected as {}", session.user.id);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::{
    CONNECT_PATH, DEFAULT_BASE_URL, Session, SessionUser, SignaturePayload, ValidationError,
};
use crate::json_body::ErrorBody;
use crate::{Clock, SystemClock};

mod store;

pub use store::{FileSessionStore, MemorySessionStore, SessionStore, StoreError};

/// The default timeout of one exchange with the gateway: 30 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest gateway answer read, in bytes.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// The longest upstream error message kept, in characters.
const MAX_MESSAGE_CHARS: usize = 200;

/// Building a [`MacrofyClient`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientBuildError {
    /// The base URL is not an absolute `http` or `https` URL without
    /// credentials, query or fragment.
    #[error("invalid Macrofy base URL: {0}")]
    InvalidBaseUrl(&'static str),
    /// The timeout is zero.
    #[error("the timeout must be greater than zero")]
    ZeroTimeout,
    /// rustls could not be configured.
    #[error("TLS setup failed: {0}")]
    Tls(String),
}

/// A connect or exchange failed. Nothing here contains the signature, the
/// token or a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The payload failed local validation; no request was sent.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// 400: the gateway refused the input.
    #[error("Macrofy rejected the request (400): {message}")]
    BadRequest {
        /// The gateway's `error` message.
        message: String,
    },
    /// 401: invalid signature or unknown app.
    #[error("Macrofy refused the credentials (401): {message}")]
    Unauthorized {
        /// The gateway's `error` message.
        message: String,
    },
    /// 403: the app has reached its sandbox user limit.
    #[error("Macrofy sandbox quota exceeded (403): {message}")]
    QuotaExceeded {
        /// The gateway's `error` message.
        message: String,
    },
    /// 404: wrong base URL or path.
    #[error("Macrofy endpoint not found (404): {message}")]
    NotFound {
        /// The gateway's `error` message.
        message: String,
    },
    /// 429: slow down; retry after `retry_after` seconds when given.
    #[error("Macrofy rate limit hit (429){}: {message}", retry_after.map(|s| format!(", retry after {s} s")).unwrap_or_default())]
    RateLimited {
        /// `Retry-After` in seconds, when the gateway sent it as a number.
        retry_after: Option<u64>,
        /// The gateway's `error` message.
        message: String,
    },
    /// 5xx: the gateway failed.
    #[error("Macrofy gateway error ({status}): {message}")]
    Server {
        /// The 5xx status.
        status: StatusCode,
        /// The gateway's `error` message.
        message: String,
    },
    /// Any other non-2xx status.
    #[error("unexpected Macrofy status ({status}): {message}")]
    UnexpectedStatus {
        /// The status.
        status: StatusCode,
        /// The gateway's `error` message.
        message: String,
    },
    /// No full answer within the timeout.
    #[error("Macrofy did not answer within {} ms", .0.as_millis())]
    Timeout(Duration),
    /// The connection failed (refused, DNS, TLS, reset).
    #[error("could not reach Macrofy: {0}")]
    Transport(String),
    /// A 2xx answer that is not `{token, user}`, or an unreadable body.
    #[error("invalid answer from Macrofy: {0}")]
    InvalidResponse(String),
    /// The session store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ClientError {
    /// The gateway's HTTP status, for errors that came from an answer.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ClientError::BadRequest { .. } => Some(StatusCode::BAD_REQUEST),
            ClientError::Unauthorized { .. } => Some(StatusCode::UNAUTHORIZED),
            ClientError::QuotaExceeded { .. } => Some(StatusCode::FORBIDDEN),
            ClientError::NotFound { .. } => Some(StatusCode::NOT_FOUND),
            ClientError::RateLimited { .. } => Some(StatusCode::TOO_MANY_REQUESTS),
            ClientError::Server { status, .. } | ClientError::UnexpectedStatus { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// The gateway's own `error` message, for errors that came from an answer.
    pub fn upstream_message(&self) -> Option<&str> {
        match self {
            ClientError::BadRequest { message }
            | ClientError::Unauthorized { message }
            | ClientError::QuotaExceeded { message }
            | ClientError::NotFound { message }
            | ClientError::RateLimited { message, .. }
            | ClientError::Server { message, .. }
            | ClientError::UnexpectedStatus { message, .. } => Some(message),
            _ => None,
        }
    }

    /// `Retry-After` of a 429, in seconds.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ClientError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    fn from_status(status: StatusCode, headers: &http::HeaderMap, body: &[u8]) -> Self {
        let message = upstream_message(status, body);
        match status.as_u16() {
            400 => ClientError::BadRequest { message },
            401 => ClientError::Unauthorized { message },
            403 => ClientError::QuotaExceeded { message },
            404 => ClientError::NotFound { message },
            429 => ClientError::RateLimited {
                retry_after: headers
                    .get(header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok()),
                message,
            },
            500..=599 => ClientError::Server { status, message },
            _ => ClientError::UnexpectedStatus { status, message },
        }
    }
}

/// The `error` of a JSON error body, cut to a sane length; otherwise the
/// status's reason phrase.
fn upstream_message(status: StatusCode, body: &[u8]) -> String {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { error }) if !error.is_empty() => {
            error.chars().take(MAX_MESSAGE_CHARS).collect()
        }
        _ => status.canonical_reason().unwrap_or("no message").to_owned(),
    }
}

/// The `exp` claim of a JWT, read from its payload **without verifying the
/// signature**: fine for deciding whether a stored session is worth keeping,
/// never for trusting it. `None` for anything that is not a JWT with a
/// numeric `exp`.
pub fn jwt_expiry(token: &str) -> Option<u64> {
    let mut parts = token.split('.');
    let (_header, payload, _sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    match claims.get("exp")? {
        serde_json::Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        _ => None,
    }
}

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Builds a [`MacrofyClient`]. Defaults: base URL
/// [`DEFAULT_BASE_URL`], timeout 30 s, an in-memory
/// session store, the system clock.
#[must_use]
pub struct MacrofyClientBuilder {
    base_url: String,
    timeout: Duration,
    store: Arc<dyn SessionStore>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for MacrofyClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MacrofyClientBuilder")
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl MacrofyClientBuilder {
    /// The gateway's base URL, `http` or `https`, optionally with a path
    /// prefix (`/api/auth/connect` is appended).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// The bound on one whole exchange (connect, send, read the answer).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Where the session is persisted (default: memory).
    pub fn session_store(mut self, store: impl SessionStore) -> Self {
        self.store = Arc::new(store);
        self
    }

    /// The clock deciding whether a session's `exp` has passed.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Checks the base URL and sets up the HTTP(S) connection pool.
    ///
    /// # Errors
    /// A malformed base URL, a zero timeout, or a TLS setup failure.
    pub fn build(self) -> Result<MacrofyClient, ClientBuildError> {
        if self.timeout.is_zero() {
            return Err(ClientBuildError::ZeroTimeout);
        }
        let connect_uri = connect_uri(&self.base_url)?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| ClientBuildError::Tls(e.to_string()))?
            .https_or_http()
            .enable_http1()
            .build();
        let http = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .build(connector);
        Ok(MacrofyClient {
            inner: Arc::new(Inner {
                base_url: self.base_url.trim_end_matches('/').to_owned(),
                connect_uri,
                http,
                timeout: self.timeout,
                store: self.store,
                clock: self.clock,
                current: Mutex::new(None),
            }),
        })
    }
}

fn connect_uri(base_url: &str) -> Result<Uri, ClientBuildError> {
    let base = base_url.trim_end_matches('/');
    let uri: Uri = base
        .parse()
        .map_err(|_| ClientBuildError::InvalidBaseUrl("not a URL"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => {
            return Err(ClientBuildError::InvalidBaseUrl(
                "the scheme must be http or https",
            ));
        }
    }
    let authority = uri
        .authority()
        .ok_or(ClientBuildError::InvalidBaseUrl("no host"))?;
    if authority.as_str().contains('@') {
        return Err(ClientBuildError::InvalidBaseUrl(
            "credentials in the URL are not supported",
        ));
    }
    if uri.query().is_some() || base.contains('#') {
        return Err(ClientBuildError::InvalidBaseUrl(
            "no query or fragment allowed",
        ));
    }
    format!("{base}{CONNECT_PATH}")
        .parse()
        .map_err(|_| ClientBuildError::InvalidBaseUrl("not a URL"))
}

/// The Macrofy client. Cheap to clone; clones share the connection pool, the
/// store and the current session.
///
/// `Debug` shows the base URL and whether a session is held, never the token.
#[derive(Clone)]
pub struct MacrofyClient {
    inner: Arc<Inner>,
}

struct Inner {
    base_url: String,
    connect_uri: Uri,
    http: HttpClient,
    timeout: Duration,
    store: Arc<dyn SessionStore>,
    clock: Arc<dyn Clock>,
    current: Mutex<Option<Session>>,
}

impl fmt::Debug for MacrofyClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MacrofyClient")
            .field("base_url", &self.inner.base_url)
            .field("timeout", &self.inner.timeout)
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}

impl MacrofyClient {
    /// A builder with the defaults.
    pub fn builder() -> MacrofyClientBuilder {
        MacrofyClientBuilder {
            base_url: DEFAULT_BASE_URL.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            store: Arc::new(MemorySessionStore::new()),
            clock: Arc::new(SystemClock),
        }
    }

    /// The base URL requests go to (without a trailing `/`).
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The exchange timeout.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// Validates `payload` locally, POSTs it to `/api/auth/connect` and
    /// returns the session, **without** persisting it or changing this
    /// client's state. This is what a backend uses for many users.
    ///
    /// # Errors
    /// [`ClientError::Invalid`] before any network call; otherwise the
    /// typed HTTP failure.
    pub async fn exchange(&self, payload: &SignaturePayload) -> Result<Session, ClientError> {
        payload.validate()?;
        let body = serde_json::to_vec(payload).expect("three strings serialize");
        let mut request = Request::new(Full::new(Bytes::from(body)));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.inner.connect_uri.clone();
        let headers = request.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(
            header::USER_AGENT,
            HeaderValue::from_static(concat!("tower-signing/", env!("CARGO_PKG_VERSION"))),
        );

        let exchange = async {
            let response = self
                .inner
                .http
                .request(request)
                .await
                .map_err(|e| ClientError::Transport(error_chain(&e)))?;
            let (parts, body) = response.into_parts();
            let bytes = Limited::new(body, MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| ClientError::InvalidResponse(format!("reading the body failed: {e}")))?
                .to_bytes();
            Ok::<_, ClientError>((parts, bytes))
        };
        let (parts, bytes) = tokio::time::timeout(self.inner.timeout, exchange)
            .await
            .map_err(|_| ClientError::Timeout(self.inner.timeout))??;

        if !parts.status.is_success() {
            return Err(ClientError::from_status(
                parts.status,
                &parts.headers,
                &bytes,
            ));
        }
        match serde_json::from_slice::<Session>(&bytes) {
            Ok(session) if !session.token.is_empty() => Ok(session),
            _ => Err(ClientError::InvalidResponse(format!(
                "a {} answer that is not {{token, user}}",
                parts.status.as_u16()
            ))),
        }
    }

    /// Connects (SPEC 2.4): validates locally, exchanges the payload for a
    /// session, persists `{token, user}` in the store and keeps it as the
    /// current session.
    ///
    /// # Errors
    /// As [`exchange`](Self::exchange), or [`ClientError::Store`] when the
    /// session could not be persisted (then the client stays disconnected).
    pub async fn connect(&self, payload: &SignaturePayload) -> Result<Session, ClientError> {
        let session = self.exchange(payload).await?;
        self.inner.store.save(&session).await?;
        *self.current() = Some(session.clone());
        Ok(session)
    }

    /// Restores the stored session without any network call: `Some` only
    /// while its JWT `exp` is in the future. An expired or unreadable token
    /// is dropped from the store; a corrupt store is no session.
    ///
    /// # Errors
    /// [`ClientError::Store`] when the store itself fails.
    pub async fn restore_session(&self) -> Result<Option<Session>, ClientError> {
        let stored = self.inner.store.load().await?;
        let now = self.inner.clock.now_unix_seconds();
        match stored {
            Some(session) if jwt_expiry(&session.token).is_some_and(|exp| exp > now) => {
                *self.current() = Some(session.clone());
                Ok(Some(session))
            }
            Some(_) => {
                *self.current() = None;
                self.inner.store.clear().await?;
                Ok(None)
            }
            None => {
                *self.current() = None;
                Ok(None)
            }
        }
    }

    /// Whether a session is held and its `exp` is still in the future.
    pub fn is_connected(&self) -> bool {
        self.session().is_some()
    }

    /// The current session's user, while connected.
    pub fn session_user(&self) -> Option<SessionUser> {
        self.session().map(|s| s.user)
    }

    /// The current session (token included, for `Authorization: Bearer`),
    /// while connected.
    pub fn session(&self) -> Option<Session> {
        let now = self.inner.clock.now_unix_seconds();
        self.current()
            .as_ref()
            .filter(|s| jwt_expiry(&s.token).is_some_and(|exp| exp > now))
            .cloned()
    }

    /// Forgets the session and clears the store (every persisted
    /// credential).
    ///
    /// # Errors
    /// [`ClientError::Store`] when the store could not be cleared (the
    /// in-memory session is forgotten anyway).
    pub async fn disconnect(&self) -> Result<(), ClientError> {
        *self.current() = None;
        self.inner.store.clear().await?;
        Ok(())
    }

    fn current(&self) -> std::sync::MutexGuard<'_, Option<Session>> {
        self.inner.current.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// An error and its sources, joined with `: ` (hyper-util's top-level
/// message alone is just "client error (Connect)").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        for ok in [
            "https://api.macrofy.com",
            "http://127.0.0.1:4000/",
            "https://example.com/prefix",
        ] {
            assert!(connect_uri(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            connect_uri("http://127.0.0.1:4000/").unwrap().to_string(),
            "http://127.0.0.1:4000/api/auth/connect"
        );
        for bad in [
            "",
            "api.macrofy.com",
            "ftp://x.com",
            "https://user:pw@x.com",
            "https://x.com?a=1",
            "https://x.com/#f",
            "not a url",
        ] {
            assert!(connect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn jwt_expiry_reads_exp_only_from_well_formed_tokens() {
        let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let t = |payload: &str| format!("{}.{}.sig", enc("{}"), enc(payload));
        assert_eq!(jwt_expiry(&t(r#"{"exp":1700000000}"#)), Some(1_700_000_000));
        assert_eq!(jwt_expiry(&t(r#"{"exp":17.9}"#)), Some(17));
        assert_eq!(jwt_expiry(&t(r#"{"exp":-1}"#)), None);
        assert_eq!(jwt_expiry(&t(r#"{"exp":"1"}"#)), None);
        assert_eq!(jwt_expiry(&t(r#"{}"#)), None);
        assert_eq!(jwt_expiry(&t("not json")), None);
        assert_eq!(jwt_expiry("a.b"), None);
        assert_eq!(jwt_expiry("a.%%%.c"), None);
        assert_eq!(jwt_expiry(&format!("{}.x", t(r#"{"exp":1}"#))), None);
        assert_eq!(jwt_expiry(""), None);
    }

    #[test]
    fn status_mapping() {
        let h = http::HeaderMap::new();
        let body = br#"{"error":"Invalid signature"}"#;
        let e = ClientError::from_status(StatusCode::UNAUTHORIZED, &h, body);
        assert!(
            matches!(&e, ClientError::Unauthorized { message } if message == "Invalid signature")
        );
        assert_eq!(e.status(), Some(StatusCode::UNAUTHORIZED));
        let mut h429 = http::HeaderMap::new();
        h429.insert(header::RETRY_AFTER, HeaderValue::from_static("17"));
        let e = ClientError::from_status(StatusCode::TOO_MANY_REQUESTS, &h429, b"");
        assert_eq!(e.retry_after(), Some(17));
        assert!(e.to_string().contains("retry after 17 s"), "{e}");
        let e = ClientError::from_status(StatusCode::BAD_GATEWAY, &h, b"<html>");
        assert!(matches!(e, ClientError::Server { message, .. } if message == "Bad Gateway"));
        let e = ClientError::from_status(StatusCode::IM_A_TEAPOT, &h, b"");
        assert!(matches!(e, ClientError::UnexpectedStatus { .. }));
        let long = format!(r#"{{"error":"{}"}}"#, "x".repeat(5000));
        let e = ClientError::from_status(StatusCode::BAD_REQUEST, &h, long.as_bytes());
        assert_eq!(e.upstream_message().unwrap().len(), MAX_MESSAGE_CHARS);
    }
}
