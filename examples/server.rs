//! The app backend: utilsio and Macrofy signing routes as a standalone server.
//!
//! Run with: cargo run --example server --features client,server
//!
//! Serves, on `HOST`:`PORT` (default 127.0.0.1:3000):
//! - `POST /api/signature-callback`: utilsio.dev's server-to-server callback (SPEC 1.5);
//! - `POST /api/utilsio/auth-headers`: the "get auth headers" server action (SPEC 1.4);
//! - `POST /api/macrofy-signature`: `{appId, userId, signature}` for the signed-in user;
//! - `POST /api/macrofy-session`: the signed-in user's Macrofy session from the
//!   gateway at `MACROFY_BASE_URL`, cached and refreshed; only `{token, user}`
//!   leaves the server (the recommended flow).
//!
//! Users sign in the way a real app would plug in its own login, kept tiny:
//! `Authorization: Bearer <token>`, looked up in `EXAMPLE_USER_TOKENS`
//! (`token:userId,token:userId`; demo tokens are printed when unset). Without
//! a known token, the auth-headers and both Macrofy routes answer 401
//! `{"error":"Authentication required"}`; the userId is never read from the
//! body.
//!
//! Sessions are cached in memory, or in Redis when `REDIS_URL` is set (build
//! with `--features redis`), so several instances share them and make one
//! gateway call per user between them.
//!
//! Macrofy uses `MACROFY_APP_ID` / `MACROFY_APP_SECRET`, or, when both are
//! unset, the demo app served by `cargo run --example macrofy_gateway --features gateway,server`
//! (`MACROFY_BASE_URL` then defaults to that local gateway, 127.0.0.1:4000).
//!
//! With none of `UTILSIO_APP_SECRET`, `UTILSIO_APP_SALT`, `UTILSIO_APP_ID` /
//! `NEXT_PUBLIC_UTILSIO_APP_ID` set, it starts with built-in DEMO credentials
//! and the HTTPS check off, and prints curl commands to try. With them set it
//! uses them (and `UTILSIO_REQUIRE_HTTPS`, default true). `UTILSIO_APP_HASH`
//! may replace the secret and salt, and every secret may come from a file
//! instead (`UTILSIO_APP_SECRET_FILE`, `UTILSIO_APP_SALT_FILE`,
//! `UTILSIO_APP_HASH_FILE`, `MACROFY_APP_SECRET_FILE`).
//!
//! Rotating a secret without a restart: rewrite the secret files and send
//! SIGHUP. The server re-reads them, derives the new key off the executor
//! and swaps it in; in-flight requests finish with the old key. A failed
//! reload keeps the old keys and logs why. (The environment of a running
//! process does not change: rotate through the `_FILE` variables.)
//!
//! It serves with the crate's bounded server (header, body and idle
//! timeouts, a connection cap, a drain deadline). Logs go to stderr (no
//! colours unless it is a terminal), each request's lines in a span with its
//! request id (`x-request-id`, the caller's or a new one, echoed in the
//! response); `RUST_LOG=debug` for more. Ctrl-C or SIGTERM shuts it down
//! gracefully.
//!
//! With `METRICS_ADDR` set (e.g. `127.0.0.1:9100`; build with
//! `--features metrics`), the crate's metrics are served as Prometheus text
//! at `GET /metrics` on that address, a listener of its own: keep it on an
//! internal address.

use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, FromRequestParts};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tower_signing::identity::{AuthenticatedUser, Unauthenticated};
use tower_signing::macrofy::routes::{self as macrofy_routes, MacrofyConfig, MacrofyState};
use tower_signing::server::{ServeConfig, serve, shutdown_signal};
use tower_signing::utilsio::{self, DEMO_APP_ID, UtilsioConfig, UtilsioState};

mod support;

/// The demo sign-ins used when `EXAMPLE_USER_TOKENS` is unset.
const DEMO_USER_TOKENS: &str = "demo-token-alice:alice,demo-token-bob:bob";

/// The app's state: its sign-ins and the utilsio signing state.
#[derive(Clone)]
struct AppState {
    tokens: UserTokens,
    utilsio: UtilsioState,
}

impl FromRef<AppState> for UserTokens {
    fn from_ref(state: &AppState) -> Self {
        state.tokens.clone()
    }
}

impl FromRef<AppState> for UtilsioState {
    fn from_ref(state: &AppState) -> Self {
        state.utilsio.clone()
    }
}

/// The app's users: bearer token to userId (a real app asks its session
/// store or identity provider).
#[derive(Clone)]
struct UserTokens(Arc<Vec<(String, String)>>);

impl UserTokens {
    /// Parses `token:userId,token:userId`.
    fn parse(spec: &str) -> Result<Self, String> {
        let mut pairs = Vec::new();
        for entry in spec.split(',').filter(|e| !e.trim().is_empty()) {
            let Some((token, user)) = entry.trim().split_once(':') else {
                return Err(
                    "EXAMPLE_USER_TOKENS must be token:userId pairs separated by commas".into(),
                );
            };
            if token.is_empty() || user.is_empty() {
                return Err(
                    "EXAMPLE_USER_TOKENS has an entry with an empty token or userId".into(),
                );
            }
            pairs.push((token.to_owned(), user.to_owned()));
        }
        if pairs.is_empty() {
            return Err("EXAMPLE_USER_TOKENS has no token:userId pair".into());
        }
        Ok(UserTokens(Arc::new(pairs)))
    }

    /// The user of `Authorization: Bearer <token>`, comparing every known
    /// token in constant time.
    fn user(&self, headers: &axum::http::HeaderMap) -> Option<User> {
        let token = headers
            .get(axum::http::header::AUTHORIZATION)?
            .to_str()
            .ok()?
            .strip_prefix("Bearer ")?;
        let mut found = None;
        for (known, user) in self.0.iter() {
            if bool::from(known.as_bytes().ct_eq(token.as_bytes())) {
                found = Some(User(user.clone()));
            }
        }
        found
    }
}

/// The signed-in user: the extractor the Macrofy routes are generic over.
struct User(String);

impl AuthenticatedUser for User {
    fn user_id(&self) -> &str {
        &self.0
    }
}

impl<S> FromRequestParts<S> for User
where
    UserTokens: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Unauthenticated;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Unauthenticated> {
        UserTokens::from_ref(state)
            .user(&parts.headers)
            .ok_or(Unauthenticated)
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Print errors with Display ("UTILSIO_APP_SECRET is not set"), not Debug.
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn Error>> {
    support::init_logs();
    let metrics_addr = serve_metrics().await?;

    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p
            .parse()
            .map_err(|_| "PORT must be a number from 0 to 65535")?,
        Err(_) => 3000,
    };

    let config = UtilsioConfig::from_env_or_demo()?;
    let demo = config.is_demo();
    let macrofy = MacrofyConfig::from_env_or_demo()?;
    let tokens_env = std::env::var("EXAMPLE_USER_TOKENS")
        .ok()
        .filter(|v| !v.is_empty());
    let demo_tokens = tokens_env.is_none();
    let tokens = UserTokens::parse(tokens_env.as_deref().unwrap_or(DEMO_USER_TOKENS))?;
    let (macrofy, cache) = match std::env::var("REDIS_URL").ok().filter(|v| !v.is_empty()) {
        Some(url) => (with_redis(macrofy, &url).await?, "Redis (REDIS_URL)"),
        None => (
            macrofy,
            "memory (set REDIS_URL to share them between instances)",
        ),
    };
    // scrypt runs once here, on the blocking pool; requests only clone an HMAC state.
    let utilsio_state = config.build().await?;
    let require_https = utilsio_state.require_https();

    let macrofy_demo = macrofy.is_demo();
    let macrofy_app_id = macrofy.app_id().to_owned();
    let macrofy_base_url = macrofy.base_url().to_owned();
    // Kept to swap its key on SIGHUP (the routes share it).
    let macrofy = MacrofyState::from(macrofy);
    reload_on_sighup(utilsio_state.clone(), macrofy.clone())?;

    let app = Router::new()
        .merge(utilsio::router(utilsio_state.clone()))
        // Both act as the signed-in `User`; anonymous callers get 401 JSON.
        .route(
            utilsio::routes::AUTH_HEADERS_PATH,
            utilsio::auth_headers_route::<User, AppState>(),
        )
        .merge(macrofy_routes::router::<User, AppState>(macrofy))
        .with_state(AppState {
            tokens: tokens.clone(),
            utilsio: utilsio_state,
        });
    let app = support::with_request_ids(app);

    let listener = TcpListener::bind((host.as_str(), port)).await?;
    let addr = listener.local_addr()?;
    let example_token = tokens.0[0].0.clone();
    if demo_tokens {
        println!("# DEMO sign-ins (set EXAMPLE_USER_TOKENS=token:userId,... for your own):");
        for (token, user) in tokens.0.iter() {
            println!("#   Authorization: Bearer {token}  ->  {user}");
        }
    } else {
        println!(
            "# sign-ins from EXAMPLE_USER_TOKENS ({} users)",
            tokens.0.len()
        );
    }
    let auth = format!(" -H 'Authorization: Bearer {example_token}'");
    print_banner(addr, demo, require_https, &auth);
    print_macrofy_banner(
        addr,
        macrofy_demo,
        &macrofy_app_id,
        &macrofy_base_url,
        &auth,
    );
    println!("# Macrofy sessions are cached in {cache}");
    if let Some(metrics_addr) = metrics_addr {
        println!("# Prometheus metrics: curl -s http://{metrics_addr}/metrics");
    }

    serve(listener, app, ServeConfig::default(), shutdown_signal()).await;
    eprintln!("server stopped");
    Ok(())
}

/// With `METRICS_ADDR` set: installs a Prometheus recorder and serves its
/// text at `GET /metrics` on that address. Returns the bound address.
#[cfg(feature = "metrics")]
async fn serve_metrics() -> Result<Option<SocketAddr>, Box<dyn Error>> {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

    let Some(addr) = std::env::var("METRICS_ADDR").ok().filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr.as_str())
        .await
        .map_err(|e| format!("could not listen on METRICS_ADDR {addr} ({e})"))?;
    let local = listener.local_addr()?;
    // Buckets (not the exporter's default summary) so that several
    // instances' histograms add up: 5 µs to 10 ms.
    let buckets = [
        5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 1e-2,
    ];
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("tower_signing_callback_verify_seconds".into()),
            &buckets,
        )?
        .install_recorder()
        .map_err(|e| format!("could not install the metrics recorder ({e})"))?;
    // Without the exporter's own listener, its histograms are trimmed here.
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    let metrics = Router::new().route(
        "/metrics",
        axum::routing::get(move || std::future::ready(handle.render())),
    );
    // Bounded like the app's listener; it ends with the process.
    let forever = std::future::pending::<()>();
    tokio::spawn(serve(listener, metrics, ServeConfig::default(), forever));
    Ok(Some(local))
}

#[cfg(not(feature = "metrics"))]
async fn serve_metrics() -> Result<Option<SocketAddr>, Box<dyn Error>> {
    match std::env::var("METRICS_ADDR") {
        Ok(v) if !v.is_empty() => Err(
            "METRICS_ADDR is set but this build has no metrics: run with --features metrics".into(),
        ),
        _ => Ok(None),
    }
}

/// The session cache in Redis at `url` (shared by every instance).
#[cfg(feature = "redis")]
async fn with_redis(config: MacrofyConfig, url: &str) -> Result<MacrofyConfig, Box<dyn Error>> {
    use tower_signing::macrofy::sessions::RedisSessionCache;
    // The URL is not printed: it may hold a password.
    let cache = RedisSessionCache::connect(url)
        .await
        .map_err(|e| format!("could not use Redis at REDIS_URL ({e})"))?;
    Ok(config.with_session_cache(cache))
}

#[cfg(not(feature = "redis"))]
async fn with_redis(_: MacrofyConfig, _: &str) -> Result<MacrofyConfig, Box<dyn Error>> {
    Err("REDIS_URL is set but this build has no Redis support: run with --features redis".into())
}

fn print_banner(addr: SocketAddr, demo: bool, require_https: bool, auth: &str) {
    let base = format!("http://{addr}");
    if demo {
        println!("==================================================================");
        println!(" DEMO MODE: built-in demo credentials (app id {DEMO_APP_ID}),");
        println!(" HTTPS check OFF. Set UTILSIO_APP_SECRET, UTILSIO_APP_SALT and");
        println!(" UTILSIO_APP_ID to serve a real app.");
        println!("==================================================================");
    }
    let app_id = if demo {
        DEMO_APP_ID.to_owned()
    } else {
        "$UTILSIO_APP_ID".to_owned()
    };
    let proto = if require_https {
        " -H 'X-Forwarded-Proto: https'"
    } else {
        ""
    };
    println!("listening on {base}");
    println!();
    println!("# utilsio.dev's signature callback:");
    println!(
        "curl -s -X POST {base}/api/signature-callback -H 'X-utilsio-Origin: utilsio.dev'{proto} \
         -H 'content-type: application/json' \
         -d \"{{\\\"deviceId\\\":\\\"device-123\\\",\\\"appId\\\":\\\"{app_id}\\\",\\\"additionalData\\\":\\\"0.033333\\\",\\\"timestamp\\\":$(date +%s)}}\""
    );
    println!();
    println!("# the auth-headers server action:");
    println!(
        "curl -s -X POST {base}/api/utilsio/auth-headers{auth} -H 'content-type: application/json' \
         -d '{{\"deviceId\":\"device-123\",\"additionalData\":\"0.033333\"}}'"
    );
    println!();
}

fn print_macrofy_banner(addr: SocketAddr, demo: bool, app_id: &str, gateway: &str, auth: &str) {
    let base = format!("http://{addr}");
    if demo {
        println!("==================================================================");
        println!(" MACROFY DEMO MODE: demo app {app_id}, gateway {gateway}.");
        println!(
            " Start the local gateway with: cargo run --example macrofy_gateway --features gateway,server"
        );
        println!(" Set MACROFY_APP_ID and MACROFY_APP_SECRET to serve a real app.");
        println!("==================================================================");
    } else {
        println!("# Macrofy app {app_id}, gateway {gateway}");
    }
    println!("# Macrofy: {{appId, userId, signature}} for the signed-in user:");
    println!("curl -s -X POST {base}/api/macrofy-signature{auth}");
    println!();
    println!(
        "# Macrofy: the backend connects for the signed-in user and returns only {{token, user}}:"
    );
    println!("curl -s -X POST {base}/api/macrofy-session{auth}");
    println!();
}

/// On every SIGHUP: re-read the configuration (the secret files), derive the
/// new keys off the executor and swap them in. A failed reload keeps the old
/// keys and logs why.
#[cfg(unix)]
fn reload_on_sighup(utilsio: UtilsioState, macrofy: MacrofyState) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            reload_keys(&utilsio, &macrofy).await;
        }
    });
    Ok(())
}

#[cfg(not(unix))]
fn reload_on_sighup(_: UtilsioState, _: MacrofyState) -> std::io::Result<()> {
    Ok(())
}

#[cfg(unix)]
async fn reload_keys(utilsio: &UtilsioState, macrofy: &MacrofyState) {
    let utilsio_result = match UtilsioConfig::from_env_or_demo() {
        Ok(config) => utilsio.reload(config).await,
        Err(e) => Err(e),
    };
    match utilsio_result {
        Ok(()) => tracing::info!("utilsio key reloaded for app {}", utilsio.app_id()),
        Err(e) => tracing::error!("utilsio key not reloaded, the old key stays in use: {e}"),
    }
    match MacrofyConfig::from_env_or_demo().and_then(|config| macrofy.reload(config)) {
        Ok(()) => tracing::info!("macrofy key reloaded for app {}", macrofy.config().app_id()),
        Err(e) => tracing::error!("macrofy key not reloaded, the old key stays in use: {e}"),
    }
}
