//! Secret rotation without a restart (issue 9, items 2 and 8): configuration
//! from secret files, and the atomic key swap under concurrent load.
#![cfg(feature = "axum")]

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::{APP_HASH_HEX, APP_ID, DEADLINE, NOW, callback_body, post, reference_signature};
use tower_signing::ManualClock;
use tower_signing::macrofy::routes::{MacrofyConfig, MacrofySigner, MacrofyState};
use tower_signing::utilsio::{self, SignatureMessage, SigningKey, UtilsioConfig, UtilsioState};

/// The first derive vector: secret, salt (hex) and the app hash they give.
struct DeriveVector {
    secret: String,
    salt: String,
    app_hash: String,
}

fn vectors() -> serde_json::Value {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/handshake-vectors.json"),
    )
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn derive_vector() -> DeriveVector {
    let v = &vectors()["utilsio"]["derive"][0];
    let s = |k: &str| v[k].as_str().unwrap().to_owned();
    let vector = DeriveVector {
        secret: s("appSecret"),
        salt: s("salt"),
        app_hash: s("appHashHex"),
    };
    assert_eq!(vector.app_hash, APP_HASH_HEX);
    vector
}

/// A file holding `content`, deleted on drop.
fn file(content: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(content.as_bytes()).unwrap();
    file
}

fn path(file: &tempfile::NamedTempFile) -> String {
    file.path().to_str().unwrap().to_owned()
}

/// An environment from pairs, as `from_lookup` reads it.
fn env(pairs: &[(&str, String)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    move |k| map.get(k).cloned()
}

/// What `state` signs for a fixed message, and what the app hash `hash` signs.
fn signs_like(state: &UtilsioState, hash: &str) -> bool {
    let signer = state.signing_service();
    let got = signer.sign_at("device-1", Some("0.5"), NOW).unwrap();
    got.signature.as_str() == reference_signature(hash, &format!("device-1-{APP_ID}-{NOW}-0.5"))
}

async fn state_from(pairs: &[(&str, String)]) -> UtilsioState {
    UtilsioConfig::from_lookup(env(pairs))
        .unwrap()
        .build()
        .await
        .unwrap()
}

fn app_id() -> (&'static str, String) {
    ("UTILSIO_APP_ID", APP_ID.to_owned())
}

#[tokio::test]
async fn utilsio_secret_and_salt_from_files_with_echo_newlines() {
    let v = derive_vector();
    // `echo value > file` writes one trailing newline; it is not part of the value.
    let secret = file(&format!("{}\n", v.secret));
    let salt = file(&format!("{}\r\n", v.salt));
    let state = state_from(&[
        ("UTILSIO_APP_SECRET_FILE", path(&secret)),
        ("UTILSIO_APP_SALT_FILE", path(&salt)),
        app_id(),
    ])
    .await;
    assert!(signs_like(&state, &v.app_hash));

    // One variable from a file, the other from the environment.
    let state = state_from(&[
        ("UTILSIO_APP_SECRET", v.secret.clone()),
        ("UTILSIO_APP_SALT_FILE", path(&salt)),
        app_id(),
    ])
    .await;
    assert!(signs_like(&state, &v.app_hash));
}

#[tokio::test]
async fn secret_files_are_verbatim_but_for_one_line_ending() {
    let v = derive_vector();
    let salt = ("UTILSIO_APP_SALT", v.salt.clone());
    // Only one newline goes; other whitespace is part of the secret.
    for content in [
        format!("{}\n\n", v.secret),
        format!("{} \n", v.secret),
        format!(" {}", v.secret),
        format!("{}\t", v.secret),
    ] {
        let secret = file(&content);
        let state = state_from(&[
            ("UTILSIO_APP_SECRET_FILE", path(&secret)),
            salt.clone(),
            app_id(),
        ])
        .await;
        assert!(!signs_like(&state, &v.app_hash), "{content:?}");
    }
}

#[tokio::test]
async fn app_hash_replaces_secret_and_salt_in_either_case() {
    let v = derive_vector();
    for hash in [v.app_hash.clone(), v.app_hash.to_uppercase()] {
        let state = state_from(&[("UTILSIO_APP_HASH", hash.clone()), app_id()]).await;
        assert!(signs_like(&state, &v.app_hash));
        let hash_file = file(&format!("{hash}\n"));
        let state = state_from(&[("UTILSIO_APP_HASH_FILE", path(&hash_file)), app_id()]).await;
        assert!(signs_like(&state, &v.app_hash));
    }
    // No scrypt: a config from the hash builds at once even in a debug build,
    // and the hash never shows in Debug.
    let config =
        UtilsioConfig::from_lookup(env(&[("UTILSIO_APP_HASH", v.app_hash.clone()), app_id()]))
            .unwrap();
    assert!(!format!("{config:?}").contains(&v.app_hash));

    // The hash with the secret or the salt is ambiguous: refused.
    for other in ["UTILSIO_APP_SECRET", "UTILSIO_APP_SALT"] {
        let err = UtilsioConfig::from_lookup(env(&[
            ("UTILSIO_APP_HASH", v.app_hash.clone()),
            (other, v.salt.clone()),
            app_id(),
        ]))
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "environment variable UTILSIO_APP_HASH is invalid: it replaces UTILSIO_APP_SECRET \
             and UTILSIO_APP_SALT: set it or them, not both"
        );
    }
    for bad in [v.app_hash[1..].to_owned(), format!("g{}", &v.app_hash[1..])] {
        let err = UtilsioConfig::from_lookup(env(&[("UTILSIO_APP_HASH", bad), app_id()]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "environment variable UTILSIO_APP_HASH is invalid: expected 64 hex characters"
        );
    }
    let bad_file = file(&format!("{} \n", v.app_hash));
    let err =
        UtilsioConfig::from_lookup(env(&[("UTILSIO_APP_HASH_FILE", path(&bad_file)), app_id()]))
            .unwrap_err()
            .to_string();
    assert_eq!(
        err,
        "environment variable UTILSIO_APP_HASH_FILE is invalid: expected 64 hex characters"
    );
}

#[test]
fn a_variable_and_its_file_together_are_refused_naming_both() {
    let v = derive_vector();
    let secret_file = file("from-the-file");
    let base = [
        ("UTILSIO_APP_SECRET", v.secret.clone()),
        ("UTILSIO_APP_SALT", v.salt.clone()),
        app_id(),
    ];
    for var in ["UTILSIO_APP_SECRET", "UTILSIO_APP_SALT", "UTILSIO_APP_HASH"] {
        let file_var = format!("{var}_FILE");
        let mut pairs = base.to_vec();
        if var == "UTILSIO_APP_HASH" {
            pairs = vec![(var, v.app_hash.clone()), app_id()];
        }
        pairs.push((file_var.as_str(), path(&secret_file)));
        let err = UtilsioConfig::from_lookup(env(&pairs))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!("{var} and {file_var} are both set: set only one of them")
        );
    }
    let err = MacrofyConfig::from_lookup(env(&[
        ("MACROFY_APP_ID", "abcdefghij".into()),
        ("MACROFY_APP_SECRET", "s3cret".into()),
        ("MACROFY_APP_SECRET_FILE", path(&secret_file)),
    ]))
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "MACROFY_APP_SECRET and MACROFY_APP_SECRET_FILE are both set: set only one of them"
    );
}

#[test]
fn unreadable_files_are_named_with_their_path_never_their_content() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-secret");
    let missing = missing.to_str().unwrap();
    let not_text = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(not_text.path(), b"top-secret-value\xff\n").unwrap();
    let empty = file("\n");
    for (file_var, target, reason) in [
        (
            "UTILSIO_APP_SECRET_FILE",
            missing.to_owned(),
            "No such file",
        ),
        (
            "UTILSIO_APP_SALT_FILE",
            path(&not_text),
            "it is not UTF-8 text",
        ),
        ("UTILSIO_APP_HASH_FILE", path(&empty), "it is empty"),
        (
            "UTILSIO_APP_SECRET_FILE",
            dir.path().to_str().unwrap().to_owned(),
            "directory",
        ),
    ] {
        let mut pairs = vec![(file_var, target.clone()), app_id()];
        if file_var != "UTILSIO_APP_HASH_FILE" {
            pairs.push(("UTILSIO_APP_SALT", "00ff".into()));
            pairs.push(("UTILSIO_APP_SECRET", "s".into()));
            pairs.retain(|(k, _)| format!("{k}_FILE") != file_var);
        }
        let err = UtilsioConfig::from_lookup(env(&pairs))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!(
                "could not read the file {file_var} names ({target}): "
            )),
            "{err}"
        );
        assert!(err.contains(reason), "{err}");
        assert!(!err.contains("top-secret-value"), "{err}");
    }
    let err = MacrofyConfig::from_lookup(env(&[
        ("MACROFY_APP_ID", "abcdefghij".into()),
        ("MACROFY_APP_SECRET_FILE", path(&not_text)),
    ]))
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("could not read the file MACROFY_APP_SECRET_FILE names (")
            && !err.contains("top-secret-value"),
        "{err}"
    );
}

#[test]
fn macrofy_secret_from_a_file() {
    let v = &vectors()["macrofy"]["sign"][0];
    let secret = v["appSecret"].as_str().unwrap();
    assert!(secret.contains(' '), "the vector keeps inner whitespace");
    let user = v["userId"].as_str().unwrap();
    let signature = |content: &str| {
        let secret_file = file(content);
        let config = MacrofyConfig::from_lookup(env(&[
            ("MACROFY_APP_ID", "abcdefghij".into()),
            ("MACROFY_APP_SECRET_FILE", path(&secret_file)),
        ]))
        .unwrap();
        assert!(!format!("{config:?}").contains(secret));
        let state = MacrofyState::from(config);
        signer(&state).sign(user).signature
    };
    let expected = v["signature"].as_str().unwrap();
    assert_eq!(signature(&format!("{secret}\n")), expected);
    assert_eq!(signature(&format!("{secret}\r\n")), expected);
    assert_eq!(signature(secret), expected);
    assert_ne!(signature(&format!("{secret} \n")), expected);

    // Neither the secret nor its file: the demo only when nothing is set.
    let secret_file = file(secret);
    let config =
        MacrofyConfig::from_lookup_or_demo(env(&[("MACROFY_APP_SECRET_FILE", path(&secret_file))]))
            .unwrap_err();
    assert_eq!(config.to_string(), "MACROFY_APP_ID is not set");
}

/// A `MacrofySigner` on `state` (as a handler would extract it).
fn signer(state: &MacrofyState) -> MacrofySigner {
    use axum::extract::FromRequestParts;
    let (mut parts, ()) = http::Request::new(()).into_parts();
    let fut = MacrofySigner::from_request_parts(&mut parts, state);
    match futures_util::FutureExt::now_or_never(fut) {
        Some(Ok(signer)) => signer,
        _ => unreachable!("the extractor is infallible and ready"),
    }
}

/// The rotation a SIGHUP handler performs, in process: rewrite the files,
/// re-read the configuration, reload. A failed reload keeps the old key.
#[tokio::test]
async fn reload_from_rewritten_files_and_failed_reloads_keep_the_key() {
    let v = derive_vector();
    let new_hash = "f4726150e3d12c41e22c7f04ac8ec28a3a9178d8c887996cd56406a9ab4f372d";
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    let salt = dir.path().join("salt");
    let hash = dir.path().join("hash");
    std::fs::write(&secret, format!("{}\n", v.secret)).unwrap();
    std::fs::write(&salt, format!("{}\n", v.salt)).unwrap();
    let files = env(&[
        ("UTILSIO_APP_SECRET_FILE", secret.to_str().unwrap().into()),
        ("UTILSIO_APP_SALT_FILE", salt.to_str().unwrap().into()),
        app_id(),
    ]);
    let state = UtilsioConfig::from_lookup(&files)
        .unwrap()
        .build()
        .await
        .unwrap();
    let router_state = state.clone().with_require_https(false);
    assert!(signs_like(&router_state, APP_HASH_HEX));

    // Rotate to a precomputed app hash through its file.
    std::fs::write(&hash, format!("{new_hash}\n")).unwrap();
    let hash_env = env(&[
        ("UTILSIO_APP_HASH_FILE", hash.to_str().unwrap().into()),
        app_id(),
    ]);
    state
        .reload(UtilsioConfig::from_lookup(&hash_env).unwrap())
        .await
        .unwrap();
    // The copy made with `with_*` shares the key.
    assert!(signs_like(&router_state, new_hash));

    // A file gone: the configuration cannot be read, the key stays.
    std::fs::remove_file(&hash).unwrap();
    assert!(UtilsioConfig::from_lookup(&hash_env).is_err());
    assert!(signs_like(&state, new_hash));

    // A salt that is not hex: the derivation fails, the key stays.
    std::fs::write(&salt, "not-hex\n").unwrap();
    let err = state
        .reload(UtilsioConfig::from_lookup(&files).unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("salt") && !err.contains("not-hex"), "{err}");
    assert!(signs_like(&state, new_hash));

    // Another app id: refused, the key stays.
    std::fs::write(&salt, format!("{}\n", v.salt)).unwrap();
    let other_app = env(&[
        ("UTILSIO_APP_SECRET_FILE", secret.to_str().unwrap().into()),
        ("UTILSIO_APP_SALT_FILE", salt.to_str().unwrap().into()),
        ("UTILSIO_APP_ID", "another-app".into()),
    ]);
    let err = state
        .reload(UtilsioConfig::from_lookup(other_app).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, utilsio::ConfigError::AppIdChanged), "{err}");
    assert!(signs_like(&state, new_hash));

    // Back to the secret files.
    state
        .reload(UtilsioConfig::from_lookup(&files).unwrap())
        .await
        .unwrap();
    assert!(signs_like(&router_state, APP_HASH_HEX));
}

/// Many concurrent callbacks against a loopback server while the key is
/// swapped: none fails, each signature is under the old or the new key, and
/// every request sent after `replace_key` returned is signed with the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_swap_under_concurrent_callbacks() {
    const TASKS: usize = 16;
    const PER_TASK: usize = 40;
    let new_hash = "f4726150e3d12c41e22c7f04ac8ec28a3a9178d8c887996cd56406a9ab4f372d";
    let clock = ManualClock::new(NOW);
    let state = common::state(&clock).with_require_https(false);
    let server = common::serve(utilsio::router(state.clone())).await;
    let addr = server.addr;

    let swapped = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let (swapped, done) = (swapped.clone(), done.clone());
        tasks.spawn(async move {
            let mut seen = Vec::new();
            for i in 0..PER_TASK {
                let device = format!("device-{task}-{i}");
                let after_swap = swapped.load(Ordering::SeqCst);
                let body = callback_body(&device, APP_ID, "0.033333", &NOW.to_string());
                let res = post(
                    addr,
                    utilsio::routes::CALLBACK_PATH,
                    &[
                        "Content-Type: application/json",
                        "X-utilsio-Origin: utilsio.dev",
                    ],
                    &body,
                )
                .await;
                assert_eq!(res.status, 200, "{}", res.body);
                let json = res.json();
                assert_eq!(json["timestamp"], NOW.to_string());
                let signature = json["signature"].as_str().unwrap().to_owned();
                seen.push((device, after_swap, signature));
                done.fetch_add(1, Ordering::SeqCst);
            }
            seen
        });
    }
    // Swap while about half the requests are still to come.
    let swap = tokio::time::timeout(DEADLINE, async {
        while done.load(Ordering::SeqCst) < TASKS * PER_TASK / 2 {
            tokio::task::yield_now().await;
        }
        state.replace_key(SigningKey::from_app_hash_hex(new_hash).unwrap());
        swapped.store(true, Ordering::SeqCst);
    });
    swap.await.expect("half the requests within the deadline");

    let (mut old, mut new) = (0, 0);
    let all = tokio::time::timeout(DEADLINE * 3, tasks.join_all())
        .await
        .expect("all requests within the deadline");
    for (device, after_swap, signature) in all.into_iter().flatten() {
        let message = format!("{device}-{APP_ID}-{NOW}-0.033333");
        let under_old = signature == reference_signature(APP_HASH_HEX, &message);
        let under_new = signature == reference_signature(new_hash, &message);
        assert!(under_old || under_new, "{device}: signed by neither key");
        assert!(
            under_new || !after_swap,
            "{device} was sent after the swap but signed with the old key"
        );
        if under_new {
            new += 1;
        } else {
            old += 1;
        }
    }
    assert_eq!(old + new, TASKS * PER_TASK);
    assert!(
        old >= TASKS * PER_TASK / 2 && new > 0,
        "old {old}, new {new}"
    );
    // And what the state signs now is the new key's.
    let msg = SignatureMessage::new("d", APP_ID, NOW).unwrap();
    assert_eq!(
        state.signing_service().sign_message(&msg).as_str(),
        reference_signature(new_hash, &format!("d-{APP_ID}-{NOW}"))
    );
}

/// The Macrofy signature route and the session manager's gateway calls
/// both move to the new key.
#[cfg(feature = "client")]
#[tokio::test]
async fn macrofy_replace_key_reaches_the_signature_route_and_the_gateway_calls() {
    use axum::routing::post as route_post;
    use std::sync::Mutex;
    use tower_signing::macrofy::{CONNECT_PATH, SigningKey as MacrofyKey};

    const APP: &str = "abcdefghij";
    // A gateway that records the signatures it is sent and refuses them.
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let record = seen.clone();
    let gateway = axum::Router::new().route(
        CONNECT_PATH,
        route_post(move |body: axum::Json<serde_json::Value>| {
            let record = record.clone();
            async move {
                let signature = body["signature"].as_str().unwrap_or_default().to_owned();
                record.lock().unwrap().push(signature);
                (
                    http::StatusCode::UNAUTHORIZED,
                    axum::Json(serde_json::json!({"error": "Invalid signature"})),
                )
            }
        }),
    );
    let gateway = common::serve(gateway).await;
    let config = MacrofyConfig::new(APP, "old-secret")
        .unwrap()
        .with_base_url(&format!("http://{}", gateway.addr))
        .unwrap();
    let state = MacrofyState::from(config);
    let expect = |secret: &str, user: &str| {
        MacrofyKey::new(secret)
            .unwrap()
            .payload(APP, user)
            .signature
    };

    let clone = state.clone();
    assert_eq!(
        signer(&clone).sign("alice").signature,
        expect("old-secret", "alice")
    );
    let first = tokio::time::timeout(DEADLINE, state.sessions().session("alice")).await;
    assert!(first.unwrap().is_err());

    state
        .reload(MacrofyConfig::new(APP, "new-secret").unwrap())
        .unwrap();
    assert_eq!(
        signer(&clone).sign("alice").signature,
        expect("new-secret", "alice")
    );
    let second = tokio::time::timeout(DEADLINE, clone.sessions().session("bob")).await;
    assert!(second.unwrap().is_err());
    assert_eq!(
        *seen.lock().unwrap(),
        [expect("old-secret", "alice"), expect("new-secret", "bob")]
    );

    // Another app id is refused; the key stays.
    let err = state
        .reload(MacrofyConfig::new("otherapp_1", "x").unwrap())
        .unwrap_err();
    assert_eq!(
        err,
        tower_signing::macrofy::routes::ConfigError::AppIdChanged
    );
    assert_eq!(
        signer(&state).sign("carol").signature,
        expect("new-secret", "carol")
    );
}
