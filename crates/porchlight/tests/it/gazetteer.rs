//! The gazetteer (issue 14): St. Louis publishes its calls by block and intersection with no
//! coordinates; with the table of its blocks' points imported, the same calls are placed (at
//! the block, snapped by the policy) and can be matched to residents' areas.

use std::path::Path;

use serde_json::Value;

use crate::common::{Server, get_json, import, porchlight, repo, summary};
use crate::common::{database, porchlight_at};

const CALLS: &str = "examples/data/stlouis-cfs/cfsraw.csv";
const BLOCKS: &str = "examples/data/stlouis-cfs/location.csv";

fn add_agency(data: &Path) {
    add_agency_of(data, "examples/st-louis.toml");
}

/// `porchlight agency add` with a mapping (relative to the repository, or absolute).
fn add_agency_of(data: &Path, mapping: &str) {
    let out = porchlight_at(data)
        .args(["agency", "add", "--mapping"])
        .arg(repo().join(mapping))
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn import_gazetteer(data: &Path, file: &Path) -> std::process::Output {
    porchlight_at(data)
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

porchlight_db::test_on_both! {
    #[tokio::test]
    async fn calls_without_coordinates_are_placed_by_the_imported_blocks(backend) {
        // Without a gazetteer no St. Louis call has a point.
        let dir = tempfile::tempdir().unwrap();
        let bare = dir.path().join("bare");
        let out = import(&bare, "st-louis", "examples/st-louis.toml", &repo().join(CALLS));
        let before = summary(&out);
        assert_eq!(before["placed"]["none"], before["published"], "{before}");
        assert!(before["placed"].get("gazetteer").is_none(), "{before}");

        // The table, with two rows spoiled: each is named by line and column, the rest goes in.
        let data = dir.path().join("data");
        let _db = database(backend, &data).await;
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

porchlight_db::test_on_both! {
    #[tokio::test]
    async fn a_geocoder_is_asked_only_for_published_blocks_and_corners_and_only_once(backend) {
        let (asked, url) = nominatim("Wyoming St").await;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let _db = database(backend, &data).await;
        add_agency(&data);
        assert!(import_gazetteer(&data, &repo().join(BLOCKS)).status.success());
        let run = {
            let (data, url) = (data.clone(), url.clone());
            move || {
                let out = porchlight_at(&data)
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
}

porchlight_db::test_on_both! {
    #[tokio::test]
    async fn calls_pushed_without_coordinates_are_placed_by_the_servers_geocoder(backend) {
        let (asked, url) = nominatim("N 35th St").await;
        let (_dir, data, _db) = crate::common::milwaukee_without_calls(backend).await;
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
}

const CENTRELINES: &str = "examples/data/milwaukee-centreline/centreline.geojson";

/// Milwaukee's calls of 15 to 21 May 2018 (the centrelines were made from the two weeks
/// before), as published and with every coordinate blanked; and a mapping that reads no
/// coordinates.
fn held_out_week(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let mut reader = csv::Reader::from_path(repo().join(crate::common::MILWAUKEE_CSV)).unwrap();
    let (with, without) = (dir.join("week.csv"), dir.join("week-blank.csv"));
    let mut w = csv::Writer::from_path(&with).unwrap();
    let mut b = csv::Writer::from_path(&without).unwrap();
    w.write_record(reader.headers().unwrap()).unwrap();
    b.write_record(reader.headers().unwrap()).unwrap();
    for row in reader.records().map(Result::unwrap).filter(|r| &r[1] >= "2018-05-15") {
        w.write_record(&row).unwrap();
        let blank: Vec<&str> =
            row.iter().enumerate().map(|(i, v)| if i == 3 || i == 4 { "" } else { v }).collect();
        b.write_record(&blank).unwrap();
    }
    w.flush().unwrap();
    b.flush().unwrap();
    let text = std::fs::read_to_string(repo().join("examples/milwaukee.toml")).unwrap();
    let mapping = dir.join("milwaukee-blocks.toml");
    let blank = text.replace("latitude = \"latitude\"\n", "").replace("longitude = \"longitude\"\n", "");
    assert_ne!(blank, text);
    std::fs::write(&mapping, blank).unwrap();
    (with, without, mapping)
}

/// `porchlight export` of a data folder: the rows by (received, call type, location), those
/// seen once only.
fn exported(data: &Path) -> std::collections::HashMap<(String, String, String), csv::StringRecord> {
    let out = porchlight_at(data).args(["export", "--data-dir"]).arg(data).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut reader = csv::Reader::from_reader(&out.stdout[..]);
    let headers = reader.headers().unwrap().clone();
    let at = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (r, c, l) = (at("received_at"), at("call_type"), at("location"));
    let mut rows = std::collections::HashMap::new();
    let mut twice = std::collections::HashSet::new();
    for row in reader.records().map(Result::unwrap) {
        let key = (row[r].to_owned(), row[c].to_owned(), row[l].to_owned());
        if rows.insert(key.clone(), row).is_some() {
            twice.insert(key);
        }
    }
    rows.retain(|k, _| !twice.contains(k));
    rows
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[test]
fn centrelines_place_a_held_out_week_of_calls_near_where_their_feed_put_them() {
    let dir = tempfile::tempdir().unwrap();
    let (with, without, mapping) = held_out_week(dir.path());
    // The week as published: the feed's own points, snapped.
    let truth = dir.path().join("truth");
    let out = import(&truth, "milwaukee", "examples/milwaukee.toml", &with);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // The same week without coordinates, placed by the centrelines alone.
    let data = dir.path().join("data");
    add_agency_of(&data, mapping.to_str().unwrap());
    let out = porchlight_at(&data)
        .args(["gazetteer", "import", "--agency", "milwaukee", "--data-dir"])
        .arg(&data)
        .arg(repo().join(CENTRELINES))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8(out.stdout).unwrap();
    assert!(said.contains("4761 centreline segments of "), "{said}");
    let placed = summary(&import(&data, "milwaukee", mapping.to_str().unwrap(), &without));
    let by = |m: &str| placed["placed"][m].as_u64().unwrap_or(0);
    assert_eq!(by("feed") + by("gazetteer") + by("geocoder"), 0, "{placed}");

    // Pair each call with itself as published, and measure: a block against the feed's own
    // point. A corner against the held-out week's own house calls on its two streets (the
    // middle of the closest pair, where they come within 150 m): the feed's points of corners
    // come from a third party's geocoder that often misses by kilometres ("N 47TH ST / W
    // HAMPTON AV" at 43.04 N, where Hampton Avenue runs at 43.10 N).
    let houses = house_points(&with);
    let (truth, placed_rows) = (exported(&truth), exported(&data));
    let mut figures: std::collections::BTreeMap<&str, (u32, u32, Vec<f64>)> = Default::default();
    for (key, t) in &truth {
        let Some(p) = placed_rows.get(key) else { continue };
        // Columns as `porchlight export` writes them: 11 location_kind, 12 location, 13 lat,
        // 14 lon, 16 placed_by, 17 place_confidence.
        let (Ok(t_lat), Ok(t_lon)) = (t[13].parse::<f64>(), t[14].parse::<f64>()) else { continue };
        let kind = match &t[11] {
            "block" => "block",
            "intersection" => "intersection",
            _ => continue,
        };
        let entry = figures.entry(kind).or_default();
        entry.0 += 1;
        if p[13].is_empty() {
            continue;
        }
        assert_eq!(&p[16], "centreline", "{p:?}");
        assert!(matches!(&p[17], "high" | "medium"), "{p:?}");
        entry.1 += 1;
        let at = (p[13].parse().unwrap(), p[14].parse().unwrap());
        if kind == "block" {
            entry.2.push(metres((t_lat, t_lon), at));
        } else if let Some(corner) = corner_of_houses(&houses, &p[12]) {
            entry.2.push(metres(corner, at));
        }
    }
    for (kind, (calls, placed, distances)) in &mut figures {
        distances.sort_by(f64::total_cmp);
        eprintln!(
            "{kind}: {placed} of {calls} placed ({:.0}%); {} measured: median {:.0} m, p90 {:.0} m",
            100.0 * f64::from(*placed) / f64::from(*calls),
            distances.len(),
            percentile(distances, 0.5),
            percentile(distances, 0.9)
        );
    }
    // Both points are snapped to block-sized cells, so a placement on the right block lands in
    // the feed's own cell (0 m) or a neighbour (about 115 m away).
    let (calls, placed, distances) = &figures["block"];
    assert!(f64::from(*placed) >= 0.8 * f64::from(*calls), "{placed} of {calls}");
    assert!(percentile(distances, 0.5) <= 1.0, "median {}", percentile(distances, 0.5));
    assert!(percentile(distances, 0.9) <= 250.0, "p90 {}", percentile(distances, 0.9));
    let (calls, placed, distances) = &figures["intersection"];
    assert!(f64::from(*placed) >= 0.5 * f64::from(*calls), "{placed} of {calls}");
    assert!(distances.len() >= 200, "{} corners measured", distances.len());
    assert!(percentile(distances, 0.5) <= 120.0, "median {}", percentile(distances, 0.5));
    assert!(percentile(distances, 0.9) <= 250.0, "p90 {}", percentile(distances, 0.9));
}

/// The points of a file's house calls ("5237 N 35TH ST,MKE") by street.
fn house_points(file: &Path) -> std::collections::HashMap<String, Vec<(f64, f64)>> {
    let house = regex::Regex::new(r"^\d+(?:-[A-Z0-9]+)? (.+),MKE$").unwrap();
    let mut points: std::collections::HashMap<String, Vec<(f64, f64)>> = Default::default();
    for row in csv::Reader::from_path(file).unwrap().records().map(Result::unwrap) {
        let (Some(c), Ok(lat), Ok(lon)) = (house.captures(&row[2]), row[3].parse(), row[4].parse()) else {
            continue;
        };
        points.entry(c[1].to_owned()).or_default().push((lat, lon));
    }
    points
}

/// Where two streets of a published corner ("N 60th St & W Capitol Dr") meet by their house
/// calls: the middle of their closest pair, if within 150 m.
fn corner_of_houses(
    houses: &std::collections::HashMap<String, Vec<(f64, f64)>>,
    corner: &str,
) -> Option<(f64, f64)> {
    let upper = corner.to_uppercase();
    let (a, b) = upper.split_once(" & ")?;
    let (a, b) = (houses.get(a)?, houses.get(b)?);
    let mut best: Option<(f64, (f64, f64))> = None;
    for pa in a {
        for pb in b {
            let d = metres(*pa, *pb);
            if best.is_none_or(|(bd, _)| d < bd) {
                best = Some((d, ((pa.0 + pb.0) / 2.0, (pa.1 + pb.1) / 2.0)));
            }
        }
    }
    best.filter(|(d, _)| *d <= 150.0).map(|(_, c)| c)
}

#[test]
fn feeds_check_counts_rows_placed_by_centrelines() {
    let dir = tempfile::tempdir().unwrap();
    let (_, without, mapping) = held_out_week(dir.path());
    let out = porchlight()
        .args(["feeds", "check", "--mapping"])
        .arg(&mapping)
        .arg("--gazetteer")
        .arg(repo().join(CENTRELINES))
        .arg(&without)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8(out.stdout).unwrap();
    let line =
        said.lines().find(|l| l.starts_with("without coordinates")).unwrap_or_else(|| panic!("{said}"));
    let share: f64 =
        line.split("by centrelines ").nth(1).unwrap().split(['(', '%']).nth(1).unwrap().parse().unwrap();
    eprintln!("{line}");
    assert!(share >= 70.0, "{line}");
}

#[test]
fn a_citys_own_centreline_layout_is_described_by_a_layout_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    add_agency_of(&data, "examples/milwaukee.toml");
    // The CSV with three rows spoiled: a line that is not WKT, a house number that is not one,
    // a point for a line.
    let text =
        std::fs::read_to_string(repo().join("examples/data/milwaukee-centreline/district-4.csv")).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[2] = lines[2].replacen("LINESTRING (", "LINESTRING ((", 1);
    let mut fields: Vec<&str> = lines[3].splitn(9, ',').collect();
    fields[4] = "N12";
    lines[3] = fields.join(",");
    lines[4] = format!("{},\"POINT (-88.0 43.1)\"", lines[4].split(",\"").next().unwrap());
    let rows = lines.len() - 1;
    let file = dir.path().join("district-4.csv");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let import = |layout: Option<&str>| {
        let mut cmd = porchlight_at(&data);
        cmd.args(["gazetteer", "import", "--agency", "milwaukee", "--data-dir"]).arg(&data);
        if let Some(l) = layout {
            cmd.arg("--layout").arg(repo().join(l));
        }
        let out = cmd.arg(&file).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    // Read as TIGER/Line: no FULLNAME, every row skipped and said why.
    let said = import(None);
    // (The spoiled line first fails on its geometry.)
    assert!(said.contains(&format!("skipped {:>6}  FULLNAME: empty", rows - 1)), "{said}");
    let said = import(Some("examples/centreline-layouts/milwaukee-district-4.toml"));
    assert!(said.contains(&format!("{} centreline segments of", rows - 3)), "{said}");
    assert!(said.contains("WKT: not_well_known_text (lines 3)"), "{said}");
    assert!(said.contains("LO_EVEN: not_a_house_number (lines 4)"), "{said}");
    assert!(said.contains("geometry: not_a_line (lines 5)"), "{said}");
    // A call on a block of district 4 without coordinates is placed on it.
    let calls = dir.path().join("calls.csv");
    std::fs::write(
        &calls,
        "id,time,location,latitude,longitude,district,nature,status\n\
         9000001,2018-05-22 10:00:00,\"3610 N 100TH ST,MKE\",,,4,THEFT,Service in Progress\n",
    )
    .unwrap();
    let out = crate::common::import(&data, "milwaukee", "examples/milwaukee.toml", &calls);
    let s = summary(&out);
    assert_eq!(s["placed"], serde_json::json!({"centreline": 1}), "{s}");
}

porchlight_db::test_on_both! {
    #[tokio::test]
    async fn the_store_reads_a_gazetteer_again_only_when_it_changed(backend) {
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let _db = database(backend, &data).await;
        add_agency_of(&data, "examples/milwaukee.toml");
        let location = porchlight_store::Location::new(&data, crate::common::database_url(&data).as_deref()).unwrap();
        let store = porchlight_store::Store::connect(&location).await.unwrap();
        let agency = porchlight_core::agency::AgencyId::parse("milwaukee").unwrap();
        let first = store.gazetteer(&agency).await.unwrap();
        assert!(first.is_empty());
        assert!(Arc::ptr_eq(&first, &store.gazetteer(&agency).await.unwrap()), "kept while unchanged");
        // Another process imports centrelines: this one reads them at its next call.
        let out = porchlight_at(&data)
            .args(["gazetteer", "import", "--agency", "milwaukee", "--data-dir"])
            .arg(&data)
            .args(["--layout"])
            .arg(repo().join("examples/centreline-layouts/milwaukee-district-4.toml"))
            .arg(repo().join("examples/data/milwaukee-centreline/district-4.csv"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let after = store.gazetteer(&agency).await.unwrap();
        assert_eq!(after.segments(), 1135);
        assert!(Arc::ptr_eq(&after, &store.gazetteer(&agency).await.unwrap()));
        // And a block learned or a table imported changes it again.
        let p = porchlight_core::geo::Point::new(43.1, -88.0).unwrap();
        store.put_gazetteer(&agency, &[("3600 N 100TH ST".to_owned(), p)]).await.unwrap();
        let table = store.gazetteer(&agency).await.unwrap();
        assert!(!Arc::ptr_eq(&after, &table));
        assert_eq!((table.len(), table.segments()), (1, 1135));
        // A block the feed taught by one row is placed less surely than one the operator imported.
        store.learn_gazetteer(&agency, &[("4100 N 100TH ST", p)]).await.unwrap();
        let learned = store.gazetteer(&agency).await.unwrap();
        let at = |s: &str| learned.locate(&porchlight_core::address::parse(s)).unwrap();
        use porchlight_core::{gazetteer::Confidence, incident::PlacedBy};
        assert_eq!(
            (at("4110 N 100TH ST").by, at("4110 N 100TH ST").confidence),
            (PlacedBy::Gazetteer, Confidence::Medium)
        );
        assert_eq!(
            (at("3610 N 100TH ST").by, at("3610 N 100TH ST").confidence),
            (PlacedBy::Gazetteer, Confidence::High)
        );
    }
}
