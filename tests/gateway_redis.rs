//! The Redis quota store against a real `redis-server` on loopback: two
//! gateway instances share one count, the limit holds under concurrency,
//! returning users pass a full app, an outage is a 503 that heals.
#![cfg(all(feature = "gateway", feature = "redis"))]

mod gateway_common;
mod redis_server;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use gateway_common::*;
use redis_server::RedisServer;
use tower_signing::macrofy::gateway::{
    Admission, Gateway, GatewayConfig, InMemoryAppRegistry, QuotaStore, RedisQuotaStore,
};
use tower_signing::macrofy::{DEMO_APP_ID, DEMO_APP_SECRET};

const JWT_KEY: &str = "gateway-redis-test-jwt-key-32-bytes-long";
const QUOTA_KEY: &str = "tower-signing:macrofy:quota:demo_app_001";

async fn store(redis: &RedisServer) -> RedisQuotaStore {
    bounded(RedisQuotaStore::open(&redis.url()))
        .await
        .expect("connect to the test redis-server")
}

async fn gateway(redis: &RedisServer, limit: u64) -> Gateway {
    let apps = InMemoryAppRegistry::new()
        .with_app(DEMO_APP_ID, DEMO_APP_SECRET)
        .unwrap();
    GatewayConfig::new(apps, JWT_KEY)
        .with_sandbox_user_limit(Some(limit))
        .with_quota_store(store(redis).await.with_timeout(Duration::from_millis(500)))
        .build()
        .unwrap()
}

async fn redis_count(redis: &RedisServer) -> i64 {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut connection = bounded(client.get_multiplexed_async_connection())
        .await
        .unwrap();
    bounded(
        redis::cmd("SCARD")
            .arg(QUOTA_KEY)
            .query_async::<i64>(&mut connection),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_sharing_redis_admit_exactly_the_limit() {
    let redis = RedisServer::start();
    let one = serve(gateway(&redis, 10).await.router()).await;
    let two = serve(gateway(&redis, 10).await.router()).await;
    let addrs = [one.addr, two.addr];

    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let addr = addrs[i % 2];
            tokio::spawn(async move {
                let user = format!("new-user-{i}");
                let answer = connect(addr, DEMO_APP_ID, DEMO_APP_SECRET, &user).await;
                (user, answer)
            })
        })
        .collect();
    let mut admitted = Vec::new();
    let mut refused = 0;
    for task in tasks {
        let (user, answer) = bounded(task).await.unwrap();
        match answer.status {
            200 => admitted.push(user),
            403 => {
                assert_eq!(answer.error(), "Sandbox quota exceeded");
                refused += 1;
            }
            other => panic!("unexpected {other}: {answer:?}"),
        }
    }
    assert_eq!((admitted.len(), refused), (10, 190));
    assert_eq!(redis_count(&redis).await, 10);

    // The app is full: the admitted users still connect, on either
    // instance; a new user does not.
    let mut ids = HashSet::new();
    for (i, user) in admitted.iter().enumerate() {
        let again = connect(addrs[(i + 1) % 2], DEMO_APP_ID, DEMO_APP_SECRET, user).await;
        assert_eq!(again.status, 200, "{again:?}");
        ids.insert(again.json["user"]["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 10);
    for addr in addrs {
        let late = connect(addr, DEMO_APP_ID, DEMO_APP_SECRET, "late-user").await;
        assert_eq!(late.status, 403);
    }
    assert_eq!(redis_count(&redis).await, 10);
}

#[tokio::test]
async fn the_store_answers_like_the_in_memory_one() {
    let redis = RedisServer::start();
    let store = store(&redis).await;
    // Any clonable connection works, e.g. a multiplexed one.
    let client = redis::Client::open(redis.url()).unwrap();
    let multiplexed = bounded(client.get_multiplexed_async_connection())
        .await
        .unwrap();
    let other = RedisQuotaStore::new(multiplexed).with_key_prefix("elsewhere:");
    let admit = |s: &RedisQuotaStore, app: &'static str, user: &'static str, limit| {
        let s = s.clone();
        async move { bounded(s.admit(app, user, limit)).await.unwrap() }
    };
    assert_eq!(
        admit(&store, "app_a", "u1", Some(1)).await,
        Admission::Admitted
    );
    assert_eq!(
        admit(&store, "app_a", "u2", Some(1)).await,
        Admission::QuotaExceeded
    );
    assert_eq!(
        admit(&store, "app_a", "u1", Some(1)).await,
        Admission::Returning
    );
    assert_eq!(
        admit(&store, "app_a", "u1", Some(0)).await,
        Admission::Returning
    );
    assert_eq!(
        admit(&store, "app_b", "u2", Some(1)).await,
        Admission::Admitted
    );
    assert_eq!(
        admit(&store, "app_c", "u", Some(0)).await,
        Admission::QuotaExceeded
    );
    for user in ["x1", "x2", "x3"] {
        assert_eq!(
            admit(&store, "app_d", user, None).await,
            Admission::Admitted
        );
    }
    assert_eq!(
        admit(&store, "app_d", "x4", Some(u64::MAX)).await,
        Admission::Admitted
    );
    // Another prefix is another count.
    let elsewhere = bounded(other.admit("app_a", "u2", Some(1))).await.unwrap();
    assert_eq!(elsewhere, Admission::Admitted);
    assert_eq!(
        admit(&store, "app_a", "u2", Some(1)).await,
        Admission::QuotaExceeded
    );
    assert!(format!("{store:?}").contains("tower-signing:macrofy:quota:"));
}

#[tokio::test]
async fn redis_down_is_a_503_and_the_store_recovers() {
    let mut redis = RedisServer::start();
    let gw = serve(gateway(&redis, 10).await.router()).await;
    let ok = connect(gw.addr, DEMO_APP_ID, DEMO_APP_SECRET, "user-1").await;
    assert_eq!(ok.status, 200);

    redis.stop();
    for user in ["user-1", "user-2"] {
        let started = Instant::now();
        let down = connect(gw.addr, DEMO_APP_ID, DEMO_APP_SECRET, user).await;
        assert_eq!(down.status, 503, "{down:?}");
        assert_eq!(down.error(), "Quota store unavailable");
        assert!(started.elapsed() < Duration::from_secs(5), "{user}");
    }

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    let back = loop {
        let answer = connect(gw.addr, DEMO_APP_ID, DEMO_APP_SECRET, "user-3").await;
        if answer.status == 200 || Instant::now() > deadline {
            break answer;
        }
        assert_eq!(answer.status, 503, "{answer:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(back.status, 200, "the store did not recover: {back:?}");
    assert_eq!(redis_count(&redis).await, 1);
}

#[tokio::test]
async fn opening_an_absent_server_fails_in_time_without_the_url() {
    let mut redis = RedisServer::start();
    let url = format!("redis://:hunter2-password@127.0.0.1:{}/", redis.port());
    redis.stop();
    let started = Instant::now();
    let err = bounded(RedisQuotaStore::open(&url)).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    let message = err.to_string();
    assert!(
        !message.contains("hunter2") && !message.contains("127.0.0.1"),
        "{message}"
    );
    let err = bounded(RedisQuotaStore::open("not a url"))
        .await
        .unwrap_err();
    assert!(!err.to_string().contains("not a url"), "{err}");
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every refusal and outage is logged, and no log line holds a secret, a
/// JWT key, a token or a user id. (Current-thread runtime: the servers'
/// tasks log through this thread's subscriber.)
#[tokio::test]
async fn logs_name_failures_without_secrets_tokens_or_user_ids() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut redis = RedisServer::start();
    let apps = InMemoryAppRegistry::new()
        .with_app_secrets(DEMO_APP_ID, ["rotating-new-secret", DEMO_APP_SECRET])
        .unwrap();
    const OLD_JWT: &str = "the-previous-jwt-key-of-32-bytes-long";
    let gateway = GatewayConfig::new(apps, JWT_KEY)
        .with_previous_jwt_key(OLD_JWT)
        .with_quota_store(store(&redis).await.with_timeout(Duration::from_millis(500)))
        .build()
        .unwrap();
    let gw = serve(gateway.router()).await;
    let ok = connect(
        gw.addr,
        DEMO_APP_ID,
        "rotating-new-secret",
        "secret-user-17",
    )
    .await;
    let token = ok.token();
    let bad = connect(gw.addr, DEMO_APP_ID, "a-wrong-secret", "secret-user-17").await;
    assert_eq!(bad.status, 401);
    let mut tampered = token.clone();
    tampered.insert(tampered.len() - 3, 'x');
    assert_eq!(refresh(gw.addr, &tampered).await.status, 401);
    let refreshed = refresh(gw.addr, &token).await.token();
    redis.stop();
    let down = connect(gw.addr, DEMO_APP_ID, DEMO_APP_SECRET, "secret-user-18").await;
    assert_eq!(down.status, 503);
    drop(gw);

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    for expected in [
        "macrofy connect refused",
        "macrofy refresh refused",
        "macrofy quota store failed",
    ] {
        assert!(text.contains(expected), "{expected:?} not logged:\n{text}");
    }
    let signature = token.rsplit('.').next().unwrap();
    for forbidden in [
        "rotating-new-secret",
        DEMO_APP_SECRET,
        JWT_KEY,
        OLD_JWT,
        &token,
        signature,
        &refreshed,
        "secret-user-17",
        "secret-user-18",
    ] {
        assert!(
            !text.contains(forbidden),
            "logs contain {forbidden:?}:\n{text}"
        );
    }
}
