//! The properties the fuzz targets check, in ONE place: included by every
//! cargo-fuzz target (`fuzz/fuzz_targets/*.rs`, with
//! `#[path = "../../tests/fuzz_props/mod.rs"]`) and by the stable corpus
//! replay (`tests/fuzz_corpus.rs`), so what the fuzzer checks and what CI
//! replays cannot drift apart.
//!
//! Each `pub fn <target>(data: &[u8]) -> bool` takes the raw fuzz input,
//! drives the crate through its public entry points, panics when a property
//! fails, and returns whether the input was accepted (so the replay can
//! check that its corpus reaches both sides).
//! Inputs are plain bytes (no `arbitrary` decoding) so that seed files stay
//! readable: see each function for how its bytes are read.
#![allow(dead_code, unreachable_pub)] // each fuzz target uses one function

mod callback;
mod fixtures;
mod gateway;
mod head;
mod json;
mod session;

pub use callback::{callback_verifier, forwarded_headers};
pub use gateway::{bearer_jwt, gateway_connect};
pub use json::json_fields;
pub use session::session_file;

/// A property: panics when `data` breaks it; returns whether the input was
/// accepted.
pub type Property = fn(&[u8]) -> bool;

/// The fuzz targets, by name: the directory names under `fuzz/corpus/` and
/// `fuzz/regressions/`.
pub const TARGETS: &[(&str, Property)] = &[
    ("callback_verifier", callback_verifier),
    ("forwarded_headers", forwarded_headers),
    ("json_fields", json_fields),
    ("gateway_connect", gateway_connect),
    ("bearer_jwt", bearer_jwt),
    ("session_file", session_file),
];
