//! The address parser on the usaddress labelled sets: accuracy on the set usaddress itself is
//! measured on, and no exact house number in any published form.

use std::path::{Path, PathBuf};

use porchlight_bench::usaddress::{self, Labelled};
use porchlight_core::address::{self, Generalization};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/addresses/usaddress")
}

fn load(files: &[&str]) -> Vec<Labelled> {
    files.iter().flat_map(|f| usaddress::load(&dir().join(f)).unwrap()).collect()
}

const MEASURE: &[&str] = &[
    "measure_performance_test_data_labeled.xml",
    "measure_performance_test_data_multi_word_state_addresses.xml",
    "measure_performance_test_data_simple_address_patterns.xml",
];

const TRAINING: &[&str] = &[
    "training_labeled.xml",
    "training_us50_train_tagged.xml",
    "training_us50_messiest_manual_label.xml",
    "training_multi_word_state_addresses.xml",
];

#[test]
fn house_numbers_and_streets_on_the_measure_set() {
    let set = load(MEASURE);
    assert_eq!(set.len(), 159);
    let score = usaddress::score(&set);
    assert_eq!(score.with_number, 130);
    assert!(score.number_rate() >= 0.995, "house numbers {:.4}: {:?}", score.number_rate(), score.misses);
    assert!(score.street_rate() >= 0.99, "streets {:.4}: {:?}", score.street_rate(), score.misses);
}

#[test]
fn no_exact_house_number_is_ever_published() {
    let mut checked = 0;
    for l in load(MEASURE).into_iter().chain(load(TRAINING)) {
        let Some(number) = &l.number else { continue };
        let digits: String = number.chars().take_while(char::is_ascii_digit).collect();
        let Ok(n) = digits.parse::<u64>() else { continue };
        for (rule, size) in [
            (Generalization::HundredBlock { block_size: 100 }, 100),
            (Generalization::HundredBlock { block_size: 1000 }, 1000),
            (Generalization::StreetOnly, 1),
        ] {
            if n % size == 0 {
                continue;
            }
            if let Some(public) = address::generalize(&address::parse(&l.text), rule) {
                // The number as a word of its own, or with a unit ("3017-A", "123A"); an ordinal
                // street ("147TH") is a name, not the number.
                let leaked = public.text().split_whitespace().any(|word| {
                    let word = word.to_uppercase();
                    word.strip_prefix(digits.as_str()).is_some_and(|rest| {
                        !rest.starts_with(|c: char| c.is_ascii_digit())
                            && !["ST", "ND", "RD", "TH"].contains(&rest)
                            && (rest.is_empty() || rest.starts_with('-') || rest.len() == 1)
                    })
                });
                assert!(!leaked, "{:?} -> {:?}", l.text, public.text());
            }
            checked += 1;
        }
    }
    assert!(checked > 2500, "{checked}");
}

/// The labelled set of real dispatch location strings from every city (data/locations).
#[test]
fn dispatch_locations_from_every_city() {
    use porchlight_bench::locations;
    let set = locations::load(&dir().join("../../locations/labelled.tsv")).unwrap();
    assert!(set.len() >= 500, "{}", set.len());
    let cities: std::collections::BTreeSet<&str> = set.iter().map(|l| l.city.as_str()).collect();
    assert_eq!(cities.len(), 6, "{cities:?}");
    // No published form holds a house number that is not a multiple of the block.
    for l in set.iter().filter(|l| l.kind == "address" && l.number.is_some_and(|n| n % 100 != 0)) {
        let n = l.number.unwrap().to_string();
        if let Some(public) = porchlight_core::address::generalize(
            &porchlight_core::address::parse(&l.text),
            porchlight_core::address::Generalization::HundredBlock { block_size: 100 },
        ) {
            assert!(!public.text().split_whitespace().any(|w| w == n), "{:?} -> {:?}", l.text, public.text());
        }
    }
    let wrong: Vec<_> = set.iter().filter(|l| !locations::exactly_right(l)).map(|l| &l.text).collect();
    let right = set.len() - wrong.len();
    assert!(right as f64 >= 0.99 * set.len() as f64, "{right} of {} right; wrong: {wrong:?}", set.len());
}
