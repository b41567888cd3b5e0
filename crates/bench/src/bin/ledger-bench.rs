//! The transparency log (issue 9): appending a million entries to the tree and proving
//! inclusion and consistency at that size, beside the floor of hashing the same entries
//! alone; then the log as `serve` keeps it, in SQLite: appending the same entries in batches
//! (target 50,000 a second) beside bare SQLite inserts of the same rows in the same batches,
//! reopening (rebuilding and checking the tree), and an inclusion proof by leaf hash as
//! `get-proof-by-hash` answers it (target under 1 ms). All in the same run.
//!
//! `cargo run --release -p porchlight-bench --bin ledger-bench -- [--entries 1000000] [--batch 5000]`

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
    /// Entries per append to SQLite.
    #[arg(long, default_value_t = 5_000)]
    batch: usize,
}

fn main() {
    let args = Args::parse();
    // Entries as the log holds them: canonical JSON of clip accesses.
    let texts: Vec<String> = (0..args.entries)
        .map(|i| {
            porchlight_ledger::entry::Entry::ClipAccessed {
                at: "2026-11-28T12:00:00Z".into(),
                request: format!("0193{i:028x}"),
                clip_sha256: format!("{:064x}", u128::from(i) * 0x9e37_79b9_7f4a_7c15),
                agency: "north-pd".into(),
            }
            .to_canonical()
        })
        .collect();
    let entries: Vec<Vec<u8>> = texts.iter().map(|t| t.as_bytes().to_vec()).collect();

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
    let bytes = entries.iter().map(Vec::len).sum::<usize>() / entries.len();
    println!("{n} entries of ~{bytes} bytes");
    println!("floor (leaf hashes alone):    {:.0} entries/s", rate(hashing));
    println!(
        "append to the tree:           {:.0} entries/s ({:.0}% of the floor)",
        rate(appending),
        100.0 * rate(appending) / rate(hashing)
    );
    println!("inclusion proof + check at {n}: {:.1} µs each (target < 1 ms)", inclusion.as_secs_f64() * 1e6);
    println!("consistency proof + old root + check at {n}: {:.1} µs each", consistency.as_secs_f64() * 1e6);

    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(sqlite(&args, &texts));
}

/// The log in SQLite, beside bare inserts of the same rows.
async fn sqlite(args: &Args, texts: &[String]) {
    use porchlight_ledger::Ledger;
    use porchlight_ledger::head::Signer;
    let n = texts.len() as u64;
    let rate = |d: std::time::Duration| n as f64 / d.as_secs_f64();

    // Baseline: the same bodies into a one-column table, one statement per batch, one
    // transaction each, same pragmas as the log.
    let dir = tempfile::tempdir().expect("a temp dir");
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.path().join("bare.db"))
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .synchronous(sqlx::sqlite::SqliteSynchronous::Normal);
    let pool = sqlx::SqlitePool::connect_with(options).await.expect("sqlite");
    sqlx::query("CREATE TABLE t (idx INTEGER PRIMARY KEY, body TEXT NOT NULL)").execute(&pool).await.unwrap();
    let started = Instant::now();
    for chunk in texts.chunks(args.batch) {
        let mut tx = pool.begin().await.unwrap();
        sqlx::query("INSERT INTO t (body) SELECT value FROM json_each(?)")
            .bind(serde_json::to_string(chunk).unwrap())
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let bare = started.elapsed();
    pool.close().await;

    let ledger = Ledger::open(dir.path(), Some(Signer::from_seed([3; 32]))).await.expect("the log");
    let before = ledger.len();
    let started = Instant::now();
    for (i, chunk) in texts.chunks(args.batch).enumerate() {
        ledger.append(chunk, &[("bench".into(), i.to_string())]).await.expect("append");
    }
    let appending = started.elapsed();
    let signed = ledger.sign_if_due(1, 0).await.expect("sign").expect("a head");
    assert_eq!(signed.tree_size, n + before);
    drop(ledger);

    let started = Instant::now();
    let ledger = Ledger::open(dir.path(), Some(Signer::from_seed([3; 32]))).await.expect("the log");
    let reopening = started.elapsed();
    assert!(ledger.broken().is_none());

    let size = ledger.len();
    let root = ledger.root(size).expect("a root");
    let mut rng = SplitMix(7);
    let proofs = args.proofs.min(2_000);
    let started = Instant::now();
    for _ in 0..proofs {
        let m = rng.next_u64() % n;
        let leaf = leaf_hash(texts[m as usize].as_bytes());
        let index = ledger.index_of(&leaf).expect("found");
        let proof = ledger.inclusion_proof(index, size).expect("a proof");
        assert!(verify_inclusion(&leaf, index, size, &proof, &root));
    }
    let by_hash = started.elapsed() / proofs as u32;

    println!("SQLite, batches of {}:", args.batch);
    println!("  bare inserts (baseline):    {:.0} entries/s", rate(bare));
    println!(
        "  append to the log:          {:.0} entries/s ({:.0}% of the baseline; target 50,000/s)",
        rate(appending),
        100.0 * rate(appending) / rate(bare)
    );
    println!("  reopen (rebuild and check): {:.2} s", reopening.as_secs_f64());
    println!("  proof by leaf hash at {size}: {:.1} µs each (target < 1 ms)", by_hash.as_secs_f64() * 1e6);
}
