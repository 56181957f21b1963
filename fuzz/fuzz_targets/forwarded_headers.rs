//! Fuzz target `forwarded_headers`: see `props::forwarded_headers` for the properties checked.
#![no_main]

#[path = "../../tests/fuzz_props/mod.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    props::forwarded_headers(data);
});
