//! Bearer-token protection for the gateway's own routes: a tower layer
//! ([`RequireBearerLayer`]) and an axum extractor ([`BearerClaims`]).

use std::task::{Context, Poll};

use axum::extract::{FromRef, FromRequestParts};
use axum::response::{IntoResponse, Response as AxumResponse};
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use tower::{Layer, Service};

use super::{Claims, Gateway, TokenError};
/// The response future of [`RequireBearer`]: the inner service's, or an
/// already-built 401.
pub use crate::future::ResponseFuture;
use crate::json_body::json_error;

fn unauthorized<B: From<Bytes>>(error: TokenError) -> Response<B> {
    let mut res = json_error(StatusCode::UNAUTHORIZED, &error.to_string());
    res.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    res.extensions_mut().insert(error);
    res
}

impl IntoResponse for TokenError {
    fn into_response(self) -> AxumResponse {
        unauthorized(self)
    }
}

/// Requires a valid gateway token in `Authorization: Bearer <token>`.
///
/// A missing, malformed, expired, forged or wrong-audience token gets 401
/// `{"error": ...}` with `WWW-Authenticate: Bearer`, and the inner service is
/// not called. On success the [`Claims`] go into the request extensions.
///
/// ```
/// use axum::{Extension, Router, routing::get};
/// use tower_signing::macrofy::gateway::{Claims, GatewayConfig, InMemoryAppRegistry};
///
/// let gateway = GatewayConfig::new(InMemoryAppRegistry::new(), vec![7u8; 32]).build()?;
/// let app: Router = Router::new()
///     .route("/api/foods", get(|Extension(claims): Extension<Claims>| async move { claims.sub }))
///     .layer(gateway.require_bearer());
/// # let _ = app;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct RequireBearerLayer {
    gateway: Gateway,
}

impl RequireBearerLayer {
    /// A layer checking tokens issued by `gateway`.
    pub fn new(gateway: Gateway) -> Self {
        RequireBearerLayer { gateway }
    }
}

impl<S> Layer<S> for RequireBearerLayer {
    type Service = RequireBearer<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireBearer::new(inner, self.gateway.clone())
    }
}

/// The service built by [`RequireBearerLayer`].
#[derive(Debug, Clone)]
pub struct RequireBearer<S> {
    inner: S,
    gateway: Gateway,
}

impl<S> RequireBearer<S> {
    /// Wraps `inner`, checking tokens issued by `gateway`.
    pub fn new(inner: S, gateway: Gateway) -> Self {
        RequireBearer { inner, gateway }
    }

    /// A [`RequireBearerLayer`] for `gateway`.
    pub fn layer(gateway: Gateway) -> RequireBearerLayer {
        RequireBearerLayer::new(gateway)
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireBearer<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: From<Bytes>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        match self.gateway.verify_bearer(request.headers()) {
            Ok(claims) => {
                request.extensions_mut().insert(claims);
                ResponseFuture::inner(self.inner.call(request))
            }
            Err(error) => {
                tracing::warn!(reason = %error, "bearer token refused");
                ResponseFuture::rejected(unauthorized(error))
            }
        }
    }
}

/// An axum extractor: the verified [`Claims`] of the request's bearer token,
/// or a 401 rejection ([`TokenError`]).
///
/// Needs the [`Gateway`] in the router state (`Gateway: FromRef<S>`).
///
/// ```
/// use axum::{Router, routing::get};
/// use tower_signing::macrofy::gateway::{BearerClaims, Gateway, GatewayConfig, InMemoryAppRegistry};
///
/// async fn me(BearerClaims(claims): BearerClaims) -> String {
///     claims.external_id
/// }
///
/// let gateway = GatewayConfig::new(InMemoryAppRegistry::new(), vec![7u8; 32]).build()?;
/// let app: Router = Router::new().route("/me", get(me)).with_state(gateway);
/// # let _ = app;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct BearerClaims(pub Claims);

impl<S> FromRequestParts<S> for BearerClaims
where
    Gateway: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = TokenError;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let gateway = Gateway::from_ref(state);
        gateway.verify_bearer(&parts.headers).map(BearerClaims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;
    use crate::macrofy::gateway::{GatewayConfig, InMemoryAppRegistry, TOKEN_TTL_SECONDS};
    use crate::macrofy::{DEMO_APP_ID, DEMO_APP_SECRET, SigningKey};
    use http_body_util::{BodyExt, Full};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tower::{ServiceBuilder, ServiceExt};

    fn gateway(clock: ManualClock, audience: &str) -> Gateway {
        let apps = InMemoryAppRegistry::new()
            .with_app(DEMO_APP_ID, DEMO_APP_SECRET)
            .unwrap();
        GatewayConfig::new(apps, vec![3u8; 32])
            .with_clock(clock)
            .with_audience(audience)
            .build()
            .unwrap()
    }

    async fn token(g: &Gateway) -> String {
        let key = SigningKey::new(DEMO_APP_SECRET).unwrap();
        g.connect(&key.payload(DEMO_APP_ID, "u1"))
            .await
            .unwrap()
            .token
    }

    async fn call(g: &Gateway, auth: Option<&str>) -> (StatusCode, String, usize) {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&calls);
        let svc = ServiceBuilder::new().layer(g.require_bearer()).service_fn(
            move |req: Request<Full<Bytes>>| {
                seen.fetch_add(1, Ordering::SeqCst);
                let sub = req.extensions().get::<Claims>().unwrap().sub.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(sub))))
                }
            },
        );
        let mut req = Request::new(Full::new(Bytes::new()));
        if let Some(auth) = auth {
            req.headers_mut()
                .insert(header::AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        }
        let res = svc.oneshot(req).await.unwrap();
        let status = res.status();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            String::from_utf8(body.to_vec()).unwrap(),
            calls.load(Ordering::SeqCst),
        )
    }

    #[tokio::test]
    async fn valid_token_reaches_inner_once_with_claims() {
        let g = gateway(ManualClock::new(1_700_000_000), "aud");
        let t = token(&g).await;
        let (status, body, calls) = call(&g, Some(&format!("Bearer {t}"))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, g.scoped_user_id(DEMO_APP_ID, "u1"));
        assert_eq!(calls, 1);
    }

    #[tokio::test]
    async fn refusals_are_401_and_skip_inner() {
        let clock = ManualClock::new(1_700_000_000);
        let g = gateway(clock.clone(), "aud");
        let t = token(&g).await;
        let other_aud = token(&gateway(clock.clone(), "other")).await;
        let mut forged = t.clone();
        forged.pop();
        forged.push(if t.ends_with('A') { 'B' } else { 'A' });
        let cases = [
            (None, "Missing bearer token"),
            (Some(t.clone()), "Authorization must be 'Bearer <token>'"),
            (Some(format!("Bearer {forged}")), "Invalid token"),
            (Some(format!("Bearer {other_aud}")), "Invalid token"),
            (Some("Bearer not-a-jwt".to_owned()), "Invalid token"),
        ];
        for (auth, msg) in cases {
            let (status, body, calls) = call(&g, auth.as_deref()).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{msg}");
            assert_eq!(body, format!(r#"{{"error":"{msg}"}}"#));
            assert_eq!(calls, 0);
        }
        clock.advance(TOKEN_TTL_SECONDS);
        let (status, body, calls) = call(&g, Some(&format!("Bearer {t}"))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body, r#"{"error":"Token expired"}"#);
        assert_eq!(calls, 0);
    }
}
