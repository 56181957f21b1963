//! What every property shares: a fixed clock, a gateway with two apps built
//! once, a per-thread tokio runtime, an independent HMAC, and the check that
//! a refusal is a 4xx JSON `{"error": "..."}` with a non-empty message.

use std::future::Future;
use std::sync::OnceLock;

use axum::Router;
use axum::body::{Body, Bytes};
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, Request, StatusCode};
use sha2::Sha256;
use tower::ServiceExt;
use tower_signing::ManualClock;
use tower_signing::macrofy::gateway::{Gateway, GatewayConfig, InMemoryAppRegistry};

/// The fixed time every fixture reads (2023-11-14).
pub const NOW: u64 = 1_700_000_000;

/// The gateway's current JWT key and a previous one it still accepts.
pub const JWT_CURRENT: &[u8] = b"fuzz-jwt-current-key-32-bytes-long";
pub const JWT_PREVIOUS: &[u8] = b"fuzz-jwt-previous-key-32-bytes-lng";
/// A key the gateway has never had.
pub const JWT_UNKNOWN: &[u8] = b"fuzz-jwt-unknown-key-32-bytes-long";

/// Registered apps and their secrets (the second during a rotation: it
/// accepts either secret).
pub const APPS: &[(&str, &[&str])] = &[
    ("fuzzAppOne1", &["84a3bd76fb55167fa40159038c7dbb27"]),
    ("fuzz_app-two", &["new-secret-two", "old-secret-two"]),
];

/// The user ids of the tokens in [`Fixtures::tokens`].
pub const TOKEN_USERS: &[&str] = &["alice", "user-2", "ü"];

/// Built once per process.
pub struct Fixtures {
    pub gateway: Gateway,
    pub router: Router,
    /// The `kid` the gateway gives [`JWT_PREVIOUS`] (read from a gateway
    /// signing with it, not recomputed).
    pub previous_kid: String,
    /// The `kid` a gateway would give [`JWT_UNKNOWN`].
    pub unknown_kid: String,
    /// Tokens the gateway issued at [`NOW`], one per [`TOKEN_USERS`] entry
    /// for the first app.
    pub tokens: Vec<String>,
}

fn build_gateway(current: &[u8], previous: Option<&[u8]>) -> Gateway {
    let mut apps = InMemoryAppRegistry::new();
    for (app_id, secrets) in APPS {
        apps = match secrets {
            [one] => apps.with_app(app_id, one),
            [current, previous] => apps.with_app_secrets(app_id, [current, previous]),
            _ => unreachable!("one or two secrets per app"),
        }
        .expect("fixture app registers");
    }
    let mut config = GatewayConfig::new(apps, current)
        .with_clock(ManualClock::new(NOW))
        .with_sandbox_user_limit(None);
    if let Some(previous) = previous {
        config = config.with_previous_jwt_key(previous);
    }
    config.build().expect("fixture gateway builds")
}

/// The shared fixtures (built on first use, outside any runtime).
pub fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let gateway = build_gateway(JWT_CURRENT, Some(JWT_PREVIOUS));
        let previous_kid = build_gateway(JWT_PREVIOUS, None).jwt_key_id().to_owned();
        let unknown_kid = build_gateway(JWT_UNKNOWN, None).jwt_key_id().to_owned();
        let (app_id, secrets) = APPS[0];
        let tokens = TOKEN_USERS
            .iter()
            .map(|user| {
                let payload = tower_signing::macrofy::SigningKey::new(secrets[0])
                    .expect("fixture secret")
                    .payload(app_id, user);
                block_on(gateway.connect(&payload))
                    .expect("fixture connect")
                    .token
            })
            .collect();
        Fixtures {
            router: gateway.router(),
            gateway,
            previous_kid,
            unknown_kid,
            tokens,
        }
    })
}

/// Runs `fut` to completion on this thread's current-thread runtime.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("tokio runtime");
    }
    RUNTIME.with(|rt| rt.block_on(fut))
}

/// Sends `request` through `router` and collects the answer.
pub fn send(router: &Router, request: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
    block_on(async {
        let response = router
            .clone()
            .oneshot(request)
            .await
            .expect("a router never fails");
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, 1 << 20)
            .await
            .expect("the crate's answers are small");
        (parts.status, parts.headers, body)
    })
}

/// `POST path` with `body` as JSON.
pub fn post_json(path: &str, body: &[u8]) -> Request<Body> {
    Request::post(path)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_vec()))
        .expect("a valid request")
}

/// HMAC-SHA256, computed independently of the crate.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Asserts a refusal: a 4xx with a JSON `{"error": "<non-empty>"}` body.
pub fn assert_refusal(status: StatusCode, body: &[u8]) {
    assert!(
        status.is_client_error(),
        "a refusal must be a 4xx, got {status}: {}",
        String::from_utf8_lossy(body)
    );
    let value: serde_json::Value = serde_json::from_slice(body).expect("a refusal body is JSON");
    let message = value
        .get("error")
        .and_then(serde_json::Value::as_str)
        .expect("a refusal body has an error string");
    assert!(!message.trim().is_empty(), "empty error message");
}

/// The JSON object serde_json reads from `data`, if any.
pub fn serde_object(data: &[u8]) -> Option<serde_json::Map<String, serde_json::Value>> {
    match serde_json::from_slice(data) {
        Ok(serde_json::Value::Object(map)) => Some(map),
        _ => None,
    }
}
