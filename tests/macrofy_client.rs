//! The Macrofy client's session lifecycle and error mapping over loopback:
//! file store across restarts (restore without network), disconnect,
//! corrupt and expired stores, local validation, typed HTTP errors, and
//! secret hygiene of every Macrofy type's Debug output.
#![cfg(all(feature = "gateway", feature = "client"))]

mod macrofy_common;

use std::time::Duration;

use axum::Router;
use axum::routing::post as axum_post;
use http::StatusCode;
use macrofy_common::*;
use tower_signing::ManualClock;
use tower_signing::macrofy::client::{
    ClientError, FileSessionStore, MacrofyClient, MemorySessionStore, SessionStore,
};
use tower_signing::macrofy::gateway::{InMemoryAppRegistry, TOKEN_TTL_SECONDS};
use tower_signing::macrofy::routes::MacrofyConfig;
use tower_signing::macrofy::{
    CONNECT_PATH, DEMO_APP_ID, DEMO_APP_SECRET, SigningKey, ValidationError,
};

fn demo_payload(user: &str) -> tower_signing::macrofy::SignaturePayload {
    SigningKey::new(DEMO_APP_SECRET)
        .unwrap()
        .payload(DEMO_APP_ID, user)
}

#[tokio::test]
async fn file_store_survives_a_restart_without_network_and_disconnect_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("macrofy-session.json");
    let (_gateway, gw) = gateway(None).await;

    let first = MacrofyClient::builder()
        .base_url(gw.url())
        .session_store(FileSessionStore::new(&path))
        .build()
        .unwrap();
    let session = bounded(first.connect(&demo_payload("user-1")))
        .await
        .unwrap();
    assert!(path.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "session file mode {mode:o}");
    }
    drop(first);
    gw.shutdown().await;

    // "Restart": a new client whose base URL has nothing listening, so any
    // network call would fail.
    let offline = closed_url().await;
    let second = MacrofyClient::builder()
        .base_url(offline)
        .session_store(FileSessionStore::new(&path))
        .build()
        .unwrap();
    assert!(!second.is_connected());
    let restored = bounded(second.restore_session()).await.unwrap();
    assert_eq!(restored.as_ref(), Some(&session));
    assert!(second.is_connected());
    assert_eq!(second.session_user(), Some(session.user.clone()));
    assert_eq!(second.session().unwrap().token, session.token);
    // Proof that the network really is unavailable to this client.
    let err = bounded(second.exchange(&demo_payload("user-1")))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Transport(_)), "{err:?}");

    bounded(second.disconnect()).await.unwrap();
    assert!(!path.exists());
    assert!(!second.is_connected());
    assert_eq!(second.session_user(), None);
    assert_eq!(bounded(second.restore_session()).await.unwrap(), None);
}

#[tokio::test]
async fn corrupt_store_file_is_no_session() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    let client = MacrofyClient::builder()
        .base_url(closed_url().await)
        .session_store(FileSessionStore::new(&path))
        .build()
        .unwrap();
    for junk in [
        &b"{not json"[..],
        b"",
        b"\x00\xff\xfe",
        br#"{"token":"a.b.c"}"#,
        br#"{"token":"not-a-jwt","user":{"id":"usr_x","appId":"demo_app_001","externalId":"u"}}"#,
    ] {
        std::fs::write(&path, junk).unwrap();
        assert_eq!(bounded(client.restore_session()).await.unwrap(), None);
        assert!(!client.is_connected());
    }
}

#[tokio::test]
async fn expired_session_is_dropped_on_restore() {
    let clock = ManualClock::new(1_700_000_000);
    let gateway = gateway_config(None)
        .with_clock(clock.clone())
        .build()
        .unwrap();
    let gw = serve(gateway.router()).await;
    let store_dir = tempfile::tempdir().unwrap();
    let path = store_dir.path().join("s.json");
    let client = MacrofyClient::builder()
        .base_url(gw.url())
        .session_store(FileSessionStore::new(&path))
        .clock(clock.clone())
        .build()
        .unwrap();
    bounded(client.connect(&demo_payload("u1"))).await.unwrap();
    clock.advance(TOKEN_TTL_SECONDS - 1);
    assert!(client.is_connected());
    assert!(bounded(client.restore_session()).await.unwrap().is_some());
    clock.advance(1);
    assert!(!client.is_connected(), "exp reached");
    assert_eq!(bounded(client.restore_session()).await.unwrap(), None);
    assert!(
        !path.exists(),
        "the expired session is removed from the store"
    );
}

#[tokio::test]
async fn invalid_input_is_refused_before_any_network_call() {
    // Nothing listens here: a network attempt would be a Transport error.
    let client = MacrofyClient::builder()
        .base_url(closed_url().await)
        .build()
        .unwrap();
    let good = demo_payload("u1");
    let cases = [
        (
            {
                let mut p = good.clone();
                p.app_id = "short".into();
                p
            },
            ValidationError::InvalidAppId,
        ),
        (
            {
                let mut p = good.clone();
                p.user_id = String::new();
                p
            },
            ValidationError::Missing { field: "userId" },
        ),
        (
            {
                let mut p = good.clone();
                p.user_id = "x".repeat(300);
                p
            },
            ValidationError::UserIdTooLong,
        ),
        (
            {
                let mut p = good.clone();
                p.signature.pop();
                p
            },
            ValidationError::InvalidSignatureFormat,
        ),
    ];
    for (payload, expected) in cases {
        let err = bounded(client.connect(&payload)).await.unwrap_err();
        assert!(
            matches!(&err, ClientError::Invalid(e) if *e == expected),
            "{err:?}"
        );
    }
    let err = bounded(client.connect(&good)).await.unwrap_err();
    assert!(matches!(err, ClientError::Transport(_)), "{err:?}");
}

async fn stub(
    status: StatusCode,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
) -> Server {
    serve(Router::new().route(
        CONNECT_PATH,
        axum_post(move || async move {
            let mut res = axum::response::Response::new(axum::body::Body::from(body));
            *res.status_mut() = status;
            for (k, v) in headers {
                res.headers_mut()
                    .insert(*k, http::HeaderValue::from_static(v));
            }
            res
        }),
    ))
    .await
}

#[tokio::test]
async fn http_failures_map_to_typed_errors() {
    let p = demo_payload("u1");
    type Check = fn(&ClientError) -> bool;
    let cases: Vec<(Server, Check)> = vec![
        (
            stub(
                StatusCode::BAD_REQUEST,
                &[],
                r#"{"error":"Missing userId"}"#,
            )
            .await,
            |e| matches!(e, ClientError::BadRequest { message } if message == "Missing userId"),
        ),
        (
            stub(
                StatusCode::UNAUTHORIZED,
                &[],
                r#"{"error":"Invalid signature"}"#,
            )
            .await,
            |e| matches!(e, ClientError::Unauthorized { .. }),
        ),
        (
            stub(
                StatusCode::FORBIDDEN,
                &[],
                r#"{"error":"Sandbox quota exceeded"}"#,
            )
            .await,
            |e| matches!(e, ClientError::QuotaExceeded { .. }),
        ),
        (
            stub(StatusCode::NOT_FOUND, &[], "").await,
            |e| matches!(e, ClientError::NotFound { message } if message == "Not Found"),
        ),
        (
            stub(
                StatusCode::TOO_MANY_REQUESTS,
                &[("retry-after", "30")],
                "{}",
            )
            .await,
            |e| {
                matches!(
                    e,
                    ClientError::RateLimited {
                        retry_after: Some(30),
                        ..
                    }
                )
            },
        ),
        (
            stub(StatusCode::SERVICE_UNAVAILABLE, &[], "down").await,
            |e| matches!(e, ClientError::Server { status, .. } if *status == StatusCode::SERVICE_UNAVAILABLE),
        ),
        (stub(StatusCode::OK, &[], r#"{"token":"t"}"#).await, |e| {
            matches!(e, ClientError::InvalidResponse(_))
        }),
    ];
    for (server, expected) in cases {
        let client = MacrofyClient::builder()
            .base_url(server.url())
            .build()
            .unwrap();
        let err = bounded(client.connect(&p)).await.unwrap_err();
        assert!(expected(&err), "{err:?}");
        assert!(!client.is_connected());
    }
    // Not in the 404 route table: the real 404 of a wrong base path.
    let (_g, gw) = gateway(None).await;
    let client = MacrofyClient::builder()
        .base_url(format!("{}/wrong-prefix", gw.url()))
        .build()
        .unwrap();
    let err = bounded(client.exchange(&p)).await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::NOT_FOUND));
}

#[tokio::test]
async fn a_slow_gateway_times_out() {
    let slow = serve(Router::new().route(
        CONNECT_PATH,
        axum_post(|| async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            "late"
        }),
    ))
    .await;
    let client = MacrofyClient::builder()
        .base_url(slow.url())
        .timeout(Duration::from_millis(150))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let err = bounded(client.connect(&demo_payload("u1")))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Timeout(d) if d == Duration::from_millis(150)),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        MacrofyClient::builder().build().unwrap().timeout(),
        Duration::from_secs(30)
    );
    assert!(
        MacrofyClient::builder()
            .timeout(Duration::ZERO)
            .build()
            .is_err()
    );
}

#[tokio::test]
async fn no_secret_signature_token_or_key_in_debug_output() {
    let (gateway, gw) = gateway(None).await;
    let payload = demo_payload("user-1");
    let dir = tempfile::tempdir().unwrap();
    let store = FileSessionStore::new(dir.path().join("s.json"));
    let client = MacrofyClient::builder()
        .base_url(gw.url())
        .session_store(store.clone())
        .build()
        .unwrap();
    let session = bounded(client.connect(&payload)).await.unwrap();
    let memory = MemorySessionStore::new();
    memory.save(&session).await.unwrap();
    let config = MacrofyConfig::new(DEMO_APP_ID, DEMO_APP_SECRET).unwrap();
    let apps = InMemoryAppRegistry::new()
        .with_app(DEMO_APP_ID, DEMO_APP_SECRET)
        .unwrap();
    let gateway_config = gateway_config(Some(3));
    let failed = {
        let mut bad = payload.clone();
        bad.signature = SigningKey::new("other")
            .unwrap()
            .sign_user_id("user-1")
            .to_hex();
        bounded(client.exchange(&bad)).await.unwrap_err()
    };

    let outputs = [
        format!("{config:?}"),
        format!("{client:?}"),
        format!("{store:?}"),
        format!("{memory:?}"),
        format!("{session:?}"),
        format!("{payload:?}"),
        format!("{gateway:?}"),
        format!("{gateway_config:?}"),
        format!("{apps:?}"),
        format!("{failed:?}"),
        failed.to_string(),
        format!("{:?}", SigningKey::new(DEMO_APP_SECRET).unwrap()),
    ];
    let forbidden = [
        DEMO_APP_SECRET,
        JWT_SECRET,
        payload.signature.as_str(),
        session.token.as_str(),
        // The token's signature part alone must not leak either.
        session.token.rsplit('.').next().unwrap(),
    ];
    for output in &outputs {
        for secret in forbidden {
            assert!(!output.contains(secret), "{output} leaks {secret}");
        }
    }
    // And the Debug output is still useful.
    assert!(outputs[0].contains(DEMO_APP_ID));
    assert!(outputs[1].contains("connected: true"));
}
