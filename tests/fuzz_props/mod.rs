//! The properties the fuzz targets check, in ONE place: included by every
//! cargo-fuzz target (`fuzz/fuzz_targets/*.rs`, with
//! `#[path = "../../tests/fuzz_props/mod.rs"]`) and by the stable corpus
//! replay (`tests/fuzz_corpus.rs`), so what the fuzzer checks and what CI
//! replays cannot drift apart.
//!
//! Each `pub fn <target>(data: &[u8])` takes the raw fuzz input, drives the
//! crate through its public entry points, and panics when a property fails.
//! Inputs are plain bytes (no `arbitrary` decoding) so that seed files stay
//! readable: see each function for how its bytes are read.
#![allow(dead_code, unreachable_pub)] // each fuzz target uses one function

mod fixtures;
mod gateway;
mod session;

pub use gateway::{bearer_jwt, gateway_connect};
pub use session::session_file;

/// A property: panics when `data` breaks it.
pub type Property = fn(&[u8]);

/// The fuzz targets, by name: the directory names under `fuzz/corpus/` and
/// `fuzz/regressions/`.
pub const TARGETS: &[(&str, Property)] = &[
    ("gateway_connect", gateway_connect),
    ("bearer_jwt", bearer_jwt),
    ("session_file", session_file),
];
