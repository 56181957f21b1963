//! The sandbox count in Redis, shared by every gateway instance that points
//! at the same server.

use std::fmt;
use std::time::Duration;

use redis::Script;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};

use super::{Admission, BoxError, BoxFuture, QuotaStore};

/// How long one Redis call may take before the connect answers 503.
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// The default prefix of the per-app set keys.
const DEFAULT_KEY_PREFIX: &str = "tower-signing:macrofy:quota:";

/// Check, count and insert in one step: Redis runs a script atomically, so
/// concurrent connects on any number of instances never admit more than the
/// limit. `KEYS[1]` is the app's set, `ARGV[1]` the scoped user id,
/// `ARGV[2]` the limit (negative: none). Replies 0 returning, 1 admitted,
/// 2 quota exceeded.
const ADMIT_SCRIPT: &str = r"
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then
  return 0
end
local limit = tonumber(ARGV[2])
if limit >= 0 and redis.call('SCARD', KEYS[1]) >= limit then
  return 2
end
redis.call('SADD', KEYS[1], ARGV[1])
return 1
";

/// A [`QuotaStore`] in Redis (feature `redis`): one set of scoped user ids
/// per app, `tower-signing:macrofy:quota:<appId>` by default, updated by one
/// Lua script so the check, the count and the insert are atomic across
/// instances.
///
/// It is generic over the connection (any clonable
/// [`redis::aio::ConnectionLike`]); the default, and what
/// [`open`](RedisQuotaStore::open) builds, is the tokio [`ConnectionManager`],
/// which reconnects in the background, so the store recovers by itself when
/// Redis is back. Each call is bounded by a timeout
/// ([`DEFAULT_REDIS_TIMEOUT`]); a failed or late call makes the connect
/// answer 503 `Quota store unavailable`. Errors name the kind of failure,
/// never the URL or a user id.
///
/// ```no_run
/// use tower_signing::macrofy::gateway::{GatewayConfig, InMemoryAppRegistry, RedisQuotaStore};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let quota = RedisQuotaStore::open("redis://127.0.0.1:6379/").await?;
/// let gateway = GatewayConfig::new(InMemoryAppRegistry::new(), vec![7u8; 32])
///     .with_quota_store(quota)
///     .build()?;
/// # let _ = gateway;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisQuotaStore<C = ConnectionManager> {
    connection: C,
    script: Script,
    prefix: String,
    timeout: Duration,
}

impl<C> fmt::Debug for RedisQuotaStore<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisQuotaStore")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisQuotaStore {
    /// Connects to the Redis server at `url` (`redis://host:port/db`), with
    /// connection and response timeouts of [`DEFAULT_REDIS_TIMEOUT`].
    ///
    /// # Errors
    /// An unparsable URL, or no server answering within the timeout. The
    /// message does not quote the URL (it may hold a password).
    pub async fn open(url: &str) -> Result<Self, BoxError> {
        let client = redis::Client::open(url).map_err(|e| describe("open", &e))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(DEFAULT_REDIS_TIMEOUT))
            .set_response_timeout(Some(DEFAULT_REDIS_TIMEOUT));
        let connection = tokio::time::timeout(
            DEFAULT_REDIS_TIMEOUT,
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| BoxError::from("Redis did not answer in time"))?
        .map_err(|e| describe("connect", &e))?;
        Ok(Self::new(connection))
    }
}

impl<C> RedisQuotaStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// A store over an existing connection (a [`ConnectionManager`] in
    /// production: it reconnects by itself).
    pub fn new(connection: C) -> Self {
        RedisQuotaStore {
            connection,
            script: Script::new(ADMIT_SCRIPT),
            prefix: DEFAULT_KEY_PREFIX.to_owned(),
            timeout: DEFAULT_REDIS_TIMEOUT,
        }
    }

    /// The prefix of the per-app keys (default
    /// `tower-signing:macrofy:quota:`), to share a Redis database with other
    /// data or keep several gateways apart.
    #[must_use]
    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The longest one call may take (default [`DEFAULT_REDIS_TIMEOUT`]).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn admit_now(
        &self,
        app_id: &str,
        user: &str,
        limit: Option<u64>,
    ) -> Result<Admission, BoxError> {
        let limit = limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
        let mut connection = self.connection.clone();
        let mut invocation = self.script.key(format!("{}{app_id}", self.prefix));
        invocation.arg(user).arg(limit);
        let reply: i64 =
            tokio::time::timeout(self.timeout, invocation.invoke_async(&mut connection))
                .await
                .map_err(|_| BoxError::from("Redis quota store timed out"))?
                .map_err(|e| describe("admit", &e))?;
        match reply {
            0 => Ok(Admission::Returning),
            1 => Ok(Admission::Admitted),
            2 => Ok(Admission::QuotaExceeded),
            other => Err(format!("Redis quota script replied {other}").into()),
        }
    }
}

/// The kind of a Redis failure, without its text (which can echo
/// addresses or arguments).
fn describe(step: &str, e: &redis::RedisError) -> BoxError {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connection_refusal() {
        "refused the connection"
    } else if e.is_io_error() || e.is_connection_dropped() {
        "connection failed"
    } else {
        "failed"
    };
    format!("Redis quota store {step}: {what} ({:?})", e.kind()).into()
}

impl<C> QuotaStore for RedisQuotaStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    fn admit<'a>(
        &'a self,
        app_id: &'a str,
        user: &'a str,
        limit: Option<u64>,
    ) -> BoxFuture<'a, Result<Admission, BoxError>> {
        Box::pin(self.admit_now(app_id, user, limit))
    }
}
