//! Fuzz target `bearer_jwt`: see `props::bearer_jwt` for the properties checked.
#![no_main]

#[path = "../../tests/fuzz_props/mod.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    props::bearer_jwt(data);
});
