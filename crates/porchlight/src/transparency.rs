//! The transparency log's feeding (issue 9): `serve` opens the log (`ledger.db`) with the
//! operator's signing key, copies the entries both worlds wrote into their outboxes, logs each
//! agency's daily counts of published and withheld calls, and signs a tree head whenever the
//! log grew (and at least hourly). The log depends on neither world; this module is the only
//! place that reads from both and writes to it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use chrono::{NaiveDate, Utc};
use porchlight_core::agency::AgencyId;
use porchlight_ledger::Ledger;
use porchlight_ledger::entry::{Entry, canonical, time};
use porchlight_ledger::head::Signer;
use porchlight_store::Store;

/// The key file `serve` uses when `--log-key` is not given, made on first start.
pub const DEFAULT_KEY_FILE: &str = "log-signing.key";

/// How often the outboxes are copied.
const COPY_EVERY: Duration = Duration::from_secs(1);
/// How often days are counted.
const COUNT_EVERY: Duration = Duration::from_secs(60);
/// A fresh head at least this often, even if nothing was logged.
const REFRESH_MS: u64 = 3_600_000;
/// Entries copied per source per transaction.
const BATCH: u32 = 10_000;

/// Read the signing key from `file`, or from `DATA_DIR/log-signing.key`, making that one
/// (readable by its owner only) if it does not exist.
pub fn signing_key(data_dir: &Path, file: Option<&Path>) -> anyhow::Result<Signer> {
    let path: PathBuf = match file {
        Some(f) => f.to_path_buf(),
        None => data_dir.join(DEFAULT_KEY_FILE),
    };
    if file.is_none() && !path.exists() {
        std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
        let mut seed = [0u8; 32];
        seed[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        seed[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        let signer = Signer::from_seed(seed);
        write_private(&path, &signer.to_file_text())?;
        tracing::info!(file = %path.display(), public_key = %signer.public_key().to_base64(), "made a signing key for the transparency log");
        return Ok(signer);
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the log's signing key {}", path.display()))?;
    Signer::parse(&text)
        .with_context(|| format!("{}: not a key (base64 of a 32-byte Ed25519 seed)", path.display()))
}

/// Write a file only its owner can read.
pub fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Open the log where `location` says (its signing key in the data folder unless `key_file`
/// names one), saying loudly if its stored entries fail their check.
pub async fn open(
    data_dir: &Path,
    location: &porchlight_store::Location,
    key_file: Option<&Path>,
) -> anyhow::Result<Ledger> {
    let signer = signing_key(data_dir, key_file)?;
    let ledger = Ledger::connect(location, Some(signer)).await.context("opening the transparency log")?;
    if let Some(why) = ledger.broken() {
        tracing::error!(problem = %why, "the transparency log's stored entries fail their check: it serves what it has and logs nothing more");
    }
    Ok(ledger)
}

/// Copy, count and sign until the process ends.
pub async fn run(ledger: Ledger, store: Store, portal: porchlight_portal::Portal) {
    if ledger.broken().is_some() {
        return;
    }
    let mut last_count: Option<tokio::time::Instant> = None;
    loop {
        if let Err(e) = once(&ledger, &store, &portal, &mut last_count).await {
            tracing::error!(error = %e, "feeding the transparency log failed; retrying");
        }
        tokio::time::sleep(COPY_EVERY).await;
    }
}

/// One round: copy both outboxes, count days when due, sign if the log grew.
pub async fn once(
    ledger: &Ledger,
    store: &Store,
    portal: &porchlight_portal::Portal,
    last_count: &mut Option<tokio::time::Instant>,
) -> anyhow::Result<()> {
    loop {
        let seq = cursor_seq(ledger, "store").await?;
        let rows = store.transparency_after(seq, BATCH).await?;
        if !copy(ledger, "store", rows).await? {
            break;
        }
    }
    loop {
        let seq = cursor_seq(ledger, "portal").await?;
        let rows = portal.transparency_after(seq, BATCH).await?;
        if !copy(ledger, "portal", rows).await? {
            break;
        }
    }
    if last_count.is_none_or(|t| t.elapsed() >= COUNT_EVERY) {
        count_days(ledger, store, Utc::now()).await?;
        *last_count = Some(tokio::time::Instant::now());
    }
    let now_ms = u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0);
    if let Some(head) = ledger.sign_if_due(now_ms, REFRESH_MS).await? {
        tracing::debug!(size = head.tree_size, "signed a tree head");
    }
    Ok(())
}

async fn cursor_seq(ledger: &Ledger, source: &str) -> anyhow::Result<i64> {
    Ok(ledger.cursor(source).await?.map(|v| v.parse()).transpose().context("a cursor")?.unwrap_or(0))
}

/// Append an outbox's rows and move its cursor past them; whether there were any.
async fn copy(ledger: &Ledger, source: &str, rows: Vec<(i64, String)>) -> anyhow::Result<bool> {
    let Some(&(last, _)) = rows.last() else { return Ok(false) };
    let entries: Vec<String> = rows.into_iter().map(|(_, e)| e).collect();
    ledger.append(&entries, &[(source.to_string(), last.to_string())]).await?;
    Ok(true)
}

/// A day's calls by category: published, withheld.
type Counts = (BTreeMap<String, u64>, BTreeMap<String, u64>);

/// What to log for a day counted now as `counts`, given its cursor (`"<revision> <canonical
/// counts>"`) if it was logged before: nothing if no category grew (retention deletes old
/// incidents, which must not read as calls unpublished), else the next revision with each
/// category at the larger of the two counts (records of a day can arrive late).
fn revise(logged: Option<&str>, counts: Counts) -> Option<(u32, Counts)> {
    let Some((revision, text)) = logged.and_then(|v| v.split_once(' ')) else { return Some((1, counts)) };
    #[derive(serde::Deserialize)]
    struct Logged {
        published: BTreeMap<String, u64>,
        withheld: BTreeMap<String, u64>,
    }
    let before: Logged = serde_json::from_str(text).ok()?;
    let merge = |old: &BTreeMap<String, u64>, new: BTreeMap<String, u64>| {
        let mut out = old.clone();
        for (category, n) in new {
            let slot = out.entry(category).or_default();
            *slot = (*slot).max(n);
        }
        out
    };
    let merged = (merge(&before.published, counts.0), merge(&before.withheld, counts.1));
    if merged == (before.published, before.withheld) {
        return None;
    }
    Some((revision.parse::<u32>().unwrap_or(0) + 1, merged))
}

/// Log each agency's days that ended more than a day ago (in its time zone) and whose counts
/// were never logged or changed since (records of a day can arrive late: a new revision).
pub async fn count_days(ledger: &Ledger, store: &Store, now: chrono::DateTime<Utc>) -> anyhow::Result<u64> {
    let mut entries = Vec::new();
    let mut cursors = Vec::new();
    for agency in store.agencies().await? {
        let tz: chrono_tz::Tz =
            agency.time_zone.parse().map_err(|e| anyhow::anyhow!("agency {}: time zone: {e}", agency.id))?;
        let id = AgencyId::parse(&agency.id)?;
        let last_day = now.with_timezone(&tz).date_naive() - chrono::Days::new(2);
        let mut days: BTreeMap<NaiveDate, Counts> = BTreeMap::new();
        for (hour, category, n) in store.published_by_hour(&id).await? {
            let day = hour.with_timezone(&tz).date_naive();
            *days.entry(day).or_default().0.entry(category).or_default() += n;
        }
        for w in store.withheld_counts(Some(&id)).await? {
            *days.entry(w.day).or_default().1.entry(w.category.to_string()).or_default() += w.count;
        }
        let logged: BTreeMap<String, String> =
            ledger.cursors(&format!("calls/{}/", agency.id)).await?.into_iter().collect();
        for (day, counts) in days.into_iter().filter(|(d, _)| *d <= last_day) {
            let source = format!("calls/{}/{day}", agency.id);
            let Some((revision, (published, withheld))) =
                revise(logged.get(&source).map(String::as_str), counts)
            else {
                continue;
            };
            let digest = canonical(&serde_json::json!({"published": published, "withheld": withheld}));
            entries.push(
                Entry::CallsDaily {
                    at: time(now),
                    agency: agency.id.clone(),
                    day: day.to_string(),
                    revision,
                    published,
                    withheld,
                }
                .to_canonical(),
            );
            cursors.push((source, format!("{revision} {digest}")));
        }
    }
    let n = entries.len() as u64;
    if n > 0 {
        ledger.append(&entries, &cursors).await?;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(published: &[(&str, u64)], withheld: &[(&str, u64)]) -> Counts {
        let map = |list: &[(&str, u64)]| list.iter().map(|(c, n)| (c.to_string(), *n)).collect();
        (map(published), map(withheld))
    }

    fn cursor(revision: u32, c: &Counts) -> String {
        format!("{revision} {}", canonical(&serde_json::json!({"published": c.0, "withheld": c.1})))
    }

    #[test]
    fn a_day_is_revised_when_late_records_add_calls_and_not_when_retention_removes_them() {
        let first = counts(&[("theft", 5)], &[("sexual_assault", 1)]);
        assert_eq!(revise(None, first.clone()), Some((1, first.clone())));
        let logged = cursor(1, &first);
        assert_eq!(revise(Some(&logged), first.clone()), None);
        // Retention deleted three thefts: nothing to log.
        assert_eq!(revise(Some(&logged), counts(&[("theft", 2)], &[("sexual_assault", 1)])), None);
        // A late fire call and a late withheld one: the next revision, nothing lowered.
        let late = counts(&[("fire", 1), ("theft", 2)], &[("sexual_assault", 2)]);
        assert_eq!(
            revise(Some(&logged), late),
            Some((2, counts(&[("fire", 1), ("theft", 5)], &[("sexual_assault", 2)])))
        );
    }
}
