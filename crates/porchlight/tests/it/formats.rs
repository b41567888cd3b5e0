//! Open formats (issue 11): GeoJSON (RFC 7946) of published incidents, filtered, paged and
//! cached with ETags, on real Milwaukee calls.

use std::collections::HashSet;

use serde_json::Value;

use crate::common::porchlight_at;
use crate::common::{MILWAUKEE_CSV, Server, get_json, import, milwaukee_without_calls, repo};

porchlight_db::test_on_both! {
    #[tokio::test]
    async fn incidents_as_geojson_are_filtered_paged_and_cached(backend) {
        let (dir, data, _db) = milwaukee_without_calls(backend).await;
        let sample = dir.path().join("sample.csv");
        let text = std::fs::read_to_string(repo().join(MILWAUKEE_CSV)).unwrap();
        std::fs::write(&sample, text.lines().take(401).collect::<Vec<_>>().join("\n")).unwrap();
        import(&data, "milwaukee", "examples/milwaukee.toml", &sample);
        let server = Server::start(&data);
        let http = reqwest::Client::new();
        let all = get_json(&http, format!("{}/v1/incidents?limit=1000", server.url)).await;
        let expected: HashSet<String> =
            all["incidents"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect();
        assert!(expected.len() > 100, "{}", expected.len());

        // Every page, by its next link: each incident once, as a Feature with a Point.
        let mut seen = HashSet::new();
        let mut next = Some("/v1/incidents.geojson?limit=50".to_owned());
        let mut pages = 0;
        while let Some(path) = next {
            let response = http.get(format!("{}{path}", server.url)).send().await.unwrap();
            assert_eq!(response.status(), 200);
            assert_eq!(response.headers()["content-type"], "application/geo+json");
            let link = response.headers().get("link").map(|l| l.to_str().unwrap().to_owned());
            let page: Value = response.json().await.unwrap();
            assert_eq!(page["type"], "FeatureCollection");
            let [w, s, e, n] = [0, 1, 2, 3].map(|i| page["bbox"][i].as_f64().unwrap());
            for feature in page["features"].as_array().unwrap() {
                assert_eq!(feature["type"], "Feature");
                let id = feature["id"].as_str().unwrap();
                assert!(seen.insert(id.to_owned()), "{id} twice");
                assert_eq!(feature["properties"]["id"], feature["id"]);
                assert!(feature["properties"].get("point").is_none());
                if !feature["geometry"].is_null() {
                    assert_eq!(feature["geometry"]["type"], "Point");
                    let (lon, lat) = (
                        feature["geometry"]["coordinates"][0].as_f64().unwrap(),
                        feature["geometry"]["coordinates"][1].as_f64().unwrap(),
                    );
                    assert!((w..=e).contains(&lon) && (s..=n).contains(&lat), "outside the collection's bbox");
                }
            }
            next = page["next"].as_str().map(str::to_owned);
            assert_eq!(link.is_some(), next.is_some());
            pages += 1;
        }
        assert_eq!(seen, expected);
        assert!(pages >= 3);

        // Filters: categories and a box.
        let traffic =
            get_json(&http, format!("{}/v1/incidents.geojson?category=traffic,fire&limit=1000", server.url))
                .await;
        let features = traffic["features"].as_array().unwrap();
        assert!(!features.is_empty());
        assert!(
            features.iter().all(|f| ["traffic", "fire"].contains(&f["properties"]["category"].as_str().unwrap()))
        );
        let boxed = get_json(
            &http,
            format!("{}/v1/incidents.geojson?bbox=-87.96,43.05,-87.92,43.08&limit=1000", server.url),
        )
        .await;
        for f in boxed["features"].as_array().unwrap() {
            let lon = f["geometry"]["coordinates"][0].as_f64().unwrap();
            let lat = f["geometry"]["coordinates"][1].as_f64().unwrap();
            assert!((-87.96..=-87.92).contains(&lon) && (43.05..=43.08).contains(&lat));
        }
        let bad =
            http.get(format!("{}/v1/incidents.geojson?category=burglary", server.url)).send().await.unwrap();
        assert_eq!(bad.status(), 400);
        let bad: Value = bad.json().await.unwrap();
        assert_eq!(bad["error"]["code"], "invalid_query");
        assert!(bad["error"]["message"].as_str().unwrap().starts_with("category"));

        // ETags: the same answer again is a 304 with no body.
        let first = http.get(format!("{}/v1/incidents.geojson?limit=10", server.url)).send().await.unwrap();
        let etag = first.headers()["etag"].to_str().unwrap().to_owned();
        assert!(etag.starts_with("W/\""));
        let again = http
            .get(format!("{}/v1/incidents.geojson?limit=10", server.url))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304);
        assert!(again.bytes().await.unwrap().is_empty());
        let other = http
            .get(format!("{}/v1/incidents.geojson?limit=11", server.url))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(other.status(), 200);
    }
}

/// Validate an XML document against one of the schemas in `data/schemas` with xmllint
/// (Debian's libxml2-utils); panics with xmllint's words if it does not validate.
fn validate(xml: &str, schema: &str, dir: &std::path::Path, name: &str) {
    let file = dir.join(name);
    std::fs::write(&file, xml).unwrap();
    let out = std::process::Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(repo().join("data/schemas").join(schema))
        .arg(&file)
        .output()
        .expect("run xmllint (apt-get install libxml2-utils)");
    assert!(
        out.status.success(),
        "{name} against {schema}:\n{}\n{xml}",
        String::from_utf8_lossy(&out.stderr)
    );
}

porchlight_db::test_on_both! {
    #[tokio::test]
    async fn cap_alerts_and_atom_feeds_validate_against_their_schemas(backend) {
        use crate::common::{new_push_key, signed_push_as, subscribe};
        let (dir, data, _db) = milwaukee_without_calls(backend).await;
        let sample = dir.path().join("sample.csv");
        let text = std::fs::read_to_string(repo().join(MILWAUKEE_CSV)).unwrap();
        std::fs::write(&sample, text.lines().take(101).collect::<Vec<_>>().join("\n")).unwrap();
        import(&data, "milwaukee", "examples/milwaukee.toml", &sample);
        let secret = new_push_key(&data);
        let server = Server::start(&data);
        let http = reqwest::Client::new();
        let subscription = subscribe(
            &http,
            &server.url,
            serde_json::json!({"lat": 43.1128, "lon": -87.9567, "radius_m": 1500, "categories": []}),
        )
        .await;
        // A call, then a new version of it: an Alert, then an Update that references it.
        let push = |call_type: &str, status: &str| {
            serde_json::json!({"records": [{"incident_id": "cap-1", "received_at": "2018-05-01T00:10:28-05:00",
                "call_type": call_type, "status": status, "address": "5237 N 35TH ST,MKE",
                "latitude": 43.1127987, "longitude": -87.9567415}]})
            .to_string()
        };
        let now = chrono::Utc::now().timestamp();
        let calls = format!("{}/v1/agencies/milwaukee/calls", server.url);
        let first: Value =
            signed_push_as(&calls, "application/json", &secret, now, &push("TRBL W/SUBJ", "Dispatched"))
                .await
                .json()
                .await
                .unwrap();
        let id = first["records"][0]["incident_id"].as_str().unwrap().to_owned();
        let second: Value =
            signed_push_as(&calls, "application/json", &secret, now, &push("BATTERY", "Dispatched"))
                .await
                .json()
                .await
                .unwrap();
        assert_eq!(second["records"][0]["outcome"], "updated", "{second}");

        let get = |path: String| {
            let http = http.clone();
            let url = format!("{}{path}", server.url);
            async move {
                let r = http.get(url).send().await.unwrap();
                assert_eq!(r.status(), 200);
                let kind = r.headers()["content-type"].to_str().unwrap().to_owned();
                (kind, r.text().await.unwrap())
            }
        };
        let (kind, alert) = get(format!("/v1/incidents/{id}/cap")).await;
        assert_eq!(kind, "application/cap+xml");
        validate(&alert, "CAP-v1.2.xsd", dir.path(), "update.xml");
        assert!(
            alert.contains("<msgType>Update</msgType>") && alert.contains(&format!("porchlight-{id}-1,")),
            "{alert}"
        );
        assert!(
            alert.contains("<event>BATTERY</event>")
                && alert.contains("<areaDesc>5200 block of N 35th St</areaDesc>")
        );
        assert!(!crate::common::holds_number(&alert, "5237"), "no house number: {alert}");
        let (_, original) = get(format!("/v1/incidents/{id}/cap?version=1")).await;
        validate(&original, "CAP-v1.2.xsd", dir.path(), "alert.xml");
        assert!(original.contains("<msgType>Alert</msgType>") && !original.contains("<references>"));

        // Feeds: CAP per agency and per area, Atom per agency and per subscription.
        for (path, name) in [
            ("/v1/cap.atom?agency=milwaukee".to_owned(), "cap-agency.xml"),
            ("/v1/cap.atom?bbox=-87.97,43.10,-87.94,43.12".to_owned(), "cap-area.xml"),
            ("/v1/agencies/milwaukee/incidents.atom".to_owned(), "agency.xml"),
            (format!("/v1/subscriptions/{subscription}/alerts.atom"), "subscription.xml"),
        ] {
            let (kind, feed) = get(path.clone()).await;
            assert_eq!(kind, "application/atom+xml", "{path}");
            validate(&feed, "atom.xsd", dir.path(), name);
            assert!(feed.contains("<entry>"), "{path}: no entries");
            assert!(!feed.contains("5237 N"), "{path}: a house number");
        }
        // Each CAP alert inside the agency's CAP feed validates on its own too.
        let (_, feed) = get("/v1/cap.atom?agency=milwaukee&limit=5".to_owned()).await;
        for (n, part) in feed.split("<alert ").skip(1).enumerate() {
            let alert = format!(
                "<?xml version=\"1.0\"?>\n<alert {}",
                &part[..part.find("</alert>").unwrap() + "</alert>".len()]
            );
            validate(&alert, "CAP-v1.2.xsd", dir.path(), &format!("entry-{n}.xml"));
        }
    }
}

/// `porchlight export`: every published incident once, with its policy version, and nothing
/// that names a house.
#[test]
fn the_export_holds_every_published_incident_with_its_policy_version() {
    use crate::common::{SEATTLE_CSV, summary};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let imported = summary(&import(&data, "seattle", "examples/seattle.toml", &repo().join(SEATTLE_CSV)));
    let published = imported["published"].as_u64().unwrap();
    let file = dir.path().join("export.csv");
    let out = porchlight_at(&data)
        .args(["export", "--agency", "seattle", "--out"])
        .arg(&file)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("exported {published} published incidents"))
    );
    let mut reader = csv::Reader::from_path(&file).unwrap();
    let headers = reader.headers().unwrap().clone();
    assert_eq!(headers.iter().collect::<Vec<_>>(), porchlight_export_columns());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len() as u64, published);
    let ids: HashSet<&str> = rows.iter().map(|r| &r[0]).collect();
    assert_eq!(ids.len(), rows.len(), "each incident once");
    // A place is a block, an intersection or a street: a number at its start is a block's
    // (hundreds) or a numbered street's.
    let block = regex::Regex::new(r"^(0|\d*00) block of ").unwrap();
    for row in &rows {
        assert_eq!(&row[15], "1", "the policy version");
        // Seattle's calls carry their own coordinates.
        assert_eq!(&row[16], if row[13].is_empty() { "" } else { "feed" }, "where the point came from");
        assert_eq!(&row[17], "", "a feed's own point has no confidence of Porchlight's");
        let (kind, location) = (&row[11], &row[12]);
        match kind {
            "block" => assert!(block.is_match(location), "{location}"),
            "intersection" => assert!(location.contains(" & "), "{location}"),
            _ => assert!(!location.is_empty()),
        }
    }
    // The same incidents as Parquet, typed: read back, row for row as the CSV.
    let parquet_file = dir.path().join("export.parquet");
    let out = porchlight_at(&data)
        .args(["export", "--agency", "seattle", "--format", "parquet", "--out"])
        .arg(&parquet_file)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        use parquet::record::RowAccessor;
        let reader = SerializedFileReader::new(std::fs::File::open(&parquet_file).unwrap()).unwrap();
        let metadata = reader.metadata();
        assert_eq!(metadata.file_metadata().num_rows() as u64, published);
        let names: Vec<String> =
            metadata.file_metadata().schema_descr().columns().iter().map(|c| c.name().to_owned()).collect();
        assert_eq!(names, porchlight_export_columns());
        let by_id: std::collections::HashMap<&str, &csv::StringRecord> =
            rows.iter().map(|r| (&r[0], r)).collect();
        let mut seen = 0;
        for row in reader.get_row_iter(None).unwrap() {
            let row = row.unwrap();
            let id = row.get_string(0).unwrap();
            let csv_row = by_id[id.as_str()];
            assert_eq!(row.get_string(12).unwrap(), &csv_row[12]);
            assert_eq!(row.get_string(7).unwrap(), &csv_row[7]);
            assert_eq!(row.get_int(15).unwrap().to_string(), csv_row[15]);
            let received = chrono::DateTime::parse_from_rfc3339(&csv_row[3]).unwrap().timestamp_millis();
            assert_eq!(row.get_timestamp_millis(3).unwrap(), received);
            if !csv_row[13].is_empty() {
                assert!((row.get_double(13).unwrap() - csv_row[13].parse::<f64>().unwrap()).abs() < 1e-6);
                assert_eq!(row.get_string(16).unwrap(), &csv_row[16]);
            }
            seen += 1;
        }
        assert_eq!(seen as u64, published);
    }

    // A time window narrows it.
    let out = porchlight_at(&data)
        .args(["export", "--since", "2016-03-25T23:00:00-07:00", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success());
    let later = csv::Reader::from_reader(out.stdout.as_slice()).records().count();
    assert!(later > 0 && (later as u64) < published, "{later} of {published}");
}

fn porchlight_export_columns() -> Vec<&'static str> {
    vec![
        "id",
        "agency",
        "version",
        "received_at",
        "updated_at",
        "call_type",
        "initial_call_type",
        "category",
        "priority",
        "status",
        "closure",
        "location_kind",
        "location",
        "lat",
        "lon",
        "policy_version",
        "placed_by",
        "place_confidence",
    ]
}

porchlight_db::test_on_both! {
    #[tokio::test]
    /// `GET /metrics`: Prometheus text with what ingest, the matcher and the queues did, and no
    /// label that is not from a closed set or an agency's id.
    async fn metrics_count_what_happened_with_labels_from_closed_sets(backend) {
        use crate::common::{new_push_key, signed_push_as, subscribe};
        let (_dir, data, _db) = milwaukee_without_calls(backend).await;
        let secret = new_push_key(&data);
        let server = Server::start(&data);
        let http = reqwest::Client::new();
        subscribe(
            &http,
            &server.url,
            serde_json::json!({"lat": 43.1128, "lon": -87.9567, "radius_m": 1500, "categories": []}),
        )
        .await;
        let body = serde_json::json!({"records": [
            {"incident_id": "m-1", "received_at": "2018-05-01T00:10:28-05:00", "call_type": "TRBL W/SUBJ",
             "address": "5237 N 35TH ST,MKE", "latitude": 43.1127987, "longitude": -87.9567415},
            {"incident_id": "m-2", "received_at": "2018-05-01T09:30:22-05:00", "call_type": "BATTERY DV", "address": "5342 N 34TH ST,MKE"},
            {"incident_id": "m-3", "received_at": "May 1st", "call_type": "THEFT", "address": "5262 N 38TH ST"}
        ]})
        .to_string();
        let calls = format!("{}/v1/agencies/milwaukee/calls", server.url);
        let answer =
            signed_push_as(&calls, "application/json", &secret, chrono::Utc::now().timestamp(), &body).await;
        assert_eq!(answer.status(), 200);
        let text = crate::common::eventually(10, "the matcher's time in /metrics", || {
            let http = http.clone();
            let url = format!("{}/metrics", server.url);
            async move {
                let text = http.get(url).send().await.ok()?.text().await.ok()?;
                text.contains("porchlight_match_seconds_count").then_some(text)
            }
        })
        .await;
        let value = |series: &str| -> f64 {
            text.lines()
                .find(|l| l.starts_with(series))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        };
        assert_eq!(value("porchlight_ingest_rows_total{outcome=\"published\"}"), 1.0);
        assert_eq!(value("porchlight_ingest_rows_total{outcome=\"withheld\"}"), 1.0);
        assert_eq!(value("porchlight_ingest_rows_total{outcome=\"rejected\"}"), 1.0);
        assert!(value("porchlight_match_seconds_count") >= 1.0);
        assert!(value("porchlight_outbox_pending") >= 0.0);
        assert!(value("porchlight_deliveries_pending") >= 0.0);
        // Every label's value is from a closed set, an agency's id, or a number (buckets).
        let allowed: HashSet<&str> = [
            "published",
            "updated",
            "unchanged",
            "units_merged",
            "withheld",
            "rejected",
            "webhook",
            "webpush",
            "email",
            "delivered",
            "gone",
            "gave_up",
            "retry",
            "milwaukee",
            "+Inf",
        ]
        .into_iter()
        .collect();
        let label = regex::Regex::new(r#"(\w+)="([^"]*)""#).unwrap();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            for c in label.captures_iter(line) {
                let v = &c[2];
                assert!(allowed.contains(v) || v.parse::<f64>().is_ok(), "label {}={v:?} in {line}", &c[1]);
            }
        }
        assert!(!crate::common::holds_number(&text, "5237") && !text.contains("35TH"), "no address in metrics");
    }
}
