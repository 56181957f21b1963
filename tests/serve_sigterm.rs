//! SIGTERM on a real process serving with `server::serve` and
//! `shutdown_signal`: with clients stalled mid-head and mid-body it exits,
//! cleanly, within the drain deadline (SPEC 3.3). The test runs this same
//! test binary as the child server.
#![cfg(all(unix, feature = "server", feature = "axum"))]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use rustix::process::{Pid, Signal, kill_process};
use tower_signing::server::{ServeConfig, serve, shutdown_signal};

const TEST_NAME: &str = "sigterm_with_stalled_clients_exits_within_the_drain_deadline";
/// Set in the child's environment: run the server instead of the test.
const CHILD: &str = "TOWER_SIGNING_SERVE_CHILD";
const DRAIN: Duration = Duration::from_millis(500);
const SLACK: Duration = Duration::from_millis(1500);

/// Kills the child if the test fails before it exits.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn sigterm_with_stalled_clients_exits_within_the_drain_deadline() {
    if std::env::var_os(CHILD).is_some() {
        return serve_until_sigterm();
    }
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // libtest prints the test's name on the same line first.
            if let Some((_, addr)) = line.split_once("listening on ") {
                let _ = tx.send(addr.trim().parse::<SocketAddr>().unwrap());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("child listening");

    // Stalled mid-head and mid-body: 30 s timeouts, so only the drain ends them.
    let mut mid_head = TcpStream::connect(addr).unwrap();
    mid_head.write_all(b"POST / HTTP/1.1\r\nHo").unwrap();
    let mut mid_body = TcpStream::connect(addr).unwrap();
    mid_body
        .write_all(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));

    let pid = Pid::from_raw(i32::try_from(child.0.id()).unwrap()).unwrap();
    let sent = Instant::now();
    kill_process(pid, Signal::TERM).unwrap();
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "still running after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = sent.elapsed();
    // A clean exit: the handler ran (the default action would kill by signal).
    assert!(status.success(), "{status:?}");
    assert!(took < DRAIN + SLACK, "{took:?}");
    assert!(
        took >= DRAIN - Duration::from_millis(100),
        "did not drain: {took:?}"
    );
    for stream in [&mut mid_head, &mut mid_body] {
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 64];
        assert!(matches!(stream.read(&mut buf), Ok(0) | Err(_)));
    }
}

fn serve_until_sigterm() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("listening on {}", listener.local_addr().unwrap());
        let app = Router::new().route("/", post(|body: String| async move { body }));
        let config = ServeConfig::default()
            .with_header_read_timeout(Duration::from_secs(30))
            .with_body_read_timeout(Duration::from_secs(30))
            .with_drain_timeout(DRAIN);
        serve(listener, app, config, shutdown_signal()).await;
    });
}
