//! The gateway over loopback: refresh, token lifetime, JWT key rotation by
//! `kid`, two secrets per app, the quota never spent on a failed token issue,
//! secrets from a spec kept verbatim.
#![cfg(feature = "gateway")]

mod gateway_common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gateway_common::*;
use tower_signing::ManualClock;
use tower_signing::macrofy::gateway::{
    AppKeys, AppRegistry, BoxError, BoxFuture, Gateway, GatewayConfig, InMemoryAppRegistry,
    TOKEN_TTL_SECONDS,
};
use tower_signing::macrofy::{DEMO_APP_ID, DEMO_APP_SECRET};

const KEY_A: &str = "gateway-test-jwt-key-A-32-bytes-at-least";
const KEY_B: &str = "gateway-test-jwt-key-B-32-bytes-at-least";
const USER_IDS: &str = "gateway-test-user-id-key-32-bytes-long!!";
const NOW: u64 = 1_700_000_000;

fn demo_apps() -> InMemoryAppRegistry {
    InMemoryAppRegistry::new()
        .with_app(DEMO_APP_ID, DEMO_APP_SECRET)
        .unwrap()
}

fn config(apps: impl AppRegistry, key: &str, clock: &ManualClock) -> GatewayConfig {
    GatewayConfig::new(apps, key)
        .with_user_id_key(USER_IDS)
        .with_clock(clock.clone())
}

async fn start(gateway: &Gateway) -> Server {
    serve(gateway.router()).await
}

fn kid(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

fn assert_refused(answer: &Answer, error: &str) {
    assert_eq!(answer.status, 401, "{answer:?}");
    assert_eq!(answer.error(), error, "{answer:?}");
    assert_eq!(answer.www_authenticate.as_deref(), Some("Bearer"));
}

#[tokio::test]
async fn refresh_gives_a_fresh_token_for_the_same_user() {
    let clock = ManualClock::new(NOW);
    let gateway = config(demo_apps(), KEY_A, &clock).build().unwrap();
    let gw = start(&gateway).await;
    let first = connect(gw.addr, DEMO_APP_ID, DEMO_APP_SECRET, "user-1").await;
    assert_eq!(first.status, 200, "{first:?}");

    clock.advance(3_600);
    let refreshed = refresh(gw.addr, &first.token()).await;
    assert_eq!(refreshed.status, 200, "{refreshed:?}");
    assert_eq!(refreshed.json["user"], first.json["user"]);
    assert_eq!(refreshed.json["user"]["externalId"], "user-1");
    let old = gateway.verify_token(&first.token()).unwrap();
    let new = gateway.verify_token(&refreshed.token()).unwrap();
    assert_eq!(
        (new.sub.as_str(), new.app_id.as_str()),
        (old.sub.as_str(), DEMO_APP_ID)
    );
    assert_eq!(new.iat, NOW + 3_600);
    assert_eq!(new.exp, NOW + 3_600 + TOKEN_TTL_SECONDS);
    assert_ne!(new.jti, old.jti);
    // The new token opens the protected route; so does the old one, until
    // it expires (refresh does not revoke).
    let me = session(gw.addr, &refreshed.token()).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json, refreshed.json["user"]);
    assert_eq!(session(gw.addr, &first.token()).await.status, 200);
    // Past the first token's exp, only the refreshed one is accepted.
    clock.set(old.exp);
    assert_refused(&refresh(gw.addr, &first.token()).await, "Token expired");
    assert_eq!(refresh(gw.addr, &refreshed.token()).await.status, 200);
}

#[tokio::test]
async fn token_lifetime_is_configurable() {
    let clock = ManualClock::new(NOW);
    let gateway = config(demo_apps(), KEY_A, &clock)
        .with_token_lifetime(Duration::from_secs(90))
        .build()
        .unwrap();
    let gw = start(&gateway).await;
    let first = connect(gw.addr, DEMO_APP_ID, DEMO_APP_SECRET, "user-1").await;
    let claims = gateway.verify_token(&first.token()).unwrap();
    assert_eq!(claims.exp - claims.iat, 90);
    clock.advance(89);
    let refreshed = refresh(gw.addr, &first.token()).await;
    let claims = gateway.verify_token(&refreshed.token()).unwrap();
    assert_eq!((claims.iat, claims.exp), (NOW + 89, NOW + 89 + 90));
    clock.advance(1);
    assert_refused(&refresh(gw.addr, &first.token()).await, "Token expired");
    // The default is 7 days; a zero lifetime is refused at build time.
    let default = config(demo_apps(), KEY_A, &clock).build().unwrap();
    let gw = start(&default).await;
    let t = connect(gw.addr, DEMO_APP_ID, DEMO_APP_SECRET, "user-1").await;
    let claims = default.verify_token(&t.token()).unwrap();
    assert_eq!(claims.exp - claims.iat, 7 * 24 * 3600);
    assert!(
        config(demo_apps(), KEY_A, &clock)
            .with_token_lifetime(Duration::from_millis(999))
            .build()
            .is_err()
    );
}

#[tokio::test]
async fn refresh_refuses_every_token_not_accepted() {
    let clock = ManualClock::new(NOW);
    let gateway = config(demo_apps(), KEY_A, &clock).build().unwrap();
    let gw = start(&gateway).await;
    let token = connect(gw.addr, DEMO_APP_ID, DEMO_APP_SECRET, "user-1")
        .await
        .token();

    // Another gateway key (unknown kid), issuer, audience.
    let strangers = [
        config(demo_apps(), KEY_B, &clock).build().unwrap(),
        config(demo_apps(), KEY_A, &clock)
            .with_issuer("someone-else")
            .build()
            .unwrap(),
        config(demo_apps(), KEY_A, &clock)
            .with_audience("another-api")
            .build()
            .unwrap(),
    ];
    for stranger in &strangers {
        let other = start(stranger).await;
        let foreign = connect(other.addr, DEMO_APP_ID, DEMO_APP_SECRET, "user-1")
            .await
            .token();
        assert_refused(&refresh(gw.addr, &foreign).await, "Invalid token");
    }

    // Tampered signature, payload and header.
    let parts: Vec<&str> = token.split('.').collect();
    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    signature[31] ^= 0x80;
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["external_id"] = "admin".into();
    let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"HS512","kid":"{}"}}"#, kid(&token)));
    for forged in [
        format!(
            "{}.{}.{}",
            parts[0],
            parts[1],
            URL_SAFE_NO_PAD.encode(&signature)
        ),
        format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            parts[2]
        ),
        format!("{header}.{}.{}", parts[1], parts[2]),
        "not.a.jwt".to_owned(),
    ] {
        assert_refused(&refresh(gw.addr, &forged).await, "Invalid token");
    }

    // No or a malformed Authorization header.
    let none = call(gw.addr, "POST", "/api/auth/refresh", None, "").await;
    assert_refused(&none, "Missing bearer token");
    let basic = call(gw.addr, "POST", "/api/auth/refresh", Some(&token), "").await;
    assert_refused(&basic, "Authorization must be 'Bearer <token>'");

    // Expired.
    clock.advance(TOKEN_TTL_SECONDS);
    assert_refused(&refresh(gw.addr, &token).await, "Token expired");

    // Only POST.
    let auth = format!("Bearer {token}");
    let get = call(gw.addr, "GET", "/api/auth/refresh", Some(&auth), "").await;
    assert_eq!(get.status, 405);
}

/// A registry an operator edits while the gateway runs.
#[derive(Clone, Default)]
struct LiveRegistry(Arc<Mutex<InMemoryAppRegistry>>);

impl AppRegistry for LiveRegistry {
    fn app_keys<'a>(&'a self, app_id: &'a str) -> BoxFuture<'a, Result<Option<AppKeys>, BoxError>> {
        let apps = self.0.lock().unwrap().clone();
        Box::pin(async move { apps.app_keys(app_id).await })
    }
}

#[tokio::test]
async fn an_app_removed_from_the_registry_cannot_refresh() {
    let clock = ManualClock::new(NOW);
    let registry = LiveRegistry(Arc::new(Mutex::new(demo_apps())));
    let gateway = config(registry.clone(), KEY_A, &clock).build().unwrap();
    let gw = start(&gateway).await;
    let token = connect(gw.addr, DEMO_APP_ID, DEMO_APP_SECRET, "user-1")
        .await
        .token();
    assert_eq!(refresh(gw.addr, &token).await.status, 200);

    *registry.0.lock().unwrap() = InMemoryAppRegistry::new();
    let refused = refresh(gw.addr, &token).await;
    assert_eq!(refused.status, 401, "{refused:?}");
    assert_eq!(refused.error(), "Unknown appId");
    let refused = connect(gw.addr, DEMO_APP_ID, DEMO_APP_SECRET, "user-1").await;
    assert_eq!(refused.status, 401);
}

#[tokio::test]
async fn jwt_keys_rotate_by_kid() {
    let clock = ManualClock::new(NOW);
    // Before the rotation: key A.
    let before = config(demo_apps(), KEY_A, &clock).build().unwrap();
    let gw_before = start(&before).await;
    let old_token = connect(gw_before.addr, DEMO_APP_ID, DEMO_APP_SECRET, "user-1")
        .await
        .token();
    assert_eq!(kid(&old_token), before.jwt_key_id());

    // During: signs with B, still accepts A's tokens.
    let during = config(demo_apps(), KEY_B, &clock)
        .with_previous_jwt_key(KEY_A)
        .build()
        .unwrap();
    assert_ne!(during.jwt_key_id(), before.jwt_key_id());
    let gw_during = start(&during).await;
    clock.advance(60);
    assert_eq!(session(gw_during.addr, &old_token).await.status, 200);
    let moved = refresh(gw_during.addr, &old_token).await;
    assert_eq!(moved.status, 200, "{moved:?}");
    assert_eq!(kid(&moved.token()), during.jwt_key_id());
    assert_eq!(
        moved.json["user"]["id"],
        before.verify_token(&old_token).unwrap().sub
    );
    let fresh = connect(gw_during.addr, DEMO_APP_ID, DEMO_APP_SECRET, "user-2")
        .await
        .token();
    assert_eq!(kid(&fresh), during.jwt_key_id());
    // ... until A's tokens expire.
    let old_exp = before.verify_token(&old_token).unwrap().exp;
    clock.set(old_exp);
    assert_refused(&session(gw_during.addr, &old_token).await, "Token expired");
    clock.set(NOW + 60);

    // After: A is no longer configured; its tokens are refused, B's are not.
    let after = config(demo_apps(), KEY_B, &clock).build().unwrap();
    let gw_after = start(&after).await;
    assert_refused(&refresh(gw_after.addr, &old_token).await, "Invalid token");
    assert_refused(&session(gw_after.addr, &old_token).await, "Invalid token");
    assert_eq!(session(gw_after.addr, &moved.token()).await.status, 200);
    assert_eq!(refresh(gw_after.addr, &fresh).await.status, 200);
    // A previous key is held to the same length rule.
    assert!(
        config(demo_apps(), KEY_B, &clock)
            .with_previous_jwt_key("short")
            .build()
            .is_err()
    );
}

#[tokio::test]
async fn an_app_with_two_secrets_connects_with_either_not_a_third() {
    let clock = ManualClock::new(NOW);
    let built = InMemoryAppRegistry::new()
        .with_app_secrets(DEMO_APP_ID, ["new-secret", "old-secret"])
        .unwrap();
    let spec = InMemoryAppRegistry::from_spec(&format!(
        "{DEMO_APP_ID}:new-secret, {DEMO_APP_ID}:old-secret"
    ))
    .unwrap();
    for apps in [built, spec] {
        let gateway = config(apps, KEY_A, &clock).build().unwrap();
        let gw = start(&gateway).await;
        let new = connect(gw.addr, DEMO_APP_ID, "new-secret", "user-1").await;
        let old = connect(gw.addr, DEMO_APP_ID, "old-secret", "user-1").await;
        assert_eq!((new.status, old.status), (200, 200));
        // The same user whichever secret signed.
        assert_eq!(new.json["user"], old.json["user"]);
        for other in ["third-secret", DEMO_APP_SECRET, "new-secret ", "old"] {
            let refused = connect(gw.addr, DEMO_APP_ID, other, "user-1").await;
            assert_eq!(refused.status, 401, "{other}");
            assert_eq!(refused.error(), "Invalid signature");
        }
    }
}

#[tokio::test]
async fn secrets_from_a_spec_are_not_trimmed() {
    let clock = ManualClock::new(NOW);
    let apps =
        InMemoryAppRegistry::from_spec(&format!(" {DEMO_APP_ID}:  spaced secret  ,")).unwrap();
    let gateway = config(apps, KEY_A, &clock).build().unwrap();
    let gw = start(&gateway).await;
    let ok = connect(gw.addr, DEMO_APP_ID, "  spaced secret  ", "user-1").await;
    assert_eq!(ok.status, 200, "{ok:?}");
    for altered in ["spaced secret", "  spaced secret", "spaced secret  "] {
        assert_eq!(
            connect(gw.addr, DEMO_APP_ID, altered, "user-1")
                .await
                .status,
            401,
            "{altered:?}"
        );
    }
}

#[tokio::test]
async fn a_failed_token_issue_spends_no_quota_slot() {
    // A clock past the largest expiry a JSON client can read (2^53 - 1)
    // makes issuing fail with a 500; the gateway's only user slot must stay
    // free.
    let clock = ManualClock::new(1 << 53);
    let gateway = config(demo_apps(), KEY_A, &clock)
        .with_sandbox_user_limit(Some(1))
        .build()
        .unwrap();
    let gw = start(&gateway).await;
    let failed = connect(gw.addr, DEMO_APP_ID, DEMO_APP_SECRET, "user-1").await;
    assert_eq!(failed.status, 500, "{failed:?}");
    assert_eq!(failed.error(), "Could not issue a session token");

    clock.set(NOW);
    let second = connect(gw.addr, DEMO_APP_ID, DEMO_APP_SECRET, "user-2").await;
    assert_eq!(
        second.status, 200,
        "the failed connect took the slot: {second:?}"
    );
    // The limit is real: the slot is now taken.
    let third = connect(gw.addr, DEMO_APP_ID, DEMO_APP_SECRET, "user-1").await;
    assert_eq!(third.status, 403);
    assert_eq!(third.error(), "Sandbox quota exceeded");
}
