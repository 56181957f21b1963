//! The `metrics` feature against a real recorder (the Prometheus exporter,
//! installed once for this test binary): every callback outcome is counted
//! exactly once per request through the ready route, the bundle layer and
//! the per-check layers in either order; session outcomes against a
//! scripted gateway; gateway connect outcomes; the verify-and-sign
//! histogram; and the Prometheus text naming every outcome (issue 9 item 3).
#![cfg(all(feature = "metrics", feature = "gateway", feature = "client"))]

mod macrofy_common;

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use macrofy_common::fake::{FakeGateway, Scripted};
use macrofy_common::{bounded, closed_url, gateway_config};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tower::{ServiceBuilder, ServiceExt};
use tower_signing::ManualClock;
use tower_signing::macrofy::client::{MacrofyClient, jwt_expiry};
use tower_signing::macrofy::gateway::InMemoryAppRegistry;
use tower_signing::macrofy::sessions::{MemorySessionCache, SessionManager};
use tower_signing::macrofy::{CONNECT_PATH, DEMO_APP_ID, DEMO_APP_SECRET, SigningKey};
use tower_signing::utilsio::layer::{
    CallbackBodyLayer, CheckAppIdLayer, CheckTimestampLayer, RequireHttpsLayer, RequireOriginLayer,
    SignatureCallbackLayer,
};
use tower_signing::utilsio::{self, CallbackPolicy, PeerAddr, UtilsioState};

const CALLBACKS: &str = "tower_signing_callback_requests_total";
const VERIFY: &str = "tower_signing_callback_verify_seconds";
const SESSIONS: &str = "tower_signing_macrofy_sessions_total";
const CONNECTS: &str = "tower_signing_gateway_connects_total";

const APP_HASH_HEX: &str = "2c9813b452ac80dde85016222a3c08e4f88e38a39a7f699d134fe9c5bf6d4ac1";
const APP_ID: &str = "metrics-app";
const NOW: u64 = 1_700_000_000;
const ALLOWED: &str = "203.0.113.5:4000";
const NOT_ALLOWED: &str = "198.51.100.1:4000";

/// The recorder of this test binary, installed once.
fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .install_recorder()
            .expect("no other recorder in this binary")
    })
}

/// The counters are process-wide: tests that read them take turns.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `outcome -> value` of counter `name`, from the Prometheus text.
fn counter(name: &str) -> BTreeMap<String, u64> {
    let prefix = format!("{name}{{outcome=\"");
    recorder()
        .render()
        .lines()
        .filter_map(|line| line.strip_prefix(&prefix))
        .map(|rest| {
            let (outcome, value) = rest.split_once("\"} ").expect("one label");
            (outcome.to_owned(), value.trim().parse().expect("a count"))
        })
        .collect()
}

/// The samples recorded in histogram `name` so far.
fn histogram_count(name: &str) -> u64 {
    let prefix = format!("{name}_count ");
    recorder()
        .render()
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0, |v| v.trim().parse().expect("a count"))
}

/// What changed in counter `name` while `f` ran: only non-zero increments.
async fn delta<T>(name: &str, f: impl Future<Output = T>) -> (T, BTreeMap<String, u64>) {
    let before = counter(name);
    let out = f.await;
    let changed = counter(name)
        .into_iter()
        .filter_map(|(outcome, after)| {
            let d = after - before.get(&outcome).copied().unwrap_or(0);
            (d > 0).then_some((outcome, d))
        })
        .collect();
    (out, changed)
}

fn once(outcome: &str) -> BTreeMap<String, u64> {
    BTreeMap::from([(outcome.to_owned(), 1)])
}

fn policy() -> CallbackPolicy {
    CallbackPolicy::new(APP_ID)
        .with_clock(ManualClock::new(NOW))
        .with_allowed_sources(["203.0.113.0/24".parse().unwrap()])
}

fn state() -> UtilsioState {
    let key = utilsio::SigningKey::from_app_hash_hex(APP_HASH_HEX).unwrap();
    UtilsioState::with_policy(key, policy())
}

/// One callback request: `good` headers or not, the caller's address.
struct Call {
    origin: bool,
    https: bool,
    peer: &'static str,
    body: String,
    method: &'static str,
}

fn body(app_id: &str, ts: u64) -> String {
    format!(r#"{{"deviceId":"d1","appId":"{app_id}","additionalData":"x","timestamp":{ts}}}"#)
}

impl Call {
    fn good() -> Self {
        Call {
            origin: true,
            https: true,
            peer: ALLOWED,
            body: body(APP_ID, NOW),
            method: "POST",
        }
    }

    fn request(&self) -> Request<Body> {
        let mut r = Request::builder()
            .method(self.method)
            .uri(utilsio::routes::CALLBACK_PATH)
            .header("content-type", "application/json");
        if self.origin {
            r = r.header("x-utilsio-origin", "utilsio.dev");
        }
        if self.https {
            r = r.header("x-forwarded-proto", "https");
        }
        let mut request = r.body(Body::from(self.body.clone())).unwrap();
        request
            .extensions_mut()
            .insert(PeerAddr(self.peer.parse().unwrap()));
        request
    }
}

/// Each outcome, the request that causes it, and the status it answers.
fn cases() -> Vec<(&'static str, Call, u16)> {
    vec![
        ("signed", Call::good(), 200),
        (
            "origin",
            Call {
                origin: false,
                ..Call::good()
            },
            403,
        ),
        (
            "source",
            Call {
                peer: NOT_ALLOWED,
                ..Call::good()
            },
            403,
        ),
        (
            "https",
            Call {
                https: false,
                ..Call::good()
            },
            403,
        ),
        (
            "body",
            Call {
                body: "{".into(),
                ..Call::good()
            },
            400,
        ),
        (
            "body",
            Call {
                body: r#"{"deviceId":"d1","appId":"metrics-app"}"#.into(),
                ..Call::good()
            },
            400,
        ),
        (
            "body",
            Call {
                body: "x".repeat(tower_signing::DEFAULT_BODY_LIMIT + 1),
                ..Call::good()
            },
            413,
        ),
        (
            "timestamp",
            Call {
                body: body(APP_ID, NOW - 3600),
                ..Call::good()
            },
            400,
        ),
        (
            "app_id",
            Call {
                body: body("other-app", NOW),
                ..Call::good()
            },
            403,
        ),
    ]
}

/// The ready route, alone and behind the callback layers.
fn setups() -> Vec<(&'static str, Router)> {
    let route = || utilsio::router::<()>(state());
    let p = policy();
    let per_check = ServiceBuilder::new()
        .layer(RequireOriginLayer::from_policy(p.clone()))
        .layer(RequireHttpsLayer::from_policy(p.clone()))
        .layer(CallbackBodyLayer::from_policy(p.clone()))
        .layer(CheckTimestampLayer::from_policy(p.clone()))
        .layer(CheckAppIdLayer::from_policy(p.clone()));
    let reversed = ServiceBuilder::new()
        .layer(CheckAppIdLayer::from_policy(p.clone()))
        .layer(CheckTimestampLayer::from_policy(p.clone()))
        .layer(CallbackBodyLayer::from_policy(p.clone()))
        .layer(RequireHttpsLayer::from_policy(p.clone()))
        .layer(RequireOriginLayer::from_policy(p.clone()));
    vec![
        ("route (extractor)", route()),
        (
            "bundle layer + route",
            route().layer(SignatureCallbackLayer::from_policy(p.clone())),
        ),
        ("per-check layers + route", route().layer(per_check)),
        ("reversed per-check layers + route", route().layer(reversed)),
    ]
}

#[tokio::test]
async fn every_callback_outcome_counts_once_whatever_the_layers() {
    let _turn = SERIAL.lock().await;
    for (setup, router) in setups() {
        for (outcome, call, status) in cases() {
            let (response, changed) =
                delta(CALLBACKS, router.clone().oneshot(call.request())).await;
            let response = response.unwrap();
            assert_eq!(response.status().as_u16(), status, "{setup}: {outcome}");
            assert_eq!(changed, once(outcome), "{setup}: {outcome}");
        }
        // Not a callback attempt: answered 405, counted nowhere.
        let get = Call {
            method: "GET",
            ..Call::good()
        };
        let (response, changed) = delta(CALLBACKS, router.clone().oneshot(get.request())).await;
        assert_eq!(response.unwrap().status(), StatusCode::METHOD_NOT_ALLOWED);
        assert!(changed.is_empty(), "{setup}: 405 counted {changed:?}");
    }
}

#[tokio::test]
async fn each_signed_callback_records_its_verify_and_sign_time() {
    let _turn = SERIAL.lock().await;
    for (setup, router) in setups() {
        let before = histogram_count(VERIFY);
        let response = router
            .clone()
            .oneshot(Call::good().request())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{setup}");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert!(body.starts_with(br#"{"signature":""#), "{setup}");
        assert_eq!(histogram_count(VERIFY), before + 1, "{setup}");
        // A rejected callback is not timed.
        let rejected = Call {
            origin: false,
            ..Call::good()
        };
        router.clone().oneshot(rejected.request()).await.unwrap();
        assert_eq!(histogram_count(VERIFY), before + 1, "{setup}");
    }
    let text = recorder().render();
    let sum = text
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{VERIFY}_sum ")))
        .map(|v| v.trim().parse::<f64>().unwrap())
        .expect("a sum");
    // Checks and one HMAC take microseconds, not seconds, even unoptimised.
    assert!(sum > 0.0 && sum < 1.0, "{sum}");
}

/// A handler of the app's own, with the extractor and
/// `SigningService::sign_callback`, alone and behind a body-only layer:
/// each outcome counts once, and the layer vouches only for the body.
#[tokio::test]
async fn the_extractor_and_sign_callback_count_once() {
    use tower_signing::utilsio::{AuthHeaders, SigningService, VerifiedCallback};
    async fn handler(
        signer: SigningService,
        VerifiedCallback(cb): VerifiedCallback,
    ) -> AuthHeaders {
        signer.sign_callback(&cb)
    }
    let _turn = SERIAL.lock().await;
    let app = Router::new()
        .route(utilsio::routes::CALLBACK_PATH, axum::routing::post(handler))
        .with_state(state());
    let layered = app.clone().layer(CallbackBodyLayer::from_policy(policy()));
    for router in [app, layered] {
        for (outcome, call, status) in cases() {
            let (response, changed) =
                delta(CALLBACKS, router.clone().oneshot(call.request())).await;
            // Behind a body-only layer too, every other check still runs.
            assert_eq!(response.unwrap().status().as_u16(), status, "{outcome}");
            assert_eq!(changed, once(outcome), "{outcome}");
        }
    }
}

fn session_manager(url: &str, clock: &ManualClock) -> SessionManager {
    let client = MacrofyClient::builder()
        .base_url(url)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    SessionManager::new(
        DEMO_APP_ID,
        SigningKey::new(DEMO_APP_SECRET).unwrap(),
        client,
    )
    .unwrap()
    .with_clock(clock.clone())
    .with_cache(MemorySessionCache::new().with_clock(clock.clone()))
}

#[tokio::test]
async fn session_outcomes() {
    drive_session_outcomes().await;
}

async fn drive_session_outcomes() {
    let _turn = SERIAL.lock().await;
    let clock = ManualClock::new(1_800_000_000);
    let fake = FakeGateway::new(clock.clone());
    let gw = fake.serve().await;
    let sessions = session_manager(&gw.url(), &clock);

    let (first, changed) = delta(SESSIONS, bounded(sessions.session("alice"))).await;
    let first = first.unwrap();
    assert_eq!(changed, once("connect"));

    let (again, changed) = delta(SESSIONS, bounded(sessions.session("alice"))).await;
    assert_eq!(again.unwrap(), first);
    assert_eq!(changed, once("cache_hit"));

    // Within the refresh margin, still valid: one refresh.
    clock.set(jwt_expiry(&first.token).unwrap() - 60);
    let (refreshed, changed) = delta(SESSIONS, bounded(sessions.session("alice"))).await;
    assert_ne!(refreshed.unwrap().token, first.token);
    assert_eq!(changed, once("refresh"));
    assert_eq!((fake.connects(), fake.refreshes()), (1, 1));

    // The gateway refuses the connect: an error.
    fake.script_connect(Some(Scripted::new(401, r#"{"error":"Invalid signature"}"#)));
    let (refused, changed) = delta(SESSIONS, bounded(sessions.session("bob"))).await;
    assert!(refused.is_err());
    assert_eq!(changed, once("error"));

    // An invalid userId is an error too (no gateway call).
    let (invalid, changed) = delta(SESSIONS, bounded(sessions.session(""))).await;
    assert!(invalid.is_err());
    assert_eq!(changed, once("error"));

    // Gateway unreachable.
    let unreachable = session_manager(&closed_url().await, &clock);
    let (failed, changed) = delta(SESSIONS, bounded(unreachable.session("carol"))).await;
    assert!(failed.is_err());
    assert_eq!(changed, once("error"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_sharing_one_connect_count_one_round() {
    let _turn = SERIAL.lock().await;
    let clock = ManualClock::new(1_800_000_000);
    let fake = FakeGateway::new(clock.clone());
    fake.set_delay(Duration::from_millis(200));
    let gw = fake.serve().await;
    let sessions = session_manager(&gw.url(), &clock);
    let calls = (0..10).map(|_| {
        let s = sessions.clone();
        tokio::spawn(async move { s.session("dave").await })
    });
    let (results, changed) = delta(SESSIONS, bounded(futures_util::future::join_all(calls))).await;
    for r in results {
        r.unwrap().unwrap();
    }
    assert_eq!(fake.connects(), 1);
    assert_eq!(changed, once("connect"));
}

/// `POST /api/auth/connect` on the crate's gateway, through its router.
async fn connect(router: &Router, body: String) -> StatusCode {
    let request = Request::post(CONNECT_PATH)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    router.clone().oneshot(request).await.unwrap().status()
}

fn payload(app_id: &str, secret: &str, user: &str) -> String {
    let payload = SigningKey::new(secret).unwrap().payload(app_id, user);
    serde_json::to_string(&payload).unwrap()
}

#[tokio::test]
async fn gateway_connect_outcomes() {
    drive_gateway_connect_outcomes().await;
}

async fn drive_gateway_connect_outcomes() {
    let _turn = SERIAL.lock().await;
    let gateway = gateway_config(Some(1)).build().unwrap();
    let router: Router = gateway.router();
    let cases = [
        ("admitted", payload(DEMO_APP_ID, DEMO_APP_SECRET, "u1"), 200),
        (
            "returning",
            payload(DEMO_APP_ID, DEMO_APP_SECRET, "u1"),
            200,
        ),
        (
            "quota_exceeded",
            payload(DEMO_APP_ID, DEMO_APP_SECRET, "u2"),
            403,
        ),
        (
            "bad_signature",
            payload(DEMO_APP_ID, "not-the-secret", "u1"),
            401,
        ),
        (
            "unknown_app",
            payload("unknown_app1", DEMO_APP_SECRET, "u1"),
            401,
        ),
        ("invalid", "{".to_owned(), 400),
        ("invalid", r#"{"appId":"x"}"#.to_owned(), 400),
        ("invalid", "x".repeat(1 << 20), 413),
    ];
    for (outcome, body, status) in cases {
        let (answer, changed) = delta(CONNECTS, connect(&router, body)).await;
        assert_eq!(answer.as_u16(), status, "{outcome}");
        assert_eq!(changed, once(outcome), "{outcome}");
    }
}

/// A quota store that is down: `unavailable`.
#[tokio::test]
async fn gateway_connect_unavailable() {
    drive_gateway_connect_unavailable().await;
}

async fn drive_gateway_connect_unavailable() {
    use tower_signing::macrofy::BoxFuture;
    use tower_signing::macrofy::gateway::{Admission, GatewayConfig, QuotaStore};
    struct Down;
    impl QuotaStore for Down {
        fn admit<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
            _: Option<u64>,
        ) -> BoxFuture<'a, Result<Admission, tower_signing::macrofy::BoxError>> {
            Box::pin(async { Err("quota store down".into()) })
        }
    }
    let _turn = SERIAL.lock().await;
    let registry = InMemoryAppRegistry::new()
        .with_app(DEMO_APP_ID, DEMO_APP_SECRET)
        .unwrap();
    let gateway = GatewayConfig::new(registry, macrofy_common::JWT_SECRET)
        .with_quota_store(Down)
        .build()
        .unwrap();
    let router: Router = gateway.router();
    let body = payload(DEMO_APP_ID, DEMO_APP_SECRET, "u1");
    let (status, changed) = delta(CONNECTS, connect(&router, body)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(changed, once("unavailable"));
}

/// `GET /metrics` on a loopback listener of its own, as `examples/server.rs`
/// serves it, fetched over HTTP.
async fn scrape() -> String {
    let handle = recorder().clone();
    let metrics = Router::new().route(
        "/metrics",
        axum::routing::get(move || std::future::ready(handle.render())),
    );
    let server = macrofy_common::serve(metrics).await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Body>();
    let uri = format!("{}/metrics", server.url()).parse().unwrap();
    let response = bounded(client.get(uri)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = bounded(response.into_body().collect())
        .await
        .unwrap()
        .to_bytes();
    server.shutdown().await;
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// The Prometheus text an operator scrapes names every metric and outcome.
#[tokio::test]
async fn prometheus_text_names_every_outcome() {
    {
        // Drive one of each through the public entry points.
        let _turn = SERIAL.lock().await;
        for (_, router) in setups().into_iter().take(1) {
            for (_, call, _) in cases() {
                router.clone().oneshot(call.request()).await.unwrap();
            }
        }
    }
    // The other tests drive the session and gateway outcomes; run them here
    // too so this test stands alone.
    drive_session_outcomes().await;
    drive_gateway_connect_outcomes().await;
    drive_gateway_connect_unavailable().await;
    let text = scrape().await;
    for outcome in [
        "signed",
        "origin",
        "source",
        "https",
        "body",
        "timestamp",
        "app_id",
    ] {
        assert!(
            text.contains(&format!("{CALLBACKS}{{outcome=\"{outcome}\"}} ")),
            "{outcome}:\n{text}"
        );
    }
    for outcome in ["cache_hit", "connect", "refresh", "error"] {
        assert!(
            text.contains(&format!("{SESSIONS}{{outcome=\"{outcome}\"}} ")),
            "{outcome}:\n{text}"
        );
    }
    for outcome in [
        "admitted",
        "returning",
        "invalid",
        "unknown_app",
        "bad_signature",
        "quota_exceeded",
        "unavailable",
    ] {
        assert!(
            text.contains(&format!("{CONNECTS}{{outcome=\"{outcome}\"}} ")),
            "{outcome}:\n{text}"
        );
    }
    assert!(text.contains(&format!("{VERIFY}_count ")), "{text}");
}
