//! `server::serve` when `accept` fails because the process is out of file
//! descriptors (EMFILE): it logs, backs off instead of spinning, and serves
//! again once descriptors free up. Its own test binary, because it lowers the
//! process's descriptor limit.
#![cfg(all(unix, feature = "server", feature = "axum"))]

use std::fs::File;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{sleep, timeout};
use tower_signing::server::{ServeConfig, serve};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

/// Counts the crate's ERROR events.
struct CountErrors(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> Layer<S> for CountErrors {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if *meta.level() == tracing::Level::ERROR && meta.target().starts_with("tower_signing") {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[tokio::test]
async fn accept_errors_are_logged_with_a_back_off_and_serving_resumes() {
    let errors = Arc::new(AtomicUsize::new(0));
    // A current-thread runtime: the server task logs on this thread.
    let _guard = tracing::subscriber::set_default(
        tracing_subscriber::registry().with(CountErrors(Arc::clone(&errors))),
    );

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Queued in the kernel's backlog before the descriptors run out.
    let mut client = TcpStream::connect(addr).await.unwrap();

    let original = getrlimit(Resource::Nofile);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(256),
            maximum: original.maximum,
        },
    )
    .unwrap();
    let file = File::open("Cargo.toml").unwrap();
    let mut fillers = Vec::new();
    while let Ok(dup) = file.try_clone() {
        fillers.push(dup);
        assert!(fillers.len() < 256, "the descriptor limit did not apply");
    }

    let app = Router::new().route("/", get(|| async { "ok" }));
    let server = tokio::spawn(serve(
        listener,
        app,
        ServeConfig::default(),
        std::future::pending(),
    ));
    sleep(Duration::from_secs(1)).await;
    let logged = errors.load(Ordering::Relaxed);
    // A busy loop would log thousands of times a second.
    assert!(
        (2..=20).contains(&logged),
        "{logged} accept errors logged in 1 s"
    );

    drop(fillers);
    setrlimit(Resource::Nofile, original).unwrap();
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    timeout(Duration::from_secs(5), client.read_to_string(&mut response))
        .await
        .expect("served once descriptors are free")
        .unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    server.abort();
}
