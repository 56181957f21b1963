//! The app hash: `hex(scrypt(appSecret, hexDecode(salt), N, r, p, keyLen))`.

use std::fmt;

use zeroize::Zeroizing;

use crate::error::{HexProblem, KeyError};

/// The largest scrypt working memory (`128 * N * r * p` bytes, roughly) this
/// crate will allocate: 1 GiB. The defaults use 16 MiB.
pub const MAX_SCRYPT_MEMORY: u64 = 1 << 30;

/// scrypt cost parameters. [`Default`] is the SDK's: `N = 16384`, `r = 8`,
/// `p = 1`, `keyLen = 32`.
///
/// ```
/// use tower_signing::utilsio::ScryptParams;
///
/// let params = ScryptParams::default().with_n(1024).unwrap();
/// assert_eq!(params.n(), 1024);
/// assert!(ScryptParams::default().with_n(1000).is_err()); // not a power of two
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScryptParams {
    log_n: u8,
    r: u32,
    p: u32,
    key_len: usize,
}

impl Default for ScryptParams {
    fn default() -> Self {
        ScryptParams {
            log_n: 14,
            r: 8,
            p: 1,
            key_len: 32,
        }
    }
}

impl ScryptParams {
    /// Builds parameters from the SDK's `N`, `r`, `p` and `keyLen`.
    ///
    /// # Errors
    /// [`KeyError::InvalidScryptParams`] when `N` is not a power of two greater
    /// than 1, `r` or `p` is 0, `keyLen` is 0 or above 1024, `r * p >= 2^30`, or
    /// the working memory would exceed [`MAX_SCRYPT_MEMORY`].
    pub fn new(n: u64, r: u32, p: u32, key_len: usize) -> Result<Self, KeyError> {
        ScryptParams::default()
            .with_n(n)?
            .with_r(r)?
            .with_p(p)?
            .with_key_len(key_len)
    }

    /// Sets `N`, the CPU/memory cost: a power of two greater than 1.
    ///
    /// # Errors
    /// [`KeyError::InvalidScryptParams`] as in [`ScryptParams::new`].
    pub fn with_n(self, n: u64) -> Result<Self, KeyError> {
        if n < 2 || !n.is_power_of_two() {
            return Err(KeyError::InvalidScryptParams(
                "N must be a power of two greater than 1",
            ));
        }
        ScryptParams {
            log_n: n.trailing_zeros() as u8,
            ..self
        }
        .validated()
    }

    /// Sets `r`, the block size (at least 1).
    ///
    /// # Errors
    /// [`KeyError::InvalidScryptParams`] as in [`ScryptParams::new`].
    pub fn with_r(self, r: u32) -> Result<Self, KeyError> {
        ScryptParams { r, ..self }.validated()
    }

    /// Sets `p`, the parallelism (at least 1).
    ///
    /// # Errors
    /// [`KeyError::InvalidScryptParams`] as in [`ScryptParams::new`].
    pub fn with_p(self, p: u32) -> Result<Self, KeyError> {
        ScryptParams { p, ..self }.validated()
    }

    /// Sets `keyLen`, the derived length in bytes (1 to 1024). The app hash is
    /// twice as many hex characters.
    ///
    /// # Errors
    /// [`KeyError::InvalidScryptParams`] as in [`ScryptParams::new`].
    pub fn with_key_len(self, key_len: usize) -> Result<Self, KeyError> {
        ScryptParams { key_len, ..self }.validated()
    }

    /// `N`.
    pub fn n(&self) -> u64 {
        1u64 << self.log_n
    }

    /// `r`.
    pub fn r(&self) -> u32 {
        self.r
    }

    /// `p`.
    pub fn p(&self) -> u32 {
        self.p
    }

    /// `keyLen` in bytes.
    pub fn key_len(&self) -> usize {
        self.key_len
    }

    fn validated(self) -> Result<Self, KeyError> {
        if self.r == 0 {
            return Err(KeyError::InvalidScryptParams("r must be at least 1"));
        }
        if self.p == 0 {
            return Err(KeyError::InvalidScryptParams("p must be at least 1"));
        }
        if self.key_len == 0 || self.key_len > 1024 {
            return Err(KeyError::InvalidScryptParams(
                "keyLen must be between 1 and 1024",
            ));
        }
        let r = u64::from(self.r);
        let p = u64::from(self.p);
        if r * p >= 1 << 30 {
            return Err(KeyError::InvalidScryptParams("r * p must be below 2^30"));
        }
        let memory = 128u64
            .checked_mul(r)
            .and_then(|v| v.checked_mul(self.n().max(p)));
        match memory {
            Some(m) if m <= MAX_SCRYPT_MEMORY => {}
            _ => {
                return Err(KeyError::InvalidScryptParams(
                    "N and r need more than 1 GiB of memory (128 * N * r)",
                ));
            }
        }
        scrypt::Params::new(self.log_n, self.r, self.p)
            .map_err(|_| KeyError::InvalidScryptParams("rejected by scrypt"))?;
        Ok(self)
    }
}

/// The utilsio "app hash": the scrypt-derived key as lowercase hex text.
///
/// Its hex *text* is the HMAC key. It prints `AppHash([redacted])`
/// in `Debug` and is zeroized on drop (the text lives in [`Zeroizing`]). Build a
/// [`SigningKey`](crate::utilsio::SigningKey) from it once, at start-up.
#[derive(Clone)]
pub struct AppHash {
    hex: Zeroizing<String>,
}

/// Its only field wipes itself on drop.
impl zeroize::ZeroizeOnDrop for AppHash {}

impl fmt::Debug for AppHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AppHash([redacted])")
    }
}

impl AppHash {
    /// Derives the app hash with scrypt, blocking the thread for
    /// tens of milliseconds and about 16 MiB with the defaults.
    ///
    /// Do this once at start-up; in async code use
    /// [`AppHash::derive_async`] (feature `tokio`) so the executor is not blocked.
    ///
    /// ```
    /// use tower_signing::utilsio::{AppHash, ScryptParams};
    ///
    /// let params = ScryptParams::default().with_n(1024)?; // cheap for the doc test
    /// let hash = AppHash::derive("my-app-secret", "00ff10", params)?;
    /// assert_eq!(hash.expose_hex().len(), 64);
    /// # Ok::<(), tower_signing::KeyError>(())
    /// ```
    ///
    /// # Errors
    /// [`KeyError::AppSecretRequired`] / [`KeyError::SaltRequired`] for empty
    /// input, [`KeyError::InvalidSalt`] for a salt that is not hex (unlike the
    /// JS SDK, which silently truncates it).
    pub fn derive(
        app_secret: &str,
        salt_hex: &str,
        params: ScryptParams,
    ) -> Result<Self, KeyError> {
        if app_secret.is_empty() {
            return Err(KeyError::AppSecretRequired);
        }
        if salt_hex.is_empty() {
            return Err(KeyError::SaltRequired);
        }
        HexProblem::check(salt_hex, false).map_err(KeyError::InvalidSalt)?;
        let salt = Zeroizing::new(
            hex::decode(salt_hex).map_err(|_| KeyError::InvalidSalt(HexProblem::OddLength))?,
        );
        let scrypt_params = scrypt::Params::new(params.log_n, params.r, params.p)
            .map_err(|_| KeyError::InvalidScryptParams("rejected by scrypt"))?;
        let mut out = Zeroizing::new(vec![0u8; params.key_len]);
        scrypt::scrypt(app_secret.as_bytes(), &salt, &scrypt_params, &mut out)
            .map_err(|_| KeyError::InvalidScryptParams("keyLen rejected by scrypt"))?;
        Ok(AppHash {
            hex: Zeroizing::new(hex::encode(&*out)),
        })
    }

    /// [`AppHash::derive`] on tokio's blocking pool, so the async executor keeps
    /// serving while scrypt runs. The secret and salt are moved in and
    /// zeroized when done.
    ///
    /// # Errors
    /// As [`AppHash::derive`], plus [`KeyError::DerivationAborted`] if the
    /// blocking task is cancelled or panics.
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub async fn derive_async(
        app_secret: impl Into<String>,
        salt_hex: impl Into<String>,
        params: ScryptParams,
    ) -> Result<Self, KeyError> {
        let secret = Zeroizing::new(app_secret.into());
        let salt = Zeroizing::new(salt_hex.into());
        tokio::task::spawn_blocking(move || AppHash::derive(&secret, &salt, params))
            .await
            .map_err(|_| KeyError::DerivationAborted)?
    }

    /// Takes an app hash that was derived before (for example with
    /// `tower-signing utilsio derive`): exactly 64 lowercase hex characters,
    /// as the SDK produces. No scrypt runs.
    ///
    /// # Errors
    /// [`KeyError::InvalidAppHash`] for any other text. Uppercase is rejected
    /// rather than folded: the HMAC key is the text itself, so folding would
    /// silently change every signature.
    pub fn from_hex(app_hash_hex: &str) -> Result<Self, KeyError> {
        let len = app_hash_hex.chars().count();
        HexProblem::check(app_hash_hex, true).map_err(KeyError::InvalidAppHash)?;
        if len != 64 {
            return Err(KeyError::InvalidAppHash(HexProblem::WrongLength {
                expected: 64,
                actual: len,
            }));
        }
        Ok(AppHash {
            hex: Zeroizing::new(app_hash_hex.to_owned()),
        })
    }

    /// The app hash hex text. It is key material: print it only where that is
    /// the point (the CLI's `derive` command) and never log it.
    pub fn expose_hex(&self) -> &str {
        &self.hex
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> ScryptParams {
        ScryptParams::default().with_n(16).unwrap()
    }

    #[test]
    fn empty_secret_and_salt_are_named() {
        assert_eq!(
            AppHash::derive("", "00", cheap()).unwrap_err().to_string(),
            "appSecret is required"
        );
        assert_eq!(
            AppHash::derive("s", "", cheap()).unwrap_err().to_string(),
            "salt is required"
        );
    }

    #[test]
    fn bad_salt_is_rejected_without_echoing_it() {
        let err = AppHash::derive("s", "abc", cheap()).unwrap_err();
        assert_eq!(err, KeyError::InvalidSalt(HexProblem::OddLength));
        let err = AppHash::derive("s", "zz11", cheap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "salt is not valid hex: invalid character at position 0"
        );
    }

    #[test]
    fn uppercase_salt_is_hex_too() {
        let a = AppHash::derive("s", "ABCD", cheap()).unwrap();
        let b = AppHash::derive("s", "abcd", cheap()).unwrap();
        assert_eq!(a.expose_hex(), b.expose_hex());
    }

    #[test]
    fn params_are_validated() {
        assert!(ScryptParams::new(0, 8, 1, 32).is_err());
        assert!(ScryptParams::new(1, 8, 1, 32).is_err());
        assert!(ScryptParams::new(3, 8, 1, 32).is_err());
        assert!(ScryptParams::new(1024, 0, 1, 32).is_err());
        assert!(ScryptParams::new(1024, 8, 0, 32).is_err());
        assert!(ScryptParams::new(1024, 8, 1, 0).is_err());
        assert!(ScryptParams::new(1 << 40, 8, 1, 32).is_err());
        assert!(ScryptParams::new(1 << 20, 8, 1, 32).is_ok());
        assert_eq!(
            ScryptParams::default(),
            ScryptParams::new(16384, 8, 1, 32).unwrap()
        );
    }

    #[test]
    fn key_len_sets_hex_length() {
        let p = cheap().with_key_len(16).unwrap();
        assert_eq!(
            AppHash::derive("s", "00", p).unwrap().expose_hex().len(),
            32
        );
    }

    #[test]
    fn from_hex_requires_64_lowercase() {
        let ok = "a".repeat(64);
        assert!(AppHash::from_hex(&ok).is_ok());
        assert!(matches!(
            AppHash::from_hex(&"A".repeat(64)),
            Err(KeyError::InvalidAppHash(HexProblem::InvalidCharacter {
                position: 0
            }))
        ));
        assert!(matches!(
            AppHash::from_hex(&"a".repeat(62)),
            Err(KeyError::InvalidAppHash(HexProblem::WrongLength {
                expected: 64,
                actual: 62
            }))
        ));
        assert!(AppHash::from_hex("").is_err());
    }

    #[test]
    fn debug_is_redacted() {
        let h = AppHash::from_hex(&"ab".repeat(32)).unwrap();
        assert_eq!(format!("{h:?}"), "AppHash([redacted])");
    }
}
