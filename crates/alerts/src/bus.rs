//! The alert worker on a bus (NATS JetStream, see `porchlight-bus`): how a deployment of several
//! processes shares the work without polling the store for it.
//!
//! - Processes that store incidents (API, ingest) **publish** each outbox row to the bus once
//!   its incident may be seen, on the subject of the shard its point is in, and mark it
//!   published; rows a process stored but did not get to publish (it died first, or the
//!   publication delay had not passed) are found by any publisher's next look, within a second.
//! - A **matcher** owns one or several shards: its index holds only the subscriptions whose
//!   areas reach its shards' regions, loaded from the store at start and then kept current by
//!   following the bus's subscription changes from where it stood when it loaded. It takes
//!   each published incident of its shards from the shard's durable consumer, claims the row in
//!   the store (the store stays the judge of what is done and in what order), stores the
//!   alerts, publishes the new live ones for the delivery workers and for live streams, and
//!   acknowledges. A matcher killed mid-way is given its unacknowledged incidents again when
//!   it (or another owning the shard) comes back; the store makes no alert twice.
//! - An **API** process hears which subscribers have new live alerts and reads them for the live
//!   streams it serves.

use std::{collections::HashSet, time::Duration};

use porchlight_bus::{Bus, Job, Published, SubscriptionChange};
use porchlight_core::{
    matcher::{Shard, SubscriptionIndex},
    subscription::SubscriptionKey,
};
use porchlight_store::{OutboxClaim, Store, StoreError};

use crate::{Alerts, IDLE_POLL};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Bus(#[from] porchlight_bus::Error),
}

/// Outbox rows published at a time.
const PUBLISH_BATCH: u32 = 256;
/// A row published this long ago and still not done is published again, in case the bus lost
/// it (a matcher given it twice finds it done, or waiting, in the store).
const REPUBLISH_AFTER: Duration = Duration::from_secs(5 * 60);
/// How long a matcher waits to have taken the subscription changes published before an
/// incident, before it reads the store for them instead.
const CHANGES_WAIT: Duration = Duration::from_secs(5);
/// How often a matcher also reads the store for subscriptions it has not heard of (one whose
/// maker died before telling the bus, or made by a command beside the servers).
const STORE_CATCH_UP: Duration = Duration::from_secs(30);
/// How long an incident that must wait (for an earlier version, or another worker's claim)
/// waits before it is given again.
const NOT_YET: Duration = Duration::from_millis(200);
/// How often an API process on a bus also reads the store for live alerts (in case it missed
/// the bus's word of some).
const RELAY_FALLBACK: Duration = Duration::from_secs(5);

impl Alerts {
    /// An alert worker on a bus answering for `shard` (one or several shards of the
    /// deployment's): loads from the store the subscriptions whose areas reach its regions,
    /// after noting where the bus's subscription changes stood.
    pub async fn load_on_bus(store: Store, lease: Duration, bus: Bus, shard: Shard) -> Result<Self, Error> {
        let stood = bus.subscription_changes_last().await?;
        let mut index =
            if shard.count() > 1 { SubscriptionIndex::for_shard(shard) } else { SubscriptionIndex::new() };
        let subscriptions = store.subscriptions().await?;
        let known = subscriptions.iter().map(|(k, _)| *k).max().unwrap_or_default();
        index.load(&subscriptions);
        drop(subscriptions);
        tracing::info!(subscriptions = index.len(), shards = ?shard.indexes().collect::<Vec<_>>(), "subscription index loaded");
        let alerts = Self::with_index(store, Some(bus), index, known, lease);
        alerts.inner.changes_applied.send_replace(stood);
        Ok(alerts)
    }

    /// A process on a bus without the matcher role: it publishes what it stores and tells
    /// the matchers of subscriptions made and deleted, and holds no index.
    pub fn without_index_on_bus(store: Store, bus: Bus) -> Self {
        Self::with_index(
            store,
            Some(bus),
            SubscriptionIndex::new(),
            SubscriptionKey::default(),
            crate::DEFAULT_LEASE,
        )
    }

    fn bus(&self) -> &Bus {
        self.inner.bus.as_ref().expect("only called on a bus")
    }

    /// Tell the matchers, on a bus, of a subscription made or deleted. A change the bus did
    /// not take is found in the store by the matchers' next look (made), or matches nobody
    /// (deleted: a match is read back from the store).
    pub(crate) async fn tell_matchers(&self, change: SubscriptionChange) {
        if let Some(bus) = &self.inner.bus
            && let Err(e) = bus.publish_subscription_change(change).await
        {
            tracing::error!(error = %e, ?change, "could not tell the matchers of a subscription change");
        }
    }

    /// Publish to the bus each stored incident version once it may be seen, until the task is
    /// dropped: at once when woken, and every second for rows stored elsewhere or delayed.
    pub async fn publish(self) {
        loop {
            match self.publish_once().await {
                Ok(n) if n == PUBLISH_BATCH as usize => continue,
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "publishing incidents to the bus failed; retrying"),
            }
            tokio::select! {
                () = self.inner.wake.notified() => {}
                () = tokio::time::sleep(IDLE_POLL) => {}
            }
        }
    }

    /// Publish the outbox rows waiting; returns how many.
    pub async fn publish_once(&self) -> Result<usize, Error> {
        let bus = self.bus();
        let again_before = chrono::Utc::now() - chrono::Duration::from_std(REPUBLISH_AFTER).expect("small");
        let rows = self.inner.store.unpublished_outbox(PUBLISH_BATCH, again_before).await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let shards = bus.shards();
        // An incident without a point alerts only those told of it before: any shard will do.
        let published: Vec<(u32, Published)> = rows
            .iter()
            .map(|(id, at)| (at.map_or(0, |at| Shard::owning(at, shards)), Published { outbox_id: *id }))
            .collect();
        bus.publish_incidents(&published).await?;
        let ids: Vec<i64> = rows.iter().map(|(id, _)| *id).collect();
        self.inner.store.mark_outbox_published(&ids).await?;
        metrics::counter!("porchlight_bus_incidents_published_total").increment(ids.len() as u64);
        Ok(ids.len())
    }

    /// Run the alert worker on the bus until the task is dropped: follow the subscription
    /// changes, and take the published incidents of each shard owned.
    pub async fn run_on_bus(self, shard: Shard) {
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(self.clone().follow_changes());
        for index in shard.indexes() {
            tasks.spawn(self.clone().take_shard(index));
        }
        while tasks.join_next().await.is_some() {}
    }

    /// Take into the index the subscription changes after those it was loaded with, and
    /// every [`STORE_CATCH_UP`] the store's subscriptions it has not heard of.
    async fn follow_changes(self) {
        loop {
            let from = *self.inner.changes_applied.borrow();
            let mut changes = match self.bus().subscription_changes(from).await {
                Ok(changes) => changes,
                Err(e) => {
                    tracing::error!(error = %e, "following subscription changes failed; retrying");
                    tokio::time::sleep(IDLE_POLL).await;
                    continue;
                }
            };
            let mut catch_up = tokio::time::interval(STORE_CATCH_UP);
            loop {
                let next = tokio::select! {
                    next = changes.next() => next,
                    _ = catch_up.tick() => {
                        if let Err(e) = self.catch_up().await {
                            tracing::error!(error = %e, "reading new subscriptions failed");
                        }
                        continue;
                    }
                };
                let (sequence, change) = match next {
                    Some(Ok(next)) => next,
                    Some(Err(e)) => {
                        tracing::error!(error = %e, "following subscription changes failed; starting again");
                        break;
                    }
                    None => break,
                };
                let applied = match change {
                    Some(SubscriptionChange::Made { .. }) => self.catch_up().await.map_err(Error::from),
                    Some(SubscriptionChange::Deleted { key }) => {
                        if let Ok(key) = u32::try_from(key) {
                            self.inner.index.write().await.remove(SubscriptionKey(key));
                        }
                        Ok(())
                    }
                    None => Ok(()),
                };
                if let Err(e) = applied {
                    tracing::error!(error = %e, "taking a subscription change failed; starting again");
                    break;
                }
                self.inner.changes_applied.send_replace(sequence);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Wait until the index has taken every subscription change the bus had when this was
    /// called (so an incident published after a subscription was made is matched against
    /// it); after [`CHANGES_WAIT`], read the store for them instead.
    async fn take_changes_so_far(&self) -> Result<(), Error> {
        let last = self.bus().subscription_changes_last().await?;
        let mut applied = self.inner.changes_applied.subscribe();
        let caught_up = matches!(
            tokio::time::timeout(CHANGES_WAIT, applied.wait_for(|seen| *seen >= last)).await,
            Ok(Ok(_))
        );
        if !caught_up {
            tracing::warn!(last, "subscription changes are slow to come; reading the store for them");
            self.catch_up().await?;
        }
        Ok(())
    }

    /// Take the published incidents of one shard, one after another, until the task is
    /// dropped.
    async fn take_shard(self, shard: u32) {
        loop {
            let mut work = match self.bus().incidents(shard, self.inner.lease).await {
                Ok(work) => work,
                Err(e) => {
                    tracing::error!(error = %e, shard, "taking published incidents failed; retrying");
                    tokio::time::sleep(IDLE_POLL).await;
                    continue;
                }
            };
            while let Some(job) = work.next().await {
                let job = match job {
                    Ok(job) => job,
                    Err(e) => {
                        tracing::warn!(error = %e, shard, "taking published incidents");
                        continue;
                    }
                };
                let outbox_id = job.value.outbox_id;
                if let Err(e) = self.handle(job).await {
                    tracing::error!(error = %e, shard, outbox_id, "making the alerts of an incident failed; it will come again");
                }
            }
            tokio::time::sleep(IDLE_POLL).await;
        }
    }

    /// Make the alerts of one published incident, then acknowledge it. On failure it is left
    /// unacknowledged: the bus gives it again when the lease has passed.
    async fn handle(&self, job: Job<Published>) -> Result<(), Error> {
        let bus = self.bus();
        let incident = match self.inner.store.claim_outbox_row(job.value.outbox_id, self.inner.lease).await? {
            OutboxClaim::Claimed(incident) => incident,
            OutboxClaim::NotYet => return Ok(job.again_in(NOT_YET).await?),
            OutboxClaim::Done => return Ok(job.done().await?),
        };
        self.take_changes_so_far().await?;
        let deliveries = self.deliveries(&incident).await?;
        let alerts = self.inner.store.complete_outbox(job.value.outbox_id, &incident, &deliveries).await?;
        let live: Vec<&porchlight_core::alert::Alert> = alerts.iter().filter(|a| a.live).collect();
        if !live.is_empty() {
            bus.publish_matched(&porchlight_bus::Matched { alerts: live.iter().map(|a| a.id).collect() })
                .await?;
            let mut subscribers: Vec<uuid::Uuid> = live.iter().map(|a| a.subscription_id).collect();
            subscribers.sort_unstable();
            subscribers.dedup();
            bus.publish_live(&subscribers).await?;
            self.inner.made.send_modify(|n| *n += live.len() as u64);
            let mut streams = self.inner.live.lock().await;
            for alert in alerts.into_iter().filter(|a| a.live) {
                streams.send(alert);
            }
        }
        metrics::counter!("porchlight_bus_incidents_matched_total").increment(1);
        Ok(job.done().await?)
    }

    /// Send to the live streams served here the live alerts other processes made for them, as
    /// the bus tells of them (and every [`RELAY_FALLBACK`] in case it missed some), until the
    /// task is dropped.
    pub async fn relay_on_bus(self) {
        loop {
            let mut live = match self.bus().live().await {
                Ok(live) => live,
                Err(e) => {
                    tracing::error!(error = %e, "listening for live alerts failed; retrying");
                    tokio::time::sleep(IDLE_POLL).await;
                    continue;
                }
            };
            loop {
                let concerned = tokio::select! {
                    next = live.next() => match next {
                        Some(ids) => {
                            let ids: HashSet<uuid::Uuid> = ids.into_iter().collect();
                            self.inner.live.lock().await.streams.keys().any(|s| ids.contains(s))
                        }
                        None => break,
                    },
                    () = tokio::time::sleep(RELAY_FALLBACK) => true,
                };
                if concerned && let Err(e) = self.relay_once().await {
                    tracing::error!(error = %e, "relaying live alerts failed");
                }
            }
            tokio::time::sleep(IDLE_POLL).await;
        }
    }
}
