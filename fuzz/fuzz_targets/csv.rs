//! The CSV record parser on arbitrary bytes, through a real agency's mapping (Milwaukee's):
//! never a panic; every row is a call or a problem naming its line and field; the rows after
//! a bad one are still read.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use porchlight_feeds::Mapping;

static MAPPING: LazyLock<Mapping> =
    LazyLock::new(|| Mapping::parse(include_str!("../../examples/milwaukee.toml")).expect("the example mapping"));

fuzz_target!(|data: &[u8]| {
    let Ok(records) = MAPPING.read_csv(data) else { return };
    let mut last_line = 0;
    for record in records.take(10_000) {
        if let Err(problem) = record {
            assert!(problem.line >= last_line, "lines go forward: {problem}");
            last_line = problem.line;
            assert!(!problem.code.is_empty());
        }
    }
});
