//! Delivery: live alerts to the channels subscribers chose, besides the live streams: a
//! browser's Web Push subscription, a webhook, an e-mail address.
//!
//! The alert worker queues one delivery per live alert per channel in the alert's own
//! transaction; the sender here leases due deliveries from the store, makes each attempt, and
//! records the outcome: delivered, retried later with exponential backoff and jitter, a dead
//! letter once retries have run for their window, or the channel closed when a push service
//! says the browser's subscription is gone. A channel that keeps failing is paused. A crash
//! between an attempt and its record makes the delivery due again when its lease runs out: the
//! receiver may see an attempt twice, with the same idempotency key (`webhook-id`, the Web Push
//! `Topic`, the e-mail's `Message-ID`), never miss one.

mod email;
mod webhook;
mod webpush;

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use porchlight_core::channel::Target;
use porchlight_store::{Attempt, Due, Outcome, PauseRule, Payload, Store, StoreError};
use tokio::sync::{Notify, Semaphore, mpsc};

pub use email::Smtp;
pub use email::unsubscribe_url;
pub use webhook::{ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signature};
pub use webpush::Vapid;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the stored Web Push key is unreadable: {0}")]
    VapidKey(String),
    #[error("the SMTP server: {0}")]
    Smtp(String),
    #[error("the HTTP client: {0}")]
    Http(String),
}

/// When failed deliveries are tried again and when they stop.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// The wait after the first failure; it doubles after each one, up to `max`.
    pub first: Duration,
    pub max: Duration,
    /// A delivery that fails this long after its first attempt becomes a dead letter.
    pub give_up_after: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            first: Duration::from_secs(30),
            max: Duration::from_secs(60 * 60),
            give_up_after: Duration::from_secs(24 * 60 * 60),
        }
    }
}

impl Retry {
    /// When to try again after `failures` failed attempts, the last at `at`: the doubled wait,
    /// capped, then drawn uniformly from its upper half so that retries of many deliveries that
    /// failed together spread out.
    pub fn next(&self, failures: u32, at: DateTime<Utc>) -> DateTime<Utc> {
        let doubled = self.first.saturating_mul(1 << failures.saturating_sub(1).min(30));
        let wait = doubled.min(self.max).mul_f64(0.5 + fastrand::f64() * 0.5);
        at + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX)
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Where this server is reached by residents: e-mails link here.
    pub public_url: String,
    /// Who runs it, for push services (VAPID's subject): a `mailto:` or `https:` URL.
    pub contact: String,
    pub retry: Retry,
    pub pause: PauseRule,
    /// How long one attempt may take.
    pub timeout: Duration,
    /// Attempts under way at once.
    pub concurrency: usize,
    /// The SMTP server for e-mail channels; without one, e-mails fail and are retried.
    pub smtp: Option<Smtp>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            public_url: "http://127.0.0.1:8080".into(),
            contact: "mailto:admin@localhost".into(),
            retry: Retry::default(),
            pause: PauseRule { failures: 20, after: chrono::Duration::hours(6) },
            timeout: Duration::from_secs(10),
            concurrency: 256,
            smtp: None,
        }
    }
}

/// How long the sender waits for new deliveries when nothing wakes it.
const IDLE_POLL: Duration = Duration::from_millis(100);
/// How often the store is polled when the bus tells of new deliveries.
const BUS_POLL: Duration = Duration::from_secs(1);
/// How often closed digest periods are looked for.
const DIGEST_EVERY: Duration = Duration::from_secs(60);
/// Deliveries leased at a time, and attempts recorded in one transaction.
const BATCH: usize = 1024;

/// Why an attempt failed.
#[derive(Debug)]
pub(crate) struct Failure {
    pub status: Option<u16>,
    pub error: String,
    /// The endpoint is gone for good: close the channel.
    pub gone: bool,
    /// Trying again cannot help (a mail server's permanent refusal): a dead letter now.
    pub permanent: bool,
}

impl Failure {
    pub(crate) fn new(status: Option<u16>, error: impl Into<String>) -> Self {
        Self { status, error: error.into(), gone: false, permanent: false }
    }
}

/// The status code of a success, if the channel has one.
pub(crate) type Sent = Result<Option<u16>, Failure>;

#[derive(Clone)]
pub struct Sender {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    config: Config,
    http: reqwest::Client,
    vapid: Vapid,
    mailer: Option<email::Mailer>,
    wake: Notify,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl Sender {
    /// A sender for the store's deliveries; makes the Web Push key on first use.
    pub async fn new(store: Store, config: Config) -> Result<Self, Error> {
        let vapid = Vapid::load(&store).await?;
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("porchlight/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Http(e.to_string()))?;
        let mailer = config
            .smtp
            .as_ref()
            .map(|smtp| email::Mailer::new(smtp, &config.public_url, config.timeout))
            .transpose()?;
        Ok(Self { inner: Arc::new(Inner { store, config, http, vapid, mailer, wake: Notify::new() }) })
    }

    /// The public half of the Web Push key, base64url: a browser's `applicationServerKey`.
    pub fn vapid_public_key(&self) -> &str {
        self.inner.vapid.public_key()
    }

    /// Tell the sender that new deliveries are due.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Attempt every delivery due now, and those due again within the run, until none is left;
    /// returns how many attempts were made. For tests and one-shot use; `run` is the service.
    pub async fn drain(&self) -> Result<usize, Error> {
        let mut made = 0;
        loop {
            let due = self.inner.store.take_due(Utc::now(), self.lease(), BATCH as u32).await?;
            if due.is_empty() {
                return Ok(made);
            }
            let mut tasks = tokio::task::JoinSet::new();
            for d in due {
                let me = self.clone();
                tasks.spawn(async move { me.attempt(d).await });
            }
            let attempts: Vec<Attempt> = tasks.join_all().await;
            made += attempts.len();
            self.inner.store.record_attempts(&attempts, self.inner.config.pause).await?;
        }
    }

    /// A delivery taken for an attempt is not taken again until this has passed: three times
    /// the longest an attempt may take.
    fn lease(&self) -> Duration {
        self.inner.config.timeout * 3
    }

    /// Send until the task is dropped: lease due deliveries while fewer than `concurrency`
    /// attempts are under way, and record outcomes in batches as they come in.
    pub async fn run(self) {
        self.run_polling(IDLE_POLL).await
    }

    /// Send as [`Sender::run`] does, and take at once the matched alerts the bus tells of
    /// (the delivery workers of a deployment share them as one work queue); the store is then
    /// polled only every [`BUS_POLL`], for retries, digests and deliveries whose word was lost.
    pub async fn run_on_bus(self, bus: porchlight_bus::Bus) {
        tokio::join!(self.clone().run_polling(BUS_POLL), self.take_from_bus(bus));
    }

    /// Lease the deliveries of each matched alert the bus tells of, attempt them, record the
    /// outcomes and acknowledge, until the task is dropped. A worker killed mid-way leaves the
    /// message to be given again (to this worker or another) and its deliveries leased until
    /// their lease runs out, when the store's poll takes them.
    async fn take_from_bus(self, bus: porchlight_bus::Bus) {
        loop {
            let mut work = match bus.matched(self.lease()).await {
                Ok(work) => work,
                Err(e) => {
                    tracing::error!(error = %e, "taking matched alerts from the bus failed; retrying");
                    tokio::time::sleep(BUS_POLL).await;
                    continue;
                }
            };
            while let Some(job) = work.next().await {
                let job = match job {
                    Ok(job) => job,
                    Err(e) => {
                        tracing::warn!(error = %e, "taking matched alerts from the bus");
                        continue;
                    }
                };
                let sent = async {
                    let due = self
                        .inner
                        .store
                        .take_due_of_alerts(&job.value.alerts, Utc::now(), self.lease())
                        .await?;
                    let mut tasks = tokio::task::JoinSet::new();
                    for d in due {
                        let me = self.clone();
                        tasks.spawn(async move { me.attempt(d).await });
                    }
                    let attempts: Vec<Attempt> = tasks.join_all().await;
                    self.inner.store.record_attempts(&attempts, self.inner.config.pause).await?;
                    Ok::<_, Error>(())
                };
                match sent.await {
                    Ok(()) => {
                        if let Err(e) = job.done().await {
                            tracing::warn!(error = %e, "acknowledging matched alerts");
                        }
                    }
                    // Given again after the lease.
                    Err(e) => tracing::error!(error = %e, "delivering matched alerts failed"),
                }
            }
            tokio::time::sleep(BUS_POLL).await;
        }
    }

    async fn run_polling(self, poll: Duration) {
        let concurrency = self.inner.config.concurrency.max(1);
        let (done, outcomes) = mpsc::channel::<Attempt>(concurrency * 2);
        let recorder = tokio::spawn(record(self.inner.store.clone(), self.inner.config.pause, outcomes));
        let permits = Arc::new(Semaphore::new(concurrency));
        // Batches are leased ahead, one waiting while one is being sent, so that the store's
        // query overlaps the attempts under way.
        let (leased, mut batches) = mpsc::channel::<Vec<Due>>(1);
        let taker = tokio::spawn(self.clone().take(leased, poll));
        let digests = tokio::spawn(self.clone().digests());
        while let Some(due) = batches.recv().await {
            for d in due {
                let permit = permits.clone().acquire_owned().await.expect("the semaphore is never closed");
                let me = self.clone();
                let done = done.clone();
                tokio::spawn(async move {
                    let attempt = me.attempt(d).await;
                    // Dropped only when the recorder is gone: the lease brings it back.
                    let _ = done.send(attempt).await;
                    drop(permit);
                });
            }
            if recorder.is_finished() {
                tracing::error!("the delivery recorder stopped");
                break;
            }
        }
        taker.abort();
        digests.abort();
    }

    /// Queue the e-mail digests of periods that have closed, now and every [`DIGEST_EVERY`].
    async fn digests(self) {
        loop {
            match self.queue_digests(Utc::now()).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(digests = n, "e-mail digests queued");
                    self.wake();
                }
                Err(e) => tracing::error!(error = %e, "queueing e-mail digests failed; retrying"),
            }
            tokio::time::sleep(DIGEST_EVERY).await;
        }
    }

    /// Queue, for each active e-mail channel, the digest of its subscriber's last closed digest
    /// period as of `now`, if it holds alerts and was not queued before. Returns how many
    /// were queued.
    pub async fn queue_digests(&self, now: DateTime<Utc>) -> Result<usize, Error> {
        let mut queued = 0;
        for (channel, pacing) in self.inner.store.email_channels().await? {
            let (from, to) = pacing.last_digest(now);
            if self.inner.store.queue_digest(channel.id, from, to).await? {
                queued += 1;
            }
        }
        Ok(queued)
    }

    /// Lease due deliveries a batch at a time and hand them on; wait for a wake-up or the next
    /// poll when none are due.
    async fn take(self, leased: mpsc::Sender<Vec<Due>>, poll: Duration) {
        loop {
            match self.inner.store.take_due(Utc::now(), self.lease(), BATCH as u32).await {
                Ok(due) if !due.is_empty() => {
                    if leased.send(due).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {
                    tokio::select! {
                        () = self.inner.wake.notified() => {}
                        () = tokio::time::sleep(poll) => {}
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "taking due deliveries failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// One attempt at one delivery, and what follows from it.
    async fn attempt(&self, d: Due) -> Attempt {
        let at = Utc::now();
        let started = std::time::Instant::now();
        let config = &self.inner.config;
        let sent = match (&d.channel.target, &d.payload) {
            (Target::Webhook { url }, Payload::Alert(alert)) => {
                webhook::send(&self.inner.http, url, &d.secret, alert).await
            }
            (Target::WebPush { endpoint, p256dh, auth }, Payload::Alert(alert)) => {
                let keys = webpush::Keys { endpoint, p256dh, auth };
                webpush::send(
                    &self.inner.http,
                    &self.inner.vapid,
                    &config.contact,
                    keys,
                    alert,
                    &config.public_url,
                )
                .await
            }
            (Target::Email { address }, _) => match &self.inner.mailer {
                Some(mailer) => mailer.send(address, &d).await,
                None => Err(Failure::new(None, "no SMTP server is configured")),
            },
            (_, Payload::Digest { .. }) => {
                Err(Failure { permanent: true, ..Failure::new(None, "digests go by e-mail only") })
            }
        };
        let failures = d.attempts + 1;
        let give_up_at =
            d.since + chrono::Duration::from_std(config.retry.give_up_after).unwrap_or(chrono::Duration::MAX);
        let (outcome, status, error) = match sent {
            Ok(status) => (Outcome::Delivered, status, None),
            Err(f) if f.gone => (Outcome::Gone, f.status, Some(f.error)),
            Err(f) if f.permanent || at >= give_up_at => (Outcome::GaveUp, f.status, Some(f.error)),
            Err(f) => (Outcome::Retry(config.retry.next(failures, at)), f.status, Some(f.error)),
        };
        // Labels from closed sets only: the channel's kind and the outcome.
        let result = match outcome {
            Outcome::Delivered => "delivered",
            Outcome::Gone => "gone",
            Outcome::GaveUp => "gave_up",
            Outcome::Retry(_) => "retry",
        };
        metrics::counter!("porchlight_delivery_attempts_total", "channel" => d.channel.target.kind().as_str(), "outcome" => result)
            .increment(1);
        if error.is_some() {
            // The delivery's number and the status only: the error text can quote the
            // subscriber's address or URL (a mail server's refusal does), and is theirs to read
            // in their delivery log, not the operator's.
            tracing::debug!(
                delivery = d.id,
                kind = d.channel.target.kind().as_str(),
                status,
                "delivery attempt failed"
            );
        }
        Attempt {
            delivery_id: d.id,
            channel_id: d.channel.id,
            at,
            outcome,
            status,
            error,
            duration: started.elapsed(),
        }
    }
}

/// How long the recorder gathers attempts into one transaction, at most.
const GATHER: Duration = Duration::from_millis(20);

/// Record attempts as they finish, many to a transaction (those that finish within
/// [`GATHER`] of the first, up to [`BATCH`]); a batch that fails to be recorded is kept and
/// tried again.
async fn record(store: Store, pause: PauseRule, mut outcomes: mpsc::Receiver<Attempt>) {
    let mut batch = Vec::with_capacity(BATCH);
    while let Some(first) = outcomes.recv().await {
        batch.push(first);
        let until = tokio::time::Instant::now() + GATHER;
        while batch.len() < BATCH {
            match tokio::time::timeout_at(until, outcomes.recv()).await {
                Ok(Some(a)) => batch.push(a),
                Ok(None) | Err(_) => break,
            }
        }
        loop {
            match store.record_attempts(&batch, pause).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::error!(error = %e, attempts = batch.len(), "recording delivery attempts failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        batch.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_up_to_the_cap_with_jitter_in_the_upper_half() {
        let retry = Retry {
            first: Duration::from_secs(30),
            max: Duration::from_secs(3600),
            give_up_after: Duration::from_secs(86_400),
        };
        let at = Utc::now();
        for (failures, full) in [(1, 30), (2, 60), (3, 120), (8, 3600), (40, 3600)] {
            for _ in 0..50 {
                let wait = (retry.next(failures, at) - at).num_milliseconds();
                assert!((full * 500..=full * 1000).contains(&wait), "{failures}: {wait}");
            }
        }
        // Retries run for the whole window: at the cap, a day holds more than 24 of them.
        let mut t = at;
        let mut n = 0;
        while t < at + chrono::Duration::hours(24) {
            n += 1;
            t = retry.next(n, t);
        }
        assert!(n > 24, "{n}");
    }
}
