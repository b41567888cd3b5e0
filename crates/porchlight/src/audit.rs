//! `porchlight audit`: check a Porchlight transparency log from the outside, as anyone can.
//! `verify` downloads the log, recomputes its tree, checks the head's signature with the key
//! it trusts, and checks consistency with the last head it verified (kept in a state file);
//! `watch` does that again and again; `key` prints this installation's public key.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use clap::{Args, Subcommand};
use porchlight_ledger::Hash;
use porchlight_ledger::audit::{Seen, check};
use porchlight_ledger::head::{LogKey, SignedHead};

use crate::DataDir;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Download a log, recompute its tree and check it: the head's signature, every entry,
    /// and that it only grew since the last head you verified.
    Verify(VerifyArgs),
    /// Verify again and again, reporting each round.
    Watch(WatchArgs),
    /// Print this installation's public key for its log (what auditors pin).
    Key(KeyArgs),
}

#[derive(Args, Clone)]
pub struct VerifyArgs {
    /// The Porchlight server, e.g. https://porchlight.example.org
    #[arg(long)]
    url: String,
    /// The log's public key (base64), as its operator published it. Without it, the key
    /// kept in the state file, or on first use the key the server reports.
    #[arg(long)]
    key: Option<String>,
    /// Where the last verified head and the trusted key are kept; default
    /// ~/.local/state/porchlight/audit-<host>-<port>.json
    #[arg(long)]
    state: Option<PathBuf>,
}

#[derive(Args)]
pub struct WatchArgs {
    #[command(flatten)]
    verify: VerifyArgs,
    /// Seconds between rounds.
    #[arg(long, default_value_t = 60)]
    every: u64,
}

#[derive(Args)]
pub struct KeyArgs {
    #[command(flatten)]
    data: DataDir,
    /// The log's signing key file, as given to `serve --log-key`.
    #[arg(long, env = "PORCHLIGHT_LOG_KEY")]
    log_key: Option<PathBuf>,
}

pub async fn run(command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Verify(args) => {
            let problems = verify(&args).await?;
            if problems > 0 {
                bail!("the log failed {problems} check(s)");
            }
            Ok(())
        }
        AuditCommand::Watch(args) => loop {
            if let Err(e) = verify(&args.verify).await {
                println!("could not check the log: {e:#}");
            }
            tokio::time::sleep(Duration::from_secs(args.every)).await;
        },
        AuditCommand::Key(args) => {
            let signer = crate::transparency::signing_key(&args.data.path, args.log_key.as_deref())?;
            println!("{}", signer.public_key().to_base64());
            Ok(())
        }
    }
}

fn state_file(args: &VerifyArgs) -> anyhow::Result<PathBuf> {
    if let Some(path) = &args.state {
        return Ok(path.clone());
    }
    let url = reqwest::Url::parse(&args.url).with_context(|| format!("--url {:?}", args.url))?;
    let home = std::env::var_os("HOME").context("no HOME for the state file; pass --state")?;
    let name = format!(
        "audit-{}-{}.json",
        url.host_str().unwrap_or("log"),
        url.port_or_known_default().unwrap_or(0)
    );
    Ok(PathBuf::from(home).join(".local/state/porchlight").join(name))
}

async fn get<T: serde::de::DeserializeOwned>(client: &reqwest::Client, url: String) -> anyhow::Result<T> {
    let response = client.get(&url).send().await.with_context(|| format!("GET {url}"))?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        bail!("GET {url}: {status}: {body}");
    }
    response.json().await.with_context(|| format!("GET {url}: the answer"))
}

fn hashes(list: &[String]) -> anyhow::Result<Vec<Hash>> {
    list.iter()
        .map(|h| {
            B64.decode(h)
                .ok()
                .and_then(|b| b.try_into().ok())
                .context("a proof hash is not 32 bytes of base64")
        })
        .collect()
}

/// One round: prints what it found and returns how many problems.
async fn verify(args: &VerifyArgs) -> anyhow::Result<usize> {
    let base = args.url.trim_end_matches('/');
    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
    let state_path = state_file(args)?;
    let seen: Option<Seen> = match std::fs::read_to_string(&state_path) {
        Ok(text) => Some(
            serde_json::from_str(&text)
                .with_context(|| format!("{}: not an audit state", state_path.display()))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", state_path.display())),
    };
    #[derive(serde::Deserialize)]
    struct KeyBody {
        public_key: String,
    }
    let served: KeyBody = get(&client, format!("{base}/v1/log/key")).await?;
    let trusted = match (&args.key, &seen) {
        (Some(key), _) => key.clone(),
        (None, Some(seen)) => seen.public_key.clone(),
        (None, None) => {
            println!("trusting the key the log reports, on first use: {}", served.public_key);
            served.public_key.clone()
        }
    };
    let key = LogKey::parse(&trusted).context("the trusted key")?;
    if served.public_key.trim() != trusted.trim() {
        println!(
            "note: the log reports the key {}, not the key you trust ({trusted}); if its operator announced a new key, pass it with --key",
            served.public_key
        );
    }
    let head: SignedHead = get(&client, format!("{base}/v1/log/get-sth")).await?;
    let mut entries: Vec<String> = Vec::with_capacity(head.tree_size as usize);
    #[derive(serde::Deserialize)]
    struct Entries {
        entries: Vec<String>,
    }
    while (entries.len() as u64) < head.tree_size {
        let start = entries.len() as u64;
        let page: Entries =
            get(&client, format!("{base}/v1/log/get-entries?start={start}&end={}", head.tree_size - 1))
                .await?;
        if page.entries.is_empty() {
            break;
        }
        entries.extend(page.entries);
    }
    entries.truncate(head.tree_size as usize);
    let seen_head = seen.as_ref().and_then(|s| s.head.clone());
    let consistency = match &seen_head {
        Some(old) if old.tree_size > 0 && old.tree_size < head.tree_size => {
            #[derive(serde::Deserialize)]
            struct Proof {
                consistency: Vec<String>,
            }
            let url = format!(
                "{base}/v1/log/get-sth-consistency?first={}&second={}",
                old.tree_size, head.tree_size
            );
            Some(hashes(&get::<Proof>(&client, url).await?.consistency)?)
        }
        _ => None,
    };
    let problems = check(&key, &head, &entries, seen_head.as_ref(), consistency.as_deref());
    let signed_at = chrono::DateTime::from_timestamp_millis(head.timestamp as i64)
        .map(porchlight_ledger::entry::time)
        .unwrap_or_default();
    if problems.is_empty() {
        let since = match &seen_head {
            Some(old) => format!("; consistent with the {} entries you verified before", old.tree_size),
            None => String::new(),
        };
        println!(
            "ok: {} entries, root {}, signed at {signed_at}{since}",
            head.tree_size, head.sha256_root_hash
        );
        let state = Seen { public_key: trusted, head: Some(head) };
        if let Some(dir) = state_path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(&state_path, serde_json::to_string_pretty(&state)?)
            .with_context(|| format!("writing {}", state_path.display()))?;
    } else {
        println!(
            "PROBLEM with the log at {base} (head of {} entries signed at {signed_at}):",
            head.tree_size
        );
        for problem in &problems {
            println!("  - {problem}");
        }
        println!("the last head you verified stays in {}", state_path.display());
    }
    Ok(problems.len())
}
