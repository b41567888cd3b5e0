//! The JSON record parser (open-data portals' rows) on arbitrary bytes, through a real
//! agency's mapping (Dallas's): never a panic, whatever the objects hold.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use porchlight_feeds::Mapping;

static MAPPING: LazyLock<Mapping> =
    LazyLock::new(|| Mapping::parse(include_str!("../../examples/dallas.toml")).expect("the example mapping"));

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let Ok(mut records) = MAPPING.read_json() else { return };
    let rows = match value {
        serde_json::Value::Array(rows) => rows,
        other => vec![other],
    };
    for (i, row) in rows.iter().enumerate() {
        if let Err(problem) = records.convert(i as u64 + 1, row) {
            assert_eq!(problem.line, i as u64 + 1, "{problem}");
        }
    }
});
