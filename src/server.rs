//! A bounded HTTP/1.1 server: serve an axum `Router` (or any tower service)
//! so that no slow, silent or stalled client holds the server's resources
//! beyond configured bounds.
//!
//! `axum::serve` and a bare hyper connection loop give hyper no timer, so a
//! client that sends one header byte per second, a body that never ends or an
//! idle keep-alive connection is held for ever, and one stalled connection
//! blocks a graceful shutdown for ever. [`serve`] bounds each of these with a
//! [`ServeConfig`] whose defaults are safe:
//!
//! | bound | default | what happens past it |
//! | --- | --- | --- |
//! | request head (line + headers) time | 10 s | connection closed |
//! | idle keep-alive time | the head time | connection closed |
//! | request body time | 10 s | `408` JSON error, connection closed |
//! | request head size | 16 KiB | `431`, connection closed |
//! | open connections | 1024 | further clients wait in the kernel's accept backlog |
//! | shutdown drain | 10 s | remaining connections dropped |
//!
//! Each request also carries the TCP peer address as axum's
//! `ConnectInfo<SocketAddr>` extension (with the `axum` feature), so trusted-proxy
//! checks and `ConnectInfo` extractors work.
//!
//! ```no_run
//! # #[cfg(feature = "axum")]
//! # async fn run() -> std::io::Result<()> {
//! use axum::{Router, routing::get};
//! use tower_signing::server::{ServeConfig, serve, shutdown_signal};
//!
//! let app = Router::new().route("/", get(|| async { "hello" }));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! serve(listener, app, ServeConfig::default(), shutdown_signal()).await;
//! # Ok(())
//! # }
//! ```
//!
//! Only HTTP/1.1 (and 1.0) is served; put a TLS or HTTP/2 terminating proxy in
//! front for those.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use pin_project_lite::pin_project;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Sleep;
use tower::{Service, ServiceExt};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How long the accept loop pauses after an accept error such as running
/// out of file descriptors (`EMFILE`), instead of retrying in a busy loop.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// The bounds [`serve`] enforces. `Default` is the safe configuration; each
/// `with_*` changes one bound.
#[derive(Debug, Clone)]
#[must_use]
pub struct ServeConfig {
    header_read_timeout: Duration,
    body_read_timeout: Duration,
    max_header_size: usize,
    max_connections: usize,
    drain_timeout: Duration,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            max_header_size: 16 * 1024,
            max_connections: 1024,
            drain_timeout: Duration::from_secs(10),
        }
    }
}

impl ServeConfig {
    /// The safe defaults: 10 s for the request head, 10 s for the body, a
    /// 16 KiB head, 1024 open connections, a 10 s shutdown drain.
    pub fn new() -> Self {
        Self::default()
    }

    /// How long a client has to send a complete request head (request line
    /// and headers) before its connection is closed. Default 10 s.
    ///
    /// The same clock runs while a keep-alive connection waits for its next
    /// request, so this is also the idle keep-alive timeout: an idle
    /// connection is closed after this long.
    ///
    /// # Warning
    /// A larger value lets each slow or silent client hold one of the
    /// [`max_connections`](Self::with_max_connections) slots for longer.
    pub fn with_header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// How long a client has, from the moment its request head is read, to
    /// send the whole body. Past it, reading the body fails, the client gets
    /// a `408` JSON error and the connection is closed. The deadline is not
    /// reset by each byte received, so trickling the body does not extend it.
    /// Default 10 s.
    ///
    /// # Warning
    /// A larger value lets a client that stalls mid-body hold a connection
    /// slot and a handler for longer.
    pub fn with_body_read_timeout(mut self, timeout: Duration) -> Self {
        self.body_read_timeout = timeout;
        self
    }

    /// The largest request head (request line and headers) in bytes; a larger
    /// one is answered `431` and the connection closed. Also caps the read
    /// buffer, so an unfinished head cannot grow memory past it. Default 16 KiB.
    ///
    /// # Warning
    /// A larger value lets every open connection hold that much memory.
    pub fn with_max_header_size(mut self, bytes: usize) -> Self {
        self.max_header_size = bytes;
        self
    }

    /// The most connections served at once (at least 1). Past it, new
    /// clients are not accepted: they wait in the kernel's accept backlog
    /// (their TCP handshake completes, nothing is read) until a connection
    /// closes, and the kernel refuses them once that backlog is full.
    /// Default 1024.
    ///
    /// # Warning
    /// A larger value needs as many file descriptors (check `ulimit -n`)
    /// and lets slow clients together hold more memory.
    pub fn with_max_connections(mut self, max: usize) -> Self {
        self.max_connections = max.clamp(1, Semaphore::MAX_PERMITS);
        self
    }

    /// How long a graceful shutdown waits for in-flight requests: when the
    /// shutdown future completes, the listener closes, idle connections close,
    /// busy ones finish their current request, and whatever is still open
    /// after this long is dropped. Default 10 s.
    ///
    /// # Warning
    /// A larger value lets stalled clients delay the process's exit (and an
    /// orchestrator may kill it first).
    pub fn with_drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    fn http1(&self) -> http1::Builder {
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_read_timeout)
            .max_header_size(self.max_header_size)
            // hyper refuses a buffer under 8 KiB; an unfinished head grows it.
            .max_buf_size(self.max_header_size.max(8 * 1024));
        builder
    }
}

/// Serves `service` on `listener` within the bounds of `config` until
/// `shutdown` completes, then drains (see
/// [`ServeConfig::with_drain_timeout`]) and returns.
///
/// `service` is an axum `Router` or any tower service taking
/// `Request<`[`RequestBody`]`>`. Accept errors are logged with `tracing` and
/// retried after a short pause (no busy loop when file descriptors run out);
/// connection errors (timeouts, resets) are logged at debug level.
pub async fn serve<S, B, F>(listener: TcpListener, service: S, config: ServeConfig, shutdown: F)
where
    S: Service<Request<RequestBody>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    F: Future<Output = ()> + Send,
{
    let mut shutdown = std::pin::pin!(shutdown);
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let http1 = config.http1();
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();

    loop {
        // Reap finished connection tasks so the set only holds open ones.
        while connections.try_join_next().is_some() {}

        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            () = &mut shutdown => break,
        };
        let Ok(slot) = slot else { break }; // the semaphore is never closed
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) if is_connection_error(&e) => {
                tracing::debug!(error = %e, "a connection was reset before it was accepted");
                continue;
            }
            Err(e) => {
                tracing::error!(error = %e, "accepting a connection failed; retrying shortly");
                tokio::select! {
                    () = tokio::time::sleep(ACCEPT_ERROR_BACKOFF) => continue,
                    () = &mut shutdown => break,
                }
            }
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }

        let body_timeout = config.body_read_timeout;
        let service = service.clone();
        let per_request = hyper::service::service_fn(move |req: Request<Incoming>| {
            call(service.clone(), req, peer, body_timeout)
        });
        let connection = graceful.watch(http1.serve_connection(TokioIo::new(stream), per_request));
        connections.spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection closed with an error");
            }
            drop(slot);
        });
    }

    drop(listener); // refuse new clients while draining
    while connections.try_join_next().is_some() {}
    let open = connections.len();
    tracing::info!(open, "shutting down: draining connections");
    if tokio::time::timeout(config.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            "drain deadline passed; closing the remaining connections"
        );
    }
    connections.shutdown().await;
}

/// One request: attach the peer address and the body deadline, call the
/// service, and answer `408` instead if the body missed its deadline.
async fn call<S, B>(
    service: S,
    req: Request<Incoming>,
    peer: SocketAddr,
    body_timeout: Duration,
) -> Result<Response<Either<B, Full<Bytes>>>, S::Error>
where
    S: Service<Request<RequestBody>, Response = Response<B>>,
{
    let (mut parts, body) = req.into_parts();
    insert_peer(&mut parts.extensions, peer);
    let body = RequestBody::new(body, body_timeout);
    let timed_out = Arc::clone(&body.timed_out);
    let response = service.oneshot(Request::from_parts(parts, body)).await?;
    if timed_out.load(Ordering::Acquire) {
        let mut response = crate::json_body::json_error::<Full<Bytes>>(
            StatusCode::REQUEST_TIMEOUT,
            "Request body was not received in time",
        );
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return Ok(response.map(Either::Right));
    }
    Ok(response.map(Either::Left))
}

/// Puts the TCP peer address where the crate's trusted-proxy and source
/// checks ([`PeerAddr`](crate::utilsio::PeerAddr)) and axum's
/// `ConnectInfo<SocketAddr>` extractor look for it.
fn insert_peer(extensions: &mut http::Extensions, peer: SocketAddr) {
    extensions.insert(crate::utilsio::PeerAddr(peer));
    #[cfg(feature = "axum")]
    extensions.insert(axum::extract::ConnectInfo(peer));
}

/// `accept` failed because of that one connection (it was reset or refused
/// before we got it), not because of the listener or the process.
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

pin_project! {
    /// The request body [`serve`] hands to the service: hyper's body with a
    /// deadline. Once the body read timeout has passed since the request head
    /// was read, reading it fails (and [`serve`] answers `408`).
    pub struct RequestBody {
        #[pin]
        inner: Incoming,
        #[pin]
        deadline: Sleep,
        timed_out: Arc<AtomicBool>,
    }
}

impl RequestBody {
    fn new(inner: Incoming, timeout: Duration) -> Self {
        RequestBody {
            inner,
            deadline: tokio::time::sleep(timeout),
            timed_out: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBody")
            .field("deadline", &self.deadline.deadline())
            .finish_non_exhaustive()
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        if this.inner.is_end_stream() {
            return Poll::Ready(None);
        }
        if this.deadline.poll(cx).is_ready() {
            this.timed_out.store(true, Ordering::Release);
            return Poll::Ready(Some(Err(BodyTimedOut.into())));
        }
        this.inner
            .poll_frame(cx)
            .map(|frame| frame.map(|f| f.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The error a [`RequestBody`] fails with once its deadline has passed.
#[derive(Debug, thiserror::Error)]
#[error("the request body was not received within the body read timeout")]
struct BodyTimedOut;

/// Completes on Ctrl-C or (on Unix) SIGTERM: the `shutdown` future to pass
/// to [`serve`] in a binary. If a signal handler cannot be installed, that
/// signal is ignored and the other one still works.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received");
}
