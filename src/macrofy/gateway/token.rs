//! Session JWTs: compact HS256 JWS (RFC 7515/7519) over the crate's own
//! `hmac` + `sha2`, issued on connect and refresh, checked on the gateway's
//! protected routes.
//!
//! Why not a JWT crate: `jsonwebtoken` (10 and 11) always depends on the
//! `signature` crate and, for a working HS256, either brings its RustCrypto
//! provider (RSA, ECDSA, EdDSA and an older `hmac`/`sha2`/`digest` than this
//! crate's) or needs a process-global `CryptoProvider::install_default`,
//! which a library must not claim (an application may install its own, and
//! without one every call panics). HS256 alone is one HMAC over
//! `base64url(header) "." base64url(payload)`, so it is done here, strictly:
//! the header must say `alg: HS256`, `typ` is `JWT` or absent, `kid` names
//! a configured key, no other header field is allowed; the tag is checked in
//! constant time before the payload is parsed; `iss`, `aud`, `exp` and `iat`
//! are required.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};

use crate::signature::HmacSha256;

/// The default lifetime of a session token: 7 days (the vendor's mobile SDK
/// documents 7 days; clients read `exp` rather than assume it).
pub const TOKEN_TTL_SECONDS: u64 = 7 * 24 * 60 * 60;

/// The longest token verified, in bytes; longer ones are refused unread.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// How far in the future `iat` may be (clock skew between instances).
const IAT_LEEWAY_SECONDS: u64 = 60;

/// The largest `exp` issued: clients parse JSON numbers as doubles, which
/// are exact up to 2^53 - 1.
const MAX_NUMERIC_DATE: u64 = (1 << 53) - 1;

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
    /// Expires at, Unix seconds: `iat` plus the gateway's token lifetime.
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
    /// A forged, corrupted, wrong-issuer or wrong-audience token, or one
    /// signed with a key the gateway no longer has (unknown `kid`).
    #[error("Invalid token")]
    Invalid,
}

/// A token could not be issued (500). Never carries key material.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum IssueError {
    #[error("no system randomness for the token id")]
    Randomness,
    #[error("the clock is past the largest expiry a client can read")]
    ClockOutOfRange,
}

/// One HS256 key and its `kid`.
#[derive(Clone)]
struct JwtKey {
    kid: String,
    mac: HmacSha256,
}

impl JwtKey {
    fn new(kid: String, secret: &[u8]) -> Self {
        let mac = <HmacSha256 as KeyInit>::new_from_slice(secret)
            .expect("HMAC takes a key of any length");
        JwtKey { kid, mac }
    }

    /// A key whose `kid` is derived from the key itself: `k` and 16 hex
    /// characters of an HMAC under it, so every instance given the same key
    /// names it the same way, and the name reveals nothing of the key.
    fn derived(secret: &[u8]) -> Self {
        let mut key = Self::new(String::new(), secret);
        let mut mac = key.mac.clone();
        mac.update(b"tower-signing/macrofy/jwt-kid/v1");
        key.kid = format!("k{}", hex::encode(&mac.finalize().into_bytes()[..8]));
        key
    }

    fn tag(&self, signing_input: &str) -> HmacSha256 {
        let mut mac = self.mac.clone();
        mac.update(signing_input.as_bytes());
        mac
    }
}

#[derive(Serialize)]
struct HeaderOut<'a> {
    alg: &'static str,
    typ: &'static str,
    kid: &'a str,
}

/// The only header accepted: any other field (`crit`, `jku`, `jwk`, ...)
/// or a repeated one makes the token invalid.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HeaderIn {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    kid: String,
}

/// Issues and checks tokens; the keys are built once.
#[derive(Clone)]
pub(crate) struct TokenKeys {
    current: JwtKey,
    previous: Vec<JwtKey>,
    pub(crate) issuer: String,
    pub(crate) audience: String,
    pub(crate) lifetime: u64,
}

impl fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKeys")
            .field("keys", &"[redacted]")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("lifetime", &self.lifetime)
            .finish()
    }
}

impl TokenKeys {
    /// Signs with `current`; also verifies tokens under `previous`.
    pub(crate) fn new<'a>(
        current: &[u8],
        previous: impl IntoIterator<Item = &'a [u8]>,
        issuer: String,
        audience: String,
        lifetime: u64,
    ) -> Self {
        TokenKeys {
            current: JwtKey::derived(current),
            previous: previous.into_iter().map(JwtKey::derived).collect(),
            issuer,
            audience,
            lifetime,
        }
    }

    /// The `kid` of the signing key.
    pub(crate) fn current_kid(&self) -> &str {
        &self.current.kid
    }

    fn key(&self, kid: &str) -> Option<&JwtKey> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.kid == kid)
    }

    /// A new token for the user, starting at `now`, signed with the current key.
    pub(crate) fn issue(
        &self,
        sub: String,
        app_id: String,
        external_id: String,
        now: u64,
    ) -> Result<(Claims, String), IssueError> {
        let exp = now
            .checked_add(self.lifetime)
            .filter(|exp| *exp <= MAX_NUMERIC_DATE)
            .ok_or(IssueError::ClockOutOfRange)?;
        let mut jti = [0u8; 16];
        getrandom::fill(&mut jti).map_err(|_| IssueError::Randomness)?;
        let claims = Claims {
            sub,
            app_id,
            external_id,
            iat: now,
            exp,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            jti: hex::encode(jti),
        };
        let token = self.sign(&claims);
        Ok((claims, token))
    }

    fn sign(&self, claims: &Claims) -> String {
        let header = HeaderOut {
            alg: "HS256",
            typ: "JWT",
            kid: &self.current.kid,
        };
        // Serializing plain strings and integers cannot fail.
        let header = serde_json::to_vec(&header).expect("header serializes");
        let payload = serde_json::to_vec(claims).expect("claims serialize");
        let mut token = URL_SAFE_NO_PAD.encode(header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut token);
        let tag = self.current.tag(&token).finalize().into_bytes();
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(tag, &mut token);
        token
    }

    /// Verifies header, key, signature, issuer and audience, `iat` not in
    /// the future (beyond a minute), then `exp > now`.
    pub(crate) fn decode(&self, token: &str, now: u64) -> Result<Claims, TokenError> {
        let claims = self.verify_signature(token)?;
        let claims: Claims = serde_json::from_slice(&claims).map_err(|_| TokenError::Invalid)?;
        if claims.iss != self.issuer
            || claims.aud != self.audience
            || claims.iat > now.saturating_add(IAT_LEEWAY_SECONDS)
        {
            return Err(TokenError::Invalid);
        }
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    /// The JWS layer: the decoded payload of a well-formed HS256 token signed
    /// by one of the configured keys.
    fn verify_signature(&self, token: &str) -> Result<Vec<u8>, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Invalid);
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Invalid);
        };
        let signing_input = &token[..header.len() + 1 + payload.len()];
        let header = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| TokenError::Invalid)?;
        let header: HeaderIn = serde_json::from_slice(&header).map_err(|_| TokenError::Invalid)?;
        if header.alg != "HS256" || header.typ.as_deref().is_some_and(|typ| typ != "JWT") {
            return Err(TokenError::Invalid);
        }
        let key = self.key(&header.kid).ok_or(TokenError::Invalid)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Invalid)?;
        key.tag(signing_input)
            .verify_slice(&signature)
            .map_err(|_| TokenError::Invalid)?;
        URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Invalid)
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
        TokenKeys::new(
            SECRET,
            [],
            "iss-a".into(),
            "aud-a".into(),
            TOKEN_TTL_SECONDS,
        )
    }

    fn issue(k: &TokenKeys, now: u64) -> (Claims, String) {
        k.issue("s".into(), "a".into(), "e".into(), now).unwrap()
    }

    fn b64(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    /// Signs `header.payload` with `key` as any HS256 implementation would.
    fn forge(header: &str, payload: &str, key: &[u8]) -> String {
        let input = format!("{}.{}", b64(header), b64(payload));
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).unwrap();
        mac.update(input.as_bytes());
        format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    fn payload(k: &TokenKeys, now: u64) -> String {
        serde_json::to_string(&issue(k, now).0).unwrap()
    }

    #[test]
    fn round_trip_and_expiry_boundary() {
        let k = keys();
        let (c, t) = issue(&k, 1000);
        assert_eq!(c.exp, 1000 + TOKEN_TTL_SECONDS);
        assert_eq!(c.jti.len(), 32);
        assert_eq!(k.decode(&t, 1000).unwrap(), c);
        assert_eq!(k.decode(&t, c.exp - 1).unwrap(), c);
        assert_eq!(k.decode(&t, c.exp), Err(TokenError::Expired));
    }

    #[test]
    fn lifetime_is_the_configured_one() {
        let k = TokenKeys::new(SECRET, [], "i".into(), "a".into(), 90);
        let (c, _) = issue(&k, 1000);
        assert_eq!(c.exp - c.iat, 90);
    }

    #[test]
    fn an_expiry_past_what_clients_can_read_is_not_issued() {
        let k = keys();
        let last = MAX_NUMERIC_DATE - TOKEN_TTL_SECONDS;
        assert!(k.issue("s".into(), "a".into(), "e".into(), last).is_ok());
        for now in [last + 1, u64::MAX] {
            assert_eq!(
                k.issue("s".into(), "a".into(), "e".into(), now),
                Err(IssueError::ClockOutOfRange)
            );
        }
    }

    /// A token made by a reference implementation (jsonwebtoken 11.1,
    /// `Header { kid: "kat-key-1", alg: HS256 }`) verifies here.
    #[test]
    fn known_answer_from_a_reference_implementation() {
        const TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiIsImtpZCI6ImthdC1rZXktMSJ9.\
            eyJhcHBfaWQiOiJkZW1vX2FwcF8wMDEiLCJhdWQiOiJtYWNyb2Z5LWFwaSIsImV4cCI6MTcwMDYwNDgwMCwi\
            ZXh0ZXJuYWxfaWQiOiJ1c2VyLTQyIiwiaWF0IjoxNzAwMDAwMDAwLCJpc3MiOiJtYWNyb2Z5LWdhdGV3YXki\
            LCJqdGkiOiIwMDExMjIzMzQ0NTU2Njc3ODg5OWFhYmJjY2RkZWVmZiIsInN1YiI6InVzcl8wMTIzNDU2Nzg5\
            YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZiJ9.fMejwU-kHlsvrUfiwMF3k1svgy4WosFsJYRXWY3-K0c";
        let mut k = TokenKeys::new(
            b"another key",
            [],
            "macrofy-gateway".into(),
            "macrofy-api".into(),
            TOKEN_TTL_SECONDS,
        );
        k.previous.push(JwtKey::new(
            "kat-key-1".into(),
            b"known-answer-test-key-of-32-bytes!",
        ));
        let c = k.decode(TOKEN, 1_700_000_000).unwrap();
        assert_eq!(c.sub, "usr_0123456789abcdef0123456789abcdef");
        assert_eq!(c.app_id, "demo_app_001");
        assert_eq!(c.external_id, "user-42");
        assert_eq!((c.iat, c.exp), (1_700_000_000, 1_700_604_800));
        assert_eq!(c.jti, "00112233445566778899aabbccddeeff");
        // The same bytes under another key, or with one bit of the
        // signature changed, are refused.
        k.previous[0] = JwtKey::new("kat-key-1".into(), b"known-answer-test-key-of-32-bytes?");
        assert_eq!(k.decode(TOKEN, 1_700_000_000), Err(TokenError::Invalid));
    }

    #[test]
    fn issued_tokens_are_plain_hs256_with_the_derived_kid() {
        let k = keys();
        let (_, t) = issue(&k, 1000);
        let parts: Vec<&str> = t.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "HS256");
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["kid"], k.current_kid());
        assert_eq!(k.current_kid().len(), 17);
        // Recomputed independently of `sign`.
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(SECRET).unwrap();
        mac.update(format!("{}.{}", parts[0], parts[1]).as_bytes());
        mac.verify_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap())
            .unwrap();
        // The kid is a function of the key only.
        assert_eq!(JwtKey::derived(SECRET).kid, JwtKey::derived(SECRET).kid);
        assert_ne!(JwtKey::derived(SECRET).kid, JwtKey::derived(b"x").kid);
    }

    #[test]
    fn jti_is_random() {
        let k = keys();
        assert_ne!(issue(&k, 1).0.jti, issue(&k, 1).0.jti);
    }

    #[test]
    fn tampered_header_payload_or_signature_is_invalid() {
        let k = keys();
        let (_, t) = issue(&k, 1000);
        let parts: Vec<&str> = t.split('.').collect();
        let flip = |s: &str| {
            let mut b = URL_SAFE_NO_PAD.decode(s).unwrap();
            b[0] ^= 1;
            URL_SAFE_NO_PAD.encode(b)
        };
        let cases = [
            format!("{}.{}.{}", flip(parts[0]), parts[1], parts[2]),
            format!("{}.{}.{}", parts[0], flip(parts[1]), parts[2]),
            format!("{}.{}.{}", parts[0], parts[1], flip(parts[2])),
            format!(
                "{}.{}.{}",
                parts[0],
                parts[1],
                &parts[2][..parts[2].len() - 2]
            ),
            format!("{}.{}.{}=", parts[0], parts[1], parts[2]),
            format!("{}.{}.{}.{}", parts[0], parts[1], parts[2], parts[2]),
            format!("{}.{}", parts[0], parts[1]),
            format!("{t} "),
            "x".repeat(MAX_TOKEN_BYTES + 1),
        ];
        for bad in &cases {
            assert_eq!(k.decode(bad, 1000), Err(TokenError::Invalid), "{bad}");
        }
        for garbage in ["", "a.b.c", "....", "é.é.é"] {
            assert_eq!(k.decode(garbage, 1000), Err(TokenError::Invalid));
        }
    }

    #[test]
    fn header_must_be_strict_hs256() {
        let k = keys();
        let kid = k.current_kid().to_owned();
        let p = payload(&k, 1000);
        // The real key signs each of these: only the header is wrong.
        for header in [
            format!(r#"{{"alg":"none","typ":"JWT","kid":"{kid}"}}"#),
            format!(r#"{{"alg":"HS512","typ":"JWT","kid":"{kid}"}}"#),
            format!(r#"{{"alg":"hs256","typ":"JWT","kid":"{kid}"}}"#),
            format!(r#"{{"alg":"HS256","typ":"JWS","kid":"{kid}"}}"#),
            format!(r#"{{"alg":"HS256","typ":"JWT","kid":"{kid}","crit":["exp"]}}"#),
            format!(r#"{{"alg":"HS256","alg":"HS256","kid":"{kid}"}}"#),
            r#"{"alg":"HS256","typ":"JWT"}"#.to_owned(),
            r#"{"alg":"HS256","typ":"JWT","kid":"unknown"}"#.to_owned(),
            format!(r#"["HS256","{kid}"]"#),
        ] {
            assert_eq!(
                k.decode(&forge(&header, &p, SECRET), 1000),
                Err(TokenError::Invalid),
                "{header}"
            );
        }
        // typ is optional.
        let ok = forge(&format!(r#"{{"alg":"HS256","kid":"{kid}"}}"#), &p, SECRET);
        assert!(k.decode(&ok, 1000).is_ok());
        // alg none with an empty signature.
        let none = format!(
            "{}.{}.",
            b64(&format!(r#"{{"alg":"none","kid":"{kid}"}}"#)),
            b64(&p)
        );
        assert_eq!(k.decode(&none, 1000), Err(TokenError::Invalid));
    }

    #[test]
    fn claims_are_required_and_checked() {
        let k = keys();
        let kid = k.current_kid().to_owned();
        let header = format!(r#"{{"alg":"HS256","typ":"JWT","kid":"{kid}"}}"#);
        let full: serde_json::Value = serde_json::from_str(&payload(&k, 1000)).unwrap();
        for missing in [
            "exp",
            "iat",
            "iss",
            "aud",
            "sub",
            "app_id",
            "external_id",
            "jti",
        ] {
            let mut p = full.clone();
            p.as_object_mut().unwrap().remove(missing);
            let t = forge(&header, &p.to_string(), SECRET);
            assert_eq!(k.decode(&t, 1000), Err(TokenError::Invalid), "{missing}");
        }
        for (field, value) in [
            ("iss", serde_json::json!("iss-b")),
            ("aud", serde_json::json!("aud-b")),
            ("aud", serde_json::json!(["aud-a"])),
            ("exp", serde_json::json!("9999999999")),
            ("exp", serde_json::json!(-1)),
            ("iat", serde_json::json!(1000 + IAT_LEEWAY_SECONDS + 1)),
        ] {
            let mut p = full.clone();
            p[field] = value.clone();
            let t = forge(&header, &p.to_string(), SECRET);
            assert_eq!(
                k.decode(&t, 1000),
                Err(TokenError::Invalid),
                "{field}={value}"
            );
        }
        // iat a little ahead (another instance's clock) is accepted.
        let mut p = full.clone();
        p["iat"] = serde_json::json!(1000 + IAT_LEEWAY_SECONDS);
        assert!(
            k.decode(&forge(&header, &p.to_string(), SECRET), 1000)
                .is_ok()
        );
        // A payload that is not JSON, even well signed.
        let t = forge(&header, "not json", SECRET);
        assert_eq!(k.decode(&t, 1000), Err(TokenError::Invalid));
    }

    #[test]
    fn other_key_issuer_or_audience_is_invalid() {
        let others = [
            TokenKeys::new(
                b"another-secret-of-32-bytes-long!",
                [],
                "iss-a".into(),
                "aud-a".into(),
                TOKEN_TTL_SECONDS,
            ),
            TokenKeys::new(SECRET, [], "iss-a".into(), "aud-b".into(), 60),
            TokenKeys::new(SECRET, [], "iss-b".into(), "aud-a".into(), 60),
        ];
        for other in &others {
            let (c, t) = issue(other, 1000);
            assert_eq!(other.decode(&t, 1000).unwrap(), c);
            assert_eq!(keys().decode(&t, 1000), Err(TokenError::Invalid));
        }
    }

    #[test]
    fn previous_keys_verify_and_the_current_one_signs() {
        let old = keys();
        let (c, old_token) = issue(&old, 1000);
        let new_key: &[u8] = b"the-new-jwt-key-of-32-bytes-long";
        let rotated = TokenKeys::new(new_key, [SECRET], "iss-a".into(), "aud-a".into(), 60);
        assert_eq!(rotated.decode(&old_token, 1000).unwrap(), c);
        let (_, new_token) = issue(&rotated, 1000);
        assert_ne!(rotated.current_kid(), old.current_kid());
        assert!(new_token.starts_with(&URL_SAFE_NO_PAD.encode(format!(
            r#"{{"alg":"HS256","typ":"JWT","kid":"{}"}}"#,
            rotated.current_kid()
        ))));
        // The old key alone does not know the new kid.
        assert_eq!(old.decode(&new_token, 1000), Err(TokenError::Invalid));
        // Once the old key is dropped, its tokens are refused.
        let dropped = TokenKeys::new(new_key, [], "iss-a".into(), "aud-a".into(), 60);
        assert_eq!(dropped.decode(&old_token, 1000), Err(TokenError::Invalid));
        // A token claiming the new kid but signed with the old key.
        let p = serde_json::to_string(&c).unwrap();
        let h = format!(r#"{{"alg":"HS256","kid":"{}"}}"#, rotated.current_kid());
        assert_eq!(
            rotated.decode(&forge(&h, &p, SECRET), 1000),
            Err(TokenError::Invalid)
        );
    }

    proptest::proptest! {
        /// Any text, and any change to one character of a real token, is
        /// refused without a panic.
        #[test]
        fn arbitrary_input_is_refused_without_panic(
            text in "[A-Za-z0-9_.=+/-]{0,200}|\\PC{0,64}",
            index in 0usize..400,
            replacement in proptest::char::any(),
        ) {
            let k = keys();
            proptest::prop_assert!(k.decode(&text, 1000).is_err());
            let (_, token) = issue(&k, 1000);
            let mut chars: Vec<char> = token.chars().collect();
            let index = index % chars.len();
            proptest::prop_assume!(chars[index] != replacement);
            chars[index] = replacement;
            let changed: String = chars.into_iter().collect();
            proptest::prop_assert!(k.decode(&changed, 1000).is_err());
        }
    }

    #[test]
    fn debug_hides_keys() {
        let dbg = format!("{:?}", keys());
        assert!(!dbg.contains("0123456789abcdef"), "{dbg}");
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
