//! Macrofy routes for the app's own backend (axum):
//!
//! - `POST /api/macrofy-signature` (SPEC 2.2): body `{userId}` gives 200
//!   `{appId, userId, signature}`; a missing or empty userId gives 400
//!   `{"error": "Missing userId"}`, a non-string one 400
//!   `{"error": "userId must be a string"}`.
//! - `POST /api/macrofy-session` (the recommended production flow, feature
//!   `client`): body `{userId}`; the backend signs, calls connect on the
//!   gateway at `MACROFY_BASE_URL` and answers only `{token, user}`, so
//!   neither the secret nor the signature leaves the server. Gateway errors
//!   pass through with their status and `{"error": <the gateway's message>}`
//!   (a 429 keeps its `Retry-After`); an unreachable gateway is 502, a slow
//!   one 504.
//!
//! Mount both with one `.merge(...)`:
//!
//! ```
//! use axum::Router;
//! use tower_signing::macrofy::routes::{self, MacrofyConfig};
//!
//! // Real apps: MacrofyConfig::from_env()?
//! let macrofy = MacrofyConfig::new("my_app_id_1", "app-secret")?;
//! let app: Router = Router::new().merge(routes::router(macrofy));
//! # let _ = app;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! And sign in a handler of your own with the [`MacrofySigner`] extractor.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{FromRef, FromRequestParts, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::StatusCode;

use super::validate::string_field;
use super::{DEFAULT_BASE_URL, DEMO_APP_ID, DEMO_APP_SECRET, DEMO_GATEWAY_URL};
use super::{SignaturePayload, SigningKey, ValidationError, validate_app_id, validate_user_id};
use crate::json_body::{json_error, read_fields, read_limited};

/// The backend signature route (SPEC 2.2).
pub const SIGNATURE_PATH: &str = "/api/macrofy-signature";

/// The backend-proxied connect route (the recommended production flow).
pub const SESSION_PATH: &str = "/api/macrofy-session";

/// The default bound on the session route's gateway call: 30 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

use crate::DEFAULT_BODY_LIMIT;

/// Building a [`MacrofyConfig`] failed. Messages name the variable or
/// setting, never a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required environment variable is unset or empty.
    #[error("{0} is not set")]
    MissingVar(&'static str),
    /// The app id is not a 10-12 character nanoid.
    #[error("{0} must be 10-12 characters from A-Za-z0-9_-")]
    InvalidAppId(&'static str),
    /// The app secret is empty.
    #[error("{0} must not be empty")]
    EmptySecret(&'static str),
    /// The gateway base URL or timeout was refused by the client.
    #[error("{0}")]
    Client(String),
}

/// The backend's Macrofy settings: app id, the signing key (keyed once), and
/// (feature `client`) the client calling the gateway.
///
/// `Debug` shows the app id and base URL, never the secret.
#[derive(Clone)]
pub struct MacrofyConfig {
    app_id: String,
    key: SigningKey,
    base_url: String,
    timeout: Duration,
    #[cfg(feature = "client")]
    client: crate::macrofy::client::MacrofyClient,
    body_limit: usize,
    demo: bool,
}

impl fmt::Debug for MacrofyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MacrofyConfig")
            .field("app_id", &self.app_id)
            .field("app_secret", &"[redacted]")
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .field("body_limit", &self.body_limit)
            .field("demo", &self.demo)
            .finish()
    }
}

impl MacrofyConfig {
    /// A config for `app_id` signing with `app_secret` (its literal text),
    /// talking to [`DEFAULT_BASE_URL`].
    ///
    /// # Errors
    /// An app id that is not a 10-12 character nanoid, or an empty secret.
    pub fn new(app_id: &str, app_secret: &str) -> Result<Self, ConfigError> {
        Self::build(app_id, app_secret, DEFAULT_BASE_URL, ("appId", "appSecret"))
    }

    fn build(
        app_id: &str,
        app_secret: &str,
        base_url: &str,
        names: (&'static str, &'static str),
    ) -> Result<Self, ConfigError> {
        validate_app_id(app_id).map_err(|_| ConfigError::InvalidAppId(names.0))?;
        let key = SigningKey::new(app_secret).map_err(|_| ConfigError::EmptySecret(names.1))?;
        Ok(MacrofyConfig {
            app_id: app_id.to_owned(),
            key,
            base_url: base_url.trim_end_matches('/').to_owned(),
            timeout: DEFAULT_TIMEOUT,
            #[cfg(feature = "client")]
            client: crate::macrofy::client::MacrofyClient::builder()
                .base_url(base_url)
                .build()
                .map_err(|e| ConfigError::Client(e.to_string()))?,
            body_limit: DEFAULT_BODY_LIMIT,
            demo: false,
        })
    }

    /// Reads `MACROFY_APP_ID`, `MACROFY_APP_SECRET` and, optionally,
    /// `MACROFY_BASE_URL` (default `https://api.macrofy.com`).
    ///
    /// # Errors
    /// Names the missing or invalid variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) with the demo app when neither
    /// `MACROFY_APP_ID` nor `MACROFY_APP_SECRET` is set: [`DEMO_APP_ID`],
    /// [`DEMO_APP_SECRET`], and the base URL `MACROFY_BASE_URL` or else
    /// [`DEMO_GATEWAY_URL`] (the local gateway example). Setting only one of
    /// the two is an error naming the other.
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    pub fn from_env_or_demo() -> Result<Self, ConfigError> {
        Self::from_lookup_or_demo(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) reading variables through `lookup`
    /// (an empty value counts as unset).
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| lookup(name).filter(|v| !v.is_empty());
        let app_id = get("MACROFY_APP_ID").ok_or(ConfigError::MissingVar("MACROFY_APP_ID"))?;
        let secret = zeroize::Zeroizing::new(
            get("MACROFY_APP_SECRET").ok_or(ConfigError::MissingVar("MACROFY_APP_SECRET"))?,
        );
        let base_url = get("MACROFY_BASE_URL").unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        Self::build(
            &app_id,
            &secret,
            &base_url,
            ("MACROFY_APP_ID", "MACROFY_APP_SECRET"),
        )
        .map_err(|e| match e {
            ConfigError::Client(msg) => ConfigError::Client(format!("MACROFY_BASE_URL: {msg}")),
            e => e,
        })
    }

    /// [`from_env_or_demo`](Self::from_env_or_demo) reading variables
    /// through `lookup`.
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    pub fn from_lookup_or_demo(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let set = |name: &str| lookup(name).is_some_and(|v| !v.is_empty());
        if set("MACROFY_APP_ID") || set("MACROFY_APP_SECRET") {
            return Self::from_lookup(lookup);
        }
        let base_url = lookup("MACROFY_BASE_URL")
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| DEMO_GATEWAY_URL.to_owned());
        let mut config = Self::build(DEMO_APP_ID, DEMO_APP_SECRET, &base_url, ("", "")).map_err(
            |e| match e {
                ConfigError::Client(msg) => ConfigError::Client(format!("MACROFY_BASE_URL: {msg}")),
                e => e,
            },
        )?;
        config.demo = true;
        Ok(config)
    }

    /// The demo app ([`DEMO_APP_ID`], [`DEMO_APP_SECRET`]) against the local
    /// gateway example at [`DEMO_GATEWAY_URL`]. **Demo only**: the secret
    /// is public.
    pub fn demo() -> Self {
        let mut config = Self::build(DEMO_APP_ID, DEMO_APP_SECRET, DEMO_GATEWAY_URL, ("", ""))
            .expect("the demo constants are valid");
        config.demo = true;
        config
    }

    /// The gateway the session route calls (`http` or `https`).
    ///
    /// # Errors
    /// [`ConfigError::Client`] for a URL the client refuses.
    pub fn with_base_url(mut self, base_url: &str) -> Result<Self, ConfigError> {
        #[cfg(feature = "client")]
        {
            self.client = crate::macrofy::client::MacrofyClient::builder()
                .base_url(base_url)
                .timeout(self.timeout)
                .build()
                .map_err(|e| ConfigError::Client(e.to_string()))?;
        }
        self.base_url = base_url.trim_end_matches('/').to_owned();
        Ok(self)
    }

    /// The session route's timeout for the whole gateway call (default 30 s).
    ///
    /// # Errors
    /// [`ConfigError::Client`] for a zero timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Result<Self, ConfigError> {
        if timeout.is_zero() {
            return Err(ConfigError::Client(
                "the timeout must be greater than zero".into(),
            ));
        }
        #[cfg(feature = "client")]
        {
            self.client = crate::macrofy::client::MacrofyClient::builder()
                .base_url(self.base_url.clone())
                .timeout(timeout)
                .build()
                .map_err(|e| ConfigError::Client(e.to_string()))?;
        }
        self.timeout = timeout;
        Ok(self)
    }

    /// The request body limit of both routes (over it: 413).
    #[must_use]
    pub fn with_body_limit(mut self, limit: usize) -> Self {
        self.body_limit = limit;
        self
    }

    /// The app id.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// The gateway base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Whether this is the public demo app.
    pub fn is_demo(&self) -> bool {
        self.demo
    }
}

/// The router state behind the routes and [`MacrofySigner`]: a shared
/// [`MacrofyConfig`]. Put it in your own state and implement
/// `FromRef<YourState> for MacrofyState` to use the extractor.
#[derive(Debug, Clone)]
pub struct MacrofyState(Arc<MacrofyConfig>);

impl From<MacrofyConfig> for MacrofyState {
    fn from(config: MacrofyConfig) -> Self {
        MacrofyState(Arc::new(config))
    }
}

impl MacrofyState {
    /// The config.
    pub fn config(&self) -> &MacrofyConfig {
        &self.0
    }
}

/// An axum extractor that signs userIds with the preloaded key, so a handler
/// signs in one line. Needs `MacrofyState: FromRef<S>`.
///
/// ```
/// use axum::{Json, Router, routing::get};
/// use tower_signing::macrofy::{SignaturePayload, routes::{MacrofyConfig, MacrofySigner, MacrofyState}};
///
/// async fn signed(signer: MacrofySigner) -> Json<SignaturePayload> {
///     Json(signer.sign("user-42"))
/// }
///
/// let state = MacrofyState::from(MacrofyConfig::new("my_app_id_1", "app-secret")?);
/// let app: Router = Router::new().route("/me/macrofy", get(signed)).with_state(state);
/// # let _ = app;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct MacrofySigner {
    state: MacrofyState,
}

impl MacrofySigner {
    /// `{appId, userId, signature}` for `user_id` (signed as given).
    pub fn sign(&self, user_id: &str) -> SignaturePayload {
        let config = self.state.config();
        config.key.payload(&config.app_id, user_id)
    }

    /// [`sign`](Self::sign) after checking the userId is non-empty and at
    /// most 256 bytes, as the gateway will.
    ///
    /// # Errors
    /// The userId's problem.
    pub fn try_sign(&self, user_id: &str) -> Result<SignaturePayload, ValidationError> {
        validate_user_id(user_id)?;
        Ok(self.sign(user_id))
    }

    /// The app id signatures are made for.
    pub fn app_id(&self) -> &str {
        &self.state.config().app_id
    }
}

impl<S> FromRequestParts<S> for MacrofySigner
where
    MacrofyState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        _parts: &mut http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(MacrofySigner {
            state: MacrofyState::from_ref(state),
        })
    }
}

/// Both routes, `POST /api/macrofy-signature` and (feature `client`)
/// `POST /api/macrofy-session`, with their state applied, ready to
/// `.merge(...)` into any `Router<S>`.
pub fn router<S>(config: MacrofyConfig) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let router = Router::new().route(
        SIGNATURE_PATH,
        post(signature_handler).fallback(crate::json_body::post_only),
    );
    #[cfg(feature = "client")]
    let router = router.route(
        SESSION_PATH,
        post(session_handler).fallback(crate::json_body::post_only),
    );
    router.with_state(MacrofyState::from(config))
}

/// Reads `{userId}`: the body within the limit, a JSON object, userId a
/// non-empty string of at most 256 bytes.
async fn read_user_id(state: &MacrofyState, request: Request) -> Result<String, Response> {
    let (parts, body) = request.into_parts();
    let bad = |status, msg: &str| json_error::<axum::body::Body>(status, msg);
    let [user_id] = read_limited(&parts.headers, body, state.config().body_limit)
        .await
        .and_then(|bytes| read_fields(&bytes, &["userId"]))
        .map_err(|e| bad(e.status(), &e.to_string()))?;
    let user_id = string_field(user_id, "userId")
        .and_then(|u| validate_user_id(&u).map(|()| u))
        .map_err(|e| bad(StatusCode::BAD_REQUEST, &e.to_string()))?;
    Ok(user_id)
}

async fn signature_handler(State(state): State<MacrofyState>, request: Request) -> Response {
    match read_user_id(&state, request).await {
        Ok(user_id) => {
            let config = state.config();
            axum::Json(config.key.payload(&config.app_id, &user_id)).into_response()
        }
        Err(response) => response,
    }
}

#[cfg(feature = "client")]
async fn session_handler(State(state): State<MacrofyState>, request: Request) -> Response {
    use crate::macrofy::client::ClientError;

    let user_id = match read_user_id(&state, request).await {
        Ok(user_id) => user_id,
        Err(response) => return response,
    };
    let config = state.config();
    let payload = config.key.payload(&config.app_id, &user_id);
    match config.client.exchange(&payload).await {
        Ok(session) => axum::Json(session).into_response(),
        Err(error) => {
            tracing::warn!(app_id = %config.app_id, %error, "macrofy session exchange failed");
            let (status, message) = match &error {
                ClientError::Invalid(e) => (StatusCode::BAD_REQUEST, e.to_string()),
                ClientError::Timeout(_) => (
                    StatusCode::GATEWAY_TIMEOUT,
                    "Macrofy gateway timed out".to_owned(),
                ),
                ClientError::Transport(_) => (
                    StatusCode::BAD_GATEWAY,
                    "Macrofy gateway unreachable".to_owned(),
                ),
                ClientError::InvalidResponse(_) => (
                    StatusCode::BAD_GATEWAY,
                    "Invalid answer from the Macrofy gateway".to_owned(),
                ),
                e => match (e.status(), e.upstream_message()) {
                    (Some(status), Some(message)) => (status, message.to_owned()),
                    _ => (StatusCode::BAD_GATEWAY, "Macrofy gateway error".to_owned()),
                },
            };
            let mut response = json_error::<axum::body::Body>(status, &message);
            if let Some(seconds) = error.retry_after() {
                response
                    .headers_mut()
                    .insert(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
            }
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn env_errors_name_the_variable() {
        let e = MacrofyConfig::from_lookup(lookup(&[])).unwrap_err();
        assert_eq!(e.to_string(), "MACROFY_APP_ID is not set");
        let e =
            MacrofyConfig::from_lookup(lookup(&[("MACROFY_APP_ID", "abcdefghij")])).unwrap_err();
        assert_eq!(e.to_string(), "MACROFY_APP_SECRET is not set");
        let e = MacrofyConfig::from_lookup(lookup(&[
            ("MACROFY_APP_ID", "abcdefghij"),
            ("MACROFY_APP_SECRET", ""),
        ]))
        .unwrap_err();
        assert_eq!(e.to_string(), "MACROFY_APP_SECRET is not set");
        let e = MacrofyConfig::from_lookup(lookup(&[
            ("MACROFY_APP_ID", "bad id"),
            ("MACROFY_APP_SECRET", "s3cr3t"),
        ]))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "MACROFY_APP_ID must be 10-12 characters from A-Za-z0-9_-"
        );
        let ok = MacrofyConfig::from_lookup(lookup(&[
            ("MACROFY_APP_ID", "abcdefghij"),
            ("MACROFY_APP_SECRET", "s3cr3t"),
        ]))
        .unwrap();
        assert_eq!(ok.base_url(), DEFAULT_BASE_URL);
        assert!(!ok.is_demo());
        assert!(!format!("{ok:?}").contains("s3cr3t"));
    }

    #[cfg(feature = "client")]
    #[test]
    fn bad_base_url_names_the_variable() {
        let e = MacrofyConfig::from_lookup(lookup(&[
            ("MACROFY_APP_ID", "abcdefghij"),
            ("MACROFY_APP_SECRET", "s"),
            ("MACROFY_BASE_URL", "ftp://x"),
        ]))
        .unwrap_err();
        assert!(e.to_string().starts_with("MACROFY_BASE_URL: "), "{e}");
    }

    #[test]
    fn demo_only_when_both_unset() {
        let demo = MacrofyConfig::from_lookup_or_demo(lookup(&[])).unwrap();
        assert!(demo.is_demo());
        assert_eq!(demo.app_id(), DEMO_APP_ID);
        assert_eq!(demo.base_url(), DEMO_GATEWAY_URL);
        let demo = MacrofyConfig::from_lookup_or_demo(lookup(&[(
            "MACROFY_BASE_URL",
            "http://127.0.0.1:9/",
        )]))
        .unwrap();
        assert_eq!(demo.base_url(), "http://127.0.0.1:9");
        let e = MacrofyConfig::from_lookup_or_demo(lookup(&[("MACROFY_APP_ID", "abcdefghij")]))
            .unwrap_err();
        assert_eq!(e, ConfigError::MissingVar("MACROFY_APP_SECRET"));
    }

    async fn post(body: &'static str) -> (StatusCode, serde_json::Value) {
        let app: Router = router(MacrofyConfig::new("abcdefghij", "s3cr3t").unwrap());
        let req = http::Request::post(SIGNATURE_PATH)
            .body(Body::from(body))
            .unwrap();
        let res = app.oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn other_methods_get_a_json_405() {
        for path in [SIGNATURE_PATH, SESSION_PATH] {
            let app: Router = router(MacrofyConfig::new("abcdefghij", "s3cr3t").unwrap());
            let req = http::Request::get(path).body(Body::empty()).unwrap();
            let res = app.oneshot(req).await.unwrap();
            assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
            assert_eq!(res.headers()[http::header::ALLOW], "POST");
            assert_eq!(
                res.headers()[http::header::CONTENT_TYPE],
                "application/json"
            );
            let bytes = res.into_body().collect().await.unwrap().to_bytes();
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(v["error"], "Method not allowed: use POST", "{path}");
        }
    }

    #[tokio::test]
    async fn signature_route_answers() {
        let (status, v) = post(r#"{"userId":"u1"}"#).await;
        assert_eq!(status, StatusCode::OK);
        let expected = SigningKey::new("s3cr3t").unwrap().sign_user_id("u1");
        assert_eq!(v["signature"], expected.as_str());
        assert_eq!(v["appId"], "abcdefghij");
        assert_eq!(v["userId"], "u1");
        for (body, msg) in [
            ("{}", "Missing userId"),
            (r#"{"userId":""}"#, "Missing userId"),
            (r#"{"userId":null}"#, "Missing userId"),
            (r#"{"userId":42}"#, "userId must be a string"),
            (r#"{"userId":{"a":1}}"#, "userId must be a string"),
            ("[]", "Request body must be a JSON object"),
        ] {
            let (status, v) = post(body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(v["error"], msg, "{body}");
        }
        let (status, v) = post("{").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            v["error"]
                .as_str()
                .unwrap()
                .starts_with("Invalid JSON body: ")
        );
    }
}
