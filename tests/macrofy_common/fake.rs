//! A scripted Macrofy gateway for the session tests: counts connects and
//! refreshes, issues JWT-shaped tokens whose `exp` the test controls, and
//! answers whatever status the test scripts.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use http::{HeaderMap, StatusCode};
use tower_signing::Clock;
use tower_signing::macrofy::{CONNECT_PATH, DEMO_APP_SECRET, REFRESH_PATH, SigningKey};

use super::{Server, serve};

/// A scripted answer: status, extra headers, raw body.
#[derive(Clone, Debug)]
pub struct Scripted {
    pub status: StatusCode,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Scripted {
    pub fn new(status: u16, body: impl Into<String>) -> Self {
        Scripted {
            status: StatusCode::from_u16(status).unwrap(),
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }
}

/// What the fake gateway does and has seen. Shared by the test and server.
pub struct FakeGateway {
    pub connects: AtomicUsize,
    pub refreshes: AtomicUsize,
    /// Token lifetime in seconds from the clock's now.
    pub lifetime: AtomicU64,
    clock: Arc<dyn Clock>,
    issued: AtomicUsize,
    connect_answer: Mutex<Option<Scripted>>,
    refresh_answer: Mutex<Option<Scripted>>,
    delay: Mutex<Duration>,
    users_seen: Mutex<Vec<String>>,
}

/// A JWT-shaped token (`header.payload.sig`, not signed) with `exp`, the
/// user and a serial number.
pub fn token(exp: u64, user: &str, serial: usize) -> String {
    let enc = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    format!(
        "{}.{}.fake-signature",
        enc(serde_json::json!({"alg": "none"})),
        enc(serde_json::json!({"exp": exp, "ext": user, "n": serial}))
    )
}

fn claims(token: &str) -> Option<serde_json::Value> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

impl FakeGateway {
    /// A fake issuing 7-day tokens on `clock`.
    pub fn new(clock: impl Clock) -> Arc<Self> {
        Arc::new(FakeGateway {
            connects: AtomicUsize::new(0),
            refreshes: AtomicUsize::new(0),
            lifetime: AtomicU64::new(7 * 24 * 3600),
            clock: Arc::new(clock),
            issued: AtomicUsize::new(0),
            connect_answer: Mutex::new(None),
            refresh_answer: Mutex::new(None),
            delay: Mutex::new(Duration::ZERO),
            users_seen: Mutex::new(Vec::new()),
        })
    }

    /// Serves it on loopback.
    pub async fn serve(self: &Arc<Self>) -> Server {
        let router = Router::new()
            .route(CONNECT_PATH, post(connect))
            .route(REFRESH_PATH, post(refresh))
            .with_state(self.clone());
        serve(router).await
    }

    pub fn connects(&self) -> usize {
        self.connects.load(Ordering::SeqCst)
    }

    pub fn refreshes(&self) -> usize {
        self.refreshes.load(Ordering::SeqCst)
    }

    /// The userIds connect was called for, in order.
    pub fn users_seen(&self) -> Vec<String> {
        self.users_seen.lock().unwrap().clone()
    }

    pub fn script_connect(&self, answer: Option<Scripted>) {
        *self.connect_answer.lock().unwrap() = answer;
    }

    pub fn script_refresh(&self, answer: Option<Scripted>) {
        *self.refresh_answer.lock().unwrap() = answer;
    }

    /// How long connect and refresh wait before answering.
    pub fn set_delay(&self, delay: Duration) {
        *self.delay.lock().unwrap() = delay;
    }

    fn session(&self, user: &str) -> serde_json::Value {
        let exp = self.clock.now_unix_seconds() + self.lifetime.load(Ordering::SeqCst);
        let serial = self.issued.fetch_add(1, Ordering::SeqCst);
        serde_json::json!({
            "token": token(exp, user, serial),
            "user": {"id": format!("usr_{user}"), "appId": tower_signing::macrofy::DEMO_APP_ID, "externalId": user},
        })
    }

    fn scripted(answer: &Mutex<Option<Scripted>>) -> Option<Response> {
        let answer = answer.lock().unwrap().clone()?;
        let mut response = (answer.status, answer.body).into_response();
        for (name, value) in answer.headers {
            response
                .headers_mut()
                .insert(name, http::HeaderValue::from_str(&value).unwrap());
        }
        Some(response)
    }
}

async fn connect(State(fake): State<Arc<FakeGateway>>, body: axum::body::Bytes) -> Response {
    fake.connects.fetch_add(1, Ordering::SeqCst);
    let delay = *fake.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let user = v["userId"].as_str().unwrap_or_default().to_owned();
    fake.users_seen.lock().unwrap().push(user.clone());
    if let Some(response) = FakeGateway::scripted(&fake.connect_answer) {
        return response;
    }
    let expected = SigningKey::new(DEMO_APP_SECRET)
        .unwrap()
        .sign_user_id(&user)
        .to_hex();
    if v["signature"].as_str() != Some(expected.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({"error": "Invalid signature"})),
        )
            .into_response();
    }
    axum::Json(fake.session(&user)).into_response()
}

async fn refresh(State(fake): State<Arc<FakeGateway>>, headers: HeaderMap) -> Response {
    fake.refreshes.fetch_add(1, Ordering::SeqCst);
    let delay = *fake.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    if let Some(response) = FakeGateway::scripted(&fake.refresh_answer) {
        return response;
    }
    let now = fake.clock.now_unix_seconds();
    let claims = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(claims)
        .filter(|c| c["exp"].as_u64().is_some_and(|exp| exp > now));
    match claims {
        Some(c) => axum::Json(fake.session(c["ext"].as_str().unwrap_or_default())).into_response(),
        None => (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({"error": "Invalid token"})),
        )
            .into_response(),
    }
}
