//! Import throughput on the Milwaukee file, split by stage, against a baseline measured in the
//! same run (reading the same CSV into records with the csv crate and nothing else).
//!
//! `cargo run --release -p porchlight-bench --bin import-bench` (from the repository root).
//! Issue 4's target: 200,000 rows a second per core through mapping, privacy and SQLite.

use std::{path::Path, time::Instant};

use porchlight_core::privacy::{Decision, Policy};
use porchlight_feeds::Mapping;
use porchlight_store::Store;

const BATCH: usize = 1000;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let csv = std::fs::read(root.join("examples/data/milwaukee-cfs/data.csv")).expect("Milwaukee file");
    let mapping =
        Mapping::parse(&std::fs::read_to_string(root.join("examples/milwaukee.toml")).unwrap()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();

    // Baseline: the csv crate alone.
    let start = Instant::now();
    let mut reader = csv::Reader::from_reader(&csv[..]);
    let rows = reader.records().filter(Result::is_ok).count();
    let baseline = start.elapsed();

    // Stage 1: CSV through the mapping into typed records.
    let start = Instant::now();
    let records: Vec<_> = mapping.read_csv(&csv[..]).unwrap().filter_map(Result::ok).collect();
    let read = start.elapsed();

    // Stage 2: the privacy policy.
    let start = Instant::now();
    let policy = Policy::default();
    let decisions: Vec<Decision> = records.into_iter().map(|r| policy.apply(r)).collect();
    let privacy = start.elapsed();

    // Stage 3: SQLite, in transactions of BATCH decisions, in a fresh folder.
    let dir = tempfile::tempdir().unwrap();
    // Stage 3b: the same file again into the now full database: every row a repeat, so this
    // is the cost of recognising known incidents.
    let (stored, repeated) = runtime.block_on(async {
        let store = Store::open(dir.path()).await.unwrap();
        store.upsert_agency(mapping.agency(), mapping.agency_name(), "America/Chicago").await.unwrap();
        let mut passes = [std::time::Duration::ZERO; 2];
        for pass in &mut passes {
            let start = Instant::now();
            for chunk in decisions.chunks(BATCH) {
                store.apply(chunk).await.unwrap();
            }
            *pass = start.elapsed();
        }
        (passes[0], passes[1])
    });

    let per_sec = |d: std::time::Duration| rows as f64 / d.as_secs_f64();
    let total = read + privacy + stored;
    println!("Milwaukee file: {rows} rows, one thread");
    println!("  baseline: csv crate only        {:>10.0} rows/s  ({:?})", per_sec(baseline), baseline);
    println!("  mapping (CSV -> records)        {:>10.0} rows/s  ({:?})", per_sec(read), read);
    println!("  privacy policy                  {:>10.0} rows/s  ({:?})", per_sec(privacy), privacy);
    println!("  SQLite (batches of {BATCH})       {:>10.0} rows/s  ({:?})", per_sec(stored), stored);
    println!("  SQLite, same rows again         {:>10.0} rows/s  ({:?})", per_sec(repeated), repeated);
    println!("  whole import                    {:>10.0} rows/s  ({:?})", per_sec(total), total);
    println!("  ratio whole import / baseline   {:>10.3}", baseline.as_secs_f64() / total.as_secs_f64());
    println!(
        "  target 200,000 rows/s           {}",
        if per_sec(total) >= 200_000.0 { "met" } else { "NOT met" }
    );
}
