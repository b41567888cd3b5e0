//! Throughput of the address parser and generalization on real dispatch location strings,
//! against a baseline measured in the same run: upper-casing and splitting the same strings
//! into words, the least any parser of them must do.
//!
//! `cargo run --release -p porchlight-bench --bin parser-bench` (from the repository root).

use std::{hint::black_box, path::Path, time::Instant};

use porchlight_core::address::{self, Generalization};

fn locations() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data");
    let mut out = Vec::new();
    for (file, column) in [
        ("milwaukee-cfs/data.csv", "location"),
        ("seattle-spd-911/Seattle_Police_Department_911_Incident_Response.csv", "Hundred Block Location"),
    ] {
        let mut reader = csv::Reader::from_path(root.join(file)).expect("example data");
        let idx = reader.headers().unwrap().iter().position(|h| h == column).unwrap();
        out.extend(reader.records().map(|r| r.unwrap()[idx].to_owned()));
    }
    out
}

/// Strings per second for `f` over `strings`, best of a few rounds of at least `min` strings.
fn rate(strings: &[String], min: usize, mut f: impl FnMut(&str) -> usize) -> f64 {
    let mut best = 0.0_f64;
    for _ in 0..5 {
        let start = Instant::now();
        let mut done = 0;
        let mut sink = 0;
        while done < min {
            for s in strings {
                sink += f(s);
            }
            done += strings.len();
        }
        black_box(sink);
        best = best.max(done as f64 / start.elapsed().as_secs_f64());
    }
    best
}

fn main() {
    let strings = locations();
    let min = 1_000_000;
    let baseline = rate(&strings, min, |s| s.to_uppercase().split_whitespace().count());
    let rule = Generalization::HundredBlock { block_size: 100 };
    let parser =
        rate(&strings, min, |s| address::generalize(&address::parse(s), rule).map_or(0, |l| l.text().len()));
    println!(
        "{} real location strings (Milwaukee, Seattle), one thread, best of 5 rounds of >= {min}",
        strings.len()
    );
    println!("  baseline: upper-case and split   {:>12.0} strings/s", baseline);
    println!("  parse + generalize               {:>12.0} strings/s", parser);
    println!("  ratio parser / baseline          {:>12.3}", parser / baseline);
    println!("  target 1,000,000 strings/s       {}", if parser >= 1_000_000.0 { "met" } else { "NOT met" });
}
