//! The gazetteer (issue 14): St. Louis publishes its calls by block and intersection with no
//! coordinates; with the table of its blocks' points imported, the same calls are placed (at
//! the block, snapped by the policy) and can be matched to residents' areas.

use std::path::Path;

use serde_json::Value;

use crate::common::{Server, get_json, import, porchlight, repo, summary};

const CALLS: &str = "examples/data/stlouis-cfs/cfsraw.csv";
const BLOCKS: &str = "examples/data/stlouis-cfs/location.csv";

fn add_agency(data: &Path) {
    let out = porchlight()
        .args(["agency", "add", "--mapping"])
        .arg(repo().join("examples/st-louis.toml"))
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn import_gazetteer(data: &Path, file: &Path) -> std::process::Output {
    porchlight()
        .args(["gazetteer", "import", "--agency", "st-louis", "--data-dir"])
        .arg(data)
        .arg(file)
        .output()
        .unwrap()
}

/// The points of the table, as (lat, lon).
fn table_points() -> Vec<(f64, f64)> {
    let mut reader = csv::Reader::from_path(repo().join(BLOCKS)).unwrap();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[1].parse().unwrap(), r[2].parse().unwrap())
        })
        .collect()
}

fn metres((a_lat, a_lon): (f64, f64), (b_lat, b_lon): (f64, f64)) -> f64 {
    let (dy, dx) = ((a_lat - b_lat) * 111_195.0, (a_lon - b_lon) * 111_195.0 * a_lat.to_radians().cos());
    (dx * dx + dy * dy).sqrt()
}

#[tokio::test]
async fn calls_without_coordinates_are_placed_by_the_imported_blocks() {
    // Without a gazetteer no St. Louis call has a point.
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("bare");
    let out = import(&bare, "st-louis", "examples/st-louis.toml", &repo().join(CALLS));
    let before = summary(&out);
    assert_eq!(before["placed"]["none"], before["published"], "{before}");
    assert!(before["placed"].get("gazetteer").is_none(), "{before}");

    // The table, with two rows spoiled: each is named by line and column, the rest goes in.
    let data = dir.path().join("data");
    add_agency(&data);
    let text = std::fs::read_to_string(repo().join(BLOCKS)).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[3] = lines[3].replacen(",38.", ",north of 38.", 1);
    lines[5] = "NOT A PLACE,38.6,-90.2,Ward 1,Nowhere,63101".to_owned();
    let spoiled = dir.path().join("blocks.csv");
    std::fs::write(&spoiled, lines.join("\n")).unwrap();
    let out = import_gazetteer(&data, &spoiled);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8(out.stdout).unwrap();
    assert!(said.contains("lat/lng: not_a_number (lines 4)"), "{said}");
    assert!(said.contains("location: not_a_block_or_intersection (lines 6, "), "{said}");
    let entered: usize = said.split("st-louis: ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(entered >= 50, "{said}");
    assert!(!said.contains("BATES"), "locations are not echoed: {said}");

    // The same calls are now placed by the gazetteer, each near its block's point.
    let out = import(&data, "st-louis", "examples/st-louis.toml", &repo().join(CALLS));
    let after = summary(&out);
    assert_eq!(after["published"], before["published"]);
    // 32 of the 48 published calls are on a block or at a corner the table holds (it was made
    // on another day); two of those rows were spoiled above.
    let placed = after["placed"]["gazetteer"].as_u64().unwrap();
    assert_eq!((placed, after["placed"]["none"].as_u64().unwrap()), (30, 18), "{after}");
    let server = Server::start(&data);
    let http = reqwest::Client::new();
    let listed = get_json(&http, format!("{}/v1/incidents?agency=st-louis&limit=1000", server.url)).await;
    let table = table_points();
    let with_points: Vec<&Value> =
        listed["incidents"].as_array().unwrap().iter().filter(|i| !i["point"].is_null()).collect();
    assert_eq!(with_points.len() as u64, placed);
    for incident in listed["incidents"].as_array().unwrap() {
        let expected = if incident["point"].is_null() { Value::Null } else { "gazetteer".into() };
        assert_eq!(incident["placed_by"], expected, "{incident}");
    }
    for incident in with_points {
        let p = (incident["point"]["lat"].as_f64().unwrap(), incident["point"]["lon"].as_f64().unwrap());
        let nearest = table.iter().map(|t| metres(p, *t)).fold(f64::MAX, f64::min);
        assert!(
            nearest < 100.0,
            "{} is {nearest:.0} m from any block of the table",
            incident["location"]["text"]
        );
        // Snapped by the policy: not the table's own point.
        assert!(nearest > 0.01, "{}", incident["location"]["text"]);
    }
}

#[test]
fn feeds_check_says_how_many_rows_without_coordinates_a_gazetteer_would_place() {
    let check = |with: &[&str]| -> Value {
        let out = porchlight()
            .args(["feeds", "check", "--json", "--mapping"])
            .arg(repo().join("examples/st-louis.toml"))
            .args(with)
            .arg(repo().join(CALLS))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let without = check(&[]);
    assert_eq!(without["summary"]["placed"], serde_json::json!({"none": 48}));
    let table = repo().join(BLOCKS);
    let with = check(&["--gazetteer", table.to_str().unwrap()]);
    // Every published St. Louis call comes without coordinates; 32 are on a block or at a corner
    // of the table.
    assert_eq!(with["summary"]["placed"], serde_json::json!({"gazetteer": 32, "none": 16}));
}

#[test]
fn a_mapping_that_learns_places_later_calls_by_blocks_its_own_rows_placed() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo().join("examples/milwaukee.toml")).unwrap();
    let mapping = dir.path().join("milwaukee.toml");
    std::fs::write(&mapping, text.replace("[location]\n", "[location]\nlearn_gazetteer = true\n")).unwrap();
    // Milwaukee's calls without coordinates, on their own.
    let all = std::fs::read_to_string(repo().join(crate::common::MILWAUKEE_CSV)).unwrap();
    let mut reader = csv::Reader::from_reader(all.as_bytes());
    let mut writer = csv::Writer::from_path(dir.path().join("without.csv")).unwrap();
    writer.write_record(reader.headers().unwrap()).unwrap();
    for row in reader.records().map(Result::unwrap).filter(|r| r[3].is_empty() || r[4].is_empty()) {
        writer.write_record(&row).unwrap();
    }
    writer.flush().unwrap();
    let data = dir.path().join("data");
    // `import` joins the mapping to the repository's folder: an absolute path stays as it is.
    let import = |file: &Path| summary(&import(&data, "milwaukee", mapping.to_str().unwrap(), file));
    // The whole month: its calls with coordinates teach the gazetteer their blocks (the policy
    // keeps the calls without coordinates unplaced: nothing was learned when they came).
    let first = import(&repo().join(crate::common::MILWAUKEE_CSV));
    assert_eq!(first["placed"]["none"], 7, "{first}");
    // The same calls without coordinates again: one is on a block the others placed.
    let again = import(&dir.path().join("without.csv"));
    assert_eq!(again["placed"], serde_json::json!({"gazetteer": 1, "none": 6}), "{again}");
    assert_eq!(again["updated"], 1, "{again}");
}

/// A local server answering as Nominatim's `/search` does: a place for questions about `street`,
/// nothing for the rest; it keeps every question.
async fn nominatim(street: &'static str) -> (std::sync::Arc<std::sync::Mutex<Vec<String>>>, String) {
    use axum::{Json, extract::Query, routing::get};
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = asked.clone();
    let search = move |Query(q): Query<std::collections::HashMap<String, String>>| {
        let asked = kept.clone();
        async move {
            assert_eq!((q["format"].as_str(), q["limit"].as_str()), ("jsonv2", "1"));
            let question = q["q"].clone();
            asked.lock().unwrap().push(question.clone());
            Json(if question.contains(street) {
                serde_json::json!([{"place_id": 1, "lat": "38.5942", "lon": "-90.2301", "display_name": question}])
            } else {
                serde_json::json!([])
            })
        }
    };
    let app = axum::Router::new().route("/search", get(search));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (asked, url)
}

#[tokio::test]
async fn a_geocoder_is_asked_only_for_published_blocks_and_corners_and_only_once() {
    let (asked, url) = nominatim("Wyoming St").await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    add_agency(&data);
    assert!(import_gazetteer(&data, &repo().join(BLOCKS)).status.success());
    let run = {
        let (data, url) = (data.clone(), url.clone());
        move || {
            let out = porchlight()
                .args(["import", "--format", "json", "--agency", "st-louis", "--geocoder", &url])
                .args(["--geocoder-interval-ms", "0", "--mapping"])
                .arg(repo().join("examples/st-louis.toml"))
                .arg("--data-dir")
                .arg(&data)
                .arg(repo().join(CALLS))
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            summary(&out)
        }
    };
    let first = tokio::task::spawn_blocking(run.clone()).await.unwrap();
    // The table places 32; of the 16 others the geocoder knows the one on Wyoming St (the
    // other call there is withheld: a domestic disturbance).
    assert_eq!(first["placed"], serde_json::json!({"gazetteer": 32, "geocoder": 1, "none": 15}), "{first}");
    let questions = asked.lock().unwrap().clone();
    assert_eq!(questions.len(), 16, "{questions:?}");
    for q in &questions {
        // A hundred block or two streets, in St. Louis: never a house number.
        let place = q.strip_suffix(", St. Louis, MO").unwrap_or_else(|| panic!("{q}"));
        let first_word = place.split(' ').next().unwrap();
        assert!(place.contains(" & ") || first_word.ends_with("00") || first_word == "0", "{q}");
    }
    // Asked again, nothing is asked: every answer, found or not, was kept.
    let again = tokio::task::spawn_blocking(run).await.unwrap();
    assert_eq!(again["placed"], first["placed"], "{again}");
    assert_eq!(asked.lock().unwrap().len(), 16);
    let server = Server::start(&data);
    let http = reqwest::Client::new();
    let listed = get_json(&http, format!("{}/v1/incidents?agency=st-louis&limit=1000", server.url)).await;
    let geocoded: Vec<&Value> =
        listed["incidents"].as_array().unwrap().iter().filter(|i| i["placed_by"] == "geocoder").collect();
    assert_eq!(geocoded.len(), 1);
    for i in geocoded {
        assert!(i["location"]["text"].as_str().unwrap().contains("Wyoming St"), "{i}");
        let p = (i["point"]["lat"].as_f64().unwrap(), i["point"]["lon"].as_f64().unwrap());
        let d = metres(p, (38.5942, -90.2301));
        assert!(d > 0.01 && d < 100.0, "snapped near the answer: {d:.1} m");
    }
}

#[tokio::test]
async fn calls_pushed_without_coordinates_are_placed_by_the_servers_geocoder() {
    let (asked, url) = nominatim("N 35th St").await;
    let (_dir, data) = crate::common::milwaukee_without_calls();
    let secret = crate::common::new_push_key(&data);
    let server = Server::start_with_env(
        &data,
        &[("PORCHLIGHT_GEOCODER", url.as_str()), ("PORCHLIGHT_GEOCODER_INTERVAL_MS", "0")],
    );
    let body = serde_json::json!({"records": [
        {"incident_id": "9000001", "received_at": "2018-05-01T00:10:28-05:00", "call_type": "TRBL W/SUBJ",
         "address": "5237 N 35TH ST,MKE"},
        {"incident_id": "9000002", "received_at": "2018-05-01T00:12:00-05:00", "call_type": "TRBL W/SUBJ",
         "address": "5300 N 38TH ST,MKE"}
    ]})
    .to_string();
    let endpoint = format!("{}/v1/agencies/milwaukee/calls", server.url);
    let now = chrono::Utc::now().timestamp();
    let answer = crate::common::signed_push_as(&endpoint, "application/json", &secret, now, &body).await;
    assert_eq!(answer.status(), 200);
    let answer: Value = answer.json().await.unwrap();
    let http = reqwest::Client::new();
    let mut placed = Vec::new();
    for record in answer["records"].as_array().unwrap() {
        let id = record["incident_id"].as_str().unwrap();
        let incident = get_json(&http, format!("{}/v1/incidents/{id}", server.url)).await;
        placed.push((incident["location"]["text"].clone(), incident["placed_by"].clone()));
    }
    assert_eq!(
        placed,
        vec![
            ("5200 block of N 35th St".into(), "geocoder".into()),
            ("5300 block of N 38th St".into(), Value::Null)
        ]
    );
    // Asked about the blocks alone, in the mapping's place.
    assert_eq!(
        *asked.lock().unwrap(),
        vec!["5200 N 35th St, Milwaukee, WI".to_owned(), "5300 N 38th St, Milwaukee, WI".to_owned()]
    );
}
