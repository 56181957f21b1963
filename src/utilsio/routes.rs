//! Ready axum routes for utilsio.
//!
//! - [`router`]: `POST /api/signature-callback`, utilsio.dev's
//!   server-to-server callback, verified by [`VerifiedCallback`] and answered
//!   `{"signature": hex, "timestamp": "<as sent>"}`.
//! - [`auth_headers_route`]: `POST /api/utilsio/auth-headers`, the "get auth
//!   headers" server action: body `{deviceId, additionalData?}`, answer
//!   `{"signature": hex, "timestamp": "<now>"}`, behind the app's own
//!   authorization extractor.
//!
//! Both answer other methods with 405 JSON and `Allow: POST`.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use tower_signing::utilsio::{self, UtilsioConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let utilsio_state = UtilsioConfig::from_env()?.build().await?; // scrypt once, on the blocking pool
//! let app: Router = Router::new()
//!     .route("/", get(|| async { "my app" }))
//!     .merge(utilsio::router(utilsio_state));
//! # let _ = app;
//! # Ok(())
//! # }
//! ```

use axum::Router;
use axum::extract::{FromRef, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};

use super::{
    AuthHeaders, CallbackField, CallbackRejection, SigningService, UtilsioState, VerifiedCallback,
};
use crate::json_body::{JsonField, json_error, post_only, read_fields, read_limited};

/// The callback route's path.
pub const CALLBACK_PATH: &str = "/api/signature-callback";
/// The auth-headers route's path.
pub const AUTH_HEADERS_PATH: &str = "/api/utilsio/auth-headers";

/// The signature callback route (`POST /api/signature-callback`) with its
/// state applied, ready to `merge` into any `Router`. It mounts nothing else:
/// see [`auth_headers_route`] for the auth-headers action.
pub fn router<S>(state: UtilsioState) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route(CALLBACK_PATH, post(signature_callback).fallback(post_only))
        .with_state(state)
}

/// The fallback of a route that takes only `POST`: 405 with a JSON error
/// `{"error": "Method not allowed: use POST"}` and `Allow: POST`.
///
/// A callback layer added with `.layer` answers other methods itself; one
/// added with `.route_layer` never sees them, so give the route this
/// fallback: `post(handler).fallback(post_only_fallback)`.
pub async fn post_only_fallback() -> Response {
    post_only().await
}

async fn signature_callback(
    signer: SigningService,
    VerifiedCallback(callback): VerifiedCallback,
) -> AuthHeaders {
    signer.sign_callback(&callback)
}

/// `POST /api/utilsio/auth-headers` behind the app's authorization: the
/// extractor `A` runs first and must succeed; its rejection is the answer
/// (make it a 401 with a JSON `{"error": ...}` body). Mount it on the app's
/// router, whose state `S` gives the [`UtilsioState`] through `FromRef`.
///
/// The route signs whatever deviceId it is given (the device id is the
/// device's own bearer secret in utilsio's model), so it belongs behind the
/// same authorization as the rest of the app.
///
/// ```
/// use axum::extract::{FromRequestParts, FromRef};
/// use axum::http::{StatusCode, request::Parts};
/// use axum::{Json, Router};
/// use tower_signing::utilsio::{self, SigningKey, UtilsioState};
/// use tower_signing::utilsio::routes::AUTH_HEADERS_PATH;
///
/// /// The app's signed-in user.
/// struct User;
///
/// impl<S: Send + Sync> FromRequestParts<S> for User {
///     type Rejection = (StatusCode, Json<serde_json::Value>);
///
///     async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
///         match parts.headers.get("authorization") {
///             Some(v) if v == "Bearer demo-user-token" => Ok(User),
///             _ => Err((StatusCode::UNAUTHORIZED, Json(serde_json::json!({"error": "Sign in first"})))),
///         }
///     }
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let key = SigningKey::from_app_hash_hex(
///     "2c9813b452ac80dde85016222a3c08e4f88e38a39a7f699d134fe9c5bf6d4ac1",
/// )?;
/// let state = UtilsioState::new(key, "my-app-id");
/// let app: Router = Router::new()
///     .route(AUTH_HEADERS_PATH, utilsio::auth_headers_route::<User, UtilsioState>())
///     .with_state(state);
/// # Ok(())
/// # }
/// ```
pub fn auth_headers_route<A, S>() -> MethodRouter<S>
where
    A: FromRequestParts<S> + Send + 'static,
    UtilsioState: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    post(|_: A, signer: SigningService, req: Request| auth_headers(signer, req)).fallback(post_only)
}

/// [`auth_headers_route`] with no authorization at all: anyone who can
/// reach it gets signatures for any deviceId.
///
/// # Warning
/// For demos and tests only. In an app, use [`auth_headers_route`] with the
/// app's authorization extractor.
pub fn insecure_anonymous_auth_headers_route<S>() -> MethodRouter<S>
where
    UtilsioState: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    auth_headers_route::<(), S>()
}

/// `{deviceId, additionalData?}` signed at the current time.
async fn auth_headers(signer: SigningService, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let fields = match read_limited(&parts.headers, body, signer.state().body_limit()).await {
        Ok(bytes) => read_fields(&bytes, &["deviceId", "additionalData"]),
        Err(e) => Err(e),
    };
    let [device_id, additional_data] = match fields {
        Ok(fields) => fields,
        Err(e) => return json_error(e.status(), &e.to_string()),
    };
    let string = |field: JsonField, name| field.into_optional_string().map_err(|_| name);
    let device_id = string(device_id, CallbackField::DeviceId);
    let additional_data = string(additional_data, CallbackField::AdditionalData);
    let (device_id, additional_data) = match (device_id, additional_data) {
        (Ok(device_id), Ok(data)) => (device_id.unwrap_or_default(), data),
        (Err(name), _) | (_, Err(name)) => {
            let rejection = CallbackRejection::InvalidField(name);
            return json_error(rejection.status(), &rejection.body_text());
        }
    };
    match signer.sign(&device_id, additional_data.as_deref()) {
        Ok(headers) => headers.into_response(),
        Err(e) => e.into_response(),
    }
}
