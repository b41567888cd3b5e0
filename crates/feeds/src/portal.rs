//! Polling an open-data portal: what to ask for next, and how to read the answer.
//!
//! The `[source]` section of a mapping file names the portal. This module builds each request
//! from a [`Checkpoint`] and reads each answer into rows and the next checkpoint; it does no I/O,
//! so the poller that sends requests and stores records lives with the binary.
//!
//! Paged portals (Socrata, ArcGIS) are read in a stable order: by an "updated" field, then by
//! row id. A checkpoint is the last value of that field seen and how many rows with exactly that
//! value have been read, so a restart picks up at the next row even when many rows share one
//! timestamp; rows seen twice (an updated row, or a page re-read after a crash) are the store's
//! to recognise as repeats. Plain CSV or JSON URLs are read whole, and only when they changed
//! (ETag, Last-Modified).

use std::{cmp::Ordering, time::Duration};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

/// Which kind of portal, as named in the mapping file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A Socrata dataset's SODA endpoint: `https://<domain>/resource/<id>.json`.
    Socrata,
    /// An ArcGIS FeatureServer or MapServer layer: `https://.../FeatureServer/0`.
    Arcgis,
    /// A CSV file at a URL, read whole through the mapping.
    Csv,
    /// A JSON array of objects at a URL, read whole through the mapping.
    Json,
}

/// ArcGIS answers in Esri JSON or in GeoJSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArcgisFormat {
    #[default]
    Json,
    Geojson,
}

/// The `[source]` section of a mapping file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSection {
    kind: SourceKind,
    url: String,
    /// The field rows are ordered and resumed by. Socrata: default ":updated_at" (the row's
    /// last change); ArcGIS: a date field, default the layer's OBJECTID.
    updated_field: Option<String>,
    /// ArcGIS only: the row id field; default "OBJECTID".
    id_field: Option<String>,
    /// ArcGIS only: `json` (default) or `geojson`.
    #[serde(default)]
    format: ArcgisFormat,
    /// Rows per request; default 1000.
    page_size: Option<u32>,
    /// Seconds between polls once caught up; default 300.
    every_seconds: Option<u64>,
    /// The environment variable holding a Socrata app token (sent as X-App-Token). The token
    /// itself never goes in a mapping file, which is public.
    app_token_env: Option<String>,
}

/// A checked `[source]`.
#[derive(Debug, Clone)]
pub struct Source {
    pub kind: SourceKind,
    pub url: Url,
    pub format: ArcgisFormat,
    pub updated_field: Option<String>,
    pub id_field: String,
    pub page_size: u32,
    pub every: Duration,
    pub app_token_env: Option<String>,
}

/// Where a poller is in a feed. Stored as JSON between polls and across restarts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The last value of the ordering field read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// How many rows with exactly that value have been read.
    #[serde(default)]
    pub offset: u64,
    /// For whole-file URLs: validators of the last version read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
}

/// One HTTP GET to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub url: Url,
    pub headers: Vec<(&'static str, String)>,
}

/// What an answer held.
#[derive(Debug)]
pub enum Rows {
    /// Objects to read with [`crate::Mapping::read_json`].
    Json(Vec<Value>),
    /// A CSV body to read with [`crate::Mapping::read_csv`].
    Csv(Vec<u8>),
}

/// A page read: its rows, whether to ask again at once, and the checkpoint after it.
#[derive(Debug)]
pub struct Page {
    pub rows: Rows,
    pub more: bool,
    pub next: Checkpoint,
}

/// An answer that carried no rows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortalError {
    #[error("rate limited (HTTP 429)")]
    RateLimited { retry_after: Option<Duration> },
    #[error("HTTP {status}: {message}")]
    Http { status: u16, message: String },
    /// ArcGIS reports errors in a 200 answer's body.
    #[error("the portal answered with an error: {message}")]
    Portal { message: String },
    #[error("the answer is not what a {kind} portal sends: {message}")]
    Body { kind: &'static str, message: String },
}

/// The parts of an HTTP answer a poller reads.
#[derive(Debug, Clone, Default)]
pub struct Answer<'a> {
    pub status: u16,
    pub retry_after: Option<&'a str>,
    pub etag: Option<&'a str>,
    pub last_modified: Option<&'a str>,
    pub body: &'a [u8],
}

/// How a [`Source`] was wrong.
pub type SourceError = (String, String);

impl Source {
    pub(crate) fn from_section(s: SourceSection) -> Result<Self, SourceError> {
        let err = |field: &str, reason: String| (format!("source.{field}"), reason);
        let url = Url::parse(&s.url).map_err(|e| err("url", format!("{:?} is not a URL: {e}", s.url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(err("url", "must be an http or https URL".into()));
        }
        let page_size = s.page_size.unwrap_or(1000);
        if !(1..=50_000).contains(&page_size) {
            return Err(err("page_size", "must be between 1 and 50000".into()));
        }
        let every = Duration::from_secs(s.every_seconds.unwrap_or(300));
        if every.is_zero() {
            return Err(err("every_seconds", "must be at least 1".into()));
        }
        let updated_field = match s.kind {
            SourceKind::Socrata => Some(s.updated_field.unwrap_or_else(|| ":updated_at".into())),
            _ => s.updated_field,
        };
        if s.kind != SourceKind::Arcgis && (s.id_field.is_some() || s.format != ArcgisFormat::Json) {
            return Err(err("kind", "`id_field` and `format` are for ArcGIS sources".into()));
        }
        Ok(Self {
            kind: s.kind,
            url,
            format: s.format,
            updated_field,
            id_field: s.id_field.unwrap_or_else(|| "OBJECTID".into()),
            page_size,
            every,
            app_token_env: s.app_token_env,
        })
    }

    fn kind_name(&self) -> &'static str {
        match self.kind {
            SourceKind::Socrata => "Socrata",
            SourceKind::Arcgis => "ArcGIS",
            SourceKind::Csv => "CSV",
            SourceKind::Json => "JSON",
        }
    }

    /// The ArcGIS field rows are resumed by: the updated field, or the row id.
    fn arcgis_order_field(&self) -> &str {
        self.updated_field.as_deref().unwrap_or(&self.id_field)
    }

    /// The request that continues from `checkpoint`. `app_token` is the Socrata token, read
    /// by the caller from the environment variable the mapping names.
    pub fn request(&self, checkpoint: &Checkpoint, app_token: Option<&str>) -> Request {
        let mut url = self.url.clone();
        let mut headers = Vec::new();
        match self.kind {
            SourceKind::Socrata => {
                let field = self.updated_field.as_deref().unwrap_or(":updated_at");
                let mut q = url.query_pairs_mut();
                q.append_pair("$select", ":*, *");
                if let Some(since) = &checkpoint.since {
                    q.append_pair("$where", &format!("{field} >= '{}'", since.replace('\'', "''")));
                }
                q.append_pair("$order", &format!("{field}, :id"))
                    .append_pair("$limit", &self.page_size.to_string())
                    .append_pair("$offset", &checkpoint.offset.to_string());
                drop(q);
                if let Some(token) = app_token {
                    headers.push(("X-App-Token", token.to_owned()));
                }
            }
            SourceKind::Arcgis => {
                if !url.path().ends_with("/query") {
                    let path = format!("{}/query", url.path().trim_end_matches('/'));
                    url.set_path(&path);
                }
                let field = self.arcgis_order_field();
                let condition = match (&checkpoint.since, &self.updated_field) {
                    (None, _) => "1=1".to_owned(),
                    (Some(since), Some(_)) => {
                        let ms: i64 = since.parse().unwrap_or(0);
                        let at = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
                        format!("{field} >= TIMESTAMP '{}'", at.format("%Y-%m-%d %H:%M:%S"))
                    }
                    (Some(since), None) => format!("{field} >= {}", since.parse::<i64>().unwrap_or(0)),
                };
                url.query_pairs_mut()
                    .append_pair("where", &condition)
                    .append_pair("outFields", "*")
                    .append_pair("orderByFields", &format!("{field} ASC, {} ASC", self.id_field))
                    .append_pair("resultOffset", &checkpoint.offset.to_string())
                    .append_pair("resultRecordCount", &self.page_size.to_string())
                    .append_pair("outSR", "4326")
                    .append_pair(
                        "f",
                        match self.format {
                            ArcgisFormat::Json => "json",
                            ArcgisFormat::Geojson => "geojson",
                        },
                    );
            }
            SourceKind::Csv | SourceKind::Json => {
                if let Some(etag) = &checkpoint.etag {
                    headers.push(("If-None-Match", etag.clone()));
                }
                if let Some(modified) = &checkpoint.last_modified {
                    headers.push(("If-Modified-Since", modified.clone()));
                }
            }
        }
        Request { url, headers }
    }

    /// Read an answer to the request made from `checkpoint`. A whole-file URL that has not
    /// changed gives a page with no rows.
    pub fn read(&self, checkpoint: &Checkpoint, answer: &Answer<'_>) -> Result<Page, PortalError> {
        let kind = self.kind_name();
        let body_error = |message: String| PortalError::Body { kind, message };
        match answer.status {
            200 => {}
            304 if matches!(self.kind, SourceKind::Csv | SourceKind::Json) => {
                return Ok(Page { rows: Rows::Json(Vec::new()), more: false, next: checkpoint.clone() });
            }
            429 => {
                let retry_after =
                    answer.retry_after.and_then(|s| s.trim().parse::<u64>().ok()).map(Duration::from_secs);
                return Err(PortalError::RateLimited { retry_after });
            }
            status => return Err(PortalError::Http { status, message: error_message(answer.body) }),
        }
        match self.kind {
            SourceKind::Csv => {
                let next = Checkpoint {
                    etag: answer.etag.map(str::to_owned),
                    last_modified: answer.last_modified.map(str::to_owned),
                    ..Checkpoint::default()
                };
                Ok(Page { rows: Rows::Csv(answer.body.to_vec()), more: false, next })
            }
            SourceKind::Json => {
                let rows = match serde_json::from_slice(answer.body) {
                    Ok(Value::Array(rows)) => rows,
                    Ok(_) => return Err(body_error("expected an array of objects".into())),
                    Err(e) => return Err(body_error(format!("not JSON: {e}"))),
                };
                let next = Checkpoint {
                    etag: answer.etag.map(str::to_owned),
                    last_modified: answer.last_modified.map(str::to_owned),
                    ..Checkpoint::default()
                };
                Ok(Page { rows: Rows::Json(rows), more: false, next })
            }
            SourceKind::Socrata => {
                let rows: Vec<Value> = match serde_json::from_slice(answer.body) {
                    Ok(Value::Array(rows)) => rows,
                    Ok(other) => return Err(PortalError::Portal { message: error_message_of(&other) }),
                    Err(e) => return Err(body_error(format!("not JSON: {e}"))),
                };
                let field = self.updated_field.as_deref().unwrap_or(":updated_at");
                let next = advance(checkpoint, rows.iter().map(|r| key_text(r.get(field))))
                    .map_err(|row| body_error(format!("row {row} has no `{field}`")))?;
                let more = rows.len() as u64 >= u64::from(self.page_size);
                Ok(Page { rows: Rows::Json(rows), more, next })
            }
            SourceKind::Arcgis => {
                let body: Value =
                    serde_json::from_slice(answer.body).map_err(|e| body_error(format!("not JSON: {e}")))?;
                if body.get("error").is_some() {
                    return Err(PortalError::Portal { message: error_message_of(&body) });
                }
                let Some(features) = body.get("features").and_then(Value::as_array) else {
                    return Err(body_error("no `features` array".into()));
                };
                let rows: Vec<Value> = features.iter().map(|f| self.flatten_feature(f)).collect();
                let field = self.arcgis_order_field().to_owned();
                let seconds = self.updated_field.is_some();
                let next = advance(
                    checkpoint,
                    rows.iter().map(|r| {
                        // Dates are compared to the second, as the TIMESTAMP literal is written.
                        key_text(r.get(&field)).map(|k| match k.parse::<i64>() {
                            Ok(ms) if seconds => (ms.div_euclid(1000) * 1000).to_string(),
                            _ => k,
                        })
                    }),
                )
                .map_err(|row| body_error(format!("feature {row} has no `{field}`")))?;
                let exceeded = body
                    .get("exceededTransferLimit")
                    .or_else(|| body.get("properties").and_then(|p| p.get("exceededTransferLimit")))
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let more = !rows.is_empty() && (exceeded || rows.len() as u64 >= u64::from(self.page_size));
                Ok(Page { rows: Rows::Json(rows), more, next })
            }
        }
    }

    /// An ArcGIS feature as one object: its attributes (or GeoJSON properties) at the top,
    /// and its point as `geometry.x` / `geometry.y` in either format.
    fn flatten_feature(&self, feature: &Value) -> Value {
        let mut row = feature
            .get("attributes")
            .or_else(|| feature.get("properties"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if let (ArcgisFormat::Geojson, Some(id)) = (self.format, feature.get("id")) {
            row.entry(self.id_field.clone()).or_insert_with(|| id.clone());
        }
        let geometry = feature.get("geometry");
        let point = match geometry.and_then(|g| g.get("coordinates")).and_then(Value::as_array) {
            Some(c) if c.len() >= 2 => Some((c[0].clone(), c[1].clone())),
            _ => geometry.and_then(|g| Some((g.get("x")?.clone(), g.get("y")?.clone()))),
        };
        if let Some((x, y)) = point {
            row.insert("geometry".into(), serde_json::json!({ "x": x, "y": y }));
        }
        Value::Object(row)
    }
}

/// The text of an ordering key: strings as they are, numbers as digits.
fn key_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Keys compare as numbers when both are numbers, else as text (ISO times sort as text).
fn compare_keys(a: &str, b: &str) -> Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y),
        _ => a.cmp(b),
    }
}

/// The checkpoint after a page whose rows carry `keys`, in the portal's order. `Err(i)` if
/// row `i` (from 1) has no key.
fn advance(from: &Checkpoint, keys: impl Iterator<Item = Option<String>>) -> Result<Checkpoint, usize> {
    let mut next = from.clone();
    for (i, key) in keys.enumerate() {
        let key = key.ok_or(i + 1)?;
        match next.since.as_deref().map(|s| compare_keys(&key, s)) {
            Some(Ordering::Equal) => next.offset += 1,
            // Rows come in order; a smaller key means the portal changed under us: resume after it.
            Some(Ordering::Less) | Some(Ordering::Greater) | None => {
                next.since = Some(key);
                next.offset = 1;
            }
        }
    }
    Ok(next)
}

/// The message of an error body: Socrata's `message`, ArcGIS's `error.message` with its
/// details, or the start of the text.
fn error_message(body: &[u8]) -> String {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => error_message_of(&v),
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let text: String = text.chars().take(200).collect();
            if text.trim().is_empty() { "no message".into() } else { text.trim().to_owned() }
        }
    }
}

fn error_message_of(v: &Value) -> String {
    let e = v.get("error").filter(|e| e.is_object()).unwrap_or(v);
    let mut message = e.get("message").and_then(Value::as_str).unwrap_or("no message").to_owned();
    if let Some(details) = e.get("details").and_then(Value::as_array) {
        let details: Vec<&str> = details.iter().filter_map(Value::as_str).collect();
        if !details.is_empty() {
            message = format!("{message} ({})", details.join("; "));
        }
    }
    if let Some(code) = e.get("errorCode").or_else(|| e.get("code")).filter(|c| !c.is_boolean()) {
        message = format!("{message} [{}]", key_text(Some(code)).unwrap_or_default());
    }
    message
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn source(toml_text: &str) -> Source {
        Source::from_section(toml::from_str(toml_text).unwrap()).unwrap()
    }

    fn ok(body: &[u8]) -> Answer<'_> {
        Answer { status: 200, body, ..Answer::default() }
    }

    #[test]
    fn socrata_pages_resume_after_the_last_row_even_within_one_timestamp() {
        let s = source(
            "kind = 'socrata'\nurl = 'https://data.example.org/resource/abcd-1234.json'\npage_size = 3",
        );
        let first = s.request(&Checkpoint::default(), Some("tok"));
        let q: Vec<(String, String)> = first.url.query_pairs().into_owned().collect();
        assert!(q.contains(&("$order".into(), ":updated_at, :id".into())), "{q:?}");
        assert!(!q.iter().any(|(k, _)| k == "$where"));
        assert_eq!(first.headers, [("X-App-Token", "tok".to_owned())]);
        let rows = json!([{":updated_at": "2018-01-09T09:00:00.000Z"}, {":updated_at": "2018-01-09T09:20:00.000Z"},
            {":updated_at": "2018-01-09T09:20:00.000Z"}]);
        let page = s.read(&Checkpoint::default(), &ok(rows.to_string().as_bytes())).unwrap();
        assert!(page.more);
        assert_eq!((page.next.since.as_deref(), page.next.offset), (Some("2018-01-09T09:20:00.000Z"), 2));
        let second = s.request(&page.next, None);
        let q: Vec<(String, String)> = second.url.query_pairs().into_owned().collect();
        assert!(q.contains(&("$where".into(), ":updated_at >= '2018-01-09T09:20:00.000Z'".into())));
        assert!(q.contains(&("$offset".into(), "2".into())));
        let last = s.read(&page.next, &ok(br#"[{":updated_at": "2018-01-09T09:20:00.000Z"}]"#)).unwrap();
        assert!(!last.more);
        assert_eq!(last.next.offset, 3);
    }

    #[test]
    fn errors_are_read_from_each_portals_error_body() {
        let s = source("kind = 'socrata'\nurl = 'https://data.example.org/resource/abcd-1234.json'");
        let bad =
            br#"{"code":"query.compiler.malformed","error":true,"message":"Could not parse SoQL query"}"#;
        let e = s.read(&Checkpoint::default(), &Answer { status: 400, body: bad, ..Answer::default() });
        assert_eq!(
            e.unwrap_err().to_string(),
            "HTTP 400: Could not parse SoQL query [query.compiler.malformed]"
        );
        let limited = Answer { status: 429, retry_after: Some("7"), ..Answer::default() };
        assert_eq!(
            s.read(&Checkpoint::default(), &limited).unwrap_err(),
            PortalError::RateLimited { retry_after: Some(Duration::from_secs(7)) }
        );
        let a = source(
            "kind = 'arcgis'\nurl = 'https://gis.example.org/arcgis/rest/services/Calls/FeatureServer/0'",
        );
        let body = br#"{"error":{"code":400,"message":"Invalid or missing input parameters.","details":["'where' parameter is invalid"]}}"#;
        assert_eq!(
            a.read(&Checkpoint::default(), &ok(body)).unwrap_err().to_string(),
            "the portal answered with an error: Invalid or missing input parameters. ('where' parameter is invalid) [400]"
        );
    }

    #[test]
    fn arcgis_features_flatten_and_page_by_date_to_the_second() {
        let a = source(
            "kind = 'arcgis'\nurl = 'https://gis.example.org/arcgis/rest/services/Calls/FeatureServer/0'\nupdated_field = 'CallTime'\npage_size = 2",
        );
        let body = json!({"features": [
            {"attributes": {"OBJECTID": 1, "CallTime": 1525151428123_i64}, "geometry": {"x": -87.9, "y": 43.1}},
            {"attributes": {"OBJECTID": 2, "CallTime": 1525151428999_i64}, "geometry": {"x": -87.9, "y": 43.1}}],
            "exceededTransferLimit": true});
        let page = a.read(&Checkpoint::default(), &ok(body.to_string().as_bytes())).unwrap();
        assert!(page.more);
        assert_eq!((page.next.since.as_deref(), page.next.offset), (Some("1525151428000"), 2));
        let Rows::Json(rows) = &page.rows else { panic!() };
        assert_eq!(rows[0]["geometry"], json!({"x": -87.9, "y": 43.1}));
        let next = a.request(&page.next, None);
        assert_eq!(next.url.path(), "/arcgis/rest/services/Calls/FeatureServer/0/query");
        let q: Vec<(String, String)> = next.url.query_pairs().into_owned().collect();
        assert!(q.contains(&("where".into(), "CallTime >= TIMESTAMP '2018-05-01 05:10:28'".into())), "{q:?}");
        let g =
            source("kind = 'arcgis'\nurl = 'https://gis.example.org/x/FeatureServer/0'\nformat = 'geojson'");
        let body = json!({"type": "FeatureCollection", "features": [{"type": "Feature", "id": 5,
            "properties": {"Nature": "THEFT"}, "geometry": {"type": "Point", "coordinates": [-87.9, 43.1]}}]});
        let page = g.read(&Checkpoint::default(), &ok(body.to_string().as_bytes())).unwrap();
        let Rows::Json(rows) = &page.rows else { panic!() };
        assert_eq!(rows[0], json!({"Nature": "THEFT", "OBJECTID": 5, "geometry": {"x": -87.9, "y": 43.1}}));
        assert!(!page.more);
    }

    #[test]
    fn whole_files_are_fetched_only_when_changed() {
        let s = source("kind = 'csv'\nurl = 'https://example.org/calls.csv'");
        let answer = Answer { status: 200, etag: Some("\"v1\""), body: b"id\n1\n", ..Answer::default() };
        let page = s.read(&Checkpoint::default(), &answer).unwrap();
        assert_eq!(page.next.etag.as_deref(), Some("\"v1\""));
        assert_eq!(s.request(&page.next, None).headers, [("If-None-Match", "\"v1\"".to_owned())]);
        let unchanged = s.read(&page.next, &Answer { status: 304, ..Answer::default() }).unwrap();
        assert!(matches!(unchanged.rows, Rows::Json(ref r) if r.is_empty()));
        assert_eq!(unchanged.next, page.next);
    }
}
