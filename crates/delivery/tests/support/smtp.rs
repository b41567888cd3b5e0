//! An SMTP server on loopback for tests: Python's aiosmtpd (`pip install aiosmtpd`; `.ci/run`
//! installs it), writing each message it receives into a maildir; stopped when dropped. Shared
//! by the delivery crate's tests and the binary's.

use std::time::Duration;

pub struct SmtpServer {
    child: std::process::Child,
    pub port: u16,
    maildir: tempfile::TempDir,
}

impl SmtpServer {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let maildir = tempfile::tempdir().unwrap();
        let child = std::process::Command::new("python3")
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(maildir.path().join("mail"))
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 (with aiosmtpd: pip install aiosmtpd)");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(std::time::Instant::now() < deadline, "aiosmtpd never listened: pip install aiosmtpd");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { child, port, maildir }
    }

    /// Every message received so far, as its text, in the order received.
    pub fn messages(&self) -> Vec<String> {
        let new = self.maildir.path().join("mail/new");
        let mut files: Vec<_> =
            std::fs::read_dir(new).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
        files.sort();
        files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect()
    }

    /// Wait up to `secs` seconds for at least `n` messages.
    pub async fn wait_for(&self, n: usize, secs: u64) -> Vec<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let messages = self.messages();
            if messages.len() >= n {
                return messages;
            }
            assert!(std::time::Instant::now() < deadline, "{} of {n} messages arrived", messages.len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
