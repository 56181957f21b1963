//! Fuzz target `callback_verifier`: see `props::callback_verifier` for the properties checked.
#![no_main]

#[path = "../../tests/fuzz_props/mod.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    props::callback_verifier(data);
});
