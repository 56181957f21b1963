//! The [`Signature`] type: a finished HMAC-SHA256 tag as lowercase hex.

use std::fmt;

use hmac::Mac;
use serde::{Serialize, Serializer};
use zeroize::ZeroizeOnDrop;

use crate::error::InvalidSignature;

/// The HMAC-SHA256 state both schemes sign with.
pub(crate) type HmacSha256 = hmac::Hmac<sha2::Sha256>;

// A keyed HMAC state is two SHA-256 cores (the ipad and opad midstates,
// which are key-equivalent). With sha2's `zeroize` feature each core wipes
// itself on drop; the key types rely on that when they claim
// `ZeroizeOnDrop`, so fail the build if it ever stops being true.
const _: () = {
    const fn assert_zeroize_on_drop<T: ZeroizeOnDrop>() {}
    assert_zeroize_on_drop::<sha2::block_api::Sha256VarCore>();
    assert_zeroize_on_drop::<zeroize::Zeroizing<String>>();
};

/// A signature made by this crate: 64 lowercase hex characters.
///
/// A valid signature is a credential, so `Debug` prints `Signature([redacted])`
/// and there is no `Display`. Read it with [`Signature::as_str`] or send it with
/// serde (it serializes as the hex string), which is what a response needs.
///
/// Equality is constant-time.
///
/// Unlike the key types it is not wiped on drop: a signature exists to be
/// sent, so copies of it live in response buffers anyway, and wiping this one
/// would cost a measurable share of the per-request work for no protection.
#[derive(Clone)]
pub struct Signature {
    hex: [u8; 64],
}

impl Signature {
    /// Finishes a keyed HMAC state into a signature.
    pub(crate) fn from_mac(mac: HmacSha256) -> Self {
        let tag = mac.finalize().into_bytes();
        let mut hex = [0u8; 64];
        // Cannot fail: 32 bytes encode to exactly 64 characters.
        hex::encode_to_slice(tag.as_slice(), &mut hex).expect("64-byte buffer for a 32-byte tag");
        Signature { hex }
    }

    /// The signature as 64 lowercase hex characters.
    ///
    /// This is the value to send (for utilsio, in `X-utilsio-Signature`); do not log it.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever written into `hex`.
        std::str::from_utf8(&self.hex).expect("hex is ASCII")
    }

    /// The signature as an owned `String` of 64 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        self.as_str().to_owned()
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Signature([redacted])")
    }
}

impl PartialEq for Signature {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.hex.ct_eq(&other.hex).into()
    }
}

impl Eq for Signature {}

impl PartialEq<str> for Signature {
    /// Constant-time comparison with hex text in either case.
    fn eq(&self, other: &str) -> bool {
        use subtle::ConstantTimeEq;
        let other = other.as_bytes();
        if other.len() != self.hex.len() {
            return false;
        }
        let mut lowered = [0u8; 64];
        for (dst, src) in lowered.iter_mut().zip(other) {
            *dst = src.to_ascii_lowercase();
        }
        self.hex.ct_eq(&lowered).into()
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Verifies `candidate` (hex, either case) against a keyed state that has
/// already absorbed the message, in constant time.
///
/// Any malformed candidate (empty, wrong length, non-hex) is simply invalid.
pub(crate) fn verify_hex(mac: HmacSha256, candidate: &str) -> Result<(), InvalidSignature> {
    let mut tag = [0u8; 32];
    if candidate.len() != 64 || hex::decode_to_slice(candidate, &mut tag).is_err() {
        return Err(InvalidSignature);
    }
    mac.verify_slice(&tag).map_err(|_| InvalidSignature)
}
