//! Each callback layer driven with `tower_test::mock`: the inner service is
//! never reached on rejection and reached exactly once on acceptance, with
//! the exact status and JSON body of the rejection.
#![cfg(feature = "tower")]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, StreamBody};
use tower::{Layer, Service, ServiceExt};
use tower_signing::ManualClock;
use tower_signing::utilsio::layer::{
    CallbackBodyLayer, CheckAppIdLayer, CheckTimestampLayer, RequireHttpsLayer, RequireOriginLayer,
    SignatureCallbackLayer,
};
use tower_signing::utilsio::{
    CallbackRejection, CallbackRequest, HttpsPolicy, PeerAddr, TlsConnected,
};

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

// ---- Order-free composition, SPEC order in the bundle ----

type Boxed = tower::util::BoxCloneService<Req, Res, Box<dyn std::error::Error + Send + Sync>>;

/// The five per-check layers, stacked in `order` (outermost first).
struct Stack(Vec<usize>);

impl Layer<tower_test::mock::Mock<Req, Res>> for Stack {
    type Service = Boxed;

    fn layer(&self, mock: tower_test::mock::Mock<Req, Res>) -> Boxed {
        let mut svc = Boxed::new(mock);
        for &i in self.0.iter().rev() {
            svc = match i {
                0 => Boxed::new(RequireOriginLayer::new().layer(svc)),
                1 => Boxed::new(RequireHttpsLayer::new().layer(svc)),
                2 => Boxed::new(CallbackBodyLayer::new().layer(svc)),
                3 => Boxed::new(
                    CheckTimestampLayer::new()
                        .with_clock(ManualClock::new(NOW))
                        .layer(svc),
                ),
                _ => Boxed::new(CheckAppIdLayer::new("a").layer(svc)),
            };
        }
        svc
    }
}

fn permutations(items: Vec<usize>) -> Vec<Vec<usize>> {
    if items.len() <= 1 {
        return vec![items];
    }
    let mut all = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.clone();
        let first = rest.remove(i);
        for mut tail in permutations(rest) {
            tail.insert(0, first);
            all.push(tail);
        }
    }
    all
}

type Answer = Option<(u16, String)>;
type Case = (Vec<(&'static str, &'static str)>, String, [Answer; 5]);

/// Requests, each with what every check (origin, https, body, timestamp,
/// appId) answers on its own: `None` passes.
fn cases() -> Vec<Case> {
    let origin = Some((403, err("Unauthorized origin")));
    let https = Some((403, err("HTTPS required")));
    let missing = Some((
        400,
        err("Missing required fields: deviceId, appId, additionalData, timestamp"),
    ));
    let json = CallbackRequest::from_json(b"{").unwrap_err();
    let json = Some((400, err(&json.body_text())));
    let stale = Some((400, err("Invalid timestamp")));
    let app = Some((403, err("Invalid appId")));
    vec![
        (
            vec![ORIGIN, HTTPS],
            body("a", NOW),
            [None, None, None, None, None],
        ),
        (
            vec![HTTPS],
            body("a", NOW),
            [origin.clone(), None, None, None, None],
        ),
        (
            vec![ORIGIN],
            body("a", NOW),
            [None, https.clone(), None, None, None],
        ),
        (
            vec![ORIGIN, HTTPS],
            r#"{"appId":"b"}"#.into(),
            [None, None, missing.clone(), missing.clone(), missing],
        ),
        (
            vec![ORIGIN, HTTPS],
            body("b", 1),
            [None, None, None, stale, app],
        ),
        (
            vec![("x-forwarded-proto", "https, http")],
            "{".into(),
            [origin, https, json.clone(), json.clone(), json],
        ),
    ]
}

/// All 120 orders of the five layers: never a 500, and the answer is the
/// first failing layer's; the inner service runs once exactly when all pass.
#[tokio::test]
async fn every_order_of_the_five_layers() {
    let orders = permutations((0..5).collect());
    assert_eq!(orders.len(), 120);
    for order in orders {
        for (headers, b, answers) in cases() {
            let got = drive(Stack(order.clone()), req(&headers, &b, false)).await;
            let expected = order.iter().find_map(|&i| answers[i].clone());
            match expected {
                Some((status, text)) => assert_eq!(got, (status, text, 0), "{order:?} {b}"),
                None => assert_eq!(got, (200, "inner".into(), 1), "{order:?} {b}"),
            }
        }
    }
}

/// The bundle answers the first failing check in the spec's order.
#[tokio::test]
async fn bundle_answers_in_spec_order() {
    for (headers, b, answers) in cases() {
        let layer = SignatureCallbackLayer::new("a").with_clock(ManualClock::new(NOW));
        let got = drive(layer, req(&headers, &b, false)).await;
        match answers.into_iter().flatten().next() {
            Some((status, text)) => assert_eq!(got, (status, text, 0), "{b}"),
            None => assert_eq!(got, (200, "inner".into(), 1), "{b}"),
        }
    }
}

// ---- Methods, forwarding, peers ----

#[tokio::test]
async fn other_methods_are_405_json_with_allow() {
    for method in [http::Method::GET, http::Method::PUT, http::Method::HEAD] {
        let (mock, _handle): (_, Handle) = tower_test::mock::pair();
        let mut request = req(&[ORIGIN, HTTPS], &body("a", NOW), false);
        *request.method_mut() = method.clone();
        let res = RequireOriginLayer::new()
            .layer(mock)
            .oneshot(request)
            .await
            .unwrap();
        assert_eq!(res.status(), 405, "{method}");
        assert_eq!(res.headers()["allow"], "POST");
        assert_eq!(
            res.extensions().get::<CallbackRejection>(),
            Some(&CallbackRejection::MethodNotAllowed)
        );
    }
}

#[tokio::test]
async fn forwarding_attacks_are_refused_by_the_layer() {
    for headers in [
        &[("x-forwarded-proto", "https, http")][..],
        &[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-proto", "http"),
        ],
        &[("x-forwarded-proto", "http"), ("forwarded", "proto=https")],
        &[("forwarded", "proto=https;proto=http")],
        &[("forwarded", "for=\"x;proto=https\"")],
    ] {
        let got = drive(RequireHttpsLayer::new(), req(headers, "", false)).await;
        assert_eq!(got, (403, err("HTTPS required"), 0), "{headers:?}");
    }
    let absolute = Request::post("https://example.org/cb")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(drive(RequireHttpsLayer::new(), absolute).await.0, 403);
}

fn with_peer(mut request: Req, peer: &str) -> Req {
    request
        .extensions_mut()
        .insert(PeerAddr(peer.parse().unwrap()));
    request
}

#[tokio::test]
async fn trusted_proxy_appends_https_after_the_client() {
    let layer = || {
        RequireHttpsLayer::new().with_https(
            HttpsPolicy::required().with_trusted_proxies(["10.0.0.0/8".parse().unwrap()]),
        )
    };
    let appended = [("x-forwarded-proto", "http, https")];
    let ok = drive(
        layer(),
        with_peer(req(&appended, "", false), "10.1.2.3:40000"),
    )
    .await;
    assert_eq!(ok, (200, "inner".into(), 1));
    let untrusted = with_peer(req(&[HTTPS], "", false), "192.0.2.1:40000");
    assert_eq!(drive(layer(), untrusted).await.0, 403);
    let no_peer = req(&[HTTPS], "", false);
    assert_eq!(drive(layer(), no_peer).await.0, 403);
}

#[tokio::test]
async fn tls_terminated_in_process_needs_no_header() {
    let mut request = req(&[], "", false);
    request.extensions_mut().insert(TlsConnected);
    assert_eq!(drive(RequireHttpsLayer::new(), request).await.0, 200);
}

#[tokio::test]
async fn source_allow_list_on_the_origin_layer() {
    let layer =
        || RequireOriginLayer::new().with_allowed_sources(["203.0.113.0/24".parse().unwrap()]);
    let ok = with_peer(req(&[ORIGIN], "", false), "203.0.113.9:1");
    assert_eq!(drive(layer(), ok).await, (200, "inner".into(), 1));
    let other = with_peer(req(&[ORIGIN], "", false), "198.51.100.9:1");
    assert_eq!(
        drive(layer(), other).await,
        (403, err("Unauthorized origin"), 0)
    );
}

// ---- Body reading ----

/// A body that records whether anyone read it.
struct Watched(Arc<AtomicBool>);

impl http_body::Body for Watched {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        self.0.store(true, Ordering::SeqCst);
        std::task::Poll::Ready(None)
    }
}

#[tokio::test]
async fn header_checks_answer_before_reading_the_body() {
    let inner =
        tower::service_fn(|_: Req| async { Ok::<_, Infallible>(Res::new(Full::default())) });
    for layer in [
        SignatureCallbackLayer::new("a"),
        SignatureCallbackLayer::new("a").with_expected_origin(http::HeaderValue::from_static("x")),
    ] {
        let read = Arc::new(AtomicBool::new(false));
        let request = Request::post("/")
            .header(ORIGIN.0, ORIGIN.1)
            .body(Watched(read.clone()))
            .unwrap();
        let res = layer.layer(inner).oneshot(request).await.unwrap();
        assert_eq!(res.status(), 403);
        assert!(!read.load(Ordering::SeqCst));
    }
}

async fn through_body_layer<B>(layer: CallbackBodyLayer, b: B) -> (u16, String)
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // Answers the parsed message and the bytes it was handed.
    let inner = tower::service_fn(|req: Req| async move {
        let cb = req.extensions().get::<CallbackRequest>().unwrap().clone();
        let bytes = req.into_body().collect().await.unwrap().to_bytes();
        let text = format!("{}|{}", cb.message(), String::from_utf8_lossy(&bytes));
        Ok::<_, Infallible>(Res::new(Full::new(Bytes::from(text))))
    });
    let res: Res = layer
        .layer(inner)
        .oneshot(Request::post("/").body(b).unwrap())
        .await
        .unwrap();
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

#[tokio::test]
async fn body_streamed_in_small_chunks_endless_or_failing() {
    let valid = body("a", NOW);
    let chunks: Vec<_> = valid
        .as_bytes()
        .chunks(3)
        .map(|c| Ok::<_, std::io::Error>(http_body::Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    let chunked = StreamBody::new(futures_util::stream::iter(chunks));
    assert_eq!(
        through_body_layer(CallbackBodyLayer::new(), chunked).await,
        (200, format!("d-a-{NOW}-x|{valid}"))
    );
    let endless = futures_util::stream::iter(std::iter::repeat_with(|| {
        Ok::<_, std::io::Error>(http_body::Frame::data(Bytes::from_static(b"aaaa")))
    }));
    assert_eq!(
        through_body_layer(
            CallbackBodyLayer::new().with_body_limit(16),
            StreamBody::new(endless)
        )
        .await,
        (413, err("Request body is larger than the 16-byte limit"))
    );
    let failing = vec![
        Ok(http_body::Frame::data(Bytes::from_static(b"{"))),
        Err(std::io::Error::other("reset")),
    ];
    assert_eq!(
        through_body_layer(
            CallbackBodyLayer::new(),
            StreamBody::new(futures_util::stream::iter(failing))
        )
        .await,
        (400, err("Could not read the request body"))
    );
}

/// A stacked body layer with a smaller limit still applies it to a body an
/// earlier layer already read.
#[tokio::test]
async fn every_layer_keeps_its_own_body_limit() {
    let stack = tower::layer::util::Stack::new(
        CallbackBodyLayer::new().with_body_limit(10),
        CheckTimestampLayer::new().with_clock(ManualClock::new(NOW)),
    );
    let got = drive(stack, req(&[], &body("a", NOW), false)).await;
    assert_eq!(
        got,
        (413, err("Request body is larger than the 10-byte limit"), 0)
    );
}

#[tokio::test]
async fn custom_rejection_keeps_the_typed_reason_for_every_check() {
    let layer = SignatureCallbackLayer::new("a")
        .with_require_https(false)
        .with_clock(ManualClock::new(NOW))
        .with_rejection_response(|r| {
            let mut res = Response::new(Bytes::from(r.kind()));
            *res.status_mut() = http::StatusCode::IM_A_TEAPOT;
            res
        });
    for (headers, b, kind) in [
        (vec![], body("a", NOW), "unauthorized_origin"),
        (vec![ORIGIN], "{}".to_owned(), "missing_fields"),
        (vec![ORIGIN], body("b", NOW), "invalid_app_id"),
    ] {
        let (mock, _handle): (_, Handle) = tower_test::mock::pair();
        let res = layer
            .clone()
            .layer(mock)
            .oneshot(req(&headers, &b, false))
            .await
            .unwrap();
        assert_eq!(res.status(), 418);
        assert_eq!(
            res.extensions().get::<CallbackRejection>().unwrap().kind(),
            kind
        );
        assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), kind);
    }
}

#[test]
fn inner_service_is_reachable() {
    let mut svc = tower_signing::utilsio::layer::SignatureCallback::new(7u8, "app");
    assert_eq!(*svc.get_ref(), 7);
    *svc.get_mut() = 8;
    assert_eq!(svc.into_inner(), 8);
}

#[tokio::test]
async fn the_clock_is_read_per_request() {
    let clock = ManualClock::new(NOW);
    let layer = CheckTimestampLayer::new().with_clock(clock.clone());
    assert_eq!(
        drive(layer.clone(), req(&[], &body("a", NOW), false))
            .await
            .0,
        200
    );
    clock.advance(61);
    assert_eq!(drive(layer, req(&[], &body("a", NOW), false)).await.0, 400);
}
