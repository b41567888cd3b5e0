//! `porchlight export`: the published incidents, for researchers, as CSV with the policy
//! version that published each row. Only what the public API serves is exported: withheld
//! calls are never stored, and nothing is exported before its publication delay.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use porchlight_core::agency::AgencyId;
use porchlight_store::{IncidentQuery, Store};

use crate::DataDir;

#[derive(Args)]
pub struct ExportArgs {
    #[command(flatten)]
    data: DataDir,
    /// Only this agency's incidents.
    #[arg(long)]
    agency: Option<String>,
    /// Only incidents received at or after this time (RFC 3339).
    #[arg(long)]
    since: Option<chrono::DateTime<chrono::FixedOffset>>,
    /// Only incidents received before this time (RFC 3339).
    #[arg(long)]
    until: Option<chrono::DateTime<chrono::FixedOffset>>,
    /// Where to write the CSV; `-` for standard output.
    #[arg(long, default_value = "-")]
    out: PathBuf,
}

/// The columns, in order: the public incident at its latest version.
pub const COLUMNS: [&str; 16] = [
    "id",
    "agency",
    "version",
    "received_at",
    "updated_at",
    "call_type",
    "initial_call_type",
    "category",
    "priority",
    "status",
    "closure",
    "location_kind",
    "location",
    "lat",
    "lon",
    "policy_version",
];

pub async fn run(args: ExportArgs) -> anyhow::Result<()> {
    let store = Store::open(&args.data.path)
        .await
        .with_context(|| format!("opening the data folder {}", args.data.path.display()))?;
    let agency = args.agency.as_deref().map(AgencyId::parse).transpose()?;
    let sink: Box<dyn Write> = if args.out.as_os_str() == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(
            std::fs::File::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?,
        )
    };
    let mut csv = csv::Writer::from_writer(std::io::BufWriter::new(sink));
    csv.write_record(COLUMNS)?;
    let mut query = IncidentQuery {
        agency,
        since: args.since.map(|t| t.to_utc()),
        until: args.until.map(|t| t.to_utc()),
        limit: 1000,
        ..IncidentQuery::default()
    };
    let mut rows = 0u64;
    loop {
        let page = store.incidents(&query).await?;
        let Some(last) = page.last() else { break };
        query.after = Some((last.received_at, last.id));
        for i in &page {
            let (lat, lon) =
                i.point.map(|p| (format!("{:.6}", p.lat()), format!("{:.6}", p.lon()))).unwrap_or_default();
            csv.write_record([
                i.id.to_string(),
                i.agency.clone(),
                i.version.to_string(),
                i.received_at.to_rfc3339(),
                i.updated_at.to_rfc3339(),
                i.call_type.clone(),
                i.initial_call_type.clone(),
                i.category.as_str().to_string(),
                i.priority.clone().unwrap_or_default(),
                i.status.clone().unwrap_or_default(),
                i.closure.map(|c| c.as_str().to_string()).unwrap_or_default(),
                i.location_kind.as_str().to_string(),
                i.location.clone(),
                lat,
                lon,
                i.policy_version.to_string(),
            ])?;
            rows += 1;
        }
    }
    csv.flush()?;
    eprintln!("exported {rows} published incidents");
    Ok(())
}
