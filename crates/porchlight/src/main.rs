//! `porchlight`: one binary that wires feeds, privacy, store, alerts and the HTTP API.

mod audit;
mod backup;
mod check;
mod delivery;
mod demo;
mod export;
mod gazetteer;
mod geocoder;
mod ingest;
mod metrics;
mod policy;
mod poll;
mod portal;
mod push;
mod scrubber;
mod server;
mod transparency;
mod volume;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

/// Porchlight publishes 911 dispatch calls as privacy-first public alerts.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a demo: a fresh database, a real city's calls replayed live, and a demo subscriber.
    Demo(demo::DemoArgs),
    /// Serve the HTTP API and deliver alerts from an existing data folder.
    Serve(Box<ServeArgs>),
    /// Import a CSV file through an agency's mapping file, with a summary of every row's outcome.
    Import(ingest::ImportArgs),
    /// Check a feed's data against its mapping and a policy without storing anything.
    #[command(subcommand)]
    Feeds(check::FeedsCommand),
    /// Manage an agency: add it with its mapping file, and signing keys for pushes from its
    /// dispatch centre.
    #[command(subcommand)]
    Agency(push::AgencyCommand),
    /// Measure alerts: how many a resident would get from a city's calls.
    #[command(subcommand)]
    Alerts(volume::AlertsCommand),
    /// Set or show an agency's privacy policy.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// The video-request portal: its first platform administrator.
    #[command(subcommand)]
    Portal(portal::PortalCommand),
    /// Write the published incidents to CSV for research, with each row's policy version.
    Export(export::ExportArgs),
    /// An agency's gazetteer: points of its blocks and intersections, to place calls that come
    /// without coordinates.
    #[command(subcommand)]
    Gazetteer(gazetteer::GazetteerCommand),
    /// Check a Porchlight transparency log from the outside, or print this one's public key.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Copy a data folder (its databases, the log's signing key, the clips), consistent, while
    /// the server runs.
    Backup(backup::BackupArgs),
    /// Make a fresh data folder from a backup, after checking every file against its manifest.
    Restore(backup::RestoreArgs),
}

/// Where the database lives.
#[derive(Args, Clone)]
struct DataDir {
    /// The data folder (created if missing).
    #[arg(long = "data-dir", env = "PORCHLIGHT_DATA_DIR", default_value = "porchlight-data")]
    path: PathBuf,
    /// Keep the store in this PostgreSQL database (postgres://user@host/db) instead of SQLite
    /// in the data folder, so that several processes can share it.
    #[arg(long = "database-url", env = "PORCHLIGHT_DATABASE_URL")]
    database_url: Option<String>,
}

impl DataDir {
    fn location(&self) -> anyhow::Result<porchlight_store::Location> {
        Ok(porchlight_store::Location::new(&self.path, self.database_url.as_deref())?)
    }

    /// Open the store: its SQLite file in the data folder, or the PostgreSQL database.
    async fn store(&self) -> anyhow::Result<porchlight_store::Store> {
        let location = self.location()?;
        porchlight_store::Store::connect(&location).await.with_context(|| match &location {
            porchlight_store::Location::Dir(dir) => format!("opening the data folder {}", dir.display()),
            porchlight_store::Location::Postgres(_) => "opening the PostgreSQL database".to_owned(),
        })
    }
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    data: DataDir,
    /// The TCP port to listen on; 0 picks a free one.
    #[arg(long, env = "PORCHLIGHT_PORT", default_value_t = 8080)]
    port: u16,
    /// The address to listen on.
    #[arg(long, env = "PORCHLIGHT_HOST", default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    #[command(flatten)]
    delivery: delivery::DeliveryArgs,
    #[command(flatten)]
    geocoder: geocoder::GeocoderArgs,
    /// Where the portal keeps clips: `s3://bucket[/prefix]` (credentials, region and endpoint
    /// from the usual AWS_* variables; AWS_ENDPOINT and AWS_ALLOW_HTTP=true for an
    /// S3-compatible server) or `file:///path`; default DATA_DIR/clips.
    #[arg(long, env = "PORCHLIGHT_CLIP_STORE")]
    clip_store: Option<String>,
    /// The transparency log's Ed25519 signing key: a file holding the base64 of its 32-byte
    /// seed. Default DATA_DIR/log-signing.key, made on first start. A new key is the log's
    /// next entry.
    #[arg(long, env = "PORCHLIGHT_LOG_KEY")]
    log_key: Option<PathBuf>,
    /// A map tile server for the web app's maps, as a URL template
    /// (`https://tiles.example.org/{z}/{x}/{y}.png`); without one the maps draw a plain
    /// basemap and nothing is fetched from elsewhere.
    #[arg(long, env = "PORCHLIGHT_MAP_TILES")]
    map_tiles: Option<String>,
    /// The attribution the tile server asks for, shown on the maps.
    #[arg(long, env = "PORCHLIGHT_MAP_ATTRIBUTION", requires = "map_tiles")]
    map_attribution: Option<String>,
    /// What this process does, comma-separated: api, ingest, matcher, delivery (all by
    /// default). Several processes sharing a PostgreSQL store (--database-url) split them;
    /// exactly one should have ingest.
    #[arg(
        long,
        env = "PORCHLIGHT_ROLES",
        value_enum,
        value_delimiter = ',',
        default_value = "api,ingest,matcher,delivery"
    )]
    roles: Vec<server::Role>,
    #[command(flatten)]
    bus: server::BusArgs,
    #[command(flatten)]
    limits: server::LimitArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PORCHLIGHT_LOG")
                .unwrap_or_else(|_| "info,sqlx=warn,tower_http=warn".into()),
        )
        .init();
    match Cli::parse().command {
        Command::Demo(args) => demo::run(args).await,
        Command::Serve(args) => {
            let store = args.data.store().await?;
            let mut portal = porchlight_portal::Portal::connect(&args.data.path, &args.data.location()?)
                .await
                .context("opening the portal's database")?;
            if let Some(url) = &args.clip_store {
                let aws = std::env::vars()
                    .filter(|(k, _)| k.starts_with("AWS_"))
                    .map(|(k, v)| (k.to_lowercase(), v));
                portal = portal.with_clip_store_url(url, aws).context("the clip store")?;
            }
            let ledger =
                transparency::open(&args.data.path, &args.data.location()?, args.log_key.as_deref()).await?;
            let web = porchlight_web::WebConfig { tiles: args.map_tiles, attribution: args.map_attribution };
            let server = server::start(
                server::Parts { store, portal, ledger },
                web,
                (args.host, args.port).into(),
                &args.delivery,
                args.geocoder.build()?,
                &server::Layout { roles: args.roles, bus: args.bus, limits: args.limits },
            )
            .await?;
            println!("listening on {}", server.url);
            server.wait().await
        }
        Command::Import(args) => ingest::import(args).await,
        Command::Policy(command) => policy::run(command).await,
        Command::Feeds(command) => check::run(command),
        Command::Alerts(command) => volume::run(command),
        Command::Agency(command) => push::run(command).await,
        Command::Portal(command) => portal::run(command).await,
        Command::Audit(command) => audit::run(command).await,
        Command::Export(args) => export::run(args).await,
        Command::Backup(args) => backup::backup(args).await,
        Command::Restore(args) => backup::restore(args).await,
        Command::Gazetteer(command) => gazetteer::run(command).await,
    }
}
