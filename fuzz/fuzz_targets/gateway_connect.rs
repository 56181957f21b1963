//! Fuzz target `gateway_connect`: see `props::gateway_connect` for the properties checked.
#![no_main]

#[path = "../../tests/fuzz_props/mod.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    props::gateway_connect(data);
});
