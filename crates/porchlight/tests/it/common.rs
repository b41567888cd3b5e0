//! What the black-box tests share: the binary, its data folders, a `porchlight serve` child.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
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
            .stderr(Stdio::null())
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
