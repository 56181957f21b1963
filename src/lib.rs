//! # tower-signing
//!
//! The server side of two vendor SDK handshakes, byte-exact with the vendors'
//! JavaScript SDKs:
//!
//! - **utilsio** (subscription payments, [`utilsio`]): derive an app hash from
//!   the app secret with scrypt once, then sign
//!   `deviceId-appId-timestamp[-additionalData]` with HMAC-SHA256.
//! - **Macrofy** (nutrition API, [`macrofy`]): sign the userId with
//!   HMAC-SHA256 keyed by the app secret; Macrofy's gateway verifies it and
//!   returns a session JWT.
//!
//! The secret never leaves the backend: the browser or phone gets only the
//! finished signature and hands it to the vendor, who verifies it.
//!
//! This core is framework-neutral (no tower, no axum): keys are built once
//! at start-up and signing a request only clones a pre-keyed HMAC state.
//!
//! ```
//! use tower_signing::{macrofy, utilsio};
//!
//! let key = utilsio::SigningKey::from_app_hash_hex(
//!     "2c9813b452ac80dde85016222a3c08e4f88e38a39a7f699d134fe9c5bf6d4ac1",
//! )?;
//! let msg = utilsio::SignatureMessage::new("Xs_", "2qlqs%", 1818426940u64)?;
//! assert_eq!(
//!     key.sign(&msg).as_str(),
//!     "0392c4fd9fa318619d6a928bd605901b1e12c3233e4cba62381a8501eb3819f4"
//! );
//!
//! let macrofy_key = macrofy::SigningKey::new("ßKksBJxQl4NS")?;
//! assert_eq!(
//!     macrofy_key.sign_user_id("2c9d6ff1a305293a7f621890").as_str(),
//!     "a82bf228de646f648d09800b6c660fb01335bded8267c156df1f2c52442628f9"
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Secret hygiene
//! Every type holding a secret, a derived key or a keyed HMAC state prints
//! `[redacted]` in `Debug`, has no `Display`, and is zeroized on drop. Errors
//! never quote secrets, salts or expected signatures.
//!
//! ## Features
//! - `tokio` (default): [`utilsio::SigningKey::derive_async`] runs scrypt on
//!   the blocking pool.
//! - always: [`utilsio::CallbackPolicy`], the signature callback verifier
//!   (framework-neutral: `http` types and bytes in, a verified request or a
//!   typed rejection out).
//! - `tower` (default): [`utilsio::layer`], the signature callback checks as
//!   tower layers (axum, hyper, any `http` service).
//! - `axum` (default): [`utilsio::router`] (the callback route),
//!   [`utilsio::VerifiedCallback`] and [`utilsio::SigningService`] (the
//!   extractors), [`utilsio::auth_headers_route`] and
//!   [`utilsio::UtilsioConfig`] (`from_env()`, key derivation once), and the
//!   Macrofy backend routes in `macrofy::routes`.
//! - `gateway` (default): `macrofy::gateway`, a local Macrofy-compatible
//!   `POST /api/auth/connect` with quota and session JWTs.
//! - `client` (default): `macrofy::client`, the Macrofy client with its
//!   session lifecycle (hyper 1 + rustls).
//! - `cli`: the `tower-signing` debugging binary.
//! - `server`: `server::serve`, a bounded HTTP/1.1 server (head, body and
//!   idle timeouts, a connection cap, a shutdown drain deadline).
#![cfg_attr(docsrs, feature(doc_cfg))]

mod clock;
mod error;
#[cfg(feature = "gateway")]
mod future;
mod json_body;
pub mod macrofy;
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub mod server;
mod signature;
pub mod utilsio;

pub use clock::{Clock, ManualClock, SystemClock, now_unix_seconds};
pub use error::{HexProblem, InvalidSignature, KeyError};
pub use signature::Signature;

/// The default request body limit of every route and check that reads a
/// body: 16 KiB. A real callback or connect body is a few hundred bytes.
pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024;

/// `get_ref`, `get_mut` and `into_inner` for a middleware whose wrapped
/// service is the field `inner`.
#[cfg(feature = "tower")]
macro_rules! define_inner_service_accessors {
    () => {
        /// The inner service.
        pub fn get_ref(&self) -> &S {
            &self.inner
        }

        /// The inner service, mutably.
        pub fn get_mut(&mut self) -> &mut S {
            &mut self.inner
        }

        /// Unwraps the inner service.
        pub fn into_inner(self) -> S {
            self.inner
        }
    };
}
#[cfg(feature = "tower")]
pub(crate) use define_inner_service_accessors;

/// The README's examples, compiled as doc tests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
