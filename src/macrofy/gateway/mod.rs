//! A Macrofy-compatible gateway: the verifying side of `POST /api/auth/connect`
//! (SPEC 2.3), for offline integration tests and local development.
//!
//! It validates `{appId, userId, signature}`, looks the app's secrets up in
//! an [`AppRegistry`], verifies the HMAC in constant time, issues an HS256
//! session JWT ([`Claims`], valid for 7 days unless
//! [`GatewayConfig::with_token_lifetime`] says otherwise), and counts
//! distinct users per app in a [`QuotaStore`] against the sandbox limit.
//!
//! `POST /api/auth/refresh` with `Authorization: Bearer <token>` answers a
//! fresh `{token, user}` for the same user while the token is accepted
//! (401 `Invalid token` / `Token expired` otherwise, or `Unknown appId` once
//! the app is removed from the registry). It never sees the app secret: it
//! only extends a token the gateway accepts, so a session lives as long as
//! its holder keeps refreshing it and the app stays registered.
//!
//! ## Rotation
//! - **App secrets**: an app may have two secrets while its backends move
//!   to a new one ([`InMemoryAppRegistry::with_app_secrets`], or the app
//!   listed twice in [`InMemoryAppRegistry::from_spec`]); connect accepts a
//!   signature made with either.
//! - **JWT keys**: tokens carry a `kid` header naming their key (derived
//!   from the key, so instances given the same key agree). The gateway signs
//!   with the key given to [`GatewayConfig::new`] and also accepts tokens
//!   under the keys given to [`GatewayConfig::with_previous_jwt_key`] until
//!   they expire; a token whose key is no longer configured gets 401.
//!   Refreshing moves a user onto the current key.
//!
//! ## Several instances
//! Instances given the same apps, keys and issuer accept each other's
//! tokens; the sandbox count is shared through a common [`QuotaStore`]
//! (with the `redis` feature: `RedisQuotaStore`).
//!
//! | case | answer |
//! |---|---|
//! | body over the limit | 413 |
//! | malformed JSON, non-object body, a field missing, not a string or malformed | 400, naming the field |
//! | unknown appId | 401 `Unknown appId` |
//! | HMAC mismatch | 401 `Invalid signature` |
//! | a new user past the sandbox limit | 403 `Sandbox quota exceeded` |
//! | the app registry or quota store failed | 503 |
//! | ok | 200 `{token, user: {id, appId, externalId}}` |
//!
//! [`Gateway::router`] serves it with axum (an axum `Router` is a
//! `tower::Service`); [`RequireBearerLayer`] and the [`BearerClaims`]
//! extractor protect the gateway's own routes with the issued tokens.
//!
//! ```
//! use tower_signing::macrofy::{self, gateway::{Gateway, GatewayConfig, InMemoryAppRegistry}};
//!
//! let apps = InMemoryAppRegistry::new().with_app(macrofy::DEMO_APP_ID, macrofy::DEMO_APP_SECRET)?;
//! let gateway = GatewayConfig::new(apps, "a JWT signing key of at least 32 bytes!!")
//!     .with_sandbox_user_limit(Some(100))
//!     .build()?;
//! let app: axum::Router = gateway.router();
//! # let _ = app;
//!
//! // Too short a JWT key is refused when the config is built.
//! let apps = InMemoryAppRegistry::new().with_app(macrofy::DEMO_APP_ID, macrofy::DEMO_APP_SECRET)?;
//! assert!(GatewayConfig::new(apps, "short").build().is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hmac::{KeyInit, Mac};
use http::StatusCode;
use zeroize::Zeroizing;

use super::validate::{CONNECT_FIELDS, payload_from_fields};
use super::{CONNECT_PATH, Session, SessionUser, SignaturePayload, ValidationError};
use crate::json_body::{BodyRejection, json_error, read_fields, read_limited};
use crate::signature::HmacSha256;
use crate::{Clock, SystemClock};

mod auth;
mod quota;
#[cfg(feature = "redis")]
mod redis_quota;
mod registry;
mod token;

pub use auth::{BearerClaims, RequireBearer, RequireBearerLayer, ResponseFuture};
pub use quota::{Admission, InMemoryQuotaStore, QuotaStore};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis_quota::{DEFAULT_REDIS_TIMEOUT, RedisQuotaStore};
pub use registry::{AppKeys, AppRegistry, InMemoryAppRegistry, RegistryConfigError};
pub use token::{Claims, TOKEN_TTL_SECONDS, TokenError};

pub use super::{BoxError, BoxFuture};

/// The gateway's protected route answering the caller's own session user,
/// `{id, appId, externalId}`, for a valid bearer token.
pub const SESSION_PATH: &str = "/api/auth/session";

/// The route answering a fresh `{token, user}` for a valid bearer token.
pub const REFRESH_PATH: &str = "/api/auth/refresh";

/// The shortest JWT signing key accepted, in bytes (HS256 wants at least the
/// hash size).
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// The default sandbox limit: distinct users per app.
pub const DEFAULT_SANDBOX_USER_LIMIT: u64 = 100;

use crate::DEFAULT_BODY_LIMIT;

/// The default `iss` claim.
pub const DEFAULT_ISSUER: &str = "macrofy-gateway";

/// The default `aud` claim.
pub const DEFAULT_AUDIENCE: &str = "macrofy-api";

/// Building a [`Gateway`] failed. Messages never contain key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayConfigError {
    /// A JWT key (current or previous) is shorter than [`MIN_JWT_SECRET_BYTES`].
    #[error("the JWT signing key must be at least {MIN_JWT_SECRET_BYTES} bytes (got {len})")]
    JwtSecretTooShort {
        /// The length given, in bytes.
        len: usize,
    },
    /// The user-id key is shorter than [`MIN_JWT_SECRET_BYTES`].
    #[error("the user id key must be at least {MIN_JWT_SECRET_BYTES} bytes (got {len})")]
    UserIdKeyTooShort {
        /// The length given, in bytes.
        len: usize,
    },
    /// The issuer or audience is empty.
    #[error("{0} must not be empty")]
    Empty(&'static str),
    /// The body limit is zero.
    #[error("the body limit must be at least 1 byte")]
    ZeroBodyLimit,
    /// The token lifetime is under one second.
    #[error("the token lifetime must be at least 1 second")]
    ZeroTokenLifetime,
}

/// Configuration for a [`Gateway`]; [`GatewayConfig::build`] checks it and
/// builds every key once.
///
/// Defaults: sandbox limit [`DEFAULT_SANDBOX_USER_LIMIT`], body limit
/// [`DEFAULT_BODY_LIMIT`], issuer [`DEFAULT_ISSUER`], audience
/// [`DEFAULT_AUDIENCE`], token lifetime [`TOKEN_TTL_SECONDS`] (7 days), the
/// system clock, an [`InMemoryQuotaStore`], no previous JWT key, and a
/// user-id key derived from the JWT key.
///
/// `Debug` redacts the keys.
pub struct GatewayConfig {
    registry: Arc<dyn AppRegistry>,
    quota: Arc<dyn QuotaStore>,
    jwt_secret: Zeroizing<Vec<u8>>,
    previous_jwt_secrets: Vec<Zeroizing<Vec<u8>>>,
    user_id_key: Option<Zeroizing<Vec<u8>>>,
    issuer: String,
    audience: String,
    limit: Option<u64>,
    body_limit: usize,
    token_lifetime: Duration,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("jwt_secret", &"[redacted]")
            .field("previous_jwt_keys", &self.previous_jwt_secrets.len())
            .field("user_id_key", &"[redacted]")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("sandbox_user_limit", &self.limit)
            .field("body_limit", &self.body_limit)
            .field("token_lifetime", &self.token_lifetime)
            .finish_non_exhaustive()
    }
}

impl GatewayConfig {
    /// A config for the apps in `registry`, signing JWTs with `jwt_secret`
    /// (at least 32 bytes, checked by [`build`](Self::build)).
    pub fn new(registry: impl AppRegistry, jwt_secret: impl Into<Vec<u8>>) -> Self {
        GatewayConfig {
            registry: Arc::new(registry),
            quota: Arc::new(InMemoryQuotaStore::new()),
            jwt_secret: Zeroizing::new(jwt_secret.into()),
            previous_jwt_secrets: Vec::new(),
            user_id_key: None,
            issuer: DEFAULT_ISSUER.to_owned(),
            audience: DEFAULT_AUDIENCE.to_owned(),
            limit: Some(DEFAULT_SANDBOX_USER_LIMIT),
            body_limit: DEFAULT_BODY_LIMIT,
            token_lifetime: Duration::from_secs(TOKEN_TTL_SECONDS),
            clock: Arc::new(SystemClock),
        }
    }

    /// How long issued tokens live (default 7 days; whole seconds, at least
    /// one). Connect and refresh both issue tokens of this lifetime.
    ///
    /// # Warning
    /// A token cannot be revoked before its `exp` (short of dropping its
    /// key), and a holder can refresh it for ever while the app exists: a
    /// longer lifetime widens the window of a stolen token.
    #[must_use]
    pub fn with_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// Also accepts tokens signed with `jwt_secret` (a previous key, at
    /// least 32 bytes), until they expire. Call once per key still honoured.
    ///
    /// To rotate: configure the new key with [`new`](Self::new) and the old
    /// one here on every instance; drop it once the last token it signed
    /// has expired (the token lifetime after the switch). Tokens name their
    /// key in the `kid` header, derived from the key itself. Unless
    /// [`with_user_id_key`](Self::with_user_id_key) is set, the scoped user
    /// ids of new connects change with the JWT key; set it before rotating.
    ///
    /// # Warning
    /// Whoever holds a previous key can still mint accepted tokens: remove
    /// it at once if it leaked rather than waiting for its tokens to expire.
    #[must_use]
    pub fn with_previous_jwt_key(mut self, jwt_secret: impl Into<Vec<u8>>) -> Self {
        self.previous_jwt_secrets
            .push(Zeroizing::new(jwt_secret.into()));
        self
    }

    /// Distinct users allowed per app; `None` for no limit.
    #[must_use]
    pub fn with_sandbox_user_limit(mut self, limit: Option<u64>) -> Self {
        self.limit = limit;
        self
    }

    /// Where distinct users are counted (default: in memory).
    #[must_use]
    pub fn with_quota_store(mut self, store: impl QuotaStore) -> Self {
        self.quota = Arc::new(store);
        self
    }

    /// The `iss` claim written and required.
    #[must_use]
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = issuer.into();
        self
    }

    /// The `aud` claim written and required.
    #[must_use]
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = audience.into();
        self
    }

    /// The key of the scoped user ids (at least 32 bytes).
    ///
    /// By default it is derived from the JWT key, so rotating the JWT key
    /// changes every user's id; set it separately to keep ids stable across
    /// JWT key rotations.
    #[must_use]
    pub fn with_user_id_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.user_id_key = Some(Zeroizing::new(key.into()));
        self
    }

    /// The connect route's body limit in bytes (over it: 413).
    #[must_use]
    pub fn with_body_limit(mut self, limit: usize) -> Self {
        self.body_limit = limit;
        self
    }

    /// The clock for `iat`, `exp` and expiry checks (tests use a
    /// [`ManualClock`](crate::ManualClock)).
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Checks the config and builds the keys, once.
    ///
    /// # Errors
    /// A JWT key (current or previous) or user-id key under 32 bytes, an
    /// empty issuer or audience, a zero body limit, a token lifetime under
    /// one second.
    pub fn build(self) -> Result<Gateway, GatewayConfigError> {
        for key in std::iter::once(&self.jwt_secret).chain(&self.previous_jwt_secrets) {
            if key.len() < MIN_JWT_SECRET_BYTES {
                return Err(GatewayConfigError::JwtSecretTooShort { len: key.len() });
            }
        }
        let lifetime = self.token_lifetime.as_secs();
        if lifetime == 0 {
            return Err(GatewayConfigError::ZeroTokenLifetime);
        }
        if self.issuer.is_empty() {
            return Err(GatewayConfigError::Empty("issuer"));
        }
        if self.audience.is_empty() {
            return Err(GatewayConfigError::Empty("audience"));
        }
        if self.body_limit == 0 {
            return Err(GatewayConfigError::ZeroBodyLimit);
        }
        let user_ids = match &self.user_id_key {
            Some(key) if key.len() < MIN_JWT_SECRET_BYTES => {
                return Err(GatewayConfigError::UserIdKeyTooShort { len: key.len() });
            }
            Some(key) => hmac_key(key),
            None => {
                let mut derive = hmac_key(&self.jwt_secret);
                derive.update(b"tower-signing/macrofy/scoped-user-id/v1");
                let mut derived = [0u8; 32];
                derived.copy_from_slice(&derive.finalize().into_bytes());
                let derived = Zeroizing::new(derived);
                hmac_key(derived.as_slice())
            }
        };
        let tokens = token::TokenKeys::new(
            &self.jwt_secret,
            self.previous_jwt_secrets.iter().map(|k| k.as_slice()),
            self.issuer,
            self.audience,
            lifetime,
        );
        Ok(Gateway {
            inner: Arc::new(Inner {
                registry: self.registry,
                quota: self.quota,
                tokens,
                user_ids,
                limit: self.limit,
                body_limit: self.body_limit,
                clock: self.clock,
            }),
        })
    }
}

fn hmac_key(key: &[u8]) -> HmacSha256 {
    <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes a key of any length")
}

/// The built gateway: cheap to clone, shared by every request.
///
/// `Debug` shows the issuer, audience and limits, never a key.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Arc<dyn AppRegistry>,
    quota: Arc<dyn QuotaStore>,
    tokens: token::TokenKeys,
    user_ids: HmacSha256,
    limit: Option<u64>,
    body_limit: usize,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for Gateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gateway")
            .field("keys", &"[redacted]")
            .field("issuer", &self.inner.tokens.issuer)
            .field("audience", &self.inner.tokens.audience)
            .field("token_lifetime_seconds", &self.inner.tokens.lifetime)
            .field("sandbox_user_limit", &self.inner.limit)
            .field("body_limit", &self.inner.body_limit)
            .finish_non_exhaustive()
    }
}

/// Why a connect or a refresh was refused. `status()` and the message are
/// the answer; the error is also put in the response's extensions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The body was too large (413), unreadable, not JSON or not an object (400).
    #[error("{message}")]
    Body {
        /// 413 or 400.
        status: StatusCode,
        /// What was wrong, e.g. `Invalid JSON body: ...`.
        message: String,
    },
    /// A field is missing or malformed (400).
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The appId is not registered (401), or no longer is (refresh).
    #[error("Unknown appId")]
    UnknownApp,
    /// Refresh: the bearer token is missing or not accepted (401, with
    /// `WWW-Authenticate: Bearer`).
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The HMAC does not match (401).
    #[error("Invalid signature")]
    InvalidSignature,
    /// A new user past the app's sandbox limit (403).
    #[error("Sandbox quota exceeded")]
    QuotaExceeded,
    /// The app registry failed (503).
    #[error("App registry unavailable")]
    RegistryUnavailable,
    /// The quota store failed (503).
    #[error("Quota store unavailable")]
    QuotaUnavailable,
    /// The token could not be made (no system randomness, or a clock so far
    /// ahead that the expiry is past what clients can read) (500).
    #[error("Could not issue a session token")]
    TokenIssue,
}

impl ConnectError {
    /// The HTTP status to answer with.
    pub fn status(&self) -> StatusCode {
        match self {
            ConnectError::Body { status, .. } => *status,
            ConnectError::Invalid(_) => StatusCode::BAD_REQUEST,
            ConnectError::UnknownApp | ConnectError::InvalidSignature | ConnectError::Token(_) => {
                StatusCode::UNAUTHORIZED
            }
            ConnectError::QuotaExceeded => StatusCode::FORBIDDEN,
            ConnectError::RegistryUnavailable | ConnectError::QuotaUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ConnectError::TokenIssue => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<BodyRejection> for ConnectError {
    fn from(e: BodyRejection) -> Self {
        ConnectError::Body {
            status: e.status(),
            message: e.to_string(),
        }
    }
}

impl IntoResponse for ConnectError {
    fn into_response(self) -> Response {
        let mut res: Response = match self {
            ConnectError::Token(e) => e.into_response(),
            _ => json_error(self.status(), &self.to_string()),
        };
        res.extensions_mut().insert(self);
        res
    }
}

impl Gateway {
    /// Verifies a connect payload and issues a session (SPEC 2.3), without
    /// HTTP: the same steps as the route, after body parsing.
    ///
    /// # Errors
    /// See [`ConnectError`]; every failure is logged at `warn` without the
    /// signature or the userId.
    pub async fn connect(&self, payload: &SignaturePayload) -> Result<Session, ConnectError> {
        let result = self.connect_inner(payload).await;
        if let Err(e) = &result {
            // Only a well-formed appId is logged: anything else is
            // caller-controlled text of any length.
            let app_id = match super::validate_app_id(&payload.app_id) {
                Ok(()) => payload.app_id.as_str(),
                Err(_) => "[invalid]",
            };
            tracing::warn!(app_id, status = e.status().as_u16(), reason = %e, "macrofy connect refused");
        }
        result
    }

    async fn connect_inner(&self, payload: &SignaturePayload) -> Result<Session, ConnectError> {
        payload.validate()?;
        let inner = &self.inner;
        self.app_keys(&payload.app_id)
            .await?
            .verify(&payload.user_id, &payload.signature)
            .map_err(|_| ConnectError::InvalidSignature)?;
        let scoped = self.scoped_user_id(&payload.app_id, &payload.user_id);
        // The token is made before the quota is asked, so a failure to make
        // it never spends a slot: admitting is the last step that can fail,
        // and it is one atomic store call. (Admit-then-rollback would need a
        // second call that can itself fail, and meanwhile the held slot can
        // refuse another new user.) A token made for a refused user is
        // dropped unsent.
        let session = self.issue(scoped, &payload.app_id, &payload.user_id)?;
        let admission = inner
            .quota
            .admit(&payload.app_id, &session.user.id, inner.limit)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "macrofy quota store failed");
                ConnectError::QuotaUnavailable
            })?;
        if admission == Admission::QuotaExceeded {
            return Err(ConnectError::QuotaExceeded);
        }
        Ok(session)
    }

    async fn app_keys(&self, app_id: &str) -> Result<AppKeys, ConnectError> {
        self.inner
            .registry
            .app_keys(app_id)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "macrofy app registry failed");
                ConnectError::RegistryUnavailable
            })?
            .ok_or(ConnectError::UnknownApp)
    }

    fn issue(&self, scoped: String, app_id: &str, user_id: &str) -> Result<Session, ConnectError> {
        let now = self.inner.clock.now_unix_seconds();
        let (claims, token) = self
            .inner
            .tokens
            .issue(scoped, app_id.to_owned(), user_id.to_owned(), now)
            .map_err(|e| {
                tracing::error!(error = %e, "could not issue a session token");
                ConnectError::TokenIssue
            })?;
        Ok(Session {
            token,
            user: SessionUser {
                id: claims.sub,
                app_id: claims.app_id,
                external_id: claims.external_id,
            },
        })
    }

    /// A fresh session for the user of an accepted `token` (SPEC 2.5): same
    /// `user`, new `iat`, `exp` and `jti`, signed with the current JWT key.
    ///
    /// Refresh does not see the app secret again: it only extends a token
    /// the gateway accepts (signature, `kid`, issuer, audience, not
    /// expired), so a holder can keep a session alive indefinitely by
    /// refreshing before `exp`. It does check that the app is still
    /// registered: removing an app stops its refreshes at once (its
    /// unexpired tokens still open bearer routes until they expire, unless
    /// the JWT key they name is dropped). The quota is not consulted: the
    /// user was counted when they connected.
    ///
    /// # Errors
    /// [`ConnectError::Token`] (401) for a token not accepted,
    /// [`ConnectError::UnknownApp`] (401) for an app no longer registered,
    /// [`ConnectError::RegistryUnavailable`] (503),
    /// [`ConnectError::TokenIssue`] (500). Refusals are logged at `warn`
    /// without the token.
    pub async fn refresh(&self, token: &str) -> Result<Session, ConnectError> {
        let result = async {
            let claims = self.verify_token(token)?;
            self.app_keys(&claims.app_id).await?;
            self.issue(claims.sub, &claims.app_id, &claims.external_id)
        }
        .await;
        if let Err(e) = &result {
            tracing::warn!(status = e.status().as_u16(), reason = %e, "macrofy refresh refused");
        }
        result
    }

    /// The Macrofy-scoped id of `(app_id, user_id)`: `usr_` and 32 hex
    /// characters of an HMAC under the gateway's user-id key. Stable for the
    /// same pair and key; without the key it reveals nothing of the userId.
    pub fn scoped_user_id(&self, app_id: &str, user_id: &str) -> String {
        let mut mac = self.inner.user_ids.clone();
        // Length-prefix the appId so ("ab", "c") and ("a", "bc") differ.
        mac.update(&(app_id.len() as u64).to_be_bytes());
        mac.update(app_id.as_bytes());
        mac.update(user_id.as_bytes());
        let tag = mac.finalize().into_bytes();
        format!("usr_{}", hex::encode(&tag[..16]))
    }

    /// Verifies a session token: HS256 with this gateway's current or a
    /// previous key (chosen by the `kid` header), its issuer and audience,
    /// `iat` not ahead of the gateway clock by more than a minute, and `exp`
    /// after the gateway clock's now.
    ///
    /// # Errors
    /// [`TokenError::Expired`] or [`TokenError::Invalid`].
    pub fn verify_token(&self, token: &str) -> Result<Claims, TokenError> {
        self.inner
            .tokens
            .decode(token, self.inner.clock.now_unix_seconds())
    }

    /// The `kid` of the key new tokens are signed with (derived from the
    /// key: instances given the same key report the same id). Not secret;
    /// log it to see which key an instance signs with.
    pub fn jwt_key_id(&self) -> &str {
        self.inner.tokens.current_kid()
    }

    /// Verifies the `Authorization: Bearer <token>` of a request.
    ///
    /// # Errors
    /// Any [`TokenError`].
    pub fn verify_bearer(&self, headers: &http::HeaderMap) -> Result<Claims, TokenError> {
        self.verify_token(token::bearer_token(headers)?)
    }

    /// A [`RequireBearerLayer`] checking this gateway's tokens.
    pub fn require_bearer(&self) -> RequireBearerLayer {
        RequireBearerLayer::new(self.clone())
    }

    /// The gateway's routes: `POST /api/auth/connect` and, behind a bearer
    /// token, `POST /api/auth/refresh` and `GET /api/auth/session`. Merge
    /// into any app with `.merge(gateway.router())`.
    pub fn router<S>(&self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        Router::new()
            .route(
                CONNECT_PATH,
                post(connect_handler).fallback(crate::json_body::post_only),
            )
            .route(
                REFRESH_PATH,
                post(refresh_handler).fallback(crate::json_body::post_only),
            )
            .route(
                SESSION_PATH,
                get(session_handler).fallback(crate::json_body::get_only),
            )
            .with_state(self.clone())
    }
}

async fn connect_handler(State(gateway): State<Gateway>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let result = async {
        let bytes = read_limited(&parts.headers, body, gateway.inner.body_limit).await?;
        let payload = payload_from_fields(read_fields(&bytes, &CONNECT_FIELDS)?)?;
        gateway.connect(&payload).await
    }
    .await;
    match result {
        Ok(session) => axum::Json(session).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn refresh_handler(State(gateway): State<Gateway>, headers: http::HeaderMap) -> Response {
    let result = match token::bearer_token(&headers) {
        Ok(token) => gateway.refresh(token).await,
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(session) => axum::Json(session).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn session_handler(BearerClaims(claims): BearerClaims) -> axum::Json<SessionUser> {
    axum::Json(SessionUser {
        id: claims.sub,
        app_id: claims.app_id,
        external_id: claims.external_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;
    use crate::macrofy::{DEMO_APP_ID, DEMO_APP_SECRET, SigningKey};

    const JWT: &str = "test-jwt-secret-that-is-32-bytes";

    fn gateway(clock: ManualClock) -> Gateway {
        let apps = InMemoryAppRegistry::new()
            .with_app(DEMO_APP_ID, DEMO_APP_SECRET)
            .unwrap();
        GatewayConfig::new(apps, JWT)
            .with_clock(clock)
            .with_sandbox_user_limit(Some(1))
            .build()
            .unwrap()
    }

    #[test]
    fn key_lengths_are_enforced() {
        let apps = InMemoryAppRegistry::new();
        assert_eq!(
            GatewayConfig::new(apps.clone(), vec![b'x'; 31])
                .build()
                .unwrap_err(),
            GatewayConfigError::JwtSecretTooShort { len: 31 }
        );
        assert!(
            GatewayConfig::new(apps.clone(), vec![7u8; 32])
                .build()
                .is_ok()
        );
        assert_eq!(
            GatewayConfig::new(apps, vec![7u8; 32])
                .with_user_id_key(vec![1u8; 8])
                .build()
                .unwrap_err(),
            GatewayConfigError::UserIdKeyTooShort { len: 8 }
        );
    }

    #[test]
    fn scoped_ids_are_stable_distinct_and_opaque() {
        let g = gateway(ManualClock::new(1));
        let a = g.scoped_user_id("abcdefghij", "user-1");
        assert_eq!(a, g.scoped_user_id("abcdefghij", "user-1"));
        assert_ne!(a, g.scoped_user_id("abcdefghij", "user-2"));
        assert_ne!(a, g.scoped_user_id("abcdefghik", "user-1"));
        assert_ne!(
            g.scoped_user_id("abcdefghij", "kuser-1"),
            g.scoped_user_id("abcdefghijk", "user-1")
        );
        assert!(!a.contains("user-1"));
        assert_eq!(a.len(), 4 + 32);
        // The same pair under another gateway key gives another id.
        let other = GatewayConfig::new(InMemoryAppRegistry::new(), vec![9u8; 32])
            .build()
            .unwrap();
        assert_ne!(a, other.scoped_user_id("abcdefghij", "user-1"));
        // An explicit user-id key keeps ids stable across JWT key changes.
        let k1 = GatewayConfig::new(InMemoryAppRegistry::new(), vec![1u8; 32])
            .with_user_id_key(vec![5u8; 32])
            .build()
            .unwrap();
        let k2 = GatewayConfig::new(InMemoryAppRegistry::new(), vec![2u8; 32])
            .with_user_id_key(vec![5u8; 32])
            .build()
            .unwrap();
        assert_eq!(k1.scoped_user_id("a", "b"), k2.scoped_user_id("a", "b"));
    }

    #[tokio::test]
    async fn connect_steps() {
        let clock = ManualClock::new(1_700_000_000);
        let g = gateway(clock.clone());
        let key = SigningKey::new(DEMO_APP_SECRET).unwrap();
        let s = g.connect(&key.payload(DEMO_APP_ID, "u1")).await.unwrap();
        let claims = g.verify_token(&s.token).unwrap();
        assert_eq!(claims.sub, s.user.id);
        assert_eq!(claims.iat, 1_700_000_000);
        assert_eq!(claims.exp, 1_700_000_000 + TOKEN_TTL_SECONDS);

        let mut bad = key.payload(DEMO_APP_ID, "u1");
        bad.signature = key.sign_user_id("u2").to_hex();
        assert_eq!(g.connect(&bad).await, Err(ConnectError::InvalidSignature));
        let unknown = key.payload("unknown_app", "u1");
        assert_eq!(g.connect(&unknown).await, Err(ConnectError::UnknownApp));
        assert_eq!(
            g.connect(&key.payload(DEMO_APP_ID, "u2")).await,
            Err(ConnectError::QuotaExceeded)
        );
        // Upper-case hex is the same signature.
        let mut upper = key.payload(DEMO_APP_ID, "u1");
        upper.signature = upper.signature.to_uppercase();
        assert!(g.connect(&upper).await.is_ok());

        clock.advance(TOKEN_TTL_SECONDS);
        assert_eq!(g.verify_token(&s.token), Err(TokenError::Expired));
    }

    #[tokio::test]
    async fn wrong_methods_get_a_json_405() {
        use http_body_util::BodyExt;
        use tower::ServiceExt;
        for (method, path, allow) in [
            (http::Method::GET, CONNECT_PATH, "POST"),
            (http::Method::POST, SESSION_PATH, "GET"),
        ] {
            let app: Router = gateway(ManualClock::new(1)).router();
            let req = http::Request::builder()
                .method(method)
                .uri(path)
                .body(axum::body::Body::empty())
                .unwrap();
            let res = app.oneshot(req).await.unwrap();
            assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
            assert_eq!(res.headers()[http::header::ALLOW], allow);
            let bytes = res.into_body().collect().await.unwrap().to_bytes();
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(v["error"], format!("Method not allowed: use {allow}"));
        }
    }

    #[test]
    fn debug_hides_keys() {
        let apps = InMemoryAppRegistry::new()
            .with_app(DEMO_APP_ID, DEMO_APP_SECRET)
            .unwrap();
        let cfg = GatewayConfig::new(apps, JWT).with_user_id_key(vec![b'k'; 40]);
        let dbg = format!("{cfg:?}");
        assert!(
            !dbg.contains(JWT) && !dbg.contains(DEMO_APP_SECRET),
            "{dbg}"
        );
        let g = cfg.build().unwrap();
        let dbg = format!("{g:?}");
        assert!(
            !dbg.contains(JWT) && !dbg.contains(DEMO_APP_SECRET),
            "{dbg}"
        );
        assert!(!dbg.contains("kkkk"), "{dbg}");
    }
}
