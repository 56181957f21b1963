//! The `{token, user}` answer of `POST /api/auth/connect` (SPEC 2.3) and
//! `POST /api/auth/refresh` (SPEC 2.5).

use std::fmt;

/// The gateway path that trades a still-accepted session token
/// (`Authorization: Bearer`) for a fresh `{token, user}` of the same user.
pub const REFRESH_PATH: &str = "/api/auth/refresh";

use serde::{Deserialize, Serialize};

/// A Macrofy session: the gateway's 200 answer, what the client persists and
/// what the backend's `POST /api/macrofy-session` hands to the device.
///
/// The token is a bearer credential: `Debug` prints `[redacted]` in its place.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The session JWT, sent afterwards as `Authorization: Bearer <token>`.
    pub token: String,
    /// Who the session belongs to.
    pub user: SessionUser,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("token", &"[redacted]")
            .field("user", &self.user)
            .finish()
    }
}

/// `user` in a [`Session`]: `{ id, appId, externalId }` on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionUser {
    /// The Macrofy-scoped user id: stable for one (appId, userId) pair and
    /// revealing nothing of the userId.
    pub id: String,
    /// The app the user connected through.
    pub app_id: String,
    /// The app's own user id (the userId that was signed), echoed back.
    pub external_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shape_and_redacted_debug() {
        let s = Session {
            token: "aaa.bbb.ccc".into(),
            user: SessionUser {
                id: "usr_1".into(),
                app_id: "abcdefghij".into(),
                external_id: "u1".into(),
            },
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["user"]["appId"], "abcdefghij");
        assert_eq!(v["user"]["externalId"], "u1");
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("aaa.bbb.ccc"), "{dbg}");
    }
}
