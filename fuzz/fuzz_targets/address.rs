//! The address parser on arbitrary input: it never panics, and whatever it publishes never
//! holds the string's leading house number unless that number is a multiple of the block.

#![no_main]

use libfuzzer_sys::fuzz_target;
use porchlight_core::address::{self, Generalization};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = address::house_and_street(text);
    let place = address::parse(text);
    for rule in [
        Generalization::HundredBlock { block_size: 100 },
        Generalization::HundredBlock { block_size: 1000 },
        Generalization::IntersectionOnly,
        Generalization::StreetOnly,
        Generalization::Cell,
    ] {
        let Some(public) = address::generalize(&place, rule) else { continue };
        if let address::Place::House { number, .. } = &place
            && number % 100 != 0
        {
            let n = number.to_string();
            let leaked = public.text().split_whitespace().any(|w| {
                w.strip_prefix(n.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
            });
            assert!(!leaked, "{text:?} -> {:?}", public.text());
        }
    }
});
