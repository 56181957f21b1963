//! Replays the checked-in fuzz corpus on stable: every file of every
//! `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` goes through the
//! same entry points and properties as the cargo-fuzz target of that name
//! (`tests/fuzz_props/mod.rs`, shared with `fuzz/fuzz_targets/`), so CI
//! keeps what fuzzing found without a nightly toolchain.
#![cfg(all(feature = "gateway", feature = "client"))]

mod fuzz_props;

use std::path::{Path, PathBuf};

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("read a corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Feeds every corpus and regression file of `target` through its property,
/// naming the file that fails.
fn replay(target: &str) {
    let (_, property) = fuzz_props::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("a known target");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let corpus = files(&root.join("corpus").join(target));
    assert!(!corpus.is_empty(), "fuzz/corpus/{target} is empty");
    let regressions = files(&root.join("regressions").join(target));
    for file in corpus.iter().chain(&regressions) {
        let data = std::fs::read(file).expect("read a corpus file");
        let outcome = std::panic::catch_unwind(|| property(&data));
        assert!(
            outcome.is_ok(),
            "{target}: property failed on {}",
            file.display()
        );
    }
}

#[test]
fn every_target_has_a_replay_test() {
    let names: Vec<&str> = fuzz_props::TARGETS.iter().map(|(n, _)| *n).collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for kind in ["corpus", "regressions"] {
        for dir in std::fs::read_dir(root.join(kind)).expect("the directory exists") {
            let name = dir.unwrap().file_name().into_string().unwrap();
            assert!(
                names.contains(&name.as_str()),
                "{kind}/{name} has no property"
            );
        }
    }
}

#[test]
fn callback_verifier_corpus() {
    replay("callback_verifier");
}

#[test]
fn forwarded_headers_corpus() {
    replay("forwarded_headers");
}

#[test]
fn json_fields_corpus() {
    replay("json_fields");
}

#[test]
fn gateway_connect_corpus() {
    replay("gateway_connect");
}

#[test]
fn bearer_jwt_corpus() {
    replay("bearer_jwt");
}

#[test]
fn session_file_corpus() {
    replay("session_file");
}

/// Reads a checked-in regression input.
fn regression(target: &str, name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target)
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Found by `callback_verifier` (minimized): a callback whose body holds
/// invalid UTF-8 in a key the reader skips was accepted and signed, though
/// the body is not JSON (serde_json refuses it). Fixed in `src/json_body.rs`:
/// the field reader checks the whole body is UTF-8 first.
#[test]
fn regression_invalid_utf8_in_skipped_value() {
    let head_and_body = regression("callback_verifier", "invalid_utf8_in_skipped_value");
    assert!(
        !fuzz_props::callback_verifier(&head_and_body),
        "the callback must be refused"
    );
    let body = regression("json_fields", "invalid_utf8_in_skipped_value");
    assert!(
        !fuzz_props::json_fields(&body),
        "no JSON reader may accept it"
    );
}

/// Found by `json_fields`: a lone surrogate escape (`"\ud83de00"`) in a key
/// the reader skips was accepted (and the auth-headers route signed the
/// body), though serde_json refuses the body. Fixed in `src/json_body.rs`:
/// skipped values are read as strictly as kept ones.
#[test]
fn regression_lone_surrogate_in_skipped_value() {
    let body = regression("json_fields", "lone_surrogate_in_skipped_value");
    assert!(
        !fuzz_props::json_fields(&body),
        "no JSON reader may accept it"
    );
}

/// Found by `forwarded_headers` (minimized), a harness bug, not the crate's:
/// `Forwarded: ="` followed by `,proto=https` from a trusted peer. The
/// crate reads `= "` as a plain value (a quoted string starts right after
/// `=`), so the last element's `proto=https` counts behind the proxy; the
/// harness had read an unterminated quote. The strict policy refuses it
/// (two elements).
#[test]
fn regression_space_before_quote_is_a_plain_value() {
    let head = regression("forwarded_headers", "space_before_quote_is_a_plain_value");
    assert!(
        !fuzz_props::forwarded_headers(&head),
        "the strict policy must refuse two elements"
    );
}
