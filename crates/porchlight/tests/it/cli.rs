//! Black-box tests of the `porchlight` binary: real processes, a real SQLite file in a fresh
//! folder, real HTTP on loopback, and real city data from `examples/data`.

use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
    process::Output,
    time::Duration,
};

use crate::common::{
    MILWAUKEE_CSV, SEATTLE_CSV, SLO_CSV, Server, create_subscription, get_json, import,
    milwaukee_without_calls, new_push_key, porchlight, repo, signed_push_as, stored_text, subscribe, summary,
};
use crate::common::{database, porchlight_at, store_connection};
use futures_util::StreamExt;
use regex::Regex;
use serde_json::{Value, json};

/// A subscription to every category within 900 m of N 35th St and W Villard Av, where the rows
/// of [`CALLS`] are.
async fn subscribe_near_35th_st(http: &reqwest::Client, url: &str) -> String {
    subscribe(http, url, json!({"lat": 43.1128, "lon": -87.9567, "radius_m": 900, "categories": []})).await
}

/// The alerts listed for a subscription.
async fn alerts_of(http: &reqwest::Client, url: &str, id: &str) -> Value {
    get_json(http, format!("{url}/v1/subscriptions/{id}/alerts")).await
}

/// Read Server-Sent Events until `n` have arrived, returning their `data` as JSON.
async fn read_events(response: reqwest::Response, n: usize) -> Vec<Value> {
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    let mut events = Vec::new();
    let read = async {
        while events.len() < n {
            let chunk = body.next().await.expect("stream ended").expect("stream error");
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                let data: Vec<&str> =
                    block.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim_start).collect();
                if !data.is_empty() {
                    events.push(serde_json::from_str(&data.join("\n")).expect("event JSON"));
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read).await.expect("alerts did not arrive in time");
    events
}

/// Read `n` alerts from a live WebSocket, each a JSON text message.
async fn read_socket<S>(socket: &mut S, n: usize) -> Vec<Value>
where
    S: futures_util::Stream<
            Item = Result<tokio_tungstenite::tungstenite::Message, tokio_tungstenite::tungstenite::Error>,
        > + Unpin,
{
    let mut alerts = Vec::new();
    let read = async {
        while alerts.len() < n {
            match socket.next().await.expect("socket closed").expect("socket error") {
                tokio_tungstenite::tungstenite::Message::Text(text) => {
                    alerts.push(serde_json::from_str(&text).expect("alert JSON"))
                }
                other => assert!(other.is_ping() || other.is_pong(), "unexpected message {other:?}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read).await.expect("alerts did not arrive in time");
    alerts
}

/// Five real Milwaukee rows around N 35th St and W Villard Av: one outside the subscriber's
/// circle, one withheld (domestic violence), three that match.
const CALLS: &str = "id,time,location,latitude,longitude,district,nature,status
1211427,2018-05-01 00:18:46,\"2483 W HADLEY ST,MKE\",43.0695391,-87.9446813,5,PROPERTY DAMAGE,To be Filed
1212185,2018-05-01 09:30:22,\"5342 N 34TH ST,MKE\",43.1146588,-87.9555124,4,BATTERY DV,Advised/Referral
1211372,2018-05-01 00:10:28,\"5237 N 35TH ST,MKE\",43.1127987,-87.95674149999999,4,TRBL W/SUBJ,Unable to Locate Complainant
1211378,2018-05-01 00:18:31,\"5262 N 38TH ST,MKE\",43.1133303,-87.9597934,4,PROPERTY DAMAGE,Service in Progress
1211759,2018-05-01 04:28:01,\"N 39TH ST / W LANCASTER AV,MKE\",43.1098446,-87.9619657,4,RECKLESS VEHICLE,Unable to Locate Complainant
";

fn alert_summary(a: &Value) -> (String, String, String, String, String, u64) {
    let i = &a["incident"];
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    (
        s(&i["agency"]),
        s(&i["location"]["text"]),
        s(&i["category"]),
        s(&i["received_at"]),
        s(&i["status"]),
        i["version"].as_u64().unwrap(),
    )
}

porchlight_db::test_on_both! {
    #[tokio::test]
    async fn calls_reach_a_subscriber_live_and_in_the_list(backend) {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let _db = database(backend, &data).await;
        // Register the agency first, with an empty file.
        let empty = dir.path().join("empty.csv");
        std::fs::write(&empty, CALLS.lines().next().unwrap()).unwrap();
        import(&data, "milwaukee", "examples/milwaukee.toml", &empty);

        let server = Server::start(&data);
        let http = reqwest::Client::new();
        let id = subscribe_near_35th_st(&http, &server.url).await;
        let stream =
            http.get(format!("{}/v1/subscriptions/{id}/alerts/stream", server.url)).send().await.unwrap();
        assert_eq!(stream.headers()["content-type"], "text/event-stream");
        let socket_url = format!("{}/v1/subscriptions/{id}/alerts/socket", server.url.replacen("http", "ws", 1));
        let (mut socket, _) = tokio_tungstenite::connect_async(socket_url.as_str()).await.unwrap();

        let calls = dir.path().join("calls.csv");
        std::fs::write(&calls, CALLS).unwrap();
        let s = summary(&import(&data, "milwaukee", "examples/milwaukee.toml", &calls));
        assert_eq!((s["rows"].as_u64(), s["published"].as_u64()), (Some(5), Some(4)));
        assert_eq!(s["withheld"], json!({"category:domestic_violence": 1}));

        // The first alerts are made (and their base rates counted) before the story goes on.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while alerts_of(&http, &server.url, &id).await["alerts"].as_array().unwrap().len() < 3 {
            assert!(std::time::Instant::now() < deadline, "the first alerts never came");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // The incident's story: a new status alone is a new version but no news; dispatch then
        // reclassifies it as shots fired (an update to whoever was told), and closes it as a false
        // alarm (a retraction).
        let update = dir.path().join("update.csv");
        let header = CALLS.lines().next().unwrap();
        let row = CALLS.lines().nth(3).unwrap();
        let completed = row.replace("Unable to Locate Complainant", "Assignment Completed");
        let shots = completed.replace("TRBL W/SUBJ", "SHOTS FIRED");
        let false_alarm = shots.replace("Assignment Completed", "False Alarm");
        std::fs::write(&update, format!("{header}\n{completed}\n{shots}\n{false_alarm}\n")).unwrap();
        let s = summary(&import(&data, "milwaukee", "examples/milwaukee.toml", &update));
        assert_eq!(s["updated"].as_u64(), Some(3));

        let events = read_events(stream, 5).await;
        let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["new", "new", "new", "update", "retraction"]);
        assert_eq!(
            (events[3]["refers_to"].as_i64(), events[4]["refers_to"].as_i64()),
            (events[0]["id"].as_i64(), events[0]["id"].as_i64())
        );
        assert!(
            events[0]["context"].as_str().unwrap().contains("not a confirmed crime"),
            "{}",
            events[0]["context"]
        );
        assert!(
            events[3]["context"].as_str().unwrap().contains("\"SHOTS FIRED\" (weapons)"),
            "{}",
            events[3]["context"]
        );
        assert!(events[4]["context"].as_str().unwrap().contains("as unfounded"), "{}", events[4]["context"]);
        assert_eq!(events[4]["incident"]["closure"], "unfounded");
        // A new alert says how usual the call is in the subscriber's area: the first disorder call
        // there in 30 days (the only one stored), a twelfth of one in a typical month.
        assert_eq!(events[0]["base_rate"]["last_30_days"], 1);
        assert!((events[0]["base_rate"]["monthly_average"].as_f64().unwrap() - 1.0 / 12.0).abs() < 1e-9);
        assert!(
            events[0]["context"]
                .as_str()
                .unwrap()
                .ends_with("The 1st disorder call in your area in 30 days; a typical month has fewer than one."),
            "{}",
            events[0]["context"]
        );
        assert!(events[3].get("base_rate").is_none());
        assert_eq!(
            (events[4]["incident"]["initial_call_type"].as_str(), events[4]["incident"]["call_type"].as_str()),
            (Some("TRBL W/SUBJ"), Some("SHOTS FIRED"))
        );
        let got: Vec<_> = events.iter().map(alert_summary).collect();
        let mke = |loc: &str, cat: &str, at: &str, status: &str, v: u64| {
            ("milwaukee".to_owned(), loc.to_owned(), cat.to_owned(), at.to_owned(), status.to_owned(), v)
        };
        assert_eq!(
            got,
            vec![
                mke(
                    "5200 block of N 35th St",
                    "disorder",
                    "2018-05-01T05:10:28Z",
                    "Unable to Locate Complainant",
                    1
                ),
                mke("5200 block of N 38th St", "property", "2018-05-01T05:18:31Z", "Service in Progress", 1),
                mke(
                    "N 39th St & W Lancaster Av",
                    "traffic",
                    "2018-05-01T09:28:01Z",
                    "Unable to Locate Complainant",
                    1
                ),
                mke("5200 block of N 35th St", "weapons", "2018-05-01T05:10:28Z", "Assignment Completed", 3),
                mke("5200 block of N 35th St", "weapons", "2018-05-01T05:10:28Z", "False Alarm", 4),
            ]
        );
        assert_eq!(events[0]["incident"]["id"], events[3]["incident"]["id"]);

        // The same alerts are listed for a subscriber who was not connected, and nothing else.
        let listed: Value = get_json(&http, format!("{}/v1/subscriptions/{id}/alerts", server.url)).await;
        let listed: Vec<_> = listed["alerts"].as_array().unwrap().iter().map(alert_summary).collect();
        assert_eq!(listed, got);
        let after: Value =
            get_json(&http, format!("{}/v1/subscriptions/{id}/alerts?after={}", server.url, events[1]["id"]))
                .await;
        assert_eq!(after["alerts"].as_array().unwrap().len(), 3);

        // A reconnecting client gets what it missed after its Last-Event-ID.
        let resumed = http
            .get(format!("{}/v1/subscriptions/{id}/alerts/stream", server.url))
            .header("Last-Event-ID", events[1]["id"].to_string())
            .send()
            .await
            .unwrap();
        let replayed: Vec<_> = read_events(resumed, 3).await.iter().map(alert_summary).collect();
        assert_eq!(replayed, got[2..]);

        // The WebSocket carried the same alerts, with the same ids, and resumes after `?after=`.
        let over_socket = read_socket(&mut socket, 5).await;
        assert_eq!(over_socket.iter().map(alert_summary).collect::<Vec<_>>(), got);
        assert_eq!(
            over_socket.iter().map(|a| &a["id"]).collect::<Vec<_>>(),
            events.iter().map(|e| &e["id"]).collect::<Vec<_>>()
        );
        let (mut resumed, _) =
            tokio_tungstenite::connect_async(format!("{socket_url}?after={}", events[1]["id"])).await.unwrap();
        let replayed: Vec<_> = read_socket(&mut resumed, 3).await.iter().map(alert_summary).collect();
        assert_eq!(replayed, got[2..]);

        // All four published incidents are listed; the withheld call is not; bbox narrows the list.
        let all: Value = get_json(&http, format!("{}/v1/incidents", server.url)).await;
        assert_eq!(all["incidents"].as_array().unwrap().len(), 4);
        let near: Value = get_json(
            &http,
            format!("{}/v1/incidents?bbox=-87.97,43.10,-87.95,43.12&since=2018-05-01T05:15:00Z", server.url),
        )
        .await;
        let near: Vec<&str> = location_texts(&near);
        assert_eq!(near, ["N 39th St & W Lancaster Av", "5200 block of N 38th St"]);

        // Deleting the subscription removes it and its alerts.
        let deleted = http.delete(format!("{}/v1/subscriptions/{id}", server.url)).send().await.unwrap();
        assert_eq!(deleted.status(), 204);
        let gone = http.get(format!("{}/v1/subscriptions/{id}/alerts", server.url)).send().await.unwrap();
        assert_eq!(gone.status(), 404);
    }
}

porchlight_db::test_on_both! {
    #[tokio::test]
    async fn bad_requests_get_a_code_and_a_message(backend) {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(dir.path());
        let http = reqwest::Client::new();
        let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
            (
                http.post(format!("{}/v1/subscriptions", server.url))
                    .json(&json!({"lat": 43.0, "lon": -87.9, "radius_m": 5})),
                400,
                "invalid_radius",
            ),
            (
                http.post(format!("{}/v1/subscriptions", server.url))
                    .json(&json!({"lat": 95.0, "lon": -87.9, "radius_m": 500})),
                400,
                "invalid_coordinates",
            ),
            (
                http.post(format!("{}/v1/subscriptions", server.url))
                    .json(&json!({"lat": 43.0, "lon": -87.9, "radius_m": 500, "categories": ["burglary"]})),
                400,
                "invalid_category",
            ),
            (
                http.post(format!("{}/v1/subscriptions", server.url))
                    .json(&json!({"lat": 43.0, "lon": -87.9, "radius_m": 500, "categories": ["medical"]})),
                400,
                "invalid_category",
            ),
            (
                http.post(format!("{}/v1/subscriptions", server.url))
                    .header("content-type", "application/json")
                    .body("{not json"),
                400,
                "invalid_body",
            ),
            (
                http.post(format!("{}/v1/subscriptions", server.url)).json(&json!({"lat": 43.0})),
                400,
                "invalid_area",
            ),
            (
                http.post(format!("{}/v1/subscriptions", server.url))
                    .json(&json!({"cells": ["892830828ffffff"]})),
                400,
                "invalid_cells",
            ),
            (
                http.post(format!("{}/v1/subscriptions", server.url))
                    .json(&json!({"lat": 43.0, "lon": -87.9, "cells": ["872830828ffffff"]})),
                400,
                "invalid_area",
            ),
            (
                http.post(format!("{}/v1/subscriptions", server.url))
                    .json(&json!({"lat": 43.0, "lon": -87.9, "pacing": {"daily_budget": 0}})),
                400,
                "invalid_pacing",
            ),
            (http.get(format!("{}/v1/subscriptions/not-a-uuid", server.url)), 400, "invalid_id"),
            (
                http.get(format!("{}/v1/subscriptions/6f1c3a52-6d9c-4f4e-9a53-0b8f3f7d2c11", server.url)),
                404,
                "subscription_not_found",
            ),
            (
                http.get(format!(
                    "{}/v1/subscriptions/6f1c3a52-6d9c-4f4e-9a53-0b8f3f7d2c11/alerts/stream",
                    server.url
                )),
                404,
                "subscription_not_found",
            ),
            (
                http.get(format!("{}/v1/incidents/6f1c3a52-6d9c-4f4e-9a53-0b8f3f7d2c11", server.url)),
                404,
                "incident_not_found",
            ),
            (http.get(format!("{}/v1/incidents?bbox=1,2,3", server.url)), 400, "invalid_query"),
            (http.get(format!("{}/v1/incidents?since=yesterday", server.url)), 400, "invalid_query"),
            (http.get(format!("{}/v1/incidents?limit=0", server.url)), 400, "invalid_query"),
            (http.get(format!("{}/v1/nothing-here", server.url)), 404, "route_not_found"),
        ];
        for (request, status, code) in cases {
            let response = request.send().await.unwrap();
            assert_eq!(response.status().as_u16(), status);
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], code, "{body}");
            assert!(!body["error"]["message"].as_str().unwrap().is_empty());
        }
    }
}

#[test]
fn whole_city_files_account_for_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let block = Regex::new(r"^(\d+) block of ").unwrap();
    for city in CITIES {
        let s = summary(&import(dir.path(), city.agency, city.mapping, &repo().join(city.file)));
        let withheld: u64 = s["withheld"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
        let rejected: u64 =
            s["rejected"].as_object().unwrap().values().map(|v| v["count"].as_u64().unwrap()).sum();
        let published =
            ["published", "updated", "unchanged"].iter().map(|k| s[k].as_u64().unwrap()).sum::<u64>();
        assert_eq!(s["rows"].as_u64(), Some(city.rows), "{}", city.agency);
        assert_eq!(published + withheld + rejected, city.rows, "{}: {s}", city.agency);
        let expected = json!({
            "published": city.published[0], "updated": city.published[1], "unchanged": city.published[2],
            "withheld": serde_json::from_str::<Value>(city.withheld).unwrap(),
            "rejected": serde_json::from_str::<Value>(city.rejected).unwrap(),
        });
        let got = json!({
            "published": s["published"], "updated": s["updated"], "unchanged": s["unchanged"],
            "withheld": s["withheld"],
            "rejected": s["rejected"].as_object().unwrap().iter()
                .map(|(k, v)| (k.clone(), v["count"].clone())).collect::<serde_json::Map<_, _>>(),
        });
        assert_eq!(got, expected, "{}", city.agency);
        assert_eq!(s["unmapped_call_types"], json!({}), "{}", city.agency);

        // `feeds check` predicts exactly what the import did, and stores nothing.
        let out = porchlight()
            .current_dir(dir.path())
            .args(["feeds", "check", "--json", "--sample", "40", "--mapping"])
            .arg(repo().join(city.mapping))
            .arg(repo().join(city.file))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        for key in ["rows", "withheld", "rejected", "unmapped_call_types"] {
            assert_eq!(report["summary"][key], s[key], "{} {key}", city.agency);
        }
        assert_eq!(report["summary"]["published"].as_u64(), Some(published), "{}", city.agency);
        for sample in report["sample"].as_array().unwrap() {
            if let Some(c) = block.captures(sample["location"].as_str().unwrap()) {
                assert!(c[1].parse::<u64>().unwrap().is_multiple_of(100), "{sample}");
            }
        }
    }
    assert!(!dir.path().join("porchlight-data").exists(), "feeds check stored something");

    // Importing the same file again makes no new incidents and no new versions.
    let again = summary(&import(dir.path(), "seattle", "examples/seattle.toml", &repo().join(SEATTLE_CSV)));
    assert_eq!((again["published"].as_u64(), again["updated"].as_u64()), (Some(0), Some(0)));
}

/// Every city file in examples/data, with what importing it must give.
struct City {
    agency: &'static str,
    mapping: &'static str,
    file: &'static str,
    rows: u64,
    /// New incidents, new versions, unchanged repeats.
    published: [u64; 3],
    withheld: &'static str,
    rejected: &'static str,
}

const CITIES: [City; 6] = [
    City {
        agency: "milwaukee",
        mapping: "examples/milwaukee.toml",
        file: MILWAUKEE_CSV,
        rows: 33_968,
        published: [18_148, 0, 0],
        withheld: r#"{"category:administrative": 12018, "category:child_abuse": 138, "category:death": 71,
            "category:domestic_violence": 1650, "category:juvenile": 276, "category:medical": 675,
            "category:mental_health": 5, "category:missing_person": 14, "category:sexual_offense": 37,
            "category:welfare_check": 918, "unparseable_location": 18}"#,
        rejected: "{}",
    },
    City {
        agency: "seattle",
        mapping: "examples/seattle.toml",
        file: SEATTLE_CSV,
        rows: 706,
        published: [668, 0, 0],
        withheld: r#"{"category:administrative": 10, "category:medical": 3, "category:mental_health": 15,
            "category:missing_person": 5, "category:sexual_offense": 5}"#,
        rejected: "{}",
    },
    City {
        agency: "san-luis-obispo",
        mapping: "examples/san-luis-obispo.toml",
        file: SLO_CSV,
        rows: 20_076,
        // The log was scraped daily: 689 rows repeat an earlier row unchanged, one changes it.
        published: [12_630, 1, 689],
        withheld: r#"{"category:administrative": 1140, "category:child_abuse": 15, "category:death": 38,
            "category:elder_abuse": 3,
            "category:domestic_violence": 26, "category:juvenile": 153, "category:medical": 135,
            "category:mental_health": 48, "category:missing_person": 123, "category:sexual_offense": 63,
            "category:suicide": 14, "category:welfare_check": 1082, "no_location": 3342,
            "unparseable_location": 419}"#,
        rejected: r#"{"type: missing": 155}"#,
    },
    City {
        agency: "dallas",
        mapping: "examples/dallas.toml",
        file: "examples/data/dallas-active-calls/are8-xahz.csv",
        rows: 63,
        // One row per responding unit: 18 rows repeat an incident already published.
        published: [41, 0, 18],
        withheld: r#"{"category:medical": 2, "category:missing_person": 2}"#,
        rejected: "{}",
    },
    City {
        agency: "st-louis",
        mapping: "examples/st-louis.toml",
        file: "examples/data/stlouis-cfs/cfsraw.csv",
        rows: 56,
        published: [48, 0, 0],
        withheld: r#"{"category:administrative": 3, "category:domestic_violence": 3, "category:medical": 1,
            "category:sexual_offense": 1}"#,
        rejected: "{}",
    },
    City {
        agency: "seattle-calldata",
        mapping: "examples/seattle-calldata.toml",
        file: "examples/data/seattle-spd-calldata/db_call_data_2018-2023.csv",
        rows: 222,
        published: [184, 0, 0],
        withheld: r#"{"category:administrative": 12, "category:domestic_violence": 7, "category:medical": 5,
            "category:mental_health": 8, "category:missing_person": 1, "category:sexual_offense": 5}"#,
        rejected: "{}",
    },
];

/// How many words after a number are searched for the street's name: "5237 block of N 35th".
const WINDOW: usize = 4;

/// Every (number, word) pair where the word follows the number within [`WINDOW`] words, and
/// every decimal number, in `text`.
fn tokens(text: &str, pairs: &mut HashSet<(String, String)>, decimals: &mut HashSet<String>) {
    static DECIMAL: std::sync::LazyLock<Regex> =
        std::sync::LazyLock::new(|| Regex::new(r"-?\d+\.\d+").unwrap());
    static UUID: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
        Regex::new(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}").unwrap()
    });
    static TIME: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
        Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)").unwrap()
    });
    // Porchlight's own ids are random hex, which can look like "714E" next to an agency name,
    // and times end in digits and a letter ("07.710Z"): neither is an address.
    let upper = UUID.replace_all(&text.to_uppercase(), " ").into_owned();
    let upper = TIME.replace_all(&upper, " ").into_owned();
    let words: Vec<&str> =
        upper.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).collect();
    for (i, w) in words.iter().enumerate() {
        // "3037A" is house 3037, unit A.
        let digits = w.strip_suffix(|c: char| c.is_ascii_alphabetic()).unwrap_or(w);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            for next in words.iter().skip(i + 1).take(WINDOW) {
                pairs.insert((digits.to_owned(), (*next).to_owned()));
            }
        }
    }
    for m in DECIMAL.find_iter(text) {
        decimals.insert(m.as_str().to_owned());
    }
}

/// The word that names a street: not a direction, not a street type ("N 35TH ST" -> "35TH").
fn street_name(street: &str) -> Option<String> {
    const SKIP: &[&str] = &[
        "N", "S", "E", "W", "NE", "NW", "SE", "SW", "ST", "AV", "AVE", "DR", "RD", "BL", "PL", "CT", "LN",
        "WAY", "PKWY",
    ];
    // Three characters at least: the database holds random keys, whose bytes can spell a
    // digit run next to a short word by chance.
    street
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| w.len() >= 3 && !SKIP.contains(w))
        .map(str::to_owned)
}

porchlight_db::test_on_both! {
    #[tokio::test]
    /// DESIGN.md invariant 1 on real data: after importing both cities, no house number that is
    /// not a multiple of 100 appears with its street, and no raw coordinate appears, in the
    /// database file, the import's log lines, or any API answer.
    async fn no_house_number_or_raw_coordinate_leaks(backend) {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let _db = database(backend, &data).await;
        let mut logs = String::new();
        for city in CITIES {
            let out = import(&data, city.agency, city.mapping, &repo().join(city.file));
            logs.push_str(&String::from_utf8_lossy(&out.stderr));
            logs.push_str(&String::from_utf8_lossy(&out.stdout));
        }

        // What must not appear: 5237 near "35TH" for "5237 N 35TH ST,MKE", and coordinates as given.
        // A house number with at most a unit letter or a dashed suffix ("3017-A"); "101NOFF OSOS"
        // (a freeway off-ramp) is not one.
        let house = Regex::new(r"^\s*(\d+)(?:[A-Z]|-[A-Z0-9]{1,4})?(?:\s+\d+/\d+)?\s+([^,;]+)").unwrap();
        let ordinal = Regex::new(r"^\s*\d+(ST|ND|RD|TH)\b").unwrap();
        let mut needles = HashSet::new();
        let mut raw_coordinates = HashSet::new();
        // The files whose locations carry house numbers (Milwaukee, San Luis Obispo), and the
        // coordinates of every file that has them. Seattle, Dallas and St. Louis publish blocks only:
        // a number there is a block or a numbered street ("15 AV NW").
        for (file, location, coordinates) in [
            (MILWAUKEE_CSV, "location", Some(("latitude", "longitude"))),
            (SLO_CSV, "address", None),
            (SEATTLE_CSV, "", Some(("Latitude", "Longitude"))),
            (
                "examples/data/seattle-spd-calldata/db_call_data_2018-2023.csv",
                "",
                Some(("Blurred_Latitude", "Blurred_Longitude")),
            ),
        ] {
            let mut reader = csv::Reader::from_path(repo().join(file)).unwrap();
            let headers = reader.headers().unwrap().clone();
            let col = |name: &str| headers.iter().position(|h| h == name);
            let l = col(location);
            let coordinate_columns = coordinates.map(|(a, b)| [col(a).unwrap(), col(b).unwrap()]);
            for row in reader.records() {
                let row = row.unwrap();
                let place = l.map_or(String::new(), |l| row[l].to_uppercase());
                let already_blocked = ["XX", "BLK", "BLOCK"].iter().any(|b| place.contains(b));
                // "113TH ST/W BRADLEY RD" starts with a numbered street, not a house number.
                let already_blocked = already_blocked || ordinal.is_match(&place);
                if let Some(c) = house.captures(&place).filter(|_| !already_blocked) {
                    let n: u64 = c[1].parse().unwrap();
                    if let Some(name) = street_name(&c[2]).filter(|_| !n.is_multiple_of(100)) {
                        needles.insert((c[1].to_owned(), name));
                    }
                }
                for v in coordinate_columns.iter().flat_map(|[a, b]| [&row[*a], &row[*b]]) {
                    // A coordinate given to 7 or more decimals is a geocoded house.
                    if v.split('.').nth(1).is_some_and(|d| d.len() >= 7) {
                        raw_coordinates.insert(v.to_owned());
                    }
                }
            }
        }
        assert!(needles.len() > 5_000, "the test needs real house numbers: {}", needles.len());
        assert!(raw_coordinates.len() > 5_000, "{}", raw_coordinates.len());

        let mut haystacks: HashMap<&str, String> = HashMap::new();
        haystacks.insert("log lines", logs);
        let (stored, values) = stored_text(&data.join("porchlight.db")).await;
        assert!(values > 100_000, "only {values} stored values read");
        haystacks.insert("stored columns", stored);

        let server = Server::start(&data);
        let http = reqwest::Client::new();
        let mut api = String::new();
        let mut until: Option<String> = None;
        let mut seen = HashSet::new();
        loop {
            let mut url = format!("{}/v1/incidents?limit=1000", server.url);
            if let Some(t) = &until {
                url.push_str(&format!("&until={t}"));
            }
            let page: Value = get_json(&http, url).await;
            let incidents = page["incidents"].as_array().unwrap();
            let fresh: Vec<&Value> =
                incidents.iter().filter(|i| seen.insert(i["id"].as_str().unwrap().to_owned())).collect();
            if fresh.is_empty() {
                break;
            }
            let one: Value =
                get_json(&http, format!("{}/v1/incidents/{}", server.url, fresh[0]["id"].as_str().unwrap()))
                    .await;
            api.push_str(&one.to_string());
            api.push_str(&page.to_string());
            // Pages overlap by the last second, so ties at a page boundary are not skipped.
            let last =
                chrono::DateTime::parse_from_rfc3339(incidents.last().unwrap()["received_at"].as_str().unwrap())
                    .unwrap();
            until = Some((last + chrono::Duration::seconds(1)).to_utc().format("%Y-%m-%dT%H:%M:%SZ").to_string());
        }
        assert!(seen.len() > 15_000, "{}", seen.len());
        haystacks.insert("API answers", api);

        // The detector finds leaks where there are some: the input file itself is full of them.
        let (mut pairs, mut decimals) = (HashSet::new(), HashSet::new());
        for file in [MILWAUKEE_CSV, SLO_CSV] {
            tokens(&std::fs::read_to_string(repo().join(file)).unwrap(), &mut pairs, &mut decimals);
        }
        let missed: Vec<_> = needles.difference(&pairs).take(5).collect();
        assert!(missed.is_empty(), "{missed:?}");
        assert!(raw_coordinates.intersection(&decimals).count() > 5_000);

        for (name, text) in &haystacks {
            let (mut pairs, mut decimals) = (HashSet::new(), HashSet::new());
            // Line by line: a stored value, a log line, an API page. A number in one column next to
            // a street in the next is not an address.
            for line in text.lines() {
                tokens(line, &mut pairs, &mut decimals);
            }
            let leaked: Vec<_> = needles.intersection(&pairs).take(5).collect();
            assert!(leaked.is_empty(), "house numbers in {name}: {leaked:?}");
            let leaked: Vec<_> = raw_coordinates.intersection(&decimals).take(5).collect();
            assert!(leaked.is_empty(), "raw coordinates in {name}: {leaked:?}");
        }
    }
}

porchlight_db::test_on_both! {
    #[tokio::test]
    async fn policies_are_versioned_and_withheld_calls_are_counted_publicly(backend) {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let _db = database(backend, &data).await;
        let first = summary(&import(&data, "seattle", "examples/seattle.toml", &repo().join(SEATTLE_CSV)));
        // A stricter policy: thousand blocks, coarser points.
        let stricter = dir.path().join("stricter.toml");
        let default = std::fs::read_to_string(repo().join("examples/policies/default.toml")).unwrap();
        std::fs::write(
            &stricter,
            default
                .replace("block_size = 100 ", "block_size = 1000")
                .replace("snap_resolution = 10", "snap_resolution = 8"),
        )
        .unwrap();
        let out = policy_set(&data, "seattle", &stricter);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "policy version 2 is in force for seattle\n");
        // An invalid policy is refused with the field named, and changes nothing.
        let invalid = dir.path().join("invalid.toml");
        std::fs::write(&invalid, "[coordinates]\nsnap_resolution = 12\n").unwrap();
        let out = policy_set(&data, "seattle", &invalid);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("coordinates.snap_resolution"));

        // Calls published under version 2 say so, and use its rules.
        let calls = dir.path().join("later.csv");
        let text = std::fs::read_to_string(repo().join(SEATTLE_CSV)).unwrap();
        let header = text.lines().next().unwrap();
        let row = text.lines().find(|l| l.contains("92XX BLOCK OF RAINIER AV S")).unwrap();
        std::fs::write(&calls, format!("{header}\n{}\n", row.replace("16000103970", "16000999999"))).unwrap();
        import(&data, "seattle", "examples/seattle.toml", &calls);

        let server = Server::start(&data);
        let http = reqwest::Client::new();
        let get = |path: String| {
            let http = http.clone();
            let url = format!("{}{path}", server.url);
            async move { http.get(url).send().await.unwrap().json::<Value>().await.unwrap() }
        };
        let policy = get("/v1/agencies/seattle/policy".into()).await;
        assert_eq!(policy["current"]["version"], 2);
        assert_eq!(policy["current"]["policy"]["location"]["block_size"], 1000);
        assert_eq!(policy["history"].as_array().unwrap().len(), 2);
        assert_eq!(policy["history"][0]["policy"]["location"]["block_size"], 100);
        assert_eq!(policy["history"][0]["policy"]["publication"]["delay_minutes"], 10);

        let incidents = get("/v1/incidents?agency=seattle&limit=1000".into()).await;
        let incidents = incidents["incidents"].as_array().unwrap();
        assert_eq!(incidents.len(), 669);
        let later: Vec<&Value> = incidents.iter().filter(|i| i["policy_version"] == 2).collect();
        assert_eq!(later.len(), 1);
        assert_eq!(later[0]["location"]["text"], "9000 block of Rainier Av S");
        let earlier = incidents.iter().find(|i| i["location"]["text"] == "9200 block of Rainier Av S").unwrap();
        assert_eq!(earlier["policy_version"], 1);

        // The withheld counts add up to the import summary, by day, category and reason.
        let withheld = get("/v1/agencies/seattle/withheld".into()).await;
        let expected: u64 = first["withheld"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
        assert_eq!(withheld["total"].as_u64(), Some(expected));
        let mut by_reason: HashMap<String, u64> = HashMap::new();
        for day in withheld["days"].as_array().unwrap() {
            for (reason, n) in day["by_reason"].as_object().unwrap() {
                *by_reason.entry(reason.clone()).or_default() += n.as_u64().unwrap();
            }
        }
        let summary_reasons: HashMap<String, u64> = first["withheld"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
            .collect();
        assert_eq!(by_reason, summary_reasons);
        let none = get("/v1/agencies/seattle/withheld?since=2030-01-01".into()).await;
        assert_eq!(none["total"], 0);
        let missing = http.get(format!("{}/v1/agencies/nowhere/policy", server.url)).send().await.unwrap();
        assert_eq!(missing.status(), 404);
        let agencies = get("/v1/agencies".into()).await;
        assert_eq!(agencies["agencies"][0]["id"], "seattle");
    }
}

porchlight_db::test_on_both! {
    #[tokio::test]
    async fn nothing_is_served_or_alerted_before_the_publication_delay(backend) {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let _db = database(backend, &data).await;
        let mapping = dir.path().join("utc.toml");
        let milwaukee = std::fs::read_to_string(repo().join("examples/milwaukee.toml")).unwrap();
        std::fs::write(&mapping, milwaukee.replace("America/Chicago", "UTC")).unwrap();
        let header = CALLS.lines().next().unwrap();
        std::fs::write(dir.path().join("empty.csv"), header).unwrap();
        let import_here = |file: &Path| {
            let out = porchlight_at(&data)
                .args(["import", "--format", "json", "--agency", "milwaukee", "--mapping"])
                .arg(&mapping)
                .arg("--data-dir")
                .arg(&data)
                .arg(file)
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        };
        import_here(&dir.path().join("empty.csv"));
        let server = Server::start(&data);
        let http = reqwest::Client::new();
        let id = subscribe_near_35th_st(&http, &server.url).await;

        // Two real calls at the same block, one received two minutes ago, one twenty minutes ago;
        // the default policy holds calls for ten minutes.
        let now = chrono::Utc::now();
        let at =
            |minutes: i64| (now - chrono::Duration::minutes(minutes)).format("%Y-%m-%d %H:%M:%S").to_string();
        let recent = CALLS.lines().nth(3).unwrap().replace("2018-05-01 00:10:28", &at(2));
        let older = CALLS.lines().nth(4).unwrap().replace("2018-05-01 00:18:31", &at(20));
        let file = dir.path().join("now.csv");
        std::fs::write(&file, format!("{header}\n{recent}\n{older}\n")).unwrap();
        import_here(&file);

        // The older call is alerted; give the worker time to have alerted the recent one too, if
        // it wrongly would.
        let alerts = loop {
            let listed = alerts_of(&http, &server.url, &id).await;
            let alerts = listed["alerts"].as_array().unwrap().clone();
            if !alerts.is_empty() {
                tokio::time::sleep(Duration::from_secs(3)).await;
                let listed: Value = get_json(&http, format!("{}/v1/subscriptions/{id}/alerts", server.url)).await;
                break listed["alerts"].as_array().unwrap().clone();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let locations: Vec<&str> =
            alerts.iter().map(|a| a["incident"]["location"]["text"].as_str().unwrap()).collect();
        assert_eq!(locations, ["5200 block of N 38th St"]);
        let listed: Value = get_json(&http, format!("{}/v1/incidents", server.url)).await;
        let listed: Vec<&str> = location_texts(&listed);
        assert_eq!(listed, ["5200 block of N 38th St"]);
    }
}

/// The README's first command, shortened: the demo replays real calls, its subscriber gets
/// alerts, and the folder it made can be served afterwards.
#[tokio::test]
async fn the_demo_replays_calls_to_its_subscriber() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let out = porchlight()
        .args([
            "demo",
            "--port",
            "0",
            "--speed",
            "1000000",
            "--limit",
            "400",
            "--exit-when-done",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let curl = Regex::new(r"curl -N http://127\.0\.0\.1:\d+/v1/subscriptions/([0-9a-f-]{36})/alerts/stream")
        .unwrap();
    let id = curl.captures(&stdout).unwrap_or_else(|| panic!("no curl command in:\n{stdout}"))[1].to_owned();
    assert!(stdout.contains("Replaying 400 Milwaukee calls"), "{stdout}");
    assert!(stdout.contains("rows read"), "{stdout}");

    // A second demo in the same folder is refused rather than mixing two replays.
    let again = porchlight().args(["demo", "--exit-when-done", "--data-dir"]).arg(&data).output().unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a Porchlight database"));

    let server = Server::start(&data);
    let listed: Value = reqwest::get(format!("{}/v1/subscriptions/{id}/alerts?limit=1000", server.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let alerts = listed["alerts"].as_array().unwrap();
    assert!(alerts.len() >= 10, "only {} alerts", alerts.len());
    let centre = (43.07_f64, -87.95_f64);
    for a in alerts {
        let i = &a["incident"];
        assert_eq!(i["agency"], "milwaukee");
        // Milwaukee's calls carry their own coordinates.
        assert_eq!(i["placed_by"], "feed");
        let (lat, lon) = (i["point"]["lat"].as_f64().unwrap(), i["point"]["lon"].as_f64().unwrap());
        // Within the demo's 2 km (an equirectangular estimate is exact enough at this scale).
        let dy = (lat - centre.0).to_radians() * 6_371_008.8;
        let dx = (lon - centre.1).to_radians() * 6_371_008.8 * centre.0.to_radians().cos();
        assert!(dx.hypot(dy) <= 2_005.0, "{i}");
    }
}

porchlight_db::test_on_both! {
    #[tokio::test]
    /// Narratives: dropped by the default policy; with `free_text = "scrub"` published with the
    /// people taken out. Checked on San Luis Obispo's log, whose comments name arrested and cited
    /// people ("AP/SMITH, JOHN A 050288") and carry plates ("L/8WKN551").
    async fn narratives_are_dropped_or_scrubbed_never_published_raw(backend) {
        let dir = tempfile::tempdir().unwrap();
        let count_narratives = |data: PathBuf| async move {
            let mut conn = store_connection(&data).await;
            let narratives: Vec<(String,)> =
                sqlx::query_as("SELECT narrative FROM incident_versions WHERE narrative IS NOT NULL")
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
            narratives.into_iter().map(|(n,)| n).collect::<Vec<_>>()
        };
        let dropped = dir.path().join("dropped");
        let _dropped_db = database(backend, &dropped).await;
        import(&dropped, "san-luis-obispo", "examples/san-luis-obispo.toml", &repo().join(SLO_CSV));
        assert!(count_narratives(dropped).await.is_empty(), "the default policy stored narratives");

        let scrubbed = dir.path().join("scrubbed");
        let _scrubbed_db = database(backend, &scrubbed).await;
        let policy = dir.path().join("scrub.toml");
        let default = std::fs::read_to_string(repo().join("examples/policies/default.toml")).unwrap();
        std::fs::write(&policy, default.replace("free_text = \"drop\"", "free_text = \"scrub\"")).unwrap();
        let out = porchlight_at(&scrubbed)
            .args(["import", "--format", "json", "--agency", "san-luis-obispo", "--mapping"])
            .arg(repo().join("examples/san-luis-obispo.toml"))
            .arg("--policy")
            .arg(&policy)
            .arg("--data-dir")
            .arg(&scrubbed)
            .arg(repo().join(SLO_CSV))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let narratives = count_narratives(scrubbed).await.join("\n");
        assert!(narratives.lines().count() > 10_000, "{}", narratives.lines().count());

        // What must not survive: plates, and the names written as LAST,FIRST in arrest and
        // citation records.
        let raw = std::fs::read_to_string(repo().join(SLO_CSV)).unwrap();
        let plate = Regex::new(r"\b(?:L|ID)/[0-9][A-Z0-9]{4,7}\b").unwrap();
        let person = Regex::new(r"\b(?:CITE|AP)/\s*([A-Z][A-Z'-]{2,}\s*,\s*[A-Z][A-Z'-]{2,})").unwrap();
        let plates: HashSet<&str> = plate.find_iter(&raw).map(|m| m.as_str()).collect();
        let people: HashSet<&str> = person.captures_iter(&raw).map(|c| c.get(1).unwrap().as_str()).collect();
        assert!(plates.len() > 100 && people.len() > 100, "{} plates, {} people", plates.len(), people.len());
        for needle in plates.iter().chain(&people) {
            assert!(!narratives.contains(needle), "{needle:?} survived scrubbing");
        }
        assert!(narratives.contains("[PLATE]") && narratives.contains("[NAME]") && narratives.contains("[DATE]"));
    }
}

porchlight_db::test_on_both! {
    #[tokio::test]
    /// A policy's retention: incidents older than it are deleted, with their alerts, by the
    /// running server; the public counts of withheld calls stay.
    async fn incidents_past_the_retention_are_deleted(backend) {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let _db = database(backend, &data).await;
        let calls = dir.path().join("calls.csv");
        std::fs::write(&calls, CALLS).unwrap();
        import(&data, "milwaukee", "examples/milwaukee.toml", &calls);
        let policy = dir.path().join("retention.toml");
        let default = std::fs::read_to_string(repo().join("examples/policies/default.toml")).unwrap();
        std::fs::write(&policy, default.replace("# retention_days = 90", "retention_days = 90")).unwrap();

        // Calls from 2018 are long past 90 days; one received three hours ago is not (and is past
        // the ten-minute publication delay whatever Milwaukee's offset from UTC is today).
        let recent = dir.path().join("recent.csv");
        let header = CALLS.lines().next().unwrap();
        let a_while_ago = (chrono::Utc::now() - chrono::Duration::hours(3)).with_timezone(&central_time());
        let row = CALLS
            .lines()
            .nth(4)
            .unwrap()
            .replace("1211378", "9999999")
            .replace("2018-05-01 00:18:31", &a_while_ago.format("%Y-%m-%d %H:%M:%S").to_string());
        std::fs::write(&recent, format!("{header}\n{row}\n")).unwrap();
        import(&data, "milwaukee", "examples/milwaukee.toml", &recent);
        let out = policy_set(&data, "milwaukee", &policy);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

        let server = Server::start(&data);
        let wait = async {
            loop {
                let page: Value =
                    reqwest::get(format!("{}/v1/incidents", server.url)).await.unwrap().json().await.unwrap();
                if page["incidents"].as_array().unwrap().len() <= 1 {
                    break page;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        let listed = tokio::time::timeout(Duration::from_secs(20), wait)
            .await
            .expect("expired incidents were not deleted");
        let locations: Vec<&str> = location_texts(&listed);
        assert_eq!(locations, ["5200 block of N 38th St"]);
        let withheld: Value = reqwest::get(format!("{}/v1/agencies/milwaukee/withheld", server.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(withheld["total"], 1);
    }
}

porchlight_db::test_on_both! {
    #[tokio::test]
    /// Retention reaches all that was made of an incident: its alerts, their deliveries and
    /// the delivery log go with it. The transparency log is never cut: it only grows (by the
    /// policy change, here).
    async fn retention_takes_alerts_and_delivery_logs_but_never_the_transparency_log(backend) {
        use crate::common::eventually;
        let (dir, data, _db) = milwaukee_without_calls(backend).await;
        let server = Server::start(&data);
        let http = reqwest::Client::new();
        let id =
            subscribe(&http, &server.url, json!({"lat": 43.1128, "lon": -87.9567, "radius_m": 3000, "categories": []}))
                .await;
        let hook = http
            .post(format!("{}/v1/subscriptions/{id}/channels", server.url))
            .json(&json!({"kind": "webhook", "url": "http://127.0.0.1:9/hook"}))
            .send()
            .await
            .unwrap();
        assert_eq!(hook.status(), 201);
        // Calls from 2018, stored by another process; the server makes alerts of them and
        // tries to deliver each (to a port where nobody listens).
        let calls = dir.path().join("calls.csv");
        std::fs::write(&calls, CALLS).unwrap();
        import(&data, "milwaukee", "examples/milwaukee.toml", &calls);
        let (alerts, deliveries) = (
            format!("{}/v1/subscriptions/{id}/alerts", server.url),
            format!("{}/v1/subscriptions/{id}/deliveries", server.url),
        );
        let count = |url: String, key: &'static str| {
            let http = http.clone();
            async move { get_json(&http, url).await[key].as_array().unwrap().len() }
        };
        eventually(30, "alerts and a delivery attempt", || {
            let (a, d) = (count(alerts.clone(), "alerts"), count(deliveries.clone(), "deliveries"));
            async move { (a.await >= 2 && d.await >= 1).then_some(()) }
        })
        .await;
        let size = |url: String| {
            let http = http.clone();
            async move {
                let head: Value = http.get(format!("{url}/v1/log/get-sth")).send().await.ok()?.json().await.ok()?;
                head["tree_size"].as_u64()
            }
        };
        let url = server.url.clone();
        let before = eventually(20, "a signed log head", || size(url.clone())).await;
        drop(server);

        let policy = dir.path().join("retention.toml");
        let default = std::fs::read_to_string(repo().join("examples/policies/default.toml")).unwrap();
        std::fs::write(&policy, default.replace("# retention_days = 90", "retention_days = 90")).unwrap();
        let out = policy_set(&data, "milwaukee", &policy);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let server = Server::start(&data);
        let (alerts, deliveries) = (alerts.replace(&url, &server.url), deliveries.replace(&url, &server.url));
        eventually(30, "the 2018 calls, their alerts and deliveries deleted", || {
            let (a, d) = (count(alerts.clone(), "alerts"), count(deliveries.clone(), "deliveries"));
            async move { (a.await == 0 && d.await == 0).then_some(()) }
        })
        .await;
        let mut conn = store_connection(&data).await;
        for table in ["incidents", "incident_versions", "outbox", "alerts", "deliveries", "delivery_attempts"] {
            let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(&mut conn)
                .await
                .unwrap();
            assert_eq!(n, 0, "{table} still holds rows of expired calls");
        }
        let url = server.url.clone();
        let after = eventually(20, "the log to take the policy change", || {
            let size = size(url.clone());
            async move { size.await.filter(|s| *s > before) }
        })
        .await;
        assert!(after > before, "the transparency log only grows: {before} then {after}");
    }
}

/// Central Standard Time; in summer Milwaukee is an hour off it, which the test's margin covers.
fn central_time() -> chrono::FixedOffset {
    chrono::FixedOffset::west_opt(6 * 3600).unwrap()
}

/// The location texts of an incident list, in its order.
fn location_texts(list: &Value) -> Vec<&str> {
    list["incidents"].as_array().unwrap().iter().map(|i| i["location"]["text"].as_str().unwrap()).collect()
}

/// `porchlight policy set` for an agency in a data folder.
fn policy_set(data: &Path, agency: &str, policy: &Path) -> Output {
    porchlight_at(data)
        .args(["policy", "set", "--agency", agency, "--approved-by", "Chief of Police", "--data-dir"])
        .arg(data)
        .arg(policy)
        .output()
        .unwrap()
}

/// A data folder in a fresh temporary folder, with Milwaukee registered (its mapping stored)
/// and no calls yet.
async fn signed_push(url: &str, secret: &[u8], timestamp: i64, body: &str) -> reqwest::Response {
    signed_push_as(&format!("{url}/v1/agencies/milwaukee/calls"), "application/json", secret, timestamp, body)
        .await
}

porchlight_db::test_on_both! {
    #[tokio::test]
    /// A dispatch centre pushes signed records; each gets its own answer, a repeat is stored once,
    /// the subscriber is alerted, and keys rotate with two live at a time.
    async fn a_dispatch_centre_pushes_signed_calls(backend) {
        let (_dir, data, _db) = milwaukee_without_calls(backend).await;
        let first = new_push_key(&data);

        let server = Server::start(&data);
        let http = reqwest::Client::new();
        let id = subscribe_near_35th_st(&http, &server.url).await;
        let now = chrono::Utc::now().timestamp();
        let body = json!({"records": [
            {"incident_id": "1211372", "received_at": "2018-05-01T00:10:28-05:00", "call_type": "TRBL W/SUBJ",
             "status": "Unable to Locate Complainant", "address": "5237 N 35TH ST,MKE",
             "latitude": 43.1127987, "longitude": -87.9567415, "narrative": "CALLER JOHN SMITH 414-555-0142"},
            {"incident_id": "1212185", "received_at": "2018-05-01T09:30:22-05:00", "call_type": "BATTERY DV",
             "address": "5342 N 34TH ST,MKE"},
            {"incident_id": "1211378", "received_at": "May 1st", "call_type": "PROPERTY DAMAGE", "address": "5262 N 38TH ST"},
            42
        ]})
        .to_string();
        let answer = signed_push(&server.url, &first, now, &body).await;
        assert_eq!(answer.status(), 200);
        let answer: Value = answer.json().await.unwrap();
        let outcomes: Vec<(&str, Option<&str>)> = answer["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["outcome"].as_str().unwrap(), r["reason"].as_str()))
            .collect();
        assert_eq!(outcomes[0], ("published", None));
        assert_eq!(outcomes[1], ("withheld", Some("category:domestic_violence")));
        assert_eq!(outcomes[2].0, "rejected");
        assert!(outcomes[2].1.unwrap().starts_with("received_at"), "{outcomes:?}");
        assert_eq!(outcomes[3].0, "rejected");
        assert_eq!((answer["accepted"].as_u64(), answer["rejected"].as_u64()), (Some(2), Some(2)));

        // The same push again stores nothing new.
        let again: Value = signed_push(&server.url, &first, now, &body).await.json().await.unwrap();
        assert_eq!(again["records"][0]["outcome"], "unchanged");
        assert_eq!(again["records"][0]["incident_id"], answer["records"][0]["incident_id"]);

        // The subscriber hears of it once, at the block, and no narrative is published by default.
        let alerts = loop {
            let listed = alerts_of(&http, &server.url, &id).await;
            if !listed["alerts"].as_array().unwrap().is_empty() {
                break listed["alerts"].as_array().unwrap().clone();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0]["incident"]["location"]["text"], "5200 block of N 35th St");
        assert_eq!(alerts[0]["incident"]["narrative"], Value::Null);

        // Signatures: wrong key, altered body, stale time, none.
        let code = |r: Value| r["error"]["code"].as_str().unwrap().to_owned();
        let wrong = signed_push(&server.url, b"not the key", now, &body).await;
        assert_eq!(wrong.status(), 401);
        assert_eq!(code(wrong.json().await.unwrap()), "invalid_signature");
        let stale = signed_push(&server.url, &first, now - 600, &body).await;
        assert_eq!(code(stale.json().await.unwrap()), "stale_timestamp");
        let unsigned = http
            .post(format!("{}/v1/agencies/milwaukee/calls", server.url))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(code(unsigned.json().await.unwrap()), "missing_signature");

        // Rotation: a second key and the first both work; a third retires the first.
        let second = new_push_key(&data);
        assert_eq!(signed_push(&server.url, &first, now, &body).await.status(), 200);
        assert_eq!(signed_push(&server.url, &second, now, &body).await.status(), 200);
        let third = new_push_key(&data);
        assert_eq!(signed_push(&server.url, &first, now, &body).await.status(), 401);
        assert_eq!(signed_push(&server.url, &second, now, &body).await.status(), 200);
        assert_eq!(signed_push(&server.url, &third, now, &body).await.status(), 200);
    }
}

/// The PIDF-LO location of an EIDO: a civic address and a point.
const PIDF_LO: &str = r#"<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10" xmlns:ca="urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr" xmlns:gml="http://www.opengis.net/gml" entity="pres:cad@mke.example"><tuple id="t"><status><gp:geopriv><gp:location-info><ca:civicAddress><ca:country>US</ca:country><ca:A1>WI</ca:A1><ca:HNO>5237</ca:HNO><ca:PRD>N</ca:PRD><ca:RD>35TH</ca:RD><ca:STS>ST</ca:STS></ca:civicAddress><gml:Point srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>43.1127987 -87.9567415</gml:pos></gml:Point></gp:location-info></gp:geopriv></status></tuple></presence>"#;

fn eido(tracking_id: &str, statuses: &[&str]) -> Value {
    json!({
        "eidoMessageIdentifier": format!("urn:emergency:uid:eidomessageid:{}:cad.mke.example", statuses.len()),
        "lastUpdateTimeStamp": "2018-05-01T00:40:00-05:00",
        "incidentComponent": {
            "incidentTrackingIdentifier": tracking_id,
            "incidentTypeCommonRegistryText": "Law Enforcement",
            "incidentTypeInternalCode": "TRBL W/SUBJ",
            "incidentStatusCommonRegistryText": statuses,
            "locationReference": {"$ref": "loc-1"}
        },
        "callComponent": [{"callStartTimestamp": "2018-05-01T00:10:28-05:00"}],
        "locationComponent": [{"$id": "loc-1", "locationTypeDescriptionRegistryText": "CurrentIncident", "locationByValue": PIDF_LO}],
        "personComponent": [{"personNameText": "Jane Roe"}]
    })
}

porchlight_db::test_on_both! {
    #[tokio::test]
    /// The same endpoint takes records in the agency's own field names (read through its mapping
    /// file) and NENA EIDOs; each record still gets its own answer.
    async fn pushes_in_the_agencys_own_fields_and_as_eido(backend) {
        let (_dir, data, _db) = milwaukee_without_calls(backend).await;
        let key = new_push_key(&data);
        let server = Server::start(&data);
        let http = reqwest::Client::new();
        let now = chrono::Utc::now().timestamp();
        let outcomes = |answer: &Value| -> Vec<(String, String)> {
            answer["records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    (r["outcome"].as_str().unwrap().to_owned(), r["reason"].as_str().unwrap_or("").to_owned())
                })
                .collect()
        };

        // Milwaukee's own columns, as its CSV names them.
        let mapped = json!([
            {"id": "1211378", "time": "2018-05-01 00:18:31", "location": "5262 N 38TH ST,MKE", "latitude": "43.1133303",
             "longitude": "-87.9597934", "district": "4", "nature": "PROPERTY DAMAGE", "status": "Service in Progress"},
            {"id": "1211379", "time": "yesterday", "location": "5262 N 38TH ST,MKE", "nature": "PROPERTY DAMAGE"}
        ])
        .to_string();
        let endpoint = format!("{}/v1/agencies/milwaukee/calls", server.url);
        let answer: Value =
            signed_push_as(&format!("{endpoint}?format=mapping"), "application/json", &key, now, &mapped)
                .await
                .json()
                .await
                .unwrap();
        let got = outcomes(&answer);
        assert_eq!(got[0], ("published".to_owned(), String::new()));
        assert_eq!(got[1].0, "rejected");
        assert!(got[1].1.starts_with("time: bad_time: cannot read \"yesterday\""), "{got:?}");
        let incident = get_json(
            &http,
            format!("{}/v1/incidents/{}", server.url, answer["records"][0]["incident_id"].as_str().unwrap()),
        )
        .await;
        assert_eq!(incident["location"]["text"], "5200 block of N 38th St");

        // EIDOs, by their registered content type: a new incident, a repeat, a new status, and one
        // without its tracking identifier.
        let eidos = json!([
            eido("urn:emergency:uid:incidentid:1211372:cad.mke.example", &["Dispatched"]),
            eido("urn:emergency:uid:incidentid:1211372:cad.mke.example", &["Dispatched"]),
            eido("urn:emergency:uid:incidentid:1211372:cad.mke.example", &["Dispatched", "Closed"]),
            {"incidentComponent": {"incidentTypeCommonRegistryText": "Law Enforcement"}}
        ])
        .to_string();
        let answer =
            signed_push_as(&endpoint, "application/emergencyCallData.eido+json", &key, now, &eidos).await;
        assert_eq!(answer.status(), 200);
        let answer: Value = answer.json().await.unwrap();
        let got = outcomes(&answer);
        let kinds: Vec<&str> = got.iter().map(|(o, _)| o.as_str()).collect();
        assert_eq!(kinds, ["published", "unchanged", "updated", "rejected"]);
        assert_eq!(got[3].1, "incidentComponent.incidentTrackingIdentifier: missing");
        let id = answer["records"][0]["incident_id"].as_str().unwrap();
        let incident = get_json(&http, format!("{}/v1/incidents/{id}", server.url)).await;
        assert_eq!(incident["location"]["text"], "5200 block of N 35th St");
        assert_eq!((incident["status"].as_str(), incident["version"].as_u64()), (Some("Closed"), Some(2)));
        assert_eq!(incident["call_type"], "TRBL W/SUBJ");
        assert!(!incident.to_string().contains("Jane Roe"));
        let bad_format =
            signed_push_as(&format!("{endpoint}?format=xml"), "application/json", &key, now, &eidos).await;
        assert_eq!(bad_format.status(), 400);
    }
}

porchlight_db::test_on_both! {
    #[tokio::test]
    /// Dallas sends one row per responding unit. With a policy that publishes units, the rows of one
    /// call become one incident at one version listing every unit; a later snapshot that adds no
    /// unit changes nothing, and by default no unit is published at all.
    async fn one_row_per_unit_becomes_one_incident_with_its_units(backend) {
        let dir = tempfile::tempdir().unwrap();
        let policy = dir.path().join("units.toml");
        let default = std::fs::read_to_string(repo().join("examples/policies/default.toml")).unwrap();
        std::fs::write(&policy, default.replace("units = \"drop\"", "units = \"publish\"")).unwrap();
        let data = dir.path().join("data");
        let _db = database(backend, &data).await;
        let out = porchlight_at(&data)
            .args(["import", "--format", "json", "--agency", "dallas", "--mapping"])
            .arg(repo().join("examples/dallas.toml"))
            .arg("--policy")
            .arg(&policy)
            .arg("--data-dir")
            .arg(&data)
            .arg(repo().join("examples/data/dallas-active-calls/are8-xahz.csv"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let s = summary(&out);
        // 63 rows: 11 calls have 2 to 4 units each, 29 rows for 11 calls: 18 rows merged.
        assert_eq!(s["rows"], 63);
        assert_eq!((s["published"].as_u64(), s["units_merged"].as_u64()), (Some(41), Some(18)), "{s:#}");
        assert_eq!(s["updated"], 0);

        let server = Server::start(&data);
        let http = reqwest::Client::new();
        let listed = get_json(&http, format!("{}/v1/incidents?agency=dallas&limit=1000", server.url)).await;
        let marfa = listed["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["location"]["text"] == "2500 block of Marfa Ave")
            .expect("the Marfa Ave call");
        assert_eq!(marfa["units"], json!(["D723", "B732", "B715", "D714"]));
        assert_eq!(marfa["version"], 1);
        let solo = listed["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["location"]["text"] == "3000 block of E Illinois Ave");
        assert_eq!(solo.unwrap()["units"], json!(["B791"]));
        drop(server);

        // Without the policy's say-so, units stay unpublished.
        let other = dir.path().join("default");
        import(
            &other,
            "dallas",
            "examples/dallas.toml",
            &repo().join("examples/data/dallas-active-calls/are8-xahz.csv"),
        );
        let server = Server::start(&other);
        let listed = get_json(&http, format!("{}/v1/incidents?agency=dallas&limit=1000", server.url)).await;
        assert!(listed["incidents"].as_array().unwrap().iter().all(|i| i["units"] == json!([])));
    }
}

porchlight_db::test_on_both! {
    #[tokio::test]
    /// A resident who chooses nothing gets the quiet default: over a whole day of real Milwaukee
    /// calls, only the high-severity violence, weapons, fire and hazard calls within 500 m of
    /// them, each once, against everything the same day's calls would have sent them.
    async fn the_quiet_default_hears_only_what_it_should_over_a_whole_day(backend) {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let _db = database(backend, &data).await;
        let milwaukee = std::fs::read_to_string(repo().join(MILWAUKEE_CSV)).unwrap();
        let mut day = String::new();
        for (i, line) in milwaukee.lines().enumerate() {
            if i == 0 || line.split(',').nth(1).is_some_and(|t| t.starts_with("2018-05-01")) {
                day.push_str(line);
                day.push('\n');
            }
        }
        let day_file = dir.path().join("2018-05-01.csv");
        std::fs::write(&day_file, &day).unwrap();
        let empty = dir.path().join("empty.csv");
        std::fs::write(&empty, CALLS.lines().next().unwrap()).unwrap();
        import(&data, "milwaukee", "examples/milwaukee.toml", &empty);
        let server = Server::start(&data);
        let http = reqwest::Client::new();
        // On Milwaukee's near north side; no categories, no radius, no floor: the quiet default.
        let (lat, lon) = (43.0615, -87.9370);
        let created = create_subscription(&http, &server.url, json!({"lat": lat, "lon": lon})).await;
        assert_eq!(created["categories"], json!(["violent", "weapons", "fire", "hazard"]));
        assert_eq!((created["radius_m"].as_f64(), created["min_severity"].as_str()), (Some(500.0), Some("high")));
        let id = created["id"].as_str().unwrap();
        let s = summary(&import(&data, "milwaukee", "examples/milwaukee.toml", &day_file));
        assert_eq!(s["rows"], 1901);

        // What it should hear, worked out from the published incidents themselves.
        let here = porchlight_core::geo::Point::new(lat, lon).unwrap();
        let nearby =
            get_json(&http, format!("{}/v1/incidents?bbox=-87.955,43.045,-87.919,43.078&limit=1000", server.url))
                .await;
        let mut everything_within_1km = 0;
        let mut expected: Vec<String> = Vec::new();
        for i in nearby["incidents"].as_array().unwrap() {
            let Some(p) = i["point"].as_object() else { continue };
            let at =
                porchlight_core::geo::Point::new(p["lat"].as_f64().unwrap(), p["lon"].as_f64().unwrap()).unwrap();
            let category = i["category"].as_str().unwrap();
            let alertable = !["other", "administrative"].contains(&category);
            if alertable && here.distance_m(at) <= 1000.0 {
                everything_within_1km += 1;
            }
            if ["violent", "weapons", "fire", "hazard"].contains(&category) && here.distance_m(at) <= 500.0 {
                expected.push(i["id"].as_str().unwrap().to_owned());
            }
        }
        expected.sort();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let got = loop {
            let listed = alerts_of(&http, &server.url, id).await;
            let alerts = listed["alerts"].as_array().unwrap().clone();
            if alerts.len() >= expected.len() || std::time::Instant::now() > deadline {
                // A moment more, to see that nothing else arrives.
                tokio::time::sleep(Duration::from_millis(1500)).await;
                break alerts_of(&http, &server.url, id).await["alerts"].as_array().unwrap().clone();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let mut got_ids: Vec<String> =
            got.iter().map(|a| a["incident"]["id"].as_str().unwrap().to_owned()).collect();
        got_ids.sort();
        assert_eq!(got_ids, expected);
        assert!(got.iter().all(|a| a["kind"] == "new"));
        // The counts on this real day: 2 alerts, where "everything within 1 km" would have sent 32.
        assert_eq!((got.len(), everything_within_1km), (2, 32));
    }
}

/// `porchlight alerts volume` on Milwaukee's busiest day: the quiet default sends a resident
/// about one alert a day where "everything within 1 km" sends two dozen.
#[test]
fn the_alert_volume_report_shows_the_default_is_calm() {
    let out = porchlight()
        .args(["alerts", "volume", "--json", "--mapping"])
        .arg(repo().join("examples/milwaukee.toml"))
        .arg(repo().join(MILWAUKEE_CSV))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["day"].as_str(), v["published_that_day"].as_u64(), v["residents"].as_u64()),
        (Some("2018-05-01"), Some(1054), Some(173))
    );
    let sums: Vec<u64> = v["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["by_category"].as_object().unwrap().values().map(|n| n.as_u64().unwrap()).sum())
        .collect();
    // Alerts over all 173 residents: 194 with the quiet default, 4,104 with everything in 1 km.
    assert_eq!(sums, [194, 4104]);
    assert_eq!(v["profiles"][0]["silent_residents"], 72);
}

porchlight_db::test_on_both! {
    #[tokio::test]
    /// Quiet hours, a daily budget and digest-only mode hold alerts for the digest instead of
    /// sending them live; the digest lists what was held.
    async fn quiet_hours_and_budgets_move_alerts_to_the_digest(backend) {
        let (_dir, data, _db) = milwaukee_without_calls(backend).await;
        let server = Server::start(&data);
        let http = reqwest::Client::new();
        let now = chrono::Utc::now();
        let quiet = [
            (now - chrono::Duration::hours(1)).format("%H:%M").to_string(),
            (now + chrono::Duration::hours(1)).format("%H:%M").to_string(),
        ];
        let mut ids = Vec::new();
        for pacing in [
            json!({"daily_budget": 2}),
            json!({"time_zone": "UTC", "quiet_hours": quiet}),
            json!({"digest_only": true, "digest_every": "weekly", "digest_hour": 18}),
        ] {
            let body =
                json!({"lat": 43.1128, "lon": -87.9567, "radius_m": 900, "categories": [], "pacing": pacing});
            ids.push(subscribe(&http, &server.url, body).await);
        }
        let budget_stream =
            http.get(format!("{}/v1/subscriptions/{}/alerts/stream", server.url, ids[0])).send().await.unwrap();
        let calls = _dir.path().join("calls.csv");
        std::fs::write(&calls, CALLS).unwrap();
        import(&data, "milwaukee", "examples/milwaukee.toml", &calls);

        let deliveries = |listed: &Value| -> Vec<String> {
            listed["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["delivery"].as_str().unwrap().to_owned())
                .collect()
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut got = Vec::new();
        for id in &ids {
            loop {
                let listed = alerts_of(&http, &server.url, id).await;
                if listed["alerts"].as_array().unwrap().len() == 3 {
                    got.push(deliveries(&listed));
                    break;
                }
                assert!(std::time::Instant::now() < deadline, "alerts never came: {listed}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        assert_eq!(got[0], ["live", "live", "digest"], "a budget of 2 a day");
        assert_eq!(got[1], ["digest", "digest", "digest"], "quiet hours {quiet:?}");
        assert_eq!(got[2], ["digest", "digest", "digest"], "digest only");
        // The live stream carries only the live ones.
        let live = read_events(budget_stream, 2).await;
        assert!(live.iter().all(|a| a["delivery"] == "live"));

        // The digest still filling holds what was held back, counted by category.
        let digest =
            get_json(&http, format!("{}/v1/subscriptions/{}/digest?period=current", server.url, ids[1])).await;
        assert_eq!(digest["total"], 3);
        assert_eq!(digest["by_category"], json!({"disorder": 1, "property": 1, "traffic": 1}));
        assert_eq!(digest["closed"], false);
        let budget_digest =
            get_json(&http, format!("{}/v1/subscriptions/{}/digest?period=current", server.url, ids[0])).await;
        assert_eq!(budget_digest["total"], 1);
        // The last closed weekly digest (Mondays at 18:00 UTC) ended before these alerts were made.
        let last = get_json(&http, format!("{}/v1/subscriptions/{}/digest", server.url, ids[2])).await;
        assert_eq!(last["total"], 0);
        let (from, to) = (last["from"].as_str().unwrap(), last["to"].as_str().unwrap());
        let span = chrono::DateTime::parse_from_rfc3339(to).unwrap()
            - chrono::DateTime::parse_from_rfc3339(from).unwrap();
        assert_eq!(span, chrono::Duration::days(7));
        // A pacing that makes no sense is refused, naming the field.
        let bad = http
            .post(format!("{}/v1/subscriptions", server.url))
            .json(&json!({"lat": 43.1, "lon": -87.9, "pacing": {"quiet_hours": ["late", "early"]}}))
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 400);
        let body: Value = bad.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_pacing");
        assert!(body["error"]["message"].as_str().unwrap().starts_with("pacing.quiet_hours"));
    }
}

/// Subscribe with `body`, import the rows of [`CALLS`], and wait until the subscriber has been
/// alerted of exactly the published incidents whose generalized point (latitude, longitude)
/// `inside` accepts. Returns the subscription as created and its alerts.
async fn alerted_exactly_inside(
    server: &Server,
    dir: &Path,
    data: &Path,
    body: Value,
    inside: impl Fn(f64, f64) -> bool,
) -> (Value, Vec<Value>) {
    let http = reqwest::Client::new();
    let created = create_subscription(&http, &server.url, body).await;
    let id = created["id"].as_str().unwrap_or_else(|| panic!("{created}")).to_owned();
    let calls = dir.join("calls.csv");
    std::fs::write(&calls, CALLS).unwrap();
    import(data, "milwaukee", "examples/milwaukee.toml", &calls);
    let all = get_json(&http, format!("{}/v1/incidents", server.url)).await;
    let mut expected: Vec<String> = all["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| inside(i["point"]["lat"].as_f64().unwrap(), i["point"]["lon"].as_f64().unwrap()))
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    expected.sort();
    assert!(!expected.is_empty());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let alerts = alerts_of(&http, &server.url, &id).await["alerts"].as_array().unwrap().clone();
        let mut got: Vec<String> =
            alerts.iter().map(|a| a["incident"]["id"].as_str().unwrap().to_owned()).collect();
        got.sort();
        if got == expected {
            return (created, alerts);
        }
        assert!(
            got.len() <= expected.len() && std::time::Instant::now() < deadline,
            "{got:?} against {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

porchlight_db::test_on_both! {
    #[tokio::test]
    /// Private mode: the subscriber sends coarse cells, never a point; the server matches on the
    /// cells and stores no point, and the alerts carry only generalized points for the client to
    /// filter against the exact area it keeps.
    async fn private_mode_stores_cells_not_a_point(backend) {
        let (dir, data, _db) = milwaukee_without_calls(backend).await;
        let server = Server::start(&data);
        let resolution = porchlight_core::subscription::FINEST_PRIVATE_RESOLUTION;
        let cell = porchlight_core::geo::Point::new(43.1128, -87.9567).unwrap().cell(resolution);
        let body = json!({"cells": [cell.to_string()], "categories": []});
        let in_cell = |lat, lon| porchlight_core::geo::Point::new(lat, lon).unwrap().cell(resolution) == cell;
        let (created, alerts) = alerted_exactly_inside(&server, dir.path(), &data, body, in_cell).await;
        assert_eq!(created["cells"], json!([cell.to_string()]));
        assert!(created.get("lat").is_none() && created.get("lon").is_none());
        assert!(alerts.iter().all(|a| a["base_rate"]["last_30_days"].as_u64().unwrap() >= 1));
        // The database holds the cell and no point.
        drop(server);
        let mut conn = store_connection(&data).await;
        let row: (f64, f64, f64, String) = sqlx::query_as("SELECT lat, lon, radius_m, cells FROM subscriptions")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(row, (0.0, 0.0, 0.0, format!("[\"{cell}\"]")));
    }
}

porchlight_db::test_on_both! {
    #[tokio::test]
    /// A neighbourhood drawn as a polygon hears about what falls inside it, and nothing outside.
    async fn a_neighbourhood_polygon_hears_what_is_inside_it(backend) {
        let (dir, data, _db) = milwaukee_without_calls(backend).await;
        let server = Server::start(&data);
        // A square of about 1 km around N 35th St and W Villard Av, as GeoJSON orders corners.
        let (west, east, south, north) = (-87.963, -87.951, 43.108, 43.117);
        let body =
            json!({"polygon": [[west, south], [east, south], [east, north], [west, north]], "categories": []});
        let inside = |lat, lon| (west..=east).contains(&lon) && (south..=north).contains(&lat);
        let (created, alerts) = alerted_exactly_inside(&server, dir.path(), &data, body, inside).await;
        assert_eq!(created["polygon"].as_array().unwrap().len(), 5, "{created}");
        // Three of the four published calls are inside; the one on W Hadley St is not.
        assert_eq!(alerts.len(), 3);
        let bad = reqwest::Client::new()
            .post(format!("{}/v1/subscriptions", server.url))
            .json(&json!({"polygon": [[west, south], [east, south]]}))
            .send()
            .await
            .unwrap();
        let body: Value = bad.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_polygon");
    }
}

porchlight_db::test_on_both! {
    #[tokio::test]
    /// A policy without a publication delay cannot be put in force, and a server whose policy
    /// in force has none (edited in the database, or stored before the rule) will not start:
    /// it says which agency and what to do, and publishes nothing (issue 13).
    async fn no_server_starts_on_a_policy_without_a_publication_delay(backend) {
        use sqlx::Connection;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let _db = database(backend, &data).await;
        let small = dir.path().join("small.csv");
        let text = std::fs::read_to_string(repo().join(MILWAUKEE_CSV)).unwrap();
        std::fs::write(&small, text.lines().take(20).collect::<Vec<_>>().join("\n")).unwrap();
        import(&data, "milwaukee", "examples/milwaukee.toml", &small);
        let default = std::fs::read_to_string(repo().join("examples/policies/default.toml")).unwrap();
        let none = dir.path().join("none.toml");
        std::fs::write(&none, default.replace("delay_minutes = 10", "delay_minutes = 0")).unwrap();
        let out = policy_set(&data, "milwaukee", &none);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("publication.delay_minutes"));

        sqlx::any::install_default_drivers();
        let mut conn = match crate::common::database_url(&data) {
            Some(_) => store_connection(&data).await,
            None => sqlx::AnyConnection::connect(&format!("sqlite://{}", data.join("porchlight.db").display()))
                .await
                .unwrap(),
        };
        let edited = sqlx::query(
            "UPDATE policies SET document = REPLACE(document, '\"delay_minutes\":10', '\"delay_minutes\":0')",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        assert_eq!(edited.rows_affected(), 1);
        conn.close().await.unwrap();
        let mut serve = porchlight_at(&data)
            .args(["serve", "--port", "0", "--data-dir"])
            .arg(&data)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while serve.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                serve.kill().unwrap();
                panic!("the server ran on a policy without a publication delay");
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let out = serve.wait_with_output().unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("agency milwaukee") && err.contains("will not start") && err.contains("publication.delay_minutes"),
            "{err}"
        );
        assert!(!String::from_utf8_lossy(&out.stdout).contains("listening on"));
    }
}
