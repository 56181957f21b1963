//! [`RedisSessionCache`]: sessions shared by every instance of the app
//! through Redis, with the cross-instance lock.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;

use super::{CacheError, SessionCache};
use crate::macrofy::{BoxFuture, Session};

/// The default prefix of every key this cache writes.
pub const DEFAULT_KEY_PREFIX: &str = "tower-signing:macrofy:";

/// The default bound on one Redis command: 1 second. During an outage a
/// request fails within it instead of hanging.
pub const DEFAULT_OP_TIMEOUT: Duration = Duration::from_secs(1);

/// Deletes the lock only if it still holds this owner's token.
static UNLOCK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then \
             return redis.call('DEL', KEYS[1]) \
         else \
             return 0 \
         end",
    )
});

/// A [`SessionCache`] in Redis, shared by every instance of the app
/// (feature `redis`).
///
/// - a session is stored as the JSON of `{token, user}` under
///   `{prefix}session:{appId}:{userId}` with `SET ... EXAT <exp>`, so Redis
///   drops it when the token expires;
/// - the lock is `{prefix}lock:{appId}:{userId}`, taken with
///   `SET ... NX PX <ttl>` and a random owner token, and released by a Lua
///   compare-and-delete so only its owner removes it;
/// - every command is bounded by a timeout (default 1 s); the
///   [`ConnectionManager`] reconnects by itself once Redis is back.
///
/// `Debug` shows the prefix and timeout only (no URL: it may hold a
/// password).
///
/// Every instance of the app points at the same Redis; between them they
/// make one gateway call per user:
///
/// ```no_run
/// use tower_signing::macrofy::routes::MacrofyConfig;
/// use tower_signing::macrofy::sessions::RedisSessionCache;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let cache = RedisSessionCache::connect(&std::env::var("REDIS_URL")?).await?;
/// let macrofy = MacrofyConfig::from_env()?.with_session_cache(cache);
/// // routes::router::<YourUser, _>(macrofy) as usual.
/// # let _ = macrofy;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisSessionCache {
    conn: ConnectionManager,
    prefix: Arc<str>,
    op_timeout: Duration,
}

impl fmt::Debug for RedisSessionCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSessionCache")
            .field("prefix", &self.prefix)
            .field("op_timeout", &self.op_timeout)
            .finish_non_exhaustive()
    }
}

impl RedisSessionCache {
    /// Connects to `url` (`redis://host:port/db`, `rediss://` needs the
    /// redis crate's TLS feature) with connection and response timeouts of
    /// [`DEFAULT_OP_TIMEOUT`], and checks that Redis answers.
    ///
    /// # Errors
    /// A malformed URL, or Redis not answering.
    pub async fn connect(url: &str) -> Result<Self, CacheError> {
        let client = redis::Client::open(url).map_err(CacheError::new)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(DEFAULT_OP_TIMEOUT))
            .set_response_timeout(Some(DEFAULT_OP_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(DEFAULT_OP_TIMEOUT);
        let connect = ConnectionManager::new_with_config(client, config);
        let conn = bounded(DEFAULT_OP_TIMEOUT * 3, connect).await?;
        Ok(Self::new(conn))
    }

    /// A cache over an existing connection manager.
    pub fn new(conn: ConnectionManager) -> Self {
        RedisSessionCache {
            conn,
            prefix: Arc::from(DEFAULT_KEY_PREFIX),
            op_timeout: DEFAULT_OP_TIMEOUT,
        }
    }

    /// The prefix of every key (default [`DEFAULT_KEY_PREFIX`]); give apps
    /// sharing one Redis different prefixes if they share an app id.
    #[must_use]
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        self.prefix = Arc::from(prefix);
        self
    }

    /// The bound on one Redis command (default [`DEFAULT_OP_TIMEOUT`]).
    #[must_use]
    pub fn with_op_timeout(mut self, timeout: Duration) -> Self {
        self.op_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    fn session_key(&self, key: &str) -> String {
        format!("{}session:{key}", self.prefix)
    }

    fn lock_key(&self, key: &str) -> String {
        format!("{}lock:{key}", self.prefix)
    }

    async fn run<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, CacheError> {
        let mut conn = self.conn.clone();
        bounded(self.op_timeout, cmd.query_async(&mut conn)).await
    }
}

/// `fut` within `limit`, its error or the timeout as a [`CacheError`].
async fn bounded<T>(
    limit: Duration,
    fut: impl Future<Output = redis::RedisResult<T>>,
) -> Result<T, CacheError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(result) => result.map_err(CacheError::new),
        Err(_) => Err(CacheError::new(format!(
            "Redis did not answer within {} ms",
            limit.as_millis()
        ))),
    }
}

/// 128 random bits in hex: whose lock it is.
fn owner_token() -> Result<String, CacheError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| CacheError::new(e.to_string()))?;
    Ok(hex::encode(bytes))
}

impl SessionCache for RedisSessionCache {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Session>, CacheError>> {
        Box::pin(async move {
            let value: Option<Vec<u8>> = self
                .run(redis::cmd("GET").arg(self.session_key(key)))
                .await?;
            Ok(
                value.and_then(|bytes| match serde_json::from_slice::<Session>(&bytes) {
                    Ok(session) => Some(session),
                    Err(_) => {
                        // Not quoting serde's message: it may hold part of the value.
                        tracing::warn!("unreadable cached macrofy session ignored");
                        None
                    }
                }),
            )
        })
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        session: &'a Session,
        expires_at: u64,
    ) -> BoxFuture<'a, Result<(), CacheError>> {
        Box::pin(async move {
            let value = serde_json::to_vec(session).map_err(CacheError::new)?;
            self.run::<()>(
                redis::cmd("SET")
                    .arg(self.session_key(key))
                    .arg(value)
                    .arg("EXAT")
                    .arg(expires_at),
            )
            .await
        })
    }

    fn try_lock<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Option<String>, CacheError>> {
        Box::pin(async move {
            let owner = owner_token()?;
            let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
            let taken: Option<String> = self
                .run(
                    redis::cmd("SET")
                        .arg(self.lock_key(key))
                        .arg(&owner)
                        .arg("NX")
                        .arg("PX")
                        .arg(ttl_ms),
                )
                .await?;
            Ok(taken.map(|_| owner))
        })
    }

    fn unlock<'a>(&'a self, key: &'a str, owner: &'a str) -> BoxFuture<'a, Result<(), CacheError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let mut invocation = UNLOCK.key(self.lock_key(key));
            invocation.arg(owner);
            bounded::<i64>(self.op_timeout, invocation.invoke_async(&mut conn)).await?;
            Ok(())
        })
    }
}
