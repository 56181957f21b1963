//! Who is calling: the hook between the app's own authentication and the
//! routes that act *as a user* (a Macrofy signature or session).
//!
//! A route that signs for a user must take the user id from the app's login,
//! never from the request body: whoever could name any user id in a body
//! could obtain a credential for any user. The app plugs its login in as an
//! axum extractor that implements [`AuthenticatedUser`]; when the caller is
//! not signed in the extractor rejects, and the route never runs. Use
//! [`Unauthenticated`] as the rejection so every route of this crate answers
//! anonymous callers the same way: 401 `{"error": "Authentication required"}`.
//!
//! ```
//! use axum::extract::FromRequestParts;
//! use http::request::Parts;
//! use tower_signing::identity::{AuthenticatedUser, Unauthenticated};
//!
//! /// The app's signed-in user (here: a session cookie checked elsewhere
//! /// put the id into the request extensions).
//! #[derive(Clone)]
//! struct CurrentUser(String);
//!
//! impl AuthenticatedUser for CurrentUser {
//!     fn user_id(&self) -> &str {
//!         &self.0
//!     }
//! }
//!
//! impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
//!     type Rejection = Unauthenticated;
//!
//!     async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Unauthenticated> {
//!         parts.extensions.get::<CurrentUser>().cloned().ok_or(Unauthenticated)
//!     }
//! }
//! ```

use std::fmt;

/// The app's authenticated caller, as the routes that act as a user see it.
///
/// Implement it on the app's own login extractor (an axum
/// `FromRequestParts` type whose rejection is [`Unauthenticated`]).
pub trait AuthenticatedUser {
    /// The app's own id of the signed-in user: what gets signed and what the
    /// vendor echoes back. 1 to 256 UTF-8 bytes for Macrofy.
    fn user_id(&self) -> &str;
}

/// The caller is not signed in: 401 `{"error": "Authentication required"}`.
///
/// The rejection app extractors should use (see the [module docs](self)),
/// so anonymous callers get the same JSON answer from every route.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unauthenticated;

impl Unauthenticated {
    /// The message of the JSON error body.
    pub const MESSAGE: &'static str = "Authentication required";
}

impl fmt::Display for Unauthenticated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::MESSAGE)
    }
}

impl std::error::Error for Unauthenticated {}

#[cfg(feature = "axum")]
impl axum::response::IntoResponse for Unauthenticated {
    fn into_response(self) -> axum::response::Response {
        crate::json_body::json_error(http::StatusCode::UNAUTHORIZED, Self::MESSAGE)
    }
}

#[cfg(all(test, feature = "axum"))]
mod tests {
    use super::*;
    use axum::response::IntoResponse;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn rejection_is_a_json_401() {
        let res = Unauthenticated.into_response();
        assert_eq!(res.status(), http::StatusCode::UNAUTHORIZED);
        assert_eq!(
            res.headers()[http::header::CONTENT_TYPE],
            "application/json"
        );
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], br#"{"error":"Authentication required"}"#);
    }
}
