//! The store: the only crate that knows SQL.
//!
//! Embedded SQLite through sqlx, with plain SQL migrations compiled into the binary. It accepts
//! incidents only as [`PublicIncident`], the type the privacy stage alone can make, and writes each
//! new incident version together with its outbox row in one transaction.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    path::Path,
    str::FromStr,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, NaiveDate, SecondsFormat, SubsecRound, Utc};
use hmac::{Hmac, KeyInit, Mac};
use porchlight_core::{
    address::LocationKind,
    agency::AgencyId,
    alert::{Alert, AlertKind, BaseRate},
    category::Category,
    gazetteer::{Confidence, Gazetteer, Segment},
    geo::Point,
    incident::{Closure, Incident, PlacedBy, PublicIncident},
    pacing::Pacing,
    privacy::{Decision, Policy, PolicyDocument},
    subscription::{Area, Subscription, SubscriptionKey},
};
use porchlight_db::{Any, AnyConnection, Db, DbError, Part, Real, Transaction};
pub use porchlight_db::{Backend, Location};
use porchlight_ledger::entry::{Entry, time as entry_time};
use sha2::Sha256;
use sqlx::{FromRow, migrate::Migrator};
use uuid::Uuid;

mod deliveries;

pub use deliveries::{Attempt, Channel, DeliveryLog, Due, Outcome, PauseRule, Payload};

pub const DATABASE_FILE: &str = "porchlight.db";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Db(#[from] DbError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

type Result<T> = std::result::Result<T, StoreError>;

/// What happened to one decision in [`Store::apply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// A new incident, at version 1.
    Published {
        id: Uuid,
    },
    /// A known incident whose published content changed: a new version.
    Updated {
        id: Uuid,
        version: u32,
    },
    /// A known incident received again with nothing new to publish.
    Unchanged {
        id: Uuid,
    },
    /// A row that only adds responding units to a version made earlier in the same batch
    /// (a feed with one row per unit): merged into that version, not a version of its own.
    UnitsMerged {
        id: Uuid,
    },
    Withheld,
}

/// What became of a claim on one outbox row.
#[derive(Debug)]
pub enum OutboxClaim {
    /// Claimed: make the alerts this incident version is due, then complete the row.
    Claimed(Box<Incident>),
    /// Another worker holds it, or an earlier version of its incident is not done yet.
    NotYet,
    /// Handled already, or its incident is gone.
    Done,
}

/// An alert to record: for whom, and what kind of news.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Delivery {
    pub subscription_id: Uuid,
    pub kind: AlertKind,
    /// The subscriber's first alert of the incident, for an update or a retraction.
    pub refers_to: Option<i64>,
    pub base_rate: Option<BaseRate>,
    /// Sent live, or held for the digest.
    pub live: bool,
}

/// Filters for listing incidents, newest first.
#[derive(Debug, Clone, Default)]
pub struct IncidentQuery {
    /// `[min_lon, min_lat, max_lon, max_lat]`.
    pub bbox: Option<[f64; 4]>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub agency: Option<AgencyId>,
    /// Only these categories; all when empty.
    pub categories: Vec<Category>,
    /// Only incidents after this one in the listing's order (newest first, then by id): the
    /// cursor of the next page, as (received_at, id) of the last incident of the page before.
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithheldCount {
    pub agency: String,
    pub day: NaiveDate,
    pub category: Category,
    pub reason: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agency {
    pub id: String,
    pub name: String,
    pub time_zone: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PolicyVersion {
    pub created_at: DateTime<Utc>,
    pub policy: Policy,
}

#[derive(Clone)]
pub struct Store {
    db: Db,
    incident_key: Vec<u8>,
    gazetteers: Gazetteers,
    /// How many times this process has changed the incidents: what it caches of them is keyed
    /// by this, so its own writes are seen at once.
    incident_writes: Arc<std::sync::atomic::AtomicU64>,
}

/// Gazetteers read, by agency, with the revision they were read at.
type Gazetteers = Arc<Mutex<HashMap<String, (i64, Arc<Gazetteer>)>>>;

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

/// The current time at the precision the store keeps, so what is returned equals what is read back.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn parse_ts(s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("time {s:?}: {e}")))
}

/// A subscription's pacing column: the document the subscriber wrote, or none (the default).
fn parse_pacing(json: Option<String>) -> Result<Pacing> {
    match json {
        Some(json) => {
            let document = serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Pacing::new(document).map_err(|(field, reason)| StoreError::Corrupt(format!("{field}: {reason}")))
        }
        None => Ok(Pacing::default()),
    }
}

/// Fresh random bytes from the system's source, through UUID v4 (122 random bits each): the
/// store's keys and secrets.
fn random_bytes(uuids: usize) -> Vec<u8> {
    (0..uuids).flat_map(|_| Uuid::new_v4().into_bytes()).collect()
}

fn parse_uuid(s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|e| StoreError::Corrupt(format!("id {s:?}: {e}")))
}

/// The columns of one incident version, as stored in `incidents` and `incident_versions`
/// (or as one JSON object of them).
#[derive(FromRow, serde::Deserialize)]
struct IncidentRow {
    id: String,
    agency_id: String,
    version: i64,
    received_at: String,
    updated_at: String,
    call_type: String,
    category: String,
    priority: Option<String>,
    status: Option<String>,
    location_kind: String,
    location: String,
    lat: Option<f64>,
    lon: Option<f64>,
    #[serde(default)]
    placed_by: Option<String>,
    #[serde(default)]
    place_confidence: Option<String>,
    policy_version: i64,
    narrative: Option<String>,
    units: Option<String>,
    closure: Option<String>,
    initial_call_type: String,
}

impl IncidentRow {
    fn into_incident(self) -> Result<Incident> {
        let point = match (self.lat, self.lon) {
            (Some(lat), Some(lon)) => {
                Some(Point::new(lat, lon).map_err(|e| StoreError::Corrupt(e.to_string()))?)
            }
            _ => None,
        };
        Ok(Incident {
            id: parse_uuid(&self.id)?,
            agency: self.agency_id,
            version: u32::try_from(self.version).map_err(|_| StoreError::Corrupt("version".into()))?,
            received_at: parse_ts(&self.received_at)?,
            updated_at: parse_ts(&self.updated_at)?,
            call_type: self.call_type,
            category: Category::from_str(&self.category).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            priority: self.priority,
            status: self.status,
            location_kind: LocationKind::parse(&self.location_kind)
                .ok_or_else(|| StoreError::Corrupt(format!("location kind {:?}", self.location_kind)))?,
            location: self.location,
            // Versions stored before placements were recorded had their points from the feed.
            placed_by: match (&point, self.placed_by.as_deref()) {
                (None, _) => None,
                (Some(_), None) => Some(PlacedBy::Feed),
                (Some(_), Some(p)) => {
                    Some(PlacedBy::parse(p).ok_or_else(|| StoreError::Corrupt(format!("placed_by {p:?}")))?)
                }
            },
            place_confidence: match self.place_confidence.as_deref() {
                Some(c) if point.is_some() => Some(
                    Confidence::parse(c)
                        .ok_or_else(|| StoreError::Corrupt(format!("place_confidence {c:?}")))?,
                ),
                _ => None,
            },
            point,
            narrative: self.narrative,
            units: match self.units {
                Some(json) => serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                None => Vec::new(),
            },
            closure: match self.closure.as_deref() {
                Some(c) => {
                    Some(Closure::parse(c).ok_or_else(|| StoreError::Corrupt(format!("closure {c:?}")))?)
                }
                None => None,
            },
            initial_call_type: self.initial_call_type,
            policy_version: u32::try_from(self.policy_version)
                .map_err(|_| StoreError::Corrupt("policy".into()))?,
        })
    }
}

/// Selects an incident at a given version: `i` is `incidents`, `v` is `incident_versions`.
const INCIDENT_AT_VERSION: &str =
    "SELECT i.id, i.agency_id, v.version, i.received_at, v.updated_at, v.call_type,
        v.category, v.priority, v.status, v.location_kind, v.location, v.lat, v.lon, v.placed_by, v.place_confidence,
        v.policy_version,
        v.narrative,
        v.units, v.closure,
        (SELECT f.call_type FROM incident_versions f WHERE f.incident_id = i.id AND f.version = 1)
            AS initial_call_type
    FROM incidents i JOIN incident_versions v ON v.incident_id = i.id";

/// An alert's own columns, named so that they sit beside an incident's in one row.
const ALERT_COLUMNS: &str = "a.id AS alert_id, a.created_at AS alert_created_at, a.kind AS alert_kind,
    a.refers_to, a.last_30_days, a.monthly_average, a.delivery";

/// An alert's own columns.
#[derive(FromRow)]
struct AlertFields {
    alert_id: i64,
    alert_created_at: String,
    alert_kind: String,
    refers_to: Option<i64>,
    last_30_days: Option<i64>,
    monthly_average: Option<f64>,
    delivery: String,
}

impl AlertFields {
    fn into_alert(self, subscription_id: Uuid, incident: Incident) -> Result<Alert> {
        Ok(Alert {
            id: self.alert_id,
            subscription_id,
            created_at: parse_ts(&self.alert_created_at)?,
            kind: AlertKind::parse(&self.alert_kind)
                .ok_or_else(|| StoreError::Corrupt(format!("alert kind {:?}", self.alert_kind)))?,
            refers_to: self.refers_to,
            base_rate: match (self.last_30_days, self.monthly_average) {
                (Some(n), Some(avg)) => {
                    Some(BaseRate { last_30_days: u64::try_from(n).unwrap_or(0), monthly_average: avg })
                }
                _ => None,
            },
            live: self.delivery == "live",
            incident,
        })
    }
}

/// An alert's columns and those of its incident at the alert's version, in one row.
#[derive(FromRow)]
struct AlertRow {
    #[sqlx(flatten)]
    alert: AlertFields,
    #[sqlx(flatten)]
    incident: IncidentRow,
}

impl AlertRow {
    fn into_alert(self, subscription_id: Uuid) -> Result<Alert> {
        self.alert.into_alert(subscription_id, self.incident.into_incident()?)
    }
}

#[derive(FromRow)]
struct SubscriptionRow {
    id: String,
    key: i64,
    lat: f64,
    lon: f64,
    radius_m: f64,
    categories: String,
    created_at: String,
    min_severity: String,
    pacing: Option<String>,
    cells: Option<String>,
    polygon: Option<String>,
}

/// A key as the matcher holds it: 32 bits, over four billion subscriptions ever made.
fn subscription_key(k: i64) -> Result<SubscriptionKey> {
    u32::try_from(k)
        .map(SubscriptionKey)
        .map_err(|_| StoreError::Corrupt(format!("subscription key {k} does not fit the matcher's 32 bits")))
}

impl SubscriptionRow {
    fn key(&self) -> Result<SubscriptionKey> {
        subscription_key(self.key)
    }

    fn into_subscription(self) -> Result<Subscription> {
        let names: Vec<String> =
            serde_json::from_str(&self.categories).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let categories = names
            .iter()
            .map(|n| Category::from_str(n).map_err(|e| StoreError::Corrupt(e.to_string())))
            .collect::<Result<BTreeSet<_>>>()?;
        Ok(Subscription {
            id: parse_uuid(&self.id)?,
            area: match (self.cells, self.polygon) {
                (None, Some(json)) => {
                    let corners: Vec<[f64; 2]> =
                        serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    Area::polygon(&corners).map_err(|e| StoreError::Corrupt(e.to_string()))?
                }
                (None, None) => Area::Circle {
                    point: Point::new(self.lat, self.lon).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    radius_m: self.radius_m,
                },
                (Some(json), _) => {
                    let names: Vec<String> =
                        serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    Area::cells_named(&names).map_err(|e| StoreError::Corrupt(e.to_string()))?
                }
            },
            categories,
            min_severity: self.min_severity.parse().map_err(StoreError::Corrupt)?,
            pacing: parse_pacing(self.pacing)?,
            created_at: parse_ts(&self.created_at)?,
        })
    }
}

impl Store {
    /// Open (creating if needed) the SQLite database in `data_dir` and bring its schema up to
    /// date.
    pub async fn open(data_dir: &Path) -> Result<Self> {
        Self::connect(&Location::Dir(data_dir.to_path_buf())).await
    }

    /// Open the store where `location` says: its SQLite file in a data folder, or its schema
    /// in a PostgreSQL database.
    pub async fn connect(location: &Location) -> Result<Self> {
        static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");
        static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");
        let part = Part {
            file: DATABASE_FILE,
            schema: "store",
            pragmas: &[
                // A batch's multi-row statements keep a statement journal: in memory, not a
                // temp file. A larger page cache keeps the incidents' indexes in memory during
                // an import.
                ("temp_store", "memory"),
                ("cache_size", "-32768"),
                // Pages beyond the cache are read through a memory map shared by the
                // connections rather than a system call each: the alert worker reads thousands
                // of subscriptions scattered over the table for each call.
                ("mmap_size", "2147418112"),
            ],
            sqlite_migrations: &SQLITE,
            postgres_migrations: &POSTGRES,
        };
        let db = Db::open(location, &part).await?;
        let incident_key = Self::incident_key(&db).await?;
        Ok(Self { db, incident_key, gazetteers: Arc::default(), incident_writes: Arc::default() })
    }

    /// Which database the store is in.
    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// The secret for hashing incident numbers, made on first use from the operating system's
    /// random source (through UUID v4, which draws 122 random bits each).
    async fn incident_key(db: &Db) -> Result<Vec<u8>> {
        let fresh = random_bytes(3);
        sqlx::query(
            db.sql("INSERT INTO settings (key, value) VALUES ('incident_key', ?) ON CONFLICT DO NOTHING"),
        )
        .bind(fresh)
        .execute(db.pool())
        .await?;
        let (key,): (Vec<u8>,) =
            sqlx::query_as(db.sql("SELECT value FROM settings WHERE key = 'incident_key'"))
                .fetch_one(db.pool())
                .await?;
        Ok(key)
    }

    fn source_key(&self, agency: &AgencyId, source_id: &str) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.incident_key).expect("any key length");
        mac.update(agency.as_str().as_bytes());
        mac.update(&[0]);
        mac.update(source_id.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// A transaction for writing: one writer at a time (see [`Db::write`]).
    async fn write(&self) -> Result<Transaction<'static, Any>> {
        Ok(self.db.write().await?)
    }

    /// Copy this part's SQLite database, as it stands at one moment, into `file` (which must
    /// not exist), while the server runs: see `porchlight backup`.
    pub async fn backup_into(&self, file: &std::path::Path) -> Result<()> {
        Ok(self.db.backup_into(file).await?)
    }

    pub async fn close(&self) {
        self.db.close().await;
    }

    pub async fn upsert_agency(&self, id: &AgencyId, name: &str, time_zone: &str) -> Result<()> {
        sqlx::query(self.db.sql(
            "INSERT INTO agencies (id, name, time_zone, created_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, time_zone = excluded.time_zone",
        ))
        .bind(id.as_str())
        .bind(name)
        .bind(time_zone)
        .bind(ts(now()))
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Keep the agency's mapping file (TOML), for reading its pushed records.
    pub async fn set_agency_mapping(&self, id: &AgencyId, mapping: &str) -> Result<()> {
        sqlx::query(self.db.sql("UPDATE agencies SET mapping = ? WHERE id = ?"))
            .bind(mapping)
            .bind(id.as_str())
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    pub async fn agency_mapping(&self, id: &AgencyId) -> Result<Option<String>> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as(self.db.sql("SELECT mapping FROM agencies WHERE id = ?"))
                .bind(id.as_str())
                .fetch_optional(self.db.pool())
                .await?;
        Ok(row.and_then(|(m,)| m))
    }

    /// Enter points in the agency's gazetteer (keys made by `gazetteer::key`), replacing
    /// those under the same keys; returns how many were entered.
    pub async fn put_gazetteer(&self, id: &AgencyId, points: &[(String, Point)]) -> Result<usize> {
        let points: Vec<(&str, Point)> = points.iter().map(|(k, p)| (k.as_str(), *p)).collect();
        self.write_gazetteer(
            id,
            &points,
            "INSERT INTO gazetteer (agency_id, key, lat, lon, samples) VALUES (?, ?, ?, ?, 0)
             ON CONFLICT (agency_id, key) DO UPDATE SET lat = excluded.lat, lon = excluded.lon, samples = 0",
        )
        .await?;
        Ok(points.len())
    }

    /// Run `sql` (binding the agency, the key, the latitude and the longitude) for each point,
    /// in one transaction.
    async fn write_gazetteer(
        &self,
        id: &AgencyId,
        points: &[(&str, Point)],
        sql: &'static str,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        bump_gazetteer(&self.db, &mut tx, id).await?;
        for (key, point) in points {
            sqlx::query(self.db.sql(sql))
                .bind(id.as_str())
                .bind(key)
                .bind(point.lat())
                .bind(point.lon())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Learn from rows placed by their feed: each block's point becomes the mean of its rows'
    /// (snapped) points. A point the operator imported is kept as it is.
    pub async fn learn_gazetteer(&self, id: &AgencyId, points: &[(&str, Point)]) -> Result<()> {
        if points.is_empty() {
            return Ok(());
        }
        self.write_gazetteer(
            id,
            points,
            "INSERT INTO gazetteer (agency_id, key, lat, lon, samples) VALUES (?, ?, ?, ?, 1)
             ON CONFLICT (agency_id, key) DO UPDATE SET
                lat = (gazetteer.lat * gazetteer.samples + excluded.lat) / (gazetteer.samples + 1),
                lon = (gazetteer.lon * gazetteer.samples + excluded.lon) / (gazetteer.samples + 1),
                samples = gazetteer.samples + 1
             WHERE gazetteer.samples > 0",
        )
        .await
    }

    /// A geocoder's cached answer to `query`: `None` if it was never asked, `Some(None)` if it
    /// found nothing.
    pub async fn geocoded(&self, query: &str) -> Result<Option<Option<Point>>> {
        let row: Option<(Option<f64>, Option<f64>)> =
            sqlx::query_as(self.db.sql("SELECT lat, lon FROM geocoded WHERE query = ?"))
                .bind(query)
                .fetch_optional(self.db.pool())
                .await?;
        row.map(|(lat, lon)| match (lat, lon) {
            (Some(lat), Some(lon)) => {
                Point::new(lat, lon).map(Some).map_err(|e| StoreError::Corrupt(e.to_string()))
            }
            _ => Ok(None),
        })
        .transpose()
    }

    /// Keep a geocoder's answer to `query` (`None`: it found nothing).
    pub async fn save_geocoded(&self, query: &str, point: Option<Point>) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query(
            self.db.sql("INSERT INTO geocoded (query, lat, lon, asked_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (query) DO UPDATE SET lat = excluded.lat, lon = excluded.lon, asked_at = excluded.asked_at"),
        )
        .bind(query)
        .bind(Real(point.map(Point::lat)))
        .bind(Real(point.map(Point::lon)))
        .bind(ts(now()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replace the agency's street centrelines with `segments` (each with its street's name as
    /// the file writes it); returns how many were entered.
    pub async fn put_centrelines(&self, id: &AgencyId, segments: &[(String, Segment)]) -> Result<usize> {
        let mut tx = self.write().await?;
        bump_gazetteer(&self.db, &mut tx, id).await?;
        sqlx::query(self.db.sql("DELETE FROM centrelines WHERE agency_id = ?"))
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        for (street, segment) in segments {
            let line: Vec<[f64; 2]> = segment.line().iter().map(|p| [p.lon(), p.lat()]).collect();
            sqlx::query(self.db.sql(
                "INSERT INTO centrelines (agency_id, street, line, left_from, left_to, right_from, right_to)
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            ))
            .bind(id.as_str())
            .bind(street)
            .bind(serde_json::to_string(&line).map_err(|e| StoreError::Corrupt(e.to_string()))?)
            .bind(segment.left().map(|r| i64::from(r.0)))
            .bind(segment.left().map(|r| i64::from(r.1)))
            .bind(segment.right().map(|r| i64::from(r.0)))
            .bind(segment.right().map(|r| i64::from(r.1)))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(segments.len())
    }

    /// The agency's gazetteer: its table of points and its street centrelines (empty if it has
    /// neither). Read once and kept until it changes (an import, a block learned), in this
    /// process or another.
    pub async fn gazetteer(&self, id: &AgencyId) -> Result<Arc<Gazetteer>> {
        let revision: Option<(i64,)> =
            sqlx::query_as(self.db.sql("SELECT revision FROM gazetteer_revisions WHERE agency_id = ?"))
                .bind(id.as_str())
                .fetch_optional(self.db.pool())
                .await?;
        let revision = revision.map_or(0, |(r,)| r);
        if let Some((at, g)) = self.gazetteers.lock().expect("not poisoned").get(id.as_str())
            && *at == revision
        {
            return Ok(g.clone());
        }
        let gazetteer = Arc::new(self.read_gazetteer(id).await?);
        self.gazetteers
            .lock()
            .expect("not poisoned")
            .insert(id.as_str().to_owned(), (revision, gazetteer.clone()));
        Ok(gazetteer)
    }

    async fn read_gazetteer(&self, id: &AgencyId) -> Result<Gazetteer> {
        let rows: Vec<(String, f64, f64, i64)> =
            sqlx::query_as(self.db.sql("SELECT key, lat, lon, samples FROM gazetteer WHERE agency_id = ?"))
                .bind(id.as_str())
                .fetch_all(self.db.pool())
                .await?;
        let mut gazetteer = Gazetteer::new();
        for (key, lat, lon, samples) in rows {
            let point = Point::new(lat, lon).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            gazetteer.insert_learned(key, point, u32::try_from(samples).unwrap_or(u32::MAX));
        }
        type Range = (Option<i64>, Option<i64>);
        type Row = (String, String, Option<i64>, Option<i64>, Option<i64>, Option<i64>);
        let rows: Vec<Row> = sqlx::query_as(
            self.db.sql("SELECT street, line, left_from, left_to, right_from, right_to FROM centrelines WHERE agency_id = ?"),
        )
        .bind(id.as_str())
        .fetch_all(self.db.pool())
        .await?;
        let number = |n: i64| u32::try_from(n).map_err(|_| StoreError::Corrupt(format!("house number {n}")));
        let range = |r: Range| -> Result<Option<(u32, u32)>> {
            r.0.zip(r.1).map(|(a, b)| Ok((number(a)?, number(b)?))).transpose()
        };
        for (street, line, lf, lt, rf, rt) in rows {
            let line: Vec<[f64; 2]> =
                serde_json::from_str(&line).map_err(|e| StoreError::Corrupt(format!("centreline: {e}")))?;
            let line = line
                .into_iter()
                .map(|[lon, lat]| Point::new(lat, lon))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| StoreError::Corrupt(format!("centreline: {e}")))?;
            let segment = Segment::new(line, range((lf, lt))?, range((rf, rt))?)
                .ok_or_else(|| StoreError::Corrupt("centreline of one point".into()))?;
            gazetteer.add_segment(&street, segment);
        }
        Ok(gazetteer)
    }

    /// A polled feed's checkpoint and state (both JSON, as the poller wrote them), if the
    /// agency's feed has been polled.
    pub async fn feed(&self, id: &AgencyId) -> Result<Option<(String, String)>> {
        Ok(sqlx::query_as(self.db.sql("SELECT checkpoint, state FROM feeds WHERE agency_id = ?"))
            .bind(id.as_str())
            .fetch_optional(self.db.pool())
            .await?)
    }

    /// Save where a poller is and how its last poll went.
    pub async fn save_feed(&self, id: &AgencyId, checkpoint: &str, state: &str) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query(self.db.sql(
            "INSERT INTO feeds (agency_id, checkpoint, state, updated_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (agency_id) DO UPDATE SET checkpoint = excluded.checkpoint, state = excluded.state,
               updated_at = excluded.updated_at",
        ))
        .bind(id.as_str())
        .bind(checkpoint)
        .bind(state)
        .bind(ts(now()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A new signing key for the agency's pushes: returns its id and secret. Keys older than the
    /// one before it are revoked, so two are live during a rotation.
    pub async fn create_push_key(&self, agency: &AgencyId) -> Result<(String, Vec<u8>)> {
        let secret = random_bytes(2);
        let key_id: String = random_bytes(1).iter().take(4).map(|b| format!("{b:02x}")).collect();
        let mut tx = self.write().await?;
        let revoked: Vec<String> = sqlx::query_scalar(self.db.sql(
            "UPDATE push_keys SET revoked_at = ?1 WHERE agency_id = ?2 AND revoked_at IS NULL
               AND key_id NOT IN (SELECT key_id FROM push_keys WHERE agency_id = ?2 AND revoked_at IS NULL
                                  ORDER BY created_at DESC, rowid DESC LIMIT 1)
             RETURNING key_id",
        ))
        .bind(ts(now()))
        .bind(agency.as_str())
        .fetch_all(&mut *tx)
        .await?;
        for (event, key) in revoked.iter().map(|k| ("revoked", k)).chain([("in_use", &key_id)]) {
            let entry = Entry::Key {
                at: entry_time(now()),
                event: event.into(),
                purpose: "push".into(),
                agency: Some(agency.as_str().to_string()),
                key: key.clone(),
            };
            log(&self.db, &mut tx, &entry).await?;
        }
        sqlx::query(
            self.db.sql("INSERT INTO push_keys (agency_id, key_id, secret, created_at) VALUES (?, ?, ?, ?)"),
        )
        .bind(agency.as_str())
        .bind(&key_id)
        .bind(&secret)
        .bind(ts(now()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((key_id, secret))
    }

    /// The agency's live signing keys: (key id, secret).
    pub async fn push_keys(&self, agency: &AgencyId) -> Result<Vec<(String, Vec<u8>)>> {
        Ok(sqlx::query_as(
            self.db.sql("SELECT key_id, secret FROM push_keys WHERE agency_id = ? AND revoked_at IS NULL"),
        )
        .bind(agency.as_str())
        .fetch_all(self.db.pool())
        .await?)
    }

    pub async fn agencies(&self) -> Result<Vec<Agency>> {
        let rows: Vec<(String, String, String)> =
            sqlx::query_as(self.db.sql("SELECT id, name, time_zone FROM agencies ORDER BY id"))
                .fetch_all(self.db.pool())
                .await?;
        Ok(rows.into_iter().map(|(id, name, time_zone)| Agency { id, name, time_zone }).collect())
    }

    pub async fn agency(&self, id: &AgencyId) -> Result<Option<Agency>> {
        let row: Option<(String, String, String)> =
            sqlx::query_as(self.db.sql("SELECT id, name, time_zone FROM agencies WHERE id = ?"))
                .bind(id.as_str())
                .fetch_optional(self.db.pool())
                .await?;
        Ok(row.map(|(id, name, time_zone)| Agency { id, name, time_zone }))
    }

    /// Make `document` the agency's policy. A document equal to the current one keeps its
    /// version; any change makes the next version. Returns the version in force.
    /// The new version, in full, and `approved_by` (a name or an office) are written to the
    /// transparency log's outbox in the same transaction.
    pub async fn set_policy(
        &self,
        agency: &AgencyId,
        document: &PolicyDocument,
        approved_by: &str,
    ) -> Result<u32> {
        let mut tx = self.write().await?;
        let current: Option<(i64, String)> =
            sqlx::query_as(self.db.sql(
                "SELECT version, document FROM policies WHERE agency_id = ? ORDER BY version DESC LIMIT 1",
            ))
            .bind(agency.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        let version = match current {
            Some((version, text)) if parse_policy(&text)? == *document => version,
            Some((version, _)) => version + 1,
            None => 1,
        };
        let added = sqlx::query(
            self.db.sql("INSERT INTO policies (agency_id, version, document, created_at, approved_by) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT DO NOTHING"),
        )
        .bind(agency.as_str())
        .bind(version)
        .bind(serde_json::to_string(document).expect("policy documents serialize"))
        .bind(ts(now()))
        .bind(approved_by)
        .execute(&mut *tx)
        .await?;
        if added.rows_affected() == 1 {
            let entry = Entry::PolicyVersion {
                at: entry_time(now()),
                agency: agency.as_str().to_string(),
                version: u32::try_from(version).map_err(|_| StoreError::Corrupt("policy version".into()))?,
                approved_by: approved_by.to_string(),
                policy: serde_json::to_value(document).expect("policy documents serialize"),
            };
            log(&self.db, &mut tx, &entry).await?;
        }
        tx.commit().await?;
        u32::try_from(version).map_err(|_| StoreError::Corrupt("policy version".into()))
    }

    /// The agency's policy in force, if it has one.
    pub async fn policy(&self, agency: &AgencyId) -> Result<Option<Policy>> {
        Ok(self.policy_history(agency).await?.pop().map(|v| v.policy))
    }

    /// Every version of the agency's policy, oldest first.
    pub async fn policy_history(&self, agency: &AgencyId) -> Result<Vec<PolicyVersion>> {
        let rows: Vec<(i64, String, String)> =
            sqlx::query_as(self.db.sql(
                "SELECT version, document, created_at FROM policies WHERE agency_id = ? ORDER BY version",
            ))
            .bind(agency.as_str())
            .fetch_all(self.db.pool())
            .await?;
        rows.into_iter()
            .map(|(version, text, created_at)| {
                let version =
                    u32::try_from(version).map_err(|_| StoreError::Corrupt("policy version".into()))?;
                let policy = Policy::new(parse_policy(&text)?, version)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok(PolicyVersion { created_at: parse_ts(&created_at)?, policy })
            })
            .collect()
    }

    /// Store the outcome of the privacy stage for a batch of records, in one transaction: new
    /// incidents and new versions with their outbox rows, and withheld counts. Each table is
    /// written with one statement per batch where it can be: the cost of a statement, not of a
    /// row, is what bounds an import.
    pub async fn apply(&self, decisions: &[Decision]) -> Result<Vec<Applied>> {
        let now = now();
        let mut tx = self.write().await?;

        // What the store already holds for the incidents in this batch.
        let keys: Vec<Option<Vec<u8>>> = decisions
            .iter()
            .map(|d| match d {
                Decision::Publish(p) => Some(self.source_key(p.agency(), p.source_id())),
                Decision::Withhold(_) => None,
            })
            .collect();
        let mut current = existing_incidents(&self.db, &mut tx, decisions, &keys).await?;

        // Decide record by record, in order: a record may repeat or update one earlier in the
        // same batch.
        let mut applied = Vec::with_capacity(decisions.len());
        let mut versions: Vec<(Uuid, i64, &PublicIncident, Option<String>)> = Vec::new();
        let mut withheld: BTreeMap<(String, String, String, String), i64> = BTreeMap::new();
        for (decision, key) in decisions.iter().zip(&keys) {
            match (decision, key) {
                (Decision::Publish(p), Some(key)) => {
                    let slot = (p.agency().as_str().to_owned(), key.clone());
                    let mut content = Content::of(p);
                    match current.get_mut(&slot) {
                        // Units add up over an incident's rows: a row for one more unit is
                        // a new version, a row for a unit already listed is a repeat.
                        Some(c)
                            if {
                                content.units = merge_units(c.content.units.as_deref(), p.units());
                                c.content == content
                            } =>
                        {
                            applied.push(Applied::Unchanged { id: c.id })
                        }
                        Some(c)
                            if c.batch_version.is_some()
                                && Content { units: c.content.units.clone(), ..content.clone() }
                                    == c.content =>
                        {
                            let at = c.batch_version.expect("checked");
                            versions[at].3.clone_from(&content.units);
                            c.content = content;
                            c.latest = Some(p);
                            applied.push(Applied::UnitsMerged { id: c.id });
                        }
                        Some(c) => {
                            c.version += 1;
                            c.batch_version = Some(versions.len());
                            versions.push((c.id, c.version, p, content.units.clone()));
                            c.content = content;
                            c.latest = Some(p);
                            let version = u32::try_from(c.version)
                                .map_err(|_| StoreError::Corrupt("version".into()))?;
                            applied.push(Applied::Updated { id: c.id, version });
                        }
                        None => {
                            // Time-ordered: new incidents go to the end of the id index,
                            // not to a random page of it.
                            let id = Uuid::now_v7();
                            versions.push((id, 1, p, content.units.clone()));
                            let batch_version = Some(versions.len() - 1);
                            current.insert(
                                slot,
                                Current {
                                    id,
                                    version: 1,
                                    content,
                                    latest: Some(p),
                                    new: true,
                                    batch_version,
                                },
                            );
                            applied.push(Applied::Published { id });
                        }
                    }
                }
                (Decision::Withhold(w), _) => {
                    let slot = (
                        w.agency.as_str().to_owned(),
                        w.day.to_string(),
                        w.category.as_str().to_owned(),
                        w.reason.to_string(),
                    );
                    *withheld.entry(slot).or_default() += 1;
                    applied.push(Applied::Withheld);
                }
                (Decision::Publish(_), None) => unreachable!("every published decision has a key"),
            }
        }

        // New incidents, at the state they end the batch in; then changed ones.
        let mut inserts = Vec::new();
        for ((agency, key), c) in &current {
            let Some(p) = c.latest else { continue };
            if c.new {
                inserts.push((agency.as_str(), key.as_slice(), c, p));
            } else {
                update_incident(&self.db, &mut tx, c.id, c.version, p, c.content.units.as_deref(), now)
                    .await?;
            }
        }
        // Each table is written with one statement and one bound value: the batch's rows as a
        // JSON array that SQLite itself takes apart (json_each). Binding each value through
        // the driver costs more than SQLite's whole insert.
        if !inserts.is_empty() {
            let rows: Vec<_> = inserts
                .iter()
                .map(|(agency, key, c, p)| {
                    let v = published_values(p, c.content.units.as_deref());
                    (
                        c.id.to_string(),
                        agency,
                        hex(key),
                        c.version,
                        ts(p.received_at()),
                        ts(p.visible_at()),
                        ts(now),
                        v,
                    )
                })
                .collect();
            sqlx::query(
                self.db.sql("INSERT INTO incidents (id, agency_id, source_key, version, received_at, visible_at, updated_at,
                    call_type, category, priority, status, location_kind, location, lat, lon, policy_version,
                    narrative, units, closure, placed_by, place_confidence)
                 SELECT r->>0, r->>1, unhex(r->>2), CAST(r->>3 AS BIGINT), r->>4, r->>5, r->>6, r->7->>0,
                    r->7->>1, r->7->>2, r->7->>3, r->7->>4, r->7->>5, CAST(r->7->>6 AS DOUBLE PRECISION),
                    CAST(r->7->>7 AS DOUBLE PRECISION), CAST(r->7->>8 AS BIGINT), r->7->>9, r->7->>10, r->7->>11,
                    r->7->>12, r->7->>13
                 FROM (SELECT value AS r FROM each_rowb(?, rows)) AS batch"),
            )
            .bind(serde_json::to_string(&rows).map_err(|e| StoreError::Corrupt(e.to_string()))?)
            .execute(&mut *tx)
            .await?;
        }

        // Every new version, and its outbox row.
        if !versions.is_empty() {
            let rows: Vec<_> = versions
                .iter()
                .map(|(id, version, p, units)| {
                    (id.to_string(), version, published_values(p, units.as_deref()))
                })
                .collect();
            let rows = serde_json::to_string(&rows).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            sqlx::query(
                self.db.sql("INSERT INTO incident_versions (incident_id, version, updated_at, call_type, category, priority,
                    status, location_kind, location, lat, lon, policy_version, narrative, units, closure, placed_by,
                    place_confidence)
                 SELECT r->>0, CAST(r->>1 AS BIGINT), ?1, r->2->>0, r->2->>1, r->2->>2, r->2->>3,
                    r->2->>4, r->2->>5, CAST(r->2->>6 AS DOUBLE PRECISION), CAST(r->2->>7 AS DOUBLE PRECISION),
                    CAST(r->2->>8 AS BIGINT), r->2->>9, r->2->>10, r->2->>11, r->2->>12, r->2->>13
                 FROM (SELECT value AS r FROM each_rowb(?2, rows)) AS batch"),
            )
            .bind(ts(now))
            .bind(&rows)
            .execute(&mut *tx)
            .await?;
            sqlx::query(self.db.sql(
                "INSERT INTO outbox (incident_id, version, created_at)
                 SELECT value->>0, CAST(value->>1 AS BIGINT), ?1 FROM each_rowb(?2, rows)",
            ))
            .bind(ts(now))
            .bind(&rows)
            .execute(&mut *tx)
            .await?;
        }

        for ((agency, day, category, reason), n) in withheld {
            record_withheld(&self.db, &mut tx, &agency, &day, &category, &reason, n).await?;
        }
        tx.commit().await?;
        self.wrote_incidents();
        Ok(applied)
    }

    /// How many times this process has changed the incidents (not other processes: they
    /// share the database, not this count). A cache of what the store answered is good while
    /// this stays the same, as far as this process's writes go.
    pub fn incident_writes(&self) -> u64 {
        self.incident_writes.load(std::sync::atomic::Ordering::Acquire)
    }

    fn wrote_incidents(&self) {
        self.incident_writes.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// Delete the agency's incidents received before `cutoff`, with their versions, outbox rows
    /// and alerts: what the policy's retention says is no longer public. Returns how many.
    pub async fn expire_incidents(&self, agency: &AgencyId, cutoff: DateTime<Utc>) -> Result<u64> {
        let mut tx = self.write().await?;
        let old = "SELECT id FROM incidents WHERE agency_id = ?1 AND received_at < ?2";
        for table in ["alerts", "outbox", "incident_versions"] {
            sqlx::query(self.db.sql(&format!("DELETE FROM {table} WHERE incident_id IN ({old})")))
                .bind(agency.as_str())
                .bind(ts(cutoff))
                .execute(&mut *tx)
                .await?;
        }
        let done =
            sqlx::query(self.db.sql("DELETE FROM incidents WHERE agency_id = ?1 AND received_at < ?2"))
                .bind(agency.as_str())
                .bind(ts(cutoff))
                .execute(&mut *tx)
                .await?;
        tx.commit().await?;
        self.wrote_incidents();
        Ok(done.rows_affected())
    }

    /// One incident at its latest version, if its publication delay has passed.
    pub async fn incident(&self, id: Uuid) -> Result<Option<Incident>> {
        let row: Option<IncidentRow> = sqlx::query_as(
            self.db.sql(&format!("{INCIDENT_AT_VERSION} WHERE i.id = ? AND v.version = i.version")),
        )
        .bind(id.to_string())
        .fetch_optional(self.db.pool())
        .await?;
        row.map(IncidentRow::into_incident).transpose()
    }

    /// An incident as it was at one of its versions.
    pub async fn incident_at_version(&self, id: Uuid, version: u32) -> Result<Option<Incident>> {
        let row: Option<IncidentRow> =
            sqlx::query_as(self.db.sql(&format!("{INCIDENT_AT_VERSION} WHERE i.id = ? AND v.version = ?")))
                .bind(id.to_string())
                .bind(i64::from(version))
                .fetch_optional(self.db.pool())
                .await?;
        row.map(IncidentRow::into_incident).transpose()
    }

    /// Which, where and when calls of `category` were received within `radius_m` of `center` in the
    /// year up to `at`, among incidents already public: what a base rate is counted from.
    pub async fn calls_near(
        &self,
        category: Category,
        center: Point,
        radius_m: f64,
        at: DateTime<Utc>,
    ) -> Result<Vec<(Uuid, Point, DateTime<Utc>)>> {
        let ([min_lon, min_lat], [max_lon, max_lat]) = center.bounding_box(radius_m);
        let rows: Vec<(String, f64, f64, String)> = sqlx::query_as(self.db.sql(
            "SELECT id, lat, lon, received_at FROM incidents
             WHERE lat BETWEEN ? AND ? AND lon BETWEEN ? AND ? AND category = ?
               AND received_at > ? AND received_at <= ? AND visible_at <= ?",
        ))
        .bind(min_lat)
        .bind(max_lat)
        .bind(min_lon)
        .bind(max_lon)
        .bind(category.as_str())
        .bind(ts(at - chrono::Duration::days(365)))
        .bind(ts(at))
        .bind(ts(now()))
        .fetch_all(self.db.pool())
        .await?;
        let mut times = Vec::new();
        for (id, lat, lon, received_at) in rows {
            let p = Point::new(lat, lon).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            if p.distance_m(center) <= radius_m {
                times.push((parse_uuid(&id)?, p, parse_ts(&received_at)?));
            }
        }
        Ok(times)
    }

    /// For many subscriptions at once, the times of their live new alerts since `since` (what
    /// a daily budget counts), in one query for all of an incident's matches.
    pub async fn live_alert_times(
        &self,
        subscriptions: &[Uuid],
        since: DateTime<Utc>,
    ) -> Result<HashMap<Uuid, Vec<DateTime<Utc>>>> {
        let ids: Vec<String> = subscriptions.iter().map(Uuid::to_string).collect();
        let rows: Vec<(String, String)> = sqlx::query_as(self.db.sql(
            "SELECT subscription_id, created_at FROM alerts
             WHERE any_text(subscription_id, ?) AND kind = 'new' AND delivery = 'live'
               AND created_at >= ?",
        ))
        .bind(serde_json::to_string(&ids).expect("strings serialize"))
        .bind(ts(since))
        .fetch_all(self.db.pool())
        .await?;
        let mut times: HashMap<Uuid, Vec<DateTime<Utc>>> = HashMap::new();
        for (id, at) in rows {
            times.entry(parse_uuid(&id)?).or_default().push(parse_ts(&at)?);
        }
        Ok(times)
    }

    /// When the first alert of an incident was made, if one was: what a call's time to its
    /// alert is measured to.
    pub async fn first_alerted_at(&self, incident: Uuid) -> Result<Option<DateTime<Utc>>> {
        let first: Option<(Option<String>,)> =
            sqlx::query_as(self.db.sql("SELECT min(created_at) FROM alerts WHERE incident_id = ?"))
                .bind(incident.to_string())
                .fetch_optional(self.db.pool())
                .await?;
        first.and_then(|(t,)| t).map(|t| parse_ts(&t)).transpose()
    }

    /// The subscribers who have been alerted of an incident, each with their first alert's id.
    pub async fn recipients(&self, incident: Uuid) -> Result<HashMap<Uuid, i64>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(self.db.sql(
            "SELECT subscription_id, MIN(id) FROM alerts WHERE incident_id = ? GROUP BY subscription_id",
        ))
        .bind(incident.to_string())
        .fetch_all(self.db.pool())
        .await?;
        rows.into_iter().map(|(s, id)| Ok((parse_uuid(&s)?, id))).collect()
    }

    /// Incidents at their latest version whose publication delay has passed, newest first.
    pub async fn incidents(&self, q: &IncidentQuery) -> Result<Vec<Incident>> {
        let mut sql = format!("{INCIDENT_AT_VERSION} WHERE v.version = i.version AND i.visible_at <= ?");
        if q.bbox.is_some() {
            sql.push_str(" AND i.lon >= ? AND i.lat >= ? AND i.lon <= ? AND i.lat <= ?");
        }
        if q.since.is_some() {
            sql.push_str(" AND i.received_at >= ?");
        }
        if q.until.is_some() {
            sql.push_str(" AND i.received_at < ?");
        }
        if q.agency.is_some() {
            sql.push_str(" AND i.agency_id = ?");
        }
        if !q.categories.is_empty() {
            sql.push_str(" AND any_text(v.category, ?)");
        }
        if q.after.is_some() {
            sql.push_str(" AND (i.received_at < ? OR (i.received_at = ? AND i.id > ?))");
        }
        sql.push_str(" ORDER BY i.received_at DESC, i.id LIMIT ?");
        let mut query = sqlx::query_as::<_, IncidentRow>(self.db.sql(&sql)).bind(ts(now()));
        if let Some(b) = q.bbox {
            query = query.bind(b[0]).bind(b[1]).bind(b[2]).bind(b[3]);
        }
        if let Some(t) = q.since {
            query = query.bind(ts(t));
        }
        if let Some(t) = q.until {
            query = query.bind(ts(t));
        }
        if let Some(a) = &q.agency {
            query = query.bind(a.as_str());
        }
        if !q.categories.is_empty() {
            let names: Vec<&str> = q.categories.iter().map(|c| c.as_str()).collect();
            query = query.bind(serde_json::to_string(&names).expect("strings serialize"));
        }
        if let Some((at, id)) = q.after {
            query = query.bind(ts(at)).bind(ts(at)).bind(id.to_string());
        }
        let rows = query.bind(i64::from(q.limit)).fetch_all(self.db.pool()).await?;
        rows.into_iter().map(IncidentRow::into_incident).collect()
    }

    /// Claim up to `limit` outbox rows for this worker for `lease`, oldest first, each with the
    /// incident version it announces: rows not yet handled whose incident's publication delay
    /// has passed, not claimed by another worker (or whose claim ran out: that worker died), and
    /// not waiting behind an earlier version of the same incident (versions are handled in
    /// order, so the second word of an incident is an update, never a second first word).
    ///
    /// Several workers, in several processes, can claim at once: in PostgreSQL a claim skips
    /// rows another is claiming (`FOR UPDATE SKIP LOCKED`) rather than waiting for it; in SQLite
    /// the claim is one statement under the write lock. Handling a row twice (a claim that ran
    /// out while its worker was still at it) makes no second alert: see
    /// [`Store::complete_outbox`].
    pub async fn claim_outbox(&self, limit: u32, lease: Duration) -> Result<Vec<(i64, Incident)>> {
        let now = now();
        let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
        let skip_locked = match self.db.backend() {
            Backend::Sqlite => "",
            Backend::Postgres => "FOR UPDATE OF o SKIP LOCKED",
        };
        let claimed: Vec<(i64,)> = sqlx::query_as(self.db.sql(&format!(
            "UPDATE outbox SET claimed_until = ?1 WHERE id IN (
                 SELECT o.id FROM outbox o JOIN incidents i ON i.id = o.incident_id
                 WHERE o.done_at IS NULL AND i.visible_at <= ?2
                     AND (o.claimed_until IS NULL OR o.claimed_until <= ?2)
                     AND NOT EXISTS (SELECT 1 FROM outbox e
                                     WHERE e.incident_id = o.incident_id AND e.id < o.id AND e.done_at IS NULL)
                 ORDER BY o.id LIMIT ?3 {skip_locked})
             RETURNING id"
        )))
        .bind(ts(until))
        .bind(ts(now))
        .bind(i64::from(limit))
        .fetch_all(self.db.pool())
        .await?;
        let ids: Vec<i64> = claimed.into_iter().map(|(id,)| id).collect();
        self.outbox_incidents(&ids).await
    }

    /// The incident versions outbox rows announce, by row, in the rows' order.
    async fn outbox_incidents(&self, ids: &[i64]) -> Result<Vec<(i64, Incident)>> {
        #[derive(FromRow)]
        struct Pending {
            outbox_id: i64,
            #[sqlx(flatten)]
            incident: IncidentRow,
        }
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<Pending> = sqlx::query_as(self.db.sql(&format!(
            "SELECT o.id AS outbox_id, q.* FROM outbox o JOIN ({INCIDENT_AT_VERSION}) q
                ON q.id = o.incident_id AND q.version = o.version
             WHERE any_int(o.id, ?) ORDER BY o.id"
        )))
        .bind(serde_json::to_string(ids).expect("numbers serialize"))
        .fetch_all(self.db.pool())
        .await?;
        rows.into_iter().map(|r| Ok((r.outbox_id, r.incident.into_incident()?))).collect()
    }

    /// Claim one outbox row for `lease` (a worker told of it by the bus), on the terms of
    /// [`Store::claim_outbox`]: it is [`OutboxClaim::Done`] if it was handled (or its incident
    /// deleted since), and [`OutboxClaim::NotYet`] while another worker holds it or an earlier
    /// version of its incident waits.
    pub async fn claim_outbox_row(&self, id: i64, lease: Duration) -> Result<OutboxClaim> {
        let now = now();
        let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
        let claimed = sqlx::query(self.db.sql(
            "UPDATE outbox SET claimed_until = ?1 WHERE id = ?3 AND done_at IS NULL
                 AND (claimed_until IS NULL OR claimed_until <= ?2)
                 AND NOT EXISTS (SELECT 1 FROM outbox e
                                 WHERE e.incident_id = outbox.incident_id AND e.id < outbox.id AND e.done_at IS NULL)",
        ))
        .bind(ts(until))
        .bind(ts(now))
        .bind(id)
        .execute(self.db.pool())
        .await?;
        if claimed.rows_affected() == 1 {
            return Ok(match self.outbox_incidents(&[id]).await?.pop() {
                Some((_, incident)) => OutboxClaim::Claimed(Box::new(incident)),
                None => OutboxClaim::Done,
            });
        }
        let pending: Option<(i64,)> =
            sqlx::query_as(self.db.sql("SELECT id FROM outbox WHERE id = ? AND done_at IS NULL"))
                .bind(id)
                .fetch_optional(self.db.pool())
                .await?;
        Ok(if pending.is_some() { OutboxClaim::NotYet } else { OutboxClaim::Done })
    }

    /// Outbox rows not yet handled whose incidents may now be seen, and that were not
    /// published to the bus or were published before `again_before` (the bus may have lost
    /// them), oldest first, with the point of the version each announces (the bus's subject
    /// follows it).
    pub async fn unpublished_outbox(
        &self,
        limit: u32,
        again_before: DateTime<Utc>,
    ) -> Result<Vec<(i64, Option<Point>)>> {
        let rows: Vec<(i64, Option<f64>, Option<f64>)> = sqlx::query_as(self.db.sql(
            "SELECT o.id, v.lat, v.lon FROM outbox o
             JOIN incidents i ON i.id = o.incident_id
             JOIN incident_versions v ON v.incident_id = o.incident_id AND v.version = o.version
             WHERE o.done_at IS NULL AND (o.published_at IS NULL OR o.published_at < ?1) AND i.visible_at <= ?2
             ORDER BY o.id LIMIT ?3",
        ))
        .bind(ts(again_before))
        .bind(ts(now()))
        .bind(i64::from(limit))
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, lat, lon)| (id, lat.zip(lon).and_then(|(lat, lon)| Point::new(lat, lon).ok())))
            .collect())
    }

    /// Mark outbox rows as published to the bus.
    pub async fn mark_outbox_published(&self, ids: &[i64]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        sqlx::query(self.db.sql("UPDATE outbox SET published_at = ? WHERE any_int(id, ?)"))
            .bind(ts(now()))
            .bind(serde_json::to_string(ids).expect("numbers serialize"))
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Drop every claim on outbox rows not yet done: for a store that only one process works
    /// from, at its start. Returns how many were dropped.
    pub async fn release_outbox_claims(&self) -> Result<u64> {
        let done = sqlx::query(self.db.sql(
            "UPDATE outbox SET claimed_until = NULL WHERE done_at IS NULL AND claimed_until IS NOT NULL",
        ))
        .execute(self.db.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// Record the alerts an outbox row produced and mark the row done, in one transaction. An
    /// alert that already exists (a retry after a crash) is not made twice; only new alerts are
    /// returned.
    pub async fn complete_outbox(
        &self,
        outbox_id: i64,
        incident: &Incident,
        deliveries: &[Delivery],
    ) -> Result<Vec<Alert>> {
        let mut tx = self.write().await?;
        let now = now();
        // Every alert in one statement, the deliveries as one JSON value: a statement per alert
        // costs a round trip each in PostgreSQL.
        let rows: Vec<serde_json::Value> = deliveries
            .iter()
            .map(|d| {
                serde_json::json!([
                    d.subscription_id.to_string(),
                    d.kind.as_str(),
                    d.refers_to,
                    d.base_rate.map(|b| b.last_30_days as i64),
                    d.base_rate.map(|b| b.monthly_average),
                    if d.live { "live" } else { "digest" },
                ])
            })
            .collect();
        let made: Vec<(i64, String)> = if rows.is_empty() {
            Vec::new()
        } else {
            sqlx::query_as(self.db.sql(
                "INSERT INTO alerts (subscription_id, incident_id, version, created_at, kind, refers_to,
                    last_30_days, monthly_average, delivery)
                 SELECT r.value->>0, ?1, ?2, ?3, r.value->>1, CAST(r.value->>2 AS BIGINT),
                    CAST(r.value->>3 AS BIGINT), CAST(r.value->>4 AS DOUBLE PRECISION), r.value->>5
                 FROM each_row(?4, r) WHERE EXISTS (SELECT 1 FROM subscriptions s WHERE s.id = r.value->>0)
                 ON CONFLICT DO NOTHING RETURNING id, subscription_id",
            ))
            .bind(incident.id.to_string())
            .bind(i64::from(incident.version))
            .bind(ts(now))
            .bind(serde_json::Value::Array(rows).to_string())
            .fetch_all(&mut *tx)
            .await?
        };
        let by_subscriber: HashMap<Uuid, &Delivery> =
            deliveries.iter().map(|d| (d.subscription_id, d)).collect();
        let mut alerts = Vec::with_capacity(made.len());
        for (id, subscription) in made {
            let d = by_subscriber[&parse_uuid(&subscription)?];
            alerts.push(Alert {
                id,
                subscription_id: d.subscription_id,
                created_at: now,
                kind: d.kind,
                refers_to: d.refers_to,
                base_rate: d.base_rate,
                live: d.live,
                incident: incident.clone(),
            });
        }
        // In the order of the alerts' ids, as they were made.
        alerts.sort_by_key(|a| a.id);
        let live: Vec<(i64, Uuid)> =
            alerts.iter().filter(|a| a.live).map(|a| (a.id, a.subscription_id)).collect();
        deliveries::enqueue(&self.db, &mut tx, &live, now).await?;
        sqlx::query(self.db.sql("UPDATE outbox SET done_at = ? WHERE id = ?"))
            .bind(ts(now))
            .bind(outbox_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(alerts)
    }

    /// Store a subscription; returns the key the matcher knows it by.
    pub async fn insert_subscription(&self, s: &Subscription) -> Result<SubscriptionKey> {
        let keys = self.insert_subscriptions(std::slice::from_ref(s)).await?;
        Ok(keys[0])
    }

    /// Store many subscriptions in one transaction, all or none; returns their keys, in order.
    pub async fn insert_subscriptions(&self, subscriptions: &[Subscription]) -> Result<Vec<SubscriptionKey>> {
        let mut tx = self.write().await?;
        // Keys are never given twice: the counter only grows.
        let (last,): (i64,) =
            sqlx::query_as(self.db.sql("UPDATE subscription_keys SET last = last + ? RETURNING last"))
                .bind(subscriptions.len() as i64)
                .fetch_one(&mut *tx)
                .await?;
        let first = last - subscriptions.len() as i64 + 1;
        let keys = (first..=last).map(subscription_key).collect::<Result<Vec<_>>>()?;
        for (s, key) in subscriptions.iter().zip(&keys) {
            // A private-mode subscription keeps no point: only its cells.
            let circle = match &s.area {
                Area::Circle { point, radius_m } => Some((*point, *radius_m)),
                Area::Cells { .. } | Area::Polygon(_) => None,
            };
            let cells = s.area.cell_names();
            let categories: Vec<&str> = s.categories.iter().map(|c| c.as_str()).collect();
            sqlx::query(
                self.db.sql("INSERT INTO subscriptions (id, lat, lon, radius_m, categories, created_at, min_severity, pacing, cells,
                    polygon, key)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
            )
            .bind(s.id.to_string())
            .bind(circle.map_or(0.0, |(p, _)| p.lat()))
            .bind(circle.map_or(0.0, |(p, _)| p.lon()))
            .bind(circle.map_or(0.0, |(_, r)| r))
            .bind(serde_json::to_string(&categories).expect("strings serialize"))
            .bind(ts(s.created_at))
            .bind(s.min_severity.as_str())
            .bind(serde_json::to_string(s.pacing.document()).expect("a pacing document serializes"))
            .bind(cells.map(|c| serde_json::to_string(&c).expect("strings serialize")))
            .bind(s.area.polygon_corners().map(|c| serde_json::to_string(&c).expect("numbers serialize")))
            .bind(i64::from(key.0))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(keys)
    }

    pub async fn subscription(&self, id: Uuid) -> Result<Option<Subscription>> {
        let row: Option<SubscriptionRow> =
            sqlx::query_as(self.db.sql("SELECT * FROM subscriptions WHERE id = ?"))
                .bind(id.to_string())
                .fetch_optional(self.db.pool())
                .await?;
        row.map(SubscriptionRow::into_subscription).transpose()
    }

    /// The subscriptions with these keys that still exist, in no particular order: what the
    /// matcher's answer stands for.
    pub async fn subscriptions_by_key(&self, keys: &[SubscriptionKey]) -> Result<Vec<Subscription>> {
        let keys: Vec<u32> = keys.iter().map(|k| k.0).collect();
        let rows: Vec<SubscriptionRow> =
            sqlx::query_as(self.db.sql("SELECT * FROM subscriptions WHERE any_int(key, ?)"))
                .bind(serde_json::to_string(&keys).expect("numbers serialize"))
                .fetch_all(self.db.pool())
                .await?;
        rows.into_iter().map(SubscriptionRow::into_subscription).collect()
    }

    /// The subscriptions with these ids that still exist, in no particular order.
    pub async fn subscriptions_by_id(&self, ids: &[Uuid]) -> Result<Vec<Subscription>> {
        let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        let rows: Vec<SubscriptionRow> =
            sqlx::query_as(self.db.sql("SELECT * FROM subscriptions WHERE any_text(id, ?)"))
                .bind(serde_json::to_string(&ids).expect("strings serialize"))
                .fetch_all(self.db.pool())
                .await?;
        rows.into_iter().map(SubscriptionRow::into_subscription).collect()
    }

    /// The subscriptions with keys above `after`, by key: those made since a worker last looked
    /// (keys only grow, and a subscription and its key are committed together, in key order).
    pub async fn subscriptions_after(
        &self,
        after: SubscriptionKey,
    ) -> Result<Vec<(SubscriptionKey, Subscription)>> {
        let rows: Vec<SubscriptionRow> =
            sqlx::query_as(self.db.sql("SELECT * FROM subscriptions WHERE key > ? ORDER BY key"))
                .bind(i64::from(after.0))
                .fetch_all(self.db.pool())
                .await?;
        rows.into_iter().map(|row| Ok((row.key()?, row.into_subscription()?))).collect()
    }

    /// Every subscription with its key: what the matcher loads at start.
    pub async fn subscriptions(&self) -> Result<Vec<(SubscriptionKey, Subscription)>> {
        let rows: Vec<SubscriptionRow> =
            sqlx::query_as(self.db.sql("SELECT * FROM subscriptions")).fetch_all(self.db.pool()).await?;
        rows.into_iter().map(|row| Ok((row.key()?, row.into_subscription()?))).collect()
    }

    /// Delete a subscription and its alerts. Returns its key if it existed.
    pub async fn delete_subscription(&self, id: Uuid) -> Result<Option<SubscriptionKey>> {
        let key: Option<(i64,)> =
            sqlx::query_as(self.db.sql("DELETE FROM subscriptions WHERE id = ? RETURNING key"))
                .bind(id.to_string())
                .fetch_optional(self.db.pool())
                .await?;
        key.map(|(k,)| subscription_key(k)).transpose()
    }

    /// A subscription's alerts, oldest first: those created at or after `since`, and with an id
    /// greater than `after` (a cursor).
    pub async fn alerts(
        &self,
        subscription_id: Uuid,
        since: Option<DateTime<Utc>>,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Alert>> {
        let rows: Vec<AlertRow> = sqlx::query_as(self.db.sql(&format!(
            "SELECT {ALERT_COLUMNS}, q.* FROM alerts a
             JOIN ({INCIDENT_AT_VERSION}) q ON q.id = a.incident_id AND q.version = a.version
             WHERE a.subscription_id = ? AND a.created_at >= ? AND a.id > ?
             ORDER BY a.id LIMIT ?"
        )))
        .bind(subscription_id.to_string())
        .bind(since.map(ts).unwrap_or_default())
        .bind(after.unwrap_or(0))
        .bind(i64::from(limit))
        .fetch_all(self.db.pool())
        .await?;
        rows.into_iter().map(|r| r.into_alert(subscription_id)).collect()
    }

    /// The live alerts made at or after `since` for any of these subscriptions, oldest first:
    /// what a process relays to the live streams it serves when another process made them.
    pub async fn live_alerts_since(
        &self,
        subscriptions: &[Uuid],
        since: DateTime<Utc>,
    ) -> Result<Vec<Alert>> {
        #[derive(FromRow)]
        struct Row {
            subscription_id: String,
            #[sqlx(flatten)]
            alert: AlertRow,
        }
        let ids: Vec<String> = subscriptions.iter().map(Uuid::to_string).collect();
        let rows: Vec<Row> = sqlx::query_as(self.db.sql(&format!(
            "SELECT a.subscription_id, {ALERT_COLUMNS}, q.* FROM alerts a
             JOIN ({INCIDENT_AT_VERSION}) q ON q.id = a.incident_id AND q.version = a.version
             WHERE any_text(a.subscription_id, ?) AND a.delivery = 'live'
                 AND a.created_at >= ?
             ORDER BY a.id"
        )))
        .bind(serde_json::to_string(&ids).expect("strings serialize"))
        .bind(ts(since))
        .fetch_all(self.db.pool())
        .await?;
        rows.into_iter().map(|r| r.alert.into_alert(parse_uuid(&r.subscription_id)?)).collect()
    }

    /// How many outbox rows wait for the alert worker, and how many deliveries wait to be sent
    /// (or retried): the queues' depths for /metrics.
    pub async fn queue_depths(&self) -> Result<(u64, u64)> {
        let (outbox, deliveries): (i64, i64) = sqlx::query_as(self.db.sql(
            "SELECT (SELECT count(*) FROM outbox WHERE done_at IS NULL),
                    (SELECT count(*) FROM deliveries WHERE state = 'pending')",
        ))
        .fetch_one(self.db.pool())
        .await?;
        Ok((outbox.max(0) as u64, deliveries.max(0) as u64))
    }

    /// The transparency log's entries written after `seq` (at most `limit`, oldest first),
    /// with their sequence numbers: what the binary copies into the log.
    pub async fn transparency_after(&self, seq: i64, limit: u32) -> Result<Vec<(i64, String)>> {
        Ok(sqlx::query_as(
            self.db.sql("SELECT seq, entry FROM transparency_outbox WHERE seq > ? ORDER BY seq LIMIT ?"),
        )
        .bind(seq)
        .bind(i64::from(limit))
        .fetch_all(self.db.pool())
        .await?)
    }

    /// An agency's published incidents counted by the hour (UTC) they were received and
    /// their category: the caller groups the hours into the agency's days.
    pub async fn published_by_hour(&self, agency: &AgencyId) -> Result<Vec<(DateTime<Utc>, String, u64)>> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(self.db.sql(
            "SELECT substr(received_at, 1, 13), category, count(*) FROM incidents
             WHERE agency_id = ? GROUP BY 1, 2 ORDER BY 1, 2",
        ))
        .bind(agency.as_str())
        .fetch_all(self.db.pool())
        .await?;
        rows.into_iter()
            .map(|(hour, category, n)| {
                let hour = DateTime::parse_from_rfc3339(&format!("{hour}:00:00Z"))
                    .map_err(|e| StoreError::Corrupt(format!("received_at {hour:?}: {e}")))?;
                Ok((hour.to_utc(), category, u64::try_from(n).unwrap_or(0)))
            })
            .collect()
    }

    pub async fn withheld_counts(&self, agency: Option<&AgencyId>) -> Result<Vec<WithheldCount>> {
        let rows: Vec<(String, String, String, String, i64)> = sqlx::query_as(self.db.sql(
            "SELECT agency_id, day, category, reason, count FROM withheld_counts
             WHERE ?1 IS NULL OR agency_id = ?1 ORDER BY agency_id, day, category, reason",
        ))
        .bind(agency.map(AgencyId::as_str))
        .fetch_all(self.db.pool())
        .await?;
        rows.into_iter()
            .map(|(agency, day, category, reason, count)| {
                Ok(WithheldCount {
                    agency,
                    day: NaiveDate::from_str(&day).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    category: Category::from_str(&category)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    reason,
                    count: u64::try_from(count).unwrap_or(0),
                })
            })
            .collect()
    }
}

/// Write an entry of the transparency log, in the caller's transaction.
async fn log(db: &Db, conn: &mut AnyConnection, entry: &Entry) -> Result<()> {
    sqlx::query(db.sql("INSERT INTO transparency_outbox (entry) VALUES (?)"))
        .bind(entry.to_canonical())
        .execute(conn)
        .await?;
    Ok(())
}

fn parse_policy(text: &str) -> Result<PolicyDocument> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("policy document: {e}")))
}

async fn record_withheld(
    db: &Db,
    conn: &mut AnyConnection,
    agency: &str,
    day: &str,
    category: &str,
    reason: &str,
    n: i64,
) -> Result<()> {
    sqlx::query(
        db.sql("INSERT INTO withheld_counts (agency_id, day, category, reason, count) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (agency_id, day, category, reason) DO UPDATE SET count = withheld_counts.count + excluded.count"),
    )
    .bind(agency)
    .bind(day)
    .bind(category)
    .bind(reason)
    .bind(n)
    .execute(conn)
    .await?;
    Ok(())
}

/// A version's published fields, in the order both incidents and incident_versions name them:
/// call_type, category, priority, status, location_kind, location, lat, lon, policy_version,
/// narrative, units (the incident's, merged over its rows), closure, placed_by, place_confidence.
type PublishedValues<'a> = (
    &'a str,
    &'static str,
    Option<&'a str>,
    Option<&'a str>,
    &'static str,
    &'a str,
    Option<f64>,
    Option<f64>,
    u32,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
);

fn published_values<'a>(p: &'a PublicIncident, units: Option<&'a str>) -> PublishedValues<'a> {
    (
        p.call_type(),
        p.category().as_str(),
        p.priority(),
        p.status(),
        p.location().kind().as_str(),
        p.location().text(),
        p.point().map(Point::lat),
        p.point().map(Point::lon),
        p.policy_version(),
        p.narrative(),
        units,
        p.closure().map(Closure::as_str),
        p.placed_by().map(PlacedBy::as_str),
        p.place_confidence().map(Confidence::as_str),
    )
}

/// Mark the agency's gazetteer changed, in the transaction that changes it.
async fn bump_gazetteer(db: &Db, conn: &mut AnyConnection, id: &AgencyId) -> Result<()> {
    sqlx::query(db.sql(
        "INSERT INTO gazetteer_revisions (agency_id, revision) VALUES (?, 1)
         ON CONFLICT (agency_id) DO UPDATE SET revision = gazetteer_revisions.revision + 1",
    ))
    .bind(id.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// The units of an incident as stored (a JSON array, or NULL) with `more` added, in order of
/// first appearance; NULL if there are none.
fn merge_units(stored: Option<&str>, more: &[String]) -> Option<String> {
    let mut units: Vec<String> = stored.and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default();
    for u in more {
        if !units.contains(u) {
            units.push(u.clone());
        }
    }
    (!units.is_empty()).then(|| serde_json::to_string(&units).expect("strings serialize"))
}

/// What makes a new version: any published field changing.
#[derive(Debug, Clone, PartialEq, FromRow)]
struct Content {
    call_type: String,
    category: String,
    priority: Option<String>,
    status: Option<String>,
    location: String,
    lat: Option<f64>,
    lon: Option<f64>,
    narrative: Option<String>,
    units: Option<String>,
}

impl Content {
    fn of(p: &PublicIncident) -> Self {
        Self {
            call_type: p.call_type().to_owned(),
            category: p.category().as_str().to_owned(),
            priority: p.priority().map(str::to_owned),
            status: p.status().map(str::to_owned),
            location: p.location().text().to_owned(),
            lat: p.point().map(Point::lat),
            lon: p.point().map(Point::lon),
            narrative: p.narrative().map(str::to_owned),
            units: merge_units(None, p.units()),
        }
    }
}

/// An incident of the batch: as stored, then as the batch leaves it.
struct Current<'a> {
    id: Uuid,
    version: i64,
    content: Content,
    /// The record that last changed it in this batch.
    latest: Option<&'a PublicIncident>,
    new: bool,
    /// Where its newest version of this batch is in the batch's list of versions.
    batch_version: Option<usize>,
}

/// The stored incidents that the batch's published records name, by (agency, key).
async fn existing_incidents<'a>(
    db: &Db,
    conn: &mut AnyConnection,
    decisions: &'a [Decision],
    keys: &[Option<Vec<u8>>],
) -> Result<HashMap<(String, Vec<u8>), Current<'a>>> {
    #[derive(FromRow)]
    struct Row {
        agency_id: String,
        source_key: Vec<u8>,
        id: String,
        version: i64,
        #[sqlx(flatten)]
        content: Content,
    }
    let mut wanted: Vec<(&str, &[u8])> = decisions
        .iter()
        .zip(keys)
        .filter_map(|(d, k)| match (d, k) {
            (Decision::Publish(p), Some(k)) => Some((p.agency().as_str(), k.as_slice())),
            _ => None,
        })
        .collect();
    wanted.sort();
    wanted.dedup();
    let mut found = HashMap::new();
    // One query per agency, its keys as one JSON list: a row-value list such as
    // `(agency_id, source_key) IN ((?, ?), ...)` is not searched through the unique index but
    // makes SQLite scan the whole table, once per batch.
    for group in wanted.chunk_by(|a, b| a.0 == b.0) {
        let agency = group[0].0;
        let keys: Vec<String> = group.iter().map(|(_, k)| hex(k)).collect();
        let q = sqlx::query_as(
            db.sql("SELECT agency_id, source_key, id, version, call_type, category, priority, status, location, lat, lon,
                narrative, units FROM incidents
             WHERE agency_id = ? AND source_key IN (SELECT unhex(value) FROM each_text(?, k))"),
        )
        .bind(agency)
        .bind(serde_json::to_string(&keys).map_err(|e| StoreError::Corrupt(e.to_string()))?);
        let rows: Vec<Row> = q.fetch_all(&mut *conn).await?;
        for r in rows {
            let current = Current {
                id: parse_uuid(&r.id)?,
                version: r.version,
                content: r.content,
                latest: None,
                new: false,
                batch_version: None,
            };
            found.insert((r.agency_id, r.source_key), current);
        }
    }
    Ok(found)
}

/// Bring a stored incident to the state the batch leaves it in.
async fn update_incident(
    db: &Db,
    conn: &mut AnyConnection,
    id: Uuid,
    version: i64,
    p: &PublicIncident,
    units: Option<&str>,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        db.sql("UPDATE incidents SET version = ?, updated_at = ?, call_type = ?, category = ?, priority = ?, status = ?,
            location_kind = ?, location = ?, lat = ?, lon = ?, policy_version = ?, narrative = ?, units = ?,
            closure = ?, placed_by = ?, place_confidence = ?
         WHERE id = ?"),
    )
    .bind(version)
    .bind(ts(now))
    .bind(p.call_type())
    .bind(p.category().as_str())
    .bind(p.priority())
    .bind(p.status())
    .bind(p.location().kind().as_str())
    .bind(p.location().text())
    .bind(Real(p.point().map(Point::lat)))
    .bind(Real(p.point().map(Point::lon)))
    .bind(i64::from(p.policy_version()))
    .bind(p.narrative())
    .bind(units)
    .bind(p.closure().map(Closure::as_str))
    .bind(p.placed_by().map(PlacedBy::as_str))
    .bind(p.place_confidence().map(Confidence::as_str))
    .bind(id.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database made before migration 0016 keeps its subscriptions, each keyed by its row
    /// (gaps left by deletions stay gaps), and the next subscription made gets a key after
    /// every key given, not one a deleted subscription had.
    #[tokio::test]
    async fn subscriptions_stored_before_keys_get_their_rows() {
        let dir = std::env::temp_dir().join(format!("porchlight-keys-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(dir.join(DATABASE_FILE))
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        sqlx::migrate!("./migrations/sqlite").run_to(15, &pool).await.unwrap();
        let ids: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
        for (i, id) in ids.iter().enumerate() {
            sqlx::query(
                "INSERT INTO subscriptions (id, lat, lon, radius_m, categories, created_at)
                 VALUES (?, ?, -87.95, 500.0, '[]', '2026-11-29T08:00:00.000Z')",
            )
            .bind(id.to_string())
            .bind(43.0 + i as f64 * 0.01)
            .execute(&pool)
            .await
            .unwrap();
        }
        // The second and the newest go before the upgrade.
        for gone in [ids[1], ids[3]] {
            sqlx::query("DELETE FROM subscriptions WHERE id = ?")
                .bind(gone.to_string())
                .execute(&pool)
                .await
                .unwrap();
        }
        pool.close().await;
        let store = Store::open(&dir).await.unwrap();
        let mut keyed: Vec<(SubscriptionKey, Uuid)> =
            store.subscriptions().await.unwrap().into_iter().map(|(k, s)| (k, s.id)).collect();
        keyed.sort();
        assert_eq!(keyed, [(SubscriptionKey(1), ids[0]), (SubscriptionKey(3), ids[2])]);
        let point = Point::new(43.5, -87.95).unwrap();
        let new = Subscription::new(point, 500.0, Default::default(), chrono::Utc::now()).unwrap();
        assert_eq!(store.insert_subscription(&new).await.unwrap(), SubscriptionKey(4));
        assert_eq!(store.delete_subscription(ids[2]).await.unwrap(), Some(SubscriptionKey(3)));
        store.close().await;
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
