//! `porchlight export`: the published incidents, for researchers, as CSV or Parquet with the
//! policy version that published each row. Only what the public API serves is exported: withheld
//! calls are never stored, and nothing is exported before its publication delay.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use porchlight_core::agency::AgencyId;
use porchlight_store::IncidentQuery;

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
    /// Where to write it; `-` for standard output (CSV only).
    #[arg(long, default_value = "-")]
    out: PathBuf,
    /// csv, or parquet (typed columns: times as UTC milliseconds, coordinates as doubles).
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    format: Format,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Parquet,
}

/// The Parquet schema: the CSV's columns, typed.
const PARQUET_SCHEMA: &str = "message incident {
    REQUIRED BYTE_ARRAY id (STRING);
    REQUIRED BYTE_ARRAY agency (STRING);
    REQUIRED INT32 version;
    REQUIRED INT64 received_at (TIMESTAMP(MILLIS,true));
    REQUIRED INT64 updated_at (TIMESTAMP(MILLIS,true));
    REQUIRED BYTE_ARRAY call_type (STRING);
    REQUIRED BYTE_ARRAY initial_call_type (STRING);
    REQUIRED BYTE_ARRAY category (STRING);
    OPTIONAL BYTE_ARRAY priority (STRING);
    OPTIONAL BYTE_ARRAY status (STRING);
    OPTIONAL BYTE_ARRAY closure (STRING);
    REQUIRED BYTE_ARRAY location_kind (STRING);
    REQUIRED BYTE_ARRAY location (STRING);
    OPTIONAL DOUBLE lat;
    OPTIONAL DOUBLE lon;
    REQUIRED INT32 policy_version;
    OPTIONAL BYTE_ARRAY placed_by (STRING);
    OPTIONAL BYTE_ARRAY place_confidence (STRING);
}";

/// One page of incidents as a Parquet row group, column by column in the schema's order.
fn parquet_row_group<W: Write + Send>(
    writer: &mut parquet::file::writer::SerializedFileWriter<W>,
    page: &[porchlight_core::incident::Incident],
) -> anyhow::Result<()> {
    use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int32Type, Int64Type};
    let text =
        |f: &dyn Fn(&porchlight_core::incident::Incident) -> Option<String>| -> (Vec<ByteArray>, Vec<i16>) {
            let mut values = Vec::new();
            let mut defined = Vec::new();
            for i in page {
                match f(i) {
                    Some(v) => {
                        values.push(ByteArray::from(v.as_str()));
                        defined.push(1);
                    }
                    None => defined.push(0),
                }
            }
            (values, defined)
        };
    let mut group = writer.next_row_group()?;
    let mut n = 0;
    while let Some(mut column) = group.next_column()? {
        match n {
            0 | 1 | 5 | 6 | 7 | 8 | 9 | 10 | 11 | 12 | 16 | 17 => {
                let (values, defined) = text(&|i| match n {
                    0 => Some(i.id.to_string()),
                    1 => Some(i.agency.clone()),
                    5 => Some(i.call_type.clone()),
                    6 => Some(i.initial_call_type.clone()),
                    7 => Some(i.category.as_str().to_string()),
                    8 => i.priority.clone(),
                    9 => i.status.clone(),
                    10 => i.closure.map(|c| c.as_str().to_string()),
                    11 => Some(i.location_kind.as_str().to_string()),
                    16 => i.placed_by.map(|p| p.as_str().to_string()),
                    17 => i.place_confidence.map(|c| c.as_str().to_string()),
                    _ => Some(i.location.clone()),
                });
                let optional = matches!(n, 8..=10 | 16 | 17);
                column.typed::<ByteArrayType>().write_batch(
                    &values,
                    optional.then_some(&defined[..]),
                    None,
                )?;
            }
            2 | 15 => {
                let values: Vec<i32> =
                    page.iter().map(|i| (if n == 2 { i.version } else { i.policy_version }) as i32).collect();
                column.typed::<Int32Type>().write_batch(&values, None, None)?;
            }
            3 | 4 => {
                let values: Vec<i64> = page
                    .iter()
                    .map(|i| if n == 3 { i.received_at } else { i.updated_at }.timestamp_millis())
                    .collect();
                column.typed::<Int64Type>().write_batch(&values, None, None)?;
            }
            _ => {
                let values: Vec<f64> = page
                    .iter()
                    .filter_map(|i| i.point.map(|p| if n == 13 { p.lat() } else { p.lon() }))
                    .collect();
                let defined: Vec<i16> = page.iter().map(|i| i16::from(i.point.is_some())).collect();
                column.typed::<DoubleType>().write_batch(&values, Some(&defined), None)?;
            }
        }
        column.close()?;
        n += 1;
    }
    group.close()?;
    Ok(())
}

/// The columns, in order: the public incident at its latest version.
pub const COLUMNS: [&str; 18] = [
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
    // Where the point came from: feed, gazetteer, centreline or geocoder; empty without a point.
    "placed_by",
    // How sure a point Porchlight placed is: high, medium or low; empty for the feed's own.
    "place_confidence",
];

/// Where the pages go: CSV rows, or a Parquet row group per page.
enum Sink {
    Csv(Box<csv::Writer<std::io::BufWriter<Box<dyn Write>>>>),
    Parquet(parquet::file::writer::SerializedFileWriter<std::fs::File>),
}

impl Sink {
    fn open(format: Format, out: &std::path::Path) -> anyhow::Result<Self> {
        let create = || std::fs::File::create(out).with_context(|| format!("creating {}", out.display()));
        Ok(match format {
            Format::Parquet => {
                anyhow::ensure!(out.as_os_str() != "-", "--format parquet writes a file: give --out FILE");
                let schema =
                    std::sync::Arc::new(parquet::schema::parser::parse_message_type(PARQUET_SCHEMA)?);
                let properties =
                    std::sync::Arc::new(parquet::file::properties::WriterProperties::builder().build());
                Sink::Parquet(parquet::file::writer::SerializedFileWriter::new(
                    create()?,
                    schema,
                    properties,
                )?)
            }
            Format::Csv => {
                let sink: Box<dyn Write> = if out.as_os_str() == "-" {
                    Box::new(std::io::stdout().lock())
                } else {
                    Box::new(create()?)
                };
                let mut csv = csv::Writer::from_writer(std::io::BufWriter::new(sink));
                csv.write_record(COLUMNS)?;
                Sink::Csv(Box::new(csv))
            }
        })
    }

    fn write(&mut self, page: &[porchlight_core::incident::Incident]) -> anyhow::Result<()> {
        let csv = match self {
            Sink::Parquet(writer) => return parquet_row_group(writer, page),
            Sink::Csv(csv) => csv,
        };
        for i in page {
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
                i.placed_by.map(|p| p.as_str().to_string()).unwrap_or_default(),
                i.place_confidence.map(|c| c.as_str().to_string()).unwrap_or_default(),
            ])?;
        }
        Ok(())
    }

    fn finish(self) -> anyhow::Result<()> {
        match self {
            Sink::Csv(mut csv) => csv.flush()?,
            Sink::Parquet(writer) => {
                writer.close()?;
            }
        }
        Ok(())
    }
}

pub async fn run(args: ExportArgs) -> anyhow::Result<()> {
    let store = args.data.store().await?;
    let agency = args.agency.as_deref().map(AgencyId::parse).transpose()?;
    let mut sink = Sink::open(args.format, &args.out)?;
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
        sink.write(&page)?;
        rows += page.len() as u64;
    }
    sink.finish()?;
    eprintln!("exported {rows} published incidents");
    Ok(())
}
