//! The Macrofy session manager and the identity-bound session route, against
//! a scripted gateway on loopback: caching until the refresh margin, refresh,
//! reconnect on an expired token or a refused refresh, one gateway call for
//! many concurrent requests, anonymous callers, body userIds ignored, and the
//! upstream status mapping (SPEC 3.3).
#![cfg(all(feature = "gateway", feature = "client"))]

mod macrofy_common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use http::StatusCode;
use macrofy_common::fake::{FakeGateway, Scripted, token};
use macrofy_common::*;
use tower_signing::macrofy::client::{MacrofyClient, jwt_expiry};
use tower_signing::macrofy::routes::{self, MacrofyConfig, SESSION_PATH, SIGNATURE_PATH};
use tower_signing::macrofy::sessions::{MemorySessionCache, SessionError, SessionManager};
use tower_signing::macrofy::{DEMO_APP_ID, DEMO_APP_SECRET, SigningKey};
use tower_signing::{ManualClock, SystemClock};

const T0: u64 = 1_800_000_000;
const WEEK: u64 = 7 * 24 * 3600;

fn manager(url: &str, clock: &ManualClock) -> SessionManager {
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

async fn backend(url: &str, timeout: Duration) -> Server {
    let config = MacrofyConfig::new(DEMO_APP_ID, DEMO_APP_SECRET)
        .unwrap()
        .with_base_url(url)
        .unwrap()
        .with_timeout(timeout)
        .unwrap();
    serve(Router::new().merge(routes::router::<TestUser, _>(config))).await
}

#[tokio::test]
async fn cached_until_the_margin_then_refreshed_then_reconnected_after_expiry() {
    let clock = ManualClock::new(T0);
    let fake = FakeGateway::new(clock.clone());
    let gw = fake.serve().await;
    let sessions = manager(&gw.url(), &clock).with_refresh_margin(Duration::from_secs(3600));

    let first = bounded(sessions.session("alice")).await.unwrap();
    assert_eq!(first.user.external_id, "alice");
    assert_eq!(jwt_expiry(&first.token), Some(T0 + WEEK));
    assert_eq!((fake.connects(), fake.refreshes()), (1, 0));

    // Fresh: served from the cache, however often.
    clock.advance(WEEK - 3601);
    for _ in 0..5 {
        assert_eq!(bounded(sessions.session("alice")).await.unwrap(), first);
    }
    assert_eq!((fake.connects(), fake.refreshes()), (1, 0));

    // Within the margin: one refresh, and the fresh token is cached.
    clock.advance(2);
    let refreshed = bounded(sessions.session("alice")).await.unwrap();
    assert_ne!(refreshed.token, first.token);
    assert_eq!(refreshed.user, first.user);
    assert_eq!(jwt_expiry(&refreshed.token), Some(clock_now(&clock) + WEEK));
    assert_eq!(bounded(sessions.session("alice")).await.unwrap(), refreshed);
    assert_eq!((fake.connects(), fake.refreshes()), (1, 1));

    // Expired: no refresh attempt, a new connect.
    clock.advance(WEEK);
    let reconnected = bounded(sessions.session("alice")).await.unwrap();
    assert_ne!(reconnected.token, refreshed.token);
    assert_eq!((fake.connects(), fake.refreshes()), (2, 1));
}

fn clock_now(clock: &ManualClock) -> u64 {
    use tower_signing::Clock;
    clock.now_unix_seconds()
}

#[tokio::test]
async fn a_refused_or_missing_refresh_reconnects() {
    let clock = ManualClock::new(T0);
    let fake = FakeGateway::new(clock.clone());
    let gw = fake.serve().await;
    let sessions = manager(&gw.url(), &clock);

    for (round, status) in [401u16, 404, 405].into_iter().enumerate() {
        let before = bounded(sessions.session("bob")).await.unwrap();
        fake.script_refresh(Some(Scripted::new(
            status,
            r#"{"error":"Token no longer accepted"}"#,
        )));
        // Near expiry (inside the default one-hour margin), still valid.
        let exp = jwt_expiry(&before.token).unwrap();
        clock.set(exp - 60);
        let after = bounded(sessions.session("bob")).await.unwrap();
        assert_ne!(after.token, before.token, "refresh {status}");
        assert_eq!(fake.refreshes(), round + 1, "refresh {status}");
        assert_eq!(fake.connects(), round + 2, "refresh {status}");
    }
}

#[tokio::test]
async fn a_failing_refresh_serves_the_still_valid_token() {
    let clock = ManualClock::new(T0);
    let fake = FakeGateway::new(clock.clone());
    let gw = fake.serve().await;
    let sessions = manager(&gw.url(), &clock);
    let before = bounded(sessions.session("carol")).await.unwrap();
    fake.script_refresh(Some(Scripted::new(503, "down")));
    clock.set(jwt_expiry(&before.token).unwrap() - 60);
    assert_eq!(bounded(sessions.session("carol")).await.unwrap(), before);
    assert_eq!((fake.connects(), fake.refreshes()), (1, 1));
    // Once the gateway is back, the next request refreshes.
    fake.script_refresh(None);
    let after = bounded(sessions.session("carol")).await.unwrap();
    assert_ne!(after.token, before.token);
    assert_eq!((fake.connects(), fake.refreshes()), (1, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_requests_for_one_user_make_one_connect() {
    let fake = FakeGateway::new(SystemClock);
    fake.set_delay(Duration::from_millis(200));
    let gw = fake.serve().await;
    let app = backend(&gw.url(), Duration::from_secs(5)).await;
    let url = format!("{}{SESSION_PATH}", app.url());
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { post_as(&url, "dave", "").await })
        })
        .collect();
    let mut tokens = std::collections::HashSet::new();
    for task in tasks {
        let answer = bounded(task).await.unwrap();
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        tokens.insert(answer.json()["token"].as_str().unwrap().to_owned());
    }
    assert_eq!(tokens.len(), 1);
    assert_eq!(fake.connects(), 1);
    // Another user is another call.
    assert_eq!(post_as(&url, "erin", "").await.status, StatusCode::OK);
    assert_eq!(fake.connects(), 2);
}

#[tokio::test]
async fn concurrent_failures_are_shared_too() {
    let clock = ManualClock::new(T0);
    let fake = FakeGateway::new(clock.clone());
    fake.set_delay(Duration::from_millis(100));
    fake.script_connect(Some(Scripted::new(503, "{}")));
    let gw = fake.serve().await;
    let sessions = manager(&gw.url(), &clock);
    let calls = (0..20).map(|_| sessions.session("frank"));
    for result in bounded(futures_util::future::join_all(calls)).await {
        assert_eq!(result.unwrap_err().status(), StatusCode::BAD_GATEWAY);
    }
    assert_eq!(fake.connects(), 1);
}

#[tokio::test]
async fn anonymous_callers_get_401_on_every_macrofy_signing_route() {
    let fake = FakeGateway::new(SystemClock);
    let gw = fake.serve().await;
    let app = backend(&gw.url(), Duration::from_secs(5)).await;
    for path in [SIGNATURE_PATH, SESSION_PATH] {
        let url = format!("{}{path}", app.url());
        for headers in [
            vec![],
            vec![("authorization", "Bearer not-a-known-token")],
            vec![("authorization", "Basic dGVzdC10b2tlbi1hbGljZQ==")],
        ] {
            let mut all = vec![("content-type", "application/json")];
            all.extend(headers.iter().copied());
            let res = request(http::Method::POST, &url, r#"{"userId":"alice"}"#, &all).await;
            assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{path} {headers:?}");
            assert_eq!(
                res.json(),
                serde_json::json!({"error": "Authentication required"})
            );
        }
    }
    assert_eq!(
        fake.connects(),
        0,
        "no anonymous request reached the gateway"
    );
}

#[tokio::test]
async fn a_body_user_id_never_changes_whose_session_or_signature_is_returned() {
    let fake = FakeGateway::new(SystemClock);
    let gw = fake.serve().await;
    let app = backend(&gw.url(), Duration::from_secs(5)).await;
    let key = SigningKey::new(DEMO_APP_SECRET).unwrap();
    for body in [
        r#"{"userId":"admin"}"#,
        r#"{"userId":"alice"}"#,
        r#"{"userId":42}"#,
        "not json",
        "",
    ] {
        let signed = post_as(&format!("{}{SIGNATURE_PATH}", app.url()), "grace", body).await;
        assert_eq!(signed.status, StatusCode::OK, "{body}");
        assert_eq!(signed.json()["userId"], "grace");
        assert_eq!(
            signed.json()["signature"],
            key.sign_user_id("grace").as_str()
        );

        let session = post_as(&format!("{}{SESSION_PATH}", app.url()), "grace", body).await;
        assert_eq!(session.status, StatusCode::OK, "{body}");
        assert_eq!(session.json()["user"]["externalId"], "grace");
    }
    assert_eq!(fake.users_seen(), vec!["grace".to_owned()]);
}

#[tokio::test]
async fn upstream_statuses_map_to_the_crates_own_answers() {
    let upstream_text = "upstream-internal-detail-7f3a";
    let body = format!(r#"{{"error":"{upstream_text}","message":"{upstream_text}"}}"#);
    let good = |user: &str, exp: u64| {
        serde_json::json!({
            "token": token(exp, user, 0),
            "user": {"id": "usr_x", "appId": DEMO_APP_ID, "externalId": user},
        })
        .to_string()
    };
    let later = tower_signing::now_unix_seconds() + WEEK;
    let cases: Vec<(Scripted, u16, &str, Option<&str>)> = vec![
        (
            Scripted::new(400, &body),
            400,
            "Macrofy rejected the request",
            None,
        ),
        (
            Scripted::new(401, &body),
            401,
            "Macrofy refused the app's credentials",
            None,
        ),
        (
            Scripted::new(403, &body),
            403,
            "Macrofy sandbox quota exceeded",
            None,
        ),
        (
            Scripted::new(404, &body),
            404,
            "Macrofy endpoint not found",
            None,
        ),
        (
            Scripted::new(429, &body).header("retry-after", "42"),
            429,
            "Macrofy rate limit hit",
            Some("42"),
        ),
        (
            Scripted::new(500, &body),
            502,
            "Macrofy gateway error",
            None,
        ),
        (
            Scripted::new(503, &body),
            502,
            "Macrofy gateway error",
            None,
        ),
        (
            Scripted::new(302, &body).header("location", "http://127.0.0.1:9/elsewhere"),
            502,
            "Unexpected answer from the Macrofy gateway",
            None,
        ),
        (
            Scripted::new(418, &body),
            502,
            "Unexpected answer from the Macrofy gateway",
            None,
        ),
        (
            Scripted::new(409, &body),
            502,
            "Unexpected answer from the Macrofy gateway",
            None,
        ),
        (
            Scripted::new(204, ""),
            502,
            "Invalid answer from the Macrofy gateway",
            None,
        ),
        (
            Scripted::new(200, upstream_text),
            502,
            "Invalid answer from the Macrofy gateway",
            None,
        ),
        (
            Scripted::new(
                200,
                r#"{"token":"no-exp-here","user":{"id":"u","appId":"demo_app_001","externalId":"henry"}}"#,
            ),
            502,
            "Invalid answer from the Macrofy gateway",
            None,
        ),
        (
            Scripted::new(200, good("someone-else", later)),
            502,
            "Invalid answer from the Macrofy gateway",
            None,
        ),
        (
            Scripted::new(200, good("henry", 1_000)),
            502,
            "Invalid answer from the Macrofy gateway",
            None,
        ),
        (
            Scripted::new(200, "x".repeat(100_000)),
            502,
            "Invalid answer from the Macrofy gateway",
            None,
        ),
        (Scripted::new(200, good("henry", later)), 200, "", None),
    ];
    let fake = FakeGateway::new(SystemClock);
    let gw = fake.serve().await;
    let app = backend(&gw.url(), Duration::from_secs(5)).await;
    let url = format!("{}{SESSION_PATH}", app.url());
    for (answer, status, message, retry_after) in cases {
        let label = format!("{} {:.40}", answer.status, answer.body);
        fake.script_connect(Some(answer));
        let res = post_as(&url, "henry", "").await;
        assert_eq!(res.status.as_u16(), status, "{label}");
        assert!(
            !String::from_utf8_lossy(&res.body).contains(upstream_text),
            "{label}: the upstream's text leaked"
        );
        if status != 200 {
            assert_eq!(res.error(), message, "{label}");
            assert_eq!(res.headers["content-type"], "application/json", "{label}");
            assert_eq!(
                res.headers.get("retry-after").map(|v| v.to_str().unwrap()),
                retry_after,
                "{label}"
            );
        }
    }

    // A gateway slower than the timeout: 504; one that is gone: 502.
    fake.script_connect(None);
    fake.set_delay(Duration::from_secs(5));
    let slow_app = backend(&gw.url(), Duration::from_millis(200)).await;
    let res = post_as(&format!("{}{SESSION_PATH}", slow_app.url()), "ivan", "").await;
    assert_eq!(res.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(res.error(), "Macrofy gateway timed out");
    let gone = backend(&closed_url().await, Duration::from_secs(5)).await;
    let res = post_as(&format!("{}{SESSION_PATH}", gone.url()), "ivan", "").await;
    assert_eq!(res.status, StatusCode::BAD_GATEWAY);
    assert_eq!(res.error(), "Macrofy gateway unreachable");
}

#[tokio::test]
async fn the_memory_cache_is_bounded() {
    let clock = ManualClock::new(T0);
    let fake = FakeGateway::new(clock.clone());
    let gw = fake.serve().await;
    let sessions = manager(&gw.url(), &clock).with_cache(
        MemorySessionCache::new()
            .with_max_entries(2)
            .with_clock(clock.clone()),
    );
    for user in ["u1", "u2", "u3"] {
        bounded(sessions.session(user)).await.unwrap();
        clock.advance(1);
    }
    assert_eq!(fake.connects(), 3);
    // u1 expired soonest and made room for u3; u2 and u3 are cached.
    bounded(sessions.session("u2")).await.unwrap();
    bounded(sessions.session("u3")).await.unwrap();
    assert_eq!(fake.connects(), 3);
    bounded(sessions.session("u1")).await.unwrap();
    assert_eq!(fake.connects(), 4);
}

#[tokio::test]
async fn errors_and_debug_never_show_a_token_or_secret() {
    let clock = ManualClock::new(T0);
    let fake = FakeGateway::new(clock.clone());
    let gw = fake.serve().await;
    let sessions = manager(&gw.url(), &clock);
    let session = bounded(sessions.session("judy")).await.unwrap();
    let dbg = format!("{sessions:?} {session:?}");
    assert!(!dbg.contains(&session.token), "{dbg}");
    assert!(!dbg.contains(DEMO_APP_SECRET), "{dbg}");
    let err = sessions.session("").await.unwrap_err();
    assert!(matches!(err, SessionError::Invalid(_)), "{err:?}");
    assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    let cache = Arc::new(MemorySessionCache::new());
    assert!(!format!("{cache:?}").contains("token"));
}

/// Collects every log line of the current thread (the tests' runtime is
/// single-threaded, so the servers' tasks log here too).
#[derive(Clone, Default)]
struct LogBuffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_never_show_a_token_signature_or_secret() {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let clock = ManualClock::new(T0);
    let fake = FakeGateway::new(clock.clone());
    let gw = fake.serve().await;
    let sessions = manager(&gw.url(), &clock);
    let mut tokens = vec![bounded(sessions.session("kim")).await.unwrap().token];
    // A failing refresh (served from the cache, logged) ...
    fake.script_refresh(Some(Scripted::new(
        500,
        format!(r#"{{"error":"bad token {}"}}"#, tokens[0]),
    )));
    clock.set(jwt_expiry(&tokens[0]).unwrap() - 60);
    tokens.push(bounded(sessions.session("kim")).await.unwrap().token);
    // ... and failing routes (logged by the route).
    let app = backend(&gw.url(), Duration::from_secs(5)).await;
    fake.script_connect(Some(Scripted::new(503, "{}")));
    let res = post_as(&format!("{}{SESSION_PATH}", app.url()), "lee", "").await;
    assert_eq!(res.status, StatusCode::BAD_GATEWAY);
    fake.script_connect(None);
    let res = post_as(&format!("{}{SESSION_PATH}", app.url()), "lee", "").await;
    tokens.push(res.json()["token"].as_str().unwrap().to_owned());

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("refresh failed"),
        "the test saw no log: {text}"
    );
    assert!(text.contains("macrofy session failed"), "{text}");
    let key = SigningKey::new(DEMO_APP_SECRET).unwrap();
    let signatures = [
        key.sign_user_id("kim").to_hex(),
        key.sign_user_id("lee").to_hex(),
    ];
    for secret in tokens
        .iter()
        .chain(&signatures)
        .map(String::as_str)
        .chain([DEMO_APP_SECRET])
    {
        assert!(!text.contains(secret), "a credential was logged: {text}");
    }
}

#[tokio::test]
async fn against_the_local_gateway_a_session_near_expiry_is_refreshed_then_reconnected() {
    // The crate's own gateway (POST /api/auth/refresh included), with a
    // one-day token lifetime on the same manual clock as the manager.
    let clock = ManualClock::new(T0);
    let gateway = gateway_config(None)
        .with_clock(clock.clone())
        .with_token_lifetime(Duration::from_secs(24 * 3600))
        .build()
        .unwrap();
    let gw = serve(gateway.router()).await;
    let sessions = manager(&gw.url(), &clock);

    let first = bounded(sessions.session("mia")).await.unwrap();
    assert_eq!(jwt_expiry(&first.token), Some(T0 + 24 * 3600));
    assert_eq!(
        gateway.verify_token(&first.token).unwrap().external_id,
        "mia"
    );
    clock.advance(24 * 3600 - 1800); // inside the one-hour margin
    let refreshed = bounded(sessions.session("mia")).await.unwrap();
    assert_ne!(refreshed.token, first.token);
    assert_eq!(refreshed.user, first.user, "same scoped user");
    assert_eq!(
        jwt_expiry(&refreshed.token),
        Some(clock_now(&clock) + 24 * 3600)
    );
    assert_eq!(bounded(sessions.session("mia")).await.unwrap(), refreshed);
    clock.advance(2 * 24 * 3600); // expired: connect again
    let again = bounded(sessions.session("mia")).await.unwrap();
    assert_eq!(
        jwt_expiry(&again.token),
        Some(clock_now(&clock) + 24 * 3600)
    );
    assert_eq!(again.user, first.user);
}
