//! The portal's SQL, in small functions named by intent.

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use porchlight_db::{AnyConnection, Db};
use porchlight_ledger::entry::{Entry, time};
use sqlx::FromRow;
use uuid::Uuid;

use crate::domain::{Email, Role};

pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Write an entry of the transparency log, in the caller's transaction.
async fn log(db: &Db, tx: &mut AnyConnection, entry: Entry) -> sqlx::Result<()> {
    sqlx::query(db.sql("INSERT INTO transparency_outbox (entry) VALUES (?)"))
        .bind(entry.to_canonical())
        .execute(tx)
        .await?;
    Ok(())
}

/// An account event of the log: a grant or removal of power.
fn account_event(event: &str, agency: Option<&str>, account: Uuid) -> Entry {
    Entry::Account {
        at: time(now()),
        event: event.into(),
        agency: agency.map(str::to_string),
        account: Some(account.to_string()),
    }
}

/// The log's entries after `seq`, at most `limit`, oldest first.
pub(crate) async fn transparency_after(db: &Db, seq: i64, limit: u32) -> sqlx::Result<Vec<(i64, String)>> {
    sqlx::query_as(db.sql("SELECT seq, entry FROM transparency_outbox WHERE seq > ? ORDER BY seq LIMIT ?"))
        .bind(seq)
        .bind(i64::from(limit))
        .fetch_all(db.pool())
        .await
}

/// A request's end for the log: how, and its clips shared and accessed.
async fn request_ended(
    db: &Db,
    tx: &mut AnyConnection,
    id: &str,
    agency: &str,
    how: &str,
) -> sqlx::Result<()> {
    let (shared, accesses): (i64, i64) = sqlx::query_as(
        db.sql("SELECT (SELECT count(*) FROM clips WHERE request_id = ?1 AND withdrawn_at IS NULL),
                (SELECT count(*) FROM clip_accesses a JOIN clips c ON c.id = a.clip_id WHERE c.request_id = ?1)"),
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    let entry = Entry::RequestEnded {
        at: time(now()),
        request: id.to_string(),
        agency: agency.to_string(),
        how: how.into(),
        clips_shared: shared as u64,
        clip_accesses: accesses as u64,
    };
    log(db, tx, entry).await
}

fn parse_ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).map_or(DateTime::UNIX_EPOCH, |t| t.with_timezone(&Utc))
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Account {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub agency_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct AccountRow {
    id: String,
    email: String,
    display_name: String,
    role: String,
    agency_id: Option<String>,
    created_at: String,
}

impl From<AccountRow> for Account {
    fn from(r: AccountRow) -> Self {
        Self {
            id: Uuid::parse_str(&r.id).unwrap_or_default(),
            email: r.email,
            display_name: r.display_name,
            role: Role::parse(&r.role).unwrap_or(Role::Resident),
            agency_id: r.agency_id,
            created_at: parse_ts(&r.created_at),
        }
    }
}

const ACCOUNT_COLUMNS: &str = "a.id, a.email, a.display_name, a.role, a.agency_id, a.created_at";

/// A new resident; `None` if the address is taken.
pub(crate) async fn create_resident(
    db: &Db,
    email: &Email,
    display_name: &str,
    password_hash: &str,
) -> sqlx::Result<Option<Account>> {
    let account = Account {
        id: Uuid::new_v4(),
        email: email.as_str().to_owned(),
        display_name: display_name.to_owned(),
        role: Role::Resident,
        agency_id: None,
        created_at: now(),
    };
    let done = sqlx::query(db.sql(
        "INSERT INTO accounts (id, email, display_name, password_hash, role, created_at)
         VALUES (?, ?, ?, ?, 'resident', ?) ON CONFLICT (email) DO NOTHING",
    ))
    .bind(account.id.to_string())
    .bind(&account.email)
    .bind(&account.display_name)
    .bind(password_hash)
    .bind(ts(account.created_at))
    .execute(db.pool())
    .await?;
    Ok((done.rows_affected() == 1).then_some(account))
}

pub(crate) async fn upsert_platform_admin(
    db: &Db,
    email: &Email,
    display_name: &str,
    password_hash: &str,
) -> sqlx::Result<()> {
    let mut tx = db.write().await?;
    let id: String = sqlx::query_scalar(db.sql(
        "INSERT INTO accounts (id, email, display_name, password_hash, role, created_at)
         VALUES (?, ?, ?, ?, 'platform_admin', ?)
         ON CONFLICT (email) DO UPDATE SET role = 'platform_admin', agency_id = NULL,
             password_hash = excluded.password_hash, display_name = excluded.display_name
         RETURNING id",
    ))
    .bind(Uuid::new_v4().to_string())
    .bind(email.as_str())
    .bind(display_name)
    .bind(password_hash)
    .bind(ts(now()))
    .fetch_one(&mut *tx)
    .await?;
    let id = Uuid::parse_str(&id).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    log(db, &mut tx, account_event("platform_admin.appointed", None, id)).await?;
    tx.commit().await
}

/// The account and its password hash, by address.
pub(crate) async fn account_for_login(db: &Db, email: &Email) -> sqlx::Result<Option<(Account, String)>> {
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        account: AccountRow,
        password_hash: String,
    }
    let row: Option<Row> = sqlx::query_as(
        db.sql(&format!("SELECT {ACCOUNT_COLUMNS}, a.password_hash FROM accounts a WHERE a.email = ?")),
    )
    .bind(email.as_str())
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|r| (r.account.into(), r.password_hash)))
}

pub(crate) async fn account_by_email(db: &Db, email: &Email) -> sqlx::Result<Option<Account>> {
    Ok(account_for_login(db, email).await?.map(|(a, _)| a))
}

/// Give an account a role (and an agency for officers and agency administrators).
pub(crate) async fn set_role(db: &Db, account: Uuid, role: Role, agency: Option<&str>) -> sqlx::Result<()> {
    let mut tx = db.write().await?;
    let before: Option<(String, Option<String>)> =
        sqlx::query_as(db.sql("SELECT role, agency_id FROM accounts WHERE id = ?"))
            .bind(account.to_string())
            .fetch_optional(&mut *tx)
            .await?;
    sqlx::query(db.sql("UPDATE accounts SET role = ?, agency_id = ? WHERE id = ?"))
        .bind(role.as_str())
        .bind(agency)
        .bind(account.to_string())
        .execute(&mut *tx)
        .await?;
    // What power went, then what power came.
    if let Some((old, old_agency)) = before
        && (old.as_str(), old_agency.as_deref()) != (role.as_str(), agency)
    {
        let removed = match old.as_str() {
            "officer" => Some("officer.removed"),
            "agency_admin" => Some("agency_admin.removed"),
            "moderator" => Some("moderator.removed"),
            "platform_admin" => Some("platform_admin.removed"),
            _ => None,
        };
        if let Some(event) = removed {
            log(db, &mut tx, account_event(event, old_agency.as_deref(), account)).await?;
        }
        let added = match role {
            Role::Officer => Some("officer.added"),
            Role::AgencyAdmin => Some("agency_admin.appointed"),
            Role::Moderator => Some("moderator.appointed"),
            Role::PlatformAdmin => Some("platform_admin.appointed"),
            Role::Resident => None,
        };
        if let Some(event) = added {
            log(db, &mut tx, account_event(event, agency, account)).await?;
        }
    }
    tx.commit().await
}

/// A new session for `account`, expiring at `expires_at`, by the hashes of its tokens.
pub(crate) async fn create_session(
    db: &Db,
    account: Uuid,
    token_hash: &[u8],
    csrf_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        db.sql("INSERT INTO sessions (token_hash, account_id, csrf_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)"),
    )
    .bind(token_hash)
    .bind(account.to_string())
    .bind(csrf_hash)
    .bind(ts(now()))
    .bind(ts(expires_at))
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The account of a live session, with the hash of its CSRF token.
pub(crate) async fn session(db: &Db, token_hash: &[u8]) -> sqlx::Result<Option<(Account, Vec<u8>)>> {
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        account: AccountRow,
        csrf_hash: Vec<u8>,
    }
    let row: Option<Row> = sqlx::query_as(db.sql(&format!(
        "SELECT {ACCOUNT_COLUMNS}, s.csrf_hash FROM sessions s JOIN accounts a ON a.id = s.account_id
         WHERE s.token_hash = ? AND s.expires_at > ?"
    )))
    .bind(token_hash)
    .bind(ts(now()))
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|r| (r.account.into(), r.csrf_hash)))
}

pub(crate) async fn delete_session(db: &Db, token_hash: &[u8]) -> sqlx::Result<()> {
    sqlx::query(db.sql("DELETE FROM sessions WHERE token_hash = ?"))
        .bind(token_hash)
        .execute(db.pool())
        .await?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Agency {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub verified_at: Option<DateTime<Utc>>,
}

pub(crate) async fn create_agency(db: &Db, id: &str, name: &str) -> sqlx::Result<Option<Agency>> {
    let agency = Agency { id: id.to_owned(), name: name.to_owned(), created_at: now(), verified_at: None };
    let done = sqlx::query(
        db.sql("INSERT INTO agencies (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"),
    )
    .bind(id)
    .bind(name)
    .bind(ts(agency.created_at))
    .execute(db.pool())
    .await?;
    Ok((done.rows_affected() == 1).then_some(agency))
}

pub(crate) async fn agency(db: &Db, id: &str) -> sqlx::Result<Option<Agency>> {
    let row: Option<AgencyRow> =
        sqlx::query_as(db.sql("SELECT id, name, created_at, verified_at FROM agencies WHERE id = ?"))
            .bind(id)
            .fetch_optional(db.pool())
            .await?;
    Ok(row.map(agency_from_row))
}

type AgencyRow = (String, String, String, Option<String>);

fn agency_from_row((id, name, created_at, verified_at): AgencyRow) -> Agency {
    Agency { id, name, created_at: parse_ts(&created_at), verified_at: verified_at.as_deref().map(parse_ts) }
}

/// Every agency, by id.
pub(crate) async fn agencies(db: &Db) -> sqlx::Result<Vec<Agency>> {
    let rows: Vec<AgencyRow> =
        sqlx::query_as(db.sql("SELECT id, name, created_at, verified_at FROM agencies ORDER BY id"))
            .fetch_all(db.pool())
            .await?;
    Ok(rows.into_iter().map(agency_from_row).collect())
}

pub(crate) async fn verify_agency(db: &Db, id: &str, by: Uuid) -> sqlx::Result<()> {
    let mut tx = db.write().await?;
    let done = sqlx::query(
        db.sql("UPDATE agencies SET verified_at = ?, verified_by = ? WHERE id = ? AND verified_at IS NULL"),
    )
    .bind(ts(now()))
    .bind(by.to_string())
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 1 {
        let entry = Entry::Account {
            at: time(now()),
            event: "agency.verified".into(),
            agency: Some(id.to_string()),
            account: None,
        };
        log(db, &mut tx, entry).await?;
    }
    tx.commit().await
}

/// An agency's officers and administrators.
pub(crate) async fn agency_members(db: &Db, agency: &str) -> sqlx::Result<Vec<Account>> {
    let rows: Vec<AccountRow> = sqlx::query_as(
        db.sql(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.agency_id = ? ORDER BY a.email")),
    )
    .bind(agency)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(Account::from).collect())
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub id: Uuid,
    pub agency_id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub expires_at: DateTime<Utc>,
}

pub(crate) async fn create_token(
    db: &Db,
    token: &Token,
    token_hash: &[u8],
    created_by: Uuid,
) -> sqlx::Result<()> {
    sqlx::query(db.sql(
        "INSERT INTO api_tokens (id, token_hash, agency_id, created_by, name, scopes, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    ))
    .bind(token.id.to_string())
    .bind(token_hash)
    .bind(&token.agency_id)
    .bind(created_by.to_string())
    .bind(&token.name)
    .bind(serde_json::to_string(&token.scopes).expect("strings serialize"))
    .bind(ts(now()))
    .bind(ts(token.expires_at))
    .execute(db.pool())
    .await?;
    Ok(())
}

/// A live, unrevoked token of a verified agency, by its hash.
pub(crate) async fn token(db: &Db, token_hash: &[u8]) -> sqlx::Result<Option<Token>> {
    let row: Option<(String, String, String, String, String)> = sqlx::query_as(db.sql(
        "SELECT t.id, t.agency_id, t.name, t.scopes, t.expires_at FROM api_tokens t
         JOIN agencies g ON g.id = t.agency_id
         WHERE t.token_hash = ? AND t.revoked_at IS NULL AND t.expires_at > ? AND g.verified_at IS NOT NULL",
    ))
    .bind(token_hash)
    .bind(ts(now()))
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|(id, agency_id, name, scopes, expires_at)| Token {
        id: Uuid::parse_str(&id).unwrap_or_default(),
        agency_id,
        name,
        scopes: serde_json::from_str(&scopes).unwrap_or_default(),
        expires_at: parse_ts(&expires_at),
    }))
}

pub(crate) async fn revoke_token(db: &Db, agency: &str, id: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query(
        db.sql("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND agency_id = ? AND revoked_at IS NULL"),
    )
    .bind(ts(now()))
    .bind(id.to_string())
    .bind(agency)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Camera {
    pub id: Uuid,
    pub name: String,
    pub lat: f64,
    pub lon: f64,
    pub paused: bool,
    pub created_at: DateTime<Utc>,
}

type CameraRow = (String, String, f64, f64, Option<String>, String);

fn camera(r: CameraRow) -> Camera {
    Camera {
        id: Uuid::parse_str(&r.0).unwrap_or_default(),
        name: r.1,
        lat: r.2,
        lon: r.3,
        paused: r.4.is_some(),
        created_at: parse_ts(&r.5),
    }
}

pub(crate) async fn create_camera(
    db: &Db,
    owner: Uuid,
    name: &str,
    lat: f64,
    lon: f64,
) -> sqlx::Result<Camera> {
    let c = Camera { id: Uuid::new_v4(), name: name.to_owned(), lat, lon, paused: false, created_at: now() };
    sqlx::query(
        db.sql("INSERT INTO cameras (id, owner_id, name, lat, lon, created_at) VALUES (?, ?, ?, ?, ?, ?)"),
    )
    .bind(c.id.to_string())
    .bind(owner.to_string())
    .bind(&c.name)
    .bind(lat)
    .bind(lon)
    .bind(ts(c.created_at))
    .execute(db.pool())
    .await?;
    Ok(c)
}

pub(crate) async fn cameras(db: &Db, owner: Uuid) -> sqlx::Result<Vec<Camera>> {
    let rows: Vec<CameraRow> = sqlx::query_as(
        db.sql("SELECT id, name, lat, lon, paused_at, created_at FROM cameras WHERE owner_id = ? ORDER BY created_at, id"),
    )
    .bind(owner.to_string())
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(camera).collect())
}

/// Pause or resume one of the owner's cameras; whether it was theirs.
pub(crate) async fn set_camera_paused(db: &Db, owner: Uuid, id: Uuid, paused: bool) -> sqlx::Result<bool> {
    let done = sqlx::query(db.sql("UPDATE cameras SET paused_at = ? WHERE id = ? AND owner_id = ?"))
        .bind(paused.then(|| ts(now())))
        .bind(id.to_string())
        .bind(owner.to_string())
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn delete_camera(db: &Db, owner: Uuid, id: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query(db.sql("DELETE FROM cameras WHERE id = ? AND owner_id = ?"))
        .bind(id.to_string())
        .bind(owner.to_string())
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected() == 1)
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Request {
    pub id: Uuid,
    pub agency_id: String,
    pub case_number: String,
    pub incident_type: String,
    pub area: crate::request::Area,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub description: String,
    pub contact: String,
    pub flags: Vec<String>,
    pub state: String,
    pub reason: Option<String>,
    pub moderated_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct RequestRow {
    id: String,
    agency_id: String,
    case_number: String,
    incident_type: String,
    area: String,
    window_start: String,
    window_end: String,
    description: String,
    contact: String,
    flags: String,
    state: String,
    reason: Option<String>,
    moderated_at: Option<String>,
    created_at: String,
}

impl RequestRow {
    fn into_request(self) -> Option<Request> {
        Some(Request {
            id: Uuid::parse_str(&self.id).ok()?,
            agency_id: self.agency_id,
            case_number: self.case_number,
            incident_type: self.incident_type,
            area: serde_json::from_str(&self.area).ok()?,
            window_start: parse_ts(&self.window_start),
            window_end: parse_ts(&self.window_end),
            description: self.description,
            contact: self.contact,
            flags: serde_json::from_str(&self.flags).unwrap_or_default(),
            state: self.state,
            reason: self.reason,
            moderated_at: self.moderated_at.as_deref().map(parse_ts),
            created_at: parse_ts(&self.created_at),
        })
    }
}

const REQUEST_COLUMNS: &str = "id, agency_id, case_number, incident_type, area, window_start, window_end,
    description, contact, flags, state, reason, moderated_at, created_at";

/// Who posted a request: an officer, or an agency's system by its token.
pub(crate) enum PostedBy {
    Officer(Uuid),
    Token(Uuid),
}

/// Store a new pending request unless the agency already has `cap` open ones (pending or
/// approved); `None` then.
pub(crate) async fn create_request(
    db: &Db,
    request: &Request,
    area_m2: f64,
    by: PostedBy,
    cap: u32,
) -> sqlx::Result<Option<()>> {
    let (officer, token) = match by {
        PostedBy::Officer(id) => (Some(id.to_string()), None),
        PostedBy::Token(id) => (None, Some(id.to_string())),
    };
    let [min_lat, min_lon, max_lat, max_lon] = request.area.bounding_box();
    let mut tx = db.write().await?;
    let (open,): (i64,) = sqlx::query_as(
        db.sql("SELECT count(*) FROM requests WHERE agency_id = ? AND state IN ('pending', 'approved')"),
    )
    .bind(&request.agency_id)
    .fetch_one(&mut *tx)
    .await?;
    if open >= i64::from(cap) {
        return Ok(None);
    }
    sqlx::query(
        db.sql("INSERT INTO requests (id, agency_id, officer_id, token_id, case_number, incident_type, area, area_m2,
             min_lat, min_lon, max_lat, max_lon, window_start, window_end, description, contact, flags, state, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)"),
    )
    .bind(request.id.to_string())
    .bind(&request.agency_id)
    .bind(officer)
    .bind(token)
    .bind(&request.case_number)
    .bind(&request.incident_type)
    .bind(serde_json::to_string(&request.area).expect("an area serializes"))
    .bind(area_m2)
    .bind(min_lat)
    .bind(min_lon)
    .bind(max_lat)
    .bind(max_lon)
    .bind(ts(request.window_start))
    .bind(ts(request.window_end))
    .bind(&request.description)
    .bind(&request.contact)
    .bind(serde_json::to_string(&request.flags).expect("strings serialize"))
    .bind(ts(request.created_at))
    .execute(&mut *tx)
    .await?;
    let entry = Entry::RequestCreated {
        at: time(request.created_at),
        request: request.id.to_string(),
        agency: request.agency_id.clone(),
    };
    log(db, &mut tx, entry).await?;
    tx.commit().await?;
    Ok(Some(()))
}

pub(crate) async fn request(db: &Db, id: Uuid) -> sqlx::Result<Option<Request>> {
    let row: Option<RequestRow> =
        sqlx::query_as(db.sql(&format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE id = ?")))
            .bind(id.to_string())
            .fetch_optional(db.pool())
            .await?;
    Ok(row.and_then(RequestRow::into_request))
}

/// Requests in these states, newest first, of one agency or all.
pub(crate) async fn requests(db: &Db, agency: Option<&str>, states: &[&str]) -> sqlx::Result<Vec<Request>> {
    let rows: Vec<RequestRow> = sqlx::query_as(db.sql(&format!(
        "SELECT {REQUEST_COLUMNS} FROM requests
         WHERE (?1 IS NULL OR agency_id = ?1) AND any_text(state, ?2)
         ORDER BY created_at DESC, id"
    )))
    .bind(agency)
    .bind(serde_json::to_string(states).expect("strings serialize"))
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().filter_map(RequestRow::into_request).collect())
}

/// Approve or reject a pending request; whether it was pending.
pub(crate) async fn moderate(
    db: &Db,
    id: Uuid,
    state: &str,
    by: Uuid,
    reason: Option<&str>,
) -> sqlx::Result<bool> {
    let mut tx = db.write().await?;
    let agency: Option<String> = sqlx::query_scalar(
        db.sql("UPDATE requests SET state = ?, moderated_by = ?, moderated_at = ?, reason = ? WHERE id = ? AND state = 'pending'
         RETURNING agency_id"),
    )
    .bind(state)
    .bind(by.to_string())
    .bind(ts(now()))
    .bind(reason)
    .bind(id.to_string())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(agency) = agency else { return Ok(false) };
    let entry = Entry::RequestModerated {
        at: time(now()),
        request: id.to_string(),
        agency,
        decision: if state == "approved" { "approved" } else { "refused" }.into(),
        reason: reason.map(str::to_string),
    };
    log(db, &mut tx, entry).await?;
    tx.commit().await?;
    Ok(true)
}

/// Approved requests whose box holds one of the owner's active cameras, with those cameras
/// (the exact test against the area is the caller's).
pub(crate) async fn inbox_candidates(db: &Db, owner: Uuid) -> sqlx::Result<Vec<(Request, Vec<Camera>)>> {
    let mine: Vec<Camera> = cameras(db, owner).await?.into_iter().filter(|c| !c.paused).collect();
    let mut out = Vec::new();
    if mine.is_empty() {
        return Ok(out);
    }
    for request in requests(db, None, &["approved"]).await? {
        let [a, b, c, d] = request.area.bounding_box();
        let near: Vec<Camera> = mine
            .iter()
            .filter(|cam| (a..=c).contains(&cam.lat) && (b..=d).contains(&cam.lon))
            .cloned()
            .collect();
        if !near.is_empty() {
            out.push((request, near));
        }
    }
    Ok(out)
}

/// A value kept across restarts (the clip link key); `value` the first time.
pub(crate) async fn setting_or_insert(db: &Db, key: &str, value: Vec<u8>) -> sqlx::Result<Vec<u8>> {
    sqlx::query(db.sql("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT DO NOTHING"))
        .bind(key)
        .bind(value)
        .execute(db.pool())
        .await?;
    let (value,): (Vec<u8>,) = sqlx::query_as(db.sql("SELECT value FROM settings WHERE key = ?"))
        .bind(key)
        .fetch_one(db.pool())
        .await?;
    Ok(value)
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Clip {
    pub id: Uuid,
    pub request_id: Uuid,
    pub owner_id: Uuid,
    pub shared_as: String,
    pub object_key: String,
    pub sha256: String,
    pub size: i64,
    pub content_type: String,
    pub created_at: DateTime<Utc>,
    pub delete_after: DateTime<Utc>,
    pub first_downloaded_at: Option<DateTime<Utc>>,
    pub withdrawn_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
}

#[derive(FromRow)]
struct ClipRow {
    id: String,
    request_id: String,
    owner_id: String,
    shared_as: String,
    object_key: String,
    sha256: String,
    size: i64,
    content_type: String,
    created_at: String,
    delete_after: String,
    first_downloaded_at: Option<String>,
    withdrawn_at: Option<String>,
    deleted_at: Option<String>,
}

impl From<ClipRow> for Clip {
    fn from(r: ClipRow) -> Self {
        Self {
            id: Uuid::parse_str(&r.id).unwrap_or_default(),
            request_id: Uuid::parse_str(&r.request_id).unwrap_or_default(),
            owner_id: Uuid::parse_str(&r.owner_id).unwrap_or_default(),
            shared_as: r.shared_as,
            object_key: r.object_key,
            sha256: r.sha256,
            size: r.size,
            content_type: r.content_type,
            created_at: parse_ts(&r.created_at),
            delete_after: parse_ts(&r.delete_after),
            first_downloaded_at: r.first_downloaded_at.as_deref().map(parse_ts),
            withdrawn_at: r.withdrawn_at.as_deref().map(parse_ts),
            deleted_at: r.deleted_at.as_deref().map(parse_ts),
        }
    }
}

const CLIP_COLUMNS: &str =
    "id, request_id, owner_id, shared_as, object_key, sha256, size, content_type, created_at,
    delete_after, first_downloaded_at, withdrawn_at, deleted_at";

pub(crate) async fn create_clip(db: &Db, clip: &Clip) -> sqlx::Result<()> {
    sqlx::query(
        db.sql("INSERT INTO clips (id, request_id, owner_id, shared_as, object_key, sha256, size, content_type, created_at,
             delete_after) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
    )
    .bind(clip.id.to_string())
    .bind(clip.request_id.to_string())
    .bind(clip.owner_id.to_string())
    .bind(&clip.shared_as)
    .bind(&clip.object_key)
    .bind(&clip.sha256)
    .bind(clip.size)
    .bind(&clip.content_type)
    .bind(ts(clip.created_at))
    .bind(ts(clip.delete_after))
    .execute(db.pool())
    .await?;
    Ok(())
}

pub(crate) async fn clip(db: &Db, id: Uuid) -> sqlx::Result<Option<Clip>> {
    let row: Option<ClipRow> =
        sqlx::query_as(db.sql(&format!("SELECT {CLIP_COLUMNS} FROM clips WHERE id = ?")))
            .bind(id.to_string())
            .fetch_optional(db.pool())
            .await?;
    Ok(row.map(Clip::from))
}

/// The clips still shared for a request (not withdrawn, not deleted).
pub(crate) async fn shared_clips(db: &Db, request: Uuid) -> sqlx::Result<Vec<Clip>> {
    let rows: Vec<ClipRow> = sqlx::query_as(db.sql(&format!(
        "SELECT {CLIP_COLUMNS} FROM clips WHERE request_id = ? AND withdrawn_at IS NULL AND deleted_at IS NULL
         ORDER BY created_at, id"
    )))
    .bind(request.to_string())
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(Clip::from).collect())
}

pub(crate) async fn owner_clips(db: &Db, owner: Uuid) -> sqlx::Result<Vec<Clip>> {
    let rows: Vec<ClipRow> = sqlx::query_as(
        db.sql(&format!("SELECT {CLIP_COLUMNS} FROM clips WHERE owner_id = ? ORDER BY created_at, id")),
    )
    .bind(owner.to_string())
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(Clip::from).collect())
}

/// Withdraw an owner's clip if nobody has downloaded it; whether it was withdrawn.
pub(crate) async fn withdraw_clip(db: &Db, owner: Uuid, id: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query(db.sql(
        "UPDATE clips SET withdrawn_at = ? WHERE id = ? AND owner_id = ? AND first_downloaded_at IS NULL
             AND withdrawn_at IS NULL AND deleted_at IS NULL",
    ))
    .bind(ts(now()))
    .bind(id.to_string())
    .bind(owner.to_string())
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Record a download by an agency: the access log, and the first download's time (after
/// which the owner cannot withdraw). False if the clip was withdrawn or deleted meanwhile.
pub(crate) async fn record_access(db: &Db, clip: Uuid, agency: &str, by: &PostedBy) -> sqlx::Result<bool> {
    let (account, token) = match by {
        PostedBy::Officer(id) => (Some(id.to_string()), None),
        PostedBy::Token(id) => (None, Some(id.to_string())),
    };
    let when = now();
    let at = ts(when);
    let mut tx = db.write().await?;
    let done: Option<(String, String)> = sqlx::query_as(db.sql(
        "UPDATE clips SET first_downloaded_at = COALESCE(first_downloaded_at, ?)
         WHERE id = ? AND withdrawn_at IS NULL AND deleted_at IS NULL RETURNING request_id, sha256",
    ))
    .bind(&at)
    .bind(clip.to_string())
    .fetch_optional(&mut *tx)
    .await?;
    let Some((request, sha256)) = done else { return Ok(false) };
    let entry =
        Entry::ClipAccessed { at: time(when), request, clip_sha256: sha256, agency: agency.to_string() };
    log(db, &mut tx, entry).await?;
    sqlx::query(db.sql(
        "INSERT INTO clip_accesses (clip_id, agency_id, by_account, by_token, at) VALUES (?, ?, ?, ?, ?)",
    ))
    .bind(clip.to_string())
    .bind(agency)
    .bind(account)
    .bind(token)
    .bind(&at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

pub(crate) async fn clip_access_count(db: &Db, clip: Uuid) -> sqlx::Result<i64> {
    let (n,): (i64,) = sqlx::query_as(db.sql("SELECT count(*) FROM clip_accesses WHERE clip_id = ?"))
        .bind(clip.to_string())
        .fetch_one(db.pool())
        .await?;
    Ok(n)
}

pub(crate) async fn clips_past_retention(db: &Db, now: DateTime<Utc>) -> sqlx::Result<Vec<(Uuid, String)>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        db.sql("SELECT id, object_key FROM clips WHERE deleted_at IS NULL AND delete_after <= ?"),
    )
    .bind(ts(now))
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(|(id, key)| (Uuid::parse_str(&id).unwrap_or_default(), key)).collect())
}

pub(crate) async fn mark_clip_deleted(db: &Db, id: Uuid) -> sqlx::Result<()> {
    sqlx::query(db.sql("UPDATE clips SET deleted_at = ? WHERE id = ?"))
        .bind(ts(now()))
        .bind(id.to_string())
        .execute(db.pool())
        .await?;
    Ok(())
}

pub(crate) async fn decline(db: &Db, request: Uuid, owner: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        db.sql("INSERT INTO declines (request_id, owner_id, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"),
    )
    .bind(request.to_string())
    .bind(owner.to_string())
    .bind(ts(now()))
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The requests an owner has declined.
pub(crate) async fn declined(db: &Db, owner: Uuid) -> sqlx::Result<Vec<Uuid>> {
    let rows: Vec<(String,)> = sqlx::query_as(db.sql("SELECT request_id FROM declines WHERE owner_id = ?"))
        .bind(owner.to_string())
        .fetch_all(db.pool())
        .await?;
    Ok(rows.into_iter().filter_map(|(id,)| Uuid::parse_str(&id).ok()).collect())
}

/// Close an agency's pending or approved request; whether it was open.
pub(crate) async fn close_request(db: &Db, agency: &str, id: Uuid) -> sqlx::Result<bool> {
    let mut tx = db.write().await?;
    let done = sqlx::query(
        db.sql("UPDATE requests SET state = 'closed' WHERE id = ? AND agency_id = ? AND state IN ('pending', 'approved')"),
    )
    .bind(id.to_string())
    .bind(agency)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    request_ended(db, &mut tx, &id.to_string(), agency, "closed").await?;
    tx.commit().await?;
    Ok(true)
}

/// Close the requests approved before `cutoff`; how many.
pub(crate) async fn close_requests_approved_before(db: &Db, cutoff: DateTime<Utc>) -> sqlx::Result<u64> {
    let mut tx = db.write().await?;
    let closed: Vec<(String, String)> = sqlx::query_as(
        db.sql("UPDATE requests SET state = 'closed' WHERE state = 'approved' AND moderated_at < ? RETURNING id, agency_id"),
    )
    .bind(ts(cutoff))
    .fetch_all(&mut *tx)
    .await?;
    for (id, agency) in &closed {
        request_ended(db, &mut tx, id, agency, "expired").await?;
    }
    tx.commit().await?;
    Ok(closed.len() as u64)
}

/// Approve a pending request and, in the same transaction, queue an e-mail notice for each
/// owner of an active camera inside its area. Whether it was pending.
pub(crate) async fn approve(db: &Db, request: &Request, by: Uuid) -> sqlx::Result<bool> {
    let now = ts(now());
    let mut tx = db.write().await?;
    let done = sqlx::query(
        db.sql("UPDATE requests SET state = 'approved', moderated_by = ?, moderated_at = ? WHERE id = ? AND state = 'pending'"),
    )
    .bind(by.to_string())
    .bind(&now)
    .bind(request.id.to_string())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    let (request_id, agency) = (request.id.to_string(), request.agency_id.clone());
    let at =
        time(chrono::DateTime::parse_from_rfc3339(&now).map(|t| t.to_utc()).unwrap_or_else(|_| self::now()));
    let moderated = Entry::RequestModerated {
        at: at.clone(),
        request: request_id.clone(),
        agency: agency.clone(),
        decision: "approved".into(),
        reason: None,
    };
    log(db, &mut tx, moderated).await?;
    log(db, &mut tx, Entry::RequestPublished { at, request: request_id, agency }).await?;
    let [a, b, c, d] = request.area.bounding_box();
    let cameras: Vec<(String, f64, f64)> = sqlx::query_as(
        db.sql("SELECT owner_id, lat, lon FROM cameras WHERE paused_at IS NULL AND lat BETWEEN ? AND ? AND lon BETWEEN ? AND ?"),
    )
    .bind(a)
    .bind(c)
    .bind(b)
    .bind(d)
    .fetch_all(&mut *tx)
    .await?;
    let mut owners: Vec<&str> = cameras
        .iter()
        .filter(|(_, lat, lon)| request.area.contains(*lat, *lon))
        .map(|(o, _, _)| o.as_str())
        .collect();
    owners.sort_unstable();
    owners.dedup();
    let owners = serde_json::to_string(&owners).expect("strings serialize");
    sqlx::query(db.sql(
        "INSERT INTO notices (request_id, owner_id, state, due_at)
         SELECT ?1, o.value, 'pending', ?2 FROM each_text(?3, o) WHERE true ON CONFLICT DO NOTHING",
    ))
    .bind(request.id.to_string())
    .bind(&now)
    .bind(&owners)
    .execute(&mut *tx)
    .await?;
    sqlx::query(db.sql(
        "INSERT INTO push_notices (request_id, subscription_id, state, due_at)
         SELECT ?1, p.id, 'pending', ?2 FROM push_subscriptions p
         WHERE any_text(p.account_id, ?3) ON CONFLICT DO NOTHING",
    ))
    .bind(request.id.to_string())
    .bind(&now)
    .bind(&owners)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// A notice to send: the request, and the owner's address and cameras.
pub(crate) struct Notice {
    pub request: Request,
    pub owner: Uuid,
    pub email: String,
    pub attempts: u32,
}

/// Notices due at `now`, leased until `until` (a crash makes them due again then).
pub(crate) async fn take_notices(
    db: &Db,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> sqlx::Result<Vec<Notice>> {
    let mut tx = db.write().await?;
    let rows: Vec<(String, String, String, i64)> = sqlx::query_as(db.sql(
        "UPDATE notices SET due_at = ?1 WHERE rowid IN (
             SELECT rowid FROM notices WHERE state = 'pending' AND due_at <= ?2 ORDER BY due_at LIMIT 100)
         RETURNING request_id, owner_id, (SELECT email FROM accounts WHERE id = owner_id), attempts",
    ))
    .bind(ts(until))
    .bind(ts(now))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut out = Vec::new();
    for (request, owner, email, attempts) in rows {
        let (Ok(request_id), Ok(owner)) = (Uuid::parse_str(&request), Uuid::parse_str(&owner)) else {
            continue;
        };
        if let Some(request) = self::request(db, request_id).await? {
            out.push(Notice { request, owner, email, attempts: u32::try_from(attempts).unwrap_or(0) });
        }
    }
    Ok(out)
}

/// Which notices: e-mails to owners, or pushes to their browsers.
#[derive(Clone, Copy)]
pub(crate) enum Notices {
    Email,
    Push,
}

/// What came of sending a notice (the `key` is the owner's account for an e-mail, the browser
/// subscription for a push): sent, or failed with a reason and when to try again (none: give
/// up).
pub(crate) async fn record_notice(
    db: &Db,
    which: Notices,
    request: Uuid,
    key: Uuid,
    outcome: Result<(), (String, Option<DateTime<Utc>>)>,
) -> sqlx::Result<()> {
    let (state, due, error) = match &outcome {
        Ok(()) => ("sent", None, None),
        Err((e, Some(due))) => ("pending", Some(ts(*due)), Some(e.as_str())),
        Err((e, None)) => ("failed", None, Some(e.as_str())),
    };
    let (table, key_column) = match which {
        Notices::Email => ("notices", "owner_id"),
        Notices::Push => ("push_notices", "subscription_id"),
    };
    sqlx::query(db.sql(&format!(
        "UPDATE {table} SET state = ?, attempts = attempts + 1, due_at = COALESCE(?, due_at), error = ?
         WHERE request_id = ? AND {key_column} = ?"
    )))
    .bind(state)
    .bind(due)
    .bind(error)
    .bind(request.to_string())
    .bind(key.to_string())
    .execute(db.pool())
    .await?;
    if state == "sent" && matches!(which, Notices::Email) {
        sqlx::query(db.sql("UPDATE notices SET sent_at = ? WHERE request_id = ? AND owner_id = ?"))
            .bind(ts(now()))
            .bind(request.to_string())
            .bind(key.to_string())
            .execute(db.pool())
            .await?;
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PushSubscription {
    pub id: Uuid,
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
}

/// How many browsers an account has registered.
pub(crate) async fn push_subscription_count(db: &Db, account: Uuid) -> sqlx::Result<i64> {
    let (n,): (i64,) = sqlx::query_as(db.sql("SELECT COUNT(*) FROM push_subscriptions WHERE account_id = ?"))
        .bind(account.to_string())
        .fetch_one(db.pool())
        .await?;
    Ok(n)
}

/// Register a browser for an account (again: the same endpoint keeps one row, with new keys).
pub(crate) async fn add_push_subscription(
    db: &Db,
    account: Uuid,
    endpoint: &str,
    p256dh: &str,
    auth: &str,
) -> sqlx::Result<Uuid> {
    let (id,): (String,) = sqlx::query_as(
        db.sql("INSERT INTO push_subscriptions (id, account_id, endpoint, p256dh, auth, created_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (account_id, endpoint) DO UPDATE SET p256dh = excluded.p256dh, auth = excluded.auth
         RETURNING id"),
    )
    .bind(Uuid::new_v4().to_string())
    .bind(account.to_string())
    .bind(endpoint)
    .bind(p256dh)
    .bind(auth)
    .bind(ts(now()))
    .fetch_one(db.pool())
    .await?;
    Ok(Uuid::parse_str(&id).unwrap_or_default())
}

pub(crate) async fn delete_push_subscription(db: &Db, account: Option<Uuid>, id: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query(
        db.sql("DELETE FROM push_subscriptions WHERE id = ?1 AND (?2 IS NULL OR account_id = ?2)"),
    )
    .bind(id.to_string())
    .bind(account.map(|a| a.to_string()))
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Push notices due at `now`, leased until `until`.
pub(crate) async fn take_push_notices(
    db: &Db,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> sqlx::Result<Vec<(Request, PushSubscription, u32)>> {
    let mut tx = db.write().await?;
    let rows: Vec<(String, String, String, String, String, i64)> = sqlx::query_as(
        db.sql("UPDATE push_notices SET due_at = ?1 WHERE rowid IN (
             SELECT rowid FROM push_notices WHERE state = 'pending' AND due_at <= ?2 ORDER BY due_at LIMIT 100)
         RETURNING request_id, subscription_id,
             (SELECT endpoint FROM push_subscriptions WHERE id = subscription_id),
             (SELECT p256dh FROM push_subscriptions WHERE id = subscription_id),
             (SELECT auth FROM push_subscriptions WHERE id = subscription_id), attempts"),
    )
    .bind(ts(until))
    .bind(ts(now))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut out = Vec::new();
    for (request, subscription, endpoint, p256dh, auth, attempts) in rows {
        let (Ok(request_id), Ok(id)) = (Uuid::parse_str(&request), Uuid::parse_str(&subscription)) else {
            continue;
        };
        if let Some(request) = self::request(db, request_id).await? {
            let subscription = PushSubscription { id, endpoint, p256dh, auth };
            out.push((request, subscription, u32::try_from(attempts).unwrap_or(0)));
        }
    }
    Ok(out)
}
