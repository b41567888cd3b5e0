//! The SQL database underneath: embedded SQLite (a file in the data folder, the default) or
//! PostgreSQL (a server several processes share), behind one pool type.
//!
//! The store, the portal and the transparency log each write their SQL once, in the common
//! subset of the two dialects (SQLite 3.45 and PostgreSQL 15 both take `$1` placeholders,
//! `ON CONFLICT`, `RETURNING`, `UPDATE ... FROM` and JSON's `->` and `->>`). What differs is
//! named in the SQL by a few markers that [`Db::sql`] turns into each dialect:
//!
//! | marker | SQLite | PostgreSQL |
//! |---|---|---|
//! | `each_text(?1, t)` | `json_each(?1) AS t` | `json_array_elements_text($1::json) AS t(value)` |
//! | `each_int(?1, t)` | `json_each(?1) AS t` | the elements as `bigint`, as `t(value)` |
//! | `each_row(?1, t)` | `json_each(?1) AS t` | `json_array_elements($1::json) AS t(value)` |
//! | `each_rowb(?1, t)` | `jsonb_each(?1) AS t` | as `each_row` |
//! | `agg_json(x)` | `json_group_array(x)` | `coalesce(json_agg(x), '[]')::text` |
//! | `json_obj(...)` | `json_object(...)` | `json_build_object(...)` |
//! | `json_arr(...)` | `json_array(...)` | `json_build_array(...)` |
//! | `any_text(c, ?1)` | `c IN (SELECT value FROM json_each(?1))` | `c = ANY(ARRAY(SELECT json_array_elements_text($1::json)))` |
//! | `any_int(c, ?1)` | as `any_text` | the elements as `bigint` |
//!
//! (PostgreSQL plans `= ANY(ARRAY(...))` as an index scan however little it knows of the
//! table; `IN (SELECT ... FROM json_array_elements_text(...))` on a table not yet analyzed
//! became a scan of the whole table for each element.)
//!
//! Each table is a JSON array bound as one text value: one bound value for a whole batch,
//! which in SQLite costs far less than a value bound per row. `->>` answers text in
//! PostgreSQL, so SQL that needs a number from it says `CAST(x ->> 0 AS BIGINT)` (or `DOUBLE
//! PRECISION`), which SQLite takes too. Placeholders may be written `?` or `?1`; for
//! PostgreSQL they become `$n` by SQLite's own numbering rule.
//!
//! Each part keeps its tables in its own place: its own file in the data folder, or its own
//! schema of the PostgreSQL database (so each has its own migrations table).

use std::{path::Path, time::Duration};

use sqlx::{
    AssertSqlSafe, Connection, Executor,
    any::{AnyConnectOptions, AnyPoolOptions},
    migrate::Migrator,
};

pub use sqlx::{Any, AnyConnection, AnyPool, Transaction};

#[cfg(feature = "testing")]
pub mod testing;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot create the data folder {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error(
        "unsupported database URL {0:?}: give postgres://... (or leave it out for SQLite in the data folder)"
    )]
    Url(String),
    #[error("{0} copies SQLite databases only; back up PostgreSQL with pg_dump")]
    NotSqlite(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where the parts keep their tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file per part in this folder.
    Dir(std::path::PathBuf),
    /// A schema per part in this PostgreSQL database.
    Postgres(String),
}

impl Location {
    /// The data folder's SQLite files, or the PostgreSQL database at `url` if one is given.
    pub fn new(data_dir: &Path, url: Option<&str>) -> Result<Self, DbError> {
        match url {
            None => Ok(Self::Dir(data_dir.to_path_buf())),
            Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
                Ok(Self::Postgres(u.to_owned()))
            }
            Some(u) => Err(DbError::Url(u.to_owned())),
        }
    }
}

/// How a part opens its database.
#[derive(Debug, Clone, Copy)]
pub struct Part {
    /// Its SQLite file's name in the data folder.
    pub file: &'static str,
    /// Its schema in PostgreSQL.
    pub schema: &'static str,
    /// SQLite pragmas beyond the common ones (WAL, synchronous=NORMAL, foreign keys, a busy
    /// timeout), run on each new connection.
    pub pragmas: &'static [(&'static str, &'static str)],
    pub sqlite_migrations: &'static Migrator,
    pub postgres_migrations: &'static Migrator,
}

/// A pool on one part's tables, and the dialect it speaks.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

/// The advisory lock every PostgreSQL write transaction takes first: writes follow one
/// another, as in SQLite, so a read-then-write (the next version of an incident, the next
/// policy version) sees every write before it. Claims of queued work take rows with `FOR UPDATE
/// SKIP LOCKED` instead and do not wait for it.
const WRITE_LOCK: i64 = 0x706f_7263_686c;

impl Db {
    /// Open (creating if needed) a part's database and bring its schema up to date.
    pub async fn open(location: &Location, part: &Part) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let db = match location {
            Location::Dir(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|source| DbError::DataDir { path: dir.display().to_string(), source })?;
                let file = dir.join(part.file);
                let url = format!("sqlite://{}?mode=rwc", file.display());
                let options: AnyConnectOptions = url.parse()?;
                let pragmas = part.pragmas;
                // WAL is kept by the file; the rest holds per connection.
                let mut first = sqlx::AnyConnection::connect_with(&options).await?;
                first.execute("PRAGMA journal_mode = WAL").await?;
                first.close().await?;
                let pool = AnyPoolOptions::new()
                    .max_connections(4)
                    .after_connect(move |conn, _| {
                        Box::pin(async move {
                            let mut sql = String::from(
                                "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                            );
                            for (name, value) in pragmas {
                                sql.push_str(&format!(" PRAGMA {name} = {value};"));
                            }
                            conn.execute(AssertSqlSafe(sql)).await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?;
                Self { pool, backend: Backend::Sqlite }
            }
            Location::Postgres(url) => {
                let options: AnyConnectOptions = url.parse()?;
                let schema = part.schema;
                {
                    let mut conn = sqlx::AnyConnection::connect_with(&options).await?;
                    // Two processes starting at once may both try: one wins, the other finds it.
                    let made =
                        conn.execute(AssertSqlSafe(format!("CREATE SCHEMA IF NOT EXISTS {schema}"))).await;
                    if let Err(e) = made {
                        tracing::debug!(error = %e, schema, "schema made by another process");
                    }
                    conn.close().await?;
                }
                let pool = AnyPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(30))
                    .after_connect(move |conn, _| {
                        Box::pin(async move {
                            // Plan each statement for its values: a plan made once for a prepared
                            // statement while a table was small (a new deployment, a fresh
                            // test) keeps scanning it whole after it has grown.
                            conn.execute(AssertSqlSafe(format!(
                                "SET search_path TO {schema}; SET plan_cache_mode = force_custom_plan"
                            )))
                            .await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?;
                Self { pool, backend: Backend::Postgres }
            }
        };
        let migrator = match db.backend {
            Backend::Sqlite => part.sqlite_migrations,
            Backend::Postgres => part.postgres_migrations,
        };
        migrator.run(&db.pool).await?;
        Ok(db)
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// `sql` in this database's dialect (see the crate's notes for the markers it turns).
    pub fn sql(&self, sql: &str) -> AssertSqlSafe<String> {
        AssertSqlSafe(translate(self.backend, sql))
    }

    /// A transaction for writing, which waits for the writer before it: SQLite's write lock
    /// taken at once (a deferred transaction that reads and then writes would fail with "database
    /// is locked" if another connection wrote in between), PostgreSQL's [`WRITE_LOCK`].
    pub async fn write(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => {
                let mut tx = self.pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(WRITE_LOCK).execute(&mut *tx).await?;
                Ok(tx)
            }
        }
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Copy this SQLite database, as it stands at one moment, into a new file (`VACUUM INTO`:
    /// online, while others read and write; the copy is compact and holds no write-ahead
    /// log). The file must not exist.
    pub async fn backup_into(&self, file: &Path) -> Result<(), DbError> {
        if self.backend != Backend::Sqlite {
            return Err(DbError::NotSqlite("a backup"));
        }
        sqlx::query("VACUUM INTO ?").bind(file.display().to_string()).execute(&self.pool).await?;
        Ok(())
    }
}

/// A double that may be NULL, to bind. sqlx 0.9's `Any` driver binds `None::<f64>` as a NULL
/// `float4` (it swaps the two float widths for NULLs), and PostgreSQL then keeps the statement
/// prepared for a `float4`, failing the next execution that binds a number; this binds NULL
/// as a `float8`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Real(pub Option<f64>);

impl sqlx::Type<Any> for Real {
    fn type_info() -> sqlx::any::AnyTypeInfo {
        <f64 as sqlx::Type<Any>>::type_info()
    }
}

impl sqlx::Encode<'_, Any> for Real {
    fn encode_by_ref(
        &self,
        buf: &mut <Any as sqlx::Database>::ArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        match self.0 {
            Some(v) => <f64 as sqlx::Encode<Any>>::encode_by_ref(&v, buf),
            // A NULL of the narrow kind, which the driver turns into a NULL double.
            None => <Option<f32> as sqlx::Encode<Any>>::encode_by_ref(&None, buf),
        }
    }
}

/// The markers [`translate`] turns, each followed by `(`.
const MARKERS: [&str; 9] = [
    "each_text",
    "each_int",
    "each_rowb",
    "each_row",
    "agg_json",
    "json_obj",
    "json_arr",
    "any_text",
    "any_int",
];

/// `sql` in `backend`'s dialect.
pub fn translate(backend: Backend, sql: &str) -> String {
    let marked = expand_markers(backend, sql);
    match backend {
        Backend::Sqlite => marked,
        Backend::Postgres => number_placeholders(&marked),
    }
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The index of the `)` closing the `(` at `open`, skipping quoted text.
fn closing(sql: &str, open: usize) -> usize {
    let bytes = sql.as_bytes();
    let (mut depth, mut i, mut quote) = (0usize, open, None);
    while i < bytes.len() {
        let c = bytes[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                b'\'' | b'"' => quote = Some(c),
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        return i;
                    }
                }
                _ => {}
            },
        }
        i += 1;
    }
    panic!("unbalanced parentheses in SQL: {sql}");
}

fn expand_markers(backend: Backend, sql: &str) -> String {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() + 64);
    let mut i = 0;
    let mut quote = None;
    'scan: while i < bytes.len() {
        let c = bytes[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'\'' || c == b'"' => quote = Some(c),
            None if i == 0 || !is_word(bytes[i - 1]) => {
                for marker in MARKERS {
                    let open = i + marker.len();
                    if sql[i..].starts_with(marker) && bytes.get(open) == Some(&b'(') {
                        let close = closing(sql, open);
                        let inner = expand_markers(backend, &sql[open + 1..close]);
                        out.push_str(&marker_sql(backend, marker, &inner));
                        i = close + 1;
                        continue 'scan;
                    }
                }
            }
            None => {}
        }
        out.push(char::from(c));
        if !c.is_ascii() {
            // Copy the rest of a multi-byte character as it is.
            let len = sql[i..].chars().next().map_or(1, char::len_utf8);
            out.pop();
            out.push_str(&sql[i..i + len]);
            i += len;
            continue;
        }
        i += 1;
    }
    out
}

fn marker_sql(backend: Backend, marker: &str, inner: &str) -> String {
    let table = || {
        let (arg, alias) =
            inner.rsplit_once(',').unwrap_or_else(|| panic!("{marker}(a, b) needs two arguments: {inner}"));
        (arg.trim().to_owned(), alias.trim().to_owned())
    };
    match (backend, marker) {
        (Backend::Sqlite, "each_rowb") => {
            let (arg, alias) = table();
            format!("jsonb_each({arg}) AS {alias}")
        }
        (Backend::Sqlite, "each_text" | "each_int" | "each_row") => {
            let (arg, alias) = table();
            format!("json_each({arg}) AS {alias}")
        }
        (Backend::Postgres, "each_text") => {
            let (arg, alias) = table();
            format!("json_array_elements_text({arg}::json) AS {alias}(value)")
        }
        (Backend::Postgres, "each_int") => {
            let (arg, alias) = table();
            format!(
                "(SELECT CAST(e.v AS BIGINT) AS value FROM json_array_elements_text({arg}::json) AS e(v)) AS {alias}"
            )
        }
        (Backend::Postgres, "each_row" | "each_rowb") => {
            let (arg, alias) = table();
            format!("json_array_elements({arg}::json) AS {alias}(value)")
        }
        (Backend::Sqlite, "agg_json") => format!("json_group_array({inner})"),
        (Backend::Postgres, "agg_json") => format!("coalesce(json_agg({inner}), '[]'::json)::text"),
        (Backend::Sqlite, "json_obj") => format!("json_object({inner})"),
        (Backend::Postgres, "json_obj") => format!("json_build_object({inner})"),
        (Backend::Sqlite, "any_text" | "any_int") => {
            let (column, arg) = table();
            format!("{column} IN (SELECT value FROM json_each({arg}))")
        }
        (Backend::Postgres, "any_text") => {
            let (column, arg) = table();
            format!("{column} = ANY(ARRAY(SELECT json_array_elements_text({arg}::json)))")
        }
        (Backend::Postgres, "any_int") => {
            let (column, arg) = table();
            format!("{column} = ANY(ARRAY(SELECT CAST(json_array_elements_text({arg}::json) AS BIGINT)))")
        }
        (Backend::Sqlite, "json_arr") => format!("json_array({inner})"),
        (Backend::Postgres, "json_arr") => format!("json_build_array({inner})"),
        _ => unreachable!("a marker of MARKERS"),
    }
}

/// `?` and `?N` as `$N`, numbered as SQLite numbers them (a bare `?` is one more than the
/// largest number before it).
fn number_placeholders(sql: &str) -> String {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() + 16);
    let (mut largest, mut quote, mut start, mut i) = (0u32, None, 0, 0);
    while i < bytes.len() {
        let c = bytes[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'\'' || c == b'"' => quote = Some(c),
            None if c == b'?' => {
                let digits = bytes[i + 1..].iter().take_while(|d| d.is_ascii_digit()).count();
                let n = if digits == 0 {
                    largest + 1
                } else {
                    sql[i + 1..i + 1 + digits].parse().expect("digits")
                };
                largest = largest.max(n);
                out.push_str(&sql[start..i]);
                out.push_str(&format!("${n}"));
                i += 1 + digits;
                start = i;
                continue;
            }
            None => {}
        }
        i += 1;
    }
    out.push_str(&sql[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_as_sqlite_numbers_them() {
        assert_eq!(
            number_placeholders("SELECT ? , ?, ?5, ?, '?' FROM t WHERE a = ?2"),
            "SELECT $1 , $2, $5, $6, '?' FROM t WHERE a = $2"
        );
    }

    #[test]
    fn markers_turn_into_each_dialect() {
        let sql = "SELECT agg_json(json_obj('a', x.value->>0)) FROM each_row(?1, x) WHERE y IN \
                   (SELECT value FROM each_int(?, k)) AND 'each_text(' = z";
        assert_eq!(
            translate(Backend::Sqlite, sql),
            "SELECT json_group_array(json_object('a', x.value->>0)) FROM json_each(?1) AS x WHERE y IN \
             (SELECT value FROM json_each(?) AS k) AND 'each_text(' = z"
        );
        assert_eq!(
            translate(Backend::Postgres, sql),
            "SELECT coalesce(json_agg(json_build_object('a', x.value->>0)), '[]'::json)::text FROM \
             json_array_elements($1::json) AS x(value) WHERE y IN (SELECT value FROM (SELECT CAST(e.v AS BIGINT) \
             AS value FROM json_array_elements_text($2::json) AS e(v)) AS k) AND 'each_text(' = z"
        );
    }

    #[test]
    fn lists_to_look_up_become_an_array_in_postgresql() {
        let sql = "DELETE FROM t WHERE any_int(t.id, ?1) AND any_text(name, ?2)";
        assert_eq!(
            translate(Backend::Sqlite, sql),
            "DELETE FROM t WHERE t.id IN (SELECT value FROM json_each(?1)) AND name IN (SELECT value FROM json_each(?2))"
        );
        assert_eq!(
            translate(Backend::Postgres, sql),
            "DELETE FROM t WHERE t.id = ANY(ARRAY(SELECT CAST(json_array_elements_text($1::json) AS BIGINT))) \
             AND name = ANY(ARRAY(SELECT json_array_elements_text($2::json)))"
        );
    }

    #[test]
    fn text_beyond_ascii_is_kept() {
        assert_eq!(translate(Backend::Postgres, "SELECT 'café ½' , ?"), "SELECT 'café ½' , $1");
    }
}
