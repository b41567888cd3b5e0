//! Calls to alerts, end to end through the store (issue 12): how many calls a second the
//! pipeline turns into alerts, and how long a call waits for its first alert, for one process
//! on SQLite, one process on PostgreSQL, several processes sharing PostgreSQL (alert workers
//! of their own, as `serve --roles matcher` runs them) finding work by polling it, and the same
//! on a NATS JetStream bus with each alert worker answering for its own shard of the map (as
//! `serve --roles matcher --bus ... --shards I` runs them), printed side by side.
//!
//! `cargo run --release -p porchlight-bench --bin pipeline-bench -- [--subscriptions 100000]
//! [--calls 1000] [--paced 200] [--rate 10] [--workers 2]`
//!
//! The workload is issue 6's (seeded): circles uniform in a 50 km square around Dallas, radii
//! 200 m to 3 km, calls uniform in the same square (about 390 matches a call at 100,000
//! subscriptions). Each layout gets a fresh database. Two phases: `--calls` calls stored in
//! batches of 50 as fast as the store takes them, timed from the first until every outbox row
//! is done (calls and alerts a second); then `--paced` calls stored one at a time at `--rate`
//! a second, each timed from its commit to its first alert's `created_at` (p50, p99, max).
//! PostgreSQL is the server at `PORCHLIGHT_TEST_POSTGRES` (default
//! postgres://postgres@127.0.0.1:5432/test), where each run makes and drops a database; NATS
//! the server at `PORCHLIGHT_TEST_NATS` (default nats://127.0.0.1:4222), where the bus layout
//! makes and deletes streams of its own.

use std::{
    process::{Child, Command},
    time::{Duration, Instant},
};

use chrono::Utc;
use clap::Parser;
use porchlight_alerts::Alerts;
use porchlight_bench::workload::SplitMix;
use porchlight_core::{
    agency::AgencyId, category::Category, geo::Point, privacy::Policy, subscription::Subscription,
};
use porchlight_store::{Applied, Location, Store};

const CENTRE: (f64, f64) = (32.78, -96.80);
const HALF_SIDE_M: f64 = 25_000.0;
const BATCH: usize = 50;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 100_000)]
    subscriptions: usize,
    /// Calls of the throughput phase.
    #[arg(long, default_value_t = 1_000)]
    calls: usize,
    /// Calls of the latency phase.
    #[arg(long, default_value_t = 200)]
    paced: usize,
    /// Calls a second in the latency phase: below what every layout sustains (about 15 a
    /// second at 100,000 subscriptions on a 2-core machine), or the wait measured is the queue's.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Alert-worker processes in the multi-process layout.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Run as one alert worker on this PostgreSQL database (what the multi-process layout
    /// starts), until killed.
    #[arg(long, hide = true)]
    worker: Option<String>,
    /// With --worker: on the bus of this name at PORCHLIGHT_TEST_NATS, answering for shard
    /// `--shard` of `--workers`.
    #[arg(long, hide = true)]
    bus_name: Option<String>,
    #[arg(long, hide = true, default_value_t = 0)]
    shard: u32,
}

#[derive(Debug)]
struct Figures {
    layout: String,
    calls_per_s: f64,
    alerts_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

fn subscriptions(n: usize) -> Vec<Subscription> {
    let mut rng = SplitMix(0x5eed_0012);
    (0..n)
        .map(|_| {
            let (lat, lon) = rng.point_in_square(CENTRE, HALF_SIDE_M);
            let radius = rng.uniform(200.0, 3_000.0);
            Subscription::new(Point::new(lat, lon).expect("in range"), radius, Default::default(), Utc::now())
                .expect("a valid circle")
        })
        .collect()
}

fn calls(seed: u64, n: usize, prefix: &str) -> Vec<porchlight_core::record::CadRecord> {
    let mut rng = SplitMix(seed);
    (0..n)
        .map(|i| {
            let (lat, lon) = rng.point_in_square(CENTRE, HALF_SIDE_M);
            porchlight_core::testing::call(
                "dallas",
                &format!("{prefix}{i}"),
                "BURGLARY",
                Category::Property,
                "Dispatched",
                Point::new(lat, lon).expect("in range"),
            )
        })
        .collect()
}

/// A store at `location` with the agency and every subscription.
async fn fill(location: &Location, subs: &[Subscription]) -> Store {
    let store = Store::connect(location).await.expect("a store");
    store
        .upsert_agency(&AgencyId::parse("dallas").expect("an id"), "Dallas", "America/Chicago")
        .await
        .expect("agency");
    for chunk in subs.chunks(20_000) {
        store.insert_subscriptions(chunk).await.expect("subscriptions stored");
    }
    store
}

async fn wait_for_outbox(store: &Store) {
    loop {
        let (outbox, _) = store.queue_depths().await.expect("depths");
        if outbox == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The two phases against a store whose alert workers already run; `wake` is called after
/// each write (an in-process worker is woken as the push handler wakes it).
async fn measure(layout: &str, store: &Store, args: &Args, wake: &(dyn Fn() + Sync)) -> Figures {
    let policy = Policy::default();
    let burst = calls(1, args.calls, "burst-");
    let started = Instant::now();
    for chunk in burst.chunks(BATCH) {
        let decisions: Vec<_> = chunk.iter().cloned().map(|c| policy.apply(c)).collect();
        store.apply(&decisions).await.expect("stored");
        wake();
    }
    wait_for_outbox(store).await;
    let elapsed = started.elapsed().as_secs_f64();
    // The burst's alerts, counted through its incidents.
    let mut alerts = 0usize;
    let listed = store
        .incidents(&porchlight_store::IncidentQuery { limit: u32::MAX, ..Default::default() })
        .await
        .expect("incidents");
    for incident in &listed {
        alerts += store.recipients(incident.id).await.expect("recipients").len();
    }

    let paced = calls(2, args.paced, "paced-");
    let gap = Duration::from_secs_f64(1.0 / args.rate);
    let mut stored = Vec::with_capacity(paced.len());
    let next = Instant::now();
    for (i, call) in paced.into_iter().enumerate() {
        tokio::time::sleep_until((next + gap * i as u32).into()).await;
        let applied = store.apply(&[policy.apply(call)]).await.expect("stored");
        let at = Utc::now();
        wake();
        if let [Applied::Published { id }] = applied[..] {
            stored.push((id, at));
        }
    }
    wait_for_outbox(store).await;
    let mut waits = Vec::new();
    for (id, at) in stored {
        if let Some(first) = store.first_alerted_at(id).await.expect("alert time") {
            waits.push((first - at).num_milliseconds().max(0) as f64);
        }
    }
    waits.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        waits.get(((waits.len() as f64 * p).ceil() as usize).saturating_sub(1)).copied().unwrap_or(f64::NAN)
    };
    Figures {
        layout: layout.to_owned(),
        calls_per_s: args.calls as f64 / elapsed,
        alerts_per_s: alerts as f64 / elapsed,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        max_ms: waits.last().copied().unwrap_or(f64::NAN),
    }
}

async fn one_process(layout: &str, location: &Location, subs: &[Subscription], args: &Args) -> Figures {
    let store = fill(location, subs).await;
    let alerts = Alerts::load(store.clone()).await.expect("index loaded");
    let worker = tokio::spawn(alerts.clone().run());
    let figures = measure(layout, &store, args, &|| alerts.wake()).await;
    worker.abort();
    store.close().await;
    figures
}

struct Workers(Vec<Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The main process stores calls; `--workers` alert-worker processes of this program make the
/// alerts, finding work by polling the store or, with `bus`, told of it by the bus, each
/// answering for its own shard.
async fn several_processes(
    location: &Location,
    url: &str,
    subs: &[Subscription],
    args: &Args,
    bus: Option<&porchlight_bus::testing::TempBus>,
) -> Figures {
    let store = fill(location, subs).await;
    let exe = std::env::current_exe().expect("this program");
    let workers = Workers(
        (0..args.workers)
            .map(|i| {
                let mut command = Command::new(&exe);
                command.arg("--worker").arg(url).arg("--workers").arg(args.workers.to_string());
                if let Some(bus) = bus {
                    command.arg("--bus-name").arg(bus.name()).arg("--shard").arg(i.to_string());
                }
                command.spawn().expect("a worker process")
            })
            .collect(),
    );
    // On a bus, this process publishes what it stores, as an API process does.
    let publisher = bus.map(|bus| Alerts::without_index_on_bus(store.clone(), bus.bus.clone()));
    let publishing = publisher.clone().map(|p| tokio::spawn(p.publish()));
    let wake = || {
        if let Some(p) = &publisher {
            p.wake();
        }
    };
    // Each worker loads the index before it claims anything: wait until all are up by
    // storing a call in each shard and seeing them handled.
    let policy = Policy::default();
    let warm: Vec<_> = calls(3, 4 * args.workers, "warm-").into_iter().map(|c| policy.apply(c)).collect();
    store.apply(&warm).await.expect("stored");
    wake();
    wait_for_outbox(&store).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let layout = match bus {
        None => format!("{} processes on PostgreSQL ({} alert workers)", args.workers + 1, args.workers),
        Some(_) => format!(
            "{} processes on PostgreSQL and NATS ({} alert workers, a shard each)",
            args.workers + 1,
            args.workers
        ),
    };
    let figures = measure(&layout, &store, args, &wake).await;
    if let Some(p) = publishing {
        p.abort();
    }
    drop(workers);
    store.close().await;
    figures
}

async fn worker(url: &str, args: &Args) {
    let store = Store::connect(&Location::Postgres(url.to_owned())).await.expect("a store");
    match &args.bus_name {
        None => Alerts::load(store).await.expect("index loaded").run().await,
        Some(name) => {
            let count = u32::try_from(args.workers).expect("a few workers");
            let bus = porchlight_bus::Bus::connect(&porchlight_bus::testing::url(), name, count)
                .await
                .expect("the bus");
            let shard =
                porchlight_core::matcher::Shard::new(args.shard, count).expect("a shard of the workers'");
            let alerts = Alerts::load_on_bus(store, porchlight_alerts::DEFAULT_LEASE, bus, shard)
                .await
                .expect("index loaded");
            alerts.run_on_bus(shard).await
        }
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Some(url) = &args.worker {
        worker(url, &args).await;
        return;
    }
    let subs = subscriptions(args.subscriptions);
    println!(
        "pipeline-bench: {} subscriptions, {} calls as fast as stored, {} calls at {}/s",
        args.subscriptions, args.calls, args.paced, args.rate
    );
    let mut all = Vec::new();
    let dir = tempfile::tempdir().expect("a folder");
    all.push(
        one_process("1 process on SQLite", &Location::Dir(dir.path().to_path_buf()), &subs, &args).await,
    );
    println!("{:?}", all.last().expect("one"));
    let database = porchlight_db::testing::TempDatabase::new().await;
    let location = Location::Postgres(database.url().to_owned());
    all.push(one_process("1 process on PostgreSQL", &location, &subs, &args).await);
    println!("{:?}", all.last().expect("one"));
    drop(database);
    let database = porchlight_db::testing::TempDatabase::new().await;
    let location = Location::Postgres(database.url().to_owned());
    all.push(several_processes(&location, database.url(), &subs, &args, None).await);
    println!("{:?}", all.last().expect("one"));
    drop(database);
    let database = porchlight_db::testing::TempDatabase::new().await;
    let location = Location::Postgres(database.url().to_owned());
    let bus =
        porchlight_bus::testing::TempBus::new(u32::try_from(args.workers).expect("a few workers")).await;
    all.push(several_processes(&location, database.url(), &subs, &args, Some(&bus)).await);
    drop(bus);
    drop(database);

    println!();
    println!("| layout | calls/s | alerts/s | call to first alert p50 | p99 | max | vs SQLite |");
    println!("|---|---|---|---|---|---|---|");
    let base = all[0].calls_per_s;
    for f in &all {
        println!(
            "| {} | {:.1} | {:.0} | {:.0} ms | {:.0} ms | {:.0} ms | {:.2}x |",
            f.layout,
            f.calls_per_s,
            f.alerts_per_s,
            f.p50_ms,
            f.p99_ms,
            f.max_ms,
            f.calls_per_s / base
        );
    }
}
