//! Fuzz target `session_file`: see `props::session_file` for the properties checked.
#![no_main]

#[path = "../../tests/fuzz_props/mod.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    props::session_file(data);
});
