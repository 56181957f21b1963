//! Secret hygiene: Debug output and error messages never contain secret
//! material, derived keys or valid signatures.

use tower_signing::utilsio::{AppHash, ScryptParams, SignatureMessage, SigningKey};
use tower_signing::{KeyError, macrofy};

const SECRET: &str = "super-secret-app-value-0123456789";
const SALT: &str = "c0ffee00deadbeef";

fn cheap() -> ScryptParams {
    ScryptParams::default().with_n(1024).unwrap()
}

fn assert_clean(text: &str, forbidden: &[&str]) {
    for f in forbidden {
        assert!(!f.is_empty());
        assert!(!text.contains(f), "{text:?} contains secret material {f:?}");
        assert!(
            !text.to_lowercase().contains(&f.to_lowercase()),
            "{text:?} contains {f:?}"
        );
    }
}

#[test]
fn utilsio_types_debug_is_redacted() {
    let hash = AppHash::derive(SECRET, SALT, cheap()).unwrap();
    let hex = hash.expose_hex().to_owned();
    let key = SigningKey::new(&hash);
    let msg = SignatureMessage::new("device", "app", 1_700_000_000u64).unwrap();
    let sig = key.sign(&msg);
    let forbidden = [SECRET, SALT, hex.as_str(), sig.as_str()];

    for text in [
        format!("{hash:?}"),
        format!("{hash:#?}"),
        format!("{key:?}"),
        format!("{key:#?}"),
        format!("{sig:?}"),
        format!("{:?}", (&key, &hash, &sig)),
    ] {
        assert_clean(&text, &forbidden);
        assert!(text.contains("[redacted]"), "{text}");
    }
}

#[test]
fn macrofy_types_debug_is_redacted() {
    let key = macrofy::SigningKey::new(SECRET).unwrap();
    let payload = key.payload("app-id-123", "user-1");
    let sig = key.sign_user_id("user-1");
    let forbidden = [SECRET, payload.signature.as_str()];
    for text in [
        format!("{key:?}"),
        format!("{payload:?}"),
        format!("{payload:#?}"),
        format!("{sig:?}"),
    ] {
        assert_clean(&text, &forbidden);
        assert!(text.contains("[redacted]"), "{text}");
    }
}

#[test]
fn error_messages_never_quote_inputs() {
    let bad_salts = ["nothexatall", "abc", "c0ffee00deadbeeZ"];
    for salt in bad_salts {
        let err = AppHash::derive(SECRET, salt, cheap()).unwrap_err();
        assert_clean(&err.to_string(), &[SECRET, salt]);
        assert_clean(&format!("{err:?}"), &[SECRET, salt]);
    }
    let almost = "A".repeat(64);
    let err = AppHash::from_hex(&almost).unwrap_err();
    assert!(matches!(err, KeyError::InvalidAppHash(_)));
    assert_clean(&err.to_string(), &[&almost]);

    let key = SigningKey::derive(SECRET, SALT, cheap()).unwrap();
    let msg = SignatureMessage::new("d", "a", 5u64).unwrap();
    let expected = key.sign(&msg);
    let err = key.verify(&msg, &"0".repeat(64)).unwrap_err();
    assert_clean(&err.to_string(), &[expected.as_str(), SECRET]);
    assert_clean(&format!("{err:?}"), &[expected.as_str()]);
}

#[test]
fn signature_serializes_as_hex_for_responses() {
    let key = macrofy::SigningKey::new(SECRET).unwrap();
    let sig = key.sign_user_id("u");
    let json = serde_json::to_string(&sig).unwrap();
    assert_eq!(json, format!("\"{}\"", sig.as_str()));
}

#[test]
fn key_types_zeroize_on_drop() {
    fn assert_zeroize_on_drop<T: zeroize::ZeroizeOnDrop>() {}
    assert_zeroize_on_drop::<AppHash>();
    assert_zeroize_on_drop::<SigningKey>();
    assert_zeroize_on_drop::<macrofy::SigningKey>();
}
