//! `server::serve` against real loopback TCP clients that are slow, silent or
//! stalled (SPEC 3.3). Timeouts are a few hundred milliseconds so the suite
//! stays fast; every wait is bounded.
#![cfg(all(feature = "server", feature = "axum"))]

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::routing::{get, post};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, timeout};
use tower_signing::server::{ServeConfig, serve};

/// Slack for scheduling on a loaded 2-core machine, added to every bound.
const SLACK: Duration = Duration::from_millis(700);
/// No single wait in these tests lasts longer than this.
const LIMIT: Duration = Duration::from_secs(10);

fn app() -> Router {
    Router::new()
        .route("/", get(|| async { "ok" }))
        .route(
            "/echo",
            post(|body: Bytes| async move { body.len().to_string() }),
        )
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        )
        .route(
            "/slow",
            get(|| async {
                sleep(Duration::from_millis(300)).await;
                "done"
            }),
        )
}

/// A running server; dropping it shuts the server down.
struct Server {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Server {
    async fn start(config: ServeConfig) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, app(), config, async move {
            let _ = rx.await;
        }));
        Server {
            addr,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Triggers the shutdown and returns how long `serve` took to return.
    async fn stop(&mut self) -> Duration {
        let started = Instant::now();
        let _ = self.shutdown.take().unwrap().send(());
        timeout(LIMIT, self.task.take().unwrap())
            .await
            .expect("serve returns within the test limit")
            .unwrap();
        started.elapsed()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Reads until the server closes the connection (EOF or reset); returns what
/// was read and when the close happened, measured from `since`.
async fn read_until_closed(stream: &mut TcpStream, since: Instant) -> (String, Duration) {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match timeout(LIMIT, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the server kept the connection open for {LIMIT:?}"),
        }
    }
    (
        String::from_utf8_lossy(&received).into_owned(),
        since.elapsed(),
    )
}

/// A one-shot `GET` with `Connection: close`; returns the whole response.
async fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    read_until_closed(&mut stream, Instant::now()).await.0
}

fn fast_config() -> ServeConfig {
    ServeConfig::default()
        .with_header_read_timeout(Duration::from_millis(400))
        .with_body_read_timeout(Duration::from_millis(400))
        .with_drain_timeout(Duration::from_millis(400))
}

#[tokio::test]
async fn a_client_sending_one_header_byte_at_a_time_is_closed_within_the_header_timeout() {
    let server = Server::start(fast_config()).await;
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let connected = Instant::now();
    let (mut read, mut write) = stream.into_split();
    // Slowloris: a header byte every 50 ms, never finishing the head.
    let trickle = tokio::spawn(async move {
        for byte in b"GET / HTTP/1.1\r\nHost: test\r\nX-Slow: "
            .iter()
            .cycle()
            .take(200)
        {
            if write.write_all(&[*byte]).await.is_err() {
                break;
            }
            sleep(Duration::from_millis(50)).await;
        }
    });

    // Another client is served normally meanwhile.
    sleep(Duration::from_millis(100)).await;
    let other = http_get(server.addr, "/").await;
    assert!(other.starts_with("HTTP/1.1 200"), "{other}");

    let mut buf = [0u8; 64];
    let closed = timeout(LIMIT, read.read(&mut buf)).await.expect("closed");
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
    let elapsed = connected.elapsed();
    assert!(elapsed < Duration::from_millis(400) + SLACK, "{elapsed:?}");
    assert!(
        elapsed >= Duration::from_millis(350),
        "closed too early: {elapsed:?}"
    );
    trickle.abort();
}

#[tokio::test]
async fn a_silent_connection_is_closed_within_the_header_timeout() {
    let server = Server::start(fast_config()).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let (received, elapsed) = read_until_closed(&mut stream, Instant::now()).await;
    assert_eq!(received, "");
    assert!(elapsed < Duration::from_millis(400) + SLACK, "{elapsed:?}");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_within_the_header_timeout() {
    let server = Server::start(fast_config()).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    let mut buf = [0u8; 1024];
    while !response.ends_with(b"\r\n\r\nok") {
        let n = timeout(LIMIT, stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_ne!(n, 0, "closed before the response");
        response.extend_from_slice(&buf[..n]);
    }
    assert!(response.starts_with(b"HTTP/1.1 200"));

    // Kept alive, then idle: closed by the server.
    let (rest, elapsed) = read_until_closed(&mut stream, Instant::now()).await;
    assert_eq!(rest, "");
    assert!(elapsed < Duration::from_millis(400) + SLACK, "{elapsed:?}");
    assert!(
        elapsed >= Duration::from_millis(300),
        "closed too early: {elapsed:?}"
    );
}

/// Sends `head` and `body_start`, then stalls; the server must answer 408 and
/// close within the body timeout.
async fn assert_stalled_body_gets_408(head: &str, body_start: &str) {
    let server =
        Server::start(fast_config().with_header_read_timeout(Duration::from_secs(5))).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let sent = Instant::now();
    stream.write_all(body_start.as_bytes()).await.unwrap();
    let (response, elapsed) = read_until_closed(&mut stream, sent).await;
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.contains(r#"{"error":"Request body was not received in time"}"#));
    assert!(elapsed < Duration::from_millis(400) + SLACK, "{elapsed:?}");
}

#[tokio::test]
async fn a_content_length_larger_than_the_body_then_a_stall_gets_408_within_the_body_timeout() {
    assert_stalled_body_gets_408(
        "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n",
        "only ten b",
    )
    .await;
}

#[tokio::test]
async fn a_chunked_body_that_never_ends_gets_408_within_the_body_timeout() {
    assert_stalled_body_gets_408(
        "POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n",
        "3\r\nabc\r\n",
    )
    .await;
}

#[tokio::test]
async fn trickling_the_body_does_not_extend_the_body_deadline() {
    let server =
        Server::start(fast_config().with_header_read_timeout(Duration::from_secs(5))).await;
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    write
        .write_all(b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 1000\r\n\r\n")
        .await
        .unwrap();
    let sent = Instant::now();
    let trickle = tokio::spawn(async move {
        for _ in 0..1000 {
            if write.write_all(b"x").await.is_err() {
                break;
            }
            sleep(Duration::from_millis(20)).await;
        }
    });
    let mut response = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match timeout(LIMIT, read.read(&mut buf)).await.expect("answered") {
            Ok(0) | Err(_) => break,
            Ok(n) => response.extend_from_slice(&buf[..n]),
        }
    }
    let elapsed = sent.elapsed();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(elapsed < Duration::from_millis(400) + SLACK, "{elapsed:?}");
    trickle.abort();
}

#[tokio::test]
async fn a_body_sent_in_time_is_served() {
    let server = Server::start(fast_config()).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(
            b"POST /echo HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello",
        )
        .await
        .unwrap();
    let (response, _) = read_until_closed(&mut stream, Instant::now()).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("\r\n\r\n5"), "{response}");
}

#[tokio::test]
async fn an_oversized_request_head_is_refused_and_the_connection_closed() {
    let server = Server::start(
        fast_config()
            .with_header_read_timeout(Duration::from_secs(5))
            .with_max_header_size(8 * 1024),
    )
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    let mut head = b"GET / HTTP/1.1\r\nHost: test\r\nX-Big: ".to_vec();
    head.resize(64 * 1024, b'a');
    // The server may close before it has read everything: ignore write errors.
    let _ = stream.write_all(&head).await;
    let (response, elapsed) = read_until_closed(&mut stream, started).await;
    // A reset can swallow the 431; whatever arrived must be the 431.
    assert!(
        response.is_empty() || response.starts_with("HTTP/1.1 431"),
        "{response}"
    );
    assert!(elapsed < SLACK, "{elapsed:?}");
}

#[tokio::test]
async fn a_head_over_the_limit_is_refused_and_one_under_it_is_served() {
    let server = Server::start(fast_config().with_max_header_size(8 * 1024)).await;
    let head = |filler: usize| {
        format!(
            "GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\nX-Big: {}\r\n\r\n",
            "a".repeat(filler)
        )
    };
    let mut under = TcpStream::connect(server.addr).await.unwrap();
    under.write_all(head(7 * 1024).as_bytes()).await.unwrap();
    let (response, _) = read_until_closed(&mut under, Instant::now()).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    let mut over = TcpStream::connect(server.addr).await.unwrap();
    let _ = over.write_all(head(9 * 1024).as_bytes()).await;
    let (response, elapsed) = read_until_closed(&mut over, Instant::now()).await;
    // A reset can swallow the 431; whatever arrived must be the 431.
    assert!(
        response.is_empty() || response.starts_with("HTTP/1.1 431"),
        "{response}"
    );
    assert!(elapsed < SLACK, "{elapsed:?}");
}

#[tokio::test]
async fn the_peer_address_reaches_the_service_as_connect_info() {
    let server = Server::start(fast_config()).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let local = stream.local_addr().unwrap();
    stream
        .write_all(b"GET /peer HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (response, _) = read_until_closed(&mut stream, Instant::now()).await;
    assert!(
        response.ends_with(&format!("\r\n\r\n{local}")),
        "{response}"
    );
}

#[tokio::test]
async fn the_connection_cap_holds_and_a_waiting_client_is_served_once_a_slot_frees() {
    let server = Server::start(
        fast_config()
            .with_header_read_timeout(Duration::from_secs(5))
            .with_max_connections(2),
    )
    .await;
    let first = TcpStream::connect(server.addr).await.unwrap();
    let _second = TcpStream::connect(server.addr).await.unwrap();
    sleep(Duration::from_millis(100)).await; // both accepted, both silent

    // The third completes its TCP handshake (kernel backlog) but is not served.
    let mut third = TcpStream::connect(server.addr).await.unwrap();
    third
        .write_all(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let waited = timeout(Duration::from_millis(500), third.read(&mut buf)).await;
    assert!(waited.is_err(), "served past the cap: {waited:?}");

    // One slot frees: the third is accepted and answered.
    drop(first);
    let freed = Instant::now();
    let (response, elapsed) = read_until_closed(&mut third, freed).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(elapsed < SLACK, "{elapsed:?}");
}

#[tokio::test]
async fn graceful_shutdown_with_stalled_clients_finishes_within_the_drain_deadline() {
    let mut server = Server::start(
        ServeConfig::default()
            .with_header_read_timeout(Duration::from_secs(30))
            .with_body_read_timeout(Duration::from_secs(30))
            .with_drain_timeout(Duration::from_millis(500)),
    )
    .await;
    // Stalled mid-head and mid-body; with 30 s timeouts only the drain ends them.
    let mut mid_head = TcpStream::connect(server.addr).await.unwrap();
    mid_head.write_all(b"GET / HTTP/1.1\r\nHo").await.unwrap();
    let mut mid_body = TcpStream::connect(server.addr).await.unwrap();
    mid_body
        .write_all(b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\nabc")
        .await
        .unwrap();
    // An in-flight request that finishes within the drain.
    let addr = server.addr;
    let in_flight = tokio::spawn(async move { http_get(addr, "/slow").await });
    sleep(Duration::from_millis(100)).await;

    let took = server.stop().await;
    assert!(took < Duration::from_millis(500) + SLACK, "{took:?}");
    assert!(
        took >= Duration::from_millis(400),
        "did not wait for the drain: {took:?}"
    );

    let response = timeout(LIMIT, in_flight).await.unwrap().unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("done"), "{response}");
    let now = Instant::now();
    assert!(read_until_closed(&mut mid_head, now).await.1 < SLACK);
    assert!(read_until_closed(&mut mid_body, now).await.1 < SLACK);
    // The listener is closed: new clients are refused.
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn shutdown_with_only_idle_connections_returns_at_once() {
    let mut server = Server::start(
        ServeConfig::default()
            .with_header_read_timeout(Duration::from_secs(30))
            .with_drain_timeout(Duration::from_secs(5)),
    )
    .await;
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = timeout(LIMIT, idle.read(&mut buf)).await.unwrap().unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    sleep(Duration::from_millis(50)).await;

    let took = server.stop().await;
    assert!(took < SLACK, "{took:?}");
}
