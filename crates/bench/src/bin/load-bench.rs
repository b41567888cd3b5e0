//! The API under load (issue 13): mixed reads against `porchlight serve` holding real
//! Milwaukee calls, at a steady rate (open loop: each request is timed from when it was due,
//! so a slow server cannot hide its queue), then at twice that rate, then a quiet minute's
//! worth to see that it recovers. Beside it, in the same run, the floor: the same load
//! generator against a bare axum server answering one fixed JSON body.
//!
//! `cargo build --release -p porchlight && cargo run --release -p porchlight-bench --bin load-bench -- [--rate 5000] [--secs 10]`
//!
//! The mix: the incident list (20 a page, of the city or of one of 24 neighbourhood boxes), an
//! incident by id (300 of them), the GeoJSON of 50 (of the city or a box), the agency list and
//! the health check, in proportions 4:3:1:1:1. Requests time out after 5 s; a timeout counts
//! as a failure. Rate limits are off for the run (one address makes all the load); load
//! shedding is on, as by default.
//!
//! The server keeps each incident page for a second (porchlight-http's page cache), as a
//! crowd reading the same map is served in practice. `--uncached` gives every request a query
//! parameter of its own (`_=n`), so that nothing is kept and each page is made from the
//! database: the cost of a flood of distinct queries.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
    time::{Duration, Instant},
};

use clap::Parser;
use porchlight_bench::serve::{porchlight_binary, serve};
use serde_json::Value;
use tokio::sync::Mutex;

#[derive(Parser)]
struct Args {
    /// Requests a second in the steady phase (the overload phase sends twice as many).
    #[arg(long, default_value_t = 5_000)]
    rate: u32,
    /// Seconds of each loaded phase.
    #[arg(long, default_value_t = 10)]
    secs: u64,
    /// Rows of Milwaukee's sample to import.
    #[arg(long, default_value_t = 3_000)]
    rows: usize,
    /// Only this kind of request instead of the mix, to find the slow one: list, incident,
    /// geojson, agencies or health.
    #[arg(long)]
    only: Option<String>,
    /// Give every request a query of its own, so no page is answered from the server's cache.
    #[arg(long)]
    uncached: bool,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// What one phase saw.
#[derive(Debug, Default)]
struct Phase {
    sent: usize,
    ok: usize,
    shed: usize,
    failed: usize,
    /// Of every answer (shed ones too), from when the request was due: milliseconds.
    latencies: Vec<f64>,
    elapsed: f64,
}

impl Phase {
    fn pct(&mut self, p: f64) -> f64 {
        self.latencies.sort_by(f64::total_cmp);
        let i = ((self.latencies.len() as f64 * p).ceil() as usize).saturating_sub(1);
        self.latencies.get(i).copied().unwrap_or(f64::NAN)
    }

    fn print(&mut self, name: &str) {
        let (p50, p99, max) = (self.pct(0.5), self.pct(0.99), self.pct(1.0));
        println!(
            "{name}: {} sent in {:.1} s; {:.0} answered 200 a second; {} shed (503/429), {} failed or timed out; \
             p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms",
            self.sent,
            self.elapsed,
            self.ok as f64 / self.elapsed,
            self.shed,
            self.failed
        );
    }
}

/// Send `rate` requests a second for `secs` seconds, each at its due time whatever the
/// answers before it, to the URLs of `mix` in turn.
async fn open_loop(http: &reqwest::Client, mix: &[String], rate: u32, secs: f64, uncached: bool) -> Phase {
    let total = (f64::from(rate) * secs) as usize;
    let gap = Duration::from_secs_f64(1.0 / f64::from(rate));
    let phase = Arc::new(Mutex::new(Phase::default()));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        let due = start + gap * i as u32;
        let now = Instant::now();
        if due > now {
            tokio::time::sleep(due - now).await;
        }
        let mut url = mix[i % mix.len()].clone();
        if uncached {
            url.push_str(&format!("{}_={i}", if url.contains('?') { '&' } else { '?' }));
        }
        let (http, phase) = (http.clone(), phase.clone());
        tasks.spawn(async move {
            let answer = http.get(&url).send().await;
            let status = match answer {
                Ok(response) => {
                    let status = response.status().as_u16();
                    // Read the body: an answer is whole when it has arrived.
                    let whole = response.bytes().await.is_ok();
                    if whole { status } else { 0 }
                }
                Err(_) => 0,
            };
            let took = due.elapsed().as_secs_f64() * 1000.0;
            let mut phase = phase.lock().await;
            phase.sent += 1;
            match status {
                200 => phase.ok += 1,
                429 | 503 => phase.shed += 1,
                _ => phase.failed += 1,
            }
            if status != 0 {
                phase.latencies.push(took);
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let mut phase = Arc::try_unwrap(phase).expect("every task is done").into_inner();
    phase.elapsed = start.elapsed().as_secs_f64();
    phase
}

/// The floor: a bare axum server answering one fixed JSON body to every GET.
async fn bare_server(body: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let url = format!("http://{}", listener.local_addr().expect("bound"));
    let body = axum::body::Bytes::from(body);
    let app = axum::Router::new().fallback(move || {
        let body = body.clone();
        async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], body) }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let dir = tempfile::tempdir().expect("a folder");
    let data = dir.path().join("data");
    let text =
        std::fs::read_to_string(repo().join("examples/data/milwaukee-cfs/data.csv")).expect("the sample");
    let sample = dir.path().join("sample.csv");
    std::fs::write(&sample, text.lines().take(args.rows + 1).collect::<Vec<_>>().join("\n"))
        .expect("written");
    let out = Command::new(porchlight_binary())
        .args(["import", "--agency", "milwaukee", "--mapping"])
        .arg(repo().join("examples/milwaukee.toml"))
        .arg("--data-dir")
        .arg(&data)
        .arg(&sample)
        .output()
        .expect("porchlight import");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let server = serve(&data, &["--rate-limit-ip", "0", "--rate-limit-token", "0"]);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(1024)
        .build()
        .expect("a client");
    let url = &server.1;
    let page: Value = http
        .get(format!("{url}/v1/incidents?limit=300"))
        .send()
        .await
        .expect("the list")
        .json()
        .await
        .expect("JSON");
    let ids: Vec<String> = page["incidents"]
        .as_array()
        .expect("incidents")
        .iter()
        .map(|i| i["id"].as_str().expect("an id").to_owned())
        .collect();
    assert!(!ids.is_empty(), "nothing published from the sample");
    let mut mix = Vec::new();
    let only = |kind: &str| args.only.as_deref().is_none_or(|o| o == kind);
    // The city, and 24 boxes of about 3 km by 2 km over it (Milwaukee: 42.92-43.19 N,
    // 87.86-88.07 W), each as a bbox query.
    let mut areas = vec![String::new()];
    for row in 0..6 {
        for col in 0..4 {
            let (south, west) = (42.92 + 0.045 * f64::from(row), -88.07 + 0.0525 * f64::from(col));
            areas.push(format!("&bbox={west:.4},{south:.4},{:.4},{:.4}", west + 0.0525, south + 0.045));
        }
    }
    for (n, id) in ids.iter().cycle().take(3000).enumerate() {
        let area = &areas[(n / 10) % areas.len()];
        let (kind, path) = match n % 10 {
            0..=3 => ("list", format!("/v1/incidents?limit=20{area}")),
            4..=6 => ("incident", format!("/v1/incidents/{id}")),
            7 => ("geojson", format!("/v1/incidents.geojson?limit=50{area}")),
            8 => ("agencies", "/v1/agencies".to_owned()),
            _ => ("health", "/healthz".to_owned()),
        };
        if only(kind) {
            mix.push(format!("{url}{path}"));
        }
    }
    assert!(!mix.is_empty(), "--only takes list, incident, geojson, agencies or health");
    let body = http
        .get(format!("{url}/v1/incidents/{}", ids[0]))
        .send()
        .await
        .expect("one")
        .text()
        .await
        .expect("text");
    let bare = vec![bare_server(body).await];
    println!(
        "load-bench: {} rows of Milwaukee's calls ({} of them asked for by id), {} requests a second for {} s, \
         then {} for {} s",
        args.rows,
        ids.len(),
        args.rate,
        args.secs,
        args.rate * 2,
        args.secs
    );
    let secs = args.secs as f64;
    // Warm the connections and the server's caches.
    let _ = open_loop(&http, &mix, 500, 1.0, args.uncached).await;
    let mut floor = open_loop(&http, &bare, args.rate, secs, false).await;
    floor.print("floor (bare axum, one fixed body)");
    let mut steady = open_loop(&http, &mix, args.rate, secs, args.uncached).await;
    steady.print("porchlight at the rate");
    let mut over = open_loop(&http, &mix, args.rate * 2, secs, args.uncached).await;
    over.print("porchlight at twice the rate");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut after = open_loop(&http, &mix, 200, 2.0, args.uncached).await;
    after.print("porchlight after the flood");
    let served = steady.ok as f64 / steady.elapsed;
    println!();
    println!("| phase | answered 200/s | shed | failed | p50 | p99 |");
    println!("|---|---|---|---|---|---|");
    for (name, p) in
        [("floor", &mut floor), ("rate", &mut steady), ("twice the rate", &mut over), ("after", &mut after)]
    {
        let (p50, p99) = (p.pct(0.5), p.pct(0.99));
        println!(
            "| {name} | {:.0} | {} | {} | {p50:.1} ms | {p99:.1} ms |",
            p.ok as f64 / p.elapsed,
            p.shed,
            p.failed
        );
    }
    println!(
        "porchlight served {:.2}x the floor's rate at {} requests a second",
        served / (floor.ok as f64 / floor.elapsed),
        args.rate
    );
}
