//! The portal's SQL, in small functions named by intent.

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use sqlx::{FromRow, SqlitePool};
use uuid::Uuid;

use crate::domain::{Email, Role};

pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
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
    pool: &SqlitePool,
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
    let done = sqlx::query(
        "INSERT INTO accounts (id, email, display_name, password_hash, role, created_at)
         VALUES (?, ?, ?, ?, 'resident', ?) ON CONFLICT (email) DO NOTHING",
    )
    .bind(account.id.to_string())
    .bind(&account.email)
    .bind(&account.display_name)
    .bind(password_hash)
    .bind(ts(account.created_at))
    .execute(pool)
    .await?;
    Ok((done.rows_affected() == 1).then_some(account))
}

pub(crate) async fn upsert_platform_admin(
    pool: &SqlitePool,
    email: &Email,
    display_name: &str,
    password_hash: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO accounts (id, email, display_name, password_hash, role, created_at)
         VALUES (?, ?, ?, ?, 'platform_admin', ?)
         ON CONFLICT (email) DO UPDATE SET role = 'platform_admin', agency_id = NULL,
             password_hash = excluded.password_hash, display_name = excluded.display_name",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(email.as_str())
    .bind(display_name)
    .bind(password_hash)
    .bind(ts(now()))
    .execute(pool)
    .await?;
    Ok(())
}

/// The account and its password hash, by address.
pub(crate) async fn account_for_login(
    pool: &SqlitePool,
    email: &Email,
) -> sqlx::Result<Option<(Account, String)>> {
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        account: AccountRow,
        password_hash: String,
    }
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ACCOUNT_COLUMNS}, a.password_hash FROM accounts a WHERE a.email = ?"
    )))
    .bind(email.as_str())
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| (r.account.into(), r.password_hash)))
}

pub(crate) async fn account_by_email(pool: &SqlitePool, email: &Email) -> sqlx::Result<Option<Account>> {
    Ok(account_for_login(pool, email).await?.map(|(a, _)| a))
}

/// Give an account a role (and an agency for officers and agency administrators).
pub(crate) async fn set_role(
    pool: &SqlitePool,
    account: Uuid,
    role: Role,
    agency: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE accounts SET role = ?, agency_id = ? WHERE id = ?")
        .bind(role.as_str())
        .bind(agency)
        .bind(account.to_string())
        .execute(pool)
        .await?;
    Ok(())
}

/// A new session for `account`, expiring at `expires_at`, by the hashes of its tokens.
pub(crate) async fn create_session(
    pool: &SqlitePool,
    account: Uuid,
    token_hash: &[u8],
    csrf_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO sessions (token_hash, account_id, csrf_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(token_hash)
    .bind(account.to_string())
    .bind(csrf_hash)
    .bind(ts(now()))
    .bind(ts(expires_at))
    .execute(pool)
    .await?;
    Ok(())
}

/// The account of a live session, with the hash of its CSRF token.
pub(crate) async fn session(
    pool: &SqlitePool,
    token_hash: &[u8],
) -> sqlx::Result<Option<(Account, Vec<u8>)>> {
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        account: AccountRow,
        csrf_hash: Vec<u8>,
    }
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ACCOUNT_COLUMNS}, s.csrf_hash FROM sessions s JOIN accounts a ON a.id = s.account_id
         WHERE s.token_hash = ? AND s.expires_at > ?"
    )))
    .bind(token_hash)
    .bind(ts(now()))
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| (r.account.into(), r.csrf_hash)))
}

pub(crate) async fn delete_session(pool: &SqlitePool, token_hash: &[u8]) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = ?").bind(token_hash).execute(pool).await?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Agency {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub verified_at: Option<DateTime<Utc>>,
}

pub(crate) async fn create_agency(pool: &SqlitePool, id: &str, name: &str) -> sqlx::Result<Option<Agency>> {
    let agency = Agency { id: id.to_owned(), name: name.to_owned(), created_at: now(), verified_at: None };
    let done =
        sqlx::query("INSERT INTO agencies (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
            .bind(id)
            .bind(name)
            .bind(ts(agency.created_at))
            .execute(pool)
            .await?;
    Ok((done.rows_affected() == 1).then_some(agency))
}

pub(crate) async fn agency(pool: &SqlitePool, id: &str) -> sqlx::Result<Option<Agency>> {
    let row: Option<(String, String, String, Option<String>)> =
        sqlx::query_as("SELECT id, name, created_at, verified_at FROM agencies WHERE id = ?")
            .bind(id)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(id, name, created_at, verified_at)| Agency {
        id,
        name,
        created_at: parse_ts(&created_at),
        verified_at: verified_at.as_deref().map(parse_ts),
    }))
}

pub(crate) async fn verify_agency(pool: &SqlitePool, id: &str, by: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE agencies SET verified_at = COALESCE(verified_at, ?), verified_by = COALESCE(verified_by, ?) WHERE id = ?")
        .bind(ts(now()))
        .bind(by.to_string())
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// An agency's officers and administrators.
pub(crate) async fn agency_members(pool: &SqlitePool, agency: &str) -> sqlx::Result<Vec<Account>> {
    let rows: Vec<AccountRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.agency_id = ? ORDER BY a.email"
    )))
    .bind(agency)
    .fetch_all(pool)
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
    pool: &SqlitePool,
    token: &Token,
    token_hash: &[u8],
    created_by: Uuid,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO api_tokens (id, token_hash, agency_id, created_by, name, scopes, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(token.id.to_string())
    .bind(token_hash)
    .bind(&token.agency_id)
    .bind(created_by.to_string())
    .bind(&token.name)
    .bind(serde_json::to_string(&token.scopes).expect("strings serialize"))
    .bind(ts(now()))
    .bind(ts(token.expires_at))
    .execute(pool)
    .await?;
    Ok(())
}

/// A live, unrevoked token of a verified agency, by its hash.
pub(crate) async fn token(pool: &SqlitePool, token_hash: &[u8]) -> sqlx::Result<Option<Token>> {
    let row: Option<(String, String, String, String, String)> = sqlx::query_as(
        "SELECT t.id, t.agency_id, t.name, t.scopes, t.expires_at FROM api_tokens t
         JOIN agencies g ON g.id = t.agency_id
         WHERE t.token_hash = ? AND t.revoked_at IS NULL AND t.expires_at > ? AND g.verified_at IS NOT NULL",
    )
    .bind(token_hash)
    .bind(ts(now()))
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(id, agency_id, name, scopes, expires_at)| Token {
        id: Uuid::parse_str(&id).unwrap_or_default(),
        agency_id,
        name,
        scopes: serde_json::from_str(&scopes).unwrap_or_default(),
        expires_at: parse_ts(&expires_at),
    }))
}

pub(crate) async fn revoke_token(pool: &SqlitePool, agency: &str, id: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND agency_id = ? AND revoked_at IS NULL",
    )
    .bind(ts(now()))
    .bind(id.to_string())
    .bind(agency)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}
