//! The transparency log's tree (issue 9): appending a million entries and proving inclusion
//! and consistency at that size, beside the floor of hashing the same entries alone, in the
//! same run.
//!
//! `cargo run --release -p porchlight-bench --bin ledger-bench -- [--entries 1000000]`

use std::time::Instant;

use clap::Parser;
use porchlight_bench::workload::SplitMix;
use porchlight_ledger::{Tree, leaf_hash, verify_consistency, verify_inclusion};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 1_000_000)]
    entries: u64,
    /// Proofs timed at the full size.
    #[arg(long, default_value_t = 10_000)]
    proofs: u64,
}

fn main() {
    let args = Args::parse();
    // Entries shaped like the log's: small canonical JSON documents.
    let entries: Vec<Vec<u8>> = (0..args.entries)
        .map(|i| {
            format!(
                r#"{{"kind":"clip_access","request":"{i:08}","clip":"{:016x}","agency":"north-pd"}}"#,
                i * 7919
            )
            .into_bytes()
        })
        .collect();

    let started = Instant::now();
    let mut floor = 0u8;
    for e in &entries {
        floor ^= leaf_hash(e)[0];
    }
    let hashing = started.elapsed();
    std::hint::black_box(floor);

    let started = Instant::now();
    let mut tree = Tree::new();
    for e in &entries {
        tree.push(leaf_hash(e));
    }
    let appending = started.elapsed();
    let n = tree.len();
    let root = tree.root(n).expect("a root");

    let mut rng = SplitMix(42);
    let started = Instant::now();
    let mut checked = 0;
    for _ in 0..args.proofs {
        let m = rng.next_u64() % n;
        let proof = tree.inclusion_proof(m, n).expect("a proof");
        checked += usize::from(verify_inclusion(&leaf_hash(&entries[m as usize]), m, n, &proof, &root));
    }
    let inclusion = started.elapsed() / args.proofs as u32;
    assert_eq!(checked as u64, args.proofs, "every proof verifies");

    let started = Instant::now();
    for _ in 0..args.proofs {
        let old = 1 + rng.next_u64() % (n - 1);
        let proof = tree.consistency_proof(old, n).expect("a proof");
        let old_root = tree.root(old).expect("a root");
        assert!(verify_consistency(old, n, &proof, &old_root, &root));
    }
    let consistency = started.elapsed() / args.proofs as u32;

    let rate = |d: std::time::Duration| n as f64 / d.as_secs_f64();
    println!("{n} entries of ~90 bytes");
    println!("floor (leaf hashes alone):    {:.0} entries/s", rate(hashing));
    println!(
        "append to the tree:           {:.0} entries/s ({:.0}% of the floor)",
        rate(appending),
        100.0 * rate(appending) / rate(hashing)
    );
    println!("inclusion proof + check at {n}: {:.1} µs each (target < 1 ms)", inclusion.as_secs_f64() * 1e6);
    println!("consistency proof + old root + check at {n}: {:.1} µs each", consistency.as_secs_f64() * 1e6);
}
