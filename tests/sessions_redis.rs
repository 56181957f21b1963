//! The session route on a real Redis (started by the harness on a free
//! loopback port; the test fails, never skips, when redis-server is missing):
//! two instances share sessions and make one gateway call between them,
//! entries expire with the token, the lock belongs to its owner, and a Redis
//! outage is a bounded 503 that heals by itself.
#![cfg(all(feature = "gateway", feature = "client", feature = "redis"))]

mod macrofy_common;
mod redis_server;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use axum::Router;
use http::StatusCode;
use macrofy_common::fake::FakeGateway;
use macrofy_common::*;
use redis::AsyncCommands;
use redis_server::RedisServer;
use tower_signing::SystemClock;
use tower_signing::macrofy::client::jwt_expiry;
use tower_signing::macrofy::routes::{self, MacrofyConfig, SESSION_PATH};
use tower_signing::macrofy::sessions::{RedisSessionCache, SessionCache};
use tower_signing::macrofy::{DEMO_APP_ID, DEMO_APP_SECRET};

/// An app instance whose session route uses the Redis at `redis_url`.
async fn instance(gateway_url: &str, redis_url: &str) -> Server {
    let cache = bounded(RedisSessionCache::connect(redis_url))
        .await
        .expect("connect to the test Redis");
    let config = MacrofyConfig::new(DEMO_APP_ID, DEMO_APP_SECRET)
        .unwrap()
        .with_base_url(gateway_url)
        .unwrap()
        .with_timeout(Duration::from_secs(5))
        .unwrap()
        .with_session_cache(cache);
    serve(Router::new().merge(routes::router::<TestUser, _>(config))).await
}

async fn raw(redis: &RedisServer) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(redis.url()).unwrap();
    bounded(client.get_multiplexed_async_connection())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_make_one_connect_for_a_hundred_concurrent_requests() {
    let redis = RedisServer::start();
    let fake = FakeGateway::new(SystemClock);
    fake.set_delay(Duration::from_millis(300));
    let gw = fake.serve().await;
    let a = instance(&gw.url(), &redis.url()).await;
    let b = instance(&gw.url(), &redis.url()).await;

    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let url = format!(
                "{}{SESSION_PATH}",
                if i % 2 == 0 { a.url() } else { b.url() }
            );
            tokio::spawn(async move { post_as(&url, "alice", "").await })
        })
        .collect();
    let mut tokens = HashSet::new();
    for task in tasks {
        let answer = bounded(task).await.unwrap();
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        tokens.insert(answer.json()["token"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        fake.connects(),
        1,
        "one gateway call between both instances"
    );
    assert_eq!(fake.refreshes(), 0);
    assert_eq!(tokens.len(), 1, "everyone got the same session");

    // Warm: both instances answer from Redis without the gateway.
    for app in [&a, &b] {
        let res = post_as(&format!("{}{SESSION_PATH}", app.url()), "alice", "").await;
        assert_eq!(res.status, StatusCode::OK);
    }
    assert_eq!(fake.connects(), 1);
}

#[tokio::test]
async fn entries_are_namespaced_json_that_expire_with_the_token_and_locks_are_released() {
    let redis = RedisServer::start();
    let fake = FakeGateway::new(SystemClock);
    fake.lifetime
        .store(600, std::sync::atomic::Ordering::SeqCst);
    let gw = fake.serve().await;
    let app = instance(&gw.url(), &redis.url()).await;
    let res = post_as(&format!("{}{SESSION_PATH}", app.url()), "bob", "").await;
    assert_eq!(res.status, StatusCode::OK);
    let token = res.json()["token"].as_str().unwrap().to_owned();

    let mut conn = raw(&redis).await;
    let key = format!("tower-signing:macrofy:session:{DEMO_APP_ID}:bob");
    let stored: String = conn.get(&key).await.unwrap();
    let stored: serde_json::Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(stored, res.json(), "the value is the session's JSON");
    let expire_at: i64 = redis::cmd("EXPIRETIME")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(expire_at as u64, jwt_expiry(&token).unwrap());
    let lock = format!("tower-signing:macrofy:lock:{DEMO_APP_ID}:bob");
    let exists: bool = conn.exists(&lock).await.unwrap();
    assert!(!exists, "the lock is released after the call");
}

#[tokio::test]
async fn the_lock_is_exclusive_and_only_its_owner_releases_it() {
    let redis = RedisServer::start();
    let cache = bounded(RedisSessionCache::connect(&redis.url()))
        .await
        .unwrap()
        .with_prefix("test:");
    let other = bounded(RedisSessionCache::connect(&redis.url()))
        .await
        .unwrap()
        .with_prefix("test:");
    let ttl = Duration::from_secs(30);
    let owner = cache.try_lock("app:u", ttl).await.unwrap().expect("free");
    assert_eq!(other.try_lock("app:u", ttl).await.unwrap(), None);
    other.unlock("app:u", "not-the-owner").await.unwrap();
    assert_eq!(other.try_lock("app:u", ttl).await.unwrap(), None);
    cache.unlock("app:u", &owner).await.unwrap();
    let second = other
        .try_lock("app:u", ttl)
        .await
        .unwrap()
        .expect("released");
    assert_ne!(second, owner);
    // The lock expires by itself when its holder dies.
    let short = cache
        .try_lock("app:v", Duration::from_millis(100))
        .await
        .unwrap();
    assert!(short.is_some());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(other.try_lock("app:v", ttl).await.unwrap().is_some());
    let mut conn = raw(&redis).await;
    let pttl: i64 = conn.pttl("test:lock:app:u").await.unwrap();
    assert!(pttl > 0 && pttl <= 30_000, "{pttl}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_is_a_bounded_503_and_recovers_when_redis_is_back() {
    let mut redis = RedisServer::start();
    let fake = FakeGateway::new(SystemClock);
    let gw = fake.serve().await;
    let app = instance(&gw.url(), &redis.url()).await;
    let url = format!("{}{SESSION_PATH}", app.url());
    assert_eq!(post_as(&url, "carol", "").await.status, StatusCode::OK);

    redis.stop();
    for _ in 0..3 {
        let started = Instant::now();
        let res = post_as(&url, "carol", "").await;
        assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            res.json(),
            serde_json::json!({"error": "Session store unavailable"})
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "a request during the outage took {:?}",
            started.elapsed()
        );
    }
    assert_eq!(fake.connects(), 1, "no gateway call while Redis is down");

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        let res = post_as(&url, "carol", "").await;
        if res.status == StatusCode::OK || Instant::now() > deadline {
            break res.status;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        status,
        StatusCode::OK,
        "the route recovers once Redis is back"
    );
    // The restarted Redis is empty: one new connect, then cached again.
    assert_eq!(fake.connects(), 2);
    assert_eq!(post_as(&url, "carol", "").await.status, StatusCode::OK);
    assert_eq!(fake.connects(), 2);
}

#[tokio::test]
async fn connecting_to_a_redis_that_is_not_there_fails_fast() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    redis.stop();
    let started = Instant::now();
    let err = bounded(RedisSessionCache::connect(&url)).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        err.to_string().starts_with("session cache failed: "),
        "{err}"
    );
    let bad = bounded(RedisSessionCache::connect("not a url"))
        .await
        .unwrap_err();
    assert!(
        bad.to_string().starts_with("session cache failed: "),
        "{bad}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_goes_away_mid_call_does_not_hold_the_lock() {
    use tower_signing::macrofy::SigningKey;
    use tower_signing::macrofy::client::MacrofyClient;
    use tower_signing::macrofy::sessions::SessionManager;

    let redis = RedisServer::start();
    let fake = FakeGateway::new(SystemClock);
    fake.set_delay(Duration::from_millis(500));
    let gw = fake.serve().await;
    let instance = || async {
        let client = MacrofyClient::builder()
            .base_url(gw.url())
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let cache = bounded(RedisSessionCache::connect(&redis.url()))
            .await
            .unwrap();
        SessionManager::new(
            DEMO_APP_ID,
            SigningKey::new(DEMO_APP_SECRET).unwrap(),
            client,
        )
        .unwrap()
        .with_cache(cache)
    };
    let (first, second) = (instance().await, instance().await);
    // The first caller gives up (client disconnect) while the gateway works.
    let gave_up = tokio::time::timeout(Duration::from_millis(100), first.session("dan")).await;
    assert!(gave_up.is_err());
    // Another instance gets the session the abandoned call stores, without
    // waiting for the lock's time to live (11 s here).
    let started = Instant::now();
    let session = bounded(second.session("dan")).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(session.user.external_id, "dan");
    assert_eq!(fake.connects(), 1);
}

#[tokio::test]
async fn a_lock_held_elsewhere_for_too_long_is_a_bounded_busy_503() {
    use tower_signing::macrofy::SigningKey;
    use tower_signing::macrofy::client::MacrofyClient;
    use tower_signing::macrofy::sessions::{SessionError, SessionManager};

    let redis = RedisServer::start();
    let fake = FakeGateway::new(SystemClock);
    let gw = fake.serve().await;
    let mut conn = raw(&redis).await;
    // Another instance took the lock and hangs (its TTL is a minute).
    let lock = format!("tower-signing:macrofy:lock:{DEMO_APP_ID}:nina");
    let _: () = redis::cmd("SET")
        .arg(&lock)
        .arg("someone-else")
        .arg("PX")
        .arg(60_000)
        .query_async(&mut conn)
        .await
        .unwrap();
    let client = MacrofyClient::builder().base_url(gw.url()).build().unwrap();
    let cache = bounded(RedisSessionCache::connect(&redis.url()))
        .await
        .unwrap();
    let sessions = SessionManager::new(
        DEMO_APP_ID,
        SigningKey::new(DEMO_APP_SECRET).unwrap(),
        client,
    )
    .unwrap()
    .with_cache(cache)
    .with_lock_ttl(Duration::from_millis(200));
    let started = Instant::now();
    let err = bounded(sessions.session("nina")).await.unwrap_err();
    assert!(matches!(err, SessionError::Busy), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(err.retry_after(), Some(1));
    assert_eq!(fake.connects(), 0, "the lock was respected");
    // The foreign owner's lock is untouched.
    let owner: String = conn.get(&lock).await.unwrap();
    assert_eq!(owner, "someone-else");
}
