//! Nothing lost, nothing twice: a `porchlight serve` under a steady stream of pushed calls is
//! killed with SIGKILL at chosen moments (some in the middle of a push) and restarted each time;
//! at the end every subscriber has exactly the alerts that the same stream gives a server that
//! never crashed, each once, and its webhook has received every one of them (an attempt cut
//! short by a kill is made again, with the same `webhook-id`).

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    time::Duration,
};

use serde_json::{Value, json};

use crate::common::{Backend, Database};
use crate::common::{
    Receiver, Server, eventually, get_json, milwaukee_without_calls, new_push_key, signed_request, subscribe,
};

/// Subscriptions around N 35th St and W Villard Av, Milwaukee: (lat, lon, radius in metres).
const AREAS: [(f64, f64, f64); 7] = [
    (43.1128, -87.9567, 900.0),
    (43.1128, -87.9567, 300.0),
    (43.1100, -87.9600, 600.0),
    (43.1150, -87.9530, 1_200.0),
    (43.1080, -87.9567, 500.0),
    (43.0528, -88.0300, 900.0),
    (43.0500, -88.0333, 600.0),
];

/// Pushes after which the server is killed: right after the push is answered, or (odd ones)
/// while it is still being handled.
const KILLS: [usize; 5] = [4, 9, 15, 22, 29];
const PUSHES: usize = 36;

/// The stream of pushes: a new call at each, on blocks of N 35th St, and every third push
/// also a new version of an earlier call (a status change, a reclassification, a false alarm).
pub(crate) fn pushes() -> Vec<String> {
    let kinds = ["PROPERTY DAMAGE", "TRBL W/SUBJ", "SHOTS FIRED", "THEFT", "ENTRY"];
    let call = |i: usize, call_type: &str, status: &str| {
        let block = 5000 + 100 * (i % 6);
        json!({
            "incident_id": format!("CRASH{i}"),
            "received_at": format!("2018-05-01T{:02}:{:02}:00-05:00", 1 + i / 60, i % 60),
            "call_type": call_type,
            "status": status,
            "address": format!("{} N 35TH ST,MKE", block + 37),
            // Two neighbourhoods, in regions of different shards of two (for the bus test).
            "latitude": if i.is_multiple_of(2) { 43.1080 } else { 43.0480 } + 0.0008 * (i % 6) as f64,
            "longitude": if i.is_multiple_of(2) { -87.9567 } else { -88.0300 },
        })
    };
    (0..PUSHES)
        .map(|i| {
            let mut records = vec![call(i, kinds[i % kinds.len()], "Assigned")];
            if i % 3 == 2 {
                let earlier = i - 2;
                let (call_type, status) = match i % 9 {
                    2 => (kinds[earlier % kinds.len()], "Assignment Completed"),
                    5 => ("SHOTS FIRED", "Assigned"),
                    _ => (kinds[earlier % kinds.len()], "False Alarm"),
                };
                records.push(call(earlier, call_type, status));
            }
            json!({ "records": records }).to_string()
        })
        .collect()
}

pub(crate) async fn push(url: &str, secret: &[u8], body: &str) -> Result<reqwest::Response, reqwest::Error> {
    let endpoint = format!("{url}/v1/agencies/milwaukee/calls");
    let timestamp = chrono::Utc::now().timestamp();
    signed_request(&endpoint, "application/json", secret, timestamp, body)
        .timeout(Duration::from_secs(10))
        .send()
        .await
}

/// A fresh data folder with the Milwaukee agency, and its push secret.
pub(crate) async fn agency(backend: Backend) -> (tempfile::TempDir, PathBuf, Vec<u8>, Database) {
    let (dir, data, db) = milwaukee_without_calls(backend).await;
    let secret = new_push_key(&data);
    (dir, data, secret, db)
}

pub(crate) async fn subscribe_all(url: &str) -> Vec<String> {
    let http = reqwest::Client::new();
    let mut ids = Vec::new();
    for (lat, lon, radius_m) in AREAS {
        ids.push(
            subscribe(&http, url, json!({"lat": lat, "lon": lon, "radius_m": radius_m, "categories": []}))
                .await,
        );
    }
    ids
}

/// Each subscriber's alerts, as what they say (not their ids or times, which differ between
/// runs), sorted.
pub(crate) async fn alerts(
    url: &str,
    subscriptions: &[String],
) -> Vec<Vec<(String, String, String, String, u64)>> {
    let http = reqwest::Client::new();
    let mut all = Vec::new();
    for id in subscriptions {
        let listed = get_json(&http, format!("{url}/v1/subscriptions/{id}/alerts?limit=1000")).await;
        let mut mine: Vec<_> = listed["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                let i = &a["incident"];
                let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
                (
                    s(&a["kind"]),
                    s(&i["received_at"]),
                    s(&i["category"]),
                    s(&i["status"]),
                    i["version"].as_u64().unwrap(),
                )
            })
            .collect();
        mine.sort();
        all.push(mine);
    }
    all
}

/// Wait until the alerts stop changing (the worker wakes on each push and polls every second).
pub(crate) async fn settled(
    url: &str,
    subscriptions: &[String],
) -> Vec<Vec<(String, String, String, String, u64)>> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut last = alerts(url, subscriptions).await;
    let mut still_since = std::time::Instant::now();
    while still_since.elapsed() < Duration::from_secs(3) {
        assert!(std::time::Instant::now() < deadline, "alerts never settled");
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = alerts(url, subscriptions).await;
        if now != last {
            (last, still_since) = (now, std::time::Instant::now());
        }
    }
    last
}

/// Check that every alert of each subscriber (subscriber `n` has a webhook at
/// `/subscriber/{n}`) reached its webhook and nothing else did, and that each delivery is
/// logged as delivered; returns how many were received more than once (attempts cut short by
/// a kill, made again with the same `webhook-id`).
pub(crate) async fn every_alert_at_its_webhook(
    url: &str,
    subscriptions: &[String],
    webhooks: &Receiver,
) -> usize {
    let http = reqwest::Client::new();
    let mut alert_ids = Vec::new();
    for id in subscriptions {
        let listed = get_json(&http, format!("{url}/v1/subscriptions/{id}/alerts?limit=1000")).await;
        let ids: BTreeSet<String> =
            listed["alerts"].as_array().unwrap().iter().map(|a| format!("alert_{}", a["id"])).collect();
        alert_ids.push(ids);
    }
    let received = |n: usize| -> Vec<String> {
        webhooks
            .got()
            .iter()
            .filter(|r| r.path == format!("subscriber/{n}"))
            .map(|r| r.headers["webhook-id"].to_str().unwrap().to_owned())
            .collect()
    };
    eventually(60, "every alert at its webhook", || {
        let all_in = alert_ids.iter().enumerate().all(|(n, ids)| {
            let got: BTreeSet<String> = received(n).into_iter().collect();
            ids.is_subset(&got)
        });
        async move { all_in.then_some(()) }
    })
    .await;
    let mut repeats = 0;
    for (n, ids) in alert_ids.iter().enumerate() {
        let got = received(n);
        let distinct: BTreeSet<String> = got.iter().cloned().collect();
        assert_eq!(&distinct, ids, "subscriber {n}'s webhook got alerts that are not theirs");
        repeats += got.len() - distinct.len();
        let log =
            get_json(&http, format!("{url}/v1/subscriptions/{}/deliveries?limit=1000", subscriptions[n]))
                .await;
        let log = log["deliveries"].as_array().unwrap();
        assert_eq!(log.len(), ids.len());
        assert!(log.iter().all(|d| d["state"] == "delivered"), "{log:?}");
    }
    repeats
}

porchlight_db::test_on_both! {
    #[tokio::test]
    async fn sigkill_at_any_moment_loses_and_repeats_no_alert(backend) {
        let bodies = pushes();

        // The same stream to a server that never crashes.
        let (_calm, data, secret, _calm_db) = agency(backend).await;
        let server = Server::start(&data);
        let subscriptions = subscribe_all(&server.url).await;
        for body in &bodies {
            assert_eq!(push(&server.url, &secret, body).await.unwrap().status(), 200);
        }
        let expected = settled(&server.url, &subscriptions).await;
        drop(server);
        assert!(expected.iter().all(|a| !a.is_empty()), "every subscriber hears of something");
        assert!(
            expected.iter().flatten().any(|a| a.0 == "update")
                && expected.iter().flatten().any(|a| a.0 == "retraction"),
            "the stream has updates and retractions: {expected:?}"
        );

        let (_stormy, data, secret, _stormy_db) = agency(backend).await;
        // Attempts time out fast, so one cut short by a kill is leased again within a second or two.
        // In PostgreSQL a killed worker's claims run out before the next takes them; in SQLite
        // the restarted server takes its own back at once, however long they were for.
        let lease = if backend == Backend::Postgres { "1" } else { "3600" };
        let start = |data: &Path| {
            Server::start_with_env(
                data,
                &[
                    ("PORCHLIGHT_OUTBOX_LEASE_SECS", lease),
                    ("PORCHLIGHT_DELIVERY_TIMEOUT_SECS", "0.5"),
                    ("PORCHLIGHT_RETRY_FIRST_SECS", "0.1"),
                    ("PORCHLIGHT_RETRY_MAX_SECS", "0.2"),
                ],
            )
        };
        let mut server = start(&data);
        let subscriptions = subscribe_all(&server.url).await;
        let (webhooks, addr) = Receiver::start(&[], 200).await;
        let http = reqwest::Client::new();
        for (n, id) in subscriptions.iter().enumerate() {
            let made = http
                .post(format!("{}/v1/subscriptions/{id}/channels", server.url))
                .json(&json!({"kind": "webhook", "url": format!("http://{addr}/subscriber/{n}")}))
                .send()
                .await
                .unwrap();
            assert_eq!(made.status(), 201);
        }
        let mut kills = 0;
        for (i, body) in bodies.iter().enumerate() {
            let Some(k) = KILLS.iter().position(|k| *k == i) else {
                assert_eq!(push(&server.url, &secret, body).await.unwrap().status(), 200);
                continue;
            };
            let answered = if k % 2 == 1 {
                // Kill while the push is being handled: whether it was stored is unknown, so the
                // dispatch centre sends it again (a repeat is stored once).
                let url = server.url.clone();
                let (secret, body) = (secret.clone(), body.clone());
                let pushing = tokio::spawn(async move { push(&url, &secret, &body).await });
                tokio::time::sleep(Duration::from_millis(3 * k as u64)).await;
                server.child.kill().unwrap();
                matches!(pushing.await.unwrap(), Ok(r) if r.status() == 200)
            } else {
                let ok = push(&server.url, &secret, body).await.unwrap().status() == 200;
                // Then kill while the alert worker is at work on it.
                tokio::time::sleep(Duration::from_millis(5 * k as u64)).await;
                server.child.kill().unwrap();
                ok
            };
            server.child.wait().unwrap();
            kills += 1;
            server = start(&data);
            if !answered {
                assert_eq!(push(&server.url, &secret, body).await.unwrap().status(), 200);
            }
        }
        let got = settled(&server.url, &subscriptions).await;
        let deliveries: usize = got.iter().map(Vec::len).sum();
        let repeats = every_alert_at_its_webhook(&server.url, &subscriptions, &webhooks).await;
        println!(
            "crash test: {kills} kills, {deliveries} alerts checked for {} subscribers; every one at its webhook, \
             {repeats} sent again after a kill cut its attempt short",
            subscriptions.len()
        );
        assert_eq!(kills, KILLS.len());
        for (s, (got, want)) in got.iter().zip(&expected).enumerate() {
            assert_eq!(got, want, "subscriber {s}");
            // Once each: no version of an incident reaches a subscriber twice.
            let mut seen = BTreeMap::new();
            for a in got {
                *seen.entry((&a.1, a.4)).or_insert(0) += 1;
            }
            assert!(seen.values().all(|n| *n == 1), "subscriber {s} has a repeat: {got:?}");
        }
    }
}
