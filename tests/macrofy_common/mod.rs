//! Shared helpers for the Macrofy end-to-end tests: loopback servers with
//! graceful shutdown, a raw HTTP client, and a bounded-time wrapper.
#![allow(dead_code, unreachable_pub)]

pub mod fake;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::oneshot;
use tower_signing::identity::{AuthenticatedUser, Unauthenticated};
use tower_signing::macrofy::gateway::{Gateway, GatewayConfig, InMemoryAppRegistry};
use tower_signing::macrofy::{DEMO_APP_ID, DEMO_APP_SECRET};

/// The gateway JWT key used by the tests (32+ bytes).
pub const JWT_SECRET: &str = "e2e-test-gateway-jwt-key-32-bytes-at-least";

/// Every test step is bounded by this.
pub const STEP: Duration = Duration::from_secs(20);

/// Runs `fut` or panics after [`STEP`].
pub async fn bounded<T>(fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(STEP, fut)
        .await
        .expect("step did not finish in time")
}

/// A server on 127.0.0.1 that stops when dropped.
pub struct Server {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Server {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server and waits for it to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            bounded(task).await.unwrap();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Serves `router` on an ephemeral loopback port.
pub async fn serve(router: Router) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    Server {
        addr,
        stop: Some(stop),
        task: Some(task),
    }
}

/// A loopback URL where nothing listens (the port was bound, then freed).
pub async fn closed_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// The demo app registered, the test JWT key, the given sandbox limit.
pub fn gateway_config(limit: Option<u64>) -> GatewayConfig {
    let apps = InMemoryAppRegistry::new()
        .with_app(DEMO_APP_ID, DEMO_APP_SECRET)
        .unwrap();
    GatewayConfig::new(apps, JWT_SECRET).with_sandbox_user_limit(limit)
}

/// A gateway from [`gateway_config`], served on loopback.
pub async fn gateway(limit: Option<u64>) -> (Gateway, Server) {
    let gateway = gateway_config(limit).build().unwrap();
    let server = serve(gateway.router()).await;
    (gateway, server)
}

/// An answer read in full.
pub struct Answer {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error field: {:?}", self.body))
            .to_owned()
    }
}

/// Sends one request with a raw body and reads the whole answer.
pub async fn request(
    method: http::Method,
    url: &str,
    body: impl Into<Bytes>,
    headers: &[(&str, &str)],
) -> Answer {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut req = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(body.into())).unwrap();
    let res = bounded(client.request(req)).await.unwrap();
    let (parts, body) = res.into_parts();
    let body = bounded(body.collect()).await.unwrap().to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// POSTs `body` as JSON.
pub async fn post(url: &str, body: impl Into<Bytes>) -> Answer {
    request(
        http::Method::POST,
        url,
        body,
        &[("content-type", "application/json")],
    )
    .await
}

/// The tests' login: `Authorization: Bearer test-token-<userId>` is that
/// user; anything else is anonymous (an app's real extractor checks a
/// session or a token store).
#[derive(Debug, Clone)]
pub struct TestUser(pub String);

/// The prefix of [`TestUser`] bearer tokens.
pub const TEST_TOKEN_PREFIX: &str = "test-token-";

impl AuthenticatedUser for TestUser {
    fn user_id(&self) -> &str {
        &self.0
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for TestUser {
    type Rejection = Unauthenticated;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _: &S,
    ) -> Result<Self, Unauthenticated> {
        parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .and_then(|t| t.strip_prefix(TEST_TOKEN_PREFIX))
            .filter(|id| !id.is_empty())
            .map(|id| TestUser(id.to_owned()))
            .ok_or(Unauthenticated)
    }
}

/// The `Authorization` value that makes [`TestUser`] `user`.
pub fn bearer_for(user: &str) -> String {
    format!("Bearer {TEST_TOKEN_PREFIX}{user}")
}

/// POSTs `body` as JSON as the signed-in `user`.
pub async fn post_as(url: &str, user: &str, body: impl Into<Bytes>) -> Answer {
    let auth = bearer_for(user);
    request(
        http::Method::POST,
        url,
        body,
        &[
            ("content-type", "application/json"),
            ("authorization", auth.as_str()),
        ],
    )
    .await
}
