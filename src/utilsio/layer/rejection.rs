//! Why a callback was rejected, and how the rejection becomes a response.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::{Response, StatusCode};

use crate::http::json_error;
use crate::utilsio::TimestampError;

/// Why the origin check failed. All three answer 403 `Unauthorized origin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OriginProblem {
    /// The header was absent.
    Missing,
    /// The header was present with another value.
    Mismatch,
    /// The header was sent more than once.
    Repeated,
}

impl fmt::Display for OriginProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OriginProblem::Missing => "origin header missing",
            OriginProblem::Mismatch => "origin header has another value",
            OriginProblem::Repeated => "origin header repeated",
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
/// SPEC 1.5 answer; `Display` adds detail for logs (which side of the window
/// a timestamp fell off, which origin problem), never secrets or the body.
///
/// ```
/// use http::StatusCode;
/// use tower_signing::utilsio::layer::CallbackRejection;
///
/// assert_eq!(CallbackRejection::InvalidAppId.status(), StatusCode::FORBIDDEN);
/// assert_eq!(CallbackRejection::MissingFields.body_text(),
///     "Missing required fields: deviceId, appId, additionalData, timestamp");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallbackRejection {
    /// Row 1: the origin header is missing, different or repeated (403).
    UnauthorizedOrigin(OriginProblem),
    /// Row 2: the request did not come over HTTPS (403).
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
    /// Row 3: a field is missing or falsy (400).
    MissingFields,
    /// A field has the wrong type: a non-string for a string field, or a
    /// timestamp that is not a non-negative integer (or a string of decimal
    /// digits) fitting in 64 bits (400).
    InvalidField(CallbackField),
    /// Row 4: the timestamp is outside the window (400).
    InvalidTimestamp(TimestampError),
    /// Row 5: the body's appId is not this app's (403).
    InvalidAppId,
    /// A check that needs the parsed body ran without
    /// [`CallbackBodyLayer`](super::CallbackBodyLayer) in front of it: a
    /// server misconfiguration, not bad input (500).
    BodyNotParsed,
}

/// The SPEC 1.5 row 3 message.
pub(crate) const MISSING_FIELDS: &str =
    "Missing required fields: deviceId, appId, additionalData, timestamp";

impl CallbackRejection {
    /// The status to answer with.
    pub fn status(&self) -> StatusCode {
        match self {
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
            CallbackRejection::BodyNotParsed => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `error` text of the JSON response body.
    pub fn body_text(&self) -> Cow<'static, str> {
        match self {
            CallbackRejection::UnauthorizedOrigin(_) => "Unauthorized origin".into(),
            CallbackRejection::HttpsRequired => "HTTPS required".into(),
            CallbackRejection::BodyTooLarge { limit } => {
                format!("Request body is larger than the {limit}-byte limit").into()
            }
            CallbackRejection::BodyUnreadable => "Could not read the request body".into(),
            CallbackRejection::InvalidJson(message) => {
                format!("Invalid JSON body: {message}").into()
            }
            CallbackRejection::NotAnObject => "Request body must be a JSON object".into(),
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
            CallbackRejection::BodyNotParsed => "Internal server error".into(),
        }
    }

    /// A short stable name for logs and metrics (`"unauthorized_origin"`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
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
            CallbackRejection::BodyNotParsed => "body_not_parsed",
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
            CallbackRejection::BodyNotParsed => f.write_str(
                "the callback body was not parsed: put CallbackBodyLayer before this check",
            ),
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

type CustomResponse = dyn Fn(&CallbackRejection) -> Response<Bytes> + Send + Sync;

/// Turns a rejection into a response: the JSON default or a custom one.
#[derive(Clone, Default)]
pub(crate) struct Responder {
    custom: Option<Arc<CustomResponse>>,
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.custom.is_some() {
            "Responder(custom)"
        } else {
            "Responder(json)"
        })
    }
}

impl Responder {
    pub(crate) fn custom<F>(f: F) -> Self
    where
        F: Fn(&CallbackRejection) -> Response<Bytes> + Send + Sync + 'static,
    {
        Responder {
            custom: Some(Arc::new(f)),
        }
    }

    /// Logs the rejection and builds its response, with the typed reason in
    /// the extensions.
    pub(crate) fn reject<B: From<Bytes>>(&self, rejection: CallbackRejection) -> Response<B> {
        let status = rejection.status();
        if status.is_server_error() {
            tracing::error!(reason = rejection.kind(), "utilsio callback: {rejection}");
        } else {
            tracing::warn!(
                reason = rejection.kind(),
                status = status.as_u16(),
                "utilsio callback rejected: {rejection}"
            );
        }
        let mut response = match &self.custom {
            Some(custom) => custom(&rejection).map(B::from),
            None => json_error(status, &rejection.body_text()),
        };
        response.extensions_mut().insert(rejection);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    #[test]
    fn custom_response_keeps_the_typed_reason() {
        let responder = Responder::custom(|r| {
            Response::builder()
                .status(StatusCode::IM_A_TEAPOT)
                .body(Bytes::from(r.kind()))
                .unwrap()
        });
        let res: Response<Full<Bytes>> = responder.reject(CallbackRejection::HttpsRequired);
        assert_eq!(res.status(), StatusCode::IM_A_TEAPOT);
        assert_eq!(
            res.extensions().get::<CallbackRejection>(),
            Some(&CallbackRejection::HttpsRequired)
        );
    }

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
}
