//! The utilsio configuration: [`UtilsioConfig`] (environment, key
//! derivation once) and the [`UtilsioState`] it builds.

use std::fmt;
use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};
use zeroize::Zeroizing;

use super::layer::SignatureCallbackLayer;
use super::{
    AppHash, CallbackPolicy, HttpsPolicy, ScryptParams, SigningKey, SigningService, TimestampWindow,
};
use crate::secret_file::read_secret;
use crate::{Clock, KeyError, SecretFileError};

/// Everything the utilsio routes and extractors need, preloaded: the
/// signing key (derived once) and the [`CallbackPolicy`] (app id, clock,
/// HTTPS rules, body limit, window).
///
/// Cloning is one reference-count increment. Put it in your app state and
/// implement `FromRef` to use [`SigningService`] and
/// [`VerifiedCallback`](super::VerifiedCallback) in your own handlers.
///
/// The key can be replaced while the server runs
/// ([`UtilsioState::replace_key`], [`UtilsioState::reload`]): every clone,
/// and every state made from this one with a `with_*` method, shares it.
#[derive(Clone)]
pub struct UtilsioState {
    inner: Arc<StateInner>,
}

#[derive(Clone)]
struct StateInner {
    /// Shared by clones and `with_*` copies, so a swap reaches every route.
    key: Arc<ArcSwap<SigningKey>>,
    policy: CallbackPolicy,
}

impl fmt::Debug for UtilsioState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UtilsioState")
            .field("key", &**self.inner.key.load())
            .field("policy", &self.inner.policy)
            .finish()
    }
}

impl UtilsioState {
    /// A state from a key built before, with the secure defaults of
    /// [`CallbackPolicy::new`].
    pub fn new(key: SigningKey, app_id: impl Into<Arc<str>>) -> Self {
        Self::with_policy(key, CallbackPolicy::new(app_id))
    }

    /// A state from a key and a callback policy (which holds the app id).
    pub fn with_policy(key: SigningKey, policy: CallbackPolicy) -> Self {
        UtilsioState {
            inner: Arc::new(StateInner {
                key: Arc::new(ArcSwap::from_pointee(key)),
                policy,
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(CallbackPolicy) -> CallbackPolicy) -> Self {
        let inner = Arc::make_mut(&mut self.inner);
        inner.policy = f(inner.policy.clone());
        self
    }

    /// Requires HTTPS for the callback (the default) or turns the check off.
    ///
    /// # Warning
    /// Off only for local development: a callback over plain HTTP is then
    /// signed.
    #[must_use]
    pub fn with_require_https(self, required: bool) -> Self {
        self.edit(|p| p.with_require_https(required))
    }

    /// Sets the callback's HTTPS rules (e.g. trusted proxies).
    ///
    /// # Warning
    /// As [`CallbackPolicy::with_https`].
    #[must_use]
    pub fn with_https(self, https: HttpsPolicy) -> Self {
        self.edit(|p| p.with_https(https))
    }

    /// Sets the body limit of the utilsio routes in bytes (default 16 KiB).
    ///
    /// # Warning
    /// A larger limit lets each caller make the server hold more memory.
    #[must_use]
    pub fn with_body_limit(self, limit: usize) -> Self {
        self.edit(|p| p.with_body_limit(limit))
    }

    /// Sets the callback's timestamp window (default ±60 s).
    ///
    /// # Warning
    /// A wider window gives a captured callback longer to be replayed.
    #[must_use]
    pub fn with_window(self, window: TimestampWindow) -> Self {
        self.edit(|p| p.with_window(window))
    }

    /// Reads the time from `clock` for signing and for the window.
    #[must_use]
    pub fn with_clock(self, clock: impl Clock) -> Self {
        self.edit(|p| p.with_clock(clock))
    }

    /// Replaces the callback policy (which holds the app id).
    ///
    /// # Warning
    /// Its settings replace this state's, defaults included: read the
    /// warnings of [`CallbackPolicy`]'s `with_*` methods.
    #[must_use]
    pub fn with_callback_policy(self, policy: CallbackPolicy) -> Self {
        self.edit(|_| policy)
    }

    /// The current key. Signing code should not keep it: a later
    /// [`UtilsioState::replace_key`] does not reach a copy.
    pub fn key(&self) -> Arc<SigningKey> {
        self.inner.key.load_full()
    }

    /// The current key for one signature: lock-free, no allocation.
    pub(crate) fn load_key(&self) -> Guard<Arc<SigningKey>> {
        self.inner.key.load()
    }

    /// Replaces the signing key, atomically, for this state and every state
    /// sharing it (clones, `with_*` copies, the routes and extractors built
    /// from them). A request that has already loaded the key finishes with
    /// it; every later one signs with `key`. No lock is taken on the request
    /// path.
    ///
    /// The app id does not change: use it for a new secret of the same app
    /// (see [`UtilsioState::reload`] for a reload from configuration).
    pub fn replace_key(&self, key: SigningKey) {
        self.inner.key.store(Arc::new(key));
    }

    /// Builds `config`'s key (scrypt on tokio's blocking pool unless it
    /// holds an app hash) and swaps it in with
    /// [`UtilsioState::replace_key`]: the way to rotate the app secret
    /// without a restart, e.g. on `SIGHUP` after
    /// [`UtilsioConfig::from_env`] re-read the secret files. Only the key is
    /// taken from `config`; this state's other settings stay.
    ///
    /// ```
    /// use tower_signing::utilsio::{AppHash, SigningKey, UtilsioConfig, UtilsioState};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let old = "2c9813b452ac80dde85016222a3c08e4f88e38a39a7f699d134fe9c5bf6d4ac1";
    /// let new = "f4726150e3d12c41e22c7f04ac8ec28a3a9178d8c887996cd56406a9ab4f372d";
    /// let state = UtilsioState::new(SigningKey::from_app_hash_hex(old)?, "my-app-id");
    /// let signer = state.signing_service(); // shares the key with `state`
    ///
    /// state.reload(UtilsioConfig::from_app_hash(AppHash::from_hex(new)?, "my-app-id")).await?;
    /// let now = signer.sign_at("device-1", None, 1_700_000_000)?;
    /// let expected = SigningKey::from_app_hash_hex(new)?.sign(
    ///     &tower_signing::utilsio::SignatureMessage::new("device-1", "my-app-id", 1_700_000_000u64)?,
    /// );
    /// assert_eq!(now.signature, expected);
    ///
    /// // Another app id is refused and the key stays.
    /// let other = UtilsioConfig::from_app_hash(AppHash::from_hex(old)?, "another-app");
    /// assert!(state.reload(other).await.is_err());
    /// assert_eq!(signer.sign_at("device-1", None, 1_700_000_000)?, now);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::AppIdChanged`] when `config`'s app id is not this
    /// state's (the key is not replaced: serving another app is a restart),
    /// and the errors of [`UtilsioConfig::build`]. On error the current key
    /// stays in use.
    pub async fn reload(&self, config: UtilsioConfig) -> Result<(), ConfigError> {
        if config.app_id() != self.app_id() {
            return Err(ConfigError::AppIdChanged);
        }
        let (key, _) = config.into_parts().await?;
        self.replace_key(key);
        Ok(())
    }

    /// The callback policy.
    pub fn callback_policy(&self) -> &CallbackPolicy {
        &self.inner.policy
    }

    /// This app's id.
    pub fn app_id(&self) -> &str {
        self.inner.policy.app_id()
    }

    /// Whether the callback requires HTTPS.
    pub fn require_https(&self) -> bool {
        self.inner.policy.https().is_required()
    }

    /// The body limit of the utilsio routes in bytes.
    pub fn body_limit(&self) -> usize {
        self.inner.policy.body_limit()
    }

    /// The current Unix time from the state's clock.
    pub fn now(&self) -> u64 {
        self.inner.policy.now()
    }

    /// The callback checks as a tower layer, configured from this state.
    pub fn callback_layer(&self) -> SignatureCallbackLayer {
        SignatureCallbackLayer::from_policy(self.inner.policy.clone())
    }

    /// A [`SigningService`] on this state, for code outside handlers.
    pub fn signing_service(&self) -> SigningService {
        SigningService::from(self.clone())
    }
}

/// Loading the utilsio configuration failed. Messages name the variable and
/// never include its value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required environment variable is not set (or empty).
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    /// An environment variable has a value this crate does not accept.
    #[error("environment variable {var} is invalid: {reason}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// What is wrong with it (never its value).
        reason: &'static str,
    },
    /// A secret's variable and its `_FILE` variable are both set, or the
    /// file could not be read.
    #[error(transparent)]
    File(#[from] SecretFileError),
    /// The secret or salt could not be turned into a key.
    #[error("could not derive the utilsio key from the app secret and salt: {0}")]
    Key(#[from] KeyError),
    /// A reload named another app id than the running state's.
    #[error(
        "the app id changed: a reload only replaces the key of the running app; restart to serve another app id"
    )]
    AppIdChanged,
}

/// Where the key comes from: a secret and salt to derive (scrypt), or an
/// app hash derived before.
#[derive(Clone)]
enum KeySource {
    Derive {
        app_secret: Zeroizing<String>,
        salt: Zeroizing<String>,
    },
    AppHash(AppHash),
}

/// The utilsio settings: secret and salt (or the app hash derived from
/// them), app id, and the callback checks' options. [`UtilsioConfig::build`]
/// derives the key once, on the blocking pool, and gives the
/// [`UtilsioState`] the routes share.
///
/// `Debug` redacts the secret, the salt and the app hash; all are zeroized
/// on drop.
///
/// ```
/// use tower_signing::utilsio::{ScryptParams, UtilsioConfig};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let state = UtilsioConfig::new("my-app-secret", "fc1bd2c978b9806b", "my-app-id")
///     # .with_scrypt_params(ScryptParams::default().with_n(1024)?) // cheap for the doc test
///     .build()
///     .await?;
/// assert_eq!(state.app_id(), "my-app-id");
/// assert!(!format!("{state:?}").contains("my-app-secret"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct UtilsioConfig {
    key: KeySource,
    scrypt: ScryptParams,
    policy: CallbackPolicy,
    demo: bool,
}

impl fmt::Debug for UtilsioConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = match self.key {
            KeySource::Derive { .. } => "[redacted secret and salt]",
            KeySource::AppHash(_) => "[redacted app hash]",
        };
        f.debug_struct("UtilsioConfig")
            .field("key", &key)
            .field("scrypt", &self.scrypt)
            .field("policy", &self.policy)
            .field("demo", &self.demo)
            .finish()
    }
}

impl UtilsioConfig {
    /// The environment variable holding the app secret.
    pub const SECRET_VAR: &'static str = "UTILSIO_APP_SECRET";
    /// The environment variable naming a file that holds the app secret.
    pub const SECRET_FILE_VAR: &'static str = "UTILSIO_APP_SECRET_FILE";
    /// The environment variable holding the salt (hex).
    pub const SALT_VAR: &'static str = "UTILSIO_APP_SALT";
    /// The environment variable naming a file that holds the salt.
    pub const SALT_FILE_VAR: &'static str = "UTILSIO_APP_SALT_FILE";
    /// The environment variable holding the app hash (64 hex characters,
    /// e.g. from `tower-signing utilsio derive`), in place of the secret and
    /// salt: no scrypt runs.
    pub const APP_HASH_VAR: &'static str = "UTILSIO_APP_HASH";
    /// The environment variable naming a file that holds the app hash.
    pub const APP_HASH_FILE_VAR: &'static str = "UTILSIO_APP_HASH_FILE";
    /// The environment variable holding the app id.
    pub const APP_ID_VAR: &'static str = "UTILSIO_APP_ID";
    /// The app id variable the Next.js reference uses, read when
    /// [`UtilsioConfig::APP_ID_VAR`] is not set.
    pub const PUBLIC_APP_ID_VAR: &'static str = "NEXT_PUBLIC_UTILSIO_APP_ID";
    /// `false`/`0` turns the callback's HTTPS check off (default on).
    pub const REQUIRE_HTTPS_VAR: &'static str = "UTILSIO_REQUIRE_HTTPS";

    /// Settings with secure defaults (HTTPS required, 16 KiB, ±60 s, the
    /// SDK's scrypt parameters).
    pub fn new(
        app_secret: impl Into<String>,
        salt_hex: impl Into<String>,
        app_id: impl Into<String>,
    ) -> Self {
        Self::from_source(
            KeySource::Derive {
                app_secret: Zeroizing::new(app_secret.into()),
                salt: Zeroizing::new(salt_hex.into()),
            },
            app_id.into(),
        )
    }

    /// Settings for an app hash derived before (no scrypt runs), with the
    /// secure defaults of [`UtilsioConfig::new`].
    pub fn from_app_hash(app_hash: AppHash, app_id: impl Into<String>) -> Self {
        Self::from_source(KeySource::AppHash(app_hash), app_id.into())
    }

    fn from_source(key: KeySource, app_id: String) -> Self {
        UtilsioConfig {
            key,
            scrypt: ScryptParams::default(),
            policy: CallbackPolicy::new(app_id),
            demo: false,
        }
    }

    /// The public demo app ([`DEMO_APP_ID`](crate::utilsio::DEMO_APP_ID) and
    /// its secret and salt) with the HTTPS check off, for local runs.
    ///
    /// # Warning
    /// Its secret is in this crate's source: never serve it to real users.
    pub fn demo() -> Self {
        UtilsioConfig {
            demo: true,
            ..UtilsioConfig::new(
                crate::utilsio::DEMO_APP_SECRET,
                crate::utilsio::DEMO_SALT,
                crate::utilsio::DEMO_APP_ID,
            )
            .with_require_https(false)
        }
    }

    /// [`UtilsioConfig::from_env`], or [`UtilsioConfig::demo`] when none of
    /// the `UTILSIO_*` variables (nor `NEXT_PUBLIC_UTILSIO_APP_ID`) is set.
    ///
    /// A partial environment is an error naming what is missing, never a
    /// silent fall-back to the demo app.
    ///
    /// # Errors
    /// As [`UtilsioConfig::from_env`].
    pub fn from_env_or_demo() -> Result<Self, ConfigError> {
        Self::from_lookup_or_demo(|name| std::env::var(name).ok())
    }

    /// [`UtilsioConfig::from_env_or_demo`] reading variables through `lookup`.
    ///
    /// ```
    /// use tower_signing::utilsio::UtilsioConfig;
    ///
    /// let demo = UtilsioConfig::from_lookup_or_demo(|_| None)?;
    /// assert!(demo.is_demo());
    /// assert!(!demo.require_https());
    ///
    /// let partial = UtilsioConfig::from_lookup_or_demo(|k| (k == "UTILSIO_APP_ID").then(|| "app".into()));
    /// assert_eq!(partial.unwrap_err().to_string(), "environment variable UTILSIO_APP_SECRET is not set");
    /// # Ok::<(), tower_signing::utilsio::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// As [`UtilsioConfig::from_env`].
    pub fn from_lookup_or_demo(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let any_set = [
            Self::SECRET_VAR,
            Self::SECRET_FILE_VAR,
            Self::SALT_VAR,
            Self::SALT_FILE_VAR,
            Self::APP_HASH_VAR,
            Self::APP_HASH_FILE_VAR,
            Self::APP_ID_VAR,
            Self::PUBLIC_APP_ID_VAR,
        ]
        .iter()
        .any(|name| lookup(name).is_some_and(|v| !v.is_empty()));
        if any_set {
            Self::from_lookup(lookup)
        } else {
            Ok(Self::demo())
        }
    }

    /// Whether this is the public demo app ([`UtilsioConfig::demo`]).
    pub fn is_demo(&self) -> bool {
        self.demo
    }

    /// Reads the key, the app id and the HTTPS switch:
    ///
    /// - `UTILSIO_APP_SECRET` and `UTILSIO_APP_SALT` (hex), or instead
    ///   `UTILSIO_APP_HASH`: the app hash derived from them before (64 hex
    ///   characters, either case; no scrypt runs then). Setting the hash
    ///   together with the secret or salt is an error.
    /// - Each of these may come from a file instead, the Docker and
    ///   Kubernetes secrets convention: `UTILSIO_APP_SECRET_FILE`,
    ///   `UTILSIO_APP_SALT_FILE`, `UTILSIO_APP_HASH_FILE` name a file holding
    ///   the value. The content is taken verbatim except for one trailing
    ///   line ending (`\n` or `\r\n`, as `echo secret > file` writes), which is
    ///   removed; no other whitespace is trimmed. Setting both `X` and
    ///   `X_FILE` is an error. The files are read again by every call, so a
    ///   running server rotates its secret by rewriting them and calling
    ///   [`UtilsioState::reload`] (the environment of a running process does
    ///   not change).
    /// - `UTILSIO_APP_ID`, falling back to `NEXT_PUBLIC_UTILSIO_APP_ID`.
    /// - `UTILSIO_REQUIRE_HTTPS` (`true`/`1` or unset: on; `false`/`0`: off).
    ///
    /// # Errors
    /// [`ConfigError::Missing`] naming the first unset or empty variable;
    /// [`ConfigError::Invalid`] for an unrecognised `UTILSIO_REQUIRE_HTTPS`,
    /// an app hash that is not 64 hex characters, or an app hash set with
    /// the secret or salt; [`ConfigError::File`] for a variable set with its
    /// `_FILE` variable, or a file that cannot be read or is empty (the
    /// message names the variable and the path, never the content).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`UtilsioConfig::from_env`] reading variables through `lookup`
    /// (for tests, or a secrets manager). `_FILE` variables name files read
    /// from the file system.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use tower_signing::utilsio::UtilsioConfig;
    ///
    /// let env = HashMap::from([
    ///     ("UTILSIO_APP_SECRET", "s3cret"),
    ///     ("UTILSIO_APP_SALT", "00ff"),
    ///     ("NEXT_PUBLIC_UTILSIO_APP_ID", "my-app-id"),
    ///     ("UTILSIO_REQUIRE_HTTPS", "false"),
    /// ]);
    /// let config = UtilsioConfig::from_lookup(|k| env.get(k).map(|v| v.to_string()))?;
    /// assert_eq!(config.app_id(), "my-app-id");
    /// assert!(!config.require_https());
    ///
    /// let err = UtilsioConfig::from_lookup(|_| None).unwrap_err();
    /// assert_eq!(err.to_string(), "environment variable UTILSIO_APP_SECRET is not set");
    /// # Ok::<(), tower_signing::utilsio::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// As [`UtilsioConfig::from_env`].
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| lookup(name).filter(|v| !v.is_empty());
        let hash = read_secret(&lookup, Self::APP_HASH_VAR, Self::APP_HASH_FILE_VAR)?;
        let secret = read_secret(&lookup, Self::SECRET_VAR, Self::SECRET_FILE_VAR)?;
        let salt = read_secret(&lookup, Self::SALT_VAR, Self::SALT_FILE_VAR)?;
        let key = match (hash, secret, salt) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(ConfigError::Invalid {
                    var: Self::APP_HASH_VAR,
                    reason: "it replaces UTILSIO_APP_SECRET and UTILSIO_APP_SALT: set it or them, not both",
                });
            }
            (Some(hash), None, None) => {
                let var = match get(Self::APP_HASH_VAR) {
                    Some(_) => Self::APP_HASH_VAR,
                    None => Self::APP_HASH_FILE_VAR,
                };
                // The SDK keys the HMAC with the lowercase hex text.
                let hash = AppHash::from_hex(&Zeroizing::new(hash.to_ascii_lowercase())).map_err(
                    |_| ConfigError::Invalid {
                        var,
                        reason: "expected 64 hex characters",
                    },
                )?;
                KeySource::AppHash(hash)
            }
            (None, secret, salt) => KeySource::Derive {
                app_secret: secret.ok_or(ConfigError::Missing(Self::SECRET_VAR))?,
                salt: salt.ok_or(ConfigError::Missing(Self::SALT_VAR))?,
            },
        };
        let app_id = get(Self::APP_ID_VAR)
            .or_else(|| get(Self::PUBLIC_APP_ID_VAR))
            .ok_or(ConfigError::Missing(Self::APP_ID_VAR))?;
        let require_https = match get(Self::REQUIRE_HTTPS_VAR) {
            None => true,
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => true,
                "false" | "0" | "no" | "off" => false,
                _ => {
                    return Err(ConfigError::Invalid {
                        var: Self::REQUIRE_HTTPS_VAR,
                        reason: "expected true, false, 1 or 0",
                    });
                }
            },
        };
        Ok(Self::from_source(key, app_id).with_require_https(require_https))
    }

    /// Turns the callback's HTTPS check on (default) or off.
    ///
    /// # Warning
    /// Off only for local development.
    #[must_use]
    pub fn with_require_https(mut self, required: bool) -> Self {
        self.policy = self.policy.with_require_https(required);
        self
    }

    /// Overrides the scrypt parameters (default: the SDK's; they must match
    /// the ones utilsio uses for the app).
    #[must_use]
    pub fn with_scrypt_params(mut self, params: ScryptParams) -> Self {
        self.scrypt = params;
        self
    }

    /// The app id.
    pub fn app_id(&self) -> &str {
        self.policy.app_id()
    }

    /// Whether the callback requires HTTPS.
    pub fn require_https(&self) -> bool {
        self.policy.https().is_required()
    }

    /// Derives the key (scrypt, once, on tokio's blocking pool; nothing to
    /// derive for an app hash) and builds the shared state. The secret and
    /// salt are zeroized afterwards.
    ///
    /// # Errors
    /// [`ConfigError::Missing`] for an empty app id, [`ConfigError::Key`]
    /// for an empty secret or salt or a salt that is not hex.
    pub async fn build(self) -> Result<UtilsioState, ConfigError> {
        let (key, policy) = self.into_parts().await?;
        Ok(UtilsioState::with_policy(key, policy))
    }

    /// The key (derived off the executor) and the policy.
    async fn into_parts(self) -> Result<(SigningKey, CallbackPolicy), ConfigError> {
        if self.policy.app_id().is_empty() {
            return Err(ConfigError::Missing(Self::APP_ID_VAR));
        }
        let key = match self.key {
            // Move the buffers out (no copy); derive_async zeroizes them.
            KeySource::Derive {
                mut app_secret,
                mut salt,
            } => {
                let secret = std::mem::take(&mut *app_secret);
                let salt = std::mem::take(&mut *salt);
                SigningKey::derive_async(secret, salt, self.scrypt).await?
            }
            KeySource::AppHash(hash) => SigningKey::new(&hash),
        };
        Ok((key, self.policy))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn missing_variables_are_named_in_order() {
        let err = |pairs: &[(&str, &str)]| {
            UtilsioConfig::from_lookup(lookup(pairs))
                .unwrap_err()
                .to_string()
        };
        assert!(err(&[]).contains("UTILSIO_APP_SECRET"));
        assert!(err(&[("UTILSIO_APP_SECRET", "s")]).contains("UTILSIO_APP_SALT"));
        assert!(
            err(&[("UTILSIO_APP_SECRET", "s"), ("UTILSIO_APP_SALT", "00")])
                .contains("UTILSIO_APP_ID")
        );
        // Empty counts as missing.
        assert!(
            err(&[("UTILSIO_APP_SECRET", ""), ("UTILSIO_APP_SALT", "00")])
                .contains("UTILSIO_APP_SECRET")
        );
    }

    #[test]
    fn app_id_prefers_server_variable_then_public_one() {
        let base = [("UTILSIO_APP_SECRET", "s"), ("UTILSIO_APP_SALT", "00")];
        let both = [
            base[0],
            base[1],
            ("UTILSIO_APP_ID", "server"),
            ("NEXT_PUBLIC_UTILSIO_APP_ID", "public"),
        ];
        assert_eq!(
            UtilsioConfig::from_lookup(lookup(&both)).unwrap().app_id(),
            "server"
        );
        let public = [base[0], base[1], ("NEXT_PUBLIC_UTILSIO_APP_ID", "public")];
        assert_eq!(
            UtilsioConfig::from_lookup(lookup(&public))
                .unwrap()
                .app_id(),
            "public"
        );
    }

    #[test]
    fn require_https_parsing() {
        let with = |v: Option<&str>| {
            let mut pairs = vec![
                ("UTILSIO_APP_SECRET", "s"),
                ("UTILSIO_APP_SALT", "00"),
                ("UTILSIO_APP_ID", "a"),
            ];
            if let Some(v) = v {
                pairs.push(("UTILSIO_REQUIRE_HTTPS", v));
            }
            UtilsioConfig::from_lookup(lookup(&pairs)).map(|c| c.require_https())
        };
        assert!(with(None).unwrap());
        assert!(with(Some("true")).unwrap());
        assert!(with(Some("1")).unwrap());
        assert!(!with(Some("false")).unwrap());
        assert!(!with(Some("0")).unwrap());
        assert!(!with(Some("FALSE")).unwrap());
        let err = with(Some("maybe")).unwrap_err().to_string();
        assert!(
            err.contains("UTILSIO_REQUIRE_HTTPS") && !err.contains("maybe"),
            "{err}"
        );
    }

    #[test]
    fn debug_redacts_secret_and_salt() {
        let config = UtilsioConfig::new("super-secret-value", "abcdef0123", "app");
        let dbg = format!("{config:?}");
        assert!(
            !dbg.contains("super-secret-value") && !dbg.contains("abcdef0123"),
            "{dbg}"
        );
    }

    #[tokio::test]
    async fn build_errors_do_not_quote_input() {
        let err = UtilsioConfig::new("secret-xyz", "zz-not-hex", "app")
            .build()
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("salt") && !err.contains("zz-not-hex") && !err.contains("secret-xyz"),
            "{err}"
        );
    }
}
