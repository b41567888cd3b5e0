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
