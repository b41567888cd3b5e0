//! The demo: a fresh data folder, the sample agency, the server, a demo subscriber, and a real
//! city's calls replayed as if they were arriving now.

use std::{path::PathBuf, time::Duration};

use anyhow::{Context, bail};
use chrono::Utc;
use clap::Args;
use porchlight_core::{geo::Point, subscription::Subscription};
use porchlight_feeds::Mapping;
use porchlight_store::{DATABASE_FILE, Store};

use crate::{
    ingest::{Ingest, Summary},
    server,
};

/// The sample agency: Milwaukee's calls for service of May 2018, shipped in the binary.
const MAPPING: &str = include_str!("../../../examples/milwaukee.toml");
const CALLS: &[u8] = include_bytes!("../../../examples/data/milwaukee-cfs/data.csv");

/// The demo subscriber: 2 km around a busy part of Milwaukee's north side.
const DEMO_POINT: (f64, f64) = (43.07, -87.95);
const DEMO_RADIUS_M: f64 = 2000.0;
/// Quiet stretches in the replay are cut to this much simulated time.
const MAX_GAP: Duration = Duration::from_secs(600);

#[derive(Args)]
pub struct DemoArgs {
    /// The data folder; must not hold a database yet. By default a new folder in the system's
    /// temporary directory.
    #[arg(long = "data-dir", env = "PORCHLIGHT_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The TCP port on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Replay speed: 60 plays one minute of the city's calls per second.
    #[arg(long, default_value_t = 60.0)]
    speed: f64,
    /// How many calls to replay, from the start of the sample.
    #[arg(long, default_value_t = 3000)]
    limit: usize,
    /// Stop when the replay is done, instead of serving until Ctrl-C.
    #[arg(long)]
    exit_when_done: bool,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    if !(args.speed.is_finite() && args.speed > 0.0) {
        bail!("--speed must be a positive number");
    }
    let data_dir = args.data_dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("porchlight-demo-{}", Utc::now().format("%Y%m%d-%H%M%S")))
    });
    if data_dir.join(DATABASE_FILE).exists() {
        bail!(
            "{} already holds a Porchlight database; the demo needs a fresh folder (serve that one with `porchlight serve --data-dir {}`)",
            data_dir.display(),
            data_dir.display()
        );
    }
    let mapping = Mapping::parse(MAPPING).context("the built-in Milwaukee mapping")?;
    let store = Store::open(&data_dir).await.with_context(|| format!("creating {}", data_dir.display()))?;
    store.upsert_agency(mapping.agency(), mapping.agency_name(), mapping.time_zone().name()).await?;
    store.set_agency_mapping(mapping.agency(), MAPPING).await?;
    let portal = porchlight_portal::Portal::open(&data_dir).await.context("opening the portal's database")?;

    let ledger =
        crate::transparency::open(&data_dir, &porchlight_store::Location::Dir(data_dir.clone()), None)
            .await?;
    let web = porchlight_web::WebConfig::default();
    let server = server::start(
        server::Parts { store: store.clone(), portal, ledger },
        web,
        ([127, 0, 0, 1], args.port).into(),
        &Default::default(),
        None,
        &server::Layout::default(),
    )
    .await?;
    let subscriber = Subscription::new(
        Point::new(DEMO_POINT.0, DEMO_POINT.1)?,
        DEMO_RADIUS_M,
        Default::default(),
        Utc::now(),
    )?;
    server.alerts.subscribe(subscriber.clone()).await?;

    // Read the sample, then replay it in the order the calls came in.
    let mut summary = Summary::default();
    let mut records = Vec::new();
    for item in mapping.read_csv(CALLS)? {
        match item {
            Ok(r) => records.push(r),
            Err(p) => summary.reject(&p),
        }
    }
    records.sort_by_key(|r| r.received_at);
    records.truncate(args.limit);

    println!("Porchlight demo");
    println!("  data folder  {}", data_dir.display());
    println!("  listening on {}", server.url);
    println!(
        "  subscriber   {} ({} m around {}, {})",
        subscriber.id, DEMO_RADIUS_M, DEMO_POINT.0, DEMO_POINT.1
    );
    println!();
    println!("Open the web app: the map of calls, subscribing, live alerts, transparency:");
    println!("  {}/", server.url);
    println!("  {}/alerts/{}", server.url, subscriber.id);
    println!("Stream the demo subscriber's alerts:");
    println!("  curl -N {}/v1/subscriptions/{}/alerts/stream", server.url, subscriber.id);
    println!("Recent incidents:");
    println!("  curl '{}/v1/incidents?limit=5'", server.url);
    println!("The transparency report, and a check of the public log behind it:");
    println!("  {}/transparency", server.url);
    println!("  porchlight audit verify --url {}", server.url);
    println!();
    println!("Replaying {} Milwaukee calls at {}x ...", records.len(), args.speed);

    let policy = crate::policy::policy_in_force(&store, mapping.agency()).await?;
    let ingest = Ingest::new(store, policy);
    let mut previous = records.first().map(|r| r.received_at);
    for (i, record) in records.into_iter().enumerate() {
        if let Some(prev) = previous {
            let gap = (record.received_at - prev).to_std().unwrap_or_default().min(MAX_GAP);
            tokio::time::sleep(gap.div_f64(args.speed)).await;
        }
        previous = Some(record.received_at);
        ingest.batch(vec![record], &mut summary).await?;
        server.alerts.wake();
        if (i + 1) % 500 == 0 {
            println!("  {} calls replayed", i + 1);
        }
    }
    println!("Replay done.");
    print!("{}", summary.render());
    if args.exit_when_done {
        // Let the worker deliver what the last calls raised before stopping.
        server.alerts.drain().await?;
        return Ok(());
    }
    println!("Still serving on {}; Ctrl-C to stop.", server.url);
    server.wait().await
}
