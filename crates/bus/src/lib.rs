//! The bus between the processes of a deployment: NATS JetStream.
//!
//! The store stays the one truth (incidents, subscriptions, alerts, deliveries); the bus tells
//! processes what to do and when, so none has to poll the store for work:
//!
//! - **Published incidents**, one message per stored incident version once it may be seen,
//!   on `{name}.incidents.{shard}`: the shard of the region its point is in. Each matcher
//!   owning a shard takes that subject's messages from a durable consumer of its own
//!   (`matcher-{shard}`), acknowledges each when its alerts are stored, and gets again any it
//!   held when it died. The stream keeps a message until it is acknowledged (work-queue
//!   retention), and drops a second publication of the same version (its outbox row's id is
//!   the message id).
//! - **Subscription changes** (made, deleted) on `{name}.subscriptions`: every matcher follows
//!   the whole stream from where it stood when it loaded its index from the store.
//! - **Matched alerts** on `{name}.matches`: live alerts with deliveries to make, consumed by
//!   the delivery workers as one work queue (`delivery`), acknowledged once attempted.
//! - **Live alerts** on `{name}.live`, plain NATS: which subscribers have new live alerts, so
//!   that the API process serving their live streams reads them at once.

use std::{marker::PhantomData, time::Duration};

use async_nats::jetstream::{
    self, AckKind,
    consumer::{AckPolicy, DeliverPolicy, pull},
    stream::{self, RetentionPolicy, StorageType},
};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the bus name {0:?} must be letters, digits, '-' and '_'")]
    Name(String),
    #[error("the bus at {url}: {detail}")]
    Connect { url: String, detail: String },
    #[error(
        "the bus's incident stream {stream} was set up for {found}; this process says {said} shards \
         (every process of a deployment must give the same --shard-count; to change it, stop the \
         deployment and delete the stream)"
    )]
    Shards { stream: String, found: String, said: u32 },
    #[error("the bus, {what}: {detail}")]
    Nats { what: &'static str, detail: String },
}

fn nats<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> Error {
    move |e| Error::Nats { what, detail: e.to_string() }
}

/// A stored incident version that may now be seen: its outbox row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    pub outbox_id: i64,
}

/// A change to the subscriptions, by the key the matcher knows them by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionChange {
    Made { key: i64 },
    Deleted { key: i64 },
}

/// Live alerts just stored, whose deliveries are due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matched {
    pub alerts: Vec<i64>,
}

/// A connection to the bus of one deployment.
#[derive(Clone)]
pub struct Bus {
    client: async_nats::Client,
    js: jetstream::Context,
    name: String,
    shards: u32,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus").field("name", &self.name).field("shards", &self.shards).finish_non_exhaustive()
    }
}

/// How long the stream remembers a message id, to drop a second publication of it.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
/// How long subscription changes are kept: a matcher follows them from its start.
const CHANGES_KEPT: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Messages a worker takes from a work queue at a time: few, so that a second worker finds
/// work and a killed one holds little.
const BATCH: usize = 16;

impl Bus {
    /// Connect to the NATS server at `url` and make the deployment's streams if they are not
    /// there. Streams and subjects are named after `name` (several deployments, or tests, can
    /// share a server); `shards` must be what every other process of the deployment says.
    pub async fn connect(url: &str, name: &str, shards: u32) -> Result<Self, Error> {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(Error::Name(name.to_owned()));
        }
        let client = async_nats::ConnectOptions::new()
            .name("porchlight")
            .connection_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|e| Error::Connect { url: url.to_owned(), detail: e.to_string() })?;
        let js = jetstream::new(client.clone());
        let bus = Self { client, js, name: name.to_owned(), shards: shards.max(1) };
        let described = format!("Porchlight's published incidents, {} shards", bus.shards);
        let incidents = bus
            .js
            .get_or_create_stream(stream::Config {
                name: bus.stream("incidents"),
                description: Some(described.clone()),
                subjects: vec![format!("{name}.incidents.*")],
                retention: RetentionPolicy::WorkQueue,
                storage: StorageType::File,
                duplicate_window: DUPLICATE_WINDOW,
                ..Default::default()
            })
            .await
            .map_err(nats("making the incident stream"))?;
        let found = incidents.get_info().await.map_err(nats("reading the incident stream"))?;
        if found.config.description.as_deref() != Some(described.as_str()) {
            return Err(Error::Shards {
                stream: bus.stream("incidents"),
                found: found.config.description.unwrap_or_default(),
                said: bus.shards,
            });
        }
        bus.js
            .get_or_create_stream(stream::Config {
                name: bus.stream("subscriptions"),
                description: Some("Porchlight's subscriptions made and deleted".into()),
                subjects: vec![format!("{name}.subscriptions")],
                storage: StorageType::File,
                max_age: CHANGES_KEPT,
                ..Default::default()
            })
            .await
            .map_err(nats("making the subscription stream"))?;
        bus.js
            .get_or_create_stream(stream::Config {
                name: bus.stream("matches"),
                description: Some("Porchlight's live alerts to deliver".into()),
                subjects: vec![format!("{name}.matches")],
                retention: RetentionPolicy::WorkQueue,
                storage: StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(nats("making the match stream"))?;
        Ok(bus)
    }

    fn stream(&self, what: &str) -> String {
        format!("{}-{what}", self.name)
    }

    /// How many shards the deployment's map is split into.
    pub fn shards(&self) -> u32 {
        self.shards
    }

    /// Publish stored incident versions, each to its shard's subject, and wait until the
    /// stream has them all. One already published (within two minutes) is not stored twice.
    pub async fn publish_incidents(&self, published: &[(u32, Published)]) -> Result<(), Error> {
        let mut acks = Vec::with_capacity(published.len());
        for (shard, p) in published {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(async_nats::header::NATS_MESSAGE_ID, p.outbox_id.to_string().as_str());
            let subject = format!("{}.incidents.{shard}", self.name);
            let payload = serde_json::to_vec(p).expect("a number serializes");
            acks.push(
                self.js
                    .publish_with_headers(subject, headers, payload.into())
                    .await
                    .map_err(nats("publishing an incident"))?,
            );
        }
        for ack in acks {
            ack.await.map_err(nats("publishing an incident"))?;
        }
        Ok(())
    }

    /// Publish a value as JSON to a stream's subject, and wait until the stream has it.
    async fn publish_json(
        &self,
        subject: &str,
        value: &impl Serialize,
        what: &'static str,
    ) -> Result<(), Error> {
        let payload = serde_json::to_vec(value).expect("our messages serialize");
        self.js
            .publish(format!("{}.{subject}", self.name), payload.into())
            .await
            .map_err(nats(what))?
            .await
            .map_err(nats(what))?;
        Ok(())
    }

    /// Publish a change to the subscriptions, and wait until the stream has it.
    pub async fn publish_subscription_change(&self, change: SubscriptionChange) -> Result<(), Error> {
        self.publish_json("subscriptions", &change, "publishing a subscription change").await
    }

    /// Publish live alerts whose deliveries are due, and wait until the stream has them.
    pub async fn publish_matched(&self, matched: &Matched) -> Result<(), Error> {
        if matched.alerts.is_empty() {
            return Ok(());
        }
        self.publish_json("matches", matched, "publishing matched alerts").await
    }

    /// Say which subscribers have new live alerts (plain NATS: whoever listens now hears it).
    pub async fn publish_live(&self, subscriptions: &[Uuid]) -> Result<(), Error> {
        if subscriptions.is_empty() {
            return Ok(());
        }
        let payload = serde_json::to_vec(subscriptions).expect("ids serialize");
        self.client
            .publish(format!("{}.live", self.name), payload.into())
            .await
            .map_err(nats("publishing live alerts"))
    }

    /// The published incidents of one shard, from its durable consumer: each is given again
    /// `redeliver_after` it was given unless acknowledged (its taker died) or pushed back.
    pub async fn incidents(&self, shard: u32, redeliver_after: Duration) -> Result<Work<Published>, Error> {
        self.work(
            "incidents",
            &format!("matcher-{shard}"),
            format!("{}.incidents.{shard}", self.name),
            redeliver_after,
        )
        .await
    }

    /// Matched alerts, from the delivery workers' one shared consumer.
    pub async fn matched(&self, redeliver_after: Duration) -> Result<Work<Matched>, Error> {
        self.work("matches", "delivery", format!("{}.matches", self.name), redeliver_after).await
    }

    async fn work<T>(
        &self,
        stream: &str,
        consumer: &str,
        subject: String,
        redeliver_after: Duration,
    ) -> Result<Work<T>, Error> {
        let stream = self.js.get_stream(self.stream(stream)).await.map_err(nats("finding a work stream"))?;
        let consumer = stream
            .get_or_create_consumer(
                consumer,
                pull::Config {
                    durable_name: Some(consumer.to_owned()),
                    filter_subject: subject,
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: redeliver_after,
                    ..Default::default()
                },
            )
            .await
            .map_err(nats("making a work consumer"))?;
        let messages = consumer
            .stream()
            .max_messages_per_batch(BATCH)
            .heartbeat(Duration::from_secs(5))
            .messages()
            .await
            .map_err(nats("taking work"))?;
        Ok(Work { messages, kind: PhantomData })
    }

    /// The last sequence number of the subscription changes: a matcher that loads its index
    /// from the store after reading it follows the changes after it.
    pub async fn subscription_changes_last(&self) -> Result<u64, Error> {
        let stream = self
            .js
            .get_stream_no_info(self.stream("subscriptions"))
            .await
            .map_err(nats("finding the subscription stream"))?;
        let info = stream.get_info().await.map_err(nats("reading the subscription stream"))?;
        Ok(info.state.last_sequence)
    }

    /// The subscription changes after sequence number `after`, in order, each with its
    /// sequence number.
    pub async fn subscription_changes(&self, after: u64) -> Result<Changes, Error> {
        let stream = self
            .js
            .get_stream_no_info(self.stream("subscriptions"))
            .await
            .map_err(nats("finding the subscription stream"))?;
        let messages = stream
            .create_consumer(pull::OrderedConfig {
                filter_subject: format!("{}.subscriptions", self.name),
                deliver_policy: DeliverPolicy::ByStartSequence { start_sequence: after + 1 },
                ..Default::default()
            })
            .await
            .map_err(nats("following subscription changes"))?
            .messages()
            .await
            .map_err(nats("following subscription changes"))?;
        Ok(Changes { messages })
    }

    /// Which subscribers have new live alerts, as other processes say it from now on.
    pub async fn live(&self) -> Result<Live, Error> {
        let subscriber = self
            .client
            .subscribe(format!("{}.live", self.name))
            .await
            .map_err(nats("listening for live alerts"))?;
        Ok(Live { subscriber })
    }

    /// How many published incidents wait in a shard (not yet acknowledged by a matcher), and
    /// how many times its consumer has given one (again after a kill too).
    pub async fn shard_counts(&self, shard: u32) -> Result<(u64, u64), Error> {
        let stream = self
            .js
            .get_stream_no_info(self.stream("incidents"))
            .await
            .map_err(nats("finding the incident stream"))?;
        let info = stream
            .consumer_info(format!("matcher-{shard}"))
            .await
            .map_err(nats("reading a matcher's consumer"))?;
        Ok((info.num_pending + info.num_ack_pending as u64, info.delivered.consumer_sequence))
    }

    /// Delete the deployment's streams (and so its consumers): for tests that share a server.
    pub async fn delete(&self) -> Result<(), Error> {
        for what in ["incidents", "subscriptions", "matches"] {
            self.js.delete_stream(self.stream(what)).await.map_err(nats("deleting a stream"))?;
        }
        Ok(())
    }
}

/// Messages of a work queue, taken a few at a time.
pub struct Work<T> {
    messages: pull::Stream,
    kind: PhantomData<T>,
}

impl<T: DeserializeOwned> Work<T> {
    /// The next piece of work; `None` when the consumer is gone. A message that is not one
    /// of ours is logged and dropped for good.
    pub async fn next(&mut self) -> Option<Result<Job<T>, Error>> {
        loop {
            let message = match self.messages.next().await? {
                Ok(message) => message,
                Err(e) => return Some(Err(nats("taking work")(&e))),
            };
            match serde_json::from_slice(&message.payload) {
                Ok(value) => return Some(Ok(Job { value, message })),
                Err(e) => {
                    tracing::error!(subject = %message.subject, error = %e, "a message on the bus that is not ours; dropped");
                    let _ = message.ack_with(AckKind::Term).await;
                }
            }
        }
    }
}

/// A piece of work taken from a queue: acknowledge it when done, or push it back.
#[derive(Debug)]
pub struct Job<T> {
    pub value: T,
    message: jetstream::Message,
}

impl<T> Job<T> {
    /// Done: the queue forgets it (the server has confirmed it when this returns).
    pub async fn done(self) -> Result<(), Error> {
        self.message.double_ack().await.map_err(nats("acknowledging work"))
    }

    /// Not now: given again (to this worker or another) after `delay`.
    pub async fn again_in(self, delay: Duration) -> Result<(), Error> {
        self.message.ack_with(AckKind::Nak(Some(delay))).await.map_err(nats("pushing work back"))
    }

    /// How many times it has been given, this time included.
    pub fn delivered(&self) -> i64 {
        self.message.info().map(|i| i.delivered).unwrap_or(1)
    }
}

/// Subscription changes, in order.
pub struct Changes {
    messages: pull::Ordered,
}

impl Changes {
    /// The next change and its sequence number; `None` when the stream is gone. A message that
    /// is not a change is skipped, its sequence number counted.
    pub async fn next(&mut self) -> Option<Result<(u64, Option<SubscriptionChange>), Error>> {
        let message = match self.messages.next().await? {
            Ok(message) => message,
            Err(e) => return Some(Err(nats("following subscription changes")(&e))),
        };
        let sequence = message.info().map(|i| i.stream_sequence).unwrap_or_default();
        let change = serde_json::from_slice(&message.payload)
            .inspect_err(|e| tracing::error!(error = %e, "a subscription change that is not ours; skipped"))
            .ok();
        Some(Ok((sequence, change)))
    }
}

/// Which subscribers have new live alerts.
pub struct Live {
    subscriber: async_nats::Subscriber,
}

impl Live {
    /// The subscribers of the next message; `None` when the connection is closed.
    pub async fn next(&mut self) -> Option<Vec<Uuid>> {
        loop {
            let message = self.subscriber.next().await?;
            match serde_json::from_slice(&message.payload) {
                Ok(ids) => return Some(ids),
                Err(e) => tracing::error!(error = %e, "a live-alert message that is not ours; skipped"),
            }
        }
    }
}

/// A bus of its own for each test on a shared NATS server.
#[cfg(any(test, feature = "testing"))]
pub mod testing {
    use super::*;

    /// The NATS server tests use: `PORCHLIGHT_TEST_NATS`, or the one on this machine.
    pub fn url() -> String {
        std::env::var("PORCHLIGHT_TEST_NATS").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
    }

    /// A bus of a fresh name on the test server; its streams are deleted when it is dropped.
    pub struct TempBus {
        pub bus: Bus,
    }

    impl TempBus {
        pub async fn new(shards: u32) -> Self {
            let name = format!("test-{}", Uuid::new_v4().simple());
            Self { bus: Bus::connect(&url(), &name, shards).await.expect("the test NATS server") }
        }

        pub fn name(&self) -> &str {
            &self.bus.name
        }
    }

    impl Drop for TempBus {
        fn drop(&mut self) {
            let (name, shards) = (self.bus.name.clone(), self.bus.shards);
            // On a connection of its own: the test's runtime, which drives the bus's, is
            // blocked here. A stream left behind is harmless.
            let _ = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(
                    async move {
                        if let Ok(bus) = Bus::connect(&url(), &name, shards).await {
                            let _ = bus.delete().await;
                        }
                    },
                )
            })
            .join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{testing::TempBus, *};

    fn published(ids: &[(u32, i64)]) -> Vec<(u32, Published)> {
        ids.iter().map(|(shard, id)| (*shard, Published { outbox_id: *id })).collect()
    }

    #[tokio::test]
    async fn each_shard_gets_its_incidents_once_and_again_when_not_acknowledged() {
        let test = TempBus::new(2).await;
        let bus = &test.bus;
        bus.publish_incidents(&published(&[(0, 1), (1, 2), (0, 3)])).await.unwrap();
        // Published again (a publisher that died before marking them): not stored twice.
        bus.publish_incidents(&published(&[(0, 1), (1, 2)])).await.unwrap();
        let redeliver = Duration::from_secs(1);
        let mut zero = bus.incidents(0, redeliver).await.unwrap();
        let first = zero.next().await.unwrap().unwrap();
        assert_eq!((first.value.outbox_id, first.delivered()), (1, 1));
        first.done().await.unwrap();
        // Taken and then dropped without an answer, as by a killed worker.
        let third = zero.next().await.unwrap().unwrap();
        assert_eq!(third.value.outbox_id, 3);
        drop(third);
        drop(zero);
        let mut one = bus.incidents(1, redeliver).await.unwrap();
        let second = one.next().await.unwrap().unwrap();
        assert_eq!(second.value.outbox_id, 2);
        // Pushed back: given again.
        second.again_in(Duration::from_millis(100)).await.unwrap();
        let again = tokio::time::timeout(Duration::from_secs(5), one.next()).await.unwrap().unwrap().unwrap();
        assert_eq!((again.value.outbox_id, again.delivered()), (2, 2));
        again.done().await.unwrap();
        // The killed worker's message comes back to whoever takes shard 0 next.
        let mut zero = bus.incidents(0, redeliver).await.unwrap();
        let back = tokio::time::timeout(Duration::from_secs(5), zero.next()).await.unwrap().unwrap().unwrap();
        assert_eq!((back.value.outbox_id, back.delivered()), (3, 2));
        back.done().await.unwrap();
        assert_eq!(bus.shard_counts(0).await.unwrap().0, 0);
        assert_eq!(bus.shard_counts(1).await.unwrap().0, 0);
    }

    #[tokio::test]
    async fn a_deployment_agrees_on_its_shard_count() {
        let test = TempBus::new(4).await;
        let name = test.name();
        let test_url = testing::url;
        assert!(Bus::connect(&test_url(), name, 4).await.is_ok());
        let err = Bus::connect(&test_url(), name, 2).await.unwrap_err();
        assert!(matches!(err, Error::Shards { said: 2, .. }), "{err}");
        assert!(err.to_string().contains("4 shards"), "{err}");
        assert!(matches!(Bus::connect(&test_url(), "a.b", 1).await, Err(Error::Name(_))));
        let nobody = Bus::connect("nats://127.0.0.1:1", "x", 1).await.unwrap_err();
        assert!(nobody.to_string().contains("nats://127.0.0.1:1"), "{nobody}");
    }

    #[tokio::test]
    async fn subscription_changes_are_followed_from_where_a_matcher_stood() {
        let test = TempBus::new(1).await;
        let bus = &test.bus;
        bus.publish_subscription_change(SubscriptionChange::Made { key: 1 }).await.unwrap();
        let stood = bus.subscription_changes_last().await.unwrap();
        bus.publish_subscription_change(SubscriptionChange::Made { key: 2 }).await.unwrap();
        bus.publish_subscription_change(SubscriptionChange::Deleted { key: 1 }).await.unwrap();
        let mut changes = bus.subscription_changes(stood).await.unwrap();
        let mut seen = Vec::new();
        for _ in 0..2 {
            seen.push(changes.next().await.unwrap().unwrap());
        }
        assert_eq!(
            seen,
            [
                (stood + 1, Some(SubscriptionChange::Made { key: 2 })),
                (stood + 2, Some(SubscriptionChange::Deleted { key: 1 }))
            ]
        );
        assert_eq!(bus.subscription_changes_last().await.unwrap(), stood + 2);
    }

    #[tokio::test]
    async fn matched_alerts_are_shared_by_the_delivery_workers_and_live_news_reaches_listeners() {
        let test = TempBus::new(1).await;
        let bus = &test.bus;
        let mut live = bus.live().await.unwrap();
        let redeliver = Duration::from_secs(5);
        let (mut a, mut b) = (bus.matched(redeliver).await.unwrap(), bus.matched(redeliver).await.unwrap());
        for n in 0..40 {
            bus.publish_matched(&Matched { alerts: vec![n] }).await.unwrap();
        }
        let mut got = Vec::new();
        while got.len() < 40 {
            let job = tokio::select! {
                Some(job) = a.next() => job.unwrap(),
                Some(job) = b.next() => job.unwrap(),
            };
            got.extend(job.value.alerts.iter().copied());
            job.done().await.unwrap();
        }
        got.sort_unstable();
        assert_eq!(got, (0..40).collect::<Vec<_>>(), "each once");
        let who = vec![Uuid::new_v4()];
        bus.publish_live(&who).await.unwrap();
        assert_eq!(tokio::time::timeout(Duration::from_secs(5), live.next()).await.unwrap(), Some(who));
    }
}
