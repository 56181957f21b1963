//! `callback_verifier` and `forwarded_headers`: the signature callback's
//! head and body, and the HTTPS / trusted-proxy / client-address rules.

use std::net::SocketAddr;
use std::sync::OnceLock;

use axum::Router;
use axum::body::Body;
use http::{Extensions, Method, StatusCode, header};
use serde_json::{Value, json};
use tower_signing::ManualClock;
use tower_signing::utilsio::{
    self, CallbackPolicy, CallbackRejection, CallbackRequest, HttpsPolicy, SigningKey, Timestamp,
    TlsConnected, UtilsioState,
};

use super::fixtures::*;
use super::head::*;

/// The utilsio app of the callback fixtures.
pub const UTILSIO_APP_ID: &str = "fuzz-utilsio-app";
/// Its app hash (the HMAC key is this hex TEXT).
pub const UTILSIO_APP_HASH: &str =
    "2c9813b452ac80dde85016222a3c08e4f88e38a39a7f699d134fe9c5bf6d4ac1";
/// The sources the allow-listing policy accepts callbacks from.
pub const SOURCES: &str = "198.51.100.0/24";

/// The callback fixtures, built once.
pub struct CallbackFixtures {
    pub key: SigningKey,
    /// Default rules: strict HTTPS, any source.
    pub strict: CallbackPolicy,
    /// Trusted proxies ([`TRUSTED`]) and a source allow-list ([`SOURCES`]).
    pub proxied: CallbackPolicy,
    /// `utilsio::router` on the strict policy.
    pub router: Router,
    /// The auth-headers route (anonymous, for the JSON reader) on the same
    /// state.
    pub auth_headers: Router,
}

pub fn callback_fixtures() -> &'static CallbackFixtures {
    static FIXTURES: OnceLock<CallbackFixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let key = SigningKey::from_app_hash_hex(UTILSIO_APP_HASH).expect("fixture hash");
        let strict = CallbackPolicy::new(UTILSIO_APP_ID).with_clock(ManualClock::new(NOW));
        let proxied = strict
            .clone()
            .with_https(trusting_policy())
            .with_allowed_sources([SOURCES.parse().expect("fixture CIDR")]);
        let state = UtilsioState::with_policy(key.clone(), strict.clone());
        CallbackFixtures {
            router: utilsio::router(state.clone()),
            auth_headers: Router::new()
                .route(
                    utilsio::routes::AUTH_HEADERS_PATH,
                    utilsio::insecure_anonymous_auth_headers_route(),
                )
                .with_state(state),
            key,
            strict,
            proxied,
        }
    })
}

/// `hex(HMAC-SHA256(key = app hash text, message))`, computed here.
pub fn utilsio_signature(message: &str) -> String {
    hex::encode(hmac_sha256(UTILSIO_APP_HASH.as_bytes(), message.as_bytes()))
}

/// Asserts a callback rejection has a 4xx status and a message.
fn assert_rejection(e: &CallbackRejection) {
    assert!(e.status().is_client_error(), "{e:?}: {}", e.status());
    assert!(!e.body_text().trim().is_empty(), "{e:?}: empty message");
}

/// The four callback fields as serde_json reads `body`, and the canonical
/// message they make: `deviceId-appId-timestamp-additionalData`, the
/// timestamp an integer in decimal or a string of digits verbatim. `None`
/// unless all four are truthy and well-typed.
pub fn serde_callback(body: &[u8]) -> Option<(String, String, String, u64, String)> {
    let object = serde_object(body)?;
    let string = |name: &str| match object.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let (device_id, app_id, additional_data) = (
        string("deviceId")?,
        string("appId")?,
        string("additionalData")?,
    );
    let (seconds, written) = match object.get("timestamp")? {
        Value::Number(n) => {
            let n = n.as_u64().filter(|n| *n != 0)?;
            (n, n.to_string())
        }
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            (s.parse().ok()?, s.clone())
        }
        _ => return None,
    };
    let message = format!("{device_id}-{app_id}-{written}-{additional_data}");
    Some((device_id, app_id, additional_data, seconds, message))
}

/// Checks an accepted callback against serde_json's reading of the body it
/// came from: same fields, same canonical message; it re-serializes to a
/// body that parses to the same callback; the signature made for it is the
/// HMAC computed here and verifies. Returns the re-serialized body.
pub fn check_accepted_callback(callback: &CallbackRequest, body: &[u8]) -> String {
    let (device_id, app_id, additional_data, seconds, message) =
        serde_callback(body).expect("accepted a body serde_json does not read as a callback");
    assert_eq!(callback.device_id(), device_id);
    assert_eq!(callback.app_id(), app_id);
    assert_eq!(callback.additional_data(), additional_data);
    assert_eq!(callback.timestamp_seconds(), seconds);
    assert_eq!(callback.message().to_string(), message, "canonical message");

    let timestamp = match callback.timestamp() {
        Timestamp::Seconds(n) => json!(n),
        Timestamp::Text(t) => json!(t),
    };
    let again = json!({
        "deviceId": callback.device_id(),
        "appId": callback.app_id(),
        "additionalData": callback.additional_data(),
        "timestamp": timestamp,
    })
    .to_string();
    let reparsed = CallbackRequest::from_json(again.as_bytes()).expect("re-serialized parses");
    assert_eq!(&reparsed, callback, "re-serialized callback differs");
    assert_eq!(reparsed.message().to_string(), message);

    let key = &callback_fixtures().key;
    let signature = key.sign(callback.message());
    assert_eq!(signature.as_str(), utilsio_signature(&message));
    key.verify(callback.message(), signature.as_str())
        .expect("the signature made for an accepted callback verifies");
    again
}

/// `callback_verifier`: `data` is a head and body in the [`Head`] text form.
///
/// Through `CallbackPolicy::verify` (strict; and with trusted proxies and a
/// source allow-list) and through the `utilsio::router` route:
/// - accepted means: `POST`; exactly one `x-utilsio-origin`, equal to
///   `utilsio.dev`; HTTPS by the policy (in-process TLS, or forwarding
///   headers as read independently here); for the allow-list, the client
///   address in it; a body serde_json reads as the four truthy fields;
///   `|now - timestamp| <= 60`; this app's id. The callback re-serializes
///   to the same canonical message and its signature verifies.
/// - a refusal has a 4xx status and a message; the route answers exactly
///   what the core decided, and on 200 the signature computed here.
pub fn callback_verifier(data: &[u8]) -> bool {
    let Some((head, body)) = Head::parse(data) else {
        return false;
    };
    let fx = callback_fixtures();
    let parts = head.parts();
    let forwarding = Forwarding::read(&head.headers);
    let origin: Vec<&[u8]> = head
        .headers
        .get_all("x-utilsio-origin")
        .iter()
        .map(|v| v.as_bytes())
        .collect();

    for (policy, trusted) in [(&fx.strict, false), (&fx.proxied, true)] {
        match policy.verify(&parts, head.peer, body) {
            Ok(callback) => {
                assert_eq!(head.method, Method::POST);
                assert_eq!(
                    origin,
                    [b"utilsio.dev"],
                    "accepted without exactly one origin"
                );
                if !head.tls {
                    if trusted {
                        let peer = head.peer.expect("accepted forwarded values without a peer");
                        assert!(
                            is_trusted(peer.ip()),
                            "an untrusted peer's forwarding counted"
                        );
                        assert!(trusted_may_accept(&forwarding), "{forwarding:?}");
                    } else {
                        assert!(strict_may_accept(&forwarding), "{forwarding:?}");
                    }
                }
                if trusted {
                    let client = policy.https().client_addr(&head.headers, head.peer);
                    let client = client.expect("accepted from an unknown source");
                    let allowed: Cidr = SOURCES.parse().expect("fixture CIDR");
                    assert!(allowed.contains(client), "source {client} not allowed");
                }
                let seconds = callback.timestamp_seconds();
                assert!(
                    seconds.abs_diff(NOW) <= 60,
                    "timestamp {seconds} outside the window"
                );
                assert_eq!(callback.app_id(), UTILSIO_APP_ID);
                let again = check_accepted_callback(&callback, body);
                // The re-serialized body passes under the same head.
                let again = policy.verify(&parts, head.peer, again.as_bytes());
                assert_eq!(again.as_ref(), Ok(&callback), "re-serialized body refused");
            }
            Err(e) => assert_rejection(&e),
        }
    }

    // The route, on the strict policy. A declared length the fuzzer wrote
    // would not match the body given here: leave framing to the server.
    // The route is found by path; the verifier never reads the target.
    let mut request = head.request(Body::from(body.to_vec()));
    if request.uri().path() != utilsio::routes::CALLBACK_PATH {
        *request.uri_mut() = http::Uri::from_static(utilsio::routes::CALLBACK_PATH);
    }
    request.headers_mut().remove(header::CONTENT_LENGTH);
    request.headers_mut().remove(header::TRANSFER_ENCODING);
    let mut parts = head.parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::TRANSFER_ENCODING);
    let core = fx.strict.verify(&parts, head.peer, body);
    let accepted = core.is_ok();
    let (status, _, answer) = send(&fx.router, request);
    match core {
        Ok(callback) => {
            assert_eq!(
                status,
                StatusCode::OK,
                "the route refused what the core accepted"
            );
            let answer: Value = serde_json::from_slice(&answer).expect("a JSON answer");
            let message = callback.message().to_string();
            assert_eq!(answer["signature"], json!(utilsio_signature(&message)));
            assert_eq!(answer["timestamp"], json!(callback.timestamp().to_string()));
        }
        Err(e) => {
            assert_eq!(status, e.status(), "the route and the core disagree: {e:?}");
            assert_refusal(status, &answer);
        }
    }
    accepted
}

/// `forwarded_headers`: `data` is a head in the [`Head`] text form (any
/// body is ignored).
///
/// - `TlsConnected` is always HTTPS; `HttpsPolicy::off()` allows anything.
/// - The strict policy accepts only a head with one scheme value in all
///   (never a list, a repeated line, several `Forwarded` elements or
///   `proto`s, or a `Forwarded` that disagrees), and it `https`.
/// - With trusted proxies, forwarded values count only from a trusted peer
///   (an untrusted or unknown peer is never HTTPS without TLS), and then the
///   rightmost ones decide.
/// - The client address is the peer itself unless the peer is trusted;
///   behind trusted proxies it is an address from `X-Forwarded-For`, the
///   rightmost one that is not a trusted proxy.
pub fn forwarded_headers(data: &[u8]) -> bool {
    let Some((head, _)) = Head::parse(data) else {
        return false;
    };
    let headers = &head.headers;
    let forwarding = Forwarding::read(headers);
    let plain = Extensions::new();
    let mut tls = Extensions::new();
    tls.insert(TlsConnected);
    let strict = HttpsPolicy::required();
    let trusting = trusting_policy();
    let peer = head.peer;

    for policy in [&strict, &trusting] {
        assert!(policy.is_https(headers, &tls, peer), "TLS is HTTPS");
        assert_eq!(
            policy.allows(headers, &plain, peer),
            policy.is_https(headers, &plain, peer)
        );
    }
    assert!(HttpsPolicy::off().allows(headers, &plain, peer));

    let accepted = strict.is_https(headers, &plain, peer);
    if accepted {
        assert!(
            strict_may_accept(&forwarding),
            "the strict policy accepted {forwarding:?}"
        );
    }
    let peer_trusted = peer.is_some_and(|p| is_trusted(p.ip()));
    if trusting.is_https(headers, &plain, peer) {
        assert!(peer_trusted, "forwarded values counted from {peer:?}");
        assert!(
            trusted_may_accept(&forwarding),
            "accepted behind a proxy: {forwarding:?}"
        );
    }

    // The client address.
    assert_eq!(
        strict.client_addr(headers, peer),
        peer.map(|p| p.ip().to_canonical()),
        "without trusted proxies the client is the peer"
    );
    let client = trusting.client_addr(headers, peer);
    match peer {
        None => assert_eq!(client, None),
        Some(p) if !peer_trusted => assert_eq!(client, Some(p.ip().to_canonical())),
        // A line that is not visible ASCII makes the forwarded list unreadable.
        Some(_)
            if headers
                .get_all("x-forwarded-for")
                .iter()
                .any(|v| v.to_str().is_err()) =>
        {
            assert_eq!(client, None, "an unreadable X-Forwarded-For was used");
        }
        Some(p) => {
            let items: Vec<String> = headers
                .get_all("x-forwarded-for")
                .iter()
                .flat_map(|v| v.as_bytes().split(|&b| b == b','))
                .map(|item| String::from_utf8_lossy(item).trim().to_owned())
                .collect();
            let parse = |item: &str| {
                item.parse::<std::net::IpAddr>()
                    .or_else(|_| item.parse::<SocketAddr>().map(|s| s.ip()))
                    .ok()
                    .map(|ip| ip.to_canonical())
            };
            // Walk from the right: skip trusted proxies, stop at the first
            // other address; an unreadable item makes the address unknown.
            let mut expected = Some(p.ip().to_canonical());
            for item in items.iter().rev() {
                expected = parse(item);
                match expected {
                    Some(addr) if is_trusted(addr) => continue,
                    _ => break,
                }
            }
            assert_eq!(client, expected, "client address behind {p}");
        }
    }
    accepted
}
