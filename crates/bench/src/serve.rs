//! The `porchlight` binary beside a benchmark's own, run as a child process.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

/// The release `porchlight` beside this benchmark (build it first).
pub fn porchlight_binary() -> PathBuf {
    let bin = std::env::current_exe().expect("this binary's path").with_file_name("porchlight");
    assert!(
        bin.exists(),
        "build it first: cargo build --release -p porchlight ({} is missing)",
        bin.display()
    );
    bin
}

/// A child process that is killed when this is dropped; `.1` is what it printed first (for a
/// server, its URL).
pub struct Server(pub Child, pub String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `porchlight serve` on a free port of `data`, with `args` besides.
pub fn serve(data: &Path, args: &[&str]) -> Server {
    let mut child = Command::new(porchlight_binary())
        .args(["serve", "--port", "0"])
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env("PORCHLIGHT_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("porchlight serve");
    let line = first_line(child.stdout.take().expect("stdout"));
    let url = line.strip_prefix("listening on ").expect("listening on URL").to_owned();
    Server(child, url)
}

/// The first line a child printed, trimmed.
pub fn first_line(out: std::process::ChildStdout) -> String {
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line).expect("a first line");
    line.trim().to_owned()
}
