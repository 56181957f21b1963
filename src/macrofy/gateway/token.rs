//! Session JWTs: HS256 with `jsonwebtoken`, issued on connect and checked on
//! the gateway's protected routes.

use std::fmt;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// How long a session token lives: 7 days (SPEC 2.3).
pub const TOKEN_TTL_SECONDS: u64 = 7 * 24 * 60 * 60;

/// The claims of a gateway session JWT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The Macrofy-scoped user id (same as `user.id` in the connect answer).
    pub sub: String,
    /// The app the user connected through.
    pub app_id: String,
    /// The app's own user id, as signed.
    pub external_id: String,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// Expires at, Unix seconds: `iat` + 7 days.
    pub exp: u64,
    /// The gateway's issuer name.
    pub iss: String,
    /// The audience the token is for.
    pub aud: String,
    /// A random unique token id (32 hex characters).
    pub jti: String,
}

/// A bearer token was refused (401).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// No `Authorization` header.
    #[error("Missing bearer token")]
    Missing,
    /// An `Authorization` header that is not exactly one `Bearer <token>`.
    #[error("Authorization must be 'Bearer <token>'")]
    Malformed,
    /// A well-signed token past its `exp`.
    #[error("Token expired")]
    Expired,
    /// A forged, corrupted, wrong-issuer or wrong-audience token.
    #[error("Invalid token")]
    Invalid,
}

/// Issues and checks tokens; the keys are built once.
#[derive(Clone)]
pub(crate) struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub(crate) issuer: String,
    pub(crate) audience: String,
}

impl fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKeys")
            .field("key", &"[redacted]")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

impl TokenKeys {
    pub(crate) fn new(secret: &[u8], issuer: String, audience: String) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // `exp` is checked against the gateway's own clock below.
        validation.validate_exp = false;
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[&issuer]);
        validation.set_audience(&[&audience]);
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer,
            audience,
        }
    }

    /// Claims for a new session starting at `now`.
    pub(crate) fn claims(
        &self,
        sub: String,
        app_id: String,
        external_id: String,
        now: u64,
    ) -> Result<Claims, getrandom::Error> {
        let mut jti = [0u8; 16];
        getrandom::fill(&mut jti)?;
        Ok(Claims {
            sub,
            app_id,
            external_id,
            iat: now,
            exp: now.saturating_add(TOKEN_TTL_SECONDS),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            jti: hex::encode(jti),
        })
    }

    pub(crate) fn encode(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
    }

    /// Verifies signature, algorithm, issuer and audience, then `exp > now`.
    pub(crate) fn decode(&self, token: &str, now: u64) -> Result<Claims, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| TokenError::Invalid)?;
        if data.claims.exp <= now {
            return Err(TokenError::Expired);
        }
        Ok(data.claims)
    }
}

/// Extracts the token from `Authorization: Bearer <token>` (scheme
/// case-insensitive). Exactly one header is accepted.
pub(crate) fn bearer_token(headers: &http::HeaderMap) -> Result<&str, TokenError> {
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let value = values.next().ok_or(TokenError::Missing)?;
    if values.next().is_some() {
        return Err(TokenError::Malformed);
    }
    let value = value.to_str().map_err(|_| TokenError::Malformed)?;
    let (scheme, token) = value.split_once(' ').ok_or(TokenError::Malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains(' ') {
        return Err(TokenError::Malformed);
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue};

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn keys() -> TokenKeys {
        TokenKeys::new(SECRET, "iss-a".into(), "aud-a".into())
    }

    #[test]
    fn round_trip_and_expiry_boundary() {
        let k = keys();
        let c = k.claims("s".into(), "a".into(), "e".into(), 1000).unwrap();
        assert_eq!(c.exp, 1000 + TOKEN_TTL_SECONDS);
        assert_eq!(c.jti.len(), 32);
        let t = k.encode(&c).unwrap();
        assert_eq!(k.decode(&t, 1000).unwrap(), c);
        assert_eq!(k.decode(&t, c.exp - 1).unwrap(), c);
        assert_eq!(k.decode(&t, c.exp), Err(TokenError::Expired));
    }

    #[test]
    fn jti_is_random() {
        let k = keys();
        let a = k.claims("s".into(), "a".into(), "e".into(), 1).unwrap();
        let b = k.claims("s".into(), "a".into(), "e".into(), 1).unwrap();
        assert_ne!(a.jti, b.jti);
    }

    #[test]
    fn other_key_issuer_or_audience_is_invalid() {
        let others = [
            TokenKeys::new(
                b"another-secret-of-32-bytes-long!",
                "iss-a".into(),
                "aud-a".into(),
            ),
            TokenKeys::new(SECRET, "iss-a".into(), "aud-b".into()),
            TokenKeys::new(SECRET, "iss-b".into(), "aud-a".into()),
        ];
        for other in &others {
            let c = other
                .claims("s".into(), "a".into(), "e".into(), 1000)
                .unwrap();
            let t = other.encode(&c).unwrap();
            assert_eq!(other.decode(&t, 1000).unwrap(), c);
            assert_eq!(keys().decode(&t, 1000), Err(TokenError::Invalid));
        }
        for garbage in ["", "a.b.c", "....", "é.é.é"] {
            assert_eq!(keys().decode(garbage, 1000), Err(TokenError::Invalid));
        }
    }

    #[test]
    fn alg_none_is_refused() {
        let k = keys();
        let c = k.claims("s".into(), "a".into(), "e".into(), 1000).unwrap();
        let t = k.encode(&c).unwrap();
        let body = t.split('.').nth(1).unwrap();
        // base64url of {"alg":"none","typ":"JWT"}
        let token = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{body}.");
        assert_eq!(k.decode(&token, 1000), Err(TokenError::Invalid));
    }

    #[test]
    fn bearer_header_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer_token(&h), Err(TokenError::Missing));
        h.insert("authorization", HeaderValue::from_static("bearer abc"));
        assert_eq!(bearer_token(&h), Ok("abc"));
        for bad in ["Basic abc", "Bearer", "Bearer ", "Bearer a b", "Token abc"] {
            h.insert("authorization", HeaderValue::from_static(bad));
            assert_eq!(bearer_token(&h), Err(TokenError::Malformed), "{bad}");
        }
        h.insert("authorization", HeaderValue::from_static("Bearer abc"));
        h.append("authorization", HeaderValue::from_static("Bearer abc"));
        assert_eq!(bearer_token(&h), Err(TokenError::Malformed));
    }
}
