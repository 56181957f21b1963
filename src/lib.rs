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
//! The default build is lean: the core, the tower layers and the axum
//! integration (`tower`, `axum`). Everything else is opt-in.
//! - always: the signing core, [`utilsio::CallbackPolicy`] (the
//!   framework-neutral signature callback verifier: `http` types and bytes
//!   in, a verified request or a typed rejection out) and [`identity`], the
//!   hook between the app's own login and the routes that act as a user
//!   ([`identity::AuthenticatedUser`], [`identity::Unauthenticated`]).
//! - `tokio`: [`utilsio::SigningKey::derive_async`] runs scrypt on the
//!   blocking pool.
//! - `tower` (default): [`utilsio::layer`], the signature callback checks as
//!   tower layers (axum, hyper, any `http` service).
//! - `axum` (default, implies `tower` and `tokio`): [`utilsio::router`] (the
//!   callback route), [`utilsio::VerifiedCallback`] and
//!   [`utilsio::SigningService`] (the extractors),
//!   [`utilsio::auth_headers_route`] and [`utilsio::UtilsioConfig`]
//!   (`from_env()`, key derivation once), and the Macrofy backend routes in
//!   `macrofy::routes`.
//! - `client`: `macrofy::client`, the Macrofy client with its session
//!   lifecycle (hyper 1 + rustls with the ring provider), and
//!   `macrofy::sessions`, the backend's cached, refreshed, single-flight
//!   session manager (with `axum`: the session route).
//! - `gateway`: `macrofy::gateway`, a local Macrofy-compatible
//!   `POST /api/auth/connect` and `/api/auth/refresh` with quota and HS256
//!   session JWTs.
//! - `redis`: with `client`, `macrofy::sessions::RedisSessionCache`, the
//!   session cache shared by several instances; with `gateway`, the Redis
//!   sandbox quota store.
//! - `server`: `server::serve`, a bounded HTTP/1.1 server (head, body and
//!   idle timeouts, a connection cap, a shutdown drain deadline).
//! - `cli`: the `tower-signing` debugging binary.
//! - `metrics`: counters and a histogram through the [`metrics`](https://docs.rs/metrics) facade
//!   (see [Metrics](#metrics)). Off, the crate has no `metrics` dependency
//!   and records nothing.
//!
//! ## Metrics
//! With the `metrics` feature the crate records through the `metrics`
//! facade; the application installs the recorder it wants (for Prometheus,
//! `metrics-exporter-prometheus`; `examples/server.rs` serves its text at
//! `GET /metrics` when `METRICS_ADDR` is set). Without a recorder each call
//! is a no-op. Every counter has one label, `outcome`.
//!
//! `tower_signing_callback_requests_total`: signature callbacks, each
//! counted exactly once whatever the layers and their order:
//!
//! | outcome | when |
//! |---|---|
//! | `signed` | a verified callback was signed by `SigningService::sign_callback` (the ready route uses it) |
//! | `origin` | the origin header is missing, different or repeated |
//! | `source` | the caller's address is not an allowed source |
//! | `https` | the request did not come over HTTPS |
//! | `body` | the body is too large, unreadable, not a JSON object, or a field is missing or of the wrong type |
//! | `timestamp` | the timestamp is outside the window |
//! | `app_id` | the body's appId is not this app's |
//!
//! Rejections are counted when a layer, the `VerifiedCallback` extractor
//! or `CallbackRejection`'s `IntoResponse` answers them (a framework-neutral
//! caller of `CallbackPolicy::verify` makes its own response and counts
//! nothing). A method other than `POST` answers 405 and is not counted: it
//! is not a callback attempt.
//!
//! `tower_signing_callback_verify_seconds` (histogram): for each callback
//! signed by the ready route (`utilsio::router`), the seconds spent on its
//! checks (in the route, and in callback layers in front of it) and on
//! signing, not counting the wait for the body's bytes.
//!
//! `tower_signing_macrofy_sessions_total`: `SessionManager::session`, one
//! count per call answered from the cache and one per gateway round
//! (concurrent callers for one user share a round and count once):
//!
//! | outcome | when |
//! |---|---|
//! | `cache_hit` | a fresh session from the cache, also one another instance just stored |
//! | `connect` | a new session from `POST /api/auth/connect` |
//! | `refresh` | a new session from `POST /api/auth/refresh` |
//! | `error` | no session (invalid userId, cache or gateway failure, lock held too long), or a refresh failed and the still valid token was served |
//!
//! `tower_signing_gateway_connects_total`: the local gateway's
//! `POST /api/auth/connect` (and `Gateway::connect`), once per request:
//!
//! | outcome | when |
//! |---|---|
//! | `admitted` | a session for a user the sandbox quota counts for the first time |
//! | `returning` | a session for a user already counted |
//! | `invalid` | the body or a field is malformed |
//! | `unknown_app` | the appId is not registered |
//! | `bad_signature` | the signature does not match |
//! | `quota_exceeded` | a new user past the sandbox limit |
//! | `unavailable` | the app registry or quota store failed, or no token could be made |
#![cfg_attr(docsrs, feature(doc_cfg))]

mod clock;
mod error;
#[cfg(feature = "gateway")]
mod future;
pub mod identity;
mod json_body;
pub mod macrofy;
mod metrics;
#[cfg(feature = "axum")]
mod secret_file;
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub mod server;
mod signature;
pub mod utilsio;

pub use clock::{Clock, ManualClock, SystemClock, now_unix_seconds};
pub use error::{HexProblem, InvalidSignature, KeyError};
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use secret_file::SecretFileError;
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
