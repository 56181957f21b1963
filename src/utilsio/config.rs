//! The utilsio configuration: [`UtilsioConfig`] (environment, key
//! derivation once) and the [`UtilsioState`] it builds.

use std::fmt;
use std::sync::Arc;

use zeroize::Zeroizing;

use super::layer::SignatureCallbackLayer;
use super::{
    CallbackPolicy, HttpsPolicy, ScryptParams, SigningKey, SigningService, TimestampWindow,
};
use crate::{Clock, KeyError};

/// Everything the utilsio routes and extractors need, preloaded: the
/// signing key (derived once) and the [`CallbackPolicy`] (app id, clock,
/// HTTPS rules, body limit, window).
///
/// Cloning is one reference-count increment. Put it in your app state and
/// implement `FromRef` to use [`SigningService`] and
/// [`VerifiedCallback`](super::VerifiedCallback) in your own handlers.
#[derive(Clone)]
pub struct UtilsioState {
    inner: Arc<StateInner>,
}

#[derive(Clone)]
struct StateInner {
    key: SigningKey,
    policy: CallbackPolicy,
}

impl fmt::Debug for UtilsioState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UtilsioState")
            .field("key", &self.inner.key)
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
            inner: Arc::new(StateInner { key, policy }),
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

    /// The preloaded key.
    pub fn key(&self) -> &SigningKey {
        &self.inner.key
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
    /// The secret or salt could not be turned into a key.
    #[error("could not derive the utilsio key from UTILSIO_APP_SECRET and UTILSIO_APP_SALT: {0}")]
    Key(#[from] KeyError),
}

/// The utilsio settings: secret, salt, app id, and the callback checks'
/// options. [`UtilsioConfig::build`] derives the key once, on the blocking
/// pool, and gives the [`UtilsioState`] the routes share.
///
/// `Debug` redacts the secret and the salt; both are zeroized on drop.
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
    app_secret: Zeroizing<String>,
    salt: Zeroizing<String>,
    scrypt: ScryptParams,
    policy: CallbackPolicy,
    demo: bool,
}

impl fmt::Debug for UtilsioConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UtilsioConfig")
            .field("app_secret", &"[redacted]")
            .field("salt", &"[redacted]")
            .field("scrypt", &self.scrypt)
            .field("policy", &self.policy)
            .field("demo", &self.demo)
            .finish()
    }
}

impl UtilsioConfig {
    /// The environment variable holding the app secret.
    pub const SECRET_VAR: &'static str = "UTILSIO_APP_SECRET";
    /// The environment variable holding the salt (hex).
    pub const SALT_VAR: &'static str = "UTILSIO_APP_SALT";
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
        UtilsioConfig {
            app_secret: Zeroizing::new(app_secret.into()),
            salt: Zeroizing::new(salt_hex.into()),
            scrypt: ScryptParams::default(),
            policy: CallbackPolicy::new(app_id.into()),
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
            Self::SALT_VAR,
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

    /// Reads `UTILSIO_APP_SECRET`, `UTILSIO_APP_SALT`, `UTILSIO_APP_ID`
    /// (falling back to `NEXT_PUBLIC_UTILSIO_APP_ID`) and
    /// `UTILSIO_REQUIRE_HTTPS` (`true`/`1` or unset: on; `false`/`0`: off).
    ///
    /// # Errors
    /// [`ConfigError::Missing`] naming the first unset or empty variable;
    /// [`ConfigError::Invalid`] for an unrecognised `UTILSIO_REQUIRE_HTTPS`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`UtilsioConfig::from_env`] reading variables through `lookup`
    /// (for tests, or a secrets manager).
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
        let secret =
            Zeroizing::new(get(Self::SECRET_VAR).ok_or(ConfigError::Missing(Self::SECRET_VAR))?);
        let salt = Zeroizing::new(get(Self::SALT_VAR).ok_or(ConfigError::Missing(Self::SALT_VAR))?);
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
        Ok(UtilsioConfig {
            app_secret: secret,
            salt,
            ..UtilsioConfig::new(String::new(), String::new(), app_id)
        }
        .with_require_https(require_https))
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

    /// Derives the key (scrypt, once, on tokio's blocking pool) and builds the
    /// shared state. The secret and salt are zeroized afterwards.
    ///
    /// # Errors
    /// [`ConfigError::Missing`] for an empty app id, [`ConfigError::Key`]
    /// for an empty secret or salt or a salt that is not hex.
    pub async fn build(mut self) -> Result<UtilsioState, ConfigError> {
        if self.policy.app_id().is_empty() {
            return Err(ConfigError::Missing(Self::APP_ID_VAR));
        }
        // Move the buffers out (no copy); derive_async zeroizes them.
        let secret = std::mem::take(&mut *self.app_secret);
        let salt = std::mem::take(&mut *self.salt);
        let key = SigningKey::derive_async(secret, salt, self.scrypt).await?;
        Ok(UtilsioState::with_policy(key, self.policy))
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
