//! Starting the HTTP server, the alert worker, the delivery sender, the retention sweeper, the
//! feed pollers and the transparency log's feeder together, and stopping them on Ctrl-C.

use std::{net::SocketAddr, time::Duration};

use anyhow::Context;
use porchlight_alerts::Alerts;
use porchlight_http::AppState;
use porchlight_store::Store;

use crate::delivery::DeliveryArgs;
use tokio::task::JoinHandle;

pub struct Server {
    pub url: String,
    pub alerts: Alerts,
    http: JoinHandle<std::io::Result<()>>,
    /// The background tasks of its roles.
    tasks: Vec<JoinHandle<()>>,
}

/// What a `serve` process does. One process does everything by default; a deployment of
/// several processes sharing a PostgreSQL store gives each its share (see DEPLOYMENT.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// The HTTP API, pushes from dispatch centres, the portal, the web app and the log's
    /// routes. Without it a process serves only /metrics.
    Api,
    /// The duties done once for the whole deployment: polling the agencies' feeds, deleting
    /// what retention says to, the portal's notices and sweeps, and feeding the transparency
    /// log. Exactly one process should have it.
    Ingest,
    /// The alert worker: claims stored incidents and makes the alerts they are due.
    Matcher,
    /// Sending alerts to webhooks, browsers' push services and e-mail.
    Delivery,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Api, Role::Ingest, Role::Matcher, Role::Delivery];
}

/// The deployment's bus between processes, when it has one (see DEPLOYMENT.md).
#[derive(clap::Args, Debug, Clone)]
pub struct BusArgs {
    /// A NATS server with JetStream (`nats://host:4222`) to carry work between the processes
    /// of a deployment: published incidents to the matchers of their shards, subscription
    /// changes to every matcher, matched alerts to the delivery workers, live alerts to the
    /// API processes. Without one, processes sharing a PostgreSQL store find work by polling
    /// it.
    #[arg(long = "bus", env = "PORCHLIGHT_BUS")]
    pub url: Option<String>,
    /// What the deployment's streams and subjects on the bus are named after.
    #[arg(long, env = "PORCHLIGHT_BUS_NAME", default_value = "porchlight")]
    pub bus_name: String,
    /// How many shards the map is split into on the bus (at most 128); every process of a
    /// deployment must say the same.
    #[arg(long, env = "PORCHLIGHT_SHARD_COUNT", default_value_t = 1)]
    pub shard_count: u32,
    /// The shards a matcher process answers for, comma-separated (all by default).
    #[arg(long, env = "PORCHLIGHT_SHARDS", value_delimiter = ',')]
    pub shards: Vec<u32>,
}

impl Default for BusArgs {
    fn default() -> Self {
        Self { url: None, bus_name: "porchlight".into(), shard_count: 1, shards: Vec::new() }
    }
}

impl BusArgs {
    /// The shards this process's matcher answers for.
    fn shard(&self) -> anyhow::Result<porchlight_core::matcher::Shard> {
        let count = self.shard_count;
        let owned: Vec<u32> = if self.shards.is_empty() { (0..count).collect() } else { self.shards.clone() };
        porchlight_core::matcher::Shard::set(owned.iter().copied(), count).with_context(|| {
            format!(
                "--shards {owned:?} of --shard-count {count}: a shard count is 1 to {}, and each shard \
                 below it",
                porchlight_core::matcher::MAX_SHARDS
            )
        })
    }
}

/// How many requests a client may make (see `porchlight_http::limits`).
#[derive(clap::Args, Debug, Clone)]
pub struct LimitArgs {
    /// Requests a second each client address may make (bursts of twice that); 0 for no limit.
    /// Over it the answer is 429 with Retry-After.
    #[arg(long, env = "PORCHLIGHT_RATE_LIMIT_IP", default_value_t = 100)]
    pub rate_limit_ip: u32,
    /// Requests a second each API token (`Authorization: Bearer`) may make, wherever from;
    /// 0 for no limit.
    #[arg(long, env = "PORCHLIGHT_RATE_LIMIT_TOKEN", default_value_t = 50)]
    pub rate_limit_token: u32,
    /// Behind a reverse proxy: count requests by the address the proxy puts last in
    /// X-Forwarded-For, not by the proxy's own.
    #[arg(long, env = "PORCHLIGHT_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,
    /// Requests answered at once; past it each is shed at once with 503 and Retry-After
    /// instead of waiting until its client gives up.
    #[arg(long, env = "PORCHLIGHT_MAX_IN_FLIGHT", default_value_t = porchlight_http::limits::DEFAULT_IN_FLIGHT)]
    pub max_in_flight: usize,
    /// Subscriptions each client address may make an hour (all at once if it likes); 0 for no
    /// limit. Over it the answer is 429 `too_many_subscriptions` with Retry-After.
    #[arg(long, env = "PORCHLIGHT_SUBSCRIPTIONS_PER_HOUR", default_value_t = porchlight_http::limits::DEFAULT_SUBSCRIPTIONS_PER_HOUR)]
    pub subscriptions_per_hour: u32,
}

impl Default for LimitArgs {
    fn default() -> Self {
        let limits = porchlight_http::limits::Limits::default();
        Self {
            rate_limit_ip: limits.per_ip.map_or(0, |n| n.get()),
            rate_limit_token: limits.per_token.map_or(0, |n| n.get()),
            trust_forwarded_for: false,
            max_in_flight: limits.in_flight,
            subscriptions_per_hour: limits.subscriptions_per_hour.map_or(0, |n| n.get()),
        }
    }
}

impl LimitArgs {
    fn limits(&self) -> porchlight_http::limits::Limits {
        porchlight_http::limits::Limits {
            per_ip: std::num::NonZeroU32::new(self.rate_limit_ip),
            per_token: std::num::NonZeroU32::new(self.rate_limit_token),
            in_flight: self.max_in_flight,
            trust_forwarded_for: self.trust_forwarded_for,
            subscriptions_per_hour: std::num::NonZeroU32::new(self.subscriptions_per_hour),
        }
    }
}

/// What a process does, how it reaches the others, and what it lets clients do.
#[derive(Debug, Clone)]
pub struct Layout {
    pub roles: Vec<Role>,
    pub bus: BusArgs,
    pub limits: LimitArgs,
}

impl Default for Layout {
    fn default() -> Self {
        Self { roles: Role::ALL.to_vec(), bus: BusArgs::default(), limits: LimitArgs::default() }
    }
}

/// How often incidents past their agency's retention are deleted.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Delete incidents that their agency's policy no longer lets stay public, now and then every
/// [`SWEEP_EVERY`].
async fn sweep_expired(store: Store) {
    loop {
        match expire_once(&store).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(incidents = n, "expired incidents deleted"),
            Err(e) => tracing::error!(error = %e, "retention sweep failed; retrying"),
        }
        tokio::time::sleep(SWEEP_EVERY).await;
    }
}

/// Close the portal's stale requests and delete clips past their retention, now and every
/// [`SWEEP_EVERY`].
async fn sweep_portal(portal: porchlight_portal::Portal) {
    loop {
        match portal.sweep(chrono::Utc::now()).await {
            Ok((0, 0)) => {}
            Ok((requests, clips)) => {
                tracing::info!(requests, clips, "stale requests closed, old clips deleted")
            }
            Err(e) => tracing::error!(error = %e, "portal sweep failed; retrying"),
        }
        tokio::time::sleep(SWEEP_EVERY).await;
    }
}

/// Refuse to start on a privacy policy in force that could not be set today: one edited in
/// the database, or stored by an older version with rules since tightened (no publication
/// delay, say). Nothing would be published under it.
async fn refuse_invalid_policies(store: &Store) -> anyhow::Result<()> {
    for agency in store.agencies().await? {
        let id = porchlight_core::agency::AgencyId::parse(&agency.id)?;
        store.policy(&id).await.with_context(|| {
            format!(
                "agency {}: its privacy policy in force is not one Porchlight may apply, so it will not \
                 start; put a valid one in force with `porchlight policy set --agency {}`",
                agency.id, agency.id
            )
        })?;
    }
    Ok(())
}

async fn expire_once(store: &Store) -> anyhow::Result<u64> {
    let mut deleted = 0;
    for agency in store.agencies().await? {
        let id = porchlight_core::agency::AgencyId::parse(&agency.id)?;
        if let Some(retention) = store.policy(&id).await?.and_then(|p| p.retention()) {
            deleted += store.expire_incidents(&id, chrono::Utc::now() - retention).await?;
        }
    }
    Ok(deleted)
}

/// What a server keeps its data in: the store, the portal and the transparency log.
pub struct Parts {
    pub store: Store,
    pub portal: porchlight_portal::Portal,
    pub ledger: porchlight_ledger::Ledger,
}

pub async fn start(
    Parts { store, portal, ledger }: Parts,
    web: porchlight_web::WebConfig,
    addr: SocketAddr,
    delivery: &DeliveryArgs,
    geocoder: Option<std::sync::Arc<crate::geocoder::Geocoder>>,
    layout: &Layout,
) -> anyhow::Result<Server> {
    crate::metrics::install();
    refuse_invalid_policies(&store).await?;
    let has = |role| layout.roles.contains(&role);
    let shard = layout.bus.shard()?;
    let bus = match &layout.bus.url {
        Some(url) => Some(
            porchlight_bus::Bus::connect(url, &layout.bus.bus_name, layout.bus.shard_count)
                .await
                .context("connecting to the bus")?,
        ),
        None => None,
    };
    let lease = delivery.outbox_lease()?;
    // Only an alert worker needs the subscriptions in memory (on a bus, those of its shards).
    let alerts = match (&bus, has(Role::Matcher)) {
        (None, true) => {
            Alerts::load_with_lease(store.clone(), lease).await.context("loading subscriptions")?
        }
        (None, false) => Alerts::without_index(store.clone()),
        (Some(bus), true) => Alerts::load_on_bus(store.clone(), lease, bus.clone(), shard)
            .await
            .context("loading subscriptions")?,
        (Some(bus), false) => Alerts::without_index_on_bus(store.clone(), bus.clone()),
    };
    let mut tasks = Vec::new();
    match &bus {
        None if has(Role::Matcher) => tasks.push(tokio::spawn(alerts.clone().run())),
        None => {}
        Some(_) => {
            if has(Role::Matcher) {
                tasks.push(tokio::spawn(alerts.clone().run_on_bus(shard)));
            }
            // Whoever stores incidents publishes them.
            if has(Role::Api) || has(Role::Ingest) {
                tasks.push(tokio::spawn(alerts.clone().publish()));
            }
        }
    }
    if has(Role::Ingest) {
        tasks.push(tokio::spawn(sweep_expired(store.clone())));
        tasks.extend(
            crate::poll::start_all(&store, &alerts, geocoder.clone())
                .await
                .context("starting the feed pollers")?,
        );
    }
    let listener =
        tokio::net::TcpListener::bind(addr).await.with_context(|| format!("listening on {addr}"))?;
    let url = format!("http://{}", listener.local_addr()?);
    let sender = porchlight_delivery::Sender::new(store.clone(), delivery.config(&url)?)
        .await
        .context("starting delivery to channels")?;
    let push_key = Some(sender.vapid_public_key().to_owned());
    // New live alerts wake the sender at once instead of at its next poll.
    let mut made = alerts.live_made();
    let waker = sender.clone();
    if has(Role::Delivery) {
        let bus = bus.clone();
        tasks.push(tokio::spawn(async move {
            let wake_on_alerts = async {
                while made.changed().await.is_ok() {
                    waker.wake();
                }
                std::future::pending::<()>().await;
            };
            let run = async {
                match bus {
                    Some(bus) => sender.run_on_bus(bus).await,
                    None => sender.run().await,
                }
            };
            tokio::select! {
                () = run => {}
                () = wake_on_alerts => {}
            }
        }));
    }
    let ingestor = crate::push::PushIngestor { store: store.clone(), alerts: alerts.clone(), geocoder };
    let state =
        AppState { store, alerts: alerts.clone(), ingestor: Some(std::sync::Arc::new(ingestor)), push_key };
    let notifier = delivery.portal_notifier(&url)?;
    let push = delivery.portal_push_sender()?;
    let portal_duties = tokio::spawn({
        let portal = portal.clone();
        async move {
            // Notices of approved requests go out by Web Push, and by e-mail when there is an
            // SMTP server.
            let pushes = portal.clone().run_push_notices(push);
            match notifier {
                Some(notifier) => {
                    tokio::join!(sweep_portal(portal.clone()), pushes, portal.run_notices(notifier));
                }
                None => {
                    tokio::join!(sweep_portal(portal), pushes);
                }
            }
        }
    });
    if has(Role::Ingest) {
        tasks.push(portal_duties);
        tasks.push(tokio::spawn(crate::transparency::run(
            ledger.clone(),
            state.store.clone(),
            portal.clone(),
        )));
    } else {
        portal_duties.abort();
    }
    // Live streams served here hear of alerts another process's worker made.
    if has(Role::Api) && bus.is_some() {
        tasks.push(tokio::spawn(alerts.clone().relay_on_bus()));
    } else if has(Role::Api)
        && (!has(Role::Matcher) || state.store.backend() == porchlight_store::Backend::Postgres)
    {
        tasks.push(tokio::spawn(alerts.clone().relay()));
    }
    let metrics = crate::metrics::router(state.store.clone());
    let http = if has(Role::Api) {
        let beside = metrics
            .merge(porchlight_portal::router(portal))
            .merge(porchlight_ledger::api::router(ledger))
            .merge(porchlight_web::router(web).into());
        tokio::spawn(porchlight_http::serve(
            listener,
            state,
            beside,
            layout.limits.limits(),
            shutdown_signal(),
        ))
    } else {
        let (router, _) = metrics.split_for_parts();
        tokio::spawn(
            async move { axum::serve(listener, router).with_graceful_shutdown(shutdown_signal()).await },
        )
    };
    Ok(Server { url, alerts, http, tasks })
}

/// Ctrl-C or SIGTERM. Live streams never end by themselves, so after the signal the server
/// gets a moment to finish ordinary requests and then the process exits.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down");
    tokio::spawn(async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        std::process::exit(0);
    });
}

impl Server {
    /// Run until the server stops.
    pub async fn wait(self) -> anyhow::Result<()> {
        let result = self.http.await.context("server task")?;
        for task in &self.tasks {
            task.abort();
        }
        result.context("serving HTTP")
    }
}
