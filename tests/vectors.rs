//! Every known-answer vector in `tests/data/handshake-vectors.json` (computed
//! with Node's crypto following the vendors' SDKs), checked through the library.

use serde::Deserialize;
use tower_signing::macrofy;
use tower_signing::utilsio::{AppHash, ScryptParams, SignatureMessage, SigningKey, Timestamp};

#[derive(Deserialize)]
struct Vectors {
    utilsio: Utilsio,
    macrofy: Macrofy,
}

#[derive(Deserialize)]
struct Utilsio {
    derive: Vec<Derive>,
    sign: Vec<Sign>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Derive {
    app_secret: String,
    salt: String,
    params: Params,
    app_hash_hex: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Params {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
    key_len: usize,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Sign {
    app_hash_hex: String,
    device_id: String,
    app_id: String,
    timestamp: Timestamp<'static>,
    additional_data: Option<String>,
    message: String,
    signature: String,
}

#[derive(Deserialize)]
struct Macrofy {
    sign: Vec<MacrofySign>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MacrofySign {
    app_secret: String,
    user_id: String,
    signature: String,
}

fn vectors() -> Vectors {
    let text = include_str!("data/handshake-vectors.json");
    serde_json::from_str(text).expect("vectors parse")
}

#[test]
fn vector_file_is_not_trivially_small() {
    let v = vectors();
    assert!(v.utilsio.derive.len() >= 5);
    assert!(v.utilsio.sign.len() >= 100);
    assert!(v.macrofy.sign.len() >= 10);
}

#[test]
fn utilsio_derive_vectors() {
    for (i, v) in vectors().utilsio.derive.iter().enumerate() {
        let params =
            ScryptParams::new(v.params.n, v.params.r, v.params.p, v.params.key_len).unwrap();
        let hash = AppHash::derive(&v.app_secret, &v.salt, params).unwrap();
        assert_eq!(hash.expose_hex(), v.app_hash_hex, "derive vector {i}");
    }
}

#[test]
fn utilsio_message_and_sign_vectors() {
    for (i, v) in vectors().utilsio.sign.iter().enumerate() {
        let key = SigningKey::from_app_hash_hex(&v.app_hash_hex).unwrap();
        let msg =
            SignatureMessage::new(v.device_id.as_str(), v.app_id.as_str(), v.timestamp.clone())
                .unwrap()
                .with_optional_additional_data(v.additional_data.as_deref());
        assert_eq!(msg.to_string(), v.message, "message vector {i}");
        let sig = key.sign(&msg);
        assert_eq!(sig.as_str(), v.signature, "sign vector {i}");
        assert!(key.verify(&msg, &v.signature).is_ok(), "verify vector {i}");
        assert!(
            key.verify(&msg, &v.signature.to_uppercase()).is_ok(),
            "verify uppercase vector {i}"
        );
    }
}

#[test]
fn vectors_cover_both_timestamp_forms() {
    let v = vectors();
    assert!(
        v.utilsio
            .sign
            .iter()
            .any(|s| matches!(s.timestamp, Timestamp::Text(_)))
    );
    assert!(
        v.utilsio
            .sign
            .iter()
            .any(|s| matches!(s.timestamp, Timestamp::Seconds(_)))
    );
}

#[test]
fn macrofy_sign_vectors() {
    for (i, v) in vectors().macrofy.sign.iter().enumerate() {
        let key = macrofy::SigningKey::new(&v.app_secret).unwrap();
        assert_eq!(
            key.sign_user_id(&v.user_id).as_str(),
            v.signature,
            "macrofy vector {i}"
        );
        assert!(
            key.verify(&v.user_id, &v.signature).is_ok(),
            "macrofy verify {i}"
        );
    }
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn async_derivation_matches_blocking() {
    let v = &vectors().utilsio.derive[2];
    let params = ScryptParams::new(v.params.n, v.params.r, v.params.p, v.params.key_len).unwrap();
    let hash = AppHash::derive_async(v.app_secret.clone(), v.salt.clone(), params)
        .await
        .unwrap();
    assert_eq!(hash.expose_hex(), v.app_hash_hex);
    let key = SigningKey::derive_async(v.app_secret.clone(), v.salt.clone(), params)
        .await
        .unwrap();
    let msg = SignatureMessage::new("d", "a", 1u64).unwrap();
    assert_eq!(key.sign(&msg), SigningKey::new(&hash).sign(&msg));
}
