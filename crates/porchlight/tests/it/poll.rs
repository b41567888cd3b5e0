//! Polling open-data portals, black-box: `porchlight serve` against a local HTTP server that
//! answers as Socrata and ArcGIS do (their JSON shapes, paging, limits and error bodies),
//! serving real city rows from `examples/data`. What the poller stores is compared with a file
//! import of the same rows: nothing missed, nothing twice, across a restart.

use std::{
    collections::HashMap,
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crate::common::{MILWAUKEE_CSV, Server, get_json, import, repo, stored_text, summary};
use crate::common::{database, porchlight_at};
use axum::{
    Json, Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
};
use chrono::{NaiveDateTime, TimeZone};
use serde_json::{Map, Value, json};

const DALLAS_SNAPSHOT: &str = "examples/data/dallas-active-calls/are8-xahz.csv";
const DALLAS_EARLIER: &str = "examples/data/dallas-active-calls/sample2.csv";

/// What the fake portal serves and what it was asked.
#[derive(Default)]
struct Portal {
    rows: Vec<Value>,
    requests: Vec<(Instant, HashMap<String, String>, Option<String>)>,
    /// Answers to give before serving rows: a status and a body.
    failures: Vec<(u16, Value)>,
    /// A whole CSV file and its ETag.
    csv: Option<(String, String)>,
    not_modified: usize,
}

type Shared = Arc<Mutex<Portal>>;

fn failure(status: u16, body: Value) -> Response {
    let mut response = (StatusCode::from_u16(status).unwrap(), Json(body)).into_response();
    if status == 429 {
        response.headers_mut().insert("Retry-After", "1".parse().unwrap());
    }
    response
}

/// Socrata's SODA 2.1 resource endpoint: `$select`, `$where` on a field, `$order`, `$limit`,
/// `$offset`; every value a string; null fields left out; errors as `{"code", "error", "message"}`.
async fn socrata(
    State(portal): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut p = portal.lock().unwrap();
    let token = headers.get("X-App-Token").and_then(|v| v.to_str().ok()).map(str::to_owned);
    p.requests.push((Instant::now(), q.clone(), token));
    if !p.failures.is_empty() {
        let (status, body) = p.failures.remove(0);
        return failure(status, body);
    }
    let malformed = |message: &str| {
        failure(400, json!({"code": "query.compiler.malformed", "error": true, "message": message}))
    };
    if q.get("$order").map(String::as_str) != Some(":updated_at, :id") {
        return malformed("Could not parse SoQL query: $order must be given");
    }
    let since = match q.get("$where") {
        None => None,
        Some(w) => match w.strip_prefix(":updated_at >= '").and_then(|r| r.strip_suffix('\'')) {
            Some(since) => Some(since.to_owned()),
            None => return malformed("Could not parse SoQL query \"$where\""),
        },
    };
    let number = |name: &str, default: usize| q.get(name).map_or(Ok(default), |v| v.parse::<usize>());
    let (Ok(limit), Ok(offset)) = (number("$limit", 1000), number("$offset", 0)) else {
        return malformed("$limit and $offset must be numbers");
    };
    let mut rows: Vec<&Value> = p
        .rows
        .iter()
        .filter(|r| since.as_deref().is_none_or(|s| r[":updated_at"].as_str().unwrap() >= s))
        .collect();
    rows.sort_by_key(|r| {
        (r[":updated_at"].as_str().unwrap().to_owned(), r[":id"].as_str().unwrap().to_owned())
    });
    let page: Vec<Value> = rows.into_iter().skip(offset).take(limit).cloned().collect();
    Json(Value::Array(page)).into_response()
}

/// An ArcGIS FeatureServer layer's `query`: `where` (1=1 or a TIMESTAMP comparison),
/// `orderByFields`, `resultOffset`, `resultRecordCount` capped at the layer's maxRecordCount
/// with `exceededTransferLimit`, `f=json` or `f=geojson`; errors in a 200 answer's body.
async fn arcgis(State(portal): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    const MAX_RECORD_COUNT: usize = 100;
    let mut p = portal.lock().unwrap();
    p.requests.push((Instant::now(), q.clone(), None));
    if !p.failures.is_empty() {
        let (status, body) = p.failures.remove(0);
        return failure(status, body);
    }
    let invalid = |detail: &str| {
        Json(json!({"error": {"code": 400, "message": "Invalid or missing input parameters.", "details": [detail]}}))
            .into_response()
    };
    let since_ms = match q.get("where").map(String::as_str) {
        Some("1=1") => i64::MIN,
        Some(w) => match w.strip_prefix("CallTime >= TIMESTAMP '").and_then(|r| r.strip_suffix('\'')) {
            Some(t) => match NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S") {
                Ok(t) => t.and_utc().timestamp_millis(),
                Err(_) => return invalid("'where' parameter is invalid"),
            },
            None => return invalid("'where' parameter is invalid"),
        },
        None => return invalid("'where' parameter is required"),
    };
    if q.get("orderByFields").map(String::as_str) != Some("CallTime ASC, OBJECTID ASC")
        || q.get("outSR").map(String::as_str) != Some("4326")
    {
        return invalid("'orderByFields' and 'outSR' were expected");
    }
    let offset: usize = q.get("resultOffset").and_then(|v| v.parse().ok()).unwrap_or(0);
    let count: usize = q
        .get("resultRecordCount")
        .and_then(|v| v.parse().ok())
        .unwrap_or(MAX_RECORD_COUNT)
        .min(MAX_RECORD_COUNT);
    let mut rows: Vec<&Value> =
        p.rows.iter().filter(|r| r["attributes"]["CallTime"].as_i64().unwrap() >= since_ms).collect();
    rows.sort_by_key(|r| {
        (r["attributes"]["CallTime"].as_i64().unwrap(), r["attributes"]["OBJECTID"].as_i64().unwrap())
    });
    let exceeded = rows.len() > offset + count;
    let page: Vec<&Value> = rows.into_iter().skip(offset).take(count).collect();
    match q.get("f").map(String::as_str) {
        Some("json") => Json(json!({
            "objectIdFieldName": "OBJECTID",
            "geometryType": "esriGeometryPoint",
            "spatialReference": {"wkid": 4326, "latestWkid": 4326},
            "fields": [{"name": "OBJECTID", "type": "esriFieldTypeOID"}, {"name": "CallTime", "type": "esriFieldTypeDate"}],
            "features": page,
            "exceededTransferLimit": exceeded,
        }))
        .into_response(),
        Some("geojson") => {
            let features: Vec<Value> = page
                .iter()
                .map(|f| {
                    let geometry = f.get("geometry").map_or(Value::Null, |g| json!({"type": "Point", "coordinates": [g["x"], g["y"]]}));
                    json!({"type": "Feature", "id": f["attributes"]["OBJECTID"], "geometry": geometry, "properties": f["attributes"]})
                })
                .collect();
            let mut body = json!({"type": "FeatureCollection", "features": features});
            if exceeded {
                body["properties"] = json!({"exceededTransferLimit": true});
            }
            Json(body).into_response()
        }
        _ => invalid("'f' parameter is invalid"),
    }
}

/// A plain CSV file on a web server: ETag, and 304 Not Modified for If-None-Match.
async fn csv_file(State(portal): State<Shared>, headers: HeaderMap) -> Response {
    let mut p = portal.lock().unwrap();
    p.requests.push((Instant::now(), HashMap::new(), None));
    let (etag, body) = p.csv.clone().expect("a file to serve");
    if headers.get("If-None-Match").and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        p.not_modified += 1;
        return StatusCode::NOT_MODIFIED.into_response();
    }
    ([("ETag", etag), ("Content-Type", "text/csv".to_owned())], body).into_response()
}

async fn start_portal(portal: Shared) -> String {
    let app = Router::new()
        .route("/calls.csv", get(csv_file))
        .route("/resource/are8-xahz.json", get(socrata))
        .route("/arcgis/rest/services/CFS/FeatureServer/0/query", get(arcgis))
        .with_state(portal);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// Dallas rows as Socrata gives them: strings, nulls left out, with `:id` and `:updated_at`.
fn socrata_rows(file: &str, first_id: usize, updated_at: &str) -> Vec<Value> {
    let mut reader = csv::Reader::from_path(repo().join(file)).unwrap();
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .enumerate()
        .map(|(i, r)| {
            let r = r.unwrap();
            let mut row = Map::new();
            row.insert(":id".into(), json!(format!("row-{:05}", first_id + i)));
            row.insert(":updated_at".into(), json!(updated_at));
            for (name, value) in headers.iter().zip(r.iter()) {
                if !value.is_empty() {
                    row.insert(name.into(), json!(value));
                }
            }
            Value::Object(row)
        })
        .collect()
}

/// Write `mapping` with its `[source]` URL pointed at the local portal.
fn mapping_for(dir: &Path, text: &str, url: &str) -> std::path::PathBuf {
    let url_line = regex::Regex::new(r#"(?m)^url = ".*"$"#).unwrap();
    let text = url_line
        .replace(text, format!("url = \"{url}\"").as_str())
        .replace("every_seconds = 120", "every_seconds = 1");
    let path = dir.join("mapping.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn agency_add(data: &Path, mapping: &Path) {
    let out = porchlight_at(data)
        .args(["agency", "add", "--mapping"])
        .arg(mapping)
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Poll the feed state until `done` says so.
async fn wait_for_feed(
    http: &reqwest::Client,
    url: &str,
    agency: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let feed = get_json(http, format!("{url}/v1/agencies/{agency}/feed")).await;
        if done(&feed) {
            return feed;
        }
        assert!(Instant::now() < deadline, "feed never got there: {feed:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The outcome counts of a file import, to compare a poller's totals with.
fn imported(files: &[&str], agency: &str, mapping: &str) -> (u64, u64, u64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let (mut published, mut withheld, mut rejected, mut rows) = (0, 0, 0, 0);
    for file in files {
        let s = summary(&import(dir.path(), agency, mapping, &repo().join(file)));
        published += s["published"].as_u64().unwrap();
        withheld += s["withheld"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum::<u64>();
        rejected +=
            s["rejected"].as_object().unwrap().values().map(|v| v["count"].as_u64().unwrap()).sum::<u64>();
        rows += s["rows"].as_u64().unwrap();
    }
    (rows, published, withheld, rejected)
}

fn totals(feed: &Value) -> (u64, u64, u64, u64) {
    let t = &feed["state"]["totals"];
    let n = |k: &str| t[k].as_u64().unwrap();
    (n("rows"), n("published"), n("withheld"), n("rejected"))
}

async fn incident_count(http: &reqwest::Client, url: &str, agency: &str) -> usize {
    let list = get_json(http, format!("{url}/v1/incidents?agency={agency}&limit=1000")).await;
    list["incidents"].as_array().unwrap().len()
}

porchlight_db::test_on_both! {
    #[tokio::test]
    async fn a_socrata_dataset_is_polled_in_pages_through_429_and_a_restart(backend) {
        let portal: Shared = Arc::default();
        {
            let mut p = portal.lock().unwrap();
            // All 63 rows of the snapshot share one :updated_at: paging must not rely on it alone.
            p.rows = socrata_rows(DALLAS_SNAPSHOT, 0, "2018-01-09T15:26:30.000Z");
            p.failures.push((429, json!({"message": "Too many requests"})));
        }
        let portal_url = start_portal(portal.clone()).await;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let _db = database(backend, &data).await;
        let text = std::fs::read_to_string(repo().join("examples/dallas.toml"))
            .unwrap()
            .replace("page_size = 1000", "page_size = 10");
        let mapping = mapping_for(dir.path(), &text, &format!("{portal_url}/resource/are8-xahz.json"));
        agency_add(&data, &mapping);
        let http = reqwest::Client::new();

        let first = imported(&[DALLAS_SNAPSHOT], "dallas", "examples/dallas.toml");
        let server = Server::start_with_env(&data, &[("DALLAS_APP_TOKEN", "test-token")]);
        let feed = wait_for_feed(&http, &server.url, "dallas", |f| {
            f["state"]["totals"]["rows"] == first.0 && f["state"]["status"] == "ok"
        })
        .await;
        assert_eq!(totals(&feed), first, "the poller stored what an import of the same rows stores: {feed:#}");
        assert_eq!(feed["kind"], "socrata");
        assert_eq!(feed["checkpoint"]["since"], "2018-01-09T15:26:30.000Z");
        assert_eq!(feed["checkpoint"]["offset"], 63);
        assert_eq!(feed["state"]["last_error"], "rate limited (HTTP 429)");
        assert_eq!(incident_count(&http, &server.url, "dallas").await as u64, first.1);
        {
            let p = portal.lock().unwrap();
            // The 429 asked for a second's pause, and it was given.
            assert!(p.requests[1].0 - p.requests[0].0 >= Duration::from_millis(900));
            assert!(p.requests.iter().all(|(_, _, token)| token.as_deref() == Some("test-token")));
            // Seven pages of ten, the first one twice (the 429).
            assert!(p.requests.len() >= 8, "{}", p.requests.len());
        }
        drop(server);

        // While Porchlight is down, the portal gets the earlier snapshot's rows as new changes.
        let asked_before = {
            let mut p = portal.lock().unwrap();
            let more = socrata_rows(DALLAS_EARLIER, 63, "2018-01-09T15:40:00.000Z");
            p.rows.extend(more);
            p.requests.len()
        };
        let both = imported(&[DALLAS_SNAPSHOT, DALLAS_EARLIER], "dallas", "examples/dallas.toml");
        let server = Server::start(&data);
        let feed = wait_for_feed(&http, &server.url, "dallas", |f| {
            f["state"]["totals"]["rows"] == both.0 && f["state"]["status"] == "ok"
        })
        .await;
        assert_eq!(totals(&feed), both, "{feed:#}");
        assert_eq!(incident_count(&http, &server.url, "dallas").await as u64, both.1);
        let p = portal.lock().unwrap();
        // After the restart the poller resumed from its checkpoint, not from the beginning.
        let resumed = &p.requests[asked_before].1;
        assert_eq!(resumed.get("$where").map(String::as_str), Some(":updated_at >= '2018-01-09T15:26:30.000Z'"));
        assert_eq!(resumed.get("$offset").map(String::as_str), Some("63"));
    }
}

/// Milwaukee's rows as an ArcGIS layer's features: the call time as epoch milliseconds.
fn arcgis_features(n: usize) -> (Vec<Value>, String) {
    let mut reader = csv::Reader::from_path(repo().join(MILWAUKEE_CSV)).unwrap();
    let mut csv_out = String::from("id,time,location,latitude,longitude,district,nature,status\n");
    let mut writer = csv::Writer::from_writer(Vec::new());
    let features = reader
        .records()
        .take(n)
        .enumerate()
        .map(|(i, r)| {
            let r = r.unwrap();
            writer.write_record(&r).unwrap();
            let local = NaiveDateTime::parse_from_str(&r[1], "%Y-%m-%d %H:%M:%S").unwrap();
            let at = chrono_tz::America::Chicago.from_local_datetime(&local).earliest().unwrap();
            let mut feature = json!({"attributes": {"OBJECTID": i + 1, "CallNumber": &r[0], "CallTime": at.timestamp_millis(),
                "Location": &r[2], "Nature": &r[6], "Status": &r[7]}});
            if let (Ok(lat), Ok(lon)) = (r[3].parse::<f64>(), r[4].parse::<f64>()) {
                feature["geometry"] = json!({"x": lon, "y": lat});
            }
            feature
        })
        .collect();
    csv_out.push_str(&String::from_utf8(writer.into_inner().unwrap()).unwrap());
    (features, csv_out)
}

/// Milwaukee's mapping, rewritten for the ArcGIS layer's field names.
fn milwaukee_arcgis_mapping(format: &str) -> String {
    let milwaukee = std::fs::read_to_string(repo().join("examples/milwaukee.toml")).unwrap();
    let categories = &milwaukee[milwaukee.find("[[categories]]").unwrap()..];
    format!(
        r#"[agency]
id = "milwaukee"
name = "Milwaukee Police Department (ArcGIS layer)"
time_zone = "America/Chicago"

[fields]
incident_id = "CallNumber"
received_at = {{ columns = ["CallTime"], format = "epoch_ms" }}
call_type = "Nature"
status = "Status"

[location]
address = "Location"
x = "geometry.x"
y = "geometry.y"

[source]
kind = "arcgis"
url = "http://127.0.0.1:1/arcgis/rest/services/CFS/FeatureServer/0"
updated_field = "CallTime"
format = "{format}"
page_size = 500
every_seconds = 1

{categories}"#
    )
}

porchlight_db::test_on_both! {
    #[tokio::test]
    async fn an_arcgis_layer_is_polled_past_its_record_limit_in_both_formats(backend) {
        let (features, csv_text) = arcgis_features(350);
        let dir = tempfile::tempdir().unwrap();
        let csv_path = dir.path().join("first-350.csv");
        std::fs::write(&csv_path, csv_text).unwrap();
        let expected = imported(&[csv_path.to_str().unwrap()], "milwaukee", "examples/milwaukee.toml");
        let http = reqwest::Client::new();
        for format in ["json", "geojson"] {
            let portal: Shared = Arc::default();
            {
                let mut p = portal.lock().unwrap();
                p.rows = features.clone();
                // ArcGIS reports a failed query in a 200 answer.
                p.failures.push((
                    200,
                    json!({"error": {"code": 500, "message": "Error performing query operation", "details": []}}),
                ));
            }
            let portal_url = start_portal(portal.clone()).await;
            let run = tempfile::tempdir().unwrap();
            let mapping = mapping_for(
                run.path(),
                &milwaukee_arcgis_mapping(format),
                &format!("{portal_url}/arcgis/rest/services/CFS/FeatureServer/0"),
            );
            let data = run.path().join("data");
            let _db = database(backend, &data).await;
            agency_add(&data, &mapping);
            let server = Server::start(&data);
            let feed = wait_for_feed(&http, &server.url, "milwaukee", |f| {
                f["state"]["totals"]["rows"] == expected.0 && f["state"]["status"] == "ok"
            })
            .await;
            assert_eq!(totals(&feed), expected, "{format}: {feed:#}");
            assert_eq!(
                feed["state"]["last_error"],
                "the portal answered with an error: Error performing query operation [500]"
            );
            let stored =
                get_json(&http, format!("{}/v1/incidents?agency=milwaukee&limit=1000", server.url)).await;
            let incidents = stored["incidents"].as_array().unwrap();
            assert_eq!(incidents.len() as u64, expected.1);
            // Coordinates came through the geometry and were snapped; addresses were generalized.
            assert!(incidents.iter().all(|i| {
                i["location"]["text"]
                    .as_str()
                    .is_some_and(|t| !t.chars().next().unwrap().is_ascii_digit() || t.contains(" block of "))
            }));
            assert!(incidents.iter().any(|i| i["point"].is_object()), "{}", incidents[0]);
            // The layer's full addresses ("5237 N 35TH ST,MKE") reach neither the API nor the database.
            let raw: Vec<String> = features
                .iter()
                .map(|f| f["attributes"]["Location"].as_str().unwrap().split(',').next().unwrap().to_owned())
                .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
                .collect();
            assert!(raw.len() > 200);
            let feed = get_json(&http, format!("{}/v1/agencies/milwaukee/feed", server.url)).await.to_string();
            let served = stored.to_string() + &feed;
            drop(server);
            let (database, _) = stored_text(&data.join("porchlight.db")).await;
            for address in &raw {
                assert!(
                    !served.contains(address.as_str()) && !database.contains(address.as_str()),
                    "{address} leaked"
                );
            }
            let p = portal.lock().unwrap();
            // The layer gives at most 100 features a request: the poller followed exceededTransferLimit.
            assert!(p.requests.len() >= 5, "{format}: {} requests", p.requests.len());
            assert!(p.requests.iter().all(|(_, q, _)| q.get("f").map(String::as_str) == Some(format)));
        }
    }
}

porchlight_db::test_on_both! {
    #[tokio::test]
    async fn a_csv_file_at_a_url_is_read_again_only_when_it_changes(backend) {
        let milwaukee = std::fs::read_to_string(repo().join(MILWAUKEE_CSV)).unwrap();
        let first_lines = |n: usize| milwaukee.lines().take(n + 1).collect::<Vec<_>>().join("\n") + "\n";
        let dir = tempfile::tempdir().unwrap();
        let (small, large) = (dir.path().join("500.csv"), dir.path().join("800.csv"));
        std::fs::write(&small, first_lines(500)).unwrap();
        // The larger file ends with a row whose time column holds an address: rejected, and never
        // quoted in the public feed state.
        let bad_row = "1299999,5237 N 35TH ST,\"5237 N 35TH ST,MKE\",43.11,-87.95,4,THEFT,Open\n";
        let large_text = first_lines(800) + bad_row;
        std::fs::write(&large, &large_text).unwrap();
        let expected_small = imported(&[small.to_str().unwrap()], "milwaukee", "examples/milwaukee.toml");
        let expected_large = imported(&[large.to_str().unwrap()], "milwaukee", "examples/milwaukee.toml");

        let portal: Shared = Arc::default();
        portal.lock().unwrap().csv = Some(("\"v1\"".into(), first_lines(500)));
        let portal_url = start_portal(portal.clone()).await;
        let mapping = std::fs::read_to_string(repo().join("examples/milwaukee.toml")).unwrap()
            + "\n[source]\nkind = \"csv\"\nurl = \"http://127.0.0.1:1/calls.csv\"\nevery_seconds = 1\n";
        let mapping = mapping_for(dir.path(), &mapping, &format!("{portal_url}/calls.csv"));
        let data = dir.path().join("data");
        let _db = database(backend, &data).await;
        agency_add(&data, &mapping);
        let http = reqwest::Client::new();
        let server = Server::start(&data);
        let feed = wait_for_feed(&http, &server.url, "milwaukee", |f| f["state"]["totals"]["rows"] == 500).await;
        assert_eq!(totals(&feed), expected_small);
        assert_eq!(feed["checkpoint"]["etag"], "\"v1\"");
        // Unchanged: asked again with If-None-Match, answered 304, nothing read.
        let deadline = Instant::now() + Duration::from_secs(30);
        while portal.lock().unwrap().not_modified < 2 {
            assert!(Instant::now() < deadline, "never asked again");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let feed = get_json(&http, format!("{}/v1/agencies/milwaukee/feed", server.url)).await;
        assert_eq!(feed["state"]["totals"]["rows"], 500);
        // The file grows: it is read whole again; its first 500 rows are repeats.
        portal.lock().unwrap().csv = Some(("\"v2\"".into(), large_text));
        let feed = wait_for_feed(&http, &server.url, "milwaukee", |f| f["state"]["totals"]["rows"] == 1301).await;
        assert_eq!(feed["state"]["totals"]["rejected"], 1);
        // Row 802 of its page (the file's line), on whichever poll read the new version.
        let problems = feed["state"]["recent_problems"].as_array().unwrap();
        assert_eq!(problems.len(), 1);
        let problem = problems[0].as_str().unwrap();
        assert!(
            problem.starts_with("row 802 of page ") && problem.ends_with(": field `time`: bad_time"),
            "{problem}"
        );
        assert!(!crate::common::holds_number(&feed.to_string(), "5237"), "{feed}");
        assert_eq!(feed["state"]["totals"]["published"].as_u64(), Some(expected_large.1));
        assert_eq!(
            feed["state"]["totals"]["unchanged"].as_u64(),
            Some(500 - expected_small.2 - expected_small.3)
        );
        assert_eq!(incident_count(&http, &server.url, "milwaukee").await as u64, expected_large.1);
    }
}
