//! Macrofy routes for the app's own backend (axum). Both act **as a user**,
//! so they sign only for the user the app has authenticated:
//!
//! - `POST /api/macrofy-signature`: 200 `{appId, userId, signature}` for the
//!   signed-in user (the backend signature endpoint).
//! - `POST /api/macrofy-session` (feature `client`, the recommended
//!   production flow): the backend obtains the user's session from the
//!   gateway at `MACROFY_BASE_URL` through a
//!   [`SessionManager`](crate::macrofy::sessions::SessionManager) (cached,
//!   refreshed before expiry, one gateway call per user at a time) and
//!   answers only `{token, user}`, so neither the secret nor the signature
//!   leaves the server.
//!
//! The user comes from the app's own login: an axum extractor implementing
//! [`AuthenticatedUser`] that rejects anonymous callers with
//! [`Unauthenticated`](crate::identity::Unauthenticated) (401 `{"error": "Authentication required"}`). The
//! request body is not read: a `userId` in it changes nothing.
//!
//! **Why:** the signature has no timestamp and no nonce. Whoever holds
//! `{appId, userId, signature}` can connect as that user for ever, so a
//! route that signed any userId it is sent would hand out permanent logins
//! for every user.
//!
//! Gateway failures on the session route are answered with this crate's own
//! messages, never the gateway's text: 400, 401, 403, 404 and 429 keep their
//! status (429 its `Retry-After`), any other status, a redirect or a
//! malformed answer is 502, a timeout 504, a failing session cache 503.
//!
//! ```
//! use axum::Router;
//! use axum::extract::FromRequestParts;
//! use http::request::Parts;
//! use tower_signing::identity::{AuthenticatedUser, Unauthenticated};
//! use tower_signing::macrofy::routes::{self, MacrofyConfig};
//!
//! /// The app's login (here: a header set by an auth proxy in front).
//! struct User(String);
//!
//! impl AuthenticatedUser for User {
//!     fn user_id(&self) -> &str {
//!         &self.0
//!     }
//! }
//!
//! impl<S: Send + Sync> FromRequestParts<S> for User {
//!     type Rejection = Unauthenticated;
//!     async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Unauthenticated> {
//!         let id = parts.headers.get("x-authenticated-user").and_then(|v| v.to_str().ok());
//!         id.map(|id| User(id.to_owned())).ok_or(Unauthenticated)
//!     }
//! }
//!
//! // Real apps: MacrofyConfig::from_env()?
//! let macrofy = MacrofyConfig::new("my_app_id_1", "app-secret")?;
//! let app: Router = Router::new().merge(routes::router::<User, _>(macrofy));
//! # let _ = app;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! To sign in a handler of your own, use the [`MacrofySigner`] extractor
//! with the id of the user *you* authenticated.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::{FromRef, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::StatusCode;

use super::validate::string_field;
use super::{DEFAULT_BASE_URL, DEMO_APP_ID, DEMO_APP_SECRET, DEMO_GATEWAY_URL};
use super::{SignaturePayload, SigningKey, ValidationError, validate_app_id, validate_user_id};
use crate::identity::AuthenticatedUser;
use crate::json_body::{json_error, read_fields, read_limited};
use crate::secret_file::{SecretFileError, read_secret};

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
    /// `MACROFY_APP_SECRET` and `MACROFY_APP_SECRET_FILE` are both set, or
    /// the file could not be read.
    #[error(transparent)]
    File(#[from] SecretFileError),
    /// A reload named another app id than the running state's.
    #[error(
        "the app id changed: a reload only replaces the key of the running app; restart to serve another app id"
    )]
    AppIdChanged,
}

/// The backend's Macrofy settings: app id, the signing key (keyed once), and
/// (feature `client`) the client calling the gateway.
///
/// `Debug` shows the app id and base URL, never the secret.
#[derive(Clone)]
pub struct MacrofyConfig {
    app_id: String,
    /// The key a [`MacrofyState`] starts with (the state holds the live one).
    key: SigningKey,
    base_url: String,
    timeout: Duration,
    #[cfg(feature = "client")]
    client: crate::macrofy::client::MacrofyClient,
    #[cfg(feature = "client")]
    session_cache: Arc<dyn crate::macrofy::sessions::SessionCache>,
    #[cfg(feature = "client")]
    refresh_margin: Duration,
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
            #[cfg(feature = "client")]
            session_cache: Arc::new(crate::macrofy::sessions::MemorySessionCache::new()),
            #[cfg(feature = "client")]
            refresh_margin: crate::macrofy::sessions::DEFAULT_REFRESH_MARGIN,
            body_limit: DEFAULT_BODY_LIMIT,
            demo: false,
        })
    }

    /// Reads `MACROFY_APP_ID`, `MACROFY_APP_SECRET` and, optionally,
    /// `MACROFY_BASE_URL` (default `https://api.macrofy.com`).
    ///
    /// The secret may come from a file instead (the Docker and Kubernetes
    /// secrets convention): `MACROFY_APP_SECRET_FILE` names a file holding
    /// it, taken verbatim except for one trailing line ending (`\n` or
    /// `\r\n`), which is removed. The file is read again on every call, so a
    /// running server rotates its secret by rewriting it and calling
    /// [`MacrofyState::reload`].
    ///
    /// # Errors
    /// Names the missing or invalid variable; [`ConfigError::File`] when
    /// both `MACROFY_APP_SECRET` and `MACROFY_APP_SECRET_FILE` are set or the
    /// file cannot be read or is empty (naming the path, never the content).
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
        let secret = read_secret(&lookup, "MACROFY_APP_SECRET", "MACROFY_APP_SECRET_FILE")?
            .ok_or(ConfigError::MissingVar("MACROFY_APP_SECRET"))?;
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
        if set("MACROFY_APP_ID") || set("MACROFY_APP_SECRET") || set("MACROFY_APP_SECRET_FILE") {
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

    /// Where the session route keeps sessions (default: a
    /// [`MemorySessionCache`](crate::macrofy::sessions::MemorySessionCache)
    /// of this process). Give every instance of the app the same shared
    /// cache (Redis) so they make one gateway call per user between them.
    #[cfg(feature = "client")]
    #[cfg_attr(docsrs, doc(cfg(feature = "client")))]
    #[must_use]
    pub fn with_session_cache(
        mut self,
        cache: impl crate::macrofy::sessions::SessionCache,
    ) -> Self {
        self.session_cache = Arc::new(cache);
        self
    }

    /// How long before a token's `exp` the session route renews it (default
    /// one hour).
    #[cfg(feature = "client")]
    #[cfg_attr(docsrs, doc(cfg(feature = "client")))]
    #[must_use]
    pub fn with_refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// The request body limit of [`insecure_body_user_id_router`]'s routes
    /// (over it: 413). The other routes read no body.
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

/// The router state behind the routes and [`MacrofySigner`]: the shared
/// [`MacrofyConfig`], the signing key, and (feature `client`) the session
/// manager. Put it in your own state and implement
/// `FromRef<YourState> for MacrofyState` to use the extractor.
///
/// Clones share the key: [`MacrofyState::replace_key`] on one reaches the
/// routes and extractors built from any of them.
#[derive(Clone)]
pub struct MacrofyState {
    config: Arc<MacrofyConfig>,
    key: Arc<ArcSwap<SigningKey>>,
    #[cfg(feature = "client")]
    sessions: crate::macrofy::sessions::SessionManager,
}

impl fmt::Debug for MacrofyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("MacrofyState");
        d.field("config", &self.config);
        #[cfg(feature = "client")]
        d.field("sessions", &self.sessions);
        d.finish_non_exhaustive()
    }
}

impl From<MacrofyConfig> for MacrofyState {
    fn from(config: MacrofyConfig) -> Self {
        #[cfg(feature = "client")]
        let sessions = crate::macrofy::sessions::SessionManager::new(
            &config.app_id,
            config.key.clone(),
            config.client.clone(),
        )
        .expect("MacrofyConfig checked the app id")
        .with_shared_cache(config.session_cache.clone())
        .with_refresh_margin(config.refresh_margin);
        MacrofyState {
            key: Arc::new(ArcSwap::from_pointee(config.key.clone())),
            config: Arc::new(config),
            #[cfg(feature = "client")]
            sessions,
        }
    }
}

impl MacrofyState {
    /// The config.
    pub fn config(&self) -> &MacrofyConfig {
        &self.config
    }

    /// `{appId, userId, signature}` with the key of this moment.
    fn payload(&self, user_id: &str) -> SignaturePayload {
        self.key.load().payload(&self.config.app_id, user_id)
    }

    /// Replaces the signing key (a new app secret of the same app),
    /// atomically, for the signature route, [`MacrofySigner`] and (feature
    /// `client`) the session route's gateway calls, in every clone of this
    /// state. A request that has already loaded the key finishes with it;
    /// later ones sign with `key`. No lock is taken on the request path.
    /// Cached sessions stay valid: the gateway issued them.
    pub fn replace_key(&self, key: SigningKey) {
        #[cfg(feature = "client")]
        self.sessions.replace_key(key.clone());
        self.key.store(Arc::new(key));
    }

    /// Swaps in `config`'s key with [`replace_key`](Self::replace_key): the
    /// way to rotate the app secret without a restart, e.g. on `SIGHUP`
    /// after [`MacrofyConfig::from_env`] re-read `MACROFY_APP_SECRET_FILE`.
    /// Only the key is taken; this state's base URL, timeout and cache stay.
    ///
    /// ```
    /// use tower_signing::macrofy::routes::{MacrofyConfig, MacrofySigner, MacrofyState};
    ///
    /// let state = MacrofyState::from(MacrofyConfig::new("my_app_id_1", "old-secret")?);
    /// state.reload(MacrofyConfig::new("my_app_id_1", "new-secret")?)?;
    /// // Another app id is refused; the key stays.
    /// assert!(state.reload(MacrofyConfig::new("other_app_1", "x")?).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::AppIdChanged`] when `config` is for another app id (the
    /// key is not replaced: serving another app is a restart).
    pub fn reload(&self, config: MacrofyConfig) -> Result<(), ConfigError> {
        if config.app_id != self.config.app_id {
            return Err(ConfigError::AppIdChanged);
        }
        self.replace_key(config.key);
        Ok(())
    }

    /// The session manager behind the session route, for handlers of your
    /// own (pass it the id of the user *you* authenticated).
    #[cfg(feature = "client")]
    #[cfg_attr(docsrs, doc(cfg(feature = "client")))]
    pub fn sessions(&self) -> &crate::macrofy::sessions::SessionManager {
        &self.sessions
    }
}

/// An axum extractor that signs userIds with the preloaded key, so a handler
/// signs in one line. Needs `MacrofyState: FromRef<S>`.
///
/// Sign only the id of the user your handler has authenticated, never an id
/// taken from the request: the signature is a permanent login for that user.
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
        self.state.payload(user_id)
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
/// `POST /api/macrofy-session`, for the user the extractor `U` authenticates,
/// ready to `.merge(...)` into a `Router<S>`.
///
/// `U` is the app's login extractor (it may use the app's state `S`). When
/// it rejects, its rejection is the answer: use
/// [`Unauthenticated`](crate::identity::Unauthenticated) for 401
/// `{"error": "Authentication required"}`. Other methods answer a JSON 405.
///
/// Pass a [`MacrofyConfig`], or a [`MacrofyState`] you keep to replace its
/// key later ([`MacrofyState::replace_key`]).
pub fn router<U, S>(state: impl Into<MacrofyState>) -> Router<S>
where
    U: AuthenticatedUser + FromRequestParts<S> + Send + 'static,
    S: Clone + Send + Sync + 'static,
{
    let state = state.into();
    let signer = state.clone();
    let router = Router::new().route(
        SIGNATURE_PATH,
        post(move |user: U| {
            let state = signer.clone();
            async move { sign_for(&state, user.user_id()) }
        })
        .fallback(crate::json_body::post_only),
    );
    #[cfg(feature = "client")]
    let router = router.route(
        SESSION_PATH,
        post(move |user: U| {
            let state = state.clone();
            async move { session_for(&state, user.user_id()).await }
        })
        .fallback(crate::json_body::post_only),
    );
    #[cfg(not(feature = "client"))]
    let _ = state;
    router
}

/// **Insecure: demos and tests only.** The same routes, signing the
/// `userId` of the JSON body for **any caller**, as the vendor's reference
/// functions do.
///
/// # Warning
/// Anyone who can reach these routes obtains a signature or a session for
/// any user they name, and the signature has no timestamp or nonce: the
/// triple `{appId, userId, signature}` is a permanent login for that user.
/// Never mount this where anything but your own tests can reach it; use
/// [`router`] with your login extractor instead.
///
/// The body is read once within the body limit: 400 for a missing, empty,
/// non-string or too long userId or a body that is not a JSON object, 413
/// over the limit. It takes a [`MacrofyConfig`] or a [`MacrofyState`], as
/// [`router`].
pub fn insecure_body_user_id_router<S>(state: impl Into<MacrofyState>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let state = state.into();
    let signer = state.clone();
    let router = Router::new().route(
        SIGNATURE_PATH,
        post(move |request: Request| {
            let state = signer.clone();
            async move {
                match read_user_id(&state, request).await {
                    Ok(user_id) => sign_for(&state, &user_id),
                    Err(response) => response,
                }
            }
        })
        .fallback(crate::json_body::post_only),
    );
    #[cfg(feature = "client")]
    let router = router.route(
        SESSION_PATH,
        post(move |request: Request| {
            let state = state.clone();
            async move {
                match read_user_id(&state, request).await {
                    Ok(user_id) => session_for(&state, &user_id).await,
                    Err(response) => response,
                }
            }
        })
        .fallback(crate::json_body::post_only),
    );
    #[cfg(not(feature = "client"))]
    let _ = state;
    router
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

/// `{appId, userId, signature}` for `user_id`, or 400 for an id the gateway
/// would refuse.
fn sign_for(state: &MacrofyState, user_id: &str) -> Response {
    match validate_user_id(user_id) {
        Ok(()) => axum::Json(state.payload(user_id)).into_response(),
        Err(e) => json_error(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

/// `{token, user}` for `user_id` from the session manager.
#[cfg(feature = "client")]
async fn session_for(state: &MacrofyState, user_id: &str) -> Response {
    match state.sessions.session(user_id).await {
        Ok(session) => axum::Json(session).into_response(),
        Err(error) => {
            tracing::warn!(app_id = %state.config().app_id, %error, "macrofy session failed");
            error.into_response()
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

    /// The test login: `x-user: <id>` (an app's real extractor checks a
    /// session or token).
    struct HeaderUser(String);

    impl AuthenticatedUser for HeaderUser {
        fn user_id(&self) -> &str {
            &self.0
        }
    }

    impl<S: Send + Sync> FromRequestParts<S> for HeaderUser {
        type Rejection = crate::identity::Unauthenticated;

        async fn from_request_parts(
            parts: &mut http::request::Parts,
            _: &S,
        ) -> Result<Self, Self::Rejection> {
            let user = parts.headers.get("x-user").and_then(|v| v.to_str().ok());
            user.map(|u| HeaderUser(u.to_owned()))
                .ok_or(crate::identity::Unauthenticated)
        }
    }

    /// The routes mounted with this build's features.
    fn mounted_paths() -> Vec<&'static str> {
        if cfg!(feature = "client") {
            vec![SIGNATURE_PATH, SESSION_PATH]
        } else {
            vec![SIGNATURE_PATH]
        }
    }

    fn config() -> MacrofyConfig {
        MacrofyConfig::new("abcdefghij", "s3cr3t").unwrap()
    }

    async fn answer(app: Router, req: http::Request<Body>) -> (StatusCode, serde_json::Value) {
        let res = app.oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    async fn post(body: &'static str) -> (StatusCode, serde_json::Value) {
        let app: Router = insecure_body_user_id_router(config());
        let req = http::Request::post(SIGNATURE_PATH)
            .body(Body::from(body))
            .unwrap();
        answer(app, req).await
    }

    #[tokio::test]
    async fn anonymous_callers_get_a_json_401_and_no_body_is_read() {
        for path in mounted_paths() {
            let app: Router = router::<HeaderUser, _>(config());
            let req = http::Request::post(path)
                .body(Body::from(r#"{"userId":"admin"}"#))
                .unwrap();
            let (status, v) = answer(app, req).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
            assert_eq!(v, serde_json::json!({"error": "Authentication required"}));
        }
    }

    #[tokio::test]
    async fn the_signature_is_for_the_authenticated_user_whatever_the_body_says() {
        let app: Router = router::<HeaderUser, _>(config());
        let req = http::Request::post(SIGNATURE_PATH)
            .header("x-user", "alice")
            .body(Body::from(r#"{"userId":"admin"}"#))
            .unwrap();
        let (status, v) = answer(app, req).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(v["userId"], "alice");
        let alice = SigningKey::new("s3cr3t").unwrap().sign_user_id("alice");
        assert_eq!(v["signature"], alice.as_str());
        // Not even a body that is not JSON matters.
        let app: Router = router::<HeaderUser, _>(config());
        let req = http::Request::post(SIGNATURE_PATH)
            .header("x-user", "alice")
            .body(Body::from("{"))
            .unwrap();
        assert_eq!(answer(app, req).await.0, StatusCode::OK);
        // An id the gateway would refuse is a 400, not a signature.
        let app: Router = router::<HeaderUser, _>(config());
        let req = http::Request::post(SIGNATURE_PATH)
            .header("x-user", "u".repeat(257))
            .body(Body::empty())
            .unwrap();
        let (status, v) = answer(app, req).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(v["error"], "userId must be at most 256 bytes");
    }

    #[tokio::test]
    async fn other_methods_get_a_json_405() {
        for path in mounted_paths() {
            let app: Router = router::<HeaderUser, _>(config());
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
