//! Macrofy (nutrition API): SPEC section 2.1.
//!
//! The backend signs the userId with HMAC-SHA256 keyed by the app secret's
//! literal text (it looks like hex but is **not** decoded) and hands
//! `{appId, userId, signature}` to whoever calls Macrofy's `POST /api/auth/connect`.
//!
//! ```
//! use tower_signing::macrofy::SigningKey;
//!
//! let key = SigningKey::new("7qvIULjGXeor0=\"mHTqAC 9H1K")?; // once, at start-up
//! let payload = key.payload("my-app-id", "cfafaca4c1d4076060fd775b");
//! assert_eq!(
//!     payload.signature,
//!     "2649e268d187868c4a0bbc20976244f4eab9044ae8a241f90f400898cdefb7b6"
//! );
//! assert_eq!(
//!     serde_json::to_value(&payload)?["userId"],
//!     "cfafaca4c1d4076060fd775b"
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};

use crate::error::{InvalidSignature, KeyError};
use crate::signature::{HmacSha256, Signature, verify_hex};

#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod client;
#[cfg(feature = "gateway")]
#[cfg_attr(docsrs, doc(cfg(feature = "gateway")))]
pub mod gateway;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod routes;
mod session;
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod sessions;
mod validate;

pub use session::{REFRESH_PATH, Session, SessionUser};
pub use validate::{ValidationError, validate_app_id, validate_signature_format, validate_user_id};

/// A boxed, sendable future: what the pluggable stores of the gateway and the
/// client return, so they can be used as trait objects.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// A boxed error from a pluggable store or registry backend.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The demo app id shared by `examples/macrofy_gateway.rs` and
/// `examples/server.rs` when no environment is set.
///
/// **Demo only.** Anyone can read it here; never register it with a real
/// gateway.
pub const DEMO_APP_ID: &str = "demo_app_001";

/// The demo app secret paired with [`DEMO_APP_ID`].
///
/// **Demo only.** It is public (it is in this crate's source), so a gateway
/// that accepts it accepts anyone. Use it for local, offline runs only.
pub const DEMO_APP_SECRET: &str = "demo-macrofy-secret-do-not-use-in-production";

/// Where `examples/macrofy_gateway.rs` listens by default: the base URL a
/// demo backend calls when `MACROFY_BASE_URL` is unset.
pub const DEMO_GATEWAY_URL: &str = "http://127.0.0.1:4000";

/// The production Macrofy API, the client's default base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.macrofy.com";

/// The gateway path that exchanges a signature for a session (SPEC 2.3).
pub const CONNECT_PATH: &str = "/api/auth/connect";

/// The Macrofy signing key: an HMAC-SHA256 state keyed once with the app
/// secret's UTF-8 text.
///
/// `Debug` prints `SigningKey([redacted])`; the state is zeroized on drop.
/// Cloning is cheap and never re-keys.
#[derive(Clone)]
pub struct SigningKey {
    mac: HmacSha256,
}

/// The keyed state's SHA-256 cores wipe themselves on drop (see `signature.rs`).
impl zeroize::ZeroizeOnDrop for SigningKey {}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey([redacted])")
    }
}

impl SigningKey {
    /// Keys the HMAC with `app_secret` exactly as issued (not hex-decoded).
    ///
    /// # Errors
    /// [`KeyError::AppSecretRequired`] for an empty secret.
    pub fn new(app_secret: &str) -> Result<Self, KeyError> {
        if app_secret.is_empty() {
            return Err(KeyError::AppSecretRequired);
        }
        let mac = <HmacSha256 as KeyInit>::new_from_slice(app_secret.as_bytes())
            .expect("HMAC takes a key of any length");
        Ok(SigningKey { mac })
    }

    fn absorb(&self, user_id: &str) -> HmacSha256 {
        let mut mac = self.mac.clone();
        mac.update(user_id.as_bytes());
        mac
    }

    /// `hex(HMAC-SHA256(appSecret, userId))`, 64 lowercase hex characters.
    ///
    /// Any string is signed as given; routes reject an empty userId before
    /// they get here.
    pub fn sign_user_id(&self, user_id: &str) -> Signature {
        Signature::from_mac(self.absorb(user_id))
    }

    /// Checks `signature` (hex, either case) for `user_id` in constant time.
    ///
    /// # Errors
    /// [`InvalidSignature`] on a mismatch or malformed input.
    pub fn verify(&self, user_id: &str, signature: &str) -> Result<(), InvalidSignature> {
        verify_hex(self.absorb(user_id), signature)
    }

    /// Signs `user_id` and returns the triple the backend hands on (SPEC 2.1).
    pub fn payload(&self, app_id: &str, user_id: &str) -> SignaturePayload {
        SignaturePayload {
            app_id: app_id.to_owned(),
            user_id: user_id.to_owned(),
            signature: self.sign_user_id(user_id).to_hex(),
        }
    }
}

/// `{ appId, userId, signature }`: what the backend returns (SPEC 2.2) and
/// what `POST /api/auth/connect` takes (SPEC 2.3). camelCase on the wire.
///
/// `Debug` hides the signature.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignaturePayload {
    /// The Macrofy app id.
    pub app_id: String,
    /// The app's own user id, not interpreted.
    pub user_id: String,
    /// 64-char hex HMAC of the userId.
    pub signature: String,
}

impl SignaturePayload {
    /// Checks the three fields as the gateway does (SPEC 2.3), without any
    /// network call: appId is a 10-12 character nanoid, userId is non-empty
    /// and at most 256 bytes, signature is 64 hex characters.
    ///
    /// # Errors
    /// The first field that is wrong, named in the message.
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_app_id(&self.app_id)?;
        validate_user_id(&self.user_id)?;
        validate_signature_format(&self.signature)
    }
}

impl fmt::Debug for SignaturePayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignaturePayload")
            .field("app_id", &self.app_id)
            .field("user_id", &self.user_id)
            .field("signature", &"[redacted]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_secret_is_rejected() {
        assert_eq!(
            SigningKey::new("").unwrap_err().to_string(),
            "appSecret is required"
        );
    }

    #[test]
    fn hex_looking_secret_is_used_as_text() {
        let secret = "84a3bd76fb55167fa40159038c7dbb2767d286bc47bb821679f2b74dde8dffa8";
        let as_text = SigningKey::new(secret).unwrap().sign_user_id("u");
        let decoded = hex::decode(secret).unwrap();
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&decoded).unwrap();
        mac.update(b"u");
        assert_ne!(as_text, Signature::from_mac(mac));
    }

    #[test]
    fn payload_debug_hides_signature() {
        let p = SigningKey::new("s").unwrap().payload("app", "user");
        let dbg = format!("{p:?}");
        assert!(!dbg.contains(&p.signature), "{dbg}");
        assert!(dbg.contains("[redacted]"));
    }

    #[test]
    fn malformed_signatures_are_invalid() {
        let k = SigningKey::new("s").unwrap();
        let good = k.sign_user_id("u").to_hex();
        for bad in [
            "",
            "zz",
            &good[..63],
            &format!("{good}0"),
            &format!("{}g", &good[..63]),
        ] {
            assert_eq!(k.verify("u", bad), Err(InvalidSignature));
        }
        assert!(k.verify("u", &good).is_ok());
        assert!(k.verify("u", &good.to_uppercase()).is_ok());
        // A non-ASCII string of 64 bytes must not panic.
        assert!(k.verify("u", &"é".repeat(32)).is_err());
    }
}
