//! Errors shared by both schemes.
//!
//! No error in this module carries secret material: a secret, a salt, a derived
//! key or an expected signature never appears in a message.

use std::fmt;

/// Building a signing key failed.
///
/// Messages say what was wrong with the input and never include the input
/// itself (secrets and salts stay out of logs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The app secret was empty.
    #[error("appSecret is required")]
    AppSecretRequired,
    /// The salt was empty.
    #[error("salt is required")]
    SaltRequired,
    /// The salt is not valid hex.
    #[error("salt is not valid hex: {0}")]
    InvalidSalt(HexProblem),
    /// The scrypt parameters are out of range.
    #[error("invalid scrypt parameters: {0}")]
    InvalidScryptParams(&'static str),
    /// A given app hash is not 64 lowercase hex characters.
    #[error("app hash must be 64 lowercase hex characters: {0}")]
    InvalidAppHash(HexProblem),
    /// The blocking task that ran scrypt did not finish (the runtime shut
    /// down or the task panicked).
    #[error("key derivation did not finish: the blocking task was cancelled or panicked")]
    DerivationAborted,
}

/// What is wrong with a hex string. Names the position, never the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HexProblem {
    /// The text has an odd number of characters.
    OddLength,
    /// The text has the wrong number of characters.
    WrongLength {
        /// The number of characters required.
        expected: usize,
        /// The number of characters given.
        actual: usize,
    },
    /// A character that is not a hex digit (or, where lowercase is required,
    /// an uppercase one) at this character position (0-based).
    InvalidCharacter {
        /// 0-based character position of the first offending character.
        position: usize,
    },
}

impl fmt::Display for HexProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HexProblem::OddLength => f.write_str("odd number of characters"),
            HexProblem::WrongLength { expected, actual } => {
                write!(f, "expected {expected} characters, got {actual}")
            }
            HexProblem::InvalidCharacter { position } => {
                write!(f, "invalid character at position {position}")
            }
        }
    }
}

impl HexProblem {
    /// Checks `text` is hex with an even length; with `lowercase_only`,
    /// uppercase digits count as invalid.
    pub(crate) fn check(text: &str, lowercase_only: bool) -> Result<(), HexProblem> {
        let valid = |c: char| {
            c.is_ascii_digit()
                || matches!(c, 'a'..='f')
                || (!lowercase_only && matches!(c, 'A'..='F'))
        };
        if let Some(position) = text.chars().position(|c| !valid(c)) {
            return Err(HexProblem::InvalidCharacter { position });
        }
        if !text.len().is_multiple_of(2) {
            return Err(HexProblem::OddLength);
        }
        Ok(())
    }
}

/// A signature did not verify.
///
/// Wrong length, non-hex text, an empty string and an HMAC mismatch all give
/// this one error, so a caller learns nothing about how close a guess was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, thiserror::Error)]
#[error("signature is invalid")]
pub struct InvalidSignature;
