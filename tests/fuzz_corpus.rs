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
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for dir in std::fs::read_dir(root).expect("fuzz/corpus exists") {
        let name = dir.unwrap().file_name().into_string().unwrap();
        assert!(
            names.contains(&name.as_str()),
            "corpus dir {name} has no property"
        );
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
