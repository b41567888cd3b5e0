//! Webhook throughput (issue 7): live alerts queued in the store and sent by Porchlight's
//! sender to a receiver on loopback, each signed, each attempt recorded. Beside it, in the same
//! run, the floor: the same number of signed POSTs of the same bodies to the same receiver with
//! the same concurrency by a bare reqwest client, with no store.
//!
//! `cargo run --release -p porchlight-bench --bin webhook-bench -- [--subscribers 2000] [--calls 20]`
//!
//! Every subscriber's circle holds every call, so the run queues subscribers × calls
//! deliveries; the figure is deliveries per second from the sender's start until the store
//! holds every one as delivered.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, http::StatusCode, routing::post};
use chrono::Utc;
use clap::Parser;
use porchlight_alerts::Alerts;
use porchlight_core::{
    agency::AgencyId, category::Category, channel::Target, geo::Point, privacy::Policy, record::CadRecord,
    subscription::Subscription,
};
use porchlight_delivery::{Config, Sender};
use porchlight_store::Store;

#[derive(Parser)]
struct Args {
    /// Subscribers, each with one webhook.
    #[arg(long, default_value_t = 2_000)]
    subscribers: usize,
    /// Calls, each alerting every subscriber.
    #[arg(long, default_value_t = 20)]
    calls: usize,
    /// Requests under way at once, for the sender and the floor alike.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
}

/// A receiver that answers 204 to every POST and counts them.
async fn receiver() -> (String, Arc<AtomicU64>) {
    let count = Arc::new(AtomicU64::new(0));
    let seen = count.clone();
    let app = Router::new().route(
        "/{*path}",
        post(move |body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                std::hint::black_box(body);
                seen.fetch_add(1, Ordering::Relaxed);
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let url = format!("http://{}/hook", listener.local_addr().expect("an address"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("the receiver") });
    (url, count)
}

/// The `n`th call, a minute after the one before, where every subscriber's circle is.
fn call(n: usize) -> CadRecord {
    let mut call = porchlight_core::testing::call(
        "benchville",
        &format!("B{n}"),
        "THEFT",
        Category::Property,
        "Dispatched",
        Point::new(43.0, -87.95).expect("a point"),
    );
    call.received_at += chrono::Duration::minutes(n as i64);
    call
}

/// The floor: `total` signed POSTs of a typical body, `concurrency` at a time.
async fn floor(url: &str, total: usize, concurrency: usize, body: Vec<u8>) -> Duration {
    let http = reqwest::Client::new();
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (http, url, body, next) = (http.clone(), url.to_owned(), body.clone(), next.clone());
        tasks.spawn(async move {
            while (next.fetch_add(1, Ordering::Relaxed) as usize) < total {
                let id = "alert_1";
                let timestamp = Utc::now().timestamp();
                let response = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .header(porchlight_delivery::ID_HEADER, id)
                    .header(porchlight_delivery::TIMESTAMP_HEADER, timestamp)
                    .header(
                        porchlight_delivery::SIGNATURE_HEADER,
                        porchlight_delivery::signature(
                            b"0123456789abcdef0123456789abcdef",
                            id,
                            timestamp,
                            &body,
                        ),
                    )
                    .body(body.clone())
                    .send()
                    .await
                    .expect("the receiver answers");
                let _ = response.bytes().await;
            }
        });
    }
    tasks.join_all().await;
    started.elapsed()
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let total = args.subscribers * args.calls;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let store = Store::open(dir.path()).await.expect("a store");
    store.upsert_agency(&AgencyId::parse("benchville").unwrap(), "Benchville", "UTC").await.unwrap();
    let (url, received) = receiver().await;

    // Subscribers round the one place every call is at, each with a webhook.
    let mut subscriptions = Vec::with_capacity(args.subscribers);
    for _ in 0..args.subscribers {
        subscriptions.push(
            Subscription::new(Point::new(43.0, -87.95).unwrap(), 1_000.0, Default::default(), Utc::now())
                .unwrap(),
        );
    }
    store.insert_subscriptions(&subscriptions).await.expect("subscriptions stored");
    for s in &subscriptions {
        store.create_channel(s.id, &Target::Webhook { url: url.clone() }).await.expect("a channel");
    }
    let alerts = Alerts::load(store.clone()).await.expect("the alert worker");
    let queued = Instant::now();
    for n in 0..args.calls {
        store.apply(&[Policy::default().apply(call(n))]).await.expect("a call stored");
    }
    let made = alerts.drain().await.expect("alerts made");
    assert_eq!(made, total, "every subscriber alerted of every call");
    let queued = queued.elapsed();
    println!(
        "queued {total} deliveries ({} subscribers x {} calls) with their alerts in {:.2} s",
        args.subscribers,
        args.calls,
        queued.as_secs_f64()
    );
    let sample = store.alerts(subscriptions[0].id, None, None, 1).await.unwrap().remove(0);
    let body = serde_json::to_vec(&serde_json::json!({
        "type": "alert.new", "timestamp": Utc::now(),
        "data": serde_json::to_value(porchlight_http::AlertBody::from(sample)).unwrap()
    }))
    .unwrap();
    let body_len = body.len();

    let sender = Sender::new(store.clone(), Config { concurrency: args.concurrency, ..Config::default() })
        .await
        .expect("a sender");
    let started = Instant::now();
    let task = tokio::spawn(sender.run());
    // The receiver's count first (free to read), then the store's (a scan of every delivery).
    while (received.load(Ordering::Relaxed) as usize) < total {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    loop {
        let counts = store.delivery_counts().await.expect("counts");
        if counts.get("delivered").copied().unwrap_or(0) as usize == total {
            break;
        }
        assert!(!counts.contains_key("dead"), "dead letters: {counts:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let porchlight = started.elapsed();
    task.abort();
    assert_eq!(received.load(Ordering::Relaxed) as usize, total, "each delivery sent once");

    received.store(0, Ordering::Relaxed);
    let bare = floor(&url, total, args.concurrency, body).await;
    assert_eq!(received.load(Ordering::Relaxed) as usize, total);

    let rate = |d: Duration| total as f64 / d.as_secs_f64();
    println!("body: {body_len} bytes; concurrency {}", args.concurrency);
    println!(
        "porchlight sender (lease, sign, POST, record each attempt): {total} in {:.2} s = {:.0} deliveries/s",
        porchlight.as_secs_f64(),
        rate(porchlight)
    );
    println!(
        "floor (bare reqwest, same receiver, no store):          {total} in {:.2} s = {:.0} deliveries/s",
        bare.as_secs_f64(),
        rate(bare)
    );
    println!(
        "ratio: porchlight at {:.0}% of the floor; target 20,000 deliveries/s",
        100.0 * rate(porchlight) / rate(bare)
    );
}
