//! No secret, salt, derived key or valid signature appears in logs or in the
//! `Debug` output of the HTTP-side types.
#![cfg(feature = "axum")]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::Router;
use common::*;
use tower_signing::ManualClock;
use tower_signing::utilsio::layer::SignatureCallbackLayer;
use tower_signing::utilsio::routes::AUTH_HEADERS_PATH;
use tower_signing::utilsio::{self, AppHash, CallbackRequest, ScryptParams, UtilsioConfig};

const SECRET: &str = "hygiene-secret-4f1d";
const SALT: &str = "a1b2c3d4e5f60718";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn params() -> ScryptParams {
    ScryptParams::default().with_n(1024).unwrap()
}

#[tokio::test]
async fn logs_and_debug_carry_no_secrets_or_signatures() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // Current-thread test runtime: the server's tasks run on this thread.
    let _guard = tracing::subscriber::set_default(subscriber);

    let config = UtilsioConfig::new(SECRET, SALT, APP_ID).with_scrypt_params(params());
    let config_debug = format!("{config:?}");
    let clock = ManualClock::new(NOW);
    let state = config.build().await.unwrap().with_clock(clock.clone());
    let app_hash = AppHash::derive(SECRET, SALT, params()).unwrap();
    let hash_hex = app_hash.expose_hex().to_owned();

    let auth_headers = Router::new()
        .route(
            AUTH_HEADERS_PATH,
            utilsio::insecure_anonymous_auth_headers_route(),
        )
        .with_state(state.clone());
    let srv = serve(utilsio::router(state.clone()).merge(auth_headers)).await;
    let body = callback_body("device-1", APP_ID, "0.5", &NOW.to_string());
    let origin = "X-utilsio-Origin: utilsio.dev";
    let https = "X-Forwarded-Proto: https";
    let ok = post(srv.addr, "/api/signature-callback", &[origin, https], &body).await;
    assert_eq!(ok.status, 200);
    let signature = ok.json()["signature"].as_str().unwrap().to_owned();
    assert_eq!(
        signature,
        reference_signature(&hash_hex, &format!("device-1-{APP_ID}-{NOW}-0.5"))
    );
    let auth = post(
        srv.addr,
        "/api/utilsio/auth-headers",
        &[],
        r#"{"deviceId":"device-1"}"#,
    )
    .await;
    let auth_signature = auth.json()["signature"].as_str().unwrap().to_owned();
    // Every kind of rejection, so every log line is exercised.
    let secret_body = callback_body(SECRET, APP_ID, &hash_hex, &NOW.to_string());
    for (headers, b) in [
        (vec![https], body.clone()),
        (vec![origin], body.clone()),
        (vec![origin, https], "{".to_owned()),
        (vec![origin, https], "{}".to_owned()),
        (vec![origin, https], callback_body("d", APP_ID, "x", "1")),
        (
            vec![origin, https],
            callback_body("d", "other", "x", &NOW.to_string()),
        ),
        // The body itself (which may carry anything) is never logged.
        (
            vec![origin, https],
            secret_body.replace(&format!("\"{APP_ID}\""), "\"other\""),
        ),
    ] {
        let res = post(srv.addr, "/api/signature-callback", &headers, &b).await;
        assert_ne!(res.status, 200);
    }
    drop(srv);

    let callback = CallbackRequest::from_json(body.as_bytes()).unwrap();
    let signer = state.signing_service();
    let debug = [
        config_debug,
        format!("{state:?}"),
        format!("{signer:?}"),
        format!("{:?}", signer.sign("device-1", None).unwrap()),
        format!("{callback:?}"),
        format!("{:?}", state.callback_layer()),
        format!("{:?}", SignatureCallbackLayer::new(APP_ID)),
    ]
    .join("\n");
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("utilsio callback rejected"),
        "logs were captured: {logs}"
    );
    for (name, text) in [("logs", &logs), ("debug", &debug)] {
        for needle in [
            SECRET,
            SALT,
            hash_hex.as_str(),
            signature.as_str(),
            auth_signature.as_str(),
        ] {
            assert!(
                !text.contains(needle),
                "{name} contain a secret or signature:\n{text}"
            );
        }
    }
    assert!(debug.contains("[redacted]"));
}
