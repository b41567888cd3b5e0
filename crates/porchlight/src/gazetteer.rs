//! `porchlight gazetteer import`: points of an agency's hundred blocks and intersections, from a
//! CSV table (a city's geocoded blocks, say), so that calls its feed sends without coordinates
//! can be placed and matched to residents' areas. Each row's location is read by the same
//! address parser as the calls and kept only as its block or intersection.

use std::{collections::BTreeMap, path::PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use porchlight_core::{agency::AgencyId, gazetteer, geo::Point};
use porchlight_store::Store;

use crate::{DataDir, ingest::EXAMPLE_LINES};

#[derive(Subcommand)]
pub enum GazetteerCommand {
    /// Import block and intersection points from a CSV file: a location column ("11XX BATES
    /// ST", "GRAVOIS AVE / S COMPTON AVE", a house address is kept as its block) and latitude
    /// and longitude columns.
    Import(ImportArgs),
}

#[derive(Args)]
pub struct ImportArgs {
    #[command(flatten)]
    data: DataDir,
    /// The agency whose streets these are.
    #[arg(long)]
    agency: String,
    /// The column holding the block or intersection.
    #[arg(long, default_value = "location")]
    location_column: String,
    /// The column holding the latitude in degrees (by default the first of lat, latitude).
    #[arg(long)]
    lat_column: Option<String>,
    /// The column holding the longitude in degrees (by default the first of lon, lng, longitude).
    #[arg(long)]
    lon_column: Option<String>,
    /// The CSV file.
    file: PathBuf,
}

pub async fn run(command: GazetteerCommand) -> anyhow::Result<()> {
    let GazetteerCommand::Import(args) = command;
    let agency = AgencyId::parse(&args.agency)?;
    let store = Store::open(&args.data.path)
        .await
        .with_context(|| format!("opening the data folder {}", args.data.path.display()))?;
    if store.agency(&agency).await?.is_none() {
        bail!("no agency {agency} in {}: add it first (porchlight agency add)", args.data.path.display());
    }
    let columns = Columns {
        location: args.location_column.clone(),
        lat: args.lat_column.clone(),
        lon: args.lon_column.clone(),
    };
    let (points, skipped) = read(&args.file, &columns)?;
    let entered = store.put_gazetteer(&agency, &points).await?;
    println!("gazetteer of {agency}: {entered} blocks and intersections entered");
    for (reason, lines) in &skipped {
        let shown: Vec<String> = lines.iter().take(EXAMPLE_LINES).map(u64::to_string).collect();
        println!("skipped {:>6}  {reason} (lines {})", lines.len(), shown.join(", "));
    }
    Ok(())
}

/// The lines of skipped rows by "column: reason".
pub type Skipped = BTreeMap<String, Vec<u64>>;

/// Which columns of a table hold what; latitude and longitude found by their usual names when
/// not given.
pub struct Columns {
    pub location: String,
    pub lat: Option<String>,
    pub lon: Option<String>,
}

impl Default for Columns {
    fn default() -> Self {
        Self { location: "location".into(), lat: None, lon: None }
    }
}

/// The table's points by key, and the skipped rows. Values are never quoted: a location column
/// may hold a house address.
pub fn read(file: &std::path::Path, columns: &Columns) -> anyhow::Result<(Vec<(String, Point)>, Skipped)> {
    let mut reader = csv::Reader::from_path(file).with_context(|| format!("reading {}", file.display()))?;
    let headers = reader.headers().with_context(|| format!("reading {}", file.display()))?.clone();
    let column = |given: Option<&String>, names: &[&str]| -> anyhow::Result<(usize, String)> {
        let names: Vec<String> =
            given.map_or(names.iter().map(|n| (*n).to_owned()).collect(), |g| vec![g.clone()]);
        names
            .iter()
            .find_map(|name| {
                headers.iter().position(|h| h.trim().eq_ignore_ascii_case(name)).map(|i| (i, name.clone()))
            })
            .with_context(|| {
                format!(
                    "{}: no column {} (it has {})",
                    file.display(),
                    names.join(" or "),
                    headers.iter().collect::<Vec<_>>().join(", ")
                )
            })
    };
    let (location, location_name) = column(Some(&columns.location), &[])?;
    let (lat, lat_name) = column(columns.lat.as_ref(), &["lat", "latitude"])?;
    let (lon, lon_name) = column(columns.lon.as_ref(), &["lon", "lng", "longitude"])?;
    let mut points = BTreeMap::new();
    let mut skipped = Skipped::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                skipped.entry("row: not_csv".into()).or_default().push(line);
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let mut skip = |why: String| skipped.entry(why).or_default().push(line);
        let Some(key) = gazetteer::key_of(record.get(location).unwrap_or_default()) else {
            skip(format!("{location_name}: not_a_block_or_intersection"));
            continue;
        };
        let number = |i: usize| record.get(i).unwrap_or_default().trim().parse::<f64>().ok();
        let (Some(y), Some(x)) = (number(lat), number(lon)) else {
            skip(format!("{lat_name}/{lon_name}: not_a_number"));
            continue;
        };
        match Point::new(y, x) {
            Ok(p) => {
                points.insert(key, p);
            }
            Err(_) => skip(format!("{lat_name}/{lon_name}: not_on_the_earth")),
        }
    }
    Ok((points.into_iter().collect(), skipped))
}
