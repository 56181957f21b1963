//! Why a callback was rejected.

use std::borrow::Cow;
use std::fmt;

use http::StatusCode;

use crate::json_body::{BodyRejection, method_not_allowed_text};
use crate::utilsio::TimestampError;

/// Why the origin check failed. All answer 403 `Unauthorized origin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OriginProblem {
    /// The header was absent.
    Missing,
    /// The header was present with another value.
    Mismatch,
    /// The header was sent more than once.
    Repeated,
    /// The caller's address is not in the allowed sources.
    SourceNotAllowed,
}

impl fmt::Display for OriginProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OriginProblem::Missing => "origin header missing",
            OriginProblem::Mismatch => "origin header has another value",
            OriginProblem::Repeated => "origin header repeated",
            OriginProblem::SourceNotAllowed => "source address not allowed",
        })
    }
}

/// A field of the callback body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CallbackField {
    /// `deviceId`.
    DeviceId,
    /// `appId`.
    AppId,
    /// `additionalData`.
    AdditionalData,
    /// `timestamp`.
    Timestamp,
}

impl CallbackField {
    /// The field's JSON name.
    pub fn json_name(&self) -> &'static str {
        match self {
            CallbackField::DeviceId => "deviceId",
            CallbackField::AppId => "appId",
            CallbackField::AdditionalData => "additionalData",
            CallbackField::Timestamp => "timestamp",
        }
    }
}

impl fmt::Display for CallbackField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.json_name())
    }
}

/// Why a signature callback was rejected: attached to every rejection
/// response's extensions and used to build its body.
///
/// [`CallbackRejection::status`] and [`CallbackRejection::body_text`] give the
/// answer utilsio expects; `Display` adds detail for logs (which side of the
/// window a timestamp fell off, which origin problem), never secrets or the
/// body.
///
/// ```
/// use http::StatusCode;
/// use tower_signing::utilsio::CallbackRejection;
///
/// assert_eq!(CallbackRejection::InvalidAppId.status(), StatusCode::FORBIDDEN);
/// assert_eq!(CallbackRejection::MissingFields.body_text(),
///     "Missing required fields: deviceId, appId, additionalData, timestamp");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallbackRejection {
    /// The method is not `POST` (405, with `Allow: POST`).
    MethodNotAllowed,
    /// The origin header is missing, different or repeated, or the caller's
    /// address is not an allowed source (403).
    UnauthorizedOrigin(OriginProblem),
    /// The request did not come over HTTPS (403).
    HttpsRequired,
    /// The body is over the size limit (413).
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body stream failed before it ended (400).
    BodyUnreadable,
    /// The body is not JSON (400). Holds serde_json's message, which names a
    /// line and column but never quotes the body.
    InvalidJson(String),
    /// The body is JSON but not an object (400).
    NotAnObject,
    /// A field is missing or falsy: absent, `null`, `""`, `0` or `false` (400).
    MissingFields,
    /// A field has the wrong type: a non-string for a string field, or a
    /// timestamp that is not a non-negative integer (or a string of decimal
    /// digits) fitting in 64 bits (400).
    InvalidField(CallbackField),
    /// The timestamp is outside the window (400).
    InvalidTimestamp(TimestampError),
    /// The body's appId is not this app's (403).
    InvalidAppId,
}

/// The missing-fields message.
pub(crate) const MISSING_FIELDS: &str =
    "Missing required fields: deviceId, appId, additionalData, timestamp";

impl CallbackRejection {
    /// The status to answer with.
    pub fn status(&self) -> StatusCode {
        match self {
            CallbackRejection::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            CallbackRejection::UnauthorizedOrigin(_)
            | CallbackRejection::HttpsRequired
            | CallbackRejection::InvalidAppId => StatusCode::FORBIDDEN,
            CallbackRejection::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            CallbackRejection::BodyUnreadable
            | CallbackRejection::InvalidJson(_)
            | CallbackRejection::NotAnObject
            | CallbackRejection::MissingFields
            | CallbackRejection::InvalidField(_)
            | CallbackRejection::InvalidTimestamp(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// The `error` text of the JSON response body.
    pub fn body_text(&self) -> Cow<'static, str> {
        let body = |rejection: BodyRejection| rejection.to_string().into();
        match self {
            CallbackRejection::MethodNotAllowed => method_not_allowed_text("POST").into(),
            CallbackRejection::UnauthorizedOrigin(_) => "Unauthorized origin".into(),
            CallbackRejection::HttpsRequired => "HTTPS required".into(),
            CallbackRejection::BodyTooLarge { limit } => {
                body(BodyRejection::TooLarge { limit: *limit })
            }
            CallbackRejection::BodyUnreadable => body(BodyRejection::Unreadable),
            CallbackRejection::InvalidJson(message) => {
                body(BodyRejection::Malformed(message.clone()))
            }
            CallbackRejection::NotAnObject => body(BodyRejection::NotAnObject),
            CallbackRejection::MissingFields => MISSING_FIELDS.into(),
            CallbackRejection::InvalidField(CallbackField::Timestamp) => {
                "Invalid field type: timestamp must be a non-negative integer \
                 (Unix seconds) or a string of decimal digits"
                    .into()
            }
            CallbackRejection::InvalidField(field) => {
                format!("Invalid field type: {field} must be a string").into()
            }
            CallbackRejection::InvalidTimestamp(_) => "Invalid timestamp".into(),
            CallbackRejection::InvalidAppId => "Invalid appId".into(),
        }
    }

    /// A short stable name for logs and metrics (`"unauthorized_origin"`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            CallbackRejection::MethodNotAllowed => "method_not_allowed",
            CallbackRejection::UnauthorizedOrigin(_) => "unauthorized_origin",
            CallbackRejection::HttpsRequired => "https_required",
            CallbackRejection::BodyTooLarge { .. } => "body_too_large",
            CallbackRejection::BodyUnreadable => "body_unreadable",
            CallbackRejection::InvalidJson(_) => "invalid_json",
            CallbackRejection::NotAnObject => "not_an_object",
            CallbackRejection::MissingFields => "missing_fields",
            CallbackRejection::InvalidField(_) => "invalid_field",
            CallbackRejection::InvalidTimestamp(_) => "invalid_timestamp",
            CallbackRejection::InvalidAppId => "invalid_app_id",
        }
    }
}

impl fmt::Display for CallbackRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallbackRejection::UnauthorizedOrigin(problem) => {
                write!(f, "Unauthorized origin ({problem})")
            }
            CallbackRejection::InvalidTimestamp(e) => write!(f, "Invalid timestamp ({e})"),
            other => f.write_str(&other.body_text()),
        }
    }
}

impl std::error::Error for CallbackRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CallbackRejection::InvalidTimestamp(e) => Some(e),
            _ => None,
        }
    }
}

impl From<BodyRejection> for CallbackRejection {
    fn from(rejection: BodyRejection) -> Self {
        match rejection {
            BodyRejection::TooLarge { limit } => CallbackRejection::BodyTooLarge { limit },
            BodyRejection::Unreadable => CallbackRejection::BodyUnreadable,
            BodyRejection::Malformed(message) => CallbackRejection::InvalidJson(message),
            BodyRejection::NotAnObject => CallbackRejection::NotAnObject,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_name_the_field() {
        let text = CallbackRejection::InvalidField(CallbackField::AdditionalData).body_text();
        assert_eq!(text, "Invalid field type: additionalData must be a string");
        assert!(
            CallbackRejection::InvalidField(CallbackField::Timestamp)
                .body_text()
                .contains("timestamp")
        );
    }

    #[test]
    fn display_gives_detail_body_does_not() {
        let r = CallbackRejection::InvalidTimestamp(TimestampError::TooOld {
            age_secs: 70,
            max_secs: 60,
        });
        assert_eq!(r.body_text(), "Invalid timestamp");
        assert!(r.to_string().contains("70 s old"), "{r}");
    }

    #[test]
    fn body_texts_are_the_shared_ones() {
        let r = CallbackRejection::BodyTooLarge { limit: 10 };
        assert_eq!(
            r.body_text(),
            "Request body is larger than the 10-byte limit"
        );
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            CallbackRejection::MethodNotAllowed.body_text(),
            "Method not allowed: use POST"
        );
    }
}
