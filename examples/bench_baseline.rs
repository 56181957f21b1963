//! A minimal hand-written axum handler doing the callback's work without the
//! crate's layers: the baseline `scripts/load.sh` compares the server example
//! against, served the same way (the bounded server, the same logs and
//! request-id spans). Not an example to copy (no 413 handling, terse errors).
//!
//! Run with: cargo run --release --example bench_baseline --features server
//!
//! Same demo credentials and routes as `examples/server.rs`, on
//! 127.0.0.1:`PORT` (default 3000).

use std::error::Error;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use tower_signing::server::{ServeConfig, serve, shutdown_signal};
use tower_signing::utilsio::{
    DEMO_APP_ID, DEMO_APP_SECRET, DEMO_SALT, ScryptParams, SignatureMessage, SigningKey,
};

mod support;

#[derive(Clone)]
struct AppState {
    key: SigningKey,
    app_id: &'static str,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Callback {
    device_id: String,
    app_id: String,
    additional_data: String,
    timestamp: u64,
}

async fn callback(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let error = |status: StatusCode, msg: &'static str| {
        (status, axum::Json(serde_json::json!({ "error": msg }))).into_response()
    };
    if headers.get("x-utilsio-origin").map(|v| v.as_bytes()) != Some(b"utilsio.dev") {
        return error(StatusCode::FORBIDDEN, "Unauthorized origin");
    }
    let Ok(cb) = serde_json::from_slice::<Callback>(&body) else {
        return error(StatusCode::BAD_REQUEST, "Missing required fields");
    };
    let now = tower_signing::now_unix_seconds();
    if now.abs_diff(cb.timestamp) > 60 {
        return error(StatusCode::BAD_REQUEST, "Invalid timestamp");
    }
    if cb.app_id != state.app_id {
        return error(StatusCode::FORBIDDEN, "Invalid appId");
    }
    let Ok(message) =
        SignatureMessage::new(cb.device_id.as_str(), cb.app_id.as_str(), cb.timestamp)
    else {
        return error(StatusCode::BAD_REQUEST, "Missing required fields");
    };
    let message = message.with_additional_data(cb.additional_data.as_str());
    let signature = state.key.sign(&message);
    axum::Json(serde_json::json!({
        "signature": signature.as_str(),
        "timestamp": cb.timestamp.to_string(),
    }))
    .into_response()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // The same logs and request-id spans as the server example, so the load
    // comparison measures the route and nothing else.
    support::init_logs();
    let key = SigningKey::derive_async(DEMO_APP_SECRET, DEMO_SALT, ScryptParams::default()).await?;
    let app = Router::new()
        .route("/api/signature-callback", post(callback))
        .with_state(AppState {
            key,
            app_id: DEMO_APP_ID,
        });
    let app = support::with_request_ids(app);
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    // Bounded: head/body timeouts, a connection cap, a drain deadline on Ctrl-C / SIGTERM.
    serve(listener, app, ServeConfig::default(), shutdown_signal()).await;
    Ok(())
}
