//! The portal: the video-request world (DESIGN.md, "A second, separate world"). Accounts and
//! their roles, agencies verified by a platform administrator, web sessions and agencies' API
//! tokens; cameras, requests and clips build on these.
//!
//! It is a world apart from incidents by construction: its own database file (`portal.db`),
//! its own SQL and routes, and no dependency on any crate of the incident world, nor they on
//! it (`tests/architecture.rs`). Inside, the same layering as the rest of Porchlight:
//! `domain` (rules, no IO), `db` (the only SQL), `auth` (who is calling: extractors, so a
//! route cannot forget to check), `api` (the routes and their JSON).

mod api;
mod auth;
pub mod clips;
mod db;
pub mod domain;
mod notices;
mod push;
pub mod request;
pub mod requests_api;

use std::path::Path;

use porchlight_db::{Db, Location, Part};
use sqlx::migrate::Migrator;

pub use api::router;
pub use notices::Notifier;
pub use push::PushSender;

/// The portal's database file, in the data folder beside the incident world's.
pub const DATABASE_FILE: &str = "portal.db";

#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    Db(#[from] porchlight_db::DbError),
    #[error("migrating the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Invalid(#[from] domain::Invalid),
    #[error("{0}")]
    Refused(&'static str),
    #[error("the clip store: {0}")]
    Clips(String),
    #[error("e-mail: {0}")]
    Mail(String),
}

/// The portal's state: its database, the store of its clips, and the key that signs clip
/// links.
#[derive(Clone)]
pub struct Portal {
    pool: Db,
    clips: std::sync::Arc<dyn object_store::ObjectStore>,
    link_key: std::sync::Arc<Vec<u8>>,
    link_lifetime: chrono::Duration,
    vapid: std::sync::Arc<push::Vapid>,
}

impl std::fmt::Debug for Portal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Portal").finish_non_exhaustive()
    }
}

impl Portal {
    /// Open (creating if needed) the portal's database in `data_dir`.
    /// Copy this part's SQLite database, as it stands at one moment, into `file` (which must
    /// not exist), while the server runs: see `porchlight backup`.
    pub async fn backup_into(&self, file: &std::path::Path) -> Result<(), PortalError> {
        Ok(self.pool.backup_into(file).await?)
    }

    pub async fn open(data_dir: &Path) -> Result<Self, PortalError> {
        Self::connect(data_dir, &Location::Dir(data_dir.to_path_buf())).await
    }

    /// Open the portal's tables where `location` says (its own SQLite file, or its own
    /// schema of a PostgreSQL database), its clips in `data_dir/clips` unless
    /// [`Portal::with_clip_store_url`] says otherwise.
    pub async fn connect(data_dir: &Path, location: &Location) -> Result<Self, PortalError> {
        static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");
        static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");
        let part = Part {
            file: DATABASE_FILE,
            schema: "portal",
            pragmas: &[],
            sqlite_migrations: &SQLITE,
            postgres_migrations: &POSTGRES,
        };
        let pool = Db::open(location, &part).await?;
        let folder = data_dir.join("clips");
        std::fs::create_dir_all(&folder).map_err(sqlx::Error::Io)?;
        let clips = object_store::local::LocalFileSystem::new_with_prefix(&folder)
            .map_err(|e| PortalError::Clips(e.to_string()))?;
        let link_key = db::setting_or_insert(&pool, "link_key", auth::new_token().into_bytes()).await?;
        let vapid = std::sync::Arc::new(push::Vapid::load(&pool).await?);
        Ok(Self {
            pool,
            clips: std::sync::Arc::new(clips),
            link_key: std::sync::Arc::new(link_key),
            link_lifetime: chrono::Duration::minutes(clips::LINK_MINUTES),
            vapid,
        })
    }

    /// Keep clips at `url` instead of `DATA_DIR/clips`: `s3://bucket[/prefix]` or
    /// `file:///path`. `options` are object_store's keys (`aws_endpoint`,
    /// `aws_access_key_id`, `aws_secret_access_key`, `aws_region`, `aws_allow_http` for an
    /// S3-compatible server on plain HTTP, …).
    pub fn with_clip_store_url<K: AsRef<str>, V: Into<String>>(
        self,
        url: &str,
        options: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, PortalError> {
        let parsed = url::Url::parse(url).map_err(|e| PortalError::Clips(format!("{url:?}: {e}")))?;
        if !matches!(parsed.scheme(), "s3" | "file") {
            return Err(PortalError::Clips(format!("{url:?}: not an s3:// or file:// URL")));
        }
        if parsed.scheme() == "file" {
            std::fs::create_dir_all(parsed.path()).map_err(sqlx::Error::Io)?;
        }
        let (store, prefix) = object_store::parse_url_opts(&parsed, options)
            .map_err(|e| PortalError::Clips(format!("{url:?}: {e}")))?;
        let store: std::sync::Arc<dyn object_store::ObjectStore> =
            std::sync::Arc::new(object_store::prefix::PrefixStore::new(store, prefix));
        Ok(Self { clips: store, ..self })
    }

    /// Clip download links that work for `lifetime` (15 minutes unless set).
    pub fn with_link_lifetime(self, lifetime: chrono::Duration) -> Self {
        Self { link_lifetime: lifetime, ..self }
    }

    /// What time ends, as of `now`: requests approved longer ago than
    /// [`requests_api::OPEN_DAYS`] close (they leave inboxes and take no more clips), and clips
    /// past their retention are deleted, bytes and all (their records and access log stay).
    /// Returns how many requests closed and clips were deleted.
    pub async fn sweep(&self, now: chrono::DateTime<chrono::Utc>) -> Result<(u64, usize), PortalError> {
        let closed = db::close_requests_approved_before(
            &self.pool,
            now - chrono::Duration::days(requests_api::OPEN_DAYS),
        )
        .await?;
        let due = db::clips_past_retention(&self.pool, now).await?;
        for (id, key) in &due {
            clips::remove(self, key).await?;
            db::mark_clip_deleted(&self.pool, *id).await?;
        }
        Ok((closed, due.len()))
    }

    /// The transparency log's entries written after `seq` (at most `limit`, oldest first),
    /// with their sequence numbers: what the binary copies into the log.
    pub async fn transparency_after(&self, seq: i64, limit: u32) -> Result<Vec<(i64, String)>, PortalError> {
        Ok(db::transparency_after(&self.pool, seq, limit).await?)
    }

    /// Make (or promote) the platform administrator `email`: how an installation gets its
    /// first one, from the command line.
    pub async fn make_platform_admin(
        &self,
        email: &str,
        display_name: &str,
        password: &str,
    ) -> Result<(), PortalError> {
        let email = domain::Email::parse(email)?;
        let name = domain::display_name(display_name)?;
        let hash = domain::hash_password(password)?;
        db::upsert_platform_admin(&self.pool, &email, &name, &hash).await?;
        Ok(())
    }
}
