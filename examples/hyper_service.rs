//! The signature callback checks served by plain hyper 1 + hyper-util, no axum.
//!
//! Run with: cargo run --example hyper_service --features server
//!
//! Listens on 127.0.0.1:`PORT` (default 3000) with demo credentials and the
//! HTTPS check off; every path runs the same callback layers. Try:
//!
//! ```sh
//! curl -s -X POST localhost:3000/ -H 'X-utilsio-Origin: utilsio.dev' \
//!      -d "{\"deviceId\":\"d1\",\"appId\":\"demo-app-id\",\"additionalData\":\"x\",\"timestamp\":$(date +%s)}"
//! ```

use std::convert::Infallible;
use std::error::Error;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use tower::ServiceBuilder;
use tower_signing::server::{ServeConfig, serve, shutdown_signal};
use tower_signing::utilsio::layer::SignatureCallbackLayer;
use tower_signing::utilsio::{
    CallbackRequest, DEMO_APP_ID, DEMO_APP_SECRET, DEMO_SALT, ScryptParams, SigningKey,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    eprintln!("DEMO MODE: demo credentials, HTTPS check off");
    // Once, on the blocking pool.
    let key = SigningKey::derive_async(DEMO_APP_SECRET, DEMO_SALT, ScryptParams::default()).await?;

    let service = ServiceBuilder::new()
        .layer(SignatureCallbackLayer::new(DEMO_APP_ID).with_require_https(false))
        .service_fn(move |req: Request<Full<Bytes>>| {
            let key = key.clone();
            async move {
                // The layers guarantee the parsed callback is there.
                let response = match req.extensions().get::<CallbackRequest>() {
                    Some(callback) => {
                        let body = serde_json::json!({
                            "signature": key.sign(callback.message()),
                            "timestamp": callback.timestamp().to_string(),
                        });
                        Response::builder()
                            .header(header::CONTENT_TYPE, "application/json")
                            .body(Full::new(Bytes::from(body.to_string())))
                    }
                    None => Response::builder()
                        .status(StatusCode::INTERNAL_SERVER_ERROR)
                        .body(Full::new(Bytes::new())),
                };
                Ok::<_, Infallible>(response.expect("static headers are valid"))
            }
        });

    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    // Bounded (head/body timeouts, connection cap, drain deadline); it puts
    // the TCP peer in the request's extensions as `PeerAddr`, for trusted
    // proxies and allowed sources.
    serve(listener, service, ServeConfig::default(), shutdown_signal()).await;
    Ok(())
}
