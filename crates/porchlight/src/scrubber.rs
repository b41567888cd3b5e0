//! The free-text scrubber with the name and word lists shipped in `data/`, built once, when a
//! policy first needs it (about a quarter of a million words).

use std::sync::{Arc, OnceLock};

use porchlight_core::{privacy::Policy, scrub::Scrubber};

const CENSUS_NAMES: &str = include_str!("../../../data/names/census-1990.txt");
const FAKER_NAMES: &str = include_str!("../../../data/names/faker-40.63.txt");
const ENGLISH_WORDS: &str = include_str!("../../../data/words/gcide-lower.txt");

fn shared() -> Arc<Scrubber> {
    static SCRUBBER: OnceLock<Arc<Scrubber>> = OnceLock::new();
    SCRUBBER
        .get_or_init(|| {
            Arc::new(
                Scrubber::new(CENSUS_NAMES.lines().chain(FAKER_NAMES.lines()))
                    .with_dictionary(ENGLISH_WORDS.lines()),
            )
        })
        .clone()
}

/// The policy, with the scrubber if it publishes scrubbed free text.
pub fn equip(policy: Policy) -> Policy {
    if policy.scrubs_free_text() { policy.with_scrubber(shared()) } else { policy }
}
