//! The app backend: utilsio and Macrofy signing routes as a standalone server.
//!
//! Run with: cargo run --example server
//!
//! Serves, on `HOST`:`PORT` (default 127.0.0.1:3000):
//! - `POST /api/signature-callback`: utilsio.dev's server-to-server callback (SPEC 1.5);
//! - `POST /api/utilsio/auth-headers`: the "get auth headers" server action (SPEC 1.4);
//! - `POST /api/macrofy-signature`: `{userId}` to `{appId, userId, signature}` (SPEC 2.2);
//! - `POST /api/macrofy-session`: signs, connects to the Macrofy gateway at
//!   `MACROFY_BASE_URL` and returns only `{token, user}` (the recommended flow).
//!
//! Macrofy uses `MACROFY_APP_ID` / `MACROFY_APP_SECRET`, or, when both are
//! unset, the demo app served by `cargo run --example macrofy_gateway`
//! (`MACROFY_BASE_URL` then defaults to that local gateway, 127.0.0.1:4000).
//!
//! With none of `UTILSIO_APP_SECRET`, `UTILSIO_APP_SALT`, `UTILSIO_APP_ID` /
//! `NEXT_PUBLIC_UTILSIO_APP_ID` set, it starts with built-in DEMO credentials
//! and the HTTPS check off, and prints curl commands to try. With them set it
//! uses them (and `UTILSIO_REQUIRE_HTTPS`, default true). Logs go to stderr;
//! `RUST_LOG=debug` for more. Ctrl-C or SIGTERM shuts it down gracefully.

use std::error::Error;
use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tower_signing::macrofy::routes::{self as macrofy_routes, MacrofyConfig};
use tower_signing::utilsio::{self, DEMO_APP_ID, UtilsioConfig};
use tracing_subscriber::EnvFilter;

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
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();

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
    // scrypt runs once here, on the blocking pool; requests only clone an HMAC state.
    let utilsio_state = config.build().await?;
    let require_https = utilsio_state.require_https();

    let macrofy_demo = macrofy.is_demo();
    let macrofy_app_id = macrofy.app_id().to_owned();
    let macrofy_base_url = macrofy.base_url().to_owned();

    // TODO(lead): auth. The auth-headers route signs for anyone here.
    let auth_headers = Router::new()
        .route(
            utilsio::routes::AUTH_HEADERS_PATH,
            utilsio::insecure_anonymous_auth_headers_route(),
        )
        .with_state(utilsio_state.clone());
    let app = Router::new()
        .merge(utilsio::router(utilsio_state))
        .merge(auth_headers)
        .merge(macrofy_routes::router(macrofy));

    let listener = TcpListener::bind((host.as_str(), port)).await?;
    let addr = listener.local_addr()?;
    print_banner(addr, demo, require_https);
    print_macrofy_banner(addr, macrofy_demo, &macrofy_app_id, &macrofy_base_url);

    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    eprintln!("server stopped");
    Ok(())
}

fn print_banner(addr: SocketAddr, demo: bool, require_https: bool) {
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
        "curl -s -X POST {base}/api/utilsio/auth-headers -H 'content-type: application/json' \
         -d '{{\"deviceId\":\"device-123\",\"additionalData\":\"0.033333\"}}'"
    );
    println!();
}

fn print_macrofy_banner(addr: SocketAddr, demo: bool, app_id: &str, gateway: &str) {
    let base = format!("http://{addr}");
    if demo {
        println!("==================================================================");
        println!(" MACROFY DEMO MODE: demo app {app_id}, gateway {gateway}.");
        println!(" Start the local gateway with: cargo run --example macrofy_gateway");
        println!(" Set MACROFY_APP_ID and MACROFY_APP_SECRET to serve a real app.");
        println!("==================================================================");
    } else {
        println!("# Macrofy app {app_id}, gateway {gateway}");
    }
    println!("# Macrofy: sign a userId (SPEC 2.2):");
    println!(
        "curl -s -X POST {base}/api/macrofy-signature -H 'content-type: application/json' \
         -d '{{\"userId\":\"user-42\"}}'"
    );
    println!();
    println!("# Macrofy: the backend connects for the user and returns only {{token, user}}:");
    println!(
        "curl -s -X POST {base}/api/macrofy-session -H 'content-type: application/json' \
         -d '{{\"userId\":\"user-42\"}}'"
    );
    println!();
}

async fn shutdown_signal() {
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
    eprintln!("shutting down: finishing in-flight requests");
}
