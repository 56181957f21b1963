//! Fuzz target `json_fields`: see `props::json_fields` for the properties checked.
#![no_main]

#[path = "../../tests/fuzz_props/mod.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    props::json_fields(data);
});
