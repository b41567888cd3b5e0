//! The free-text scrubber on the Presidio evaluator's synthetic set: the recall the privacy
//! policy relies on when an agency chooses to publish scrubbed narratives.

use std::path::{Path, PathBuf};

use porchlight_bench::presidio;
use porchlight_core::scrub::{Kind, Scrubber};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap()
}

#[test]
fn recall_on_the_presidio_set() {
    let set = presidio::load(&root().join("data/pii/presidio/synth_dataset_v2.json")).unwrap();
    assert_eq!(set.len(), 1500);
    let words = read("data/words/gcide-lower.txt");
    // The Census list alone: Faker, whose lists are also shipped, generated this set.
    let census = read("data/names/census-1990.txt");
    let scrubber = Scrubber::new(census.lines()).with_dictionary(words.lines());
    let rates = presidio::evaluate(&set, &scrubber);
    for (kind, floor) in [(Kind::Phone, 0.98), (Kind::Email, 0.98), (Kind::Name, 0.90)] {
        let r = rates[&kind];
        assert!(r.recall() >= floor, "{kind}: recall {:.3} ({}/{})", r.recall(), r.found, r.gold);
    }
}
