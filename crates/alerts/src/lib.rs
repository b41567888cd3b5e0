//! Alerts: from stored incident versions to the residents whose area they fall in.
//!
//! The worker claims rows of the store's outbox, finds matching subscriptions in the in-memory
//! index, records the alerts and marks the outbox row done in one transaction, then hands each
//! new alert to the live streams of connected subscribers. Several workers (in several
//! processes sharing a PostgreSQL store) share the outbox: each claims its own rows for a
//! lease, and before each claim takes the subscriptions made since it last looked (by key, which
//! only grows), wherever they were made. An alert is recorded whether or not
//! anyone is connected, so it can be listed later; the database's unique key on (subscription,
//! incident, version) means a retry after a crash never makes a second alert.

use std::{collections::HashMap, sync::Arc, time::Duration};

use porchlight_core::{
    alert::{Alert, AlertKind, BaseRate, news_for_recipients},
    incident::Incident,
    matcher::SubscriptionIndex,
    pacing::{Pacing, Route},
    subscription::{Subscription, SubscriptionKey},
};
use porchlight_store::{Delivery, Store, StoreError};
use tokio::sync::{Mutex, Notify, RwLock, broadcast, watch};
use uuid::Uuid;

mod bus;
pub use bus::Error;

/// How many outbox rows the worker claims at a time: few, so that a claim is done well within
/// its lease even when every row matches thousands of subscribers.
const BATCH: u32 = 16;
/// How long a claim on outbox rows lasts unless set: a worker that dies holds its rows this long
/// (in a store only one process works from, a restarted worker takes them at once).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);
/// How long the worker sleeps when nothing woke it: picks up rows written by another process,
/// such as `porchlight import` beside a running server.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// Alerts buffered for a slow live listener before it starts missing some (it can list them).
const LIVE_BUFFER: usize = 256;
/// How often the relay looks for live alerts made by another process.
const RELAY_EVERY: Duration = Duration::from_millis(500);
/// How far back the relay looks, and how long an alert sent to live streams is remembered so
/// that it is not sent twice.
const RELAY_WINDOW: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Alerts {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    /// The bus between processes, when the deployment has one: see [`bus`].
    bus: Option<porchlight_bus::Bus>,
    index: RwLock<SubscriptionIndex>,
    /// The largest key the index has taken from the store.
    known: Mutex<SubscriptionKey>,
    lease: Duration,
    live: Mutex<Live>,
    wake: Notify,
    /// How many live alerts have been made: watched by whatever sends them on (the delivery
    /// sender), so it need not wait for its next poll.
    made: watch::Sender<u64>,
    /// The last subscription change on the bus taken into the index.
    changes_applied: watch::Sender<u64>,
}

/// The live streams this process serves, and the alerts already sent to them.
#[derive(Default)]
struct Live {
    streams: HashMap<Uuid, broadcast::Sender<Alert>>,
    /// Alerts sent to live streams, by id, with when: an alert made here and also found by the
    /// relay goes out once.
    sent: HashMap<i64, std::time::Instant>,
}

impl Live {
    /// Send an alert to its subscriber's live streams here, if any, unless it was sent already.
    fn send(&mut self, alert: Alert) {
        let Some(tx) = self.streams.get(&alert.subscription_id) else { return };
        if self.sent.insert(alert.id, std::time::Instant::now()).is_some() {
            return;
        }
        if tx.send(alert).is_err() {
            // Nobody is listening any more.
            self.streams.retain(|_, tx| tx.receiver_count() > 0);
        }
        if self.sent.len() > 100_000 {
            // Without a relay nothing else forgets them.
            self.sent.retain(|_, at| at.elapsed() < RELAY_WINDOW * 2);
        }
    }
}

impl std::fmt::Debug for Alerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerts").finish_non_exhaustive()
    }
}

impl Alerts {
    /// Load every subscription into the index.
    pub async fn load(store: Store) -> Result<Self, StoreError> {
        Self::load_with_lease(store, DEFAULT_LEASE).await
    }

    /// Load every subscription into the index; claims on outbox rows last `lease`.
    pub async fn load_with_lease(store: Store, lease: Duration) -> Result<Self, StoreError> {
        let mut index = SubscriptionIndex::new();
        let subscriptions = store.subscriptions().await?;
        let known = subscriptions.iter().map(|(k, _)| *k).max().unwrap_or_default();
        index.load(&subscriptions);
        drop(subscriptions);
        tracing::info!(subscriptions = index.len(), "subscription index loaded");
        Ok(Self::with_index(store, None, index, known, lease))
    }

    /// Without the index: for a process that serves subscriptions and their live streams but
    /// runs no worker (another process's matches them), so it does not hold every subscription
    /// in memory. Its [`Alerts::drain`] would match nobody until it has caught up.
    pub fn without_index(store: Store) -> Self {
        Self::with_index(store, None, SubscriptionIndex::new(), SubscriptionKey::default(), DEFAULT_LEASE)
    }

    fn with_index(
        store: Store,
        bus: Option<porchlight_bus::Bus>,
        index: SubscriptionIndex,
        known: SubscriptionKey,
        lease: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                bus,
                index: RwLock::new(index),
                known: Mutex::new(known),
                lease,
                live: Mutex::new(Live::default()),
                wake: Notify::new(),
                made: watch::Sender::new(0),
                changes_applied: watch::Sender::new(0),
            }),
        }
    }

    /// Tell the worker (or, on a bus, the publisher) that new outbox rows are waiting.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    pub async fn subscribe(&self, subscription: Subscription) -> Result<(), StoreError> {
        let key = self.inner.store.insert_subscription(&subscription).await?;
        self.inner.index.write().await.insert(key, &subscription);
        self.tell_matchers(porchlight_bus::SubscriptionChange::Made { key: i64::from(key.0) }).await;
        Ok(())
    }

    /// Delete a subscription with its alerts, and close its live streams.
    pub async fn unsubscribe(&self, id: Uuid) -> Result<bool, StoreError> {
        let key = self.inner.store.delete_subscription(id).await?;
        if let Some(key) = key {
            self.inner.index.write().await.remove(key);
            self.tell_matchers(porchlight_bus::SubscriptionChange::Deleted { key: i64::from(key.0) }).await;
        }
        self.inner.live.lock().await.streams.remove(&id);
        Ok(key.is_some())
    }

    /// Changes each time live alerts are made (its value counts them).
    pub fn live_made(&self) -> watch::Receiver<u64> {
        self.inner.made.subscribe()
    }

    /// A receiver of this subscription's new alerts from now on.
    pub async fn live(&self, id: Uuid) -> broadcast::Receiver<Alert> {
        self.live_at_most(id, usize::MAX).await.expect("no limit")
    }

    /// A receiver of this subscription's new alerts, unless `most` of its receivers are
    /// already listening here (each live stream holds one until its client goes).
    pub async fn live_at_most(&self, id: Uuid, most: usize) -> Option<broadcast::Receiver<Alert>> {
        let mut live = self.inner.live.lock().await;
        let tx = live.streams.entry(id).or_insert_with(|| broadcast::channel(LIVE_BUFFER).0);
        (tx.receiver_count() < most).then(|| tx.subscribe())
    }

    /// Take into the index the subscriptions made since it last looked, by this process or
    /// another. (One deleted elsewhere stays in the index until the next start, but matches
    /// nobody: a match is read back from the store, and keys are never given twice.)
    async fn catch_up(&self) -> Result<(), StoreError> {
        let mut known = self.inner.known.lock().await;
        let new = self.inner.store.subscriptions_after(*known).await?;
        if let Some((last, _)) = new.last() {
            *known = *last;
            let mut index = self.inner.index.write().await;
            for (key, subscription) in &new {
                index.insert(*key, subscription);
            }
            tracing::debug!(subscriptions = new.len(), "subscriptions made elsewhere taken into the index");
        }
        Ok(())
    }

    /// Handle claimable outbox rows until none are left; returns how many alerts were made.
    pub async fn drain(&self) -> Result<usize, StoreError> {
        let mut made = 0;
        loop {
            self.catch_up().await?;
            let pending = self.inner.store.claim_outbox(BATCH, self.inner.lease).await?;
            if pending.is_empty() {
                return Ok(made);
            }
            for (outbox_id, incident) in pending {
                let deliveries = self.deliveries(&incident).await?;
                let alerts = self.inner.store.complete_outbox(outbox_id, &incident, &deliveries).await?;
                made += alerts.len();
                let live_count = alerts.iter().filter(|a| a.live).count() as u64;
                if live_count > 0 {
                    self.inner.made.send_modify(|n| *n += live_count);
                }
                let mut live = self.inner.live.lock().await;
                // Only live alerts reach live streams; the rest wait for the digest.
                for alert in alerts.into_iter().filter(|a| a.live) {
                    live.send(alert);
                }
            }
        }
    }

    /// Who hears of this version of an incident, and how: those already told of the incident
    /// get an update or a retraction when what they were told changed or was taken back (and
    /// nothing for a new status alone); those whose area and filters it matches and who were not
    /// told get the first word of it, unless it is closed as unfounded or cancelled.
    async fn deliveries(&self, incident: &Incident) -> Result<Vec<Delivery>, StoreError> {
        let recipients = if incident.version > 1 {
            self.inner.store.recipients(incident.id).await?
        } else {
            HashMap::new()
        };
        let mut deliveries = Vec::new();
        if !recipients.is_empty() {
            let previous = self.inner.store.incident_at_version(incident.id, incident.version - 1).await?;
            if let Some(kind) = previous.as_ref().and_then(|p| news_for_recipients(p, incident)) {
                let mut told: Vec<(&Uuid, &i64)> = recipients.iter().collect();
                told.sort();
                let now = chrono::Utc::now();
                let ids: Vec<Uuid> = told.iter().map(|(s, _)| **s).collect();
                let pacings: HashMap<Uuid, Pacing> = self
                    .inner
                    .store
                    .subscriptions_by_id(&ids)
                    .await?
                    .into_iter()
                    .map(|s| (s.id, s.pacing))
                    .collect();
                for (s, first) in told {
                    let pacing = pacings.get(s);
                    deliveries.push(Delivery {
                        subscription_id: *s,
                        kind,
                        refers_to: Some(*first),
                        base_rate: None,
                        // Corrections wait out quiet hours but are not counted against a budget.
                        live: pacing.is_none_or(|p| p.route_correction(now) == Route::Live),
                    });
                }
            }
        }
        if incident.closure.is_none()
            && let Some(at) = incident.point
        {
            // Without a point an incident is listed but cannot be placed in anyone's area.
            let started = std::time::Instant::now();
            let matches = self.inner.index.read().await.matches(incident.category, at);
            metrics::histogram!("porchlight_match_seconds").record(started.elapsed().as_secs_f64());
            // Each new alert says how usual such a call is in the subscriber's own area, and goes
            // out live or waits for the digest by the subscriber's own pacing. The matches'
            // subscriptions (those not deleted since: the index answers with the store's keys)
            // and their live alerts of today are read in one query each, not one per match.
            let mut subscriptions = self.inner.store.subscriptions_by_key(&matches).await?;
            subscriptions.retain(|s| !recipients.contains_key(&s.id));
            subscriptions.sort_unstable_by_key(|s| s.id);
            let matches: Vec<Uuid> = subscriptions.iter().map(|s| s.id).collect();
            let now = chrono::Utc::now();
            let live_times = match subscriptions.iter().map(|s| s.pacing.day_start(now)).min() {
                Some(since) => self.inner.store.live_alert_times(&matches, since).await?,
                None => HashMap::new(),
            };
            // The calls of the category in the year up to this one, read once for everyone: in
            // a circle round the incident that holds every matching area.
            let reach = subscriptions
                .iter()
                .flat_map(|s| s.area.covering_circles())
                .map(|(centre, radius_m)| centre.distance_m(at) + radius_m)
                .fold(0.0, f64::max);
            let nearby = if subscriptions.is_empty() {
                Vec::new()
            } else {
                self.inner.store.calls_near(incident.category, at, reach + 1.0, incident.received_at).await?
            };
            for Subscription { id: subscription_id, area, pacing, .. } in subscriptions {
                // A box first (with a margin for the box's flat sides), then the area itself.
                let (lo, hi) = area.bounding_box();
                let (lo, hi) = ([lo[0] - 1e-5, lo[1] - 1e-5], [hi[0] + 1e-5, hi[1] + 1e-5]);
                let times = nearby
                    .iter()
                    .filter(|(_, p, _)| {
                        (lo[0]..=hi[0]).contains(&p.lon())
                            && (lo[1]..=hi[1]).contains(&p.lat())
                            && area.contains(*p)
                    })
                    .map(|(_, _, t)| *t);
                let day_start = pacing.day_start(now);
                let live_today = live_times
                    .get(&subscription_id)
                    .map_or(0, |t| t.iter().filter(|t| **t >= day_start).count() as u32);
                deliveries.push(Delivery {
                    subscription_id,
                    kind: AlertKind::New,
                    refers_to: None,
                    base_rate: Some(BaseRate::at(incident.received_at, times)),
                    live: pacing.route_new(now, live_today) == Route::Live,
                });
            }
        }
        Ok(deliveries)
    }

    /// Send to the live streams this process serves the live alerts another process made for
    /// them (an alert worker of a deployment of several processes), every [`RELAY_EVERY`], until
    /// the task is dropped.
    pub async fn relay(self) {
        loop {
            tokio::time::sleep(RELAY_EVERY).await;
            if let Err(e) = self.relay_once().await {
                tracing::error!(error = %e, "relaying live alerts failed; retrying");
            }
        }
    }

    async fn relay_once(&self) -> Result<(), StoreError> {
        let listening: Vec<Uuid> = {
            let mut live = self.inner.live.lock().await;
            let window = RELAY_WINDOW * 2;
            live.sent.retain(|_, at| at.elapsed() < window);
            live.streams.retain(|_, tx| tx.receiver_count() > 0);
            live.streams.keys().copied().collect()
        };
        if listening.is_empty() {
            return Ok(());
        }
        let since = chrono::Utc::now() - chrono::Duration::from_std(RELAY_WINDOW).expect("small");
        let made = self.inner.store.live_alerts_since(&listening, since).await?;
        let mut live = self.inner.live.lock().await;
        for alert in made {
            live.send(alert);
        }
        Ok(())
    }

    /// Run the worker until the task is dropped.
    pub async fn run(self) {
        // In SQLite one server works from the store: the claims of the process before this one
        // (killed, or stopped mid-batch) are its own, taken back at once rather than after
        // their lease.
        if self.inner.store.backend() == porchlight_store::Backend::Sqlite {
            match self.inner.store.release_outbox_claims().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "claims of an earlier run taken back"),
                Err(e) => tracing::error!(error = %e, "could not take back earlier claims"),
            }
        }
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
    use chrono::Utc;
    use porchlight_core::{
        agency::AgencyId, category::Category, geo::Point, privacy::Policy, record::CadRecord,
        subscription::SubscriptionKey,
    };

    use porchlight_db::{Backend, testing::TestLocation};

    use super::*;

    /// A fresh store on `backend` with the Testville agency, and its alert worker; the store's
    /// folder and database last as long as the first value.
    async fn testville(backend: Backend) -> ((tempfile::TempDir, TestLocation), Store, Alerts) {
        let dir = tempfile::tempdir().unwrap();
        let location = TestLocation::new(backend, dir.path()).await;
        let store = Store::connect(&location.location).await.unwrap();
        store.upsert_agency(&AgencyId::parse("testville").unwrap(), "Testville", "UTC").await.unwrap();
        let alerts = Alerts::load(store.clone()).await.unwrap();
        ((dir, location), store, alerts)
    }

    fn call(id: &str, status: &str, lat: f64) -> CadRecord {
        typed_call(id, "THEFT", Category::Property, status, lat)
    }

    fn typed_call(id: &str, call_type: &str, category: Category, status: &str, lat: f64) -> CadRecord {
        porchlight_core::testing::call(
            "testville",
            id,
            call_type,
            category,
            status,
            Point::new(lat, -87.95).unwrap(),
        )
    }

    porchlight_db::test_on_both! {
        #[tokio::test]
        /// Each subscriber's base rate counts the calls of the category in its own area only: the
        /// calls are read once for all matches, so a wide area must not lend its calls to a small one.
        async fn each_base_rate_counts_its_own_area(backend) {
            let (_db, store, alerts) = testville(backend).await;
            let circle = |radius_m: f64| {
                Subscription::new(Point::new(43.0, -87.95).unwrap(), radius_m, Default::default(), Utc::now())
                    .unwrap()
            };
            let (small, wide) = (circle(300.0), circle(2_000.0));
            for s in [&small, &wide] {
                alerts.subscribe(s.clone()).await.unwrap();
            }
            let policy = Policy::default();
            // Thefts: three near the centre, two about 1.1 km north, one 5.5 km north; and a
            // disorder call at the centre, of another category.
            let before = [
                call("1", "Dispatched", 43.0005),
                call("2", "Dispatched", 43.0005),
                call("3", "Dispatched", 43.0005),
                call("4", "Dispatched", 43.01),
                call("5", "Dispatched", 43.01),
                call("6", "Dispatched", 43.05),
                typed_call("7", "TRBL W/SUBJ", Category::Disorder, "Dispatched", 43.0005),
            ];
            for c in before {
                store.apply(&[policy.apply(c)]).await.unwrap();
                alerts.drain().await.unwrap();
            }
            store.apply(&[policy.apply(call("8", "Dispatched", 43.0002))]).await.unwrap();
            alerts.drain().await.unwrap();
            let last_rate = |id: Uuid| {
                let store = store.clone();
                async move {
                    let listed = store.alerts(id, None, None, 100).await.unwrap();
                    listed.iter().max_by_key(|a| a.id).and_then(|a| a.base_rate).map(|b| b.last_30_days)
                }
            };
            // The call itself and those before it in the area.
            assert_eq!(last_rate(small.id).await, Some(4));
            assert_eq!(last_rate(wide.id).await, Some(6));
        }
    }

    porchlight_db::test_on_both! {
        #[tokio::test]
        /// A reclassified call updates whoever was told and is new to whoever it now concerns; a
        /// status alone is no news; closing it as unfounded retracts it for everyone told, and only
        /// for them.
        async fn updates_and_retractions_go_to_those_told_and_only_them(backend) {
            let (_db, store, alerts) = testville(backend).await;
            let here = Point::new(43.0, -87.95).unwrap();
            let subscribe = |categories: Vec<Category>, lat: f64| {
                let point = Point::new(lat, -87.95).unwrap();
                Subscription::new(
                    point,
                    1000.0,
                    (categories.into_iter().collect(), Default::default()),
                    Utc::now(),
                )
                .unwrap()
            };
            let everything = subscribe(vec![], 43.0);
            let weapons_only = subscribe(vec![Category::Weapons], 43.0);
            let far = subscribe(vec![], 44.0);
            for s in [&everything, &weapons_only, &far] {
                alerts.subscribe(s.clone()).await.unwrap();
            }
            let policy = Policy::default();
            let at = here.lat() + 0.001;
            let versions = [
                typed_call("9", "TRBL W/SUBJ", Category::Disorder, "Dispatched", at),
                typed_call("9", "TRBL W/SUBJ", Category::Disorder, "On scene", at),
                typed_call("9", "SHOTS FIRED", Category::Weapons, "On scene", at),
                typed_call("9", "SHOTS FIRED", Category::Weapons, "UNFOUNDED", at),
            ];
            let mut got = Vec::new();
            for v in versions {
                store.apply(&[policy.apply(v)]).await.unwrap();
                alerts.drain().await.unwrap();
            }
            for s in [&everything, &weapons_only, &far] {
                let listed = store.alerts(s.id, None, None, 10).await.unwrap();
                got.push(listed.iter().map(|a| (a.kind, a.incident.version, a.refers_to)).collect::<Vec<_>>());
            }
            let first_alert = &store.alerts(everything.id, None, None, 1).await.unwrap()[0];
            assert_eq!(first_alert.base_rate.map(|b| b.last_30_days), Some(1), "{first_alert:?}");
            let first = first_alert.id;
            let first_weapons = store.alerts(weapons_only.id, None, None, 1).await.unwrap()[0].id;
            assert_eq!(
                got,
                vec![
                    vec![
                        (AlertKind::New, 1, None),
                        (AlertKind::Update, 3, Some(first)),
                        (AlertKind::Retraction, 4, Some(first))
                    ],
                    vec![(AlertKind::New, 3, None), (AlertKind::Retraction, 4, Some(first_weapons))],
                    vec![],
                ]
            );
            // A call that arrives already closed as unfounded is alerted to nobody.
            store
                .apply(&[policy.apply(typed_call("10", "SHOTS FIRED", Category::Weapons, "UNFOUNDED", at))])
                .await
                .unwrap();
            assert_eq!(alerts.drain().await.unwrap(), 0);
        }
    }

    porchlight_db::test_on_both! {
        #[tokio::test]
        async fn one_alert_per_version_and_only_inside_the_circle(backend) {
            let (_db, store, alerts) = testville(backend).await;
            let sub =
                Subscription::new(Point::new(43.0, -87.95).unwrap(), 1000.0, Default::default(), Utc::now())
                    .unwrap();
            alerts.subscribe(sub.clone()).await.unwrap();
            let mut live = alerts.live(sub.id).await;
            let made = alerts.live_made();
            let policy = Policy::default();
            let decisions = vec![policy.apply(call("1", "open", 43.001)), policy.apply(call("2", "open", 43.2))];
            store.apply(&decisions).await.unwrap();
            assert_eq!(alerts.drain().await.unwrap(), 1);
            // Whatever sends live alerts on (the delivery sender) is told at once.
            assert_eq!((made.has_changed().unwrap(), *made.borrow()), (true, 1));
            // The same record again changes nothing; a new status is a new version but no news.
            store.apply(&[policy.apply(call("1", "open", 43.001))]).await.unwrap();
            assert_eq!(alerts.drain().await.unwrap(), 0);
            store.apply(&[policy.apply(call("1", "closed", 43.001))]).await.unwrap();
            assert_eq!(alerts.drain().await.unwrap(), 0);
            assert_eq!(
                store
                    .incident(store.alerts(sub.id, None, None, 1).await.unwrap()[0].incident.id)
                    .await
                    .unwrap()
                    .unwrap()
                    .version,
                2
            );
            let first = live.recv().await.unwrap();
            assert_eq!((first.incident.version, first.kind), (1, AlertKind::New));
            assert_eq!(first.incident.location, "5200 block of N 35th St");
            let listed = store.alerts(sub.id, None, None, 10).await.unwrap();
            assert_eq!(listed, vec![first]);
        }
    }

    porchlight_db::test_on_both! {
        #[tokio::test]
        /// Workers that share a store (as processes sharing PostgreSQL do) take each other's
        /// subscriptions, never handle a row another holds, take up the rows of a worker whose
        /// claim ran out, and handle an incident's versions in order: the second word of it is
        /// an update, however the rows were claimed.
        async fn workers_share_the_outbox_and_each_others_subscriptions(backend) {
            let (_db, store, a) = testville(backend).await;
            // Loaded before the subscription is made by the other worker.
            let b = Alerts::load(store.clone()).await.unwrap();
            let near = Subscription::new(Point::new(43.0, -87.95).unwrap(), 1000.0, Default::default(), Utc::now())
                .unwrap();
            a.subscribe(near.clone()).await.unwrap();
            let policy = Policy::default();
            let at = 43.0005;
            store
                .apply(&[policy.apply(typed_call("1", "TRBL W/SUBJ", Category::Disorder, "Dispatched", at))])
                .await
                .unwrap();
            // A third worker claims the first version, and dies.
            let lease = Duration::from_secs(2);
            let held = store.claim_outbox(10, lease).await.unwrap();
            assert_eq!(held.len(), 1);
            let claimed_at = std::time::Instant::now();
            store
                .apply(&[policy.apply(typed_call("1", "SHOTS FIRED", Category::Weapons, "Dispatched", at))])
                .await
                .unwrap();
            // The second version waits behind the first; the first is held.
            assert!(store.claim_outbox(10, lease).await.unwrap().is_empty());
            assert_eq!(b.drain().await.unwrap(), 0);
            tokio::time::sleep(lease.saturating_sub(claimed_at.elapsed()) + Duration::from_millis(50)).await;
            // The claim ran out: the worker that never saw the subscription made takes both.
            assert_eq!(b.drain().await.unwrap(), 2);
            assert_eq!(a.drain().await.unwrap(), 0);
            let told: Vec<(AlertKind, u32)> = store
                .alerts(near.id, None, None, 10)
                .await
                .unwrap()
                .iter()
                .map(|a| (a.kind, a.incident.version))
                .collect();
            assert_eq!(told, [(AlertKind::New, 1), (AlertKind::Update, 2)]);
        }
    }

    porchlight_db::test_on_both! {
        #[tokio::test]
        /// The index answers with the store's keys. A deleted subscription's key is never given
        /// again (an index that has not heard of the deletion could otherwise alert a newcomer to
        /// the old area's calls), and a worker started afresh loads each subscription under the
        /// same key, so it alerts the same people.
        async fn keys_are_never_given_twice_and_survive_a_restart(backend) {
            let (_db, store, alerts) = testville(backend).await;
            let at = |lat: f64| Point::new(lat, -87.95).unwrap();
            let circle = |lat: f64| Subscription::new(at(lat), 500.0, Default::default(), Utc::now()).unwrap();
            let (north, south, newcomer) = (circle(43.05), circle(43.0), circle(43.0));
            let north_key = store.insert_subscription(&north).await.unwrap();
            alerts.subscribe(south.clone()).await.unwrap();
            // The newest subscription goes; the next one made must not take its key.
            assert_eq!(store.delete_subscription(north.id).await.unwrap(), Some(north_key));
            assert_eq!(store.delete_subscription(north.id).await.unwrap(), None);
            alerts.subscribe(newcomer.clone()).await.unwrap();
            let keys: Vec<(SubscriptionKey, Uuid)> =
                store.subscriptions().await.unwrap().into_iter().map(|(k, s)| (k, s.id)).collect();
            assert_eq!(keys.len(), 2);
            assert!(keys.iter().all(|(k, _)| *k != north_key), "{keys:?}");
            let policy = Policy::default();
            store.apply(&[policy.apply(call("1", "open", 43.0005))]).await.unwrap();
            // A worker that loads the store afresh finds the same two by their keys.
            let restarted = Alerts::load(store.clone()).await.unwrap();
            assert_eq!(restarted.drain().await.unwrap(), 2);
            for s in [&south, &newcomer] {
                assert_eq!(store.alerts(s.id, None, None, 10).await.unwrap().len(), 1);
            }
            // Unsubscribing through the worker takes the key out of its index at once.
            assert!(restarted.unsubscribe(south.id).await.unwrap());
            store.apply(&[policy.apply(call("2", "open", 43.0005))]).await.unwrap();
            assert_eq!(restarted.drain().await.unwrap(), 1);
            assert_eq!(store.alerts(newcomer.id, None, None, 10).await.unwrap().len(), 2);
        }
    }

    porchlight_db::test_on_both! {
        #[tokio::test]
        /// On a bus: an API process publishes what it stores and tells of subscriptions made and
        /// deleted; each of two matchers holds only the subscriptions of its shard, hears of new
        /// ones and deletions from the bus (well before any fallback to the store), and makes
        /// the alerts of its shard's incidents. An incident is published once.
        async fn matchers_on_a_bus_follow_subscriptions_and_take_their_shards_incidents(backend) {
            use porchlight_core::matcher::Shard;
            let (_db, store, _) = testville(backend).await;
            let test = porchlight_bus::testing::TempBus::new(2).await;
            let api = Alerts::without_index_on_bus(store.clone(), test.bus.clone());
            let lease = Duration::from_secs(5);
            let mut matchers = Vec::new();
            for shard in 0..2 {
                let shard = Shard::new(shard, 2).unwrap();
                let matcher = Alerts::load_on_bus(store.clone(), lease, test.bus.clone(), shard).await.unwrap();
                tokio::spawn(matcher.clone().run_on_bus(shard));
                matchers.push(matcher);
            }
            // Two places a region apart, in different shards.
            let (a, b) = (Point::new(43.0, -87.95).unwrap(), Point::new(43.0, -87.85).unwrap());
            assert_ne!(Shard::owning(a, 2), Shard::owning(b, 2));
            let circle = |at: Point| Subscription::new(at, 300.0, Default::default(), Utc::now()).unwrap();
            let (near_a, near_b) = (circle(a), circle(b));
            for s in [&near_a, &near_b] {
                api.subscribe(s.clone()).await.unwrap();
            }
            let sizes = || async {
                let mut sizes = Vec::new();
                for m in &matchers {
                    sizes.push(m.inner.index.read().await.len());
                }
                sizes
            };
            let mut waited = 0;
            while sizes().await != [1, 1] {
                assert!(waited < 40, "the matchers did not hear of the subscriptions: {:?}", sizes().await);
                tokio::time::sleep(Duration::from_millis(50)).await;
                waited += 1;
            }
            let policy = Policy::default();
            let at = |p: Point, id: &str| {
                porchlight_core::testing::call("testville", id, "THEFT", Category::Property, "open", p)
            };
            store.apply(&[policy.apply(at(a, "1")), policy.apply(at(b, "2"))]).await.unwrap();
            assert_eq!(api.publish_once().await.unwrap(), 2);
            assert_eq!(api.publish_once().await.unwrap(), 0, "published once");
            let mut waited = 0;
            loop {
                let (x, y) = (
                    store.alerts(near_a.id, None, None, 10).await.unwrap(),
                    store.alerts(near_b.id, None, None, 10).await.unwrap(),
                );
                if x.len() == 1 && y.len() == 1 {
                    break;
                }
                assert!(waited < 100, "alerts: {x:?} {y:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                waited += 1;
            }
            // Done rows are not published again, however long ago they were published.
            let later = Utc::now() + chrono::Duration::hours(1);
            assert!(store.unpublished_outbox(10, later).await.unwrap().is_empty());
            // A deletion reaches the matcher holding it.
            assert!(api.unsubscribe(near_a.id).await.unwrap());
            let mut waited = 0;
            while sizes().await.iter().sum::<usize>() != 1 {
                assert!(waited < 40, "the matchers did not hear of the deletion: {:?}", sizes().await);
                tokio::time::sleep(Duration::from_millis(50)).await;
                waited += 1;
            }
        }
    }
}
