//! `porchlight backup` and `porchlight restore`: a consistent copy of a data folder, taken while
//! the server runs, and a fresh data folder made from one.
//!
//! Each part's SQLite database is copied as it stands at one moment (`VACUUM INTO`). The
//! transparency log is copied first: the cursors of what it has copied from the store and the
//! portal live in it, so the store and portal copied after it hold everything it has not yet
//! copied, and a server started on the restored folder carries on from there. The log's
//! signing key and the portal's clips (when they are kept in the data folder) are copied as
//! files. `MANIFEST.json` lists every file with its size and SHA-256; `restore` checks them
//! before it writes anything, and refuses a folder that already holds data.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use clap::Args;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::transparency::DEFAULT_KEY_FILE;

const MANIFEST: &str = "MANIFEST.json";
const DATABASES: [&str; 3] =
    [porchlight_ledger::db::DATABASE_FILE, porchlight_store::DATABASE_FILE, porchlight_portal::DATABASE_FILE];
const CLIPS: &str = "clips";

#[derive(Args)]
pub struct BackupArgs {
    /// The data folder to copy (a server may be running on it).
    #[arg(long = "data-dir", env = "PORCHLIGHT_DATA_DIR", default_value = "porchlight-data")]
    data_dir: PathBuf,
    /// The folder to write the backup to; it must not exist or be empty.
    #[arg(long)]
    to: PathBuf,
    /// Set when the server keeps its tables in PostgreSQL: refused, with what to do instead.
    #[arg(long = "database-url", env = "PORCHLIGHT_DATABASE_URL", hide = true)]
    database_url: Option<String>,
}

#[derive(Args)]
pub struct RestoreArgs {
    /// The backup folder, as `porchlight backup` wrote it.
    #[arg(long)]
    from: PathBuf,
    /// The data folder to make; it must not exist or be empty.
    #[arg(long = "data-dir", env = "PORCHLIGHT_DATA_DIR", default_value = "porchlight-data")]
    data_dir: PathBuf,
}

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    porchlight: String,
    made_at: chrono::DateTime<chrono::Utc>,
    /// Path inside the backup, with `/` between folders: size and SHA-256 (hex).
    files: BTreeMap<String, (u64, String)>,
}

fn empty_or_missing(dir: &Path) -> anyhow::Result<()> {
    if dir.exists()
        && std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?.next().is_some()
    {
        bail!("{} is not empty: give a new folder", dir.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

fn sha256_of(path: &Path) -> anyhow::Result<(u64, String)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let (mut hasher, mut size, mut buffer) = (Sha256::new(), 0u64, vec![0u8; 1 << 16]);
    loop {
        let n = file.read(&mut buffer).with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        size += n as u64;
    }
    Ok((size, hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()))
}

/// Every file under `dir`, as paths relative to it.
fn files_under(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut todo = vec![PathBuf::new()];
    while let Some(rel) = todo.pop() {
        let here = dir.join(&rel);
        if !here.exists() {
            continue;
        }
        for entry in std::fs::read_dir(&here).with_context(|| format!("reading {}", here.display()))? {
            let entry = entry?;
            let path = rel.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                todo.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn manifest_key(rel: &Path) -> String {
    rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

pub async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    if args.database_url.is_some() {
        bail!(
            "the tables are in PostgreSQL: back them up with pg_dump (schemas store, portal and ledger), \
             and copy the data folder's {DEFAULT_KEY_FILE} and {CLIPS}/ beside it"
        );
    }
    for db in DATABASES {
        if !args.data_dir.join(db).exists() {
            bail!("{} has no {db}: not a Porchlight data folder", args.data_dir.display());
        }
    }
    empty_or_missing(&args.to)?;
    let dir = &args.data_dir;
    // The log first: its cursors say what it has copied from the other two.
    let ledger = porchlight_ledger::Ledger::open(dir, None).await.context("opening the transparency log")?;
    ledger.backup_into(&args.to.join(porchlight_ledger::db::DATABASE_FILE)).await?;
    let store = porchlight_store::Store::open(dir).await.context("opening the store")?;
    store.backup_into(&args.to.join(porchlight_store::DATABASE_FILE)).await?;
    let portal = porchlight_portal::Portal::open(dir).await.context("opening the portal")?;
    portal.backup_into(&args.to.join(porchlight_portal::DATABASE_FILE)).await?;
    // Clips are written once under a new name and never changed: a copy after the portal's
    // database holds every clip it names (a clip uploaded since is in neither).
    for rel in files_under(&dir.join(CLIPS))? {
        let (from, to) = (dir.join(CLIPS).join(&rel), args.to.join(CLIPS).join(&rel));
        std::fs::create_dir_all(to.parent().expect("under clips"))?;
        std::fs::copy(&from, &to).with_context(|| format!("copying {}", from.display()))?;
    }
    let key = dir.join(DEFAULT_KEY_FILE);
    if key.exists() {
        crate::transparency::write_private(&args.to.join(DEFAULT_KEY_FILE), &std::fs::read_to_string(&key)?)?;
    }
    let mut files = BTreeMap::new();
    for rel in files_under(&args.to)? {
        files.insert(manifest_key(&rel), sha256_of(&args.to.join(&rel))?);
    }
    let manifest =
        Manifest { porchlight: env!("CARGO_PKG_VERSION").into(), made_at: chrono::Utc::now(), files };
    std::fs::write(args.to.join(MANIFEST), serde_json::to_vec_pretty(&manifest)?)?;
    let bytes: u64 = manifest.files.values().map(|(size, _)| size).sum();
    println!(
        "backed up {} to {}: {} files, {bytes} bytes (MANIFEST.json lists them)",
        dir.display(),
        args.to.display(),
        manifest.files.len()
    );
    Ok(())
}

pub async fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(args.from.join(MANIFEST))
        .with_context(|| format!("{}: no {MANIFEST}; not a backup porchlight made", args.from.display()))?;
    let manifest: Manifest =
        serde_json::from_str(&text).with_context(|| format!("{MANIFEST} is unreadable"))?;
    for db in DATABASES {
        if !manifest.files.contains_key(db) {
            bail!("the backup has no {db}");
        }
    }
    // Every file as the manifest says, before anything is written.
    for (name, (size, sha)) in &manifest.files {
        let path = args.from.join(name);
        let (got_size, got_sha) = sha256_of(&path)?;
        if (got_size, &got_sha) != (*size, sha) {
            bail!(
                "{name} in the backup is not as it was made (size {got_size}, expected {size}; or its SHA-256 differs)"
            );
        }
    }
    empty_or_missing(&args.data_dir)?;
    for name in manifest.files.keys() {
        let (from, to) = (args.from.join(name), args.data_dir.join(name));
        std::fs::create_dir_all(to.parent().expect("inside the folder"))?;
        if name == DEFAULT_KEY_FILE {
            crate::transparency::write_private(&to, &std::fs::read_to_string(&from)?)?;
        } else {
            std::fs::copy(&from, &to).with_context(|| format!("copying {name}"))?;
        }
    }
    // Open each part: its migrations bring a backup of an older version up to date.
    let dir = &args.data_dir;
    let ledger = porchlight_ledger::Ledger::open(dir, None).await.context("opening the restored log")?;
    if let Some(why) = ledger.broken() {
        bail!("the restored transparency log fails its check: {why}");
    }
    porchlight_store::Store::open(dir).await.context("opening the restored store")?;
    porchlight_portal::Portal::open(dir).await.context("opening the restored portal")?;
    println!(
        "restored {} files, backed up at {}, into {}",
        manifest.files.len(),
        manifest.made_at.to_rfc3339(),
        dir.display()
    );
    Ok(())
}
