//! Ready axum routes for utilsio, and their configuration.
//!
//! - `POST /api/signature-callback`: utilsio.dev's server-to-server callback
//!   (SPEC 1.5), behind [`SignatureCallbackLayer`], answering
//!   `{"signature": hex, "timestamp": "<as sent>"}`.
//! - `POST /api/utilsio/auth-headers`: the "get auth headers" server action
//!   (SPEC 1.4): body `{deviceId, additionalData?}`, answer
//!   `{"signature": hex, "timestamp": "<now>"}`. It signs whatever deviceId it
//!   is given, so put it behind your app's own authentication (see
//!   `examples/axum_mount.rs`).
//!
//! Mounting into an existing app:
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use tower_signing::utilsio::{self, UtilsioConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let utilsio_state = UtilsioConfig::from_env()?.build().await?; // scrypt once, on the blocking pool
//! let app: Router = Router::new()
//!     .route("/", get(|| async { "my app" }))
//!     .merge(utilsio::router(utilsio_state));
//! # let _ = app;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};
use http::StatusCode;
use zeroize::Zeroizing;

use super::layer::{
    CallbackRejection, CallbackRequest, DEFAULT_BODY_LIMIT, SignatureCallbackLayer,
};
use super::service::json_response;
use super::{ScryptParams, SigningKey, SigningService, TimestampWindow};
use crate::http::{JsonBodyError, parse_json_object, read_limited};
use crate::{Clock, KeyError, SystemClock};

/// The callback route's path.
pub const CALLBACK_PATH: &str = "/api/signature-callback";
/// The auth-headers route's path.
pub const AUTH_HEADERS_PATH: &str = "/api/utilsio/auth-headers";

/// Everything the utilsio routes need, preloaded: the signing key (derived
/// once), the app id, the clock, and the callback checks' settings.
///
/// Cloning is one reference-count increment. Put it in your app state and
/// derive `FromRef` to use [`SigningService`] in your own handlers.
#[derive(Clone)]
pub struct UtilsioState {
    inner: Arc<StateInner>,
}

#[derive(Clone)]
struct StateInner {
    key: SigningKey,
    app_id: Arc<str>,
    clock: Arc<dyn Clock>,
    require_https: bool,
    body_limit: usize,
    window: TimestampWindow,
}

impl fmt::Debug for UtilsioState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UtilsioState")
            .field("key", &self.inner.key)
            .field("app_id", &self.inner.app_id)
            .field("require_https", &self.inner.require_https)
            .field("body_limit", &self.inner.body_limit)
            .field("window", &self.inner.window)
            .finish_non_exhaustive()
    }
}

impl UtilsioState {
    /// A state from a key built before, with secure defaults: HTTPS
    /// required, 16 KiB body limit, ±60 s window, the system clock.
    pub fn new(key: SigningKey, app_id: impl Into<Arc<str>>) -> Self {
        UtilsioState {
            inner: Arc::new(StateInner {
                key,
                app_id: app_id.into(),
                clock: Arc::new(SystemClock),
                require_https: true,
                body_limit: DEFAULT_BODY_LIMIT,
                window: TimestampWindow::default(),
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut StateInner)) -> Self {
        f(Arc::make_mut(&mut self.inner));
        self
    }

    /// Turns the callback's HTTPS check on (default) or off.
    ///
    /// # Warning
    /// Off only for local development; see
    /// [`RequireHttpsLayer`](super::layer::RequireHttpsLayer)'s trust caveat.
    #[must_use]
    pub fn with_require_https(self, required: bool) -> Self {
        self.edit(|s| s.require_https = required)
    }

    /// Sets the body limit of both routes in bytes (default 16 KiB).
    #[must_use]
    pub fn with_body_limit(self, limit: usize) -> Self {
        self.edit(|s| s.body_limit = limit)
    }

    /// Sets the callback's timestamp window (default ±60 s).
    #[must_use]
    pub fn with_window(self, window: TimestampWindow) -> Self {
        self.edit(|s| s.window = window)
    }

    /// Reads the time from `clock` for signing and for the window.
    #[must_use]
    pub fn with_clock(self, clock: impl Clock) -> Self {
        let clock: Arc<dyn Clock> = Arc::new(clock);
        self.edit(|s| s.clock = clock)
    }

    /// The preloaded key.
    pub fn key(&self) -> &SigningKey {
        &self.inner.key
    }

    /// This app's id.
    pub fn app_id(&self) -> &str {
        &self.inner.app_id
    }

    /// Whether the callback requires HTTPS.
    pub fn require_https(&self) -> bool {
        self.inner.require_https
    }

    /// The body limit of both routes in bytes.
    pub fn body_limit(&self) -> usize {
        self.inner.body_limit
    }

    /// The current Unix time from the state's clock.
    pub fn now(&self) -> u64 {
        self.inner.clock.now_unix_seconds()
    }

    /// The callback checks configured from this state.
    pub fn callback_layer(&self) -> SignatureCallbackLayer {
        SignatureCallbackLayer::new(self.inner.app_id.clone())
            .with_require_https(self.inner.require_https)
            .with_body_limit(self.inner.body_limit)
            .with_window(self.inner.window)
            .with_shared_clock(self.inner.clock.clone())
    }

    /// A [`SigningService`] on this state, for code outside handlers.
    pub fn signing_service(&self) -> SigningService {
        SigningService::from(self.clone())
    }
}

/// The utilsio routes (`POST /api/signature-callback`,
/// `POST /api/utilsio/auth-headers`) with their state applied, ready to
/// `merge` into any `Router`. Other methods on these paths answer 405 with a
/// JSON error.
pub fn router<S>(state: UtilsioState) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let layer = state.callback_layer();
    Router::new()
        .route(
            CALLBACK_PATH,
            post(signature_callback)
                .route_layer(layer)
                .fallback(crate::http::post_only),
        )
        .route(
            AUTH_HEADERS_PATH,
            MethodRouter::new()
                .post(auth_headers)
                .fallback(crate::http::post_only),
        )
        .with_state(state)
}

/// `POST /api/signature-callback`: the checks ran in the layer.
async fn signature_callback(signer: SigningService, mut req: Request) -> Response {
    match req.extensions_mut().remove::<CallbackRequest>() {
        Some(callback) => signer.sign_callback(&callback).into_response(),
        None => {
            tracing::error!("{}", CallbackRejection::BodyNotParsed);
            json_response(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
        }
    }
}

/// `POST /api/utilsio/auth-headers`: `{deviceId, additionalData?}`.
async fn auth_headers(signer: SigningService, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let limit = signer.state().body_limit();
    let object = match read_limited(&parts.headers, body, limit).await {
        Ok(bytes) => parse_json_object(&bytes),
        Err(e) => Err(JsonBodyError::Body(e)),
    };
    let object = match object {
        Ok(object) => object,
        Err(JsonBodyError::Body(crate::http::BodyError::TooLarge { limit })) => {
            let rejection = CallbackRejection::BodyTooLarge { limit };
            return json_response(rejection.status(), &rejection.body_text());
        }
        Err(e) => return json_response(e.status(), &capitalized(&e.to_string())),
    };
    let device_id = match object.get("deviceId") {
        None | Some(serde_json::Value::Null) => "",
        Some(serde_json::Value::String(s)) => s.as_str(),
        Some(_) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                "Invalid field type: deviceId must be a string",
            );
        }
    };
    let additional_data = match object.get("additionalData") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s.as_str()),
        Some(_) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                "Invalid field type: additionalData must be a string",
            );
        }
    };
    match signer.sign(device_id, additional_data) {
        Ok(headers) => headers.into_response(),
        Err(e) => e.into_response(),
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
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
    app_id: String,
    require_https: bool,
    scrypt: ScryptParams,
    body_limit: usize,
    window: TimestampWindow,
    demo: bool,
}

impl fmt::Debug for UtilsioConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UtilsioConfig")
            .field("app_secret", &"[redacted]")
            .field("salt", &"[redacted]")
            .field("app_id", &self.app_id)
            .field("require_https", &self.require_https)
            .field("scrypt", &self.scrypt)
            .field("body_limit", &self.body_limit)
            .field("window", &self.window)
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
            app_id: app_id.into(),
            require_https: true,
            scrypt: ScryptParams::default(),
            body_limit: DEFAULT_BODY_LIMIT,
            window: TimestampWindow::default(),
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
            app_id,
            require_https,
            ..UtilsioConfig::new(String::new(), String::new(), String::new())
        })
    }

    /// Turns the callback's HTTPS check on (default) or off.
    ///
    /// # Warning
    /// Off only for local development.
    #[must_use]
    pub fn with_require_https(mut self, required: bool) -> Self {
        self.require_https = required;
        self
    }

    /// Overrides the scrypt parameters (default: the SDK's; they must match
    /// the ones utilsio uses for the app).
    #[must_use]
    pub fn with_scrypt_params(mut self, params: ScryptParams) -> Self {
        self.scrypt = params;
        self
    }

    /// Sets the body limit of both routes in bytes (default 16 KiB).
    #[must_use]
    pub fn with_body_limit(mut self, limit: usize) -> Self {
        self.body_limit = limit;
        self
    }

    /// Sets the callback's timestamp window (default ±60 s).
    #[must_use]
    pub fn with_window(mut self, window: TimestampWindow) -> Self {
        self.window = window;
        self
    }

    /// The app id.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// Whether the callback requires HTTPS.
    pub fn require_https(&self) -> bool {
        self.require_https
    }

    /// Derives the key (scrypt, once, on tokio's blocking pool) and builds the
    /// shared state. The secret and salt are zeroized afterwards.
    ///
    /// # Errors
    /// [`ConfigError::Missing`] for an empty app id, [`ConfigError::Key`]
    /// for an empty secret or salt or a salt that is not hex.
    pub async fn build(mut self) -> Result<UtilsioState, ConfigError> {
        if self.app_id.is_empty() {
            return Err(ConfigError::Missing(Self::APP_ID_VAR));
        }
        // Move the buffers out (no copy); derive_async zeroizes them.
        let secret = std::mem::take(&mut *self.app_secret);
        let salt = std::mem::take(&mut *self.salt);
        let key = SigningKey::derive_async(secret, salt, self.scrypt).await?;
        Ok(UtilsioState::new(key, std::mem::take(&mut self.app_id))
            .with_require_https(self.require_https)
            .with_body_limit(self.body_limit)
            .with_window(self.window))
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
