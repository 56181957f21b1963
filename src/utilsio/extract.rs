//! The axum extractors: [`SigningService`] (sign in one line from any
//! handler) and [`VerifiedCallback`] (a signature callback that passed every
//! check).

use std::convert::Infallible;
use std::fmt;

use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;
use serde::Serialize;

use super::layer::{Responder, peer_addr};
use super::{
    CallbackRejection, CallbackRequest, MessageError, SignatureMessage, SigningKey, UtilsioState,
};
use crate::Signature;
use crate::json_body::{json_error, read_limited};

/// What the "get auth headers" server action and the signature callback
/// answer: `{"signature": hex, "timestamp": "<Unix seconds>"}`, the timestamp
/// as a string.
///
/// `Debug` redacts the signature; serialize it (or return it from a
/// handler: it is `IntoResponse` as JSON) to send it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthHeaders {
    /// The signature, to send as `X-utilsio-Signature`.
    pub signature: Signature,
    /// The timestamp that was signed, to send as `X-utilsio-Timestamp`.
    pub timestamp: String,
}

impl IntoResponse for AuthHeaders {
    fn into_response(self) -> Response {
        axum::Json(self).into_response()
    }
}

impl IntoResponse for MessageError {
    /// 400 `{"error": "deviceId is required"}` (the SDK's text).
    fn into_response(self) -> Response {
        json_error::<axum::body::Body>(StatusCode::BAD_REQUEST, &self.to_string())
    }
}

/// An axum extractor holding the preloaded utilsio key, the app id and the
/// clock, taken from the app's state (any state `S` with
/// `UtilsioState: FromRef<S>`). Extracting it never fails and costs one
/// reference-count increment; signing never re-derives or re-keys.
///
/// ```
/// use axum::{Json, Router, extract::FromRef, routing::post};
/// use serde::Deserialize;
/// use tower_signing::utilsio::{AuthHeaders, MessageError, SigningKey, SigningService, UtilsioState};
///
/// #[derive(Clone)]
/// struct AppState {
///     utilsio: UtilsioState,
///     // ...the app's own state
/// }
///
/// // (or `#[derive(FromRef)]` with axum's `macros` feature)
/// impl FromRef<AppState> for UtilsioState {
///     fn from_ref(state: &AppState) -> Self {
///         state.utilsio.clone()
///     }
/// }
///
/// #[derive(Deserialize)]
/// #[serde(rename_all = "camelCase")]
/// struct SubscribeBody { device_id: String, amount_per_day: String }
///
/// async fn subscribe(signer: SigningService, Json(body): Json<SubscribeBody>) -> Result<AuthHeaders, MessageError> {
///     signer.sign(&body.device_id, Some(&body.amount_per_day))
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // At start-up: `UtilsioConfig::from_env()?.build().await?`, or from a key:
/// let key = SigningKey::from_app_hash_hex(
///     "2c9813b452ac80dde85016222a3c08e4f88e38a39a7f699d134fe9c5bf6d4ac1",
/// )?;
/// let state = AppState { utilsio: UtilsioState::new(key, "my-app-id") };
/// let app: Router = Router::new().route("/subscribe", post(subscribe)).with_state(state);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SigningService {
    state: UtilsioState,
}

impl fmt::Debug for SigningService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningService")
            .field("app_id", &self.state.app_id())
            .field("key", &"[redacted]")
            .finish()
    }
}

impl<S> FromRequestParts<S> for SigningService
where
    UtilsioState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Infallible;

    async fn from_request_parts(_parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(SigningService {
            state: UtilsioState::from_ref(state),
        })
    }
}

impl From<UtilsioState> for SigningService {
    fn from(state: UtilsioState) -> Self {
        SigningService { state }
    }
}

impl SigningService {
    /// Signs `deviceId` (and `additionalData` when given and non-empty) for
    /// this app at the current time: the "get auth headers" server action.
    ///
    /// # Errors
    /// [`MessageError::DeviceIdRequired`] for an empty deviceId (it answers
    /// 400 when returned from a handler).
    pub fn sign(
        &self,
        device_id: &str,
        additional_data: Option<&str>,
    ) -> Result<AuthHeaders, MessageError> {
        self.sign_at(device_id, additional_data, self.now())
    }

    /// [`SigningService::sign`] at a given Unix time.
    ///
    /// # Errors
    /// As [`SigningService::sign`]; a zero timestamp is
    /// [`MessageError::TimestampRequired`].
    pub fn sign_at(
        &self,
        device_id: &str,
        additional_data: Option<&str>,
        unix_seconds: u64,
    ) -> Result<AuthHeaders, MessageError> {
        let message = SignatureMessage::new(device_id, self.state.app_id(), unix_seconds)?
            .with_optional_additional_data(additional_data);
        Ok(AuthHeaders {
            signature: self.key().sign(&message),
            timestamp: unix_seconds.to_string(),
        })
    }

    /// Answers a validated signature callback: its message signed, and its
    /// timestamp echoed as given.
    pub fn sign_callback(&self, callback: &CallbackRequest) -> AuthHeaders {
        AuthHeaders {
            signature: self.key().sign(callback.message()),
            timestamp: callback.timestamp().to_string(),
        }
    }

    /// Signs any message with the preloaded key.
    pub fn sign_message(&self, message: &SignatureMessage<'_>) -> Signature {
        self.key().sign(message)
    }

    /// The preloaded key.
    pub fn key(&self) -> &SigningKey {
        self.state.key()
    }

    /// This app's id.
    pub fn app_id(&self) -> &str {
        self.state.app_id()
    }

    /// The current Unix time from the state's clock.
    pub fn now(&self) -> u64 {
        self.state.now()
    }

    pub(crate) fn state(&self) -> &UtilsioState {
        &self.state
    }
}

impl IntoResponse for CallbackRejection {
    /// The JSON answer (`{"error": ...}` with the rejection's status, and
    /// `Allow: POST` for a 405), the typed rejection in the extensions, and a
    /// `tracing` warn event.
    fn into_response(self) -> Response {
        Responder::default().reject(self)
    }
}

/// An axum extractor for the signature callback: runs every check of the
/// state's [`CallbackPolicy`](super::CallbackPolicy) inside the handler (no
/// layer needed), with the state taken from any `S` with
/// `UtilsioState: FromRef<S>`. The body is read once, within the policy's
/// limit, after the header checks passed. When a callback layer ran in front
/// of the handler, its already verified [`CallbackRequest`] is used.
///
/// The rejection is the [`CallbackRejection`] (a JSON error response). The
/// TCP peer (for trusted proxies and allowed sources) comes from axum's
/// `ConnectInfo<SocketAddr>` (serve with
/// `into_make_service_with_connect_info::<SocketAddr>()`) or the
/// [`PeerAddr`](super::PeerAddr) extension.
///
/// ```
/// use axum::{Router, routing::post};
/// use tower_signing::utilsio::{AuthHeaders, SigningKey, SigningService, UtilsioState, VerifiedCallback};
///
/// async fn callback(signer: SigningService, VerifiedCallback(callback): VerifiedCallback) -> AuthHeaders {
///     signer.sign_callback(&callback)
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let key = SigningKey::from_app_hash_hex(
///     "2c9813b452ac80dde85016222a3c08e4f88e38a39a7f699d134fe9c5bf6d4ac1",
/// )?;
/// let app: Router = Router::new()
///     .route("/api/signature-callback", post(callback))
///     .with_state(UtilsioState::new(key, "my-app-id"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct VerifiedCallback(pub CallbackRequest);

impl<S> FromRequest<S> for VerifiedCallback
where
    UtilsioState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = CallbackRejection;

    async fn from_request(mut req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(callback) = req.extensions_mut().remove::<CallbackRequest>() {
            return Ok(VerifiedCallback(callback));
        }
        let state = UtilsioState::from_ref(state);
        let policy = state.callback_policy();
        let peer = peer_addr(req.extensions());
        let (parts, body) = req.into_parts();
        policy.check_head(&parts.method, &parts.headers, &parts.extensions, peer)?;
        let bytes = read_limited(&parts.headers, body, policy.body_limit()).await?;
        policy.verify_body(&bytes).map(VerifiedCallback)
    }
}
