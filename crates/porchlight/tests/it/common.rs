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
pub use porchlight_db::Backend;
use porchlight_db::testing::TestLocation;
use serde_json::Value;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn porchlight() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_porchlight"));
    cmd.env_remove("PORCHLIGHT_DATA_DIR").env_remove("PORCHLIGHT_DATABASE_URL").env("PORCHLIGHT_LOG", "info");
    cmd
}

/// The PostgreSQL database each data folder's tables are in, for the tests that run on both
/// backends (a folder not named here keeps SQLite files).
static DATABASES: Mutex<Vec<(PathBuf, String)>> = Mutex::new(Vec::new());

/// Where a test's data folder keeps its tables: on `backend`, for as long as this lives.
pub struct Database {
    data: PathBuf,
    _at: TestLocation,
}

/// Keep the tables of the data folder `data` on `backend`: with PostgreSQL, every command run
/// through [`porchlight_at`] (and the helpers here) gets `--database-url` to a fresh database.
pub async fn database(backend: Backend, data: &Path) -> Database {
    let at = TestLocation::new(backend, data).await;
    if let Some(url) = at.database_url() {
        DATABASES.lock().unwrap().push((data.to_path_buf(), url.to_owned()));
    }
    Database { data: data.to_path_buf(), _at: at }
}

impl Drop for Database {
    fn drop(&mut self) {
        DATABASES.lock().unwrap().retain(|(d, _)| *d != self.data);
    }
}

/// The database URL of the data folder `data`, if its tables are in PostgreSQL.
pub fn database_url(data: &Path) -> Option<String> {
    DATABASES.lock().unwrap().iter().find(|(d, _)| d == data).map(|(_, url)| url.clone())
}

/// A connection to the store's tables of the data folder `data` (its SQLite file, or its
/// schema in PostgreSQL), for tests that look at what is stored.
pub async fn store_connection(data: &Path) -> sqlx::AnyConnection {
    connect_to_store(data, "?mode=ro").await
}

/// A connection that may change the store's tables under a running server: for tests of what
/// the server does when its database fails it.
pub async fn store_connection_for_writing(data: &Path) -> sqlx::AnyConnection {
    connect_to_store(data, "").await
}

async fn connect_to_store(data: &Path, sqlite_mode: &str) -> sqlx::AnyConnection {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    match database_url(data) {
        Some(url) => {
            let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
            sqlx::query("SET search_path TO store").execute(&mut conn).await.unwrap();
            conn
        }
        None => {
            let url = format!("sqlite://{}{sqlite_mode}", data.join("porchlight.db").display());
            sqlx::AnyConnection::connect(&url).await.unwrap()
        }
    }
}

/// `porchlight` for commands on the data folder `data`: with its database, if it has one.
pub fn porchlight_at(data: &Path) -> Command {
    let mut cmd = porchlight();
    if let Some(url) = database_url(data) {
        cmd.env("PORCHLIGHT_DATABASE_URL", url);
    }
    cmd
}

pub const MILWAUKEE_CSV: &str = "examples/data/milwaukee-cfs/data.csv";
pub const SEATTLE_CSV: &str =
    "examples/data/seattle-spd-911/Seattle_Police_Department_911_Incident_Response.csv";
pub const SLO_CSV: &str = "examples/data/slo-pd-log/SLOPD_report.csv";

pub fn import(data: &Path, agency: &str, mapping: &str, file: &Path) -> Output {
    let out = porchlight_at(data)
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
        let mut child = porchlight_at(data)
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

/// Every text value of every column of every table of the store, one per line: what the
/// database holds, and how many values were read. `path` is the SQLite file, unless its data
/// folder's tables are in PostgreSQL, where every table of the store's schema is read.
/// (Reading the file's bytes instead mistakes SQLite's record headers and random keys for
/// digits next to street names.)
pub async fn stored_text(path: &Path) -> (String, usize) {
    use sqlx::{Column, Connection, Row, TypeInfo};
    sqlx::any::install_default_drivers();
    let postgres = path.parent().and_then(database_url);
    let (url, list) = match &postgres {
        Some(url) => (
            url.clone(),
            "SELECT table_schema || '.' || table_name FROM information_schema.tables WHERE table_schema = 'store'",
        ),
        None => (
            format!("sqlite://{}?mode=ro", path.display()),
            "SELECT name FROM sqlite_master WHERE type = 'table'",
        ),
    };
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    let tables: Vec<(String,)> = sqlx::query_as(list).fetch_all(&mut conn).await.unwrap();
    assert!(tables.len() > 10, "{tables:?}");
    let mut out = String::new();
    let mut values = 0;
    // The migrations' own bookkeeping holds no data.
    for (table,) in tables.into_iter().filter(|(t,)| !t.ends_with("_sqlx_migrations")) {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM {table}")))
            .fetch_all(&mut conn)
            .await
            .unwrap();
        for row in rows {
            for (i, column) in row.columns().iter().enumerate() {
                // Keys and hashes are blobs of random bytes: no text in them.
                if matches!(column.type_info().name(), "BLOB" | "BYTEA") {
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

/// A data folder (its tables on `backend`) with Milwaukee's agency and no calls.
pub async fn milwaukee_without_calls(backend: Backend) -> (tempfile::TempDir, PathBuf, Database) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let db = database(backend, &data).await;
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "id,time,location,latitude,longitude,district,nature,status\n").unwrap();
    import(&data, "milwaukee", "examples/milwaukee.toml", &empty);
    (dir, data, db)
}

pub fn new_push_key(data: &Path) -> Vec<u8> {
    let out = porchlight_at(data)
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

/// Whether `text` holds `number` as a number of its own, not as digits inside a longer one
/// (a timestamp's nanoseconds can hold a house number's digits).
pub fn holds_number(text: &str, number: &str) -> bool {
    text.match_indices(number).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + number.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit()) && !after.is_some_and(|c| c.is_ascii_digit())
    })
}
