//! Several processes sharing one PostgreSQL store (issue 12): two API processes (one of them
//! also doing the deployment's one-off duties), two alert workers and two delivery workers,
//! each a `porchlight serve --roles ...` of its own on loopback; once finding work by polling
//! the store, once told of it by a NATS JetStream bus, where the two alert workers answer for
//! different shards of the map. A stream of pushed calls goes to both API processes; one alert
//! worker and one delivery worker are killed with SIGKILL in the middle of it and started
//! again. At the end every subscriber has exactly the alerts that the same stream gives a
//! single process on SQLite, each once, and its webhook has received every one of them; and a
//! live stream served by an API process, which makes no alerts itself, has carried each of its
//! subscriber's alerts once.

use std::{
    collections::BTreeSet,
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::common::{Backend, Receiver, Server, eventually, get_json};
use crate::crash::{agency, every_alert_at_its_webhook, push, pushes, settled, subscribe_all};

/// Pushes after which the first alert worker, then the first delivery worker, is killed.
const KILL_MATCHER: [usize; 2] = [6, 20];
const KILL_SENDER: [usize; 2] = [12, 27];

/// How the processes find their work.
#[derive(Clone, Copy)]
enum Layout<'a> {
    /// By polling the store.
    Store,
    /// Told by the bus of this name on the test NATS server, the map split into two shards.
    Bus(&'a str),
}

/// A process with `roles` (and, on a bus, answering for `shards`).
fn start(data: &Path, roles: &str, layout: Layout, shards: &str) -> Server {
    let url = porchlight_bus::testing::url();
    let mut env = vec![
        ("PORCHLIGHT_ROLES", roles),
        // A killed worker's claims run out fast, and an attempt cut short by a kill is
        // made again within a second or two.
        ("PORCHLIGHT_OUTBOX_LEASE_SECS", "1"),
        ("PORCHLIGHT_DELIVERY_TIMEOUT_SECS", "0.5"),
        ("PORCHLIGHT_RETRY_FIRST_SECS", "0.1"),
        ("PORCHLIGHT_RETRY_MAX_SECS", "0.2"),
    ];
    if let Layout::Bus(name) = layout {
        env.extend([
            ("PORCHLIGHT_BUS", url.as_str()),
            ("PORCHLIGHT_BUS_NAME", name),
            ("PORCHLIGHT_SHARD_COUNT", "2"),
        ]);
        if !shards.is_empty() {
            env.push(("PORCHLIGHT_SHARDS", shards));
        }
    }
    Server::start_with_env(data, &env)
}

fn kill_and_restart(server: &mut Server, restart: impl FnOnce() -> Server) {
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    *server = restart();
}

#[tokio::test]
async fn processes_sharing_postgresql_give_every_subscriber_exactly_the_alerts_due() {
    every_subscriber_gets_exactly_the_alerts_due(Layout::Store).await;
}

#[tokio::test]
async fn processes_on_a_nats_bus_with_two_matcher_shards_give_every_subscriber_exactly_the_alerts_due() {
    let test = porchlight_bus::testing::TempBus::new(2).await;
    let bus = &test.bus;
    every_subscriber_gets_exactly_the_alerts_due(Layout::Bus(test.name())).await;
    // Each matcher had its share of the calls, and nothing is left waiting.
    for shard in 0..2 {
        let (waiting, given) = bus.shard_counts(shard).await.unwrap();
        assert_eq!(waiting, 0, "shard {shard} left incidents unacknowledged");
        assert!(given > 0, "shard {shard} was given no incident: the test does not split the work");
        println!("shard {shard}: published incidents given {given} times");
    }
}

async fn every_subscriber_gets_exactly_the_alerts_due(layout: Layout<'_>) {
    let bodies = pushes();

    // The same stream to one process on SQLite, never killed.
    let (_calm, data, secret, _calm_db) = agency(Backend::Sqlite).await;
    let server = Server::start(&data);
    let subscriptions = subscribe_all(&server.url).await;
    for body in &bodies {
        assert_eq!(push(&server.url, &secret, body).await.unwrap().status(), 200);
    }
    let expected = settled(&server.url, &subscriptions).await;
    drop(server);

    let (_dir, data, secret, _db) = agency(Backend::Postgres).await;
    let front = start(&data, "api,ingest", layout, "");
    let side = start(&data, "api", layout, "");
    let mut matchers = [start(&data, "matcher", layout, "0"), start(&data, "matcher", layout, "1")];
    let mut senders = [start(&data, "delivery", layout, ""), start(&data, "delivery", layout, "")];
    // Subscribers arrive through either API process.
    let mut subscriptions = subscribe_all(&front.url).await;
    subscriptions.truncate(3);
    subscriptions.extend(subscribe_all(&side.url).await.into_iter().skip(3));
    let (webhooks, addr) = Receiver::start(&[], 200).await;
    let http = reqwest::Client::new();
    for (n, id) in subscriptions.iter().enumerate() {
        let api = if n % 2 == 0 { &front.url } else { &side.url };
        let made = http
            .post(format!("{api}/v1/subscriptions/{id}/channels"))
            .json(&json!({"kind": "webhook", "url": format!("http://{addr}/subscriber/{n}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(made.status(), 201);
    }
    // A live stream from the API process that makes no alerts of its own.
    let streamed: Arc<Mutex<Vec<u64>>> = Arc::default();
    let response = http
        .get(format!("{}/v1/subscriptions/{}/alerts/stream", side.url, subscriptions[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let reader = tokio::spawn({
        let streamed = streamed.clone();
        async move {
            let mut body = response.bytes_stream();
            let mut buffer = String::new();
            while let Some(Ok(chunk)) = body.next().await {
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let block: String = buffer.drain(..end + 2).collect();
                    for data in block.lines().filter_map(|l| l.strip_prefix("data:")) {
                        let alert: Value = serde_json::from_str(data.trim_start()).unwrap();
                        streamed.lock().unwrap().push(alert["id"].as_u64().unwrap());
                    }
                }
            }
        }
    });
    for (i, body) in bodies.iter().enumerate() {
        let api = if i % 2 == 0 { &front.url } else { &side.url };
        assert_eq!(push(api, &secret, body).await.unwrap().status(), 200);
        if KILL_MATCHER.contains(&i) {
            // While it is at work on the push just stored.
            tokio::time::sleep(Duration::from_millis(20 * i as u64)).await;
            kill_and_restart(&mut matchers[0], || start(&data, "matcher", layout, "0"));
        }
        if KILL_SENDER.contains(&i) {
            tokio::time::sleep(Duration::from_millis(20 * i as u64)).await;
            kill_and_restart(&mut senders[0], || start(&data, "delivery", layout, ""));
        }
    }
    let got = settled(&front.url, &subscriptions).await;
    assert_eq!(got, expected, "the processes sharing PostgreSQL alerted otherwise than one process");
    assert_eq!(settled(&side.url, &subscriptions).await, expected, "the API processes disagree");

    // Every alert reached its subscriber's webhook, and nothing else did.
    let repeats = every_alert_at_its_webhook(&front.url, &subscriptions, &webhooks).await;
    // The live stream carried each of its subscriber's alerts, once.
    let listed =
        get_json(&http, format!("{}/v1/subscriptions/{}/alerts?limit=1000", front.url, subscriptions[0]))
            .await;
    let due: BTreeSet<u64> =
        listed["alerts"].as_array().unwrap().iter().map(|a| a["id"].as_u64().unwrap()).collect();
    eventually(30, "every alert on the live stream", || {
        let all_in = streamed.lock().unwrap().len() >= due.len();
        async move { all_in.then_some(()) }
    })
    .await;
    reader.abort();
    let streamed = streamed.lock().unwrap().clone();
    assert_eq!(streamed.len(), due.len(), "an alert came twice on the live stream");
    assert_eq!(streamed.iter().copied().collect::<BTreeSet<_>>(), due);
    let alerts: usize = got.iter().map(Vec::len).sum();
    let how = match layout {
        Layout::Store => "polling the store",
        Layout::Bus(_) => "on a NATS bus, the matchers on two shards",
    };
    println!(
        "processes test ({how}): 2 API, 2 alert and 2 delivery processes on one PostgreSQL database; {} kills; \
         {alerts} alerts as one process makes them, every one at its webhook ({repeats} sent again after a kill)",
        KILL_MATCHER.len() + KILL_SENDER.len()
    );
}
