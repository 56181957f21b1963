//! utilsio (subscription payments): key derivation, the canonical message,
//! signing, and the signature callback verifier.
//!
//! The backend derives an app hash from its secret with scrypt **once**
//! ([`SigningKey::derive`] or [`SigningKey::derive_async`]), then signs
//! `deviceId-appId-timestamp[-additionalData]` with HMAC-SHA256 keyed by the
//! app hash's hex text.
//!
//! ```
//! use tower_signing::utilsio::{ScryptParams, SignatureMessage, SigningKey};
//!
//! # let params = ScryptParams::default().with_n(1024)?; // the doc test uses a cheap N
//! // At start-up (with the default parameters in production):
//! let key = SigningKey::derive("my-app-secret", "fc1bd2c978b9806b", params)?;
//!
//! // Per request:
//! let now = tower_signing::now_unix_seconds();
//! let msg = SignatureMessage::new("device-123", "my-app-id", now)?;
//! let signature = key.sign(&msg);
//! assert!(key.verify(&msg, signature.as_str()).is_ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

/// The demo app id used by the examples when no environment is set.
///
/// **Demo only**, like [`DEMO_APP_SECRET`] and [`DEMO_SALT`].
pub const DEMO_APP_ID: &str = "demo-app-id";

/// The demo app secret paired with [`DEMO_APP_ID`].
///
/// **Demo only.** It is public (it is in this crate's source): signatures made
/// with it prove nothing. Use it for local, offline runs only.
pub const DEMO_APP_SECRET: &str = "demo-secret-DO-NOT-USE-IN-PRODUCTION";

/// The demo salt (hex of `demo-salt`) paired with [`DEMO_APP_SECRET`].
pub const DEMO_SALT: &str = "64656d6f2d73616c74";

mod callback;
#[cfg(feature = "axum")]
mod config;
mod derive;
#[cfg(feature = "axum")]
mod extract;
mod key;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod layer;
mod message;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod routes;
mod window;

pub use callback::{
    CallbackField, CallbackPolicy, CallbackRejection, CallbackRequest, DEFAULT_ORIGIN, HttpsPolicy,
    ORIGIN_HEADER, OriginProblem, PeerAddr, TlsConnected,
};
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use config::{ConfigError, UtilsioConfig, UtilsioState};
pub use derive::{AppHash, MAX_SCRYPT_MEMORY, ScryptParams};
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use extract::{AuthHeaders, SigningService, VerifiedCallback};
pub use key::SigningKey;
pub use message::{MessageError, SignatureMessage, Timestamp, cancellation_additional_data};
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use routes::{auth_headers_route, insecure_anonymous_auth_headers_route, router};
pub use window::{TimestampError, TimestampWindow};
