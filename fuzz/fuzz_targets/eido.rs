//! The NENA EIDO reader on arbitrary JSON: never a panic, an incident or an error.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    if let Err(e) = porchlight_feeds::eido::incoming_from_eido(&value) {
        assert!(!e.field.is_empty() && !e.reason.is_empty(), "{e:?}");
    }
});
