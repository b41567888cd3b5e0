//! What the black-box tests share: the binary, its data folders, a `porchlight serve` child,
//! a receiver of webhooks and pushes.

use std::{
    collections::VecDeque,
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::{Path as UrlPath, State},
    http::{HeaderMap, StatusCode},
    routing::post,
};
use serde_json::Value;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn porchlight() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_porchlight"));
    cmd.env_remove("PORCHLIGHT_DATA_DIR").env("PORCHLIGHT_LOG", "info");
    cmd
}

pub const MILWAUKEE_CSV: &str = "examples/data/milwaukee-cfs/data.csv";
pub const SEATTLE_CSV: &str =
    "examples/data/seattle-spd-911/Seattle_Police_Department_911_Incident_Response.csv";
pub const SLO_CSV: &str = "examples/data/slo-pd-log/SLOPD_report.csv";

pub fn import(data: &Path, agency: &str, mapping: &str, file: &Path) -> Output {
    let out = porchlight()
        .args(["import", "--format", "json", "--agency", agency, "--mapping"])
        .arg(repo().join(mapping))
        .arg("--data-dir")
        .arg(data)
        .arg(file)
        .env("PORCHLIGHT_LOG", "debug")
        .output()
        .expect("run porchlight import");
    assert!(out.status.success(), "import failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

pub fn summary(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).expect("JSON summary")
}

/// A `porchlight serve` child process, killed when dropped.
pub struct Server {
    pub child: Child,
    pub url: String,
}

impl Server {
    pub fn start(data: &Path) -> Self {
        Self::start_with_env(data, &[])
    }

    /// Start with extra environment variables.
    pub fn start_with_env(data: &Path, env: &[(&str, &str)]) -> Self {
        let mut child = porchlight()
            .args(["serve", "--port", "0", "--data-dir"])
            .arg(data)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(if std::env::var_os("PORCHLIGHT_TEST_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .expect("start porchlight serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected: {line}"))
            .to_owned();
        Self { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET a URL and read its JSON answer.
pub async fn get_json(http: &reqwest::Client, url: impl reqwest::IntoUrl) -> Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

/// Every text value of every column of every table, one per line: what the database holds,
/// and how many values were read. (Reading the file's bytes instead mistakes SQLite's record
/// headers and random keys for digits next to street names.)
pub async fn stored_text(path: &Path) -> (String, usize) {
    use sqlx::{Column, Connection, Row, TypeInfo};
    let url = format!("sqlite://{}?mode=ro", path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let tables: Vec<(String,)> = sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'table'")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    let mut out = String::new();
    let mut values = 0;
    for (table,) in tables {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM \"{table}\"")))
            .fetch_all(&mut conn)
            .await
            .unwrap();
        for row in rows {
            for (i, column) in row.columns().iter().enumerate() {
                // Keys and hashes are BLOBs of random bytes: no text in them.
                if column.type_info().name() == "BLOB" {
                    continue;
                }
                let text = row
                    .try_get::<Option<String>, _>(i)
                    .ok()
                    .flatten()
                    .or_else(|| row.try_get::<Option<f64>, _>(i).ok().flatten().map(|f| f.to_string()))
                    .or_else(|| row.try_get::<Option<i64>, _>(i).ok().flatten().map(|n| n.to_string()));
                if let Some(text) = text {
                    out.push_str(&text);
                    out.push('\n');
                    values += 1;
                }
            }
        }
    }
    (out, values)
}

pub fn milwaukee_without_calls() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "id,time,location,latitude,longitude,district,nature,status\n").unwrap();
    import(&data, "milwaukee", "examples/milwaukee.toml", &empty);
    (dir, data)
}

pub fn new_push_key(data: &Path) -> Vec<u8> {
    let out = porchlight()
        .args(["agency", "key", "--agency", "milwaukee", "--data-dir"])
        .arg(data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let hex = stdout.lines().find_map(|l| l.strip_prefix("secret ")).unwrap();
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

pub async fn signed_push_as(
    endpoint: &str,
    content_type: &str,
    secret: &[u8],
    timestamp: i64,
    body: &str,
) -> reqwest::Response {
    signed_request(endpoint, content_type, secret, timestamp, body).send().await.unwrap()
}

/// A push signed as a dispatch centre signs it, ready to send.
pub fn signed_request(
    endpoint: &str,
    content_type: &str,
    secret: &[u8],
    timestamp: i64,
    body: &str,
) -> reqwest::RequestBuilder {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(format!("{timestamp}.{body}").as_bytes());
    let signature: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    reqwest::Client::new()
        .post(endpoint)
        .header("content-type", content_type)
        .header("X-Porchlight-Timestamp", timestamp.to_string())
        .header("X-Porchlight-Signature", format!("v1={signature}"))
        .body(body.to_owned())
}

/// Create a subscription from its JSON body; returns the answer.
pub async fn create_subscription(http: &reqwest::Client, url: &str, body: Value) -> Value {
    http.post(format!("{url}/v1/subscriptions")).json(&body).send().await.unwrap().json().await.unwrap()
}

/// Create a subscription from its JSON body; returns its id.
pub async fn subscribe(http: &reqwest::Client, url: &str, body: Value) -> String {
    let created = create_subscription(http, url, body).await;
    created["id"].as_str().unwrap_or_else(|| panic!("no subscription: {created}")).to_owned()
}

/// One request a receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A receiver on loopback that records every request and answers from a script of statuses
/// (then 200 once the script runs out).
#[derive(Clone, Default)]
pub struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
    /// Answered when the script is empty.
    otherwise: Arc<Mutex<u16>>,
}

impl Receiver {
    pub async fn start(statuses: &[u16], otherwise: u16) -> (Self, SocketAddr) {
        let receiver = Self {
            got: Arc::default(),
            script: Arc::new(Mutex::new(statuses.iter().copied().collect())),
            otherwise: Arc::new(Mutex::new(otherwise)),
        };
        async fn take(
            State(r): State<Receiver>,
            UrlPath(path): UrlPath<String>,
            headers: HeaderMap,
            body: Bytes,
        ) -> StatusCode {
            r.got.lock().unwrap().push(Received { path, headers, body });
            let status = r.script.lock().unwrap().pop_front().unwrap_or(*r.otherwise.lock().unwrap());
            StatusCode::from_u16(status).unwrap()
        }
        let app = Router::new().route("/{*path}", post(take)).with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, addr)
    }

    pub fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    pub fn answer_from_now(&self, status: u16) {
        *self.otherwise.lock().unwrap() = status;
    }
}

/// Poll `check` every 50 ms until it gives a value, for at most `secs` seconds.
pub async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    secs: u64,
    what: &str,
    check: impl Fn() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The DOM of `url` after a real headless Chromium loaded it (Debian's chromium, which
/// `.ci/run` installs).
pub fn browser_dom(url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .output()
        .expect("run chromium (apt-get install chromium; .ci/run does)");
    assert!(out.status.success(), "chromium: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}
