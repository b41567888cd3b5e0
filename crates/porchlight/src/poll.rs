//! Polling open-data portals: one task per agency whose mapping has a `[source]`, started by
//! `porchlight serve`. Each page goes through the mapping, the agency's policy and the store
//! like a file import; the checkpoint is saved after the page is stored, so a restart re-reads
//! at most one page, whose rows the store recognises as repeats.

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use porchlight_alerts::Alerts;
use porchlight_core::{agency::AgencyId, record::CadRecord};
use porchlight_feeds::{
    Mapping, Problem,
    portal::{Answer, Checkpoint, Page, PortalError, Rows, Source},
};
use porchlight_store::Store;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use crate::ingest::Summary;

/// The longest wait between attempts after repeated failures.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// How many recent rejections the feed state keeps, to point a clerk at bad rows.
const RECENT_PROBLEMS: usize = 5;

/// How a feed's polls went: saved after every poll, served at GET /v1/agencies/{id}/feed.
#[derive(Debug, Default, Serialize, Deserialize)]
struct FeedState {
    /// "ok", "catching_up" (more pages waiting) or "failing".
    status: String,
    last_poll_at: Option<DateTime<Utc>>,
    last_success_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
    last_error_at: Option<DateTime<Utc>>,
    consecutive_failures: u32,
    next_poll_at: Option<DateTime<Utc>>,
    totals: Totals,
    /// The latest rejected rows: page row number, field and reason code. This state is public,
    /// so not even a problem's detail is kept: a detail can quote the cell it could not read,
    /// and with a mis-mapped column that cell may hold an address.
    recent_problems: Vec<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Totals {
    pages: u64,
    rows: u64,
    published: u64,
    updated: u64,
    unchanged: u64,
    units_merged: u64,
    withheld: u64,
    rejected: u64,
}

/// Start a poller for every agency whose stored mapping names a source.
pub async fn start_all(
    store: &Store,
    alerts: &Alerts,
    geocoder: Option<std::sync::Arc<crate::geocoder::Geocoder>>,
) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let mut tasks = Vec::new();
    for agency in store.agencies().await? {
        let id = AgencyId::parse(&agency.id)?;
        let Some(text) = store.agency_mapping(&id).await? else { continue };
        let mapping = match Mapping::parse(&text) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(agency = %id, error = %e, "stored mapping does not parse; not polling");
                continue;
            }
        };
        if mapping.source().is_none() {
            continue;
        }
        tracing::info!(agency = %id, url = %mapping.source().map(|s| s.url.as_str()).unwrap_or(""), "polling");
        let mut poller = Poller::new(store.clone(), alerts.clone(), id, mapping)?;
        poller.geocoder.clone_from(&geocoder);
        tasks.push(tokio::spawn(poller.run()));
    }
    Ok(tasks)
}

struct Poller {
    store: Store,
    alerts: Alerts,
    agency: AgencyId,
    mapping: Mapping,
    client: reqwest::Client,
    geocoder: Option<std::sync::Arc<crate::geocoder::Geocoder>>,
}

/// What one poll did.
enum Outcome {
    /// More pages are waiting: ask again at once.
    More,
    CaughtUp,
    Failed {
        retry_after: Option<Duration>,
    },
}

impl Poller {
    fn new(store: Store, alerts: Alerts, agency: AgencyId, mapping: Mapping) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("porchlight/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(120))
            .build()
            .context("building the HTTP client")?;
        Ok(Self { store, alerts, agency, mapping, client, geocoder: None })
    }

    fn source(&self) -> &Source {
        self.mapping.source().expect("pollers are made for mappings with a source")
    }

    async fn run(self) {
        let (mut checkpoint, mut state) = match self.load().await {
            Ok(loaded) => loaded,
            Err(e) => {
                tracing::error!(agency = %self.agency, error = %format!("{e:#}"), "cannot load the feed's checkpoint");
                return;
            }
        };
        loop {
            let outcome = self.poll_once(&mut checkpoint, &mut state).await;
            let every = self.source().every;
            let wait = match outcome {
                Outcome::More => Duration::ZERO,
                Outcome::CaughtUp => every,
                Outcome::Failed { retry_after } => retry_after.unwrap_or_else(|| {
                    let doublings = state.consecutive_failures.saturating_sub(1).min(16);
                    every.saturating_mul(1 << doublings).min(MAX_BACKOFF.max(every))
                }),
            };
            state.status = match outcome {
                Outcome::More => "catching_up",
                Outcome::CaughtUp => "ok",
                Outcome::Failed { .. } => "failing",
            }
            .into();
            state.next_poll_at = Some(Utc::now() + wait);
            if let Err(e) = self.save(&checkpoint, &state).await {
                tracing::error!(agency = %self.agency, error = %format!("{e:#}"), "cannot save the feed's state");
            }
            tokio::time::sleep(wait).await;
        }
    }

    async fn load(&self) -> anyhow::Result<(Checkpoint, FeedState)> {
        Ok(match self.store.feed(&self.agency).await? {
            Some((c, s)) => (serde_json::from_str(&c)?, serde_json::from_str(&s).unwrap_or_default()),
            None => (Checkpoint::default(), FeedState::default()),
        })
    }

    async fn save(&self, checkpoint: &Checkpoint, state: &FeedState) -> anyhow::Result<()> {
        let (c, s) = (serde_json::to_string(checkpoint)?, serde_json::to_string(state)?);
        self.store.save_feed(&self.agency, &c, &s).await?;
        Ok(())
    }

    /// Ask for the next page, store its records, and move the checkpoint past them.
    async fn poll_once(&self, checkpoint: &mut Checkpoint, state: &mut FeedState) -> Outcome {
        state.last_poll_at = Some(Utc::now());
        let fail = |state: &mut FeedState, message: String, retry_after| {
            tracing::warn!(agency = %self.agency, error = %message, "poll failed");
            state.consecutive_failures += 1;
            state.last_error = Some(message);
            state.last_error_at = Some(Utc::now());
            Outcome::Failed { retry_after }
        };
        let page = match self.fetch(checkpoint).await {
            Ok(Ok(page)) => page,
            Ok(Err(PortalError::RateLimited { retry_after })) => {
                return fail(state, PortalError::RateLimited { retry_after }.to_string(), retry_after);
            }
            Ok(Err(e)) => return fail(state, e.to_string(), None),
            Err(e) => return fail(state, format!("{e:#}"), None),
        };
        let more = page.more;
        match self.store_page(page.rows, state).await {
            Ok(()) => {}
            Err(e) => return fail(state, format!("storing: {e:#}"), None),
        }
        *checkpoint = page.next;
        state.consecutive_failures = 0;
        state.last_success_at = Some(Utc::now());
        // The lag is time() minus this; the agency's id is the only label.
        metrics::gauge!("porchlight_feed_last_success_timestamp_seconds", "agency" => self.agency.as_str().to_string())
            .set(Utc::now().timestamp() as f64);
        state.totals.pages += 1;
        if more { Outcome::More } else { Outcome::CaughtUp }
    }

    async fn fetch(&self, checkpoint: &Checkpoint) -> anyhow::Result<Result<Page, PortalError>> {
        let source = self.source();
        let token = source.app_token_env.as_deref().and_then(|v| std::env::var(v).ok());
        let request = source.request(checkpoint, token.as_deref());
        let mut builder = self.client.get(request.url.clone());
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        // The request's URL can carry a token in some portals' setups: log the host only.
        let host = request.url.host_str().unwrap_or("").to_owned();
        let response = builder.send().await.with_context(|| format!("requesting {host}"))?;
        let status = response.status().as_u16();
        let header = |name: reqwest::header::HeaderName| {
            response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
        };
        let retry_after = header(reqwest::header::RETRY_AFTER);
        let etag = header(reqwest::header::ETAG);
        let last_modified = header(reqwest::header::LAST_MODIFIED);
        let body = response.bytes().await.with_context(|| format!("reading the answer from {host}"))?;
        let answer = Answer {
            status,
            retry_after: retry_after.as_deref(),
            etag: etag.as_deref(),
            last_modified: last_modified.as_deref(),
            body: &body,
        };
        Ok(source.read(checkpoint, &answer))
    }

    /// Read a page's rows through the mapping and store them through the agency's policy.
    async fn store_page(&self, rows: Rows, state: &mut FeedState) -> anyhow::Result<()> {
        let mut records: Vec<CadRecord> = Vec::new();
        let mut problems: Vec<Problem> = Vec::new();
        match rows {
            Rows::Json(objects) => {
                let mut reader = self.mapping.read_json()?;
                for (i, object) in objects.iter().enumerate() {
                    match reader.convert(i as u64 + 1, object) {
                        Ok(r) => records.push(r),
                        Err(p) => problems.push(p),
                    }
                }
            }
            Rows::Csv(body) => {
                for item in self.mapping.read_csv(body.as_slice())? {
                    match item {
                        Ok(r) => records.push(r),
                        Err(p) => problems.push(p),
                    }
                }
            }
        }
        let ingest = crate::ingest::ingest_for(&self.store, &self.agency, self.geocoder.as_ref()).await?;
        let mut summary = Summary::default();
        for p in &problems {
            summary.reject(p);
        }
        crate::metrics::ingested("rejected", problems.len() as u64);
        if !records.is_empty() {
            ingest.batch(records, &mut summary).await?;
            self.alerts.wake();
        }
        let t = &mut state.totals;
        t.rows += summary.rows;
        t.published += summary.published;
        t.updated += summary.updated;
        t.unchanged += summary.unchanged;
        t.units_merged += summary.units_merged;
        t.withheld += summary.withheld_total();
        t.rejected += summary.rejected_total();
        for p in problems {
            state.recent_problems.push(format!(
                "row {} of page {}: {}",
                p.line,
                t.pages + 1,
                problem_text(&p)
            ));
        }
        let excess = state.recent_problems.len().saturating_sub(RECENT_PROBLEMS);
        state.recent_problems.drain(..excess);
        Ok(())
    }
}

fn problem_text(p: &Problem) -> String {
    format!("field `{}`: {}", p.field, p.code)
}
