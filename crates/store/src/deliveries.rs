//! Channels and deliveries: where each live alert goes besides the live streams, the queue the
//! sender works from, every attempt, and the dead letters.
//!
//! A delivery row is written in the same transaction as its alert (see `complete_outbox`), so an
//! alert that exists is an alert that will be sent; the unique key on (channel, alert) means it
//! is queued once. The sender leases due rows by moving their due time forward, so a crash in
//! the middle of an attempt makes the row due again after the lease, never lost.

use porchlight_core::channel::{Kind, State, Target};

use super::*;

/// One of a subscription's channels. Its secret is not here: it is shown once, when the
/// channel is made, and read back only by the sender.
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    pub id: Uuid,
    pub subscription_id: Uuid,
    pub target: Target,
    pub state: State,
    /// Failed attempts since the last success, and the first of them.
    pub failures: u32,
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct ChannelRow {
    id: String,
    subscription_id: String,
    target: String,
    state: String,
    failures: i64,
    failing_since: Option<String>,
    created_at: String,
}

impl ChannelRow {
    fn into_channel(self) -> Result<Channel> {
        Ok(Channel {
            id: parse_uuid(&self.id)?,
            subscription_id: parse_uuid(&self.subscription_id)?,
            target: serde_json::from_str(&self.target)
                .map_err(|e| StoreError::Corrupt(format!("channel target: {e}")))?,
            state: State::parse(&self.state)
                .ok_or_else(|| StoreError::Corrupt(format!("channel state {:?}", self.state)))?,
            failures: u32::try_from(self.failures).unwrap_or(0),
            failing_since: self.failing_since.as_deref().map(parse_ts).transpose()?,
            created_at: parse_ts(&self.created_at)?,
        })
    }
}

const CHANNEL_COLUMNS: &str =
    "c.id, c.subscription_id, c.target, c.state, c.failures, c.failing_since, c.created_at";

/// A delivery the sender has leased: the alert, and the channel it goes to with its secret.
#[derive(Debug, Clone)]
pub struct Due {
    pub id: i64,
    /// Attempts made before this one.
    pub attempts: u32,
    /// When the retry window opened: retries stop a while after it.
    pub since: DateTime<Utc>,
    pub channel: Channel,
    pub secret: Vec<u8>,
    pub payload: Payload,
}

/// What a delivery carries.
// Nearly every payload is an alert: boxing it would cost an allocation per delivery to save
// space in the rare digest.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Payload {
    /// One live alert.
    Alert(Alert),
    /// An e-mail digest: the alerts held back (quiet hours, budget, digest-only) in the
    /// subscriber's digest period `[from, to)`, oldest first.
    Digest { from: DateTime<Utc>, to: DateTime<Utc>, alerts: Vec<Alert> },
}

/// What came of one attempt, and so what happens to the delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// It failed; try again at this time.
    Retry(DateTime<Utc>),
    /// It failed, and the retry window is over: a dead letter.
    GaveUp,
    /// The endpoint is gone for good (a push service's 404 or 410): the channel takes nothing
    /// more.
    Gone,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Retry(_) | Self::GaveUp => "failed",
            Self::Gone => "gone",
        }
    }
}

/// One attempt at a delivery, to record.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub delivery_id: i64,
    pub channel_id: Uuid,
    pub at: DateTime<Utc>,
    pub outcome: Outcome,
    /// The HTTP status or SMTP reply code, when there was an answer.
    pub status: Option<u16>,
    pub error: Option<String>,
    pub duration: Duration,
}

/// When a channel that keeps failing is paused: after at least `failures` failed attempts in a
/// row over at least `after`.
#[derive(Debug, Clone, Copy)]
pub struct PauseRule {
    pub failures: u32,
    pub after: chrono::Duration,
}

/// A delivery as its subscriber reads it in the log.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryLog {
    pub id: i64,
    pub channel_id: Uuid,
    pub kind: Kind,
    /// The alert delivered, or the digest's period.
    pub alert_id: Option<i64>,
    pub digest: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// pending, delivered or dead.
    pub state: String,
    pub since: DateTime<Utc>,
    /// When a pending delivery is tried next.
    pub due_at: Option<DateTime<Utc>>,
    pub done_at: Option<DateTime<Utc>>,
    /// Why a dead letter is dead.
    pub reason: Option<String>,
    pub attempts: Vec<AttemptLog>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AttemptLog {
    pub at: DateTime<Utc>,
    /// delivered, failed or gone.
    pub outcome: String,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// Why dead letters are dead.
const REASON_GAVE_UP: &str = "retries ran out";
const REASON_PAUSED: &str = "channel paused after failing repeatedly";
const REASON_GONE: &str = "the push subscription is gone";

/// Queue live alerts, given as (alert, subscription), for each of their subscription's
/// channels; a paused channel's copy goes straight to the dead letters. Runs inside the
/// alerts' own transaction, as one statement.
pub(crate) async fn enqueue(
    db: &Db,
    tx: &mut AnyConnection,
    alerts: &[(i64, Uuid)],
    now: DateTime<Utc>,
) -> Result<()> {
    if alerts.is_empty() {
        return Ok(());
    }
    let alerts: Vec<(i64, String)> = alerts.iter().map(|(a, s)| (*a, s.to_string())).collect();
    sqlx::query(
        db.sql("INSERT INTO deliveries (channel_id, alert_id, state, since, due_at, done_at, reason)
         SELECT c.id, CAST(j.value->>0 AS BIGINT), CASE c.state WHEN 'active' THEN 'pending' ELSE 'dead' END, ?2, ?2,
             CASE c.state WHEN 'active' THEN NULL ELSE ?2 END,
             CASE c.state WHEN 'active' THEN NULL ELSE ?3 END
         FROM each_row(?1, j) JOIN channels c ON c.subscription_id = j.value->>1 AND c.state != 'gone'
         ON CONFLICT DO NOTHING"),
    )
    .bind(serde_json::to_string(&alerts).expect("pairs serialize"))
    .bind(ts(now))
    .bind(REASON_PAUSED)
    .execute(tx)
    .await?;
    Ok(())
}

/// Bytes from SQLite's `hex()`.
fn unhex(text: &str) -> Result<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| StoreError::Corrupt(format!("hex {text:?}")))
        })
        .collect()
}

impl Store {
    /// Add a channel to a subscription; `None` when there is no such subscription. Returns the
    /// channel and its secret (a webhook's signing key, an address's unsubscribe token), which
    /// is not shown again.
    pub async fn create_channel(
        &self,
        subscription_id: Uuid,
        target: &Target,
    ) -> Result<Option<(Channel, Vec<u8>)>> {
        let channel = Channel {
            id: Uuid::new_v4(),
            subscription_id,
            target: target.clone(),
            state: State::Active,
            failures: 0,
            failing_since: None,
            created_at: now(),
        };
        let secret = random_bytes(2);
        let done = sqlx::query(
            self.db.sql("INSERT INTO channels (id, subscription_id, kind, target, secret, state, created_at)
             SELECT ?1, ?2, ?3, ?4, ?5, 'active', ?6 WHERE EXISTS (SELECT 1 FROM subscriptions WHERE id = ?2)"),
        )
        .bind(channel.id.to_string())
        .bind(subscription_id.to_string())
        .bind(target.kind().as_str())
        .bind(serde_json::to_string(target).expect("a target serializes"))
        .bind(&secret)
        .bind(ts(channel.created_at))
        .execute(self.db.pool())
        .await?;
        Ok((done.rows_affected() == 1).then_some((channel, secret)))
    }

    pub async fn channels(&self, subscription_id: Uuid) -> Result<Vec<Channel>> {
        let rows: Vec<ChannelRow> = sqlx::query_as(self.db.sql(&format!(
            "SELECT {CHANNEL_COLUMNS} FROM channels c WHERE c.subscription_id = ? ORDER BY c.created_at, c.id"
        )))
        .bind(subscription_id.to_string())
        .fetch_all(self.db.pool())
        .await?;
        rows.into_iter().map(ChannelRow::into_channel).collect()
    }

    /// The channel whose secret this is: an e-mail's unsubscribe link carries it.
    pub async fn channel_by_secret(&self, secret: &[u8]) -> Result<Option<Channel>> {
        let row: Option<ChannelRow> = sqlx::query_as(
            self.db.sql(&format!("SELECT {CHANNEL_COLUMNS} FROM channels c WHERE c.secret = ?")),
        )
        .bind(secret)
        .fetch_optional(self.db.pool())
        .await?;
        row.map(ChannelRow::into_channel).transpose()
    }

    /// Delete a channel with its deliveries and their log. Returns whether it existed.
    pub async fn delete_channel(&self, subscription_id: Uuid, channel_id: Uuid) -> Result<bool> {
        let done = sqlx::query(self.db.sql("DELETE FROM channels WHERE id = ? AND subscription_id = ?"))
            .bind(channel_id.to_string())
            .bind(subscription_id.to_string())
            .execute(self.db.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Take a paused channel back into service, its failure count cleared. Returns the channel,
    /// or `None` if there is no such channel; a gone channel stays gone.
    pub async fn resume_channel(&self, subscription_id: Uuid, channel_id: Uuid) -> Result<Option<Channel>> {
        sqlx::query(self.db.sql(
            "UPDATE channels SET state = 'active', failures = 0, failing_since = NULL
             WHERE id = ? AND subscription_id = ? AND state = 'paused'",
        ))
        .bind(channel_id.to_string())
        .bind(subscription_id.to_string())
        .execute(self.db.pool())
        .await?;
        Ok(self.channels(subscription_id).await?.into_iter().find(|c| c.id == channel_id))
    }

    /// Lease up to `limit` deliveries due at `now`: each is not due again until `lease` has
    /// passed, by when its attempt will have been recorded unless the sender died.
    ///
    /// The write lock is held only to lease; what the attempts need is read after, each query
    /// answering one row of JSON (rows one at a time through the driver cost more than the
    /// queries themselves).
    pub async fn take_due(&self, now: DateTime<Utc>, lease: Duration, limit: u32) -> Result<Vec<Due>> {
        self.take_due_where(now, lease, limit, None).await
    }

    /// Lease, as [`Store::take_due`] does, the deliveries of these alerts that are due at `now`
    /// (a delivery worker told of new alerts by the bus).
    pub async fn take_due_of_alerts(
        &self,
        alerts: &[i64],
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Vec<Due>> {
        if alerts.is_empty() {
            return Ok(Vec::new());
        }
        let limit = u32::try_from(alerts.len().saturating_mul(8)).unwrap_or(u32::MAX);
        self.take_due_where(now, lease, limit, Some(alerts)).await
    }

    async fn take_due_where(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
        of_alerts: Option<&[i64]>,
    ) -> Result<Vec<Due>> {
        #[derive(serde::Deserialize)]
        struct DueJson {
            delivery_id: i64,
            attempts: i64,
            since: String,
            secret: String,
            channel_id: String,
            channel_subscription_id: String,
            channel_target: String,
            channel_state: String,
            channel_failures: i64,
            channel_failing_since: Option<String>,
            channel_created_at: String,
            alert_id: i64,
            alert_created_at: String,
            alert_kind: String,
            refers_to: Option<i64>,
            last_30_days: Option<i64>,
            monthly_average: Option<f64>,
            delivery: String,
            incident_id: String,
            version: i64,
        }
        let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
        let mut tx = self.write().await?;
        let of_alerts_sql = if of_alerts.is_some() { "AND any_int(alert_id, ?3)" } else { "" };
        let sql = format!(
            "SELECT agg_json(id) FROM (
                 SELECT id FROM deliveries WHERE state = 'pending' AND due_at <= ?1 {of_alerts_sql}
                 ORDER BY due_at LIMIT ?2) AS due"
        );
        let mut query = sqlx::query_as(self.db.sql(&sql)).bind(ts(now)).bind(i64::from(limit));
        if let Some(alerts) = of_alerts {
            query = query.bind(serde_json::to_string(alerts).expect("numbers serialize"));
        }
        let (ids,): (String,) = query.fetch_one(&mut *tx).await?;
        if ids == "[]" {
            return Ok(Vec::new());
        }
        sqlx::query(self.db.sql("UPDATE deliveries SET due_at = ? WHERE any_int(id, ?)"))
            .bind(ts(until))
            .bind(&ids)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        let (due,): (String,) = sqlx::query_as(self.db.sql(
            "SELECT agg_json(json_obj(
                 'delivery_id', d.id, 'attempts', d.attempts, 'since', d.since, 'secret', hex(c.secret),
                 'channel_id', c.id, 'channel_subscription_id', c.subscription_id, 'channel_target', c.target,
                 'channel_state', c.state, 'channel_failures', c.failures,
                 'channel_failing_since', c.failing_since, 'channel_created_at', c.created_at,
                 'alert_id', a.id, 'alert_created_at', a.created_at, 'alert_kind', a.kind,
                 'refers_to', a.refers_to, 'last_30_days', a.last_30_days,
                 'monthly_average', a.monthly_average, 'delivery', a.delivery,
                 'incident_id', a.incident_id, 'version', a.version))
             FROM deliveries d
             JOIN channels c ON c.id = d.channel_id
             JOIN alerts a ON a.id = d.alert_id
             WHERE any_int(d.id, ?)",
        ))
        .bind(&ids)
        .fetch_one(self.db.pool())
        .await?;
        let corrupt = |e: serde_json::Error| StoreError::Corrupt(format!("a due delivery: {e}"));
        let due: Vec<DueJson> = serde_json::from_str(&due).map_err(corrupt)?;
        // Each incident version once, however many deliveries tell of it.
        let versions: BTreeSet<(&str, i64)> =
            due.iter().map(|d| (d.incident_id.as_str(), d.version)).collect();
        let versions: Vec<(&str, i64)> = versions.into_iter().collect();
        let (incidents,): (String,) = sqlx::query_as(self.db.sql(&format!(
            "SELECT agg_json(json_obj(
                 'id', q.id, 'agency_id', q.agency_id, 'version', q.version, 'received_at', q.received_at,
                 'updated_at', q.updated_at, 'call_type', q.call_type, 'category', q.category,
                 'priority', q.priority, 'status', q.status, 'location_kind', q.location_kind,
                 'location', q.location, 'lat', q.lat, 'lon', q.lon, 'placed_by', q.placed_by,
                 'place_confidence', q.place_confidence,
                 'policy_version', q.policy_version,
                 'narrative', q.narrative, 'units', q.units, 'closure', q.closure,
                 'initial_call_type', q.initial_call_type))
             FROM ({INCIDENT_AT_VERSION}) q
             WHERE (q.id, q.version) IN (SELECT v.value->>0, CAST(v.value->>1 AS BIGINT) FROM each_row(?, v))"
        )))
        .bind(serde_json::to_string(&versions).expect("pairs serialize"))
        .fetch_one(self.db.pool())
        .await?;
        let incidents: Vec<IncidentRow> = serde_json::from_str(&incidents).map_err(corrupt)?;
        let mut by_version = HashMap::new();
        for row in incidents {
            by_version.insert((row.id.clone(), row.version), row.into_incident()?);
        }
        let mut out = Vec::with_capacity(due.len());
        for d in due {
            let incident = by_version
                .get(&(d.incident_id.clone(), d.version))
                .ok_or_else(|| StoreError::Corrupt(format!("alert {} without its incident", d.alert_id)))?
                .clone();
            let channel = ChannelRow {
                id: d.channel_id,
                subscription_id: d.channel_subscription_id,
                target: d.channel_target,
                state: d.channel_state,
                failures: d.channel_failures,
                failing_since: d.channel_failing_since,
                created_at: d.channel_created_at,
            }
            .into_channel()?;
            let alert = AlertFields {
                alert_id: d.alert_id,
                alert_created_at: d.alert_created_at,
                alert_kind: d.alert_kind,
                refers_to: d.refers_to,
                last_30_days: d.last_30_days,
                monthly_average: d.monthly_average,
                delivery: d.delivery,
            }
            .into_alert(channel.subscription_id, incident)?;
            out.push(Due {
                id: d.delivery_id,
                attempts: u32::try_from(d.attempts).unwrap_or(0),
                since: parse_ts(&d.since)?,
                secret: unhex(&d.secret)?,
                channel,
                payload: Payload::Alert(alert),
            });
        }
        out.extend(self.due_digests(&ids).await?);
        out.sort_by_key(|d| d.id);
        Ok(out)
    }

    /// The digests among leased deliveries, with the alerts each holds.
    async fn due_digests(&self, ids: &str) -> Result<Vec<Due>> {
        #[derive(FromRow)]
        struct DigestRow {
            delivery_id: i64,
            attempts: i64,
            since: String,
            secret: Vec<u8>,
            digest_from: String,
            digest_to: String,
            #[sqlx(flatten)]
            channel: ChannelRow,
        }
        let rows: Vec<DigestRow> = sqlx::query_as(self.db.sql(&format!(
            "SELECT d.id AS delivery_id, d.attempts, d.since, c.secret, d.digest_from, d.digest_to, {CHANNEL_COLUMNS}
             FROM deliveries d JOIN channels c ON c.id = d.channel_id
             WHERE any_int(d.id, ?) AND d.digest_to IS NOT NULL"
        )))
        .bind(ids)
        .fetch_all(self.db.pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let channel = r.channel.into_channel()?;
            let (from, to) = (parse_ts(&r.digest_from)?, parse_ts(&r.digest_to)?);
            out.push(Due {
                id: r.delivery_id,
                attempts: u32::try_from(r.attempts).unwrap_or(0),
                since: parse_ts(&r.since)?,
                secret: r.secret,
                payload: Payload::Digest {
                    from,
                    to,
                    alerts: self.held_alerts(channel.subscription_id, from, to).await?,
                },
                channel,
            });
        }
        Ok(out)
    }

    /// A subscription's alerts held for the digest and made in `[from, to)`, oldest first.
    pub async fn held_alerts(
        &self,
        subscription_id: Uuid,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Alert>> {
        let rows: Vec<AlertRow> = sqlx::query_as(self.db.sql(&format!(
            "SELECT {ALERT_COLUMNS}, q.* FROM alerts a
             JOIN ({INCIDENT_AT_VERSION}) q ON q.id = a.incident_id AND q.version = a.version
             WHERE a.subscription_id = ? AND a.delivery = 'digest' AND a.created_at >= ? AND a.created_at < ?
             ORDER BY a.id"
        )))
        .bind(subscription_id.to_string())
        .bind(ts(from))
        .bind(ts(to))
        .fetch_all(self.db.pool())
        .await?;
        rows.into_iter().map(|r| r.into_alert(subscription_id)).collect()
    }

    /// The active e-mail channels, each with its subscription's pacing (which says when its
    /// digest periods close).
    pub async fn email_channels(&self) -> Result<Vec<(Channel, Pacing)>> {
        #[derive(FromRow)]
        struct Row {
            pacing: Option<String>,
            #[sqlx(flatten)]
            channel: ChannelRow,
        }
        let rows: Vec<Row> = sqlx::query_as(self.db.sql(&format!(
            "SELECT s.pacing, {CHANNEL_COLUMNS} FROM channels c JOIN subscriptions s ON s.id = c.subscription_id
             WHERE c.kind = 'email' AND c.state = 'active'"
        )))
        .fetch_all(self.db.pool())
        .await?;
        rows.into_iter().map(|r| Ok((r.channel.into_channel()?, parse_pacing(r.pacing)?))).collect()
    }

    /// Queue the digest of `[from, to)` for an e-mail channel, once, if the period closed after
    /// the channel was made and holds any alert. Returns whether it was queued.
    pub async fn queue_digest(
        &self,
        channel_id: Uuid,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<bool> {
        let now = ts(now());
        let done = sqlx::query(self.db.sql(
            "INSERT INTO deliveries (channel_id, digest_from, digest_to, state, since, due_at)
             SELECT c.id, ?2, ?3, 'pending', ?4, ?4 FROM channels c
             WHERE c.id = ?1 AND c.state = 'active' AND c.created_at < ?3
                 AND EXISTS (SELECT 1 FROM alerts a WHERE a.subscription_id = c.subscription_id
                     AND a.delivery = 'digest' AND a.created_at >= ?2 AND a.created_at < ?3)
             ON CONFLICT DO NOTHING",
        ))
        .bind(channel_id.to_string())
        .bind(ts(from))
        .bind(ts(to))
        .bind(&now)
        .execute(self.db.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Record a batch of attempts in one transaction: the log, each delivery's new state, each
    /// channel's run of failures; a channel that has failed by `pause` is paused and a gone one
    /// closed, their pending deliveries moved to the dead letters.
    pub async fn record_attempts(&self, attempts: &[Attempt], pause: PauseRule) -> Result<()> {
        if attempts.is_empty() {
            return Ok(());
        }
        let now = now();
        let mut tx = self.write().await?;
        let log: Vec<serde_json::Value> = attempts
            .iter()
            .map(|a| {
                serde_json::json!([
                    a.delivery_id,
                    ts(a.at),
                    a.outcome.as_str(),
                    a.status,
                    a.error,
                    u64::try_from(a.duration.as_millis()).unwrap_or(u64::MAX)
                ])
            })
            .collect();
        sqlx::query(
            self.db.sql("INSERT INTO delivery_attempts (delivery_id, at, outcome, status, error, duration_ms)
             SELECT CAST(a.value->>0 AS BIGINT), a.value->>1, a.value->>2, CAST(a.value->>3 AS BIGINT), a.value->>4,
                 CAST(a.value->>5 AS BIGINT)
             FROM each_row(?, a)"),
        )
        .bind(serde_json::Value::Array(log).to_string())
        .execute(&mut *tx)
        .await?;
        // Each delivery's next state: [id, state, due_at, done_at, reason].
        let next: Vec<serde_json::Value> = attempts
            .iter()
            .map(|a| match a.outcome {
                Outcome::Delivered => serde_json::json!([a.delivery_id, "delivered", null, ts(a.at), null]),
                Outcome::Retry(due) => serde_json::json!([a.delivery_id, "pending", ts(due), null, null]),
                Outcome::GaveUp => serde_json::json!([a.delivery_id, "dead", null, ts(a.at), REASON_GAVE_UP]),
                Outcome::Gone => serde_json::json!([a.delivery_id, "dead", null, ts(a.at), REASON_GONE]),
            })
            .collect();
        // Only a pending delivery moves: one made dead meanwhile (its channel paused) stays so.
        sqlx::query(
            self.db.sql("UPDATE deliveries SET attempts = attempts + 1, state = n.value->>1,
                 due_at = COALESCE(n.value->>2, deliveries.due_at), done_at = n.value->>3, reason = n.value->>4
             FROM each_row(?, n) WHERE deliveries.id = CAST(n.value->>0 AS BIGINT) AND deliveries.state = 'pending'"),
        )
        .bind(serde_json::Value::Array(next).to_string())
        .execute(&mut *tx)
        .await?;
        // Each channel's run of failures, attempts taken in time order: [id, reset, failures
        // after the last success, the first of them].
        let mut runs: BTreeMap<Uuid, (bool, u32, Option<DateTime<Utc>>)> = BTreeMap::new();
        let mut ordered: Vec<&Attempt> = attempts.iter().collect();
        ordered.sort_by_key(|a| a.at);
        let mut gone = BTreeSet::new();
        for a in ordered {
            let run = runs.entry(a.channel_id).or_insert((false, 0, None));
            match a.outcome {
                Outcome::Delivered => *run = (true, 0, None),
                Outcome::Retry(_) | Outcome::GaveUp => {
                    run.1 += 1;
                    run.2.get_or_insert(a.at);
                }
                Outcome::Gone => {
                    gone.insert(a.channel_id.to_string());
                }
            }
        }
        let runs: Vec<serde_json::Value> = runs
            .into_iter()
            .map(|(id, (reset, n, first))| {
                serde_json::json!([id.to_string(), i64::from(reset), n, first.map(ts)])
            })
            .collect();
        let touched: Vec<&str> = runs.iter().filter_map(|r| r[0].as_str()).collect();
        sqlx::query(self.db.sql(
            "UPDATE channels SET
                 failures = CASE WHEN CAST(r.value->>1 AS BIGINT) = 1 THEN CAST(r.value->>2 AS BIGINT)
                     ELSE channels.failures + CAST(r.value->>2 AS BIGINT) END,
                 failing_since = CASE WHEN CAST(r.value->>2 AS BIGINT) = 0 THEN NULL
                     WHEN CAST(r.value->>1 AS BIGINT) = 1 THEN r.value->>3
                     ELSE COALESCE(channels.failing_since, r.value->>3) END
             FROM each_row(?, r) WHERE channels.id = r.value->>0",
        ))
        .bind(serde_json::Value::Array(runs.clone()).to_string())
        .execute(&mut *tx)
        .await?;
        let paused: Vec<(String,)> = sqlx::query_as(self.db.sql(
            "UPDATE channels SET state = 'paused'
             WHERE any_text(id, ?1) AND state = 'active' AND failures >= ?2
                 AND failing_since <= ?3
             RETURNING id",
        ))
        .bind(serde_json::to_string(&touched).expect("strings serialize"))
        .bind(i64::from(pause.failures))
        .bind(ts(now - pause.after))
        .fetch_all(&mut *tx)
        .await?;
        let gone: Vec<&String> = gone.iter().collect();
        sqlx::query(self.db.sql("UPDATE channels SET state = 'gone' WHERE any_text(id, ?)"))
            .bind(serde_json::to_string(&gone).expect("strings serialize"))
            .execute(&mut *tx)
            .await?;

        for (ids, reason) in [
            (paused.iter().map(|(id,)| id.as_str()).collect::<Vec<_>>(), REASON_PAUSED),
            (gone.iter().map(|id| id.as_str()).collect(), REASON_GONE),
        ] {
            if ids.is_empty() {
                continue;
            }
            tracing::info!(channels = ids.len(), reason, "channels closed to deliveries");
            sqlx::query(self.db.sql(
                "UPDATE deliveries SET state = 'dead', done_at = ?1, reason = ?2
                 WHERE any_text(channel_id, ?3) AND state = 'pending'",
            ))
            .bind(ts(now))
            .bind(reason)
            .bind(serde_json::to_string(&ids).expect("strings serialize"))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A subscription's deliveries with every attempt, oldest first after the cursor `after`;
    /// `state` picks pending, delivered or dead ones (the dead letters).
    pub async fn deliveries(
        &self,
        subscription_id: Uuid,
        state: Option<&str>,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<DeliveryLog>> {
        #[derive(FromRow)]
        struct Row {
            id: i64,
            channel_id: String,
            kind: String,
            alert_id: Option<i64>,
            digest_from: Option<String>,
            digest_to: Option<String>,
            state: String,
            since: String,
            due_at: String,
            done_at: Option<String>,
            reason: Option<String>,
        }
        let rows: Vec<Row> = sqlx::query_as(
            self.db.sql("SELECT d.id, d.channel_id, c.kind, d.alert_id, d.digest_from, d.digest_to, d.state, d.since, d.due_at,
                 d.done_at, d.reason
             FROM deliveries d JOIN channels c ON c.id = d.channel_id
             WHERE c.subscription_id = ?1 AND (?2 IS NULL OR d.state = ?2) AND d.id > ?3
             ORDER BY d.id LIMIT ?4"),
        )
        .bind(subscription_id.to_string())
        .bind(state)
        .bind(after.unwrap_or(0))
        .bind(i64::from(limit))
        .fetch_all(self.db.pool())
        .await?;
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        type AttemptRow = (i64, String, String, Option<i64>, Option<String>, i64);
        let attempts: Vec<AttemptRow> = sqlx::query_as(self.db.sql(
            "SELECT delivery_id, at, outcome, status, error, duration_ms FROM delivery_attempts
             WHERE any_int(delivery_id, ?) ORDER BY id",
        ))
        .bind(serde_json::to_string(&ids).expect("numbers serialize"))
        .fetch_all(self.db.pool())
        .await?;
        let mut by_delivery: HashMap<i64, Vec<AttemptLog>> = HashMap::new();
        for (id, at, outcome, status, error, duration_ms) in attempts {
            by_delivery.entry(id).or_default().push(AttemptLog {
                at: parse_ts(&at)?,
                outcome,
                status: status.and_then(|s| u16::try_from(s).ok()),
                error,
                duration_ms: u64::try_from(duration_ms).unwrap_or(0),
            });
        }
        rows.into_iter()
            .map(|r| {
                let kind = match r.kind.as_str() {
                    "webpush" => Kind::WebPush,
                    "webhook" => Kind::Webhook,
                    "email" => Kind::Email,
                    other => return Err(StoreError::Corrupt(format!("channel kind {other:?}"))),
                };
                let digest = match (r.digest_from, r.digest_to) {
                    (Some(from), Some(to)) => Some((parse_ts(&from)?, parse_ts(&to)?)),
                    _ => None,
                };
                Ok(DeliveryLog {
                    id: r.id,
                    channel_id: parse_uuid(&r.channel_id)?,
                    kind,
                    alert_id: r.alert_id,
                    digest,
                    due_at: if r.state == "pending" { Some(parse_ts(&r.due_at)?) } else { None },
                    state: r.state,
                    since: parse_ts(&r.since)?,
                    done_at: r.done_at.as_deref().map(parse_ts).transpose()?,
                    reason: r.reason,
                    attempts: by_delivery.remove(&r.id).unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Queue a subscription's dead letters again (all of them, or those with the given ids), due
    /// now with a new retry window; those of a channel that is not active stay dead. Returns how
    /// many were queued.
    pub async fn redeliver(&self, subscription_id: Uuid, ids: Option<&[i64]>) -> Result<u64> {
        let now = ts(now());
        let done = sqlx::query(self.db.sql(
            "UPDATE deliveries SET state = 'pending', since = ?1, due_at = ?1, done_at = NULL, reason = NULL
             WHERE state = 'dead'
                 AND channel_id IN (SELECT id FROM channels WHERE subscription_id = ?2 AND state = 'active')
                 AND (?3 IS NULL OR any_int(id, ?3))",
        ))
        .bind(&now)
        .bind(subscription_id.to_string())
        .bind(ids.map(|ids| serde_json::to_string(ids).expect("numbers serialize")))
        .execute(self.db.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// How many deliveries are in each state (pending, delivered, dead), over all channels.
    pub async fn delivery_counts(&self) -> Result<BTreeMap<String, u64>> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as(self.db.sql("SELECT state, count(*) FROM deliveries GROUP BY state"))
                .fetch_all(self.db.pool())
                .await?;
        Ok(rows.into_iter().map(|(state, n)| (state, u64::try_from(n).unwrap_or(0))).collect())
    }

    /// A value kept across restarts (the Web Push signing key); made by `make` the first time.
    pub async fn setting_or_insert(&self, key: &str, make: impl FnOnce() -> Vec<u8>) -> Result<Vec<u8>> {
        sqlx::query(self.db.sql("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT DO NOTHING"))
            .bind(key)
            .bind(make())
            .execute(self.db.pool())
            .await?;
        let (value,): (Vec<u8>,) = sqlx::query_as(self.db.sql("SELECT value FROM settings WHERE key = ?"))
            .bind(key)
            .fetch_one(self.db.pool())
            .await?;
        Ok(value)
    }
}
