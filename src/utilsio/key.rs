//! The preloaded signing key.

use std::fmt;

use hmac::{KeyInit, Mac};

use crate::error::{InvalidSignature, KeyError};
use crate::signature::{HmacSha256, Signature, verify_hex};
use crate::utilsio::{AppHash, ScryptParams, SignatureMessage};

/// The utilsio signing key: an HMAC-SHA256 state keyed **once** with the app
/// hash text (the "preloaded app hash").
///
/// Signing clones that state and feeds it the canonical message; it never
/// re-keys and never runs scrypt. Cloning the key is cheap (a few hundred
/// bytes, no allocation). `Debug` prints `SigningKey([redacted])`; the state
/// is zeroized on drop.
///
/// ```
/// use tower_signing::utilsio::{AppHash, SignatureMessage, SigningKey};
///
/// // Normally `SigningKey::derive(secret, salt, ScryptParams::default())` at start-up.
/// let key = SigningKey::new(&AppHash::from_hex(
///     "f4726150e3d12c41e22c7f04ac8ec28a3a9178d8c887996cd56406a9ab4f372d",
/// )?);
/// let msg = SignatureMessage::new("c5d10f84-95cf-cf9f-2692-ce8f925a9763", "228YJJf1y5W", 1693114984u64)?;
/// let signature = key.sign(&msg);
/// assert_eq!(
///     signature.as_str(),
///     "53bc0abe49a8a2ec610bf65e77397694f6cc4bcccdb24b650b27bb50b20ddc05"
/// );
/// assert!(key.verify(&msg, &signature.as_str().to_uppercase()).is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
    /// Keys the HMAC with the app hash's hex text (the text, not the
    /// decoded bytes).
    pub fn new(app_hash: &AppHash) -> Self {
        let mac = <HmacSha256 as KeyInit>::new_from_slice(app_hash.expose_hex().as_bytes())
            .expect("HMAC takes a key of any length");
        SigningKey { mac }
    }

    /// Derives the app hash (scrypt, blocking) and keys the HMAC with it.
    ///
    /// # Errors
    /// As [`AppHash::derive`].
    pub fn derive(
        app_secret: &str,
        salt_hex: &str,
        params: ScryptParams,
    ) -> Result<Self, KeyError> {
        AppHash::derive(app_secret, salt_hex, params).map(|hash| SigningKey::new(&hash))
    }

    /// [`SigningKey::derive`] on tokio's blocking pool: the way to build the
    /// key inside an async `main`.
    ///
    /// # Errors
    /// As [`AppHash::derive_async`].
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub async fn derive_async(
        app_secret: impl Into<String>,
        salt_hex: impl Into<String>,
        params: ScryptParams,
    ) -> Result<Self, KeyError> {
        AppHash::derive_async(app_secret, salt_hex, params)
            .await
            .map(|hash| SigningKey::new(&hash))
    }

    /// Keys the HMAC with an app hash derived before (64 lowercase hex characters).
    ///
    /// # Errors
    /// As [`AppHash::from_hex`].
    pub fn from_app_hash_hex(app_hash_hex: &str) -> Result<Self, KeyError> {
        AppHash::from_hex(app_hash_hex).map(|hash| SigningKey::new(&hash))
    }

    /// The keyed state with the canonical message absorbed.
    fn absorb(&self, message: &SignatureMessage<'_>) -> HmacSha256 {
        let mut mac = self.mac.clone();
        message.write_to(|bytes| mac.update(bytes));
        mac
    }

    /// Signs the canonical message: 64 lowercase hex characters, equal to the
    /// SDK's `signRequest` for the same fields.
    pub fn sign(&self, message: &SignatureMessage<'_>) -> Signature {
        Signature::from_mac(self.absorb(message))
    }

    /// Checks `signature` (hex, either case) against the message in constant
    /// time. Empty, wrong-length or non-hex input is invalid, never a panic.
    ///
    /// # Errors
    /// [`InvalidSignature`] when it does not match.
    pub fn verify(
        &self,
        message: &SignatureMessage<'_>,
        signature: &str,
    ) -> Result<(), InvalidSignature> {
        verify_hex(self.absorb(message), signature)
    }
}

impl From<&AppHash> for SigningKey {
    fn from(hash: &AppHash) -> Self {
        SigningKey::new(hash)
    }
}
