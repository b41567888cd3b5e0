//! Databases for tests: every test that touches a store runs once on SQLite and once on
//! PostgreSQL, each time in a database of its own.
//!
//! PostgreSQL is the server named by `PORCHLIGHT_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`, the one `.ci/run` starts); each test gets a fresh
//! database made there and dropped when the test is done.

use std::path::Path;

use sqlx::{AssertSqlSafe, Connection, Executor};

use crate::{Backend, Location};

/// The server tests make their PostgreSQL databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("PORCHLIGHT_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Both backends, SQLite first.
pub fn backends() -> [Backend; 2] {
    [Backend::Sqlite, Backend::Postgres]
}

/// A fresh PostgreSQL database, dropped (connections and all) when this is dropped.
#[derive(Debug)]
pub struct TempDatabase {
    url: String,
    name: String,
}

impl TempDatabase {
    pub async fn new() -> Self {
        let admin = postgres_admin_url();
        let name = format!("porchlight_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("tests need PostgreSQL at {admin} (PORCHLIGHT_TEST_POSTGRES): {e}"));
        conn.execute(AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.expect("create a test database");
        conn.close().await.ok();
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base);
        Self { url: format!("{base}/{name}"), name }
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Its own thread and runtime: a test's runtime may be shutting down.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
            rt.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&postgres_admin_url()).await?;
                conn.execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).await?;
                conn.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}

/// Where a test keeps its tables: SQLite files in its own folder, or its own PostgreSQL
/// database. Holds the PostgreSQL database until dropped.
#[derive(Debug)]
pub struct TestLocation {
    pub backend: Backend,
    pub location: Location,
    database: Option<TempDatabase>,
}

impl TestLocation {
    pub async fn new(backend: Backend, data_dir: &Path) -> Self {
        match backend {
            Backend::Sqlite => {
                Self { backend, location: Location::Dir(data_dir.to_path_buf()), database: None }
            }
            Backend::Postgres => {
                let database = TempDatabase::new().await;
                Self {
                    backend,
                    location: Location::Postgres(database.url().to_owned()),
                    database: Some(database),
                }
            }
        }
    }

    /// The `--database-url` to give the binary, if any.
    pub fn database_url(&self) -> Option<&str> {
        self.database.as_ref().map(TempDatabase::url)
    }
}

/// A test run twice, once on each backend, as two tests (`name::sqlite` and `name::postgres`):
///
/// ```ignore
/// porchlight_db::test_on_both! {
///     #[tokio::test]
///     /// What it shows.
///     async fn name(backend) {
///         let location = TestLocation::new(backend, dir.path()).await;
///         ...
///     }
/// }
/// ```
#[macro_export]
macro_rules! test_on_both {
    ($(#[$test:meta])+ async fn $name:ident($backend:ident) $body:block $($rest:tt)*) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run($backend: $crate::Backend) $body
            $(#[$test])+
            async fn sqlite() {
                run($crate::Backend::Sqlite).await
            }
            $(#[$test])+
            async fn postgres() {
                run($crate::Backend::Postgres).await
            }
        }
        $crate::test_on_both! { $($rest)* }
    };
    () => {};
}
