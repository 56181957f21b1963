//! Tower layers for the utilsio signature callback (SPEC 1.5), one per check.
//!
//! utilsio.dev calls `POST /api/signature-callback` on the app's backend and
//! asks it to sign `{deviceId, appId, additionalData, timestamp}`. Before
//! signing, the backend checks, in this order:
//!
//! | # | layer | failure |
//! |---|---|---|
//! | 1 | [`RequireOriginLayer`]: `X-utilsio-Origin: utilsio.dev`, exactly once | 403 `Unauthorized origin` |
//! | 2 | [`RequireHttpsLayer`]: the request came over HTTPS | 403 `HTTPS required` |
//! | 3 | [`CallbackBodyLayer`]: a JSON object with the four fields, all truthy | 400 `Missing required fields: ...` (413 when too large) |
//! | 4 | [`CheckTimestampLayer`]: `|now - timestamp| <= 60 s` | 400 `Invalid timestamp` |
//! | 5 | [`CheckAppIdLayer`]: the body's appId is this app's | 403 `Invalid appId` |
//!
//! [`SignatureCallbackLayer`] applies all five in that order, so a request
//! failing several checks gets the first failing check's answer.
//!
//! Every rejection is a JSON response `{"error": "..."}` with
//! `content-type: application/json`; the inner service is not called; the
//! typed [`CallbackRejection`] is in the response's extensions; and a
//! `tracing` warn event says why, without secrets, signatures or the body.
//! Each layer's rejection response can be replaced with
//! `with_rejection_response`.
//!
//! The layers are framework-neutral: they work on `http::Request<B>` for any
//! body `B`, answer with any response body that is `From<Bytes>` (axum's
//! `Body`, `http_body_util::Full<Bytes>`), and keep `type Error = S::Error`.
//! The body layer hands the inner service an `http::Request<Full<Bytes>>`
//! with the parsed [`CallbackRequest`] in its extensions.
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::{BodyExt, Full};
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_signing::ManualClock;
//! use tower_signing::utilsio::layer::{CallbackRequest, SignatureCallbackLayer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let clock = ManualClock::new(1_700_000_000);
//! let service = ServiceBuilder::new()
//!     .layer(
//!         SignatureCallbackLayer::new("my-app-id")
//!             .with_require_https(false) // local development only
//!             .with_clock(clock.clone()),
//!     )
//!     .service_fn(|req: Request<Full<Bytes>>| async move {
//!         let callback = req.extensions().get::<CallbackRequest>().expect("set by the layer");
//!         let text = format!("sign {}", callback.device_id());
//!         Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(text))))
//!     });
//!
//! let body = r#"{"deviceId":"d1","appId":"my-app-id","additionalData":"x","timestamp":1700000000}"#;
//! let request = Request::post("/api/signature-callback")
//!     .header("x-utilsio-origin", "utilsio.dev")
//!     .body(Full::new(Bytes::from(body)))?;
//! let response = service.clone().oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! assert_eq!(response.into_body().collect().await?.to_bytes(), "sign d1");
//!
//! // Without the origin header: the first check answers.
//! let request = Request::post("/api/signature-callback").body(Full::new(Bytes::from(body)))?;
//! let response = service.oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::FORBIDDEN);
//! assert_eq!(
//!     response.into_body().collect().await?.to_bytes(),
//!     r#"{"error":"Unauthorized origin"}"#
//! );
//! # Ok(())
//! # }
//! ```

pub mod app_id;
pub mod callback;
pub mod callback_body;
pub mod https;
pub mod origin;
mod rejection;
#[cfg(test)]
mod test_util;
pub mod timestamp;

pub use app_id::{CheckAppId, CheckAppIdLayer};
pub use callback::{SignatureCallback, SignatureCallbackLayer};
pub use callback_body::{CallbackBody, CallbackBodyLayer, CallbackRequest, DEFAULT_BODY_LIMIT};
pub use https::{RequireHttps, RequireHttpsLayer};
pub use origin::{DEFAULT_ORIGIN, ORIGIN_HEADER, RequireOrigin, RequireOriginLayer};
pub(crate) use rejection::Responder;
pub use rejection::{CallbackField, CallbackRejection, OriginProblem};
pub use timestamp::{CheckTimestamp, CheckTimestampLayer};
