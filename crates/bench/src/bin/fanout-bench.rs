//! Live fan-out (issue 7): many residents connected to `porchlight serve` by Server-Sent Events,
//! calls pushed by a dispatch centre, and the time from each push to its alert reaching every
//! matching client. Beside it, in the same run, the floor: the same clients on a bare SSE
//! server (axum, one tokio broadcast) that sends one event to all of them.
//!
//! `cargo build --release -p porchlight && cargo run --release -p porchlight-bench --bin fanout-bench -- [--clients 10000] [--calls 20]`
//!
//! Subscriptions are circles with centres uniform in a 10 km square in Milwaukee and a radius
//! that makes about a tenth of them hold each call (1,000 of 10,000). The `porchlight` binary
//! is taken from beside this one (build it first, as above).

use std::{
    collections::HashMap,
    path::Path,
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::response::sse::{Event, Sse};
use futures_util::StreamExt;
use porchlight_bench::serve::{Server, first_line, porchlight_binary, serve};
use porchlight_bench::workload::SplitMix;
use serde_json::{Value, json};

const CENTRE: (f64, f64) = (43.05, -87.95);
const HALF_SIDE_M: f64 = 5_000.0;

fn run(args: &[&str], data: &Path) -> String {
    let out = Command::new(porchlight_binary())
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .output()
        .expect("porchlight");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// When each client saw each call (by the call's key), from `opened` on.
type Seen = Arc<Mutex<HashMap<String, Vec<Instant>>>>;

/// Open `urls` as SSE streams; each event's `key(data)` is recorded with its arrival time.
async fn listen(urls: Vec<String>, key: fn(&Value) -> Option<String>) -> Seen {
    let seen: Seen = Arc::default();
    let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("client");
    let mut opened = 0;
    for chunk in urls.chunks(500) {
        let streams = futures_util::future::join_all(chunk.iter().map(|u| http.get(u).send())).await;
        for response in streams {
            let response = response.expect("an SSE stream");
            assert!(response.status().is_success());
            opened += 1;
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut body = response.bytes_stream();
                let mut buffer = String::new();
                while let Some(Ok(chunk)) = body.next().await {
                    buffer.push_str(&String::from_utf8_lossy(&chunk));
                    while let Some(end) = buffer.find("\n\n") {
                        let block: String = buffer.drain(..end + 2).collect();
                        let data: String = block
                            .lines()
                            .filter_map(|l| l.strip_prefix("data:"))
                            .map(str::trim_start)
                            .collect();
                        if let Some(k) = serde_json::from_str(&data).ok().as_ref().and_then(key) {
                            seen.lock().expect("lock").entry(k).or_default().push(Instant::now());
                        }
                    }
                }
            });
        }
    }
    assert_eq!(opened, urls.len());
    seen
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Live fan-out: SSE clients of `porchlight serve`, the time from a push to its alerts.
#[derive(clap::Parser)]
struct Args {
    /// SSE clients, each with its own subscription.
    #[arg(long, default_value_t = 10_000)]
    clients: usize,
    /// Calls pushed, one at a time.
    #[arg(long, default_value_t = 20)]
    calls: usize,
    /// Run as the bare SSE server of the floor measurement (used by the benchmark itself).
    #[arg(long, hide = true)]
    floor_server: bool,
}

/// The bare SSE server: `GET /stream` listens, `POST /send` sends its body to every listener.
async fn floor_server() {
    let (tx, _) = tokio::sync::broadcast::channel::<String>(16);
    let listen_tx = tx.clone();
    let app = axum::Router::new()
        .route(
            "/stream",
            axum::routing::get(move || {
                let rx = listen_tx.subscribe();
                async move {
                    let events = tokio_stream::wrappers::BroadcastStream::new(rx)
                        .filter_map(|m| std::future::ready(m.ok()))
                        .map(|m| Ok::<_, std::convert::Infallible>(Event::default().data(m)));
                    Sse::new(events)
                }
            }),
        )
        .route(
            "/send",
            axum::routing::post(move |body: String| {
                let _ = tx.send(body);
                std::future::ready(())
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    println!("http://{}", listener.local_addr().expect("an address"));
    axum::serve(listener, app).await.expect("serve");
}

#[tokio::main]
async fn main() {
    let a = <Args as clap::Parser>::parse();
    if a.floor_server {
        return floor_server().await;
    }
    let dir = tempfile::tempdir().expect("a temporary folder");
    let data = dir.path().join("data");
    let mapping = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/milwaukee.toml");
    run(&["agency", "add", "--mapping", mapping.to_str().expect("a UTF-8 path")], &data);
    let keys = run(&["agency", "key", "--agency", "milwaukee"], &data);
    let hex = keys.lines().find_map(|l| l.strip_prefix("secret ")).expect("a secret").to_owned();
    let secret: Vec<u8> =
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex")).collect();
    let server = serve(&data, &["--subscriptions-per-hour", "0"]);

    // A radius at which a tenth of the square's subscribers hold a call at its middle.
    let radius_m = (0.1 * (2.0 * HALF_SIDE_M).powi(2) / std::f64::consts::PI).sqrt();
    let mut rng = SplitMix(0xFA_0017);
    let http = reqwest::Client::new();
    let mut ids = Vec::with_capacity(a.clients);
    let start = Instant::now();
    for chunk in (0..a.clients).collect::<Vec<_>>().chunks(200) {
        let bodies: Vec<Value> = chunk
            .iter()
            .map(|_| {
                let (lat, lon) = rng.point_in_square(CENTRE, HALF_SIDE_M);
                json!({"lat": lat, "lon": lon, "radius_m": radius_m, "categories": []})
            })
            .collect();
        let created = futures_util::future::join_all(
            bodies.iter().map(|b| http.post(format!("{}/v1/subscriptions", server.1)).json(b).send()),
        )
        .await;
        for c in created {
            let c: Value = c.expect("created").json().await.expect("JSON");
            ids.push(c["id"].as_str().expect("an id").to_owned());
        }
    }
    println!(
        "{} subscriptions of {radius_m:.0} m in a 10 km square made in {:.1}s",
        ids.len(),
        start.elapsed().as_secs_f64()
    );
    let urls: Vec<String> =
        ids.iter().map(|id| format!("{}/v1/subscriptions/{id}/alerts/stream", server.1)).collect();
    let start = Instant::now();
    let seen = listen(urls.clone(), |v| v["incident"]["id"].as_str().map(str::to_owned)).await;
    println!("{} SSE clients connected in {:.1}s", urls.len(), start.elapsed().as_secs_f64());

    // Calls near the middle (so about a tenth of subscribers hold each), one at a time, each
    // when the last one has been delivered or after 10 s.
    let mut last_client = Vec::new();
    let mut every_client = Vec::new();
    let mut matched = Vec::new();
    let base = chrono::Utc::now() - chrono::Duration::hours(3);
    for i in 0..a.calls {
        let received_at = (base + chrono::Duration::seconds(i as i64))
            .with_timezone(&chrono::FixedOffset::west_opt(5 * 3600).expect("UTC-5"));
        let (lat, lon) = (
            rng.uniform(CENTRE.0 - 0.005, CENTRE.0 + 0.005),
            rng.uniform(CENTRE.1 - 0.005, CENTRE.1 + 0.005),
        );
        let body = json!({"records": [{
            "incident_id": format!("FANOUT{i}"), "received_at": received_at.to_rfc3339(),
            "call_type": "PROPERTY DAMAGE", "status": "Assigned", "address": "2400 W WISCONSIN AV,MKE",
            "latitude": lat, "longitude": lon,
        }]})
        .to_string();
        let timestamp = chrono::Utc::now().timestamp();
        use hmac::{KeyInit, Mac};
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&secret).expect("a key");
        mac.update(format!("{timestamp}.{body}").as_bytes());
        let signature: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        let pushed = Instant::now();
        let answer = http
            .post(format!("{}/v1/agencies/milwaukee/calls", server.1))
            .header("content-type", "application/json")
            .header("X-Porchlight-Timestamp", timestamp.to_string())
            .header("X-Porchlight-Signature", format!("v1={signature}"))
            .body(body)
            .send()
            .await
            .expect("push");
        assert!(answer.status().is_success(), "push: {}", answer.text().await.unwrap_or_default());
        let answer: Value = answer.json().await.expect("the push's answer");
        let key = answer["records"][0]["incident_id"].as_str().expect("a published call").to_owned();
        // Settled when no new arrival for 500 ms (or 30 s in all).
        let mut count = 0;
        let mut still = Instant::now();
        while still.elapsed() < Duration::from_millis(500) && pushed.elapsed() < Duration::from_secs(30) {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let now = seen.lock().expect("lock").get(&key).map_or(0, Vec::len);
            if now != count {
                (count, still) = (now, Instant::now());
            }
        }
        let arrivals = seen.lock().expect("lock").get(&key).cloned().unwrap_or_default();
        if let Some(last) = arrivals.iter().max() {
            last_client.push(*last - pushed);
            every_client.extend(arrivals.iter().map(|t| *t - pushed));
            matched.push(arrivals.len());
        }
    }
    drop(server);
    assert!(!last_client.is_empty(), "no alert reached any client");
    last_client.sort_unstable();
    every_client.sort_unstable();

    // Let the clients of the server just stopped close their sockets.
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The floor: the same number of clients on a bare SSE server (a child process, since one
    // process may hold only so many sockets) sending one event to all.
    let floor_server = {
        let mut child = Command::new(std::env::current_exe().expect("this binary"))
            .arg("--floor-server")
            .stdout(Stdio::piped())
            .spawn()
            .expect("the floor server");
        let url = first_line(child.stdout.take().expect("stdout"));
        Server(child, url)
    };
    let floor_seen = listen(vec![format!("{}/stream", floor_server.1); a.clients], |v| {
        v["key"].as_str().map(str::to_owned)
    })
    .await;
    let mut floor = Vec::new();
    for i in 0..a.calls {
        let key = format!("floor{i}");
        let sent = Instant::now();
        http.post(format!("{}/send", floor_server.1))
            .body(json!({"key": key}).to_string())
            .send()
            .await
            .expect("send");
        let deadline = Instant::now() + Duration::from_secs(30);
        while floor_seen.lock().expect("lock").get(&key).map_or(0, Vec::len) < a.clients
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if let Some(last) = floor_seen.lock().expect("lock").get(&key).and_then(|v| v.iter().max().copied()) {
            floor.push(last - sent);
        }
    }
    drop(floor_server);
    floor.sort_unstable();

    let mean_matched = matched.iter().sum::<usize>() as f64 / matched.len().max(1) as f64;
    println!(
        "porchlight: {} calls, {mean_matched:.0} matching clients each; push to last matching client p50 {:.0} ms, p99 {:.0} ms; push to any client p50 {:.0} ms, p99 {:.0} ms",
        last_client.len(),
        ms(percentile(&last_client, 0.5)),
        ms(percentile(&last_client, 0.99)),
        ms(percentile(&every_client, 0.5)),
        ms(percentile(&every_client, 0.99)),
    );
    println!(
        "floor (bare SSE broadcast to all {} clients): p50 {:.0} ms, p99 {:.0} ms",
        a.clients,
        ms(percentile(&floor, 0.5)),
        ms(percentile(&floor, 0.99))
    );
    println!(
        "issue 7 target: p99 push to last matching client < 250 ms ({})",
        if percentile(&last_client, 0.99) < Duration::from_millis(250) { "met" } else { "NOT met" }
    );
}
