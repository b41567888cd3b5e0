//! The log in SQLite, in PostgreSQL and over HTTP: appends survive reopening, the stored log is checked
//! against every head it signed (and refuses to grow once it fails), a new signing key is the
//! log's next entry, and the CT-style endpoints answer with proofs that verify.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use porchlight_db::{Backend, Location, testing::TestLocation};
use porchlight_ledger::entry::Entry;
use porchlight_ledger::head::{LogKey, SignedHead, Signer};
use porchlight_ledger::{Hash, Ledger, LedgerError, leaf_hash, verify_consistency, verify_inclusion};
use serde_json::Value;
use sqlx::Connection;

fn entries(from: usize, n: usize) -> Vec<String> {
    (from..from + n)
        .map(|i| {
            Entry::RequestCreated {
                at: "2026-11-01T00:00:00Z".into(),
                request: format!("r{i}"),
                agency: "mpd".into(),
            }
            .to_canonical()
        })
        .collect()
}

fn hash(text: &str) -> Hash {
    B64.decode(text).unwrap().try_into().unwrap()
}

/// Run a statement on the log's tables behind its back.
async fn sql(at: &TestLocation, statement: &str) {
    sqlx::any::install_default_drivers();
    let url = match &at.location {
        Location::Dir(dir) => format!("sqlite://{}", dir.join("ledger.db").display()),
        Location::Postgres(url) => url.clone(),
    };
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    if at.backend == Backend::Postgres {
        sqlx::query("SET search_path TO ledger").execute(&mut conn).await.unwrap();
    }
    sqlx::query(sqlx::AssertSqlSafe(statement.to_string())).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

/// A blob literal in the backend's SQL.
fn blob(backend: Backend, hex: &str) -> String {
    match backend {
        Backend::Sqlite => format!("X'{hex}'"),
        Backend::Postgres => format!("'\\x{hex}'::bytea"),
    }
}

porchlight_db::test_on_both! {
    #[tokio::test]
    async fn the_log_survives_reopening_checks_itself_and_logs_a_new_key(backend) {
        let dir = tempfile::tempdir().unwrap();
        let at = TestLocation::new(backend, dir.path()).await;
        let key = || Some(Signer::from_seed([5; 32]));
        let ledger = Ledger::connect(&at.location, key()).await.unwrap();
        // The first key in use is the first entry.
        assert_eq!(ledger.len(), 1);
        assert!(ledger.entries(0, 1).await.unwrap()[0].contains(r#""purpose":"log""#));
        ledger.append(&entries(0, 40), &[("portal".into(), "40".into())]).await.unwrap();
        let head = ledger.sign_if_due(1_000, 3_600_000).await.unwrap().unwrap();
        assert_eq!(head.tree_size, 41);
        // Nothing new and not stale: no new head; stale: a fresh one for the same tree.
        assert_eq!(ledger.sign_if_due(2_000, 3_600_000).await.unwrap(), None);
        let fresh = ledger.sign_if_due(5_000_000, 3_600_000).await.unwrap().unwrap();
        assert_eq!((fresh.tree_size, &fresh.sha256_root_hash), (41, &head.sha256_root_hash));
        drop(ledger);

        let ledger = Ledger::connect(&at.location, key()).await.unwrap();
        assert_eq!((ledger.len(), ledger.broken()), (41, None));
        assert_eq!(ledger.cursor("portal").await.unwrap().as_deref(), Some("40"));
        assert_eq!(ledger.latest_head().await.unwrap(), Some(fresh.clone()));
        drop(ledger);

        // A new key: logged as the next entry.
        let ledger = Ledger::connect(&at.location, Some(Signer::from_seed([6; 32]))).await.unwrap();
        assert_eq!(ledger.len(), 42);
        let last = &ledger.entries(41, 42).await.unwrap()[0];
        assert!(last.contains(&Signer::from_seed([6; 32]).public_key().to_base64()), "{last}");
        ledger.sign_if_due(6_000_000, 3_600_000).await.unwrap().unwrap();
        drop(ledger);

        // An entry edited in the database: the log says which and refuses to grow.
        sql(&at, "UPDATE entries SET body = replace(body, 'r7', 'r8') WHERE idx = 8").await;
        let ledger = Ledger::connect(&at.location, key()).await.unwrap();
        assert_eq!(ledger.broken(), Some("entry 8 no longer matches the hash it was logged with"));
        assert!(matches!(ledger.append(&entries(99, 1), &[]).await, Err(LedgerError::Broken(_))));
        assert!(matches!(ledger.sign_if_due(9_000_000, 0).await, Err(LedgerError::Broken(_))));
        drop(ledger);

        // Edited with its hash fixed up: the signed heads no longer match.
        let fixed = entries(7, 1)[0].replace("r7", "r8");
        let leaf: String = leaf_hash(fixed.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        sql(&at, &format!("UPDATE entries SET leaf = {} WHERE idx = 8", blob(backend, &leaf))).await;
        let ledger = Ledger::connect(&at.location, key()).await.unwrap();
        assert!(
            ledger.broken().unwrap().starts_with("the first 41 entries no longer hash to the head signed at"),
            "{:?}",
            ledger.broken()
        );
        drop(ledger);

        // A removed entry.
        sql(&at, "DELETE FROM entries WHERE idx = 3").await;
        let ledger = Ledger::connect(&at.location, key()).await.unwrap();
        assert_eq!(ledger.broken(), Some("entry 3 is missing"));
    }
}

async fn get(http: &reqwest::Client, url: String) -> (u16, Value) {
    let response = http.get(url).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

porchlight_db::test_on_both! {
    #[tokio::test]
    async fn the_endpoints_answer_as_ct_logs_do_with_proofs_that_verify(backend) {
        let dir = tempfile::tempdir().unwrap();
        let at = TestLocation::new(backend, dir.path()).await;
        let ledger = Ledger::connect(&at.location, Some(Signer::from_seed([5; 32]))).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app: axum::Router = porchlight_ledger::api::router(ledger.clone()).into();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let http = reqwest::Client::new();

        let (status, body) = get(&http, format!("{url}/v1/log/get-sth")).await;
        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("no_head")));
        ledger.append(&entries(0, 1500), &[]).await.unwrap();
        let small = ledger.sign_if_due(1_000, 0).await.unwrap().unwrap();
        ledger.append(&entries(1500, 501), &[]).await.unwrap();
        // Entries past the signed head are not proved against.
        let (status, _) = get(&http, format!("{url}/v1/log/get-sth-consistency?first=10&second=2002")).await;
        assert_eq!(status, 400);
        let big = ledger.sign_if_due(2_000, 0).await.unwrap().unwrap();

        let (_, key) = get(&http, format!("{url}/v1/log/key")).await;
        let key = LogKey::parse(key["public_key"].as_str().unwrap()).unwrap();
        let (_, sth) = get(&http, format!("{url}/v1/log/get-sth")).await;
        let sth: SignedHead = serde_json::from_value(sth).unwrap();
        assert_eq!(sth, big);
        let head = sth.verify(&key).unwrap();

        // Entries: inclusive ranges, at most 1000 at a time, the exact text.
        let (_, page) = get(&http, format!("{url}/v1/log/get-entries?start=1&end=5000")).await;
        let page = page["entries"].as_array().unwrap();
        assert_eq!(page.len(), 1000);
        assert_eq!(page[0].as_str().unwrap(), entries(0, 1)[0]);
        let (status, body) = get(&http, format!("{url}/v1/log/get-entries?start=5&end=4")).await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_range")));

        // Consistency from the small head to the big one.
        let (_, proof) = get(
            &http,
            format!("{url}/v1/log/get-sth-consistency?first={}&second={}", small.tree_size, big.tree_size),
        )
        .await;
        let proof: Vec<Hash> =
            proof["consistency"].as_array().unwrap().iter().map(|h| hash(h.as_str().unwrap())).collect();
        let old = small.verify(&key).unwrap();
        assert!(verify_consistency(old.size, head.size, &proof, &old.root, &head.root));

        // Inclusion by index, with the entry.
        let (_, both) =
            get(&http, format!("{url}/v1/log/get-entry-and-proof?leaf_index=777&tree_size={}", head.size)).await;
        let entry = both["entry"].as_str().unwrap();
        let path: Vec<Hash> =
            both["audit_path"].as_array().unwrap().iter().map(|h| hash(h.as_str().unwrap())).collect();
        assert!(verify_inclusion(&leaf_hash(entry.as_bytes()), 777, head.size, &path, &head.root));
        // By hash, in the older tree too.
        let leaf = leaf_hash(entries(99, 1)[0].as_bytes());
        let encoded = B64.encode(leaf).replace('+', "%2B").replace('/', "%2F").replace('=', "%3D");
        let (_, proof) =
            get(&http, format!("{url}/v1/log/get-proof-by-hash?hash={encoded}&tree_size={}", old.size)).await;
        let path: Vec<Hash> =
            proof["audit_path"].as_array().unwrap().iter().map(|h| hash(h.as_str().unwrap())).collect();
        assert_eq!(proof["leaf_index"], 100);
        assert!(verify_inclusion(&leaf, 100, old.size, &path, &old.root));
        let (status, body) = get(&http, format!("{url}/v1/log/get-proof-by-hash?hash=AAAA&tree_size=5")).await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_hash")));
        let missing = B64.encode([0u8; 32]);
        let (status, _) = get(&http, format!("{url}/v1/log/get-proof-by-hash?hash={missing}&tree_size=5")).await;
        assert_eq!(status, 404);
    }
}
