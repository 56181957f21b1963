//! The backend-proxied Macrofy flow for many users: a [`SessionManager`]
//! that hands out one cached session per user, refreshes it before it
//! expires, and makes **one** gateway call per user at a time, also across
//! several instances of the app.
//!
//! For an authenticated user, [`SessionManager::session`]:
//!
//! 1. returns the cached `{token, user}` while the token's `exp` (read from
//!    the JWT, never assumed) is more than the refresh margin away (default
//!    one hour);
//! 2. otherwise, while the token is still valid, trades it for a fresh one
//!    at `POST /api/auth/refresh`; when the gateway refuses the refresh (401)
//!    or does not offer it (404, 405), or the token has expired, it signs the
//!    userId and connects again;
//! 3. caches the new session until its own `exp`.
//!
//! Concurrent calls for one user share one gateway call: in the process
//! they wait for the same result; across instances the first one takes a
//! short lock in the cache (`SET key owner NX PX ttl` in Redis) and the
//! others read the session it stores. The lock is released only by its owner
//! and expires by itself if the owner dies.
//!
//! Caches implement [`SessionCache`]: [`MemorySessionCache`] (one process,
//! bounded, expiry-aware) and, with the `redis` feature,
//! `RedisSessionCache` (shared by every instance; entries expire with
//! the token).
//!
//! The token is a bearer credential: nothing here logs it, and `Debug` of
//! every type hides it.
//!
//! ```no_run
//! use tower_signing::macrofy::SigningKey;
//! use tower_signing::macrofy::client::MacrofyClient;
//! use tower_signing::macrofy::sessions::{MemorySessionCache, SessionManager};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = MacrofyClient::builder().base_url("http://127.0.0.1:4000").build()?;
//! let sessions = SessionManager::new("my_app_id_1", SigningKey::new("app-secret")?, client)?
//!     .with_cache(MemorySessionCache::new());
//! // In a handler, for the user the app has authenticated:
//! let session = sessions.session("user-42").await?;
//! # let _ = session;
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::StatusCode;
use tokio::sync::OnceCell;

use super::client::{ClientError, MacrofyClient, jwt_expiry};
use super::{BoxError, BoxFuture, Session, SigningKey, ValidationError};
use super::{validate_app_id, validate_user_id};
use crate::metrics::{self, SessionOutcome};
use crate::{Clock, SystemClock};

mod memory;
#[cfg(feature = "redis")]
mod redis;

#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use self::redis::{DEFAULT_KEY_PREFIX, DEFAULT_OP_TIMEOUT, RedisSessionCache};
pub use memory::{DEFAULT_MAX_ENTRIES, MemorySessionCache};

/// How long before its `exp` a cached session is renewed: one hour.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(60 * 60);

/// How often a request waiting for another instance's gateway call looks
/// at the cache.
const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// A session cache failed (Redis unreachable, timed out, refused a
/// command). Never contains a token.
#[derive(Debug, Clone, thiserror::Error)]
#[error("session cache failed: {source}")]
pub struct CacheError {
    source: Arc<dyn std::error::Error + Send + Sync>,
}

impl CacheError {
    /// Wraps a backend's error.
    pub fn new(error: impl Into<BoxError>) -> Self {
        CacheError {
            source: Arc::from(error.into()),
        }
    }
}

/// Where a [`SessionManager`] keeps sessions, and (for caches shared by
/// several instances) the short lock that makes one instance call the
/// gateway while the others wait.
///
/// `key` is `"{appId}:{userId}"`. Implementations must treat an unreadable
/// stored value as a miss (`Ok(None)`) and must never log a session's token.
pub trait SessionCache: Send + Sync + 'static {
    /// The cached session under `key`, if any.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Session>, CacheError>>;

    /// Stores `session` under `key` until `expires_at` (Unix seconds: the
    /// token's `exp`), replacing any previous one.
    fn put<'a>(
        &'a self,
        key: &'a str,
        session: &'a Session,
        expires_at: u64,
    ) -> BoxFuture<'a, Result<(), CacheError>>;

    /// Tries to take the lock for `key` for at most `ttl`: `Some(owner)`
    /// when taken (pass `owner` to [`unlock`](Self::unlock)), `None` when
    /// another holder has it.
    ///
    /// The default always succeeds: right for a cache only one process
    /// uses (the manager already makes one call per user in a process).
    fn try_lock<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Option<String>, CacheError>> {
        let _ = (key, ttl);
        Box::pin(async { Ok(Some(String::new())) })
    }

    /// Releases the lock for `key` if `owner` still holds it.
    fn unlock<'a>(&'a self, key: &'a str, owner: &'a str) -> BoxFuture<'a, Result<(), CacheError>> {
        let _ = (key, owner);
        Box::pin(async { Ok(()) })
    }
}

/// [`SessionManager::session`] failed. Never contains the token, the
/// signature or the secret.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The userId is empty or longer than 256 bytes.
    #[error(transparent)]
    Invalid(ValidationError),
    /// The gateway call failed (HTTP status, timeout, unreachable, or an
    /// answer that is not a session for this user).
    #[error(transparent)]
    Gateway(Arc<ClientError>),
    /// The session cache failed.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// Another instance held the user's lock for longer than the lock's
    /// time to live and never stored a session.
    #[error("another instance is renewing this session; retry shortly")]
    Busy,
}

impl From<ClientError> for SessionError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Invalid(e) => SessionError::Invalid(e),
            e => SessionError::Gateway(Arc::new(e)),
        }
    }
}

impl SessionError {
    /// The status a route answers with. Gateway 400, 401, 403, 404 and 429
    /// pass through; any other gateway status, a redirect or a malformed or
    /// foreign answer is 502, a gateway timeout 504, a cache failure 503.
    pub fn status(&self) -> StatusCode {
        self.answer().0
    }

    /// The route's own message for this error (never the gateway's text).
    pub fn public_message(&self) -> String {
        self.answer().1
    }

    /// `Retry-After` seconds to send along, if any.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            SessionError::Gateway(e) => e.retry_after(),
            SessionError::Busy => Some(1),
            _ => None,
        }
    }

    fn answer(&self) -> (StatusCode, String) {
        let gateway = |status, text: &str| (status, text.to_owned());
        match self {
            SessionError::Invalid(e) => (StatusCode::BAD_REQUEST, e.to_string()),
            SessionError::Cache(_) => {
                gateway(StatusCode::SERVICE_UNAVAILABLE, "Session store unavailable")
            }
            SessionError::Busy => gateway(
                StatusCode::SERVICE_UNAVAILABLE,
                "Session is being renewed, retry shortly",
            ),
            SessionError::Gateway(e) => match &**e {
                ClientError::Invalid(e) => (StatusCode::BAD_REQUEST, e.to_string()),
                ClientError::BadRequest { .. } => {
                    gateway(StatusCode::BAD_REQUEST, "Macrofy rejected the request")
                }
                ClientError::Unauthorized { .. } => gateway(
                    StatusCode::UNAUTHORIZED,
                    "Macrofy refused the app's credentials",
                ),
                ClientError::QuotaExceeded { .. } => {
                    gateway(StatusCode::FORBIDDEN, "Macrofy sandbox quota exceeded")
                }
                ClientError::NotFound { .. } => {
                    gateway(StatusCode::NOT_FOUND, "Macrofy endpoint not found")
                }
                ClientError::RateLimited { .. } => {
                    gateway(StatusCode::TOO_MANY_REQUESTS, "Macrofy rate limit hit")
                }
                ClientError::Timeout(_) => {
                    gateway(StatusCode::GATEWAY_TIMEOUT, "Macrofy gateway timed out")
                }
                ClientError::Transport(_) => {
                    gateway(StatusCode::BAD_GATEWAY, "Macrofy gateway unreachable")
                }
                ClientError::Server { .. } => {
                    gateway(StatusCode::BAD_GATEWAY, "Macrofy gateway error")
                }
                ClientError::InvalidResponse(_) => gateway(
                    StatusCode::BAD_GATEWAY,
                    "Invalid answer from the Macrofy gateway",
                ),
                _ => gateway(
                    StatusCode::BAD_GATEWAY,
                    "Unexpected answer from the Macrofy gateway",
                ),
            },
        }
    }
}

#[cfg(feature = "axum")]
impl axum::response::IntoResponse for SessionError {
    /// `{"error": ...}` with [`status`](SessionError::status) and
    /// [`public_message`](SessionError::public_message), and `Retry-After`
    /// when known.
    fn into_response(self) -> axum::response::Response {
        let (status, message) = self.answer();
        let mut response = crate::json_body::json_error::<axum::body::Body>(status, &message);
        if let Some(seconds) = self.retry_after() {
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
        }
        response
    }
}

/// Where a cached session stands against the clock and the refresh margin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Freshness {
    /// Beyond the margin: hand it out.
    Fresh,
    /// Within the margin but not expired: refresh it.
    Renewable,
    /// Expired, unreadable, or not this user's: connect.
    Expired,
}

type Flight = OnceCell<Result<Session, SessionError>>;
type Flights = Arc<Mutex<HashMap<String, Arc<Flight>>>>;

/// Hands out one cached Macrofy session per user, renewing it through the
/// gateway with one call per user at a time (see the [module docs](self)).
///
/// Cheap to clone; clones share the cache and the in-flight calls. `Debug`
/// shows the app id and settings, never the key or a token.
#[derive(Clone)]
pub struct SessionManager {
    app_id: Arc<str>,
    /// Shared by clones, so [`SessionManager::replace_key`] reaches them all.
    key: Arc<arc_swap::ArcSwap<SigningKey>>,
    client: MacrofyClient,
    cache: Arc<dyn SessionCache>,
    clock: Arc<dyn Clock>,
    refresh_margin: Duration,
    lock_ttl: Duration,
    flights: Flights,
}

impl fmt::Debug for SessionManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionManager")
            .field("app_id", &self.app_id)
            .field("base_url", &self.client.base_url())
            .field("refresh_margin", &self.refresh_margin)
            .field("lock_ttl", &self.lock_ttl)
            .finish_non_exhaustive()
    }
}

impl SessionManager {
    /// A manager for `app_id` signing with `key` and calling the gateway
    /// through `client`, with an in-memory cache
    /// ([`MemorySessionCache::new`]), a one-hour refresh margin, and a lock
    /// time to live of twice the client's timeout plus one second (a
    /// refresh and a connect).
    ///
    /// # Errors
    /// An app id that is not a 10-12 character nanoid.
    pub fn new(
        app_id: &str,
        key: SigningKey,
        client: MacrofyClient,
    ) -> Result<Self, ValidationError> {
        validate_app_id(app_id)?;
        let lock_ttl = client.timeout() * 2 + Duration::from_secs(1);
        Ok(SessionManager {
            app_id: Arc::from(app_id),
            key: Arc::new(arc_swap::ArcSwap::from_pointee(key)),
            client,
            cache: Arc::new(MemorySessionCache::new()),
            clock: Arc::new(SystemClock),
            refresh_margin: DEFAULT_REFRESH_MARGIN,
            lock_ttl,
            flights: Flights::default(),
        })
    }

    /// Replaces the key gateway calls are signed with (a new app secret of
    /// the same app), atomically, for this manager and its clones. Calls
    /// already signed finish as they are; cached sessions stay valid.
    pub fn replace_key(&self, key: SigningKey) {
        self.key.store(Arc::new(key));
    }

    /// Where sessions are kept: [`MemorySessionCache`] for one instance, a
    /// shared cache (Redis) for several.
    #[must_use]
    pub fn with_cache(mut self, cache: impl SessionCache) -> Self {
        self.cache = Arc::new(cache);
        self
    }

    /// [`with_cache`](Self::with_cache) for a cache already behind an `Arc`.
    #[must_use]
    pub fn with_shared_cache(mut self, cache: Arc<dyn SessionCache>) -> Self {
        self.cache = cache;
        self
    }

    /// Renew a cached session once its token has less than `margin` left
    /// (default one hour). A token issued with less than `margin` of life is
    /// handed out once and renewed on the next request.
    #[must_use]
    pub fn with_refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// How long one instance may hold a user's lock while it calls the
    /// gateway; the others wait at most about this long. Keep it above the
    /// client's timeout.
    #[must_use]
    pub fn with_lock_ttl(mut self, ttl: Duration) -> Self {
        self.lock_ttl = ttl.max(Duration::from_millis(1));
        self
    }

    /// The clock that decides whether a token is fresh.
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The app id sessions are made for.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// The session for `user_id`, a user **the app has authenticated**:
    /// cached while fresh, otherwise refreshed or connected, with one gateway
    /// call per user at a time.
    ///
    /// # Errors
    /// [`SessionError::Invalid`] for an empty or too long userId (no call);
    /// [`SessionError::Cache`] when the cache fails;
    /// [`SessionError::Gateway`] when the gateway call fails;
    /// [`SessionError::Busy`] when another instance holds the lock too long.
    pub async fn session(&self, user_id: &str) -> Result<Session, SessionError> {
        let cached = async {
            validate_user_id(user_id).map_err(SessionError::Invalid)?;
            let key = format!("{}:{user_id}", self.app_id);
            Ok::<_, SessionError>((self.fresh(&key, user_id).await?, key))
        };
        let key = match cached.await {
            Ok((Some(session), _)) => {
                metrics::session(SessionOutcome::CacheHit);
                return Ok(session);
            }
            Ok((None, key)) => key,
            Err(error) => {
                metrics::session(SessionOutcome::Error);
                return Err(error);
            }
        };
        let flight = FlightGuard::join(&self.flights, &key);
        // The call runs in its own task: a caller that goes away mid-call
        // neither cancels it nor leaves the lock held until its TTL.
        let (this, task_key, task_user) = (self.clone(), key.clone(), user_id.to_owned());
        let call = async move {
            tokio::spawn(async move { this.renew(&task_key, &task_user).await })
                .await
                .unwrap_or_else(|_| Err(CacheError::new("the session task panicked").into()))
        };
        flight.cell.get_or_init(|| call).await.clone()
    }

    /// The cached session, only while it is [`Freshness::Fresh`].
    async fn fresh(&self, key: &str, user_id: &str) -> Result<Option<Session>, CacheError> {
        let session = self.cache.get(key).await?;
        Ok(session.filter(|s| self.freshness(s, user_id) == Freshness::Fresh))
    }

    fn freshness(&self, session: &Session, user_id: &str) -> Freshness {
        let now = self.clock.now_unix_seconds();
        match jwt_expiry(&session.token) {
            _ if !self.belongs(session, user_id) => Freshness::Expired,
            Some(exp) if exp > now.saturating_add(self.refresh_margin.as_secs()) => {
                Freshness::Fresh
            }
            Some(exp) if exp > now => Freshness::Renewable,
            _ => Freshness::Expired,
        }
    }

    fn belongs(&self, session: &Session, user_id: &str) -> bool {
        session.user.external_id == user_id && *session.user.app_id == *self.app_id
    }

    /// The one call per user in this process: waits for another instance
    /// holding the lock (reading the cache it fills), or takes it and calls.
    async fn renew(&self, key: &str, user_id: &str) -> Result<Session, SessionError> {
        let result = self.renew_counted(key, user_id).await;
        metrics::session(match &result {
            Ok((_, outcome)) => *outcome,
            Err(_) => SessionOutcome::Error,
        });
        result.map(|(session, _)| session)
    }

    /// [`renew`](Self::renew), saying how the session was obtained.
    async fn renew_counted(
        &self,
        key: &str,
        user_id: &str,
    ) -> Result<(Session, SessionOutcome), SessionError> {
        let deadline = tokio::time::Instant::now() + self.lock_ttl + Duration::from_secs(1);
        let owner = loop {
            if let Some(owner) = self.cache.try_lock(key, self.lock_ttl).await? {
                break owner;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(SessionError::Busy);
            }
            tokio::time::sleep(POLL_INTERVAL).await;
            if let Some(session) = self.fresh(key, user_id).await? {
                return Ok((session, SessionOutcome::CacheHit));
            }
        };
        let result = self.call_gateway(key, user_id).await;
        if let Err(error) = self.cache.unlock(key, &owner).await {
            // The lock expires by itself after its time to live.
            tracing::warn!(app_id = %self.app_id, %error, "could not release a session lock");
        }
        result
    }

    /// Under the lock: refresh a still valid token, else connect; store the
    /// answer until its `exp`.
    async fn call_gateway(
        &self,
        key: &str,
        user_id: &str,
    ) -> Result<(Session, SessionOutcome), SessionError> {
        // Whoever held the lock before us may have stored a fresh one.
        let current = self.cache.get(key).await?;
        let (session, outcome) = match current.map(|s| (self.freshness(&s, user_id), s)) {
            Some((Freshness::Fresh, session)) => return Ok((session, SessionOutcome::CacheHit)),
            Some((Freshness::Renewable, old)) => match self.client.refresh(&old.token).await {
                Ok(session) => (session, SessionOutcome::Refresh),
                Err(
                    ClientError::Unauthorized { .. }
                    | ClientError::NotFound { .. }
                    | ClientError::UnexpectedStatus {
                        status: StatusCode::METHOD_NOT_ALLOWED,
                        ..
                    },
                ) => (self.connect(user_id).await?, SessionOutcome::Connect),
                Err(error) => {
                    // The old token is still valid: hand it out and try again
                    // on the next request. Only the status is logged: an
                    // upstream message could echo the token.
                    tracing::warn!(
                        app_id = %self.app_id,
                        status = ?error.status(),
                        "macrofy session refresh failed; serving the current token"
                    );
                    return Ok((old, SessionOutcome::Error));
                }
            },
            _ => (self.connect(user_id).await?, SessionOutcome::Connect),
        };
        let now = self.clock.now_unix_seconds();
        let exp = jwt_expiry(&session.token).filter(|exp| *exp > now);
        let Some(exp) = exp.filter(|_| self.belongs(&session, user_id)) else {
            return Err(ClientError::InvalidResponse(
                "a session that is expired, has no exp, or is for another user".into(),
            )
            .into());
        };
        if let Err(error) = self.cache.put(key, &session, exp).await {
            // The user still gets the session; the next request renews again.
            tracing::warn!(app_id = %self.app_id, %error, "could not cache a macrofy session");
        }
        Ok((session, outcome))
    }

    async fn connect(&self, user_id: &str) -> Result<Session, ClientError> {
        let payload = self.key.load().payload(&self.app_id, user_id);
        self.client.exchange(&payload).await
    }
}

/// A participant in a user's in-process call; the map entry goes when the
/// call has finished (or everyone waiting for it gave up).
struct FlightGuard<'a> {
    flights: &'a Flights,
    key: &'a str,
    cell: Arc<Flight>,
}

impl<'a> FlightGuard<'a> {
    fn join(flights: &'a Flights, key: &'a str) -> Self {
        let mut map = flights.lock().unwrap_or_else(|p| p.into_inner());
        let cell = map.entry(key.to_owned()).or_default().clone();
        FlightGuard { flights, key, cell }
    }
}

impl Drop for FlightGuard<'_> {
    fn drop(&mut self) {
        let mut map = self.flights.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(current) = map.get(self.key)
            && Arc::ptr_eq(current, &self.cell)
            && (self.cell.initialized() || Arc::strong_count(&self.cell) <= 2)
        {
            map.remove(self.key);
        }
    }
}
