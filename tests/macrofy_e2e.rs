//! Macrofy end to end over loopback sockets: app backend routes → local
//! gateway → session JWT; quota; concurrency; every 400 of the gateway; the
//! bearer-protected route.
#![cfg(all(feature = "gateway", feature = "client"))]

mod macrofy_common;

use std::collections::HashSet;

use axum::Router;
use http::{Method, StatusCode};
use macrofy_common::*;
use tower_signing::ManualClock;
use tower_signing::macrofy::client::{ClientError, MacrofyClient};
use tower_signing::macrofy::gateway::{
    Claims, DEFAULT_AUDIENCE, DEFAULT_ISSUER, SESSION_PATH as GATEWAY_SESSION_PATH,
    TOKEN_TTL_SECONDS,
};
use tower_signing::macrofy::routes::{self, MacrofyConfig, SESSION_PATH, SIGNATURE_PATH};
use tower_signing::macrofy::{CONNECT_PATH, DEMO_APP_ID, DEMO_APP_SECRET, SigningKey};

fn demo_key() -> SigningKey {
    SigningKey::new(DEMO_APP_SECRET).unwrap()
}

async fn backend(gateway_url: &str, secret: &str) -> Server {
    let config = MacrofyConfig::new(DEMO_APP_ID, secret)
        .unwrap()
        .with_base_url(gateway_url)
        .unwrap();
    serve(Router::new().merge(routes::router::<TestUser, _>(config))).await
}

/// Verifies `token` independently of the crate's JWT code, with the
/// gateway's key: an HS256 header, HMAC-SHA256 over `header.payload`, then
/// the issuer and audience.
fn verify_independently(token: &str) -> Claims {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use hmac::{KeyInit, Mac};
    let (input, signature) = token.rsplit_once('.').unwrap();
    let (header, payload) = input.split_once('.').unwrap();
    let header: serde_json::Value = serde_json::from_slice(&B64.decode(header).unwrap()).unwrap();
    assert_eq!(header["alg"], "HS256");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(JWT_SECRET.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    mac.verify_slice(&B64.decode(signature).unwrap())
        .expect("the session JWT verifies with the gateway's key");
    let claims: Claims = serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap();
    assert_eq!(claims.iss, DEFAULT_ISSUER);
    assert_eq!(claims.aud, DEFAULT_AUDIENCE);
    claims
}

#[tokio::test]
async fn three_party_handshake() {
    let (gateway, gw) = gateway(Some(10)).await;
    let app = backend(&gw.url(), DEMO_APP_SECRET).await;

    // 1. SPEC 2.2: the backend signs for the device.
    let signed = post_as(&format!("{}{SIGNATURE_PATH}", app.url()), "user-42", "").await;
    assert_eq!(signed.status, StatusCode::OK);
    let signed = signed.json();
    assert_eq!(signed["appId"], DEMO_APP_ID);
    assert_eq!(signed["userId"], "user-42");
    assert_eq!(
        signed["signature"],
        demo_key().sign_user_id("user-42").as_str()
    );

    // 2. The device (or the client) hands the triple to the gateway.
    let client = MacrofyClient::builder().base_url(gw.url()).build().unwrap();
    let payload = serde_json::from_value(signed).unwrap();
    let session = bounded(client.connect(&payload)).await.unwrap();
    assert!(client.is_connected());
    assert_eq!(client.session_user().unwrap(), session.user);
    assert_eq!(session.user.app_id, DEMO_APP_ID);
    assert_eq!(session.user.external_id, "user-42");
    assert!(!session.user.id.contains("user-42"));
    assert_eq!(
        session.user.id,
        gateway.scoped_user_id(DEMO_APP_ID, "user-42")
    );

    let claims = verify_independently(&session.token);
    assert_eq!(claims.sub, session.user.id);
    assert_eq!(claims.app_id, DEMO_APP_ID);
    assert_eq!(claims.external_id, "user-42");
    assert_eq!(claims.exp - claims.iat, TOKEN_TTL_SECONDS);
    assert_eq!(claims.iss, DEFAULT_ISSUER);
    assert_eq!(claims.aud, DEFAULT_AUDIENCE);
    assert_eq!(claims.jti.len(), 32);
    assert!(claims.jti.bytes().all(|b| b.is_ascii_hexdigit()));

    // 3. The recommended flow: the backend connects and returns only {token, user}.
    let proxied = post_as(&format!("{}{SESSION_PATH}", app.url()), "user-42", "").await;
    assert_eq!(proxied.status, StatusCode::OK);
    let v = proxied.json();
    let keys: HashSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, HashSet::from(["token", "user"]));
    let text = String::from_utf8_lossy(&proxied.body);
    assert!(!text.contains(DEMO_APP_SECRET));
    assert!(!text.contains(demo_key().sign_user_id("user-42").as_str()));
    let proxied_claims = verify_independently(v["token"].as_str().unwrap());
    assert_eq!(
        proxied_claims.sub, session.user.id,
        "same (appId, userId), same id"
    );
    assert_ne!(proxied_claims.jti, claims.jti);

    // 4. The token opens the gateway's protected route.
    let me = request(
        Method::GET,
        &format!("{}{GATEWAY_SESSION_PATH}", gw.url()),
        "",
        &[("authorization", &format!("Bearer {}", session.token))],
    )
    .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["externalId"], "user-42");

    app.shutdown().await;
    gw.shutdown().await;
}

#[tokio::test]
async fn invalid_signature_is_a_typed_401() {
    let (_gateway, gw) = gateway(None).await;
    let client = MacrofyClient::builder().base_url(gw.url()).build().unwrap();
    let mut payload = demo_key().payload(DEMO_APP_ID, "u1");
    payload.signature = demo_key().sign_user_id("u2").to_hex();
    let err = bounded(client.connect(&payload)).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Unauthorized { message } if message == "Invalid signature"),
        "{err:?}"
    );
    assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED));
    assert!(!client.is_connected());

    let unknown = SigningKey::new("x").unwrap().payload("unknown_app", "u1");
    let err = bounded(client.exchange(&unknown)).await.unwrap_err();
    assert!(matches!(&err, ClientError::Unauthorized { message } if message == "Unknown appId"));

    // Through the backend with the wrong secret: the 401 passes through
    // with the crate's own message (SPEC 3.3).
    let app = backend(&gw.url(), "not-the-demo-secret").await;
    let res = post_as(&format!("{}{SESSION_PATH}", app.url()), "u1", "").await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert_eq!(res.error(), "Macrofy refused the app's credentials");
}

#[tokio::test]
async fn quota_of_two_refuses_the_third_user_but_not_a_returning_one() {
    let (_gateway, gw) = gateway(Some(2)).await;
    let client = MacrofyClient::builder().base_url(gw.url()).build().unwrap();
    let key = demo_key();
    for user in ["user-1", "user-2"] {
        bounded(client.connect(&key.payload(DEMO_APP_ID, user)))
            .await
            .unwrap();
    }
    let err = bounded(client.connect(&key.payload(DEMO_APP_ID, "user-3")))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::QuotaExceeded { message } if message == "Sandbox quota exceeded"),
        "{err:?}"
    );
    let again = bounded(client.connect(&key.payload(DEMO_APP_ID, "user-1")))
        .await
        .unwrap();
    assert_eq!(again.user.external_id, "user-1");

    // The backend passes the 403 through (with its own message).
    let app = backend(&gw.url(), DEMO_APP_SECRET).await;
    let res = post_as(&format!("{}{SESSION_PATH}", app.url()), "user-4", "").await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(res.error(), "Macrofy sandbox quota exceeded");
    let res = post_as(&format!("{}{SESSION_PATH}", app.url()), "user-2", "").await;
    assert_eq!(res.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_connects_with_limit_ten_admit_exactly_ten() {
    let (_gateway, gw) = gateway(Some(10)).await;
    let client = MacrofyClient::builder().base_url(gw.url()).build().unwrap();
    let key = demo_key();
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let client = client.clone();
            let payload = key.payload(DEMO_APP_ID, &format!("concurrent-{i}"));
            tokio::spawn(async move {
                let result = client.exchange(&payload).await;
                (payload, result)
            })
        })
        .collect();
    let mut admitted = Vec::new();
    let mut refused = 0;
    for task in tasks {
        let (payload, result) = bounded(task).await.unwrap();
        match result {
            Ok(_) => admitted.push(payload),
            Err(ClientError::QuotaExceeded { .. }) => refused += 1,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(admitted.len(), 10);
    assert_eq!(refused, 40);
    // Every admitted user can come back.
    for payload in &admitted {
        bounded(client.exchange(payload)).await.unwrap();
    }
}

#[tokio::test]
async fn every_gateway_validation_case_is_a_400_naming_the_field() {
    let (_gateway, gw) = gateway(None).await;
    let url = format!("{}{CONNECT_PATH}", gw.url());
    let sig = demo_key().sign_user_id("u").to_hex();
    let long_user = "u".repeat(257);
    let cases: Vec<(String, &str)> = vec![
        (
            r#"{"userId":"u","signature":"SIG"}"#.into(),
            "Missing appId",
        ),
        (
            r#"{"appId":"","userId":"u","signature":"SIG"}"#.into(),
            "Missing appId",
        ),
        (
            r#"{"appId":null,"userId":"u","signature":"SIG"}"#.into(),
            "Missing appId",
        ),
        (
            r#"{"appId":1234567890,"userId":"u","signature":"SIG"}"#.into(),
            "appId must be a string",
        ),
        (
            r#"{"appId":"short","userId":"u","signature":"SIG"}"#.into(),
            "appId must be 10-12 characters from A-Za-z0-9_-",
        ),
        (
            r#"{"appId":"abcdefghijklm","userId":"u","signature":"SIG"}"#.into(),
            "appId must be 10-12 characters from A-Za-z0-9_-",
        ),
        (
            r#"{"appId":"abcdefghi!","userId":"u","signature":"SIG"}"#.into(),
            "appId must be 10-12 characters from A-Za-z0-9_-",
        ),
        (
            r#"{"appId":"APP","signature":"SIG"}"#.into(),
            "Missing userId",
        ),
        (
            r#"{"appId":"APP","userId":"","signature":"SIG"}"#.into(),
            "Missing userId",
        ),
        (
            r#"{"appId":"APP","userId":7,"signature":"SIG"}"#.into(),
            "userId must be a string",
        ),
        (
            format!(r#"{{"appId":"APP","userId":"{long_user}","signature":"SIG"}}"#),
            "userId must be at most 256 bytes",
        ),
        (
            r#"{"appId":"APP","userId":"u"}"#.into(),
            "Missing signature",
        ),
        (
            r#"{"appId":"APP","userId":"u","signature":""}"#.into(),
            "Missing signature",
        ),
        (
            r#"{"appId":"APP","userId":"u","signature":["x"]}"#.into(),
            "signature must be a string",
        ),
        (
            r#"{"appId":"APP","userId":"u","signature":"abc"}"#.into(),
            "signature must be 64 hex characters",
        ),
        (
            format!(
                r#"{{"appId":"APP","userId":"u","signature":"{}"}}"#,
                "g".repeat(64)
            ),
            "signature must be 64 hex characters",
        ),
        (
            format!(r#"{{"appId":"APP","userId":"u","signature":"{}0"}}"#, sig),
            "signature must be 64 hex characters",
        ),
        ("[]".into(), "Request body must be a JSON object"),
        ("\"text\"".into(), "Request body must be a JSON object"),
    ];
    for (body, message) in cases {
        let body = body.replace("APP", DEMO_APP_ID).replace("SIG", &sig);
        let res = post(&url, body.clone()).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(res.error(), message, "{body}");
        assert_eq!(res.headers["content-type"], "application/json");
    }
    for malformed in ["", "{", "{\"appId\":", "not json"] {
        let res = post(&url, malformed).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{malformed:?}");
        assert!(
            res.error().starts_with("Invalid JSON body: "),
            "{}",
            res.error()
        );
    }
    // No content-type at all still parses.
    let ok = demo_key().payload(DEMO_APP_ID, "u");
    let res = request(Method::POST, &url, serde_json::to_vec(&ok).unwrap(), &[]).await;
    assert_eq!(res.status, StatusCode::OK);
    // Over the 16 KiB limit: 413.
    let huge = format!(
        r#"{{"appId":"{}","pad":"{}"}}"#,
        DEMO_APP_ID,
        "x".repeat(20_000)
    );
    let res = post(&url, huge).await;
    assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(res.error().contains("16384"), "{}", res.error());
}

#[tokio::test]
async fn bearer_protected_route_refuses_missing_expired_forged_and_wrong_audience() {
    let clock = ManualClock::new(1_700_000_000);
    let gateway = gateway_config(None)
        .with_clock(clock.clone())
        .build()
        .unwrap();
    let gw = serve(gateway.router()).await;
    let other_audience = gateway_config(None)
        .with_clock(clock.clone())
        .with_audience("someone-else")
        .build()
        .unwrap();
    let key = demo_key();
    let token = gateway
        .connect(&key.payload(DEMO_APP_ID, "u1"))
        .await
        .unwrap()
        .token;
    let foreign = other_audience
        .connect(&key.payload(DEMO_APP_ID, "u1"))
        .await
        .unwrap()
        .token;
    let (head, rest) = token.split_at(token.len() - 4);
    let forged = format!("{head}{}", if rest == "AAAA" { "BBBB" } else { "AAAA" });
    let url = format!("{}{GATEWAY_SESSION_PATH}", gw.url());

    let get = |auth: Option<String>| {
        let url = url.clone();
        async move {
            let auth = auth.unwrap_or_default();
            let headers: Vec<(&str, &str)> = if auth.is_empty() {
                vec![]
            } else {
                vec![("authorization", auth.as_str())]
            };
            request(Method::GET, &url, "", &headers).await
        }
    };
    let ok = get(Some(format!("Bearer {token}"))).await;
    assert_eq!(ok.status, StatusCode::OK);
    for (auth, message) in [
        (None, "Missing bearer token"),
        (Some(format!("Bearer {forged}")), "Invalid token"),
        (Some(format!("Bearer {foreign}")), "Invalid token"),
        (
            Some(format!("Basic {token}")),
            "Authorization must be 'Bearer <token>'",
        ),
    ] {
        let res = get(auth).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{message}");
        assert_eq!(res.error(), message);
        assert_eq!(res.headers["www-authenticate"], "Bearer");
    }
    clock.advance(TOKEN_TTL_SECONDS);
    let res = get(Some(format!("Bearer {token}"))).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert_eq!(res.error(), "Token expired");
}

#[tokio::test]
async fn backend_routes_map_gateway_failures() {
    use axum::routing::post as axum_post;
    // A stub gateway answering 429 with Retry-After, and one that never answers in time.
    let stub = serve(Router::new().route(
        CONNECT_PATH,
        axum_post(|| async {
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "42")],
                axum::Json(serde_json::json!({"error": "Too many requests"})),
            )
        }),
    ))
    .await;
    let app = backend(&stub.url(), DEMO_APP_SECRET).await;
    let res = post_as(&format!("{}{SESSION_PATH}", app.url()), "u", "").await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.headers["retry-after"], "42");
    assert_eq!(res.error(), "Macrofy rate limit hit");

    let closed = closed_url().await;
    let app = backend(&closed, DEMO_APP_SECRET).await;
    let res = post_as(&format!("{}{SESSION_PATH}", app.url()), "u", "").await;
    assert_eq!(res.status, StatusCode::BAD_GATEWAY);
    assert_eq!(res.error(), "Macrofy gateway unreachable");

    let slow = serve(Router::new().route(
        CONNECT_PATH,
        axum_post(|| async {
            tokio::time::sleep(std::time::Duration::from_secs(10)).await;
            "late"
        }),
    ))
    .await;
    let config = MacrofyConfig::new(DEMO_APP_ID, DEMO_APP_SECRET)
        .unwrap()
        .with_base_url(&slow.url())
        .unwrap()
        .with_timeout(std::time::Duration::from_millis(200))
        .unwrap();
    let app = serve(routes::router::<TestUser, _>(config)).await;
    let res = post_as(&format!("{}{SESSION_PATH}", app.url()), "u", "").await;
    assert_eq!(res.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(res.error(), "Macrofy gateway timed out");

    // Anonymous callers and ids the gateway would refuse never reach it.
    let res = post(&format!("{}{SESSION_PATH}", app.url()), r#"{"userId":"u"}"#).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert_eq!(res.error(), "Authentication required");
    let long = "u".repeat(257);
    let res = post_as(&format!("{}{SESSION_PATH}", app.url()), &long, "").await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(res.error(), "userId must be at most 256 bytes");
}
