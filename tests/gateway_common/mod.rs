//! Helpers for the gateway tests: a gateway router served on a loopback port
//! (stopped on drop) and a tiny HTTP/1.1 client over a raw socket, every
//! step bounded in time.
#![allow(dead_code, unreachable_pub)] // each test binary uses a subset

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tower_signing::macrofy::SigningKey;

/// Every network step is bounded by this.
pub const STEP: Duration = Duration::from_secs(20);

/// Runs `fut` or panics after [`STEP`].
pub async fn bounded<T>(fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(STEP, fut)
        .await
        .expect("step did not finish in time")
}

/// A router served on 127.0.0.1, shut down when dropped.
pub struct Server {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
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
    tokio::spawn(async move {
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
    }
}

/// A parsed answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub www_authenticate: Option<String>,
    pub json: serde_json::Value,
}

impl Answer {
    /// The `error` field of a JSON error body.
    pub fn error(&self) -> &str {
        self.json["error"].as_str().unwrap_or_default()
    }

    /// The `token` of a session answer.
    pub fn token(&self) -> String {
        self.json["token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token in {:?}", self.json))
            .to_owned()
    }
}

/// Sends one request (`Connection: close`) and reads the whole answer.
pub async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    body: &str,
) -> Answer {
    bounded(async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
        if let Some(auth) = authorization {
            request.push_str(&format!("Authorization: {auth}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        let text = String::from_utf8(raw).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        let www_authenticate = head.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("www-authenticate")
                .then(|| value.trim().to_owned())
        });
        let json = serde_json::from_str(body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {body:?} (status {status})"));
        Answer {
            status,
            www_authenticate,
            json,
        }
    })
    .await
}

/// `POST /api/auth/connect` with `{appId, userId, signature}` signed by `secret`.
pub async fn connect(addr: SocketAddr, app_id: &str, secret: &str, user_id: &str) -> Answer {
    let payload = SigningKey::new(secret).unwrap().payload(app_id, user_id);
    let body = serde_json::to_string(&payload).unwrap();
    call(addr, "POST", "/api/auth/connect", None, &body).await
}

/// `POST /api/auth/refresh` with `Authorization: Bearer <token>`.
pub async fn refresh(addr: SocketAddr, token: &str) -> Answer {
    let auth = format!("Bearer {token}");
    call(addr, "POST", "/api/auth/refresh", Some(&auth), "").await
}

/// `GET /api/auth/session` with `Authorization: Bearer <token>`.
pub async fn session(addr: SocketAddr, token: &str) -> Answer {
    let auth = format!("Bearer {token}");
    call(addr, "GET", "/api/auth/session", Some(&auth), "").await
}
