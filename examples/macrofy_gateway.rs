//! A local Macrofy-compatible gateway (`POST /api/auth/connect`, SPEC 2.3)
//! for offline integration tests: verify `{appId, userId, signature}`, count
//! sandbox users, issue 7-day HS256 session JWTs, refresh them
//! (`POST /api/auth/refresh`).
//!
//! Run with: cargo run --example macrofy_gateway --features gateway,server
//!
//! Environment (each has a demo default, printed at start-up):
//! - `MACROFY_GATEWAY_APPS`: `appId:secret,appId:secret` (default: the demo
//!   app `tower_signing::macrofy::DEMO_APP_ID` / `DEMO_APP_SECRET`). Secrets
//!   are taken exactly as written up to the next comma. During a rotation
//!   list an app twice, new secret first: `appId:new,appId:old`.
//! - `MACROFY_GATEWAY_JWT_SECRET`: the JWT signing key, at least 32 bytes
//!   (default: a public demo key).
//! - `MACROFY_GATEWAY_JWT_PREVIOUS_SECRET`: a previous JWT key whose tokens
//!   are still accepted until they expire (JWT key rotation), optional.
//! - `MACROFY_GATEWAY_USER_ID_KEY`: the key of the scoped user ids, at
//!   least 32 bytes; set it to keep user ids stable across JWT key
//!   rotations (default: derived from the JWT key).
//! - `MACROFY_TOKEN_LIFETIME_SECONDS`: token lifetime (default 7 days).
//! - `REDIS_URL`: count sandbox users in Redis, shared by every instance
//!   pointing at it (`redis://127.0.0.1:6379/`; needs `--features redis`);
//!   unset: in memory.
//! - `MACROFY_SANDBOX_USER_LIMIT`: distinct users per app, or `unlimited`
//!   (default: 100).
//! - `HOST` / `PORT`: where to listen (default 127.0.0.1:4000, the address
//!   `examples/server.rs` calls when `MACROFY_BASE_URL` is unset).
//!
//! Stops gracefully on Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use tower_signing::macrofy::gateway::{
    DEFAULT_SANDBOX_USER_LIMIT, GatewayConfig, InMemoryAppRegistry, QuotaStore, REFRESH_PATH,
    SESSION_PATH, TOKEN_TTL_SECONDS,
};
use tower_signing::macrofy::{self, CONNECT_PATH, SigningKey};
use tower_signing::server::{ServeConfig, serve, shutdown_signal};

/// Public, demo only: anyone can read it here.
const DEMO_JWT_SECRET: &str = "demo-macrofy-gateway-jwt-key-not-for-production";

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

async fn run() -> Result<(), String> {
    let demo_apps = env("MACROFY_GATEWAY_APPS").is_none();
    let apps = match env("MACROFY_GATEWAY_APPS") {
        Some(spec) => InMemoryAppRegistry::from_spec(&spec)
            .map_err(|e| format!("MACROFY_GATEWAY_APPS: {e}"))?,
        None => InMemoryAppRegistry::new()
            .with_app(macrofy::DEMO_APP_ID, macrofy::DEMO_APP_SECRET)
            .map_err(|e| e.to_string())?,
    };
    let app_count = apps.len();
    let demo_jwt = env("MACROFY_GATEWAY_JWT_SECRET").is_none();
    let jwt_secret = env("MACROFY_GATEWAY_JWT_SECRET").unwrap_or_else(|| DEMO_JWT_SECRET.into());
    let limit = match env("MACROFY_SANDBOX_USER_LIMIT") {
        None => Some(DEFAULT_SANDBOX_USER_LIMIT),
        Some(v) if v.trim().eq_ignore_ascii_case("unlimited") => None,
        Some(v) => Some(v.trim().parse::<u64>().map_err(|_| {
            "MACROFY_SANDBOX_USER_LIMIT must be a whole number or `unlimited`".to_owned()
        })?),
    };
    let host = env("HOST").unwrap_or_else(|| "127.0.0.1".into());
    let port: u16 = match env("PORT") {
        Some(p) => p
            .trim()
            .parse()
            .map_err(|_| "PORT must be a port number".to_owned())?,
        None => 4000,
    };
    let addr: SocketAddr = format!("{host}:{port}")
        .parse()
        .map_err(|_| "HOST must be an IP address".to_owned())?;

    let lifetime = match env("MACROFY_TOKEN_LIFETIME_SECONDS") {
        None => TOKEN_TTL_SECONDS,
        Some(v) => v.trim().parse::<u64>().map_err(|_| {
            "MACROFY_TOKEN_LIFETIME_SECONDS must be a whole number of seconds".to_owned()
        })?,
    };

    let mut config = GatewayConfig::new(apps, jwt_secret.into_bytes())
        .with_sandbox_user_limit(limit)
        .with_token_lifetime(Duration::from_secs(lifetime));
    let previous_jwt = env("MACROFY_GATEWAY_JWT_PREVIOUS_SECRET");
    if let Some(previous) = &previous_jwt {
        config = config.with_previous_jwt_key(previous.as_bytes());
    }
    if let Some(key) = env("MACROFY_GATEWAY_USER_ID_KEY") {
        config = config.with_user_id_key(key.into_bytes());
    }
    let quota = match env("REDIS_URL") {
        Some(url) => Some(redis_quota(&url).await?),
        None => None,
    };
    let quota_name = match quota {
        Some(store) => {
            config = config.with_quota_store(store);
            "Redis (REDIS_URL), shared by every instance using it"
        }
        None => "in memory (set REDIS_URL to share it between instances)",
    };
    let gateway = config.build().map_err(|e| {
        format!(
            "gateway configuration (MACROFY_GATEWAY_JWT_SECRET, MACROFY_GATEWAY_JWT_PREVIOUS_SECRET, \
             MACROFY_GATEWAY_USER_ID_KEY, MACROFY_TOKEN_LIFETIME_SECONDS): {e}"
        )
    })?;

    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;

    println!("Macrofy gateway listening on http://{addr}");
    if demo_apps {
        println!("  DEMO app (MACROFY_GATEWAY_APPS unset; public credentials, local use only):");
        println!("    appId:  {}", macrofy::DEMO_APP_ID);
        println!("    secret: {}", macrofy::DEMO_APP_SECRET);
    } else {
        println!("  apps: {app_count} from MACROFY_GATEWAY_APPS");
    }
    if demo_jwt {
        println!("  JWT key: the public demo key (set MACROFY_GATEWAY_JWT_SECRET for your own)");
    }
    println!(
        "  JWT key id (kid): {}{}",
        gateway.jwt_key_id(),
        if previous_jwt.is_some() {
            " (also accepting tokens under the previous key)"
        } else {
            ""
        }
    );
    println!("  token lifetime: {lifetime} s");
    println!("  quota store: {quota_name}");
    match limit {
        Some(n) => println!("  sandbox user limit: {n} distinct users per app"),
        None => println!("  sandbox user limit: unlimited"),
    }
    if demo_apps {
        let payload = SigningKey::new(macrofy::DEMO_APP_SECRET)
            .map_err(|e| e.to_string())?
            .payload(macrofy::DEMO_APP_ID, "demo-user-1");
        let body = serde_json::to_string(&payload).map_err(|e| e.to_string())?;
        println!();
        println!("Try it:");
        println!(
            "  curl -s -X POST http://{addr}{CONNECT_PATH} -H 'content-type: application/json' -d '{body}'"
        );
        println!(
            "  curl -s http://{addr}{SESSION_PATH} -H 'authorization: Bearer <token from above>'"
        );
        println!(
            "  curl -s -X POST http://{addr}{REFRESH_PATH} -H 'authorization: Bearer <token from above>'"
        );
    }

    // Bounded: request head and body timeouts, a connection cap, a drain
    // deadline on Ctrl-C / SIGTERM.
    serve(
        listener,
        gateway.router::<()>(),
        ServeConfig::default(),
        shutdown_signal(),
    )
    .await;
    println!("Macrofy gateway stopped");
    Ok(())
}

#[cfg(feature = "redis")]
async fn redis_quota(url: &str) -> Result<impl QuotaStore, String> {
    tower_signing::macrofy::gateway::RedisQuotaStore::open(url)
        .await
        .map_err(|e| format!("REDIS_URL: {e}"))
}

/// Without the `redis` feature a set `REDIS_URL` is an error, not silently
/// ignored: the instances would not share their count.
#[cfg(not(feature = "redis"))]
async fn redis_quota(_url: &str) -> Result<impl QuotaStore, String> {
    Err::<tower_signing::macrofy::gateway::InMemoryQuotaStore, _>(
        "REDIS_URL is set but this build has no Redis support: \
         run with --features gateway,redis"
            .to_owned(),
    )
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
