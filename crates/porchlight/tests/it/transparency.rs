//! The transparency log inside `porchlight serve` (issue 9): what both worlds do lands in the
//! log, the CT-style endpoints prove it, the report sums it, and `porchlight audit verify`
//! checks it from the outside, reporting an entry edited, removed or reordered directly in
//! the database, and a second head signed for the same size.

use std::path::{Path, PathBuf};
use std::process::Output;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use porchlight_ledger::head::{Signer, TreeHead};
use porchlight_ledger::{Tree, leaf_hash, verify_inclusion};
use serde_json::Value;
use sqlx::Connection;

use crate::common::{Backend, Database, database, porchlight_at};
use crate::common::{SEATTLE_CSV, Server, browser_dom, eventually, get_json, import, porchlight, repo};

fn audit(url: &str, state: &Path) -> Output {
    porchlight().args(["audit", "verify", "--url", url, "--state"]).arg(state).output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn policy_set(data: &Path, approved_by: &str, file: &Path) {
    let out = porchlight_at(data)
        .args(["policy", "set", "--agency", "seattle", "--approved-by", approved_by, "--data-dir"])
        .arg(data)
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The log's signed head, once it covers at least `at_least` entries and has stopped growing.
async fn settled_head(http: &reqwest::Client, url: &str, at_least: u64) -> Value {
    let mut last = 0;
    eventually(20, "the log to settle", || {
        let http = http.clone();
        let url = format!("{url}/v1/log/get-sth");
        async move {
            let response = http.get(url).send().await.ok()?;
            let head: Value = response.json().await.ok()?;
            let size = head["tree_size"].as_u64()?;
            (size >= at_least).then_some(head)
        }
    })
    .await;
    // Stable over two copy rounds.
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
        let head = get_json(http, format!("{url}/v1/log/get-sth")).await;
        let size = head["tree_size"].as_u64().unwrap();
        if size == last {
            return head;
        }
        last = size;
    }
}

async fn entries(http: &reqwest::Client, url: &str, size: u64) -> Vec<String> {
    let page = get_json(http, format!("{url}/v1/log/get-entries?start=0&end={}", size - 1)).await;
    page["entries"].as_array().unwrap().iter().map(|e| e.as_str().unwrap().to_owned()).collect()
}

/// A data folder with Seattle's calls imported under two policy versions, and a portal
/// administrator: the log gets policy versions, daily counts and an account event.
async fn seattle(backend: Backend, dir: &Path) -> (PathBuf, Database) {
    let data = dir.join("data");
    let db = database(backend, &data).await;
    import(&data, "seattle", "examples/seattle.toml", &repo().join(SEATTLE_CSV));
    let stricter = dir.join("stricter.toml");
    let default = std::fs::read_to_string(repo().join("examples/policies/default.toml")).unwrap();
    std::fs::write(&stricter, default.replace("block_size = 100 ", "block_size = 1000")).unwrap();
    policy_set(&data, "Chief of Police", &stricter);
    let out = porchlight_at(&data)
        .args(["portal", "admin", "--email", "ops@city.example", "--data-dir"])
        .arg(&data)
        .env("PORCHLIGHT_ADMIN_PASSWORD", "a long operator passphrase")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (data, db)
}

porchlight_db::test_on_both! {
    #[tokio::test]
    async fn both_worlds_are_logged_proved_reported_and_verified_from_outside(backend) {
        let dir = tempfile::tempdir().unwrap();
        let (data, _db) = seattle(backend, dir.path()).await;
        let state = dir.path().join("audit.json");
        let server = Server::start(&data);
        let http = reqwest::Client::new();
        let head = settled_head(&http, &server.url, 4).await;
        let size = head["tree_size"].as_u64().unwrap();
        let log = entries(&http, &server.url, size).await;
        assert_eq!(log.len() as u64, size);
        let parsed: Vec<Value> = log.iter().map(|e| serde_json::from_str(e).unwrap()).collect();
        let kinds: Vec<&str> = parsed.iter().map(|e| e["kind"].as_str().unwrap()).collect();
        for kind in ["key", "policy.version", "calls.daily", "account"] {
            assert!(kinds.contains(&kind), "no {kind} in {kinds:?}");
        }
        let versions: Vec<&Value> = parsed.iter().filter(|e| e["kind"] == "policy.version").collect();
        assert_eq!(versions.len(), 2, "{versions:?}");
        assert_eq!(versions[1]["approved_by"], "Chief of Police");
        assert_eq!(versions[1]["policy"]["location"]["block_size"], 1000);
        assert!(versions[0]["approved_by"].as_str().unwrap().contains("default"));
        let admin = parsed.iter().find(|e| e["kind"] == "account").unwrap();
        assert_eq!(admin["event"], "platform_admin.appointed");
        // No personal data: the administrator is an id, never an address.
        assert!(!log.iter().any(|e| e.contains("ops@city.example")));

        // An inclusion proof for each entry verifies against the signed root.
        let root: [u8; 32] = B64.decode(head["sha256_root_hash"].as_str().unwrap()).unwrap().try_into().unwrap();
        for (i, entry) in log.iter().enumerate() {
            let leaf = leaf_hash(entry.as_bytes());
            let hash = B64.encode(leaf).replace('+', "%2B").replace('/', "%2F").replace('=', "%3D");
            let proof =
                get_json(&http, format!("{}/v1/log/get-proof-by-hash?hash={hash}&tree_size={size}", server.url))
                    .await;
            let path: Vec<[u8; 32]> = proof["audit_path"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| B64.decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
                .collect();
            let index = proof["leaf_index"].as_u64().unwrap();
            assert_eq!(index, i as u64);
            assert!(verify_inclusion(&leaf, index, size, &path, &root), "entry {i}");
        }

        // The report sums the day counts into months: Seattle's sample is March 2016.
        let report = get_json(&http, format!("{}/v1/transparency/report", server.url)).await;
        let month = &report["agencies"]["seattle"]["2016-03"];
        let published: u64 =
            month["calls_published"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
        assert!(published > 100, "{month}");
        // The page, as a browser renders it: a table per agency, a row per month.
        let url = format!("{}/v1/transparency/report.html", server.url);
        let dom = tokio::task::spawn_blocking(move || browser_dom(&url)).await.unwrap();
        assert!(dom.contains("<h2>seattle</h2>") && dom.contains("<td>2016-03</td>"), "{dom}");
        assert!(dom.contains(&format!("Computed from the {size} entries of the public log")), "{dom}");

        let out = audit(&server.url, &state);
        assert!(out.status.success(), "{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
        assert!(stdout(&out).contains(&format!("ok: {size} entries")), "{}", stdout(&out));

        // A new policy version, set beside the running server, is logged, and the log is
        // consistent with the head verified before.
        let again = dir.path().join("again.toml");
        let default = std::fs::read_to_string(repo().join("examples/policies/default.toml")).unwrap();
        std::fs::write(
            &again,
            default
                .replace("block_size = 100 ", "block_size = 1000")
                .replace("snap_resolution = 10", "snap_resolution = 8"),
        )
        .unwrap();
        policy_set(&data, "City Council resolution 2026-114", &again);
        let grown = settled_head(&http, &server.url, size + 1).await;
        let out = audit(&server.url, &state);
        assert!(out.status.success(), "{}", stdout(&out));
        assert!(
            stdout(&out).contains(&format!("ok: {} entries", grown["tree_size"]))
                && stdout(&out).contains(&format!("consistent with the {size} entries you verified before")),
            "{}",
            stdout(&out)
        );
        // `watch` says the same, round after round.
        let mut watch = porchlight_at(&data)
            .args(["audit", "watch", "--every", "1", "--url", &server.url, "--state"])
            .arg(&state)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(watch.stdout.take().unwrap()));
        for _ in 0..2 {
            let line = lines.next().unwrap().unwrap();
            assert!(line.starts_with(&format!("ok: {} entries", grown["tree_size"])), "{line}");
        }
        watch.kill().unwrap();
        watch.wait().unwrap();
    }
}

/// Flush the log's write-ahead file into the database, so it can be copied whole.
async fn checkpoint(db: &Path) {
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

async fn tamper(db: &Path, sql: &[&str]) {
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    for statement in sql {
        sqlx::query(sqlx::AssertSqlSafe(statement.to_string())).execute(&mut conn).await.unwrap();
    }
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

/// The auditor works on a copy of the log's SQLite file, tampered with behind its back.
#[tokio::test]
async fn the_auditor_reports_edits_removals_reorders_and_forks() {
    let backend = Backend::Sqlite;
    let dir = tempfile::tempdir().unwrap();
    let (data, _db) = seattle(backend, dir.path()).await;
    let state = dir.path().join("audit.json");
    let http = reqwest::Client::new();
    let size = {
        let server = Server::start(&data);
        let head = settled_head(&http, &server.url, 4).await;
        let out = audit(&server.url, &state);
        assert!(out.status.success(), "{}", stdout(&out));
        head["tree_size"].as_u64().unwrap()
    };
    let db = data.join("ledger.db");
    checkpoint(&db).await;
    let pristine = dir.path().join("pristine.db");
    std::fs::copy(&db, &pristine).unwrap();
    let seen = std::fs::read_to_string(&state).unwrap();

    let cases: [(&str, Vec<&str>, String); 3] = [
        (
            "an edited entry",
            vec![
                "UPDATE entries SET body = replace(body, 'Chief of Police', 'the Mayor') WHERE body LIKE '%Chief of Police%'",
            ],
            format!("the {size} entries served do not hash to the root"),
        ),
        (
            "a removed entry",
            vec!["DELETE FROM entries WHERE idx = (SELECT max(idx) FROM entries)"],
            format!("the log's head says {size} entries, but it served {}", size - 1),
        ),
        (
            "two entries swapped",
            vec![
                "UPDATE entries SET idx = -1 WHERE idx = 1",
                "UPDATE entries SET idx = 1 WHERE idx = 2",
                "UPDATE entries SET idx = 2 WHERE idx = -1",
            ],
            format!("the {size} entries served do not hash to the root"),
        ),
    ];
    for (what, sql, expected) in cases {
        std::fs::copy(&pristine, &db).unwrap();
        tamper(&db, &sql).await;
        std::fs::write(&state, &seen).unwrap();
        let server = Server::start(&data);
        let out = audit(&server.url, &state);
        assert!(!out.status.success(), "{what}: {}", stdout(&out));
        assert!(
            stdout(&out).contains("PROBLEM") && stdout(&out).contains(&expected),
            "{what}: {}",
            stdout(&out)
        );
        // The state keeps the head verified before: the evidence.
        assert_eq!(std::fs::read_to_string(&state).unwrap(), seen, "{what}");
    }

    // A fork: the operator rewrites an entry, fixes its hash, drops the old heads and signs a
    // new one for the same size with the same key. The server's own check passes; the
    // auditor, who saw the first head, does not.
    std::fs::copy(&pristine, &db).unwrap();
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    let bodies: Vec<String> =
        sqlx::query_scalar("SELECT body FROM entries ORDER BY idx").fetch_all(&mut conn).await.unwrap();
    let bodies: Vec<String> = bodies.into_iter().map(|b| b.replace("Chief of Police", "the Mayor")).collect();
    let mut tree = Tree::new();
    for (i, body) in bodies.iter().enumerate() {
        let leaf = leaf_hash(body.as_bytes());
        tree.push(leaf);
        sqlx::query("UPDATE entries SET body = ?, leaf = ? WHERE idx = ?")
            .bind(body)
            .bind(leaf.to_vec())
            .bind(i as i64)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    assert_eq!(tree.len(), size);
    let signer = Signer::parse(&std::fs::read_to_string(data.join("log-signing.key")).unwrap()).unwrap();
    let timestamp = chrono::Utc::now().timestamp_millis() as u64;
    let forged = signer.sign(&TreeHead { size, timestamp, root: tree.root(size).unwrap() });
    sqlx::query("DELETE FROM heads").execute(&mut conn).await.unwrap();
    sqlx::query("INSERT INTO heads (tree_size, timestamp, root, signature) VALUES (?, ?, ?, ?)")
        .bind(size as i64)
        .bind(timestamp as i64)
        .bind(tree.root(size).unwrap().to_vec())
        .bind(B64.decode(&forged.tree_head_signature).unwrap())
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    std::fs::write(&state, &seen).unwrap();
    let server = Server::start(&data);
    let head = get_json(&http, format!("{}/v1/log/get-sth", server.url)).await;
    assert_eq!(head["sha256_root_hash"], forged.sha256_root_hash, "the server serves the forged head");
    let out = audit(&server.url, &state);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains(&format!("fork: two heads signed for size {size}")), "{}", stdout(&out));
}

/// `porchlight backup` copies a data folder while its server runs, and `porchlight restore`
/// makes a fresh folder from the copy (issue 13): a server started on it publishes the same
/// incidents and the same log (an auditor who verified the original finds the restored one
/// consistent with it), and keeps the clips; a backup altered since it was made, a folder
/// that already holds data, and a store in PostgreSQL are refused.
#[tokio::test]
async fn a_backup_taken_while_serving_restores_to_the_same_server() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _db) = seattle(Backend::Sqlite, dir.path()).await;
    let clip = data.join("clips").join("requests").join("clip-1.mp4");
    std::fs::create_dir_all(clip.parent().unwrap()).unwrap();
    std::fs::write(&clip, b"not really a video, but bytes to keep").unwrap();
    let server = Server::start(&data);
    let http = reqwest::Client::new();
    let head = settled_head(&http, &server.url, 4).await;
    let size = head["tree_size"].as_u64().unwrap();
    let state = dir.path().join("audit.json");
    assert!(audit(&server.url, &state).status.success());
    let incidents = |url: String| {
        let http = http.clone();
        async move { get_json(&http, format!("{url}/v1/incidents?limit=500")).await }
    };
    let published = incidents(server.url.clone()).await;
    assert!(published["incidents"].as_array().unwrap().len() > 100);

    // While the server runs.
    let backup = dir.path().join("backup");
    let out =
        porchlight().args(["backup", "--data-dir"]).arg(&data).arg("--to").arg(&backup).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout(&out).contains("MANIFEST.json"), "{}", stdout(&out));
    drop(server);

    let restored = dir.path().join("restored");
    let restore = |to: &Path| {
        porchlight().args(["restore", "--from"]).arg(&backup).arg("--data-dir").arg(to).output().unwrap()
    };
    let out = restore(&restored);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        std::fs::read(restored.join("clips/requests/clip-1.mp4")).unwrap(),
        std::fs::read(&clip).unwrap()
    );
    // Not over data.
    let again = restore(&restored);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("is not empty"));

    let server = Server::start(&restored);
    assert_eq!(incidents(server.url.clone()).await, published);
    let head_after = settled_head(&http, &server.url, size).await;
    assert_eq!(head_after["tree_size"], head["tree_size"]);
    assert_eq!(head_after["sha256_root_hash"], head["sha256_root_hash"]);
    let out = audit(&server.url, &state);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(
        stdout(&out).contains(&format!("consistent with the {size} entries you verified before")),
        "{}",
        stdout(&out)
    );
    drop(server);

    // A backup altered since it was made is refused before anything is written.
    std::fs::write(backup.join("clips/requests/clip-1.mp4"), b"something else").unwrap();
    let elsewhere = dir.path().join("elsewhere");
    let out = restore(&elsewhere);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("clips/requests/clip-1.mp4") && err.contains("not as it was made"), "{err}");
    assert!(!elsewhere.join("porchlight.db").exists());
    // PostgreSQL has its own tools.
    let out = porchlight()
        .args(["backup", "--data-dir"])
        .arg(&data)
        .arg("--to")
        .arg(dir.path().join("pg"))
        .env("PORCHLIGHT_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"));
}
