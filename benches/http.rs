//! The callback route in process (no sockets), with and without the layers.
//!
//! - `callback/full_stack`: `utilsio::router` (every check, through the
//!   `VerifiedCallback` extractor, plus signing), via `oneshot`.
//! - `callback/layer_stack`: the same handler behind `SignatureCallbackLayer`.
//! - `callback/bare_handler`: a minimal hand-written axum handler doing the
//!   same work (origin, typed JSON parse, window, appId, sign), no layers.
//! - `json/field_reader` vs `json/value_map`: the crate's one JSON field
//!   reader (a serde visitor keeping only the named fields) against parsing
//!   the callback body into a `serde_json::Value` map.
//!
//! Target: full_stack within 5% of bare_handler.
//!
//! Run with: cargo bench --bench http

use std::hint::black_box;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use criterion::{Criterion, criterion_group, criterion_main};
use serde::Deserialize;
use tower::ServiceExt;
use tower_signing::utilsio::{
    self, CallbackRequest, SignatureMessage, SigningKey, SigningService, UtilsioState,
};
use tower_signing::{Clock, ManualClock};

const NOW: u64 = 1_700_000_000;
const APP_ID: &str = "demo-app-id";
const BODY: &str = r#"{"deviceId":"c5d10f84-95cf-cf9f-2692-ce8f925a9763","appId":"demo-app-id","additionalData":"0.033333","timestamp":1700000000}"#;

fn key() -> SigningKey {
    SigningKey::from_app_hash_hex(
        "2c9813b452ac80dde85016222a3c08e4f88e38a39a7f699d134fe9c5bf6d4ac1",
    )
    .expect("valid app hash")
}

fn request() -> Request<Body> {
    Request::post("/api/signature-callback")
        .header("x-utilsio-origin", "utilsio.dev")
        .header("content-type", "application/json")
        .body(Body::from(BODY))
        .expect("valid request")
}

#[derive(Clone)]
struct BareState {
    key: SigningKey,
    clock: Arc<dyn Clock>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Callback {
    device_id: String,
    app_id: String,
    additional_data: String,
    timestamp: u64,
}

async fn bare_handler(State(state): State<BareState>, headers: HeaderMap, body: Bytes) -> Response {
    let error = |status: StatusCode, msg: &'static str| {
        (status, axum::Json(serde_json::json!({ "error": msg }))).into_response()
    };
    if headers.get("x-utilsio-origin").map(|v| v.as_bytes()) != Some(b"utilsio.dev") {
        return error(StatusCode::FORBIDDEN, "Unauthorized origin");
    }
    let Ok(cb) = serde_json::from_slice::<Callback>(&body) else {
        return error(StatusCode::BAD_REQUEST, "Missing required fields");
    };
    if state.clock.now_unix_seconds().abs_diff(cb.timestamp) > 60 {
        return error(StatusCode::BAD_REQUEST, "Invalid timestamp");
    }
    if cb.app_id != APP_ID {
        return error(StatusCode::FORBIDDEN, "Invalid appId");
    }
    let Ok(message) =
        SignatureMessage::new(cb.device_id.as_str(), cb.app_id.as_str(), cb.timestamp)
    else {
        return error(StatusCode::BAD_REQUEST, "Missing required fields");
    };
    let signature = state
        .key
        .sign(&message.with_additional_data(cb.additional_data.as_str()));
    axum::Json(serde_json::json!({
        "signature": signature.as_str(),
        "timestamp": cb.timestamp.to_string(),
    }))
    .into_response()
}

/// The callback behind the layer: the parsed request is in the extensions.
async fn layered_handler(signer: SigningService, req: Request<Body>) -> Response {
    match req.extensions().get::<CallbackRequest>() {
        Some(callback) => signer.sign_callback(callback).into_response(),
        None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// What the callback needs from the body, through a `Value` map.
fn value_map(body: &[u8]) -> Option<(String, String, String, u64)> {
    let serde_json::Value::Object(mut map) = serde_json::from_slice(body).ok()? else {
        return None;
    };
    let mut string = |k: &str| match map.remove(k) {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    };
    let (d, a, x) = (
        string("deviceId")?,
        string("appId")?,
        string("additionalData")?,
    );
    let t = map.get("timestamp")?.as_u64().filter(|t| *t > 0)?;
    Some((d, a, x, t))
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let clock = ManualClock::new(NOW);

    let full: Router = utilsio::router(
        UtilsioState::new(key(), APP_ID)
            .with_require_https(false)
            .with_clock(clock.clone()),
    );
    let state = UtilsioState::new(key(), APP_ID)
        .with_require_https(false)
        .with_clock(clock.clone());
    let layered: Router = Router::new()
        .route("/api/signature-callback", post(layered_handler))
        .layer(state.callback_layer())
        .with_state(state);
    let bare: Router = Router::new()
        .route("/api/signature-callback", post(bare_handler))
        .with_state(BareState {
            key: key(),
            clock: Arc::new(clock),
        });

    // Both must really succeed, with the same signature, before timing them.
    for router in [&full, &layered, &bare] {
        let res = rt
            .block_on(router.clone().oneshot(request()))
            .expect("infallible");
        assert_eq!(res.status(), StatusCode::OK);
    }

    let mut group = c.benchmark_group("callback");
    group.bench_function("full_stack", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(full.clone().oneshot(request()).await) })
    });
    group.bench_function("layer_stack", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(layered.clone().oneshot(request()).await) })
    });
    group.bench_function("bare_handler", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(bare.clone().oneshot(request()).await) })
    });
    group.finish();

    assert!(
        CallbackRequest::from_json(BODY.as_bytes()).is_ok() && value_map(BODY.as_bytes()).is_some()
    );
    let mut group = c.benchmark_group("json");
    group.bench_function("field_reader", |b| {
        b.iter(|| black_box(CallbackRequest::from_json(black_box(BODY.as_bytes()))))
    });
    group.bench_function("value_map", |b| {
        b.iter(|| black_box(value_map(black_box(BODY.as_bytes()))))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
