//! Each callback layer driven with `tower_test::mock`: the inner service is
//! never reached on rejection and reached exactly once on acceptance, with
//! the exact status and JSON body of the rejection.
#![cfg(feature = "tower")]

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use tower::{Layer, Service, ServiceExt};
use tower_signing::ManualClock;
use tower_signing::utilsio::layer::{
    CallbackBodyLayer, CheckAppIdLayer, CheckTimestampLayer, RequireHttpsLayer, RequireOriginLayer,
    SignatureCallbackLayer,
};
use tower_signing::utilsio::{CallbackRejection, CallbackRequest};

type Req = Request<Full<Bytes>>;
type Res = Response<Full<Bytes>>;
type Handle = tower_test::mock::Handle<Req, Res>;

const NOW: u64 = 1_700_000_000;

fn body(app_id: &str, ts: u64) -> String {
    format!(r#"{{"deviceId":"d","appId":"{app_id}","additionalData":"x","timestamp":{ts}}}"#)
}

fn req(headers: &[(&str, &str)], body: &str, parsed: bool) -> Req {
    let mut b = Request::post("/");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let mut r = b.body(Full::new(Bytes::from(body.to_owned()))).unwrap();
    if parsed {
        r.extensions_mut()
            .insert(CallbackRequest::from_json(body.as_bytes()).unwrap());
    }
    r
}

/// Runs one request through `layer` over a mock; returns status, body and
/// how many requests the mock saw (answering each with 200 "inner").
async fn drive<L>(layer: L, request: Req) -> (u16, String, usize)
where
    L: Layer<tower_test::mock::Mock<Req, Res>>,
    L::Service: Service<Req, Response = Res, Error = Box<dyn std::error::Error + Send + Sync>>
        + Send
        + 'static,
    <L::Service as Service<Req>>::Future: Send,
{
    let (mock, mut handle): (_, Handle) = tower_test::mock::pair();
    let svc = layer.layer(mock);
    let call = tokio::spawn(async move { svc.oneshot(request).await });
    let mut seen = 0;
    // Answer whatever reaches the inner service until the layer is done
    // (the service, and with it the mock, is dropped when the call ends).
    while let Some((inner_req, send)) = handle.next_request().await {
        seen += 1;
        let bytes = inner_req.into_body().collect().await.unwrap().to_bytes();
        assert!(bytes.len() < 1 << 20);
        send.send_response(Response::new(Full::new(Bytes::from_static(b"inner"))));
    }
    let res = call.await.unwrap().unwrap();
    let status = res.status().as_u16();
    if status != 200 {
        assert_eq!(res.headers()["content-type"], "application/json");
        assert!(res.extensions().get::<CallbackRejection>().is_some());
    }
    let text =
        String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    (status, text, seen)
}

fn err(msg: &str) -> String {
    serde_json::json!({ "error": msg }).to_string()
}

const ORIGIN: (&str, &str) = ("x-utilsio-origin", "utilsio.dev");
const HTTPS: (&str, &str) = ("x-forwarded-proto", "https");

#[tokio::test]
async fn origin_layer() {
    let ok = drive(RequireOriginLayer::new(), req(&[ORIGIN], "", false)).await;
    assert_eq!(ok, (200, "inner".into(), 1));
    let bad = drive(
        RequireOriginLayer::new(),
        req(&[("x-utilsio-origin", "x")], "", false),
    )
    .await;
    assert_eq!(bad, (403, err("Unauthorized origin"), 0));
    let repeated = drive(RequireOriginLayer::new(), req(&[ORIGIN, ORIGIN], "", false)).await;
    assert_eq!(repeated, (403, err("Unauthorized origin"), 0));
}

#[tokio::test]
async fn https_layer() {
    let ok = drive(RequireHttpsLayer::new(), req(&[HTTPS], "", false)).await;
    assert_eq!(ok, (200, "inner".into(), 1));
    let bad = drive(RequireHttpsLayer::new(), req(&[], "", false)).await;
    assert_eq!(bad, (403, err("HTTPS required"), 0));
    let off = drive(
        RequireHttpsLayer::new().with_require_https(false),
        req(&[], "", false),
    )
    .await;
    assert_eq!(off, (200, "inner".into(), 1));
}

#[tokio::test]
async fn body_layer() {
    let ok = drive(CallbackBodyLayer::new(), req(&[], &body("a", NOW), false)).await;
    assert_eq!(ok, (200, "inner".into(), 1));
    let missing = drive(CallbackBodyLayer::new(), req(&[], "{}", false)).await;
    assert_eq!(
        missing,
        (
            400,
            err("Missing required fields: deviceId, appId, additionalData, timestamp"),
            0
        )
    );
    let large = drive(
        CallbackBodyLayer::new().with_body_limit(10),
        req(&[], &body("a", NOW), false),
    )
    .await;
    assert_eq!(
        large,
        (413, err("Request body is larger than the 10-byte limit"), 0)
    );
}

#[tokio::test]
async fn timestamp_layer() {
    let layer = || CheckTimestampLayer::new().with_clock(ManualClock::new(NOW));
    let ok = drive(layer(), req(&[], &body("a", NOW - 55), true)).await;
    assert_eq!(ok, (200, "inner".into(), 1));
    let old = drive(layer(), req(&[], &body("a", NOW - 70), true)).await;
    assert_eq!(old, (400, err("Invalid timestamp"), 0));
    let ahead = drive(layer(), req(&[], &body("a", NOW + 70), true)).await;
    assert_eq!(ahead, (400, err("Invalid timestamp"), 0));
}

#[tokio::test]
async fn app_id_layer() {
    let ok = drive(CheckAppIdLayer::new("a"), req(&[], &body("a", NOW), true)).await;
    assert_eq!(ok, (200, "inner".into(), 1));
    let bad = drive(CheckAppIdLayer::new("a"), req(&[], &body("b", NOW), true)).await;
    assert_eq!(bad, (403, err("Invalid appId"), 0));
}

#[tokio::test]
async fn bundle_layer() {
    let layer = || SignatureCallbackLayer::new("a").with_clock(ManualClock::new(NOW));
    let ok = drive(layer(), req(&[ORIGIN, HTTPS], &body("a", NOW), false)).await;
    assert_eq!(ok, (200, "inner".into(), 1));
    let cases = [
        (
            req(&[HTTPS], &body("b", 1), false),
            403,
            "Unauthorized origin",
        ),
        (req(&[ORIGIN], &body("b", 1), false), 403, "HTTPS required"),
        (
            req(&[ORIGIN, HTTPS], r#"{"appId":"b"}"#, false),
            400,
            "Missing required fields: deviceId, appId, additionalData, timestamp",
        ),
        (
            req(&[ORIGIN, HTTPS], &body("b", 1), false),
            400,
            "Invalid timestamp",
        ),
        (
            req(&[ORIGIN, HTTPS], &body("b", NOW), false),
            403,
            "Invalid appId",
        ),
    ];
    for (request, status, message) in cases {
        assert_eq!(
            drive(layer(), request).await,
            (status, err(message), 0),
            "{message}"
        );
    }
}

#[tokio::test]
async fn inner_errors_pass_through_unchanged() {
    let (mock, mut handle): (_, Handle) = tower_test::mock::pair();
    let svc = RequireOriginLayer::new().layer(mock);
    let call = tokio::spawn(async move { svc.oneshot(req(&[ORIGIN], "", false)).await });
    let (_req, send) = handle.next_request().await.unwrap();
    send.send_error("inner failed");
    let e = call.await.unwrap().unwrap_err();
    assert_eq!(e.to_string(), "inner failed");
}
