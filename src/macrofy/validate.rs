//! Input rules for `{appId, userId, signature}` (SPEC 2.3), shared by the
//! gateway (which answers 400) and the client (which refuses before any
//! network call, SPEC 2.4).

use super::SignaturePayload;
use crate::json_body::JsonField;

/// The longest userId accepted, in UTF-8 bytes.
pub(crate) const MAX_USER_ID_BYTES: usize = 256;

/// A connect payload field is missing or malformed. Every message names the
/// field; none quotes the value (a userId may be personal data, a signature
/// is a credential).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// A required field is absent, `null` or an empty string.
    #[error("Missing {field}")]
    Missing {
        /// `appId`, `userId` or `signature`.
        field: &'static str,
    },
    /// A field is present but is not a JSON string.
    #[error("{field} must be a string")]
    NotAString {
        /// `appId`, `userId` or `signature`.
        field: &'static str,
    },
    /// appId is not 10-12 characters from `A-Za-z0-9_-`.
    #[error("appId must be 10-12 characters from A-Za-z0-9_-")]
    InvalidAppId,
    /// userId is longer than 256 bytes.
    #[error("userId must be at most 256 bytes")]
    UserIdTooLong,
    /// signature is not 64 hex characters.
    #[error("signature must be 64 hex characters")]
    InvalidSignatureFormat,
}

impl ValidationError {
    /// The wire name of the offending field: `appId`, `userId` or `signature`.
    pub fn field(&self) -> &'static str {
        match self {
            ValidationError::Missing { field } | ValidationError::NotAString { field } => field,
            ValidationError::InvalidAppId => "appId",
            ValidationError::UserIdTooLong => "userId",
            ValidationError::InvalidSignatureFormat => "signature",
        }
    }
}

/// appId: a 10-12 character nanoid (alphabet `A-Za-z0-9_-`).
///
/// # Errors
/// [`ValidationError::Missing`] when empty, [`ValidationError::InvalidAppId`]
/// otherwise.
///
/// ```
/// use tower_signing::macrofy::validate_app_id;
/// assert!(validate_app_id("V1StGXR8_Z").is_ok());
/// assert!(validate_app_id("short").is_err());
/// assert!(validate_app_id("has space!!").is_err());
/// ```
pub fn validate_app_id(app_id: &str) -> Result<(), ValidationError> {
    if app_id.is_empty() {
        return Err(ValidationError::Missing { field: "appId" });
    }
    let ok_char = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    if (10..=12).contains(&app_id.len()) && app_id.bytes().all(ok_char) {
        Ok(())
    } else {
        Err(ValidationError::InvalidAppId)
    }
}

/// userId: a non-empty string of at most 256 UTF-8 bytes, otherwise not
/// interpreted.
///
/// # Errors
/// [`ValidationError::Missing`] when empty, [`ValidationError::UserIdTooLong`]
/// over 256 bytes.
pub fn validate_user_id(user_id: &str) -> Result<(), ValidationError> {
    if user_id.is_empty() {
        Err(ValidationError::Missing { field: "userId" })
    } else if user_id.len() > MAX_USER_ID_BYTES {
        Err(ValidationError::UserIdTooLong)
    } else {
        Ok(())
    }
}

/// signature: exactly 64 hex characters (either case).
///
/// # Errors
/// [`ValidationError::Missing`] when empty,
/// [`ValidationError::InvalidSignatureFormat`] otherwise.
pub fn validate_signature_format(signature: &str) -> Result<(), ValidationError> {
    if signature.is_empty() {
        Err(ValidationError::Missing { field: "signature" })
    } else if signature.len() == 64 && signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(ValidationError::InvalidSignatureFormat)
    }
}

/// A field read with the crate's JSON field reader as a string: absent,
/// `null` or `""` is [`ValidationError::Missing`], any other non-string is
/// [`ValidationError::NotAString`].
pub(crate) fn string_field(
    field: JsonField,
    name: &'static str,
) -> Result<String, ValidationError> {
    match field.into_optional_string() {
        Ok(Some(s)) if !s.is_empty() => Ok(s),
        Ok(_) => Err(ValidationError::Missing { field: name }),
        Err(_) => Err(ValidationError::NotAString { field: name }),
    }
}

/// The fields of a connect body, in the order [`payload_from_fields`] takes them.
#[cfg_attr(not(feature = "gateway"), allow(dead_code))]
pub(crate) const CONNECT_FIELDS: [&str; 3] = ["appId", "userId", "signature"];

/// Builds and validates a connect payload from the [`CONNECT_FIELDS`] of a
/// JSON body, checking appId, then userId, then signature.
#[cfg_attr(not(feature = "gateway"), allow(dead_code))]
pub(crate) fn payload_from_fields(
    [app_id, user_id, signature]: [JsonField; 3],
) -> Result<SignaturePayload, ValidationError> {
    let app_id = string_field(app_id, "appId")?;
    validate_app_id(&app_id)?;
    let user_id = string_field(user_id, "userId")?;
    validate_user_id(&user_id)?;
    let signature = string_field(signature, "signature")?;
    validate_signature_format(&signature)?;
    Ok(SignaturePayload {
        app_id,
        user_id,
        signature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json_body::read_fields;
    use serde_json::{Value, json};

    fn check(v: Value) -> Result<SignaturePayload, ValidationError> {
        payload_from_fields(read_fields(v.to_string().as_bytes(), &CONNECT_FIELDS).unwrap())
    }

    const SIG: &str = "2649e268d187868c4a0bbc20976244f4eab9044ae8a241f90f400898cdefb7b6";

    #[test]
    fn app_id_lengths_and_alphabet() {
        assert!(validate_app_id("abcdefghij").is_ok());
        assert!(validate_app_id("abcdefghijkl").is_ok());
        assert!(validate_app_id("a-b_c-d_e-").is_ok());
        assert_eq!(
            validate_app_id("abcdefghi"),
            Err(ValidationError::InvalidAppId)
        );
        assert_eq!(
            validate_app_id("abcdefghijklm"),
            Err(ValidationError::InvalidAppId)
        );
        assert_eq!(
            validate_app_id("abcdefghi."),
            Err(ValidationError::InvalidAppId)
        );
        // Ten characters but more than ten bytes: rejected, no panic.
        assert_eq!(validate_app_id("ééééé"), Err(ValidationError::InvalidAppId));
    }

    #[test]
    fn user_id_limit_is_in_bytes() {
        assert!(validate_user_id(&"a".repeat(256)).is_ok());
        assert_eq!(
            validate_user_id(&"a".repeat(257)),
            Err(ValidationError::UserIdTooLong)
        );
        assert_eq!(
            validate_user_id(&"é".repeat(129)),
            Err(ValidationError::UserIdTooLong)
        );
    }

    #[test]
    fn json_fields_are_checked_in_order_and_named() {
        let ok = check(json!({"appId": "abcdefghij", "userId": "u", "signature": SIG})).unwrap();
        assert_eq!(ok.user_id, "u");
        let cases = [
            (json!({}), "Missing appId"),
            (json!({"appId": null}), "Missing appId"),
            (json!({"appId": 12}), "appId must be a string"),
            (
                json!({"appId": "x", "userId": 3}),
                "appId must be 10-12 characters from A-Za-z0-9_-",
            ),
            (json!({"appId": "abcdefghij"}), "Missing userId"),
            (
                json!({"appId": "abcdefghij", "userId": ["u"]}),
                "userId must be a string",
            ),
            (
                json!({"appId": "abcdefghij", "userId": "u"}),
                "Missing signature",
            ),
            (
                json!({"appId": "abcdefghij", "userId": "u", "signature": "abc"}),
                "signature must be 64 hex characters",
            ),
            (
                json!({"appId": "abcdefghij", "userId": "u", "signature": true}),
                "signature must be a string",
            ),
        ];
        for (body, msg) in cases {
            assert_eq!(check(body.clone()).unwrap_err().to_string(), msg, "{body}");
        }
    }

    #[test]
    fn payload_validate_matches_json_rules() {
        let p = SignaturePayload {
            app_id: "abcdefghij".into(),
            user_id: String::new(),
            signature: SIG.into(),
        };
        assert_eq!(p.validate().unwrap_err().field(), "userId");
    }
}
