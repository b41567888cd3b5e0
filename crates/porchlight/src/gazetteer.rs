//! `porchlight gazetteer import`: what places an agency's calls that come without coordinates.
//! Two kinds of file: a table of points of hundred blocks and intersections (CSV: a city's
//! geocoded blocks, say), each row's location read by the same address parser as the calls and
//! kept only as its block or intersection; and street centrelines with address ranges
//! (GeoJSON, or CSV with a well-known-text line column) in the Census's TIGER/Line layout or a
//! city's own, described by a small layout file.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use porchlight_core::{
    agency::AgencyId,
    gazetteer::{self, Gazetteer, Segment},
    geo::Point,
};
use serde::Deserialize;

use crate::{DataDir, ingest::EXAMPLE_LINES};

#[derive(Subcommand)]
pub enum GazetteerCommand {
    /// Import block and intersection points from a CSV table (a location column: "11XX BATES
    /// ST", "GRAVOIS AVE / S COMPTON AVE", a house address kept as its block; latitude and
    /// longitude columns), or street centrelines with address ranges from GeoJSON or CSV with a
    /// WKT line column (TIGER/Line's FULLNAME, LFROMHN, LTOHN, RFROMHN, RTOHN unless --layout
    /// says otherwise). Centrelines replace the agency's earlier ones; table points replace
    /// those of the same blocks.
    Import(ImportArgs),
}

#[derive(Args)]
pub struct ImportArgs {
    #[command(flatten)]
    data: DataDir,
    /// The agency whose streets these are.
    #[arg(long)]
    agency: String,
    /// The column holding the block or intersection (tables).
    #[arg(long, default_value = "location")]
    location_column: String,
    /// The column holding the latitude in degrees (by default the first of lat, latitude).
    #[arg(long)]
    lat_column: Option<String>,
    /// The column holding the longitude in degrees (by default the first of lon, lng, longitude).
    #[arg(long)]
    lon_column: Option<String>,
    /// A TOML file naming a centreline file's columns (see examples/centreline-layouts).
    #[arg(long)]
    layout: Option<PathBuf>,
    /// The file: a CSV table of points, or centrelines (.geojson/.json, or CSV with a line
    /// geometry column).
    file: PathBuf,
}

pub async fn run(command: GazetteerCommand) -> anyhow::Result<()> {
    let GazetteerCommand::Import(args) = command;
    let agency = AgencyId::parse(&args.agency)?;
    let store = args.data.store().await?;
    if store.agency(&agency).await?.is_none() {
        bail!("no agency {agency} in {}: add it first (porchlight agency add)", args.data.path.display());
    }
    let columns = Columns {
        location: args.location_column.clone(),
        lat: args.lat_column.clone(),
        lon: args.lon_column.clone(),
    };
    let layout = match &args.layout {
        Some(path) => Layout::load(path)?,
        None => Layout::default(),
    };
    let skipped = match read_any(&args.file, &columns, &layout)? {
        Source::Points(points, skipped) => {
            let entered = store.put_gazetteer(&agency, &points).await?;
            println!("gazetteer of {agency}: {entered} blocks and intersections entered");
            skipped
        }
        Source::Centrelines(segments, skipped) => {
            let entered = store.put_centrelines(&agency, &segments).await?;
            let streets: std::collections::BTreeSet<String> =
                segments.iter().map(|(s, _)| porchlight_core::address::street_key(s)).collect();
            println!(
                "gazetteer of {agency}: {entered} centreline segments of {} streets entered (replacing any before)",
                streets.len()
            );
            skipped
        }
    };
    for (reason, lines) in &skipped {
        let shown: Vec<String> = lines.iter().take(EXAMPLE_LINES).map(u64::to_string).collect();
        println!("skipped {:>6}  {reason} (lines {})", lines.len(), shown.join(", "));
    }
    Ok(())
}

/// The lines of skipped rows (features, in GeoJSON: the first is 1) by "column: reason".
pub type Skipped = BTreeMap<String, Vec<u64>>;

/// What a gazetteer file held.
pub enum Source {
    Points(Vec<(String, Point)>, Skipped),
    /// Segments with their street's name as the file writes it.
    Centrelines(Vec<(String, Segment)>, Skipped),
}

/// Read a table of points or a centreline file, told apart by the file's name (.geojson,
/// .json) and, for CSV, by a line geometry column.
pub fn read_any(file: &Path, columns: &Columns, layout: &Layout) -> anyhow::Result<Source> {
    let extension = file.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    if matches!(extension.as_str(), "geojson" | "json") {
        let (segments, skipped) = read_geojson(file, layout)?;
        return Ok(Source::Centrelines(segments, skipped));
    }
    let headers = csv::Reader::from_path(file)
        .and_then(|mut r| r.headers().cloned())
        .with_context(|| format!("reading {}", file.display()))?;
    if layout.geometry_column(&headers).is_some() {
        let (segments, skipped) = read_centreline_csv(file, layout)?;
        return Ok(Source::Centrelines(segments, skipped));
    }
    let (points, skipped) = read(file, columns)?;
    Ok(Source::Points(points, skipped))
}

/// Read gazetteer files (tables and centrelines) into one gazetteer, for `feeds check`; the
/// skipped rows are counted on standard error.
pub fn load(files: &[PathBuf], layout: &Layout) -> anyhow::Result<Gazetteer> {
    let mut gazetteer = Gazetteer::new();
    for path in files {
        let skipped = match read_any(path, &Columns::default(), layout)? {
            Source::Points(points, skipped) => {
                for (k, p) in points {
                    gazetteer.insert(k, p);
                }
                skipped
            }
            Source::Centrelines(segments, skipped) => {
                for (street, segment) in segments {
                    gazetteer.add_segment(&street, segment);
                }
                skipped
            }
        };
        if !skipped.is_empty() {
            eprintln!(
                "{}: {} rows skipped (porchlight gazetteer import names them)",
                path.display(),
                skipped.values().map(Vec::len).sum::<usize>()
            );
        }
    }
    Ok(gazetteer)
}

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

/// Where a centreline file keeps the street's name, its address ranges and (CSV) its line.
/// Column and property names match without regard to case. The default is TIGER/Line's
/// address-range layout (its ADDRFEAT and EDGES files).
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// The street's full name ("N 35th St"), or the columns that make it up, joined with spaces
    /// (["PRE_DIR", "ST_NAME", "ST_TYPE", "SUF_DIR"]); empty parts are left out.
    pub name: Vec<String>,
    pub left_from: String,
    pub left_to: String,
    pub right_from: String,
    pub right_to: String,
    /// The CSV column holding the line as well-known text (by default the first of the_geom,
    /// geometry, wkt, shape).
    pub geometry: Option<String>,
}

impl Default for Layout {
    fn default() -> Self {
        Self {
            name: vec!["FULLNAME".into()],
            left_from: "LFROMHN".into(),
            left_to: "LTOHN".into(),
            right_from: "RFROMHN".into(),
            right_to: "RTOHN".into(),
            geometry: None,
        }
    }
}

/// A layout file: `[centreline]` and the fields of [`Layout`]; `name` may be one string.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LayoutFile {
    centreline: LayoutTable,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LayoutTable {
    name: Option<toml::Value>,
    left_from: Option<String>,
    left_to: Option<String>,
    right_from: Option<String>,
    right_to: Option<String>,
    geometry: Option<String>,
}

impl Layout {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in the layout {}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let file: LayoutFile = toml::from_str(text)?;
        let t = file.centreline;
        let d = Self::default();
        let name = match t.name {
            None => d.name,
            Some(toml::Value::String(s)) => vec![s],
            Some(toml::Value::Array(a)) => a
                .into_iter()
                .map(|v| match v {
                    toml::Value::String(s) => Ok(s),
                    other => bail!("centreline.name: {other} is not a column name"),
                })
                .collect::<anyhow::Result<_>>()?,
            Some(other) => bail!("centreline.name: {other} is neither a column name nor a list of them"),
        };
        if name.is_empty() {
            bail!("centreline.name: names no column");
        }
        Ok(Self {
            name,
            left_from: t.left_from.unwrap_or(d.left_from),
            left_to: t.left_to.unwrap_or(d.left_to),
            right_from: t.right_from.unwrap_or(d.right_from),
            right_to: t.right_to.unwrap_or(d.right_to),
            geometry: t.geometry,
        })
    }

    fn geometry_column(&self, headers: &csv::StringRecord) -> Option<usize> {
        let names: Vec<&str> = match &self.geometry {
            Some(g) => vec![g.as_str()],
            None => vec!["the_geom", "geometry", "wkt", "shape"],
        };
        names.iter().find_map(|n| headers.iter().position(|h| h.trim().eq_ignore_ascii_case(n)))
    }

    /// A segment from a row's fields (`field` gives a column's value by name) and its line, or
    /// why it is skipped ("column: reason").
    fn segment(
        &self,
        field: impl Fn(&str) -> Option<String>,
        line: geo::Geometry<f64>,
    ) -> Result<(String, Segment), String> {
        let name: Vec<String> = self
            .name
            .iter()
            .filter_map(|c| field(c))
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect();
        if name.is_empty() {
            return Err(format!("{}: empty", self.name.join("+")));
        }
        let number = |column: &str| -> Result<Option<u32>, String> {
            match field(column).map(|v| v.trim().to_owned()) {
                None => Ok(None),
                Some(v) if v.is_empty() => Ok(None),
                Some(v) => v
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(n))
                    // Whole numbers only; a CSV writes them "1200" or "1200.0".
                    .map(|n| Some(n as u32))
                    .ok_or_else(|| format!("{column}: not_a_house_number")),
            }
        };
        let range = |from: &str, to: &str| -> Result<Option<(u32, u32)>, String> {
            Ok(number(from)?.zip(number(to)?))
        };
        let left = range(&self.left_from, &self.left_to)?;
        let right = range(&self.right_from, &self.right_to)?;
        let points = match line {
            geo::Geometry::LineString(l) => l.0,
            // The parts of a multi-part line, in order: the ranges run along all of them.
            geo::Geometry::MultiLineString(m) => m.0.into_iter().flat_map(|l| l.0).collect(),
            _ => return Err("geometry: not_a_line".into()),
        };
        let points = points
            .into_iter()
            .map(|c| Point::new(c.y, c.x))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| "geometry: not_on_the_earth".to_owned())?;
        let segment = Segment::new(points, left, right).ok_or("geometry: fewer_than_two_points")?;
        Ok((name.join(" "), segment))
    }
}

/// Centrelines from a GeoJSON FeatureCollection of lines.
fn read_geojson(file: &Path, layout: &Layout) -> anyhow::Result<(Vec<(String, Segment)>, Skipped)> {
    let reader = std::io::BufReader::new(
        std::fs::File::open(file).with_context(|| format!("reading {}", file.display()))?,
    );
    let collection = geojson::FeatureCollection::try_from(
        geojson::GeoJson::from_reader(reader).with_context(|| format!("{}: not GeoJSON", file.display()))?,
    )
    .with_context(|| format!("{}: not a FeatureCollection", file.display()))?;
    let mut segments = Vec::new();
    let mut skipped = Skipped::new();
    for (i, feature) in collection.features.into_iter().enumerate() {
        let n = i as u64 + 1;
        let field = |name: &str| -> Option<String> {
            let properties = feature.properties.as_ref()?;
            let (_, v) = properties.iter().find(|(k, _)| k.eq_ignore_ascii_case(name))?;
            match v {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(x) => Some(x.to_string()),
                _ => None,
            }
        };
        let line = match feature.geometry.as_ref().map(|g| geo::Geometry::<f64>::try_from(g.clone())) {
            Some(Ok(g)) => g,
            _ => {
                skipped.entry("geometry: not_a_line".into()).or_default().push(n);
                continue;
            }
        };
        match layout.segment(field, line) {
            Ok(s) => segments.push(s),
            Err(why) => skipped.entry(why).or_default().push(n),
        }
    }
    Ok((segments, skipped))
}

/// A CSV file's reader and its header row.
fn open_csv(file: &Path) -> anyhow::Result<(csv::Reader<std::fs::File>, csv::StringRecord)> {
    let mut reader = csv::Reader::from_path(file).with_context(|| format!("reading {}", file.display()))?;
    let headers = reader.headers().with_context(|| format!("reading {}", file.display()))?.clone();
    Ok((reader, headers))
}

/// A row with its line number, or `None` for one that is not CSV (its line kept in `skipped`).
fn row(record: csv::Result<csv::StringRecord>, skipped: &mut Skipped) -> Option<(u64, csv::StringRecord)> {
    match record {
        Ok(r) => Some((r.position().map_or(0, |p| p.line()), r)),
        Err(e) => {
            skipped.entry("row: not_csv".into()).or_default().push(e.position().map_or(0, |p| p.line()));
            None
        }
    }
}

/// Centrelines from a CSV file with a line as well-known text.
fn read_centreline_csv(file: &Path, layout: &Layout) -> anyhow::Result<(Vec<(String, Segment)>, Skipped)> {
    use wkt::TryFromWkt;
    let (mut reader, headers) = open_csv(file)?;
    let geometry = layout.geometry_column(&headers).context("no geometry column")?;
    let mut segments = Vec::new();
    let mut skipped = Skipped::new();
    for record in reader.records() {
        let Some((line, record)) = row(record, &mut skipped) else { continue };
        let field = |name: &str| -> Option<String> {
            let i = headers.iter().position(|h| h.trim().eq_ignore_ascii_case(name))?;
            record.get(i).map(str::to_owned)
        };
        let Ok(shape) = geo::Geometry::<f64>::try_from_wkt_str(record.get(geometry).unwrap_or_default())
        else {
            skipped.entry(format!("{}: not_well_known_text", &headers[geometry])).or_default().push(line);
            continue;
        };
        match layout.segment(field, shape) {
            Ok(s) => segments.push(s),
            Err(why) => skipped.entry(why).or_default().push(line),
        }
    }
    Ok((segments, skipped))
}

/// The table's points by key, and the skipped rows. Values are never quoted: a location column
/// may hold a house address.
pub fn read(file: &Path, columns: &Columns) -> anyhow::Result<(Vec<(String, Point)>, Skipped)> {
    let (mut reader, headers) = open_csv(file)?;
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
        let Some((line, record)) = row(record, &mut skipped) else { continue };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tiger_layout_file_says_what_the_default_is() {
        let text = include_str!("../../../examples/centreline-layouts/tiger.toml");
        assert_eq!(Layout::parse(text).unwrap(), Layout::default());
        let city =
            Layout::parse(include_str!("../../../examples/centreline-layouts/milwaukee-district-4.toml"))
                .unwrap();
        assert_eq!(city.name, ["DIR", "STREET", "STTYPE"]);
        assert_eq!(city.geometry.as_deref(), Some("WKT"));
        let wrong = Layout::parse("[centreline]\nname = 3\n").unwrap_err();
        assert!(format!("{wrong:#}").contains("centreline.name"), "{wrong:#}");
    }
}
