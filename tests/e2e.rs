//! The utilsio router end to end over real loopback TCP: the SPEC 1.5 table,
//! the stricter body answers, timestamps, unicode, repeated headers, methods,
//! and the auth-headers route. Signatures are checked against an independent
//! implementation of SPEC 1.3 and against the known-answer vectors.
#![cfg(feature = "axum")]

mod common;

use axum::Router;
use common::*;
use tower_signing::ManualClock;
use tower_signing::utilsio::routes::AUTH_HEADERS_PATH;
use tower_signing::utilsio::{
    self, AuthHeaders, HttpsPolicy, SigningKey, SigningService, UtilsioState, VerifiedCallback,
};

const CALLBACK: &str = "/api/signature-callback";
const AUTH: &str = "/api/utilsio/auth-headers";
const ORIGIN: &str = "X-utilsio-Origin: utilsio.dev";
const HTTPS: &str = "X-Forwarded-Proto: https";
const JSON_CT: &str = "Content-Type: application/json";
const MISSING: &str = "Missing required fields: deviceId, appId, additionalData, timestamp";

/// A server with the HTTPS check on (the default), its clock at NOW: the
/// callback router, and the auth-headers route without authorization (the
/// route's own behaviour is under test here).
async fn server() -> (TestServer, ManualClock) {
    let clock = ManualClock::new(NOW);
    let auth_headers = Router::new()
        .route(AUTH, utilsio::insecure_anonymous_auth_headers_route())
        .with_state(state(&clock));
    let app: Router = utilsio::router(state(&clock)).merge(auth_headers);
    (serve(app).await, clock)
}

fn valid_body() -> String {
    callback_body("device-1", APP_ID, "0.033333", &NOW.to_string())
}

#[track_caller]
fn assert_signed(res: &RawResponse, message: &str, timestamp: &str) {
    assert_eq!(res.status, 200, "body: {}", res.body);
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert_eq!(
        res.json(),
        serde_json::json!({
            "signature": reference_signature(APP_HASH_HEX, message),
            "timestamp": timestamp,
        })
    );
}

#[tokio::test]
async fn spec_table_ok_row_signs_and_echoes_timestamp_as_string() {
    let (srv, _clock) = server().await;
    let res = post(srv.addr, CALLBACK, &[ORIGIN, HTTPS, JSON_CT], &valid_body()).await;
    assert_signed(
        &res,
        &format!("device-1-{APP_ID}-{NOW}-0.033333"),
        &NOW.to_string(),
    );
}

#[tokio::test]
async fn spec_table_row1_origin() {
    let (srv, _clock) = server().await;
    for origin in [
        None,
        Some("X-utilsio-Origin: evil.example"),
        Some("X-utilsio-Origin: UTILSIO.DEV"),
    ] {
        let mut headers = vec![HTTPS, JSON_CT];
        headers.extend(origin);
        post(srv.addr, CALLBACK, &headers, &valid_body())
            .await
            .assert_error(403, "Unauthorized origin");
    }
}

#[tokio::test]
async fn spec_table_row2_https() {
    let (srv, _clock) = server().await;
    for proto in [None, Some("X-Forwarded-Proto: http")] {
        let mut headers = vec![ORIGIN, JSON_CT];
        headers.extend(proto);
        post(srv.addr, CALLBACK, &headers, &valid_body())
            .await
            .assert_error(403, "HTTPS required");
    }
    let res = post(
        srv.addr,
        CALLBACK,
        &[ORIGIN, "Forwarded: for=10.0.0.1;proto=https", JSON_CT],
        &valid_body(),
    )
    .await;
    assert_eq!(res.status, 200);
}

/// The forwarding attacks of issue 7, each over real TCP: all refused.
#[tokio::test]
async fn forwarding_attacks_are_refused() {
    let (srv, _clock) = server().await;
    for extra in [
        &["X-Forwarded-Proto: https, http"][..],
        &["X-Forwarded-Proto: https", "X-Forwarded-Proto: http"],
        &["X-Forwarded-Proto: http", "Forwarded: proto=https"],
        &["Forwarded: proto=https;proto=http"],
        &["Forwarded: for=\"x;proto=https\""],
        &["Forwarded: proto=https, proto=http"],
    ] {
        let mut headers = vec![ORIGIN];
        headers.extend(extra);
        post(srv.addr, CALLBACK, &headers, &valid_body())
            .await
            .assert_error(403, "HTTPS required");
    }
    // An absolute-form target naming https, over plain HTTP.
    let body = valid_body();
    let head = format!(
        "POST https://{}{CALLBACK} HTTP/1.1\r\nContent-Length: {}\r\n{ORIGIN}",
        srv.addr,
        body.len()
    );
    send_raw(srv.addr, &head, &[body.as_bytes()])
        .await
        .assert_error(403, "HTTPS required");
}

/// Behind a trusted proxy (here the loopback peer): the value the proxy
/// appended counts; from an untrusted peer, no forwarded header does.
#[tokio::test]
async fn trusted_proxies_and_untrusted_peers() {
    let clock = ManualClock::new(NOW);
    let trusting = state(&clock)
        .with_https(HttpsPolicy::required().with_trusted_proxies(["127.0.0.0/8".parse().unwrap()]));
    let srv = serve_with_connect_info(utilsio::router(trusting)).await;
    let res = post(
        srv.addr,
        CALLBACK,
        &[ORIGIN, "X-Forwarded-Proto: http, https"],
        &valid_body(),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.body);
    post(
        srv.addr,
        CALLBACK,
        &[ORIGIN, "X-Forwarded-Proto: https, http"],
        &valid_body(),
    )
    .await
    .assert_error(403, "HTTPS required");

    let elsewhere = state(&clock)
        .with_https(HttpsPolicy::required().with_trusted_proxies(["10.0.0.0/8".parse().unwrap()]));
    let srv = serve_with_connect_info(utilsio::router(elsewhere)).await;
    post(srv.addr, CALLBACK, &[ORIGIN, HTTPS], &valid_body())
        .await
        .assert_error(403, "HTTPS required");
}

#[tokio::test]
async fn source_allow_list_refuses_other_addresses() {
    let clock = ManualClock::new(NOW);
    let policy = |sources: &str| {
        state(&clock)
            .callback_policy()
            .clone()
            .with_allowed_sources([sources.parse().unwrap()])
    };
    let allowed = state(&clock).with_callback_policy(policy("127.0.0.1/32"));
    let srv = serve_with_connect_info(utilsio::router(allowed)).await;
    assert_eq!(
        post(srv.addr, CALLBACK, &[ORIGIN, HTTPS], &valid_body())
            .await
            .status,
        200
    );
    let refused = state(&clock).with_callback_policy(policy("203.0.113.0/24"));
    let srv = serve_with_connect_info(utilsio::router(refused)).await;
    post(srv.addr, CALLBACK, &[ORIGIN, HTTPS], &valid_body())
        .await
        .assert_error(403, "Unauthorized origin");
    // Without the peer address (no ConnectInfo) nothing can be allowed.
    let unknown = state(&clock).with_callback_policy(policy("127.0.0.1/32"));
    let srv = serve(utilsio::router(unknown)).await;
    post(srv.addr, CALLBACK, &[ORIGIN, HTTPS], &valid_body())
        .await
        .assert_error(403, "Unauthorized origin");
}

async fn my_callback(
    signer: SigningService,
    VerifiedCallback(callback): VerifiedCallback,
) -> AuthHeaders {
    signer.sign_callback(&callback)
}

/// The extractor on the app's own route, and the layer on the app's own
/// route with `.layer` and `.route_layer`: the same answers, and 405 JSON
/// with `Allow: POST` for a GET (with `.layer` the layer answers it; with
/// `.route_layer` the route's fallback does, since the layer never sees it).
#[tokio::test]
async fn extractor_and_layer_on_the_apps_own_route() {
    let clock = ManualClock::new(NOW);
    let st = state(&clock);
    let layer = st.callback_layer();
    let extractor = Router::new()
        .route(
            "/cb",
            axum::routing::post(my_callback).fallback(utilsio::routes::post_only_fallback),
        )
        .with_state(st.clone());
    let with_layer = Router::new()
        .route("/cb", axum::routing::post(my_callback))
        .layer(layer.clone())
        .with_state(st.clone());
    let with_route_layer = Router::new()
        .route(
            "/cb",
            axum::routing::post(my_callback).fallback(utilsio::routes::post_only_fallback),
        )
        .route_layer(layer)
        .with_state(st.clone());
    let on_the_method_router = Router::new()
        .route(
            "/cb",
            axum::routing::post(my_callback).layer(st.callback_layer()),
        )
        .with_state(st.clone());
    for app in [
        extractor,
        with_layer,
        with_route_layer,
        on_the_method_router,
    ] {
        let srv = serve(app).await;
        let res = post(srv.addr, "/cb", &[ORIGIN, HTTPS], &valid_body()).await;
        assert_signed(
            &res,
            &format!("device-1-{APP_ID}-{NOW}-0.033333"),
            &NOW.to_string(),
        );
        post(srv.addr, "/cb", &[HTTPS], &valid_body())
            .await
            .assert_error(403, "Unauthorized origin");
        post(
            srv.addr,
            "/cb",
            &[ORIGIN, HTTPS],
            &callback_body("d", "other", "x", &NOW.to_string()),
        )
        .await
        .assert_error(403, "Invalid appId");
        let res = send_raw(srv.addr, &format!("GET /cb HTTP/1.1\r\n{ORIGIN}"), &[]).await;
        res.assert_error(405, "Method not allowed: use POST");
        assert_eq!(res.header("allow"), Some("POST"));
    }
}

#[tokio::test]
async fn router_mounts_only_the_callback() {
    let clock = ManualClock::new(NOW);
    let srv = serve(utilsio::router(state(&clock))).await;
    let res = post(srv.addr, AUTH, &[], r#"{"deviceId":"d"}"#).await;
    assert_eq!(res.status, 404);
}

/// The app's authorization extractor guards the auth-headers route.
struct SignedIn;

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for SignedIn {
    type Rejection = (axum::http::StatusCode, axum::Json<serde_json::Value>);

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        match parts.headers.get("authorization") {
            Some(v) if v == "Bearer t0ken" => Ok(SignedIn),
            _ => Err((
                axum::http::StatusCode::UNAUTHORIZED,
                axum::Json(serde_json::json!({"error": "Sign in first"})),
            )),
        }
    }
}

#[tokio::test]
async fn auth_headers_route_answers_only_authorized_callers() {
    let clock = ManualClock::new(NOW);
    let app = Router::new()
        .route(
            AUTH_HEADERS_PATH,
            utilsio::auth_headers_route::<SignedIn, UtilsioState>(),
        )
        .with_state(state(&clock));
    let srv = serve(app).await;
    let body = r#"{"deviceId":"device-9"}"#;
    post(srv.addr, AUTH, &[], body)
        .await
        .assert_error(401, "Sign in first");
    post(srv.addr, AUTH, &["Authorization: Bearer wrong"], body)
        .await
        .assert_error(401, "Sign in first");
    let res = post(srv.addr, AUTH, &["Authorization: Bearer t0ken"], body).await;
    assert_signed(&res, &format!("device-9-{APP_ID}-{NOW}"), &NOW.to_string());
    let res = send_raw(srv.addr, &format!("GET {AUTH} HTTP/1.1"), &[]).await;
    res.assert_error(405, "Method not allowed: use POST");
}

#[tokio::test]
async fn https_check_can_be_turned_off() {
    let clock = ManualClock::new(NOW);
    let srv = serve(utilsio::router(state(&clock).with_require_https(false))).await;
    let res = post(srv.addr, CALLBACK, &[ORIGIN], &valid_body()).await;
    assert_eq!(res.status, 200, "{}", res.body);
}

#[tokio::test]
async fn spec_table_row3_missing_or_falsy_fields() {
    let (srv, _clock) = server().await;
    let ts = NOW.to_string();
    for body in [
        "{}".to_owned(),
        callback_body("", APP_ID, "x", &ts),
        callback_body("d", "", "x", &ts),
        callback_body("d", APP_ID, "", &ts),
        callback_body("d", APP_ID, "x", "0"),
        callback_body("d", APP_ID, "x", "null"),
        format!(r#"{{"deviceId":"d","appId":"{APP_ID}","additionalData":"x"}}"#),
    ] {
        post(srv.addr, CALLBACK, &[ORIGIN, HTTPS, JSON_CT], &body)
            .await
            .assert_error(400, MISSING);
    }
}

#[tokio::test]
async fn spec_table_row4_and_row5() {
    let (srv, _clock) = server().await;
    let stale = callback_body("d", APP_ID, "x", &(NOW - 61).to_string());
    post(srv.addr, CALLBACK, &[ORIGIN, HTTPS], &stale)
        .await
        .assert_error(400, "Invalid timestamp");
    let other_app = callback_body("d", "someone-else", "x", &NOW.to_string());
    post(srv.addr, CALLBACK, &[ORIGIN, HTTPS], &other_app)
        .await
        .assert_error(403, "Invalid appId");
}

#[tokio::test]
async fn first_failing_check_answers() {
    let (srv, _clock) = server().await;
    // Bad origin and a stale timestamp: the origin answers.
    let stale = callback_body("d", APP_ID, "x", &(NOW - 3600).to_string());
    post(
        srv.addr,
        CALLBACK,
        &["X-utilsio-Origin: nope", HTTPS],
        &stale,
    )
    .await
    .assert_error(403, "Unauthorized origin");
    // No HTTPS and a malformed body: HTTPS answers.
    post(srv.addr, CALLBACK, &[ORIGIN], "{")
        .await
        .assert_error(403, "HTTPS required");
    // Stale and for another app: the timestamp answers.
    let both = callback_body("d", "other", "x", &(NOW - 3600).to_string());
    post(srv.addr, CALLBACK, &[ORIGIN, HTTPS], &both)
        .await
        .assert_error(400, "Invalid timestamp");
}

#[tokio::test]
async fn malformed_json_is_400_with_parser_message() {
    let (srv, _clock) = server().await;
    for body in ["{", "{\"deviceId\": }", "not json", "{}{}"] {
        let res = post(srv.addr, CALLBACK, &[ORIGIN, HTTPS, JSON_CT], body).await;
        assert_eq!(res.status, 400, "{body:?}");
        let error = res.json()["error"].as_str().unwrap().to_owned();
        assert!(error.starts_with("Invalid JSON body: "), "{error}");
        assert!(error.contains("line 1 column"), "{error}");
    }
    post(srv.addr, CALLBACK, &[ORIGIN, HTTPS], "[1,2,3]")
        .await
        .assert_error(400, "Request body must be a JSON object");
}

#[tokio::test]
async fn empty_body_is_400() {
    let (srv, _clock) = server().await;
    let res = post(srv.addr, CALLBACK, &[ORIGIN, HTTPS, JSON_CT], "").await;
    assert_eq!(res.status, 400);
    assert_eq!(
        res.json()["error"],
        "Invalid JSON body: EOF while parsing a value at line 1 column 0"
    );
}

#[tokio::test]
async fn body_over_the_limit_is_413_declared_or_streamed() {
    let (srv, _clock) = server().await;
    let huge = format!(r#"{{"pad":"{}"}}"#, "a".repeat(20 * 1024));
    let too_large = "Request body is larger than the 16384-byte limit";
    post(srv.addr, CALLBACK, &[ORIGIN, HTTPS, JSON_CT], &huge)
        .await
        .assert_error(413, too_large);
    // Chunked, no Content-Length: refused once the limit is passed.
    let writes = chunked(huge.as_bytes(), 1024);
    let writes: Vec<&[u8]> = writes.iter().map(Vec::as_slice).collect();
    let head =
        format!("POST {CALLBACK} HTTP/1.1\r\n{ORIGIN}\r\n{HTTPS}\r\nTransfer-Encoding: chunked");
    send_raw(srv.addr, &head, &writes)
        .await
        .assert_error(413, too_large);
    // Just under the limit is read (and then judged on its fields).
    let just_under = format!(r#"{{"pad":"{}"}}"#, "a".repeat(16 * 1024 - 12));
    assert_eq!(just_under.len(), 16 * 1024 - 2);
    post(srv.addr, CALLBACK, &[ORIGIN, HTTPS], &just_under)
        .await
        .assert_error(400, MISSING);
}

#[tokio::test]
async fn body_streamed_in_many_small_chunks() {
    let (srv, _clock) = server().await;
    let body = valid_body();
    let writes = chunked(body.as_bytes(), 3);
    assert!(writes.len() > 30);
    let writes: Vec<&[u8]> = writes.iter().map(Vec::as_slice).collect();
    let head =
        format!("POST {CALLBACK} HTTP/1.1\r\n{ORIGIN}\r\n{HTTPS}\r\nTransfer-Encoding: chunked");
    let res = send_raw(srv.addr, &head, &writes).await;
    assert_signed(
        &res,
        &format!("device-1-{APP_ID}-{NOW}-0.033333"),
        &NOW.to_string(),
    );
}

#[tokio::test]
async fn no_content_type_or_another_one_is_still_parsed() {
    let (srv, _clock) = server().await;
    for headers in [
        vec![ORIGIN, HTTPS],
        vec![ORIGIN, HTTPS, "Content-Type: text/plain"],
    ] {
        let res = post(srv.addr, CALLBACK, &headers, &valid_body()).await;
        assert_eq!(res.status, 200, "{}", res.body);
    }
}

#[tokio::test]
async fn numeric_string_timestamp_is_signed_and_echoed_verbatim() {
    let (srv, _clock) = server().await;
    let ts = format!("\"{NOW}\"");
    let res = post(
        srv.addr,
        CALLBACK,
        &[ORIGIN, HTTPS],
        &callback_body("d", APP_ID, "x", &ts),
    )
    .await;
    assert_signed(&res, &format!("d-{APP_ID}-{NOW}-x"), &NOW.to_string());
    // Leading zeros: still the same second, signed as sent (as the SDK would).
    let ts = format!("\"0{NOW}\"");
    let res = post(
        srv.addr,
        CALLBACK,
        &[ORIGIN, HTTPS],
        &callback_body("d", APP_ID, "x", &ts),
    )
    .await;
    assert_signed(&res, &format!("d-{APP_ID}-0{NOW}-x"), &format!("0{NOW}"));
}

#[tokio::test]
async fn bad_timestamp_types_name_the_field() {
    let (srv, _clock) = server().await;
    for ts in [
        "1700000000.5",
        "-1700000000",
        "1e9",
        "99999999999999999999999",
        "\"17000000O0\"",
        "true",
        "{}",
    ] {
        let res = post(
            srv.addr,
            CALLBACK,
            &[ORIGIN, HTTPS],
            &callback_body("d", APP_ID, "x", ts),
        )
        .await;
        assert_eq!(res.status, 400, "{ts}");
        let error = res.json()["error"].as_str().unwrap().to_owned();
        assert!(
            error.contains("timestamp") && error != "Invalid timestamp",
            "{ts}: {error}"
        );
    }
    let body =
        format!(r#"{{"deviceId":12,"appId":"{APP_ID}","additionalData":"x","timestamp":{NOW}}}"#);
    post(srv.addr, CALLBACK, &[ORIGIN, HTTPS], &body)
        .await
        .assert_error(400, "Invalid field type: deviceId must be a string");
}

#[tokio::test]
async fn timestamp_window_70_old_70_ahead_55_old() {
    let (srv, clock) = server().await;
    let body = callback_body("d", APP_ID, "x", &NOW.to_string());
    clock.set(NOW + 70);
    post(srv.addr, CALLBACK, &[ORIGIN, HTTPS], &body)
        .await
        .assert_error(400, "Invalid timestamp");
    clock.set(NOW - 70);
    post(srv.addr, CALLBACK, &[ORIGIN, HTTPS], &body)
        .await
        .assert_error(400, "Invalid timestamp");
    clock.set(NOW + 55);
    let res = post(srv.addr, CALLBACK, &[ORIGIN, HTTPS], &body).await;
    assert_signed(&res, &format!("d-{APP_ID}-{NOW}-x"), &NOW.to_string());
}

#[tokio::test]
async fn unicode_fields_are_signed_as_utf8() {
    let (srv, _clock) = server().await;
    let (device, data) = ("appareil-ß-日本-🙂", "0,033333 €");
    let res = post(
        srv.addr,
        CALLBACK,
        &[ORIGIN, HTTPS],
        &callback_body(device, APP_ID, data, &NOW.to_string()),
    )
    .await;
    assert_signed(
        &res,
        &format!("{device}-{APP_ID}-{NOW}-{data}"),
        &NOW.to_string(),
    );
    // Escaped in JSON, same characters.
    let escaped = format!(
        r#"{{"deviceId":"\u00df\ud83d\ude42","appId":"{APP_ID}","additionalData":"x","timestamp":{NOW}}}"#
    );
    let res = post(srv.addr, CALLBACK, &[ORIGIN, HTTPS], &escaped).await;
    assert_signed(&res, &format!("ß🙂-{APP_ID}-{NOW}-x"), &NOW.to_string());
}

#[tokio::test]
async fn repeated_origin_header_is_403() {
    let (srv, _clock) = server().await;
    post(srv.addr, CALLBACK, &[ORIGIN, ORIGIN, HTTPS], &valid_body())
        .await
        .assert_error(403, "Unauthorized origin");
}

#[tokio::test]
async fn get_on_the_routes_is_405_json() {
    let (srv, _clock) = server().await;
    for path in [CALLBACK, AUTH] {
        let res = send_raw(srv.addr, &format!("GET {path} HTTP/1.1\r\n{ORIGIN}"), &[]).await;
        res.assert_error(405, "Method not allowed: use POST");
        assert_eq!(res.header("allow"), Some("POST"));
    }
}

#[tokio::test]
async fn auth_headers_route_signs_at_the_current_time() {
    let (srv, clock) = server().await;
    clock.set(NOW + 5);
    let now = (NOW + 5).to_string();
    let res = post(
        srv.addr,
        AUTH,
        &[JSON_CT],
        r#"{"deviceId":"device-9","additionalData":"0.5"}"#,
    )
    .await;
    assert_signed(&res, &format!("device-9-{APP_ID}-{now}-0.5"), &now);
    // additionalData optional; empty is the same as none.
    for body in [
        r#"{"deviceId":"device-9"}"#,
        r#"{"deviceId":"device-9","additionalData":""}"#,
        r#"{"deviceId":"device-9","additionalData":null}"#,
    ] {
        let res = post(srv.addr, AUTH, &[], body).await;
        assert_signed(&res, &format!("device-9-{APP_ID}-{now}"), &now);
    }
}

#[tokio::test]
async fn auth_headers_route_rejects_bad_input() {
    let (srv, _clock) = server().await;
    for body in ["{}", r#"{"deviceId":""}"#, r#"{"deviceId":null}"#] {
        post(srv.addr, AUTH, &[], body)
            .await
            .assert_error(400, "deviceId is required");
    }
    post(srv.addr, AUTH, &[], r#"{"deviceId":7}"#)
        .await
        .assert_error(400, "Invalid field type: deviceId must be a string");
    post(
        srv.addr,
        AUTH,
        &[],
        r#"{"deviceId":"d","additionalData":1}"#,
    )
    .await
    .assert_error(400, "Invalid field type: additionalData must be a string");
    post(srv.addr, AUTH, &[], "[]")
        .await
        .assert_error(400, "Request body must be a JSON object");
    let res = post(srv.addr, AUTH, &[], "{").await;
    assert_eq!(res.status, 400);
    assert!(
        res.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("Invalid JSON body: ")
    );
    let huge = format!(r#"{{"deviceId":"{}"}}"#, "d".repeat(17 * 1024));
    post(srv.addr, AUTH, &[], &huge)
        .await
        .assert_error(413, "Request body is larger than the 16384-byte limit");
}

#[tokio::test]
async fn mounts_next_to_an_existing_app() {
    let clock = ManualClock::new(NOW);
    let app = Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .merge(utilsio::router(state(&clock)));
    let srv = serve(app).await;
    let res = send_raw(srv.addr, "GET /health HTTP/1.1", &[]).await;
    assert_eq!((res.status, res.body.as_str()), (200, "ok"));
    let res = post(srv.addr, CALLBACK, &[ORIGIN, HTTPS], &valid_body()).await;
    assert_eq!(res.status, 200);
}

/// Every vector with a callback-shaped input (non-empty additionalData, a
/// timestamp of digits) goes through the router and must produce the
/// vector's signature, computed with Node's crypto.
#[tokio::test]
async fn callback_route_reproduces_the_known_answer_vectors() {
    use tower::ServiceExt;
    let vectors: serde_json::Value =
        serde_json::from_str(include_str!("data/handshake-vectors.json")).unwrap();
    let mut checked = 0;
    for v in vectors["utilsio"]["sign"].as_array().unwrap() {
        let data = v["additionalData"].as_str().unwrap_or("");
        let ts = &v["timestamp"];
        let seconds = match ts {
            serde_json::Value::Number(n) => n.as_u64(),
            serde_json::Value::String(s)
                if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) =>
            {
                s.parse().ok()
            }
            _ => None,
        };
        let (Some(seconds), false) = (seconds.filter(|s| *s > 0), data.is_empty()) else {
            continue;
        };
        let app_id = v["appId"].as_str().unwrap();
        let key = SigningKey::from_app_hash_hex(v["appHashHex"].as_str().unwrap()).unwrap();
        let app: Router = utilsio::router(
            UtilsioState::new(key, app_id)
                .with_require_https(false)
                .with_clock(ManualClock::new(seconds)),
        );
        let body = callback_body(
            v["deviceId"].as_str().unwrap(),
            app_id,
            data,
            &ts.to_string(),
        );
        let req = axum::http::Request::post(CALLBACK)
            .header("x-utilsio-origin", "utilsio.dev")
            .body(axum::body::Body::from(body))
            .unwrap();
        let res = app.oneshot(req).await.unwrap();
        assert_eq!(res.status(), 200);
        let bytes = axum::body::to_bytes(res.into_body(), 4096).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            json["signature"], v["signature"],
            "vector message {}",
            v["message"]
        );
        let expected_ts = match ts {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        assert_eq!(json["timestamp"], expected_ts.as_str());
        checked += 1;
    }
    assert!(checked >= 50, "only {checked} vectors were callback-shaped");
}
