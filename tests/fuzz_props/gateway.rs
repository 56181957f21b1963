//! `gateway_connect` and `bearer_jwt`: the gateway's connect body and its
//! session tokens.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, HeaderValue, header};
use serde_json::Value;
use tower_signing::macrofy::gateway::{Claims, DEFAULT_AUDIENCE, DEFAULT_ISSUER, TokenError};
use tower_signing::macrofy::{CONNECT_PATH, Session, SignaturePayload};

use super::fixtures::*;

/// Whether `signature` (hex, either case) is the HMAC-SHA256 of `user_id`
/// under one of the registered secrets of `app_id`, computed here with
/// hmac + sha2 rather than by the crate.
fn signed_by_app(app_id: &str, user_id: &str, signature: &str) -> bool {
    let Ok(given) = hex::decode(signature) else {
        return false;
    };
    APPS.iter()
        .filter(|(id, _)| *id == app_id)
        .flat_map(|(_, secrets)| secrets.iter())
        .any(|secret| hmac_sha256(secret.as_bytes(), user_id.as_bytes())[..] == given[..])
}

/// The three fields as serde_json reads them, when all are strings.
fn payload_of(map: &serde_json::Map<String, Value>) -> Option<SignaturePayload> {
    let field = |name: &str| map.get(name)?.as_str().map(str::to_owned);
    Some(SignaturePayload {
        app_id: field("appId")?,
        user_id: field("userId")?,
        signature: field("signature")?,
    })
}

/// `gateway_connect`: `data` is the body of `POST /api/auth/connect`.
///
/// - The route (and `Gateway::connect` on the same fields) admits only a
///   payload whose signature is the HMAC of its userId under the app's
///   secret (computed independently); the session names that app and user
///   and its token verifies.
/// - A refusal is a 4xx JSON error with a message; a well-formed payload
///   with a valid signature is never refused (the sandbox has no limit).
/// - The fields the route acted on equal serde_json's parse of the body.
pub fn gateway_connect(data: &[u8]) -> bool {
    let fx = fixtures();
    let (status, _, body) = send(&fx.router, post_json(CONNECT_PATH, data));
    let object = serde_object(data);
    let payload = object.as_ref().and_then(payload_of);
    let valid = payload.as_ref().is_some_and(|p| {
        p.validate().is_ok() && signed_by_app(&p.app_id, &p.user_id, &p.signature)
    });

    if status.is_success() {
        let session: Session = serde_json::from_slice(&body).expect("200 answers {token, user}");
        let p = payload
            .as_ref()
            .expect("admitted a body whose fields serde_json does not read as three strings");
        assert!(
            signed_by_app(&p.app_id, &p.user_id, &p.signature),
            "admitted a signature that is not the HMAC of the userId"
        );
        assert_eq!(session.user.app_id, p.app_id);
        assert_eq!(session.user.external_id, p.user_id);
        let claims = fx
            .gateway
            .verify_token(&session.token)
            .expect("an issued token verifies");
        assert_eq!(claims.sub, session.user.id);
        assert_eq!(claims.app_id, p.app_id);
        assert_eq!(claims.external_id, p.user_id);
    } else {
        assert_refusal(status, &body);
        assert!(!valid, "refused a valid payload with {status}");
    }

    // The same fields without HTTP.
    if let Some(p) = &payload {
        match block_on(fx.gateway.connect(p)) {
            Ok(session) => {
                assert!(
                    signed_by_app(&p.app_id, &p.user_id, &p.signature),
                    "Gateway::connect admitted a signature that is not the HMAC of the userId"
                );
                assert!(
                    status.is_success(),
                    "connect admitted what the route refused"
                );
                assert_eq!(session.user.external_id, p.user_id);
            }
            Err(e) => {
                assert!(!valid, "Gateway::connect refused a valid payload: {e}");
                assert!(!e.to_string().is_empty());
                assert!(e.status().is_client_error(), "{e}: {}", e.status());
            }
        }
    }
    status.is_success()
}

/// `bearer_jwt`: the first byte picks a mode, the rest is its input.
///
/// - `0`: the rest as a token (lossy UTF-8) and as an `Authorization`
///   header value: only a token made with one of the gateway's keys (checked
///   independently: canonical encoding, tag, strict header, claims)
///   verifies; any other text is refused with a message.
/// - `1`: a real token (second byte picks it) edited by the rest, three
///   bytes per edit (position high, low, action): it verifies exactly when
///   the edits left it unchanged.
/// - `2`: a token made here: the second byte picks the key (current,
///   previous, unknown), the rest is `header-json \n payload-json`, encoded
///   and HMAC-signed independently. It verifies only with a known key, a
///   header of exactly `alg: HS256`, `kid` naming that key and optionally
///   `typ: JWT` (no other or repeated field: so `alg: none`, `HS512`,
///   `jku`, `crit`... never verify), and claims with this gateway's issuer
///   and audience, `exp` after now and `iat` at most a minute ahead; and
///   then the claims returned are the payload's. Such a token is never
///   refused either.
pub fn bearer_jwt(data: &[u8]) -> bool {
    let Some((&mode, rest)) = data.split_first() else {
        return false;
    };
    match mode % 3 {
        0 => arbitrary_text(rest),
        1 => edited_token(rest),
        _ => forged_token(rest),
    }
}

fn check_verify(token: &str) -> Result<Claims, TokenError> {
    let fx = fixtures();
    let result = fx.gateway.verify_token(token);
    if let Err(e) = &result {
        assert!(!e.to_string().is_empty());
    }
    // The bearer header path agrees with the token path.
    if let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}")) {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, value);
        let bearer = fx.gateway.verify_bearer(&headers);
        if !token.is_empty() && !token.contains(' ') && token.trim() == token {
            // The error kind may differ (a header that is not visible ASCII
            // is malformed before it is a token), acceptance may not.
            assert_eq!(
                bearer.as_ref().ok(),
                result.as_ref().ok(),
                "verify_bearer and verify_token disagree"
            );
        } else if bearer.is_ok() {
            assert!(
                made_with_gateway_key(token.trim()),
                "a bearer token the gateway did not issue verified"
            );
        }
    }
    result
}

/// Whether `token` is, checked here independently of the crate, a canonical
/// compact JWS signed by a key the gateway has (current or previous), with
/// a strict header naming that key and acceptable claims: a token only the
/// gateway (or another holder of its keys) can have made.
fn made_with_gateway_key(token: &str) -> bool {
    let fx = fixtures();
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, tag] = parts[..] else {
        return false;
    };
    let (Ok(header), Ok(payload), Ok(tag)) = (
        URL_SAFE_NO_PAD.decode(header),
        URL_SAFE_NO_PAD.decode(payload),
        URL_SAFE_NO_PAD.decode(tag),
    ) else {
        return false;
    };
    let input = &token[..token.len() - parts[2].len() - 1];
    [
        (JWT_CURRENT, fx.gateway.jwt_key_id()),
        (JWT_PREVIOUS, fx.previous_kid.as_str()),
    ]
    .iter()
    .any(|(key, kid)| {
        hmac_sha256(key, input.as_bytes())[..] == tag[..]
            && header_is_strict(&header, kid)
            && claims_acceptable(&payload)
    })
}

/// Claims this gateway accepts at [`NOW`].
fn claims_acceptable(payload: &[u8]) -> bool {
    serde_json::from_slice::<Claims>(payload).is_ok_and(|c| {
        c.iss == DEFAULT_ISSUER && c.aud == DEFAULT_AUDIENCE && c.exp > NOW && c.iat <= NOW + 60
    })
}

fn arbitrary_text(rest: &[u8]) -> bool {
    let fx = fixtures();
    let text = String::from_utf8_lossy(rest);
    let verified = check_verify(&text).is_ok();
    if verified {
        assert!(
            made_with_gateway_key(&text),
            "a token the gateway did not make verified"
        );
    }
    // The same bytes as a whole Authorization header value.
    if let Ok(value) = HeaderValue::from_bytes(rest) {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, value);
        match fx.gateway.verify_bearer(&headers) {
            Ok(_) => {
                let text = std::str::from_utf8(rest).expect("an accepted header is text");
                let (scheme, token) = text
                    .split_once(' ')
                    .expect("an accepted header has a scheme");
                assert!(
                    scheme.eq_ignore_ascii_case("bearer"),
                    "scheme {scheme:?} accepted"
                );
                assert!(
                    made_with_gateway_key(token.trim()),
                    "a bearer token the gateway did not make verified"
                );
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
    verified
}

const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn edited_token(rest: &[u8]) -> bool {
    let fx = fixtures();
    let Some((&pick, edits)) = rest.split_first() else {
        return false;
    };
    let original = &fx.tokens[usize::from(pick) % fx.tokens.len()];
    let mut token = original.as_bytes().to_vec();
    for edit in edits.chunks_exact(3) {
        let at = usize::from(u16::from_be_bytes([edit[0], edit[1]])) % (token.len() + 1);
        match edit[2] {
            // Delete a character.
            0x00..=0x1f => {
                if at < token.len() {
                    token.remove(at);
                }
            }
            // Replace one with a printable ASCII character.
            b @ 0x20..=0x7f => {
                if at < token.len() {
                    token[at] = b;
                } else {
                    token.push(b);
                }
            }
            // Insert a base64url character (or a dot).
            b => token.insert(
                at,
                if b == 0xff {
                    b'.'
                } else {
                    B64URL[usize::from(b % 64)]
                },
            ),
        }
    }
    let token = String::from_utf8(token).expect("edits keep ASCII");
    let result = check_verify(&token);
    if token == *original {
        let claims = result.expect("an issued token verifies");
        assert_eq!(
            Some(&claims),
            fx.gateway.verify_token(original).ok().as_ref()
        );
        true
    } else {
        assert!(result.is_err(), "an edited token verified: {token}");
        false
    }
}

/// The keys of a JSON object in order, repeats kept (serde_json's `Map`
/// would keep only the last), or `None` if `bytes` is not an object.
fn object_entries(bytes: &[u8]) -> Option<Vec<(String, Value)>> {
    struct Entries(Vec<(String, Value)>);
    impl<'de> serde::Deserialize<'de> for Entries {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visitor;
            impl<'de> serde::de::Visitor<'de> for Visitor {
                type Value = Entries;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Entries, A::Error> {
                    let mut entries = Vec::new();
                    while let Some(entry) = map.next_entry()? {
                        entries.push(entry);
                    }
                    Ok(Entries(entries))
                }
            }
            d.deserialize_map(Visitor)
        }
    }
    serde_json::from_slice::<Entries>(bytes).ok().map(|e| e.0)
}

/// Whether a JWS header is one the gateway may accept for `kid`: exactly
/// `alg: "HS256"`, `kid`, and optionally `typ: "JWT"` (or `null`), each
/// once.
fn header_is_strict(header: &[u8], kid: &str) -> bool {
    let Some(entries) = object_entries(header) else {
        return false;
    };
    let count = |name: &str| entries.iter().filter(|(k, _)| k == name).count();
    let get = |name: &str| entries.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    entries.len() == count("alg") + count("kid") + count("typ")
        && count("alg") == 1
        && count("kid") == 1
        && count("typ") <= 1
        && get("alg") == Some(&Value::from("HS256"))
        && get("kid") == Some(&Value::from(kid))
        && (matches!(get("typ"), None | Some(Value::Null))
            || get("typ") == Some(&Value::from("JWT")))
}

fn forged_token(rest: &[u8]) -> bool {
    let fx = fixtures();
    let Some((&pick, rest)) = rest.split_first() else {
        return false;
    };
    let (key, kid): (&[u8], &str) = match pick % 3 {
        0 => (JWT_CURRENT, fx.gateway.jwt_key_id()),
        1 => (JWT_PREVIOUS, &fx.previous_kid),
        _ => (JWT_UNKNOWN, &fx.unknown_kid),
    };
    let (header, payload) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let mut token = URL_SAFE_NO_PAD.encode(header);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut token);
    let tag = hmac_sha256(key, token.as_bytes());
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(tag, &mut token);

    let claims = serde_json::from_slice::<Claims>(payload).ok();
    let acceptable =
        key != JWT_UNKNOWN && header_is_strict(header, kid) && claims_acceptable(payload);
    match check_verify(&token) {
        Ok(got) => {
            assert!(
                key != JWT_UNKNOWN,
                "a token signed with an unknown key verified"
            );
            assert!(
                header_is_strict(header, kid),
                "a token with a non-strict header verified: {}",
                String::from_utf8_lossy(header)
            );
            assert!(acceptable, "a token with bad claims verified: {got:?}");
            assert_eq!(Some(got), claims, "returned claims differ from the payload");
            true
        }
        Err(e) => {
            assert!(
                !acceptable || token.len() > 8 * 1024,
                "a well-formed token signed with a known key was refused: {e}"
            );
            false
        }
    }
}
