//! `json_fields`: the crate's one JSON field reader, through every public
//! entry point that reads a JSON body with it.

use std::sync::OnceLock;

use axum::Router;
use serde_json::Value;
use tower_signing::macrofy::SignaturePayload;
use tower_signing::macrofy::routes::{MacrofyConfig, SIGNATURE_PATH};
use tower_signing::utilsio::CallbackRequest;
use tower_signing::utilsio::routes::AUTH_HEADERS_PATH;

use super::callback::{
    UTILSIO_APP_ID, callback_fixtures, check_accepted_callback, serde_callback, utilsio_signature,
};
use super::fixtures::*;

/// The Macrofy backend app of the `POST /api/macrofy-signature` route that
/// reads the userId from the body (the insecure demo router is the only one
/// that reads a body: the identity-bound one takes the user from the app).
const MACROFY_APP_ID: &str = "fuzzBackend1";
const MACROFY_SECRET: &str = "fuzz-backend-secret";

fn macrofy_router() -> &'static Router {
    static ROUTER: OnceLock<Router> = OnceLock::new();
    ROUTER.get_or_init(|| {
        let config = MacrofyConfig::new(MACROFY_APP_ID, MACROFY_SECRET).expect("fixture config");
        tower_signing::macrofy::routes::insecure_body_user_id_router(config)
    })
}

/// `json_fields`: `data` is a JSON body, given to each reader:
///
/// - `CallbackRequest::from_json`: accepts exactly when serde_json reads
///   the four fields as truthy strings and a whole-seconds timestamp, and
///   then the callback's fields and canonical message are serde_json's
///   (it re-serializes to the same message and its signature verifies);
///   a refusal has a 4xx status and a message.
/// - the gateway's connect body: everything `gateway_connect` checks.
/// - `POST /api/utilsio/auth-headers` (`{deviceId, additionalData?}`):
///   a 200 signs serde_json's deviceId and additionalData at the fixed
///   time; a well-typed body with a deviceId is never refused.
/// - `POST /api/macrofy-signature` (`{userId}`): a 200 signs serde_json's
///   userId; a userId of 1-256 bytes is never refused.
///
/// Every refusal is a 4xx JSON `{"error": "<non-empty>"}`; nothing panics.
pub fn json_fields(data: &[u8]) -> bool {
    let object = serde_object(data);

    let mut accepted = false;

    // The callback body.
    match CallbackRequest::from_json(data) {
        Ok(callback) => {
            check_accepted_callback(&callback, data);
            accepted = true;
        }
        Err(e) => {
            assert!(e.status().is_client_error(), "{e:?}");
            assert!(!e.body_text().trim().is_empty(), "{e:?}");
            assert!(
                serde_callback(data).is_none(),
                "refused a callback body serde_json reads as valid: {e:?}"
            );
        }
    }

    // The gateway's connect body.
    accepted |= super::gateway::gateway_connect(data);

    // The utilsio auth-headers action.
    let fx = callback_fixtures();
    let (status, _, body) = send(&fx.auth_headers, post_json(AUTH_HEADERS_PATH, data));
    let optional_string = |map: &serde_json::Map<String, Value>, name: &str| match map.get(name) {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(s.clone())),
        Some(_) => None,
    };
    let expected = object.as_ref().and_then(|map| {
        let device_id = optional_string(map, "deviceId")?.filter(|d| !d.is_empty())?;
        let additional = optional_string(map, "additionalData")?.filter(|a| !a.is_empty());
        let mut message = format!("{device_id}-{UTILSIO_APP_ID}-{NOW}");
        if let Some(additional) = additional {
            message.push('-');
            message.push_str(&additional);
        }
        Some(message)
    });
    accepted |= status.is_success();
    if status.is_success() {
        let message = expected.expect("signed a body serde_json does not read as valid");
        let answer: Value = serde_json::from_slice(&body).expect("a JSON answer");
        assert_eq!(
            answer["signature"],
            Value::from(utilsio_signature(&message))
        );
        assert_eq!(answer["timestamp"], Value::from(NOW.to_string()));
    } else {
        assert_refusal(status, &body);
        assert!(
            expected.is_none(),
            "auth-headers refused a valid body: {status}"
        );
    }

    // The Macrofy backend signature route.
    let (status, _, body) = send(macrofy_router(), post_json(SIGNATURE_PATH, data));
    let user_id = object
        .as_ref()
        .and_then(|map| map.get("userId")?.as_str().map(str::to_owned))
        .filter(|u| !u.is_empty() && u.len() <= 256);
    accepted |= status.is_success();
    if status.is_success() {
        let payload: SignaturePayload = serde_json::from_slice(&body).expect("a payload");
        let user_id = user_id.expect("signed a userId serde_json does not read as valid");
        assert_eq!(payload.user_id, user_id);
        assert_eq!(payload.app_id, MACROFY_APP_ID);
        let signature = hmac_sha256(MACROFY_SECRET.as_bytes(), user_id.as_bytes());
        assert_eq!(payload.signature, hex::encode(signature));
    } else {
        assert_refusal(status, &body);
        assert!(
            user_id.is_none(),
            "the signature route refused a valid userId: {status}"
        );
    }
    accepted
}
