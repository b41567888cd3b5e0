//! Reading CSV data through a mapping.

use std::{collections::BTreeMap, fmt, io::Read};

use porchlight_core::{
    category::Category,
    geo::Point,
    record::{CadRecord, Raw, RawLocation},
};

use crate::mapping::{Coordinates, LocationColumns, Mapping, MappingError};

/// A row that could not be read. Names the line (as an editor counts them, header = 1), the
/// column and a stable reason code; `detail` never quotes a location or coordinate value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: u64,
    pub field: String,
    pub code: &'static str,
    pub detail: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, field `{}`: {}: {}", self.line, self.field, self.code, self.detail)
    }
}

#[derive(Debug)]
enum LocationIdx {
    None,
    Address(usize),
    NumberAndStreet(usize, usize),
    CrossStreets(usize, usize),
}

#[derive(Debug, Clone, Copy)]
enum CoordinateIdx {
    Apart(usize, usize),
    Together(usize),
}

#[derive(Debug)]
struct Columns {
    incident_id: usize,
    time: Vec<usize>,
    call_type: usize,
    priority: Option<usize>,
    status: Option<usize>,
    narrative: Vec<usize>,
    units: Option<usize>,
    location: LocationIdx,
    coordinates: Option<CoordinateIdx>,
    area: Option<usize>,
}

/// Turns rows (CSV records, or JSON objects laid out as rows) into records through a mapping.
/// Call types that no category rule matched are mapped to `other` and counted.
pub(crate) struct Converter<'m> {
    mapping: &'m Mapping,
    columns: Columns,
    headers: csv::StringRecord,
    unmapped: BTreeMap<String, u64>,
}

/// The records of one CSV input, in file order. Call types that no category rule matched are
/// mapped to `other` and counted in [`Records::unmapped_call_types`].
pub struct Records<'m, R> {
    converter: Converter<'m>,
    reader: csv::Reader<DropCr<R>>,
    row: csv::StringRecord,
}

/// Removes carriage returns. The csv crate numbers the lines of a CRLF file one too low, and
/// line numbers are how a clerk finds a bad row; a '\r' inside a quoted field is lost, which no
/// field Porchlight reads cares about.
pub struct DropCr<R>(R);

impl<R: Read> Read for DropCr<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.0.read(buf)?;
            if n == 0 {
                return Ok(0);
            }
            let mut kept = 0;
            for i in 0..n {
                if buf[i] != b'\r' {
                    buf[kept] = buf[i];
                    kept += 1;
                }
            }
            if kept > 0 {
                return Ok(kept);
            }
        }
    }
}

impl Mapping {
    /// Start reading CSV with a header row. Fails only if a column the mapping needs is absent.
    pub fn read_csv<R: Read>(&self, input: R) -> Result<Records<'_, R>, MappingError> {
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(self.delimiter)
            .has_headers(self.has_headers)
            .flexible(true)
            .from_reader(DropCr(input));
        let headers = if self.has_headers { reader.headers()?.clone() } else { csv::StringRecord::new() };
        Ok(Records { converter: Converter::new(self, headers)?, reader, row: csv::StringRecord::new() })
    }
}

impl<'m> Converter<'m> {
    /// Find the mapping's columns among `headers`. Fails only if a column is absent.
    pub(crate) fn new(mapping: &'m Mapping, headers: csv::StringRecord) -> Result<Self, MappingError> {
        // A column by name, or by position ("#3", counting from 1).
        let find = |field: &str, column: &str| {
            let by_position =
                column.strip_prefix('#').and_then(|n| n.parse::<usize>().ok()).filter(|n| *n >= 1);
            by_position.map(|n| n - 1).or_else(|| headers.iter().position(|h| h.trim() == column)).ok_or_else(
                || MappingError::MissingColumn { field: field.to_owned(), column: column.to_owned() },
            )
        };
        let optional =
            |field: &str, column: &Option<String>| column.as_deref().map(|c| find(field, c)).transpose();
        let location = match &mapping.location {
            LocationColumns::None => LocationIdx::None,
            LocationColumns::Address(a) => LocationIdx::Address(find("location.address", a)?),
            LocationColumns::NumberAndStreet { number, street } => LocationIdx::NumberAndStreet(
                find("location.number", number)?,
                find("location.street", street)?,
            ),
            LocationColumns::CrossStreets(a, b) => LocationIdx::CrossStreets(
                find("location.cross_streets", a)?,
                find("location.cross_streets", b)?,
            ),
        };
        let coordinates = match &mapping.coordinates {
            Some(Coordinates::Apart(lat, lon)) => {
                Some(CoordinateIdx::Apart(find("location.latitude", lat)?, find("location.longitude", lon)?))
            }
            Some(Coordinates::Together(both)) => {
                Some(CoordinateIdx::Together(find("location.coordinates", both)?))
            }
            None => None,
        };
        let columns = Columns {
            incident_id: find("fields.incident_id", &mapping.incident_id)?,
            time: mapping
                .time_columns
                .iter()
                .map(|c| find("fields.received_at.columns", c))
                .collect::<Result<_, _>>()?,
            call_type: find("fields.call_type", &mapping.call_type)?,
            priority: optional("fields.priority", &mapping.priority)?,
            status: optional("fields.status", &mapping.status)?,
            narrative: mapping
                .narrative
                .iter()
                .map(|c| find("fields.narrative", c))
                .collect::<Result<_, _>>()?,
            units: optional("fields.units", &mapping.units)?,
            location,
            coordinates,
            area: mapping.area.as_ref().map(|a| find("location.area", &a.column)).transpose()?,
        };
        Ok(Self { mapping, columns, headers, unmapped: BTreeMap::new() })
    }

    pub(crate) fn unmapped_call_types(&self) -> &BTreeMap<String, u64> {
        &self.unmapped
    }

    fn column_name(&self, idx: usize) -> String {
        match self.headers.get(idx) {
            Some(name) => name.trim().to_owned(),
            None => format!("#{}", idx + 1),
        }
    }

    fn problem(&self, line: u64, idx: usize, code: &'static str, detail: impl Into<String>) -> Problem {
        Problem { line, field: self.column_name(idx), code, detail: detail.into() }
    }

    /// A checked point, converted from the mapping's projection if it has one; 0,0 is what
    /// many CAD exports write for "not geocoded".
    fn point(&self, line: u64, idx: usize, lat: f64, lon: f64) -> Result<Option<Raw<Point>>, Problem> {
        if lat == 0.0 && lon == 0.0 {
            return Ok(None);
        }
        let (lat, lon) = match &self.mapping.projection {
            None => (lat, lon),
            Some(projection) => projection.to_lat_lon(lon, lat).ok_or_else(|| {
                self.problem(line, idx, "bad_coordinates", format!("cannot convert from {projection:?}"))
            })?,
        };
        Point::new(lat, lon).map(|p| Some(Raw::new(p))).map_err(|_| {
            self.problem(line, idx, "bad_coordinates", "outside the range of latitude and longitude")
        })
    }

    /// Turn one row into a record; `line` is where it came from, for problems.
    pub(crate) fn convert(&mut self, line: u64, row: &csv::StringRecord) -> Result<CadRecord, Problem> {
        let field = |idx: usize| row.get(idx).unwrap_or("").trim();
        let optional = |idx: Option<usize>| idx.map(field).filter(|v| !v.is_empty()).map(str::to_owned);
        let c = &self.columns;
        let source_id = field(c.incident_id).to_owned();
        if source_id.is_empty() {
            return Err(self.problem(line, c.incident_id, "missing", "no incident number"));
        }
        let received_at = if self.mapping.join_time_columns {
            if let Some(&empty) = c.time.iter().find(|&&i| field(i).is_empty()) {
                return Err(self.problem(line, empty, "missing", "no time"));
            }
            let joined = c.time.iter().map(|&i| field(i)).collect::<Vec<_>>().join(" ");
            self.mapping.parse_time(&joined).map_err(|e| self.problem(line, c.time[0], "bad_time", e))?
        } else {
            let time_idx = c.time.iter().copied().find(|&i| !field(i).is_empty());
            let Some(time_idx) = time_idx else {
                return Err(self.problem(line, c.time[0], "missing", "no time in any of the time columns"));
            };
            self.mapping
                .parse_time(field(time_idx))
                .map_err(|e| self.problem(line, time_idx, "bad_time", e))?
        };
        let call_type = field(c.call_type).to_owned();
        if call_type.is_empty() {
            return Err(self.problem(line, c.call_type, "missing", "no call type"));
        }
        let point = match c.coordinates {
            None => None,
            Some(CoordinateIdx::Apart(lat_idx, lon_idx)) => {
                let (lat, lon) = (field(lat_idx), field(lon_idx));
                if lat.is_empty() && lon.is_empty() {
                    None
                } else {
                    let number = |idx: usize, text: &str| {
                        text.parse::<f64>()
                            .ok()
                            .filter(|v| v.is_finite())
                            .ok_or_else(|| self.problem(line, idx, "bad_coordinates", "not a number"))
                    };
                    self.point(line, lat_idx, number(lat_idx, lat)?, number(lon_idx, lon)?)?
                }
            }
            Some(CoordinateIdx::Together(idx)) => match field(idx) {
                "" => None,
                text => {
                    let (lat, lon) = coordinates_in(text).ok_or_else(|| {
                        self.problem(line, idx, "bad_coordinates", "not a pair of coordinates")
                    })?;
                    self.point(line, idx, lat, lon)?
                }
            },
        };
        let raw = |i: usize| Raw::new(field(i).to_owned());
        let location = match c.location {
            LocationIdx::None => RawLocation::None,
            LocationIdx::Address(i) if field(i).is_empty() => RawLocation::None,
            LocationIdx::Address(i) => RawLocation::Text(raw(i)),
            LocationIdx::NumberAndStreet(_, s) if field(s).is_empty() => RawLocation::None,
            LocationIdx::NumberAndStreet(n, s) => {
                RawLocation::NumberAndStreet { number: raw(n), street: raw(s) }
            }
            LocationIdx::CrossStreets(a, b) if field(a).is_empty() && field(b).is_empty() => {
                RawLocation::None
            }
            LocationIdx::CrossStreets(a, b) => RawLocation::CrossStreets(raw(a), raw(b)),
        };
        // An area (beat, district) stands in only where there is no location text.
        let location = match (location, c.area, &self.mapping.area) {
            (RawLocation::None, Some(i), Some(area)) if !field(i).is_empty() => {
                RawLocation::Area { label: area.label.clone(), name: raw(i) }
            }
            (location, _, _) => location,
        };
        let category = match self.mapping.category_for(&call_type) {
            Some(category) => category,
            None => {
                *self.unmapped.entry(call_type.clone()).or_default() += 1;
                Category::Other
            }
        };
        let status = optional(c.status);
        Ok(CadRecord {
            closure: status.as_deref().and_then(|s| self.mapping.closure_for(s)),
            agency: self.mapping.agency.clone(),
            line,
            source_id,
            received_at,
            local_day: received_at.with_timezone(&self.mapping.time_zone).date_naive(),
            call_type,
            category,
            priority: optional(c.priority),
            status,
            location,
            point,
            units: c.units.map_or_else(Vec::new, |i| units_in(field(i))),
            narrative: {
                let parts: Vec<&str> =
                    c.narrative.iter().map(|&i| field(i)).filter(|t| !t.is_empty()).collect();
                (!parts.is_empty()).then(|| Raw::new(parts.join(" / ")))
            },
        })
    }
}

/// Unit names from one field: "B791", or "4267,4265" (commas, semicolons, line breaks).
pub(crate) fn units_in(text: &str) -> Vec<String> {
    text.split([',', ';', '\n']).map(str::trim).filter(|u| !u.is_empty()).map(str::to_owned).collect()
}

/// Latitude and longitude from one text field: "(47.6, -122.3)", "47.6,-122.3", or WKT
/// "POINT (-122.3 47.6)" (longitude first).
fn coordinates_in(text: &str) -> Option<(f64, f64)> {
    let text = text.trim();
    let (wkt, body) = match text.strip_prefix("POINT").or_else(|| text.strip_prefix("point")) {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let body = body.trim().trim_start_matches('(').trim_end_matches(')');
    let numbers: Vec<f64> = body
        .split([',', ' '])
        .filter(|p| !p.trim().is_empty())
        .map(|p| p.trim().parse::<f64>().ok().filter(|v| v.is_finite()))
        .collect::<Option<_>>()?;
    match numbers[..] {
        [a, b] if wkt => Some((b, a)),
        [a, b] => Some((a, b)),
        _ => None,
    }
}

impl<R> Records<'_, R> {
    /// Call types that matched no rule of the mapping, with how many rows had each.
    pub fn unmapped_call_types(&self) -> &BTreeMap<String, u64> {
        self.converter.unmapped_call_types()
    }
}

impl<R: Read> Iterator for Records<'_, R> {
    type Item = Result<CadRecord, Problem>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.reader.read_record(&mut self.row) {
            Ok(false) => None,
            Ok(true) => {
                let line = self.row.position().map_or(0, |p| p.line());
                Some(self.converter.convert(line, &self.row))
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                let detail = match e.kind() {
                    csv::ErrorKind::Utf8 { .. } => "the row is not valid UTF-8".to_owned(),
                    _ => "the row is not valid CSV".to_owned(),
                };
                Some(Err(Problem { line, field: "*".into(), code: "unreadable_row", detail }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPPING: &str = r#"
        [agency]
        id = "testville"
        name = "Testville PD"
        time_zone = "America/Chicago"
        [fields]
        incident_id = "id"
        received_at = { columns = ["time"], format = "%Y-%m-%d %H:%M:%S" }
        call_type = "nature"
        status = "status"
        [location]
        address = "location"
        latitude = "lat"
        longitude = "lon"
        [[categories]]
        pattern = "^THEFT"
        category = "property"
    "#;

    #[test]
    fn bad_rows_become_problems_and_the_rest_carries_on() {
        let data = "id,time,location,lat,lon,nature,status\n\
            1,2018-05-01 00:10:28,5237 N 35TH ST,43.11,-87.95,THEFT,Open\n\
            ,2018-05-01 00:10:28,5237 N 35TH ST,43.11,-87.95,THEFT,Open\n\
            3,May first,5237 N 35TH ST,43.11,-87.95,THEFT,Open\n\
            4,2018-05-01 00:10:28,5237 N 35TH ST,north,-87.95,THEFT,Open\n\
            5,2018-05-01 00:10:28,5237 N 35TH ST,,,PATROL,\n";
        let m = Mapping::parse(MAPPING).unwrap();
        let mut records = m.read_csv(data.as_bytes()).unwrap();
        let out: Vec<_> = records.by_ref().collect();
        assert_eq!(out.len(), 5);
        let ok = out[0].as_ref().unwrap();
        assert_eq!((ok.source_id.as_str(), ok.category, ok.line), ("1", Category::Property, 2));
        assert_eq!(out[4].as_ref().unwrap().line, 6);
        assert_eq!(ok.received_at.to_rfc3339(), "2018-05-01T05:10:28+00:00");
        assert_eq!(ok.local_day.to_string(), "2018-05-01");
        assert_eq!(ok.status.as_deref(), Some("Open"));
        let problems: Vec<String> = out[1..4].iter().map(|r| r.as_ref().unwrap_err().to_string()).collect();
        assert_eq!(problems[0], "line 3, field `id`: missing: no incident number");
        assert!(
            problems[1].starts_with("line 4, field `time`: bad_time: cannot read \"May first\""),
            "{}",
            problems[1]
        );
        assert_eq!(problems[2], "line 5, field `lat`: bad_coordinates: not a number");
        let last = out[4].as_ref().unwrap();
        assert!(last.point.is_none() && last.status.is_none());
        assert_eq!(last.category, Category::Other);
        assert_eq!(records.unmapped_call_types().get("PATROL"), Some(&1));
    }

    #[test]
    fn line_numbers_count_crlf_files_too() {
        let data = "id,time,location,lat,lon,nature,status\r\n\
            1,2018-05-01 00:10:28,5237 N 35TH ST,43.11,-87.95,THEFT,Open\r\n\
            2,2018-05-01 00:10:28,\"5237 N 35TH ST,MKE\",43.11,-87.95,THEFT,Open\r\n";
        let m = Mapping::parse(MAPPING).unwrap();
        let lines: Vec<u64> = m.read_csv(data.as_bytes()).unwrap().map(|r| r.unwrap().line).collect();
        assert_eq!(lines, [2, 3]);
    }

    #[test]
    fn time_in_two_columns_and_coordinates_without_text() {
        let mapping = r#"
            [agency]
            id = "slo"
            name = "SLO"
            time_zone = "America/Los_Angeles"
            [fields]
            incident_id = "case"
            received_at = { columns = ["date", "received"], join = true, format = "%m/%d/%y %H:%M" }
            call_type = "type"
            [location]
            latitude = "lat"
            longitude = "lon"
        "#;
        let m = Mapping::parse(mapping).unwrap();
        let data = "case,date,received,type,lat,lon\n1,09/14/21,07:08,Theft,35.27,-120.66\n2,09/14/21,,Theft,35.27,-120.66\n";
        let out: Vec<_> = m.read_csv(data.as_bytes()).unwrap().collect();
        let first = out[0].as_ref().unwrap();
        assert_eq!(first.received_at.to_rfc3339(), "2021-09-14T14:08:00+00:00");
        // Withheld calls are counted by the agency's own day, not UTC's.
        let late = "case,date,received,type,lat,lon\n9,09/14/21,23:30,Theft,35.27,-120.66\n";
        let late = m.read_csv(late.as_bytes()).unwrap().next().unwrap().unwrap();
        assert_eq!(
            (late.received_at.date_naive().to_string(), late.local_day.to_string()),
            ("2021-09-15".into(), "2021-09-14".into())
        );
        assert!(matches!(first.location, RawLocation::None) && first.point.is_some());
        assert_eq!(out[1].as_ref().unwrap_err().to_string(), "line 3, field `received`: missing: no time");
        let neither = mapping.replace("latitude = \"lat\"\n", "").replace("longitude = \"lon\"\n", "");
        assert!(Mapping::parse(&neither).unwrap_err().to_string().contains("field `location`"));
    }

    #[test]
    fn headerless_files_epoch_times_and_coordinates_in_one_field() {
        let mapping = r##"
            [agency]
            id = "headless"
            name = "Headless PD"
            time_zone = "UTC"
            [csv]
            headers = false
            delimiter = "|"
            [fields]
            incident_id = "#1"
            received_at = { columns = ["#2"], format = "epoch" }
            call_type = "#3"
            [location]
            address = "#4"
            coordinates = "#5"
        "##;
        let m = Mapping::parse(mapping).unwrap();
        let data = "A1|1525151428|THEFT|5237 N 35TH ST|(43.11, -87.95)\nA2|1525151428|THEFT|5237 N 35TH ST|POINT (-87.95 43.11)\nA3|1525151428|THEFT|X|north\n";
        let out: Vec<_> = m.read_csv(data.as_bytes()).unwrap().collect();
        let first = out[0].as_ref().unwrap();
        assert_eq!((first.source_id.as_str(), first.line), ("A1", 1));
        assert_eq!(first.received_at.to_rfc3339(), "2018-05-01T05:10:28+00:00");
        let p = first.point.as_ref().unwrap().expose();
        assert_eq!((p.lat(), p.lon()), (43.11, -87.95));
        let p = out[1].as_ref().unwrap().point.as_ref().unwrap().expose();
        assert_eq!((p.lat(), p.lon()), (43.11, -87.95));
        assert_eq!(
            out[2].as_ref().unwrap_err().to_string(),
            "line 3, field `#5`: bad_coordinates: not a pair of coordinates"
        );
    }

    /// Real Seattle rows, their coordinates re-expressed in Washington State Plane North (US
    /// feet, EPSG:2926) as many city exports give them, read back through a mapping with
    /// `crs`: within a metre of the originals.
    #[test]
    fn state_plane_feet_are_read_as_latitude_and_longitude() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let file =
            root.join("examples/data/seattle-spd-911/Seattle_Police_Department_911_Incident_Response.csv");
        let mut reader = csv::Reader::from_path(file).unwrap();
        let (wgs84, plane) =
            (proj4rs::Proj::from_epsg_code(4326).unwrap(), proj4rs::Proj::from_epsg_code(2926).unwrap());
        let mut data = String::from("id,time,type,x,y\n");
        let mut originals = Vec::new();
        for row in reader.records().take(200) {
            let row = row.unwrap();
            let (Ok(lon), Ok(lat)) = (row[12].parse::<f64>(), row[13].parse::<f64>()) else { continue };
            let mut p = (lon.to_radians(), lat.to_radians(), 0.0);
            proj4rs::transform::transform(&wgs84, &plane, &mut p).unwrap();
            data.push_str(&format!("{},1525151428,THEFT,{:.2},{:.2}\n", &row[1], p.0, p.1));
            originals.push((lat, lon));
        }
        let mapping = r#"
            [agency]
            id = "seattle"
            name = "Seattle PD"
            time_zone = "America/Los_Angeles"
            [fields]
            incident_id = "id"
            received_at = { columns = ["time"], format = "epoch" }
            call_type = "type"
            [location]
            x = "x"
            y = "y"
            crs = "EPSG:2926"
        "#;
        let m = Mapping::parse(mapping).unwrap();
        let records: Vec<CadRecord> = m.read_csv(data.as_bytes()).unwrap().map(Result::unwrap).collect();
        assert_eq!(records.len(), originals.len());
        assert!(originals.len() > 150);
        for (r, (lat, lon)) in records.iter().zip(originals) {
            let p = r.point.as_ref().unwrap().expose();
            let metres = p.distance_m(Point::new(lat, lon).unwrap());
            assert!(metres < 1.0, "{metres} m off");
        }
        let bad = Mapping::parse(&mapping.replace("EPSG:2926", "EPSG:99999")).unwrap_err();
        assert!(bad.to_string().contains("location.crs"), "{bad}");
    }

    /// Seattle's call data names a beat for every call: with `area` and no coordinates, the
    /// beat is the location.
    #[test]
    fn a_beat_alone_is_an_area() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let file = std::fs::read(root.join("examples/data/seattle-spd-calldata/db_call_data_2018-2023.csv"))
            .unwrap();
        let mapping = r#"
            [agency]
            id = "seattle"
            name = "Seattle PD"
            time_zone = "America/Los_Angeles"
            [fields]
            incident_id = "CAD Event Number"
            received_at = { columns = ["Original Time Queued"], format = "%m/%d/%Y %I:%M:%S %p" }
            call_type = "Final Call Type"
            [location]
            area = "Beat"
        "#;
        let m = Mapping::parse(mapping).unwrap();
        let records: Vec<_> = m.read_csv(&file[..]).unwrap().collect();
        let areas: Vec<&str> = records
            .iter()
            .filter_map(|r| match &r.as_ref().ok()?.location {
                RawLocation::Area { label, name } if label == "Beat" => Some(name.expose().as_str()),
                _ => None,
            })
            .collect();
        assert!(areas.len() * 10 >= records.len() * 9, "{} of {}", areas.len(), records.len());
        assert!(areas.contains(&"C3"));
    }

    #[test]
    fn a_missing_column_is_named() {
        let m = Mapping::parse(MAPPING).unwrap();
        let err = m.read_csv("id,time,nature\n".as_bytes()).err().unwrap();
        assert_eq!(
            err.to_string(),
            "the data has no column `location` (needed by mapping field `location.address`)"
        );
    }
}
