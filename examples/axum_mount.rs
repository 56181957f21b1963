//! An existing axum app with its own state, routes and sign-in that mounts
//! the utilsio callback, puts the auth-headers action behind its own
//! sign-in, and signs in one of its own handlers with `SigningService`.
//!
//! Run with: cargo run --example axum_mount
//!
//! Listens on 127.0.0.1:`PORT` (default 3000) with demo credentials unless
//! `UTILSIO_APP_SECRET`, `UTILSIO_APP_SALT` and `UTILSIO_APP_ID` are set. Try:
//!
//! ```sh
//! curl -s -X POST localhost:3000/api/subscribe -H 'authorization: Bearer demo-user-token' \
//!      -H 'content-type: application/json' -d '{"deviceId":"device-123","amountPerDay":"0.033333"}'
//! curl -s -X POST localhost:3000/api/utilsio/auth-headers -H 'authorization: Bearer demo-user-token' \
//!      -H 'content-type: application/json' -d '{"deviceId":"device-123"}'
//! ```

use std::collections::HashMap;
use std::error::Error;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tower_signing::utilsio::routes::AUTH_HEADERS_PATH;
use tower_signing::utilsio::{self, SigningService, UtilsioConfig, UtilsioState};

/// The app's own state; `UtilsioState` is one field of it.
#[derive(Clone)]
struct AppState {
    users_by_token: Arc<HashMap<String, String>>,
    utilsio: UtilsioState,
}

impl FromRef<AppState> for UtilsioState {
    fn from_ref(state: &AppState) -> Self {
        state.utilsio.clone()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscribeRequest {
    device_id: String,
    amount_per_day: String,
}

/// The app's signed-in user: its own authorization, as an extractor. It
/// answers 401 JSON when the bearer token is unknown.
struct User(String);

impl FromRequestParts<AppState> for User {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let token = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match token.and_then(|t| state.users_by_token.get(t)) {
            Some(user) => Ok(User(user.clone())),
            None => Err((
                StatusCode::UNAUTHORIZED,
                Json(serde_json::json!({"error": "Sign in first"})),
            )
                .into_response()),
        }
    }
}

/// The app's own handler: for a signed-in user, signs the subscription
/// (`additionalData` = amountPerDay) in one line.
async fn subscribe(
    User(user): User,
    signer: SigningService,
    Json(body): Json<SubscribeRequest>,
) -> Response {
    tracing::info!(%user, "signing a subscription");
    signer
        .sign(&body.device_id, Some(&body.amount_per_day))
        .into_response()
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
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    // Demo credentials only when no UTILSIO_* variable is set at all; a
    // partial environment is an error that names the missing variable.
    let config = UtilsioConfig::from_env_or_demo()?;
    if config.is_demo() {
        eprintln!("DEMO MODE: UTILSIO_* not set, using demo credentials with the HTTPS check off");
    }

    // Mounting: build the state once, then one `merge`.
    let utilsio_state = config.build().await?;
    let state = AppState {
        users_by_token: Arc::new(HashMap::from([("demo-user-token".into(), "alice".into())])),
        utilsio: utilsio_state.clone(),
    };
    // The callback (guarded by its own checks), and auth-headers behind the
    // app's sign-in: no signing route is open to anonymous callers.
    let app = Router::new()
        .route("/", get(|| async { "my existing app" }))
        .route("/api/subscribe", post(subscribe))
        .route(
            AUTH_HEADERS_PATH,
            utilsio::auth_headers_route::<User, AppState>(),
        )
        .with_state(state)
        .merge(utilsio::router(utilsio_state));

    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
