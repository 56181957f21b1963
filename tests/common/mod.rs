//! Helpers shared by the integration tests: a loopback server, a raw HTTP/1.1
//! client, and an independent implementation of the signing algorithm.
#![allow(dead_code, unreachable_pub)] // each test binary uses a subset

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use hmac::{KeyInit, Mac};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tower_signing::ManualClock;
use tower_signing::utilsio::{SigningKey, UtilsioState};

/// The app hash of the first derive vector; its text is the HMAC key.
pub const APP_HASH_HEX: &str = "2c9813b452ac80dde85016222a3c08e4f88e38a39a7f699d134fe9c5bf6d4ac1";
pub const APP_ID: &str = "test-app-id";
pub const NOW: u64 = 1_700_000_000;
/// Every test request and response must finish well within this.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// The SPEC 1.3 algorithm written out independently of the crate:
/// `hex(HMAC-SHA256(key = app hash hex text, message))`.
pub fn reference_signature(app_hash_hex: &str, message: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(app_hash_hex.as_bytes()).unwrap();
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The state every router test uses: the vector app hash, a fixed clock.
pub fn state(clock: &ManualClock) -> UtilsioState {
    UtilsioState::new(SigningKey::from_app_hash_hex(APP_HASH_HEX).unwrap(), APP_ID)
        .with_clock(clock.clone())
}

/// A callback body with these fields, `timestamp` inserted as raw JSON.
pub fn callback_body(
    device_id: &str,
    app_id: &str,
    additional_data: &str,
    timestamp_json: &str,
) -> String {
    format!(
        r#"{{"deviceId":{},"appId":{},"additionalData":{},"timestamp":{timestamp_json}}}"#,
        serde_json::to_string(device_id).unwrap(),
        serde_json::to_string(app_id).unwrap(),
        serde_json::to_string(additional_data).unwrap(),
    )
}

/// A router served on 127.0.0.1 on an ephemeral port until the guard drops.
pub struct TestServer {
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub async fn serve(app: Router) -> TestServer {
    serve_with(app, false).await
}

/// [`serve`], with axum's `ConnectInfo<SocketAddr>` (the TCP peer) in every
/// request's extensions.
pub async fn serve_with_connect_info(app: Router) -> TestServer {
    serve_with(app, true).await
}

async fn serve_with(app: Router, connect_info: bool) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let shutdown = async {
            let _ = rx.await;
        };
        if connect_info {
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
                .unwrap();
        } else {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
                .unwrap();
        }
    });
    TestServer {
        addr,
        shutdown: Some(tx),
    }
}

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// Asserts a JSON error response with exactly this status and message.
    #[track_caller]
    pub fn assert_error(&self, status: u16, message: &str) {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.header("content-type"), Some("application/json"));
        assert_eq!(self.json(), serde_json::json!({ "error": message }));
    }
}

/// Sends `head` (request line and headers, without the blank line) and then
/// each chunk of `body` as its own write, on a fresh connection, and reads the
/// response until the server closes. `Connection: close` is added.
pub async fn send_raw(addr: SocketAddr, head: &str, body_writes: &[&[u8]]) -> RawResponse {
    tokio::time::timeout(DEADLINE, async {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (mut reader, mut writer) = stream.into_split();
        // Read concurrently: the server may answer (413) and close before
        // the whole body is sent, and a later reset must not lose the answer.
        let read = tokio::spawn(async move {
            let mut buf = Vec::new();
            let _ = reader.read_to_end(&mut buf).await;
            buf
        });
        let head = format!("{head}\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        let mut writes = vec![head.into_bytes()];
        writes.extend(body_writes.iter().map(|w| w.to_vec()));
        for chunk in writes {
            if writer.write_all(&chunk).await.is_err() || writer.flush().await.is_err() {
                break; // the server stopped reading: its answer is what counts
            }
            tokio::task::yield_now().await;
        }
        let buf = read.await.expect("reader task");
        Ok::<_, io::Error>(parse_response(&buf))
    })
    .await
    .expect("request finished within the deadline")
    .expect("I/O on loopback")
}

fn parse_response(buf: &[u8]) -> RawResponse {
    let text = String::from_utf8_lossy(buf);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no response: {text:?}"));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    RawResponse {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// POSTs `body` with `Content-Length` and the given extra header lines.
pub async fn post(addr: SocketAddr, path: &str, headers: &[&str], body: &str) -> RawResponse {
    let mut head = format!("POST {path} HTTP/1.1\r\nContent-Length: {}", body.len());
    for h in headers {
        head.push_str("\r\n");
        head.push_str(h);
    }
    send_raw(addr, &head, &[body.as_bytes()]).await
}

/// Encodes `body` with chunked transfer-encoding in chunks of `size` bytes,
/// each chunk a separate write.
pub fn chunked(body: &[u8], size: usize) -> Vec<Vec<u8>> {
    let mut writes: Vec<Vec<u8>> = body
        .chunks(size)
        .map(|c| {
            let mut w = format!("{:x}\r\n", c.len()).into_bytes();
            w.extend_from_slice(c);
            w.extend_from_slice(b"\r\n");
            w
        })
        .collect();
    writes.push(b"0\r\n\r\n".to_vec());
    writes
}
