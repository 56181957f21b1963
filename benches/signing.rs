//! Signing benchmarks. Run with: `cargo bench --bench signing`
//!
//! Every signing bench uses the same input so figures compare across runs and
//! tools: deviceId `3f2c9a1e-7b4d-4e8f-9a6b-2c7d5e0f1a3b`, appId `my-app`,
//! timestamp `1700000000`, additionalData `0.033333` (and, for Macrofy, that
//! deviceId as the userId).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use hmac::{KeyInit, Mac};
use tower_signing::macrofy;
use tower_signing::utilsio::{AppHash, ScryptParams, SignatureMessage, SigningKey};

const DEVICE_ID: &str = "3f2c9a1e-7b4d-4e8f-9a6b-2c7d5e0f1a3b";
const APP_ID: &str = "my-app";
const TIMESTAMP: u64 = 1_700_000_000;
const ADDITIONAL_DATA: &str = "0.033333";
const APP_SECRET: &str = "bench-app-secret";
const SALT: &str = "fc1bd2c978b9806b";

fn benches(c: &mut Criterion) {
    let hash = AppHash::derive(APP_SECRET, SALT, ScryptParams::default()).unwrap();
    let key = SigningKey::new(&hash);
    let message_text = format!("{DEVICE_ID}-{APP_ID}-{TIMESTAMP}-{ADDITIONAL_DATA}");

    let mut utilsio = c.benchmark_group("utilsio");
    utilsio.bench_function("sign_request", |b| {
        b.iter(|| {
            let msg = SignatureMessage::new(
                black_box(DEVICE_ID),
                black_box(APP_ID),
                black_box(TIMESTAMP),
            )
            .unwrap()
            .with_additional_data(black_box(ADDITIONAL_DATA));
            // The finished 64-char hex signature, ready to serialize.
            key.sign(&msg)
        })
    });
    let msg = SignatureMessage::new(DEVICE_ID, APP_ID, TIMESTAMP)
        .unwrap()
        .with_additional_data(ADDITIONAL_DATA);
    let signature = key.sign(&msg).to_hex();
    assert_eq!(msg.to_string(), message_text);
    utilsio.bench_function("verify", |b| {
        b.iter(|| key.verify(black_box(&msg), black_box(&signature)).is_ok())
    });
    utilsio
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    utilsio.bench_function("derive_app_hash", |b| {
        b.iter(|| {
            AppHash::derive(
                black_box(APP_SECRET),
                black_box(SALT),
                ScryptParams::default(),
            )
            .unwrap()
        })
    });
    utilsio.finish();

    let macrofy_key = macrofy::SigningKey::new(APP_SECRET).unwrap();
    c.benchmark_group("macrofy")
        .bench_function("sign_user_id", |b| {
            b.iter(|| macrofy_key.sign_user_id(black_box(DEVICE_ID)))
        });

    // The floor: raw HMAC-SHA256 of the same message from a pre-keyed state,
    // hex-encoded into a stack buffer (`hex::encode` to a String alone costs
    // about as much as the HMAC, which would flatter every comparison).
    let prekeyed =
        <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(hash.expose_hex().as_bytes())
            .unwrap();
    c.benchmark_group("baseline")
        .bench_function("hmac_sha256_prekeyed", |b| {
            b.iter(|| {
                let mut mac = prekeyed.clone();
                mac.update(black_box(message_text.as_bytes()));
                let mut out = [0u8; 64];
                hex::encode_to_slice(mac.finalize().into_bytes(), &mut out).unwrap();
                out
            })
        });
}

criterion_group!(signing, benches);
criterion_main!(signing);
