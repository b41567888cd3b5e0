//! Alerts: from stored incident versions to the residents whose area they fall in.
//!
//! The worker reads the store's outbox, finds matching subscriptions in the in-memory index,
//! records the alerts and marks the outbox row done in one transaction, then hands each new
//! alert to the live streams of connected subscribers. An alert is recorded whether or not
//! anyone is connected, so it can be listed later; the database's unique key on (subscription,
//! incident, version) means a retry after a crash never makes a second alert.

use std::{collections::HashMap, sync::Arc, time::Duration};

use porchlight_core::{alert::Alert, matcher::SubscriptionIndex, subscription::Subscription};
use porchlight_store::{Store, StoreError};
use tokio::sync::{Mutex, Notify, RwLock, broadcast};
use uuid::Uuid;

/// How many outbox rows the worker takes at a time.
const BATCH: u32 = 256;
/// How long the worker sleeps when nothing woke it: picks up rows written by another process,
/// such as `porchlight import` beside a running server.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// Alerts buffered for a slow live listener before it starts missing some (it can list them).
const LIVE_BUFFER: usize = 256;

#[derive(Clone)]
pub struct Alerts {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    index: RwLock<SubscriptionIndex>,
    live: Mutex<HashMap<Uuid, broadcast::Sender<Alert>>>,
    wake: Notify,
}

impl std::fmt::Debug for Alerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerts").finish_non_exhaustive()
    }
}

impl Alerts {
    /// Load every subscription into the index.
    pub async fn load(store: Store) -> Result<Self, StoreError> {
        let mut index = SubscriptionIndex::new();
        for s in store.subscriptions().await? {
            index.insert(s);
        }
        tracing::info!(subscriptions = index.len(), "subscription index loaded");
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                index: RwLock::new(index),
                live: Mutex::new(HashMap::new()),
                wake: Notify::new(),
            }),
        })
    }

    /// Tell the worker that new outbox rows are waiting.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    pub async fn subscribe(&self, subscription: Subscription) -> Result<(), StoreError> {
        self.inner.store.insert_subscription(&subscription).await?;
        self.inner.index.write().await.insert(subscription);
        Ok(())
    }

    /// Delete a subscription with its alerts, and close its live streams.
    pub async fn unsubscribe(&self, id: Uuid) -> Result<bool, StoreError> {
        let existed = self.inner.store.delete_subscription(id).await?;
        self.inner.index.write().await.remove(id);
        self.inner.live.lock().await.remove(&id);
        Ok(existed)
    }

    /// A receiver of this subscription's new alerts from now on.
    pub async fn live(&self, id: Uuid) -> broadcast::Receiver<Alert> {
        let mut live = self.inner.live.lock().await;
        live.entry(id).or_insert_with(|| broadcast::channel(LIVE_BUFFER).0).subscribe()
    }

    /// Handle waiting outbox rows until none are left; returns how many alerts were made.
    pub async fn drain(&self) -> Result<usize, StoreError> {
        let mut made = 0;
        loop {
            let pending = self.inner.store.pending_outbox(BATCH).await?;
            if pending.is_empty() {
                return Ok(made);
            }
            for (outbox_id, incident) in pending {
                let subscribers = match incident.point {
                    Some(at) => self.inner.index.read().await.matches(incident.category, at),
                    // Without a point an incident is listed but cannot be placed in anyone's area.
                    None => Vec::new(),
                };
                let alerts = self.inner.store.complete_outbox(outbox_id, &incident, &subscribers).await?;
                made += alerts.len();
                let mut live = self.inner.live.lock().await;
                for alert in alerts {
                    if let Some(tx) = live.get(&alert.subscription_id)
                        && tx.send(alert).is_err()
                    {
                        // Nobody is listening any more.
                        live.retain(|_, tx| tx.receiver_count() > 0);
                    }
                }
            }
        }
    }

    /// Run the worker until the task is dropped.
    pub async fn run(self) {
        loop {
            match self.drain().await {
                Ok(n) if n > 0 => tracing::debug!(alerts = n, "alerts made"),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "alert worker failed; retrying"),
            }
            tokio::select! {
                () = self.inner.wake.notified() => {}
                () = tokio::time::sleep(IDLE_POLL) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use porchlight_core::{
        agency::AgencyId,
        category::Category,
        geo::Point,
        privacy::Policy,
        record::{CadRecord, Raw, RawLocation},
    };

    use super::*;

    fn call(id: &str, status: &str, lat: f64) -> CadRecord {
        CadRecord {
            agency: AgencyId::parse("testville").unwrap(),
            line: 0,
            source_id: id.into(),
            received_at: Utc.with_ymd_and_hms(2018, 5, 1, 5, 0, 0).unwrap(),
            local_day: chrono::NaiveDate::from_ymd_opt(2018, 5, 1).unwrap(),
            call_type: "THEFT".into(),
            category: Category::Property,
            priority: None,
            status: Some(status.into()),
            location: RawLocation::Text(Raw::new("5237 N 35TH ST".into())),
            point: Some(Raw::new(Point::new(lat, -87.95).unwrap())),
            narrative: None,
            units: Vec::new(),
        }
    }

    #[tokio::test]
    async fn one_alert_per_version_and_only_inside_the_circle() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        store.upsert_agency(&AgencyId::parse("testville").unwrap(), "Testville", "UTC").await.unwrap();
        let alerts = Alerts::load(store.clone()).await.unwrap();
        let sub =
            Subscription::new(Point::new(43.0, -87.95).unwrap(), 1000.0, Default::default(), Utc::now())
                .unwrap();
        alerts.subscribe(sub.clone()).await.unwrap();
        let mut live = alerts.live(sub.id).await;
        let policy = Policy::default();
        let decisions = vec![policy.apply(call("1", "open", 43.001)), policy.apply(call("2", "open", 43.2))];
        store.apply(&decisions).await.unwrap();
        assert_eq!(alerts.drain().await.unwrap(), 1);
        // The same record again changes nothing; a new status is a new version and a new alert.
        store.apply(&[policy.apply(call("1", "open", 43.001))]).await.unwrap();
        assert_eq!(alerts.drain().await.unwrap(), 0);
        store.apply(&[policy.apply(call("1", "closed", 43.001))]).await.unwrap();
        assert_eq!(alerts.drain().await.unwrap(), 1);
        let first = live.recv().await.unwrap();
        let second = live.recv().await.unwrap();
        assert_eq!((first.incident.version, second.incident.version), (1, 2));
        assert_eq!(second.incident.status.as_deref(), Some("closed"));
        assert_eq!(first.incident.location, "5200 block of N 35th St");
        let listed = store.alerts(sub.id, None, None, 10).await.unwrap();
        assert_eq!(listed, vec![first, second]);
    }
}
