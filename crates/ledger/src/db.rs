//! The log kept in SQLite (`ledger.db` in the data folder): entries appended in batches, the
//! signed tree heads, and the cursors of the sources it copies from. The tree is rebuilt from
//! the entries' bodies when the log opens and checked against every head it ever signed; a
//! log that fails the check serves what it has (so auditors can see) but appends and signs
//! nothing more.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use porchlight_db::{Backend, Db, Location, Part};
use sqlx::Row;
use sqlx::migrate::Migrator;

use crate::entry::{Entry, time};
use crate::head::{SignedHead, Signer, TreeHead};
use crate::{Hash, Tree, leaf_hash};

/// The log's database file, in the data folder beside the two worlds'.
pub const DATABASE_FILE: &str = "ledger.db";

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    Db(#[from] porchlight_db::DbError),
    #[error("migrating the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("the stored log fails its check, so it appends and signs nothing: {0}")]
    Broken(String),
    #[error("no signing key is configured")]
    NoKey,
}

pub type Result<T> = std::result::Result<T, LedgerError>;

/// The log. Cheap to clone; one appender at a time.
#[derive(Clone)]
pub struct Ledger {
    db: Db,
    tree: Arc<RwLock<Leaves>>,
    append: Arc<tokio::sync::Mutex<()>>,
    signer: Option<Arc<Signer>>,
    broken: Option<String>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger").field("broken", &self.broken).finish_non_exhaustive()
    }
}

impl Ledger {
    /// Open (creating if needed) the log in `data_dir`, signing with `signer`. If the key is
    /// not the one the log last signed with, the change is the log's next entry.
    /// Copy this part's SQLite database, as it stands at one moment, into `file` (which must
    /// not exist), while the server runs: see `porchlight backup`.
    pub async fn backup_into(&self, file: &std::path::Path) -> Result<()> {
        Ok(self.db.backup_into(file).await?)
    }

    pub async fn open(data_dir: &Path, signer: Option<Signer>) -> Result<Self> {
        Self::connect(&Location::Dir(data_dir.to_path_buf()), signer).await
    }

    /// Open the log where `location` says: its own SQLite file, or its own schema of a
    /// PostgreSQL database.
    pub async fn connect(location: &Location, signer: Option<Signer>) -> Result<Self> {
        static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");
        static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");
        let part = Part {
            file: DATABASE_FILE,
            schema: "ledger",
            pragmas: &[],
            sqlite_migrations: &SQLITE,
            postgres_migrations: &POSTGRES,
        };
        let db = Db::open(location, &part).await?;
        let (tree, broken) = check(&db).await?;
        let tree = Leaves::from(tree);
        let ledger = Self {
            db,
            tree: Arc::new(RwLock::new(tree)),
            append: Arc::new(tokio::sync::Mutex::new(())),
            signer: signer.map(Arc::new),
            broken,
        };
        if let (Some(signer), None) = (&ledger.signer, &ledger.broken) {
            let key = signer.public_key().to_base64();
            let known: Option<String> =
                sqlx::query_scalar("SELECT value FROM settings WHERE key = 'public_key'")
                    .fetch_optional(ledger.db.pool())
                    .await?;
            if known.as_deref() != Some(key.as_str()) {
                let entry = Entry::Key {
                    at: time(chrono::Utc::now()),
                    event: "in_use".into(),
                    purpose: "log".into(),
                    agency: None,
                    key: key.clone(),
                };
                ledger.append(&[entry.to_canonical()], &[("public_key".into(), key)]).await?;
            }
        }
        Ok(ledger)
    }

    /// Why the stored log failed its check, if it did.
    pub fn broken(&self) -> Option<&str> {
        self.broken.as_deref()
    }

    pub fn signer(&self) -> Option<&Signer> {
        self.signer.as_deref()
    }

    /// How many entries the log holds.
    pub fn len(&self) -> u64 {
        self.tree.read().expect("tree lock").tree.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Append entries (canonical JSON each) and move cursors, in one transaction. A cursor
    /// named `public_key` is kept in settings: the key the log signs with. Returns the new
    /// size.
    pub async fn append(&self, entries: &[String], cursors: &[(String, String)]) -> Result<u64> {
        if let Some(why) = &self.broken {
            return Err(LedgerError::Broken(why.clone()));
        }
        let _one = self.append.lock().await;
        let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e.as_bytes())).collect();
        let mut tx = self.db.write().await?;
        // Entries another process appended (its key, at its start) come first.
        self.catch_up_in(&mut tx).await?;
        let start = self.len();
        if !entries.is_empty() {
            // The entries as one JSON array, and their leaf hashes as one blob, 32 bytes each.
            let sql = match self.db.backend() {
                Backend::Sqlite => {
                    "INSERT INTO entries (idx, leaf, body)
                     SELECT ?1 + key, substr(?2, key * 32 + 1, 32), value FROM json_each(?3)"
                }
                Backend::Postgres => {
                    "INSERT INTO entries (idx, leaf, body)
                     SELECT $1 + e.n - 1, substr($2, CAST((e.n - 1) * 32 + 1 AS INTEGER), 32), e.value
                     FROM json_array_elements_text($3::json) WITH ORDINALITY AS e(value, n)"
                }
            };
            sqlx::query(sql)
                .bind(i64::try_from(start).expect("log sizes fit i64"))
                .bind(leaves.concat())
                .bind(serde_json::to_string(entries).expect("strings serialize"))
                .execute(&mut *tx)
                .await?;
        }
        for (source, value) in cursors {
            let sql = if source == "public_key" {
                "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            } else {
                "INSERT INTO cursors (source, value) VALUES (?, ?) ON CONFLICT (source) DO UPDATE SET value = excluded.value"
            };
            sqlx::query(self.db.sql(sql)).bind(source).bind(value).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        let mut tree = self.tree.write().expect("tree lock");
        for leaf in leaves {
            tree.push(leaf);
        }
        Ok(tree.tree.len())
    }

    /// Take into the tree the entries another process sharing the database appended since this
    /// one last looked: a process that serves the log's routes but does not feed it answers
    /// with proofs of the log as it is now.
    pub async fn catch_up(&self) -> Result<()> {
        let mut conn = self.db.pool().acquire().await?;
        self.catch_up_in(&mut conn).await
    }

    async fn catch_up_in(&self, conn: &mut porchlight_db::AnyConnection) -> Result<()> {
        let len = i64::try_from(self.len()).expect("log sizes fit i64");
        let bodies: Vec<(i64, String)> =
            sqlx::query_as(self.db.sql("SELECT idx, body FROM entries WHERE idx >= ? ORDER BY idx"))
                .bind(len)
                .fetch_all(&mut *conn)
                .await?;
        if bodies.is_empty() {
            return Ok(());
        }
        let mut tree = self.tree.write().expect("tree lock");
        for (idx, body) in bodies {
            if u64::try_from(idx).ok() == Some(tree.tree.len()) {
                tree.push(leaf_hash(body.as_bytes()));
            }
        }
        Ok(())
    }

    /// Where a source was last copied up to.
    pub async fn cursor(&self, source: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(self.db.sql("SELECT value FROM cursors WHERE source = ?"))
            .bind(source)
            .fetch_optional(self.db.pool())
            .await?)
    }

    /// Every cursor whose name starts with `prefix`.
    pub async fn cursors(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as(
            self.db.sql("SELECT source, value FROM cursors WHERE substr(source, 1, length(?1)) = ?1"),
        )
        .bind(prefix)
        .fetch_all(self.db.pool())
        .await?)
    }

    /// Sign a head for the log as it is now, if it grew since the last head or the last head
    /// is older than `refresh` (CT's logs sign fresh heads even when nothing was added).
    /// Returns the new head, if one was signed.
    pub async fn sign_if_due(&self, now_ms: u64, refresh_ms: u64) -> Result<Option<SignedHead>> {
        if let Some(why) = &self.broken {
            return Err(LedgerError::Broken(why.clone()));
        }
        let signer = self.signer.as_ref().ok_or(LedgerError::NoKey)?;
        let _one = self.append.lock().await;
        let (size, root) = {
            let tree = &self.tree.read().expect("tree lock").tree;
            (tree.len(), tree.root(tree.len()).expect("the whole tree has a root"))
        };
        let last = self.latest_head().await?;
        if let Some(last) = &last
            && last.tree_size == size
            && now_ms < last.timestamp + refresh_ms
        {
            return Ok(None);
        }
        let timestamp = now_ms.max(last.map_or(0, |l| l.timestamp + 1));
        let signed = signer.sign(&TreeHead { size, timestamp, root });
        sqlx::query(
            self.db.sql("INSERT INTO heads (tree_size, timestamp, root, signature) VALUES (?, ?, ?, ?)"),
        )
        .bind(i64::try_from(size).expect("log sizes fit i64"))
        .bind(i64::try_from(timestamp).expect("times fit i64"))
        .bind(root.to_vec())
        .bind(B64.decode(&signed.tree_head_signature).expect("we wrote it"))
        .execute(self.db.pool())
        .await?;
        Ok(Some(signed))
    }

    /// The most recent signed head.
    pub async fn latest_head(&self) -> Result<Option<SignedHead>> {
        let row = sqlx::query(
            "SELECT tree_size, timestamp, root, signature FROM heads ORDER BY tree_size DESC, timestamp DESC LIMIT 1",
        )
        .fetch_optional(self.db.pool())
        .await?;
        Ok(row.map(|row| SignedHead {
            tree_size: row.get::<i64, _>(0) as u64,
            timestamp: row.get::<i64, _>(1) as u64,
            sha256_root_hash: B64.encode(row.get::<Vec<u8>, _>(2)),
            tree_head_signature: B64.encode(row.get::<Vec<u8>, _>(3)),
        }))
    }

    /// Entries `start..end` (end exclusive) as stored.
    pub async fn entries(&self, start: u64, end: u64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            self.db.sql("SELECT body FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx"),
        )
        .bind(start as i64)
        .bind(end as i64)
        .fetch_all(self.db.pool())
        .await?)
    }

    /// The index of the first entry whose leaf hash is `leaf`.
    pub fn index_of(&self, leaf: &Hash) -> Option<u64> {
        self.tree.read().expect("tree lock").index_of(leaf)
    }

    pub fn inclusion_proof(&self, index: u64, size: u64) -> Option<Vec<Hash>> {
        self.tree.read().expect("tree lock").tree.inclusion_proof(index, size)
    }

    pub fn consistency_proof(&self, old: u64, new: u64) -> Option<Vec<Hash>> {
        self.tree.read().expect("tree lock").tree.consistency_proof(old, new)
    }

    pub fn root(&self, size: u64) -> Option<Hash> {
        self.tree.read().expect("tree lock").tree.root(size)
    }
}

/// The tree, and each leaf hash's first entry (by the hash's first eight bytes, checked
/// against the whole hash), for CT's get-proof-by-hash.
struct Leaves {
    tree: Tree,
    first: HashMap<u64, u64>,
}

impl From<Tree> for Leaves {
    fn from(tree: Tree) -> Self {
        let mut first = HashMap::with_capacity(tree.len() as usize);
        for i in 0..tree.len() {
            first.entry(key(&tree.leaf(i).expect("below len"))).or_insert(i);
        }
        Self { tree, first }
    }
}

fn key(leaf: &Hash) -> u64 {
    u64::from_le_bytes(leaf[..8].try_into().expect("eight bytes"))
}

impl Leaves {
    fn push(&mut self, leaf: Hash) {
        self.first.entry(key(&leaf)).or_insert(self.tree.len());
        self.tree.push(leaf);
    }

    fn index_of(&self, leaf: &Hash) -> Option<u64> {
        match self.first.get(&key(leaf)) {
            Some(&i) if self.tree.leaf(i) == Some(*leaf) => Some(i),
            // Two leaves sharing their first eight bytes (about one chance in 10^7 at a
            // billion entries): look through them all.
            Some(_) => (0..self.tree.len()).find(|&i| self.tree.leaf(i) == Some(*leaf)),
            None => None,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// Rebuild the tree from the stored bodies and check it against the stored leaf hashes and
/// every signed head. Returns the tree and, if the check failed, why.
async fn check(db: &Db) -> Result<(Tree, Option<String>)> {
    let mut tree = Tree::new();
    let mut broken = None;
    // Read in chunks, each chunk one row of JSON: sqlx's cost per row would be most of the
    // time at a million entries.
    let mut after = -1i64;
    loop {
        let chunk: Option<String> = sqlx::query_scalar(db.sql(
            "SELECT agg_json(json_arr(idx, hex(leaf), body)) FROM
               (SELECT idx, leaf, body FROM entries WHERE idx > ? ORDER BY idx LIMIT 20000) AS chunk
             HAVING count(*) > 0",
        ))
        .bind(after)
        .fetch_optional(db.pool())
        .await?;
        let Some(chunk) = chunk else { break };
        let rows: Vec<(i64, String, String)> = serde_json::from_str(&chunk)
            .map_err(|e| LedgerError::Broken(format!("the stored entries cannot be read: {e}")))?;
        for (idx, stored, body) in rows {
            after = idx;
            let leaf = leaf_hash(body.as_bytes());
            if broken.is_none() {
                if idx != tree.len() as i64 {
                    broken = Some(format!("entry {} is missing", tree.len()));
                } else if !stored.eq_ignore_ascii_case(&hex(&leaf)) {
                    broken = Some(format!("entry {idx} no longer matches the hash it was logged with"));
                }
            }
            tree.push(leaf);
        }
    }
    let heads: Vec<(i64, i64, Vec<u8>)> =
        sqlx::query_as("SELECT tree_size, timestamp, root FROM heads ORDER BY tree_size")
            .fetch_all(db.pool())
            .await?;
    for (size, timestamp, root) in heads {
        if broken.is_some() {
            break;
        }
        let at = chrono::DateTime::from_timestamp_millis(timestamp).map(time).unwrap_or_default();
        match tree.root(size as u64) {
            None => {
                broken = Some(format!(
                    "the head signed at {at} covers {size} entries, but only {} are stored",
                    tree.len()
                ))
            }
            Some(r) if r.as_slice() != root => {
                broken = Some(format!("the first {size} entries no longer hash to the head signed at {at}"))
            }
            Some(_) => {}
        }
    }
    Ok((tree, broken))
}
