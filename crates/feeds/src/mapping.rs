//! The mapping file format.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};

use crate::{
    portal::{Source, SourceSection},
    projection::Projection,
};
use chrono_tz::Tz;
use porchlight_core::{agency::AgencyId, category::Category, incident::Closure};
use regex::{Regex, RegexBuilder};
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    #[error("mapping file is not valid TOML: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("mapping file, field `{field}`: {reason}")]
    Invalid { field: String, reason: String },
    #[error("the data has no column `{column}` (needed by mapping field `{field}`)")]
    MissingColumn { field: String, column: String },
    #[error("cannot read the data's header: {0}")]
    Header(#[from] csv::Error),
}

fn invalid(field: &str, reason: impl Into<String>) -> MappingError {
    MappingError::Invalid { field: field.to_owned(), reason: reason.into() }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    agency: AgencySection,
    #[serde(default)]
    csv: CsvSection,
    fields: FieldsSection,
    location: LocationSection,
    #[serde(default)]
    categories: Vec<CategoryRule>,
    /// Statuses that close a call as unfounded, cancelled or with no report. Without any, the
    /// common wordings are recognised (see [`DEFAULT_CLOSURES`]).
    #[serde(default)]
    closures: Vec<ClosureRule>,
    /// Where `porchlight serve` polls the agency's data from, if it does.
    source: Option<SourceSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgencySection {
    id: String,
    name: String,
    time_zone: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CsvSection {
    #[serde(default = "comma")]
    delimiter: String,
    /// Whether the first row names the columns. Without, columns are named by position: "#1".
    #[serde(default = "yes")]
    headers: bool,
}

fn yes() -> bool {
    true
}

impl Default for CsvSection {
    fn default() -> Self {
        Self { delimiter: comma(), headers: true }
    }
}

fn comma() -> String {
    ",".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldsSection {
    incident_id: String,
    received_at: TimeField,
    call_type: String,
    priority: Option<String>,
    status: Option<String>,
    /// Free-text columns (narratives, comments), joined with " / ". Published only scrubbed,
    /// and only where the agency's policy says so.
    #[serde(default)]
    narrative: Vec<String>,
    /// The column naming the responding unit(s): one per row (Dallas repeats a call once per
    /// unit), or several separated by commas, semicolons or line breaks.
    units: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TimeField {
    /// Columns tried in order; the first non-empty one is used. With `join`, all of them,
    /// joined by a space ("09/14/21" and "07:08" -> "09/14/21 07:08").
    columns: Vec<String>,
    #[serde(default)]
    join: bool,
    /// A chrono `strftime` format for the agency's local time.
    format: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LocationSection {
    address: Option<String>,
    number: Option<String>,
    street: Option<String>,
    cross_streets: Option<[String; 2]>,
    latitude: Option<String>,
    longitude: Option<String>,
    /// One column holding both: "(47.6, -122.3)", "47.6, -122.3" or "POINT (-122.3 47.6)".
    coordinates: Option<String>,
    /// Projected coordinates: easting and northing, in the units of `crs`.
    x: Option<String>,
    y: Option<String>,
    /// The coordinate reference system of the coordinates, as "EPSG:<code>" (state plane feet,
    /// UTM metres, Web Mercator ...). Default EPSG:4326, latitude and longitude in degrees.
    crs: Option<String>,
    /// A column naming only an area (a beat, a district), used when the call has no location
    /// text: published as "<area_label> <value>".
    area: Option<String>,
    /// How an area is introduced; default the column's name ("Beat" -> "Beat C3").
    area_label: Option<String>,
    /// Learn the agency's gazetteer from its own rows: where a row has coordinates, its block
    /// or intersection's point (the policy's snapped point, averaged over the block's rows)
    /// places later rows of the same block that come without.
    #[serde(default)]
    learn_gazetteer: bool,
    /// The place an external geocoder is told a block or intersection is in ("St. Louis, MO"),
    /// added to each question; by default the agency's name.
    geocoder_context: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClosureRule {
    /// A regular expression matched (case-insensitively) against the status.
    pattern: String,
    /// "unfounded", "cancelled" or "no_report".
    closure: String,
}

/// Statuses that take back a call's first report, as agencies word them: Seattle's "FALSE
/// COMPLAINT/UNFOUNDED" and "DUPLICATED OR CANCELLED BY RADIO", San Luis Obispo's "Call
/// Cancelled", "Unfounded", "No Report" and "ALARM MALFUNCTIO", Milwaukee's "False Alarm".
pub const DEFAULT_CLOSURES: [(&str, &str); 3] = [
    (r"unfounded|false (alarm|complaint)|alarm malfunction?|negative violation?", "unfounded"),
    (r"cancel+ed|duplicated", "cancelled"),
    (r"^no report$", "no_report"),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CategoryRule {
    /// A regular expression matched (case-insensitively) against the call type.
    pattern: String,
    category: String,
}

/// Which columns hold the location.
#[derive(Debug, Clone)]
pub(crate) enum LocationColumns {
    Address(String),
    NumberAndStreet {
        number: String,
        street: String,
    },
    CrossStreets(String, String),
    /// The feed has coordinates and no location text.
    None,
}

/// A column naming an area (beat, district) and how to introduce it.
#[derive(Debug, Clone)]
pub(crate) struct AreaColumn {
    pub(crate) column: String,
    pub(crate) label: String,
}

/// Which columns hold the coordinates.
#[derive(Debug, Clone)]
pub(crate) enum Coordinates {
    Apart(String, String),
    Together(String),
}

/// A checked mapping file.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub(crate) agency: AgencyId,
    pub(crate) agency_name: String,
    pub(crate) time_zone: Tz,
    pub(crate) delimiter: u8,
    pub(crate) has_headers: bool,
    pub(crate) incident_id: String,
    pub(crate) time_columns: Vec<String>,
    pub(crate) join_time_columns: bool,
    pub(crate) time_format: String,
    pub(crate) call_type: String,
    pub(crate) priority: Option<String>,
    pub(crate) status: Option<String>,
    pub(crate) narrative: Vec<String>,
    pub(crate) units: Option<String>,
    pub(crate) location: LocationColumns,
    pub(crate) coordinates: Option<Coordinates>,
    pub(crate) projection: Option<Projection>,
    pub(crate) area: Option<AreaColumn>,
    learn_gazetteer: bool,
    geocoder_context: Option<String>,
    source: Option<Source>,
    rules: Vec<(Regex, Category)>,
    closures: Vec<(Regex, Closure)>,
}

impl Mapping {
    pub fn parse(text: &str) -> Result<Self, MappingError> {
        let file: File = toml::from_str(text)?;
        let agency = AgencyId::parse(&file.agency.id).map_err(|e| invalid("agency.id", e.to_string()))?;
        let time_zone: Tz = file.agency.time_zone.parse().map_err(|_| {
            invalid("agency.time_zone", format!("unknown time zone {:?}", file.agency.time_zone))
        })?;
        let delimiter = match file.csv.delimiter.as_bytes() {
            [b] => *b,
            _ => return Err(invalid("csv.delimiter", "must be exactly one ASCII character")),
        };
        if file.fields.received_at.columns.is_empty() {
            return Err(invalid("fields.received_at.columns", "name at least one column"));
        }
        let l = file.location;
        let location = match (l.address, l.number, l.street, l.cross_streets) {
            (Some(a), None, None, None) => LocationColumns::Address(a),
            (None, Some(number), Some(street), None) => LocationColumns::NumberAndStreet { number, street },
            (None, None, None, Some([a, b])) => LocationColumns::CrossStreets(a, b),
            // Coordinates only (checked below): the feed publishes no location text.
            (None, None, None, None) => LocationColumns::None,
            _ => {
                return Err(invalid(
                    "location",
                    "give exactly one of: `address`, `number` with `street`, or `cross_streets` \
                     (or only `latitude` and `longitude`)",
                ));
            }
        };
        let learn_gazetteer = l.learn_gazetteer;
        let geocoder_context = l.geocoder_context.clone();
        let coordinates = match (l.latitude, l.longitude, l.coordinates, l.x, l.y) {
            (None, None, None, None, None)
                if matches!(location, LocationColumns::None) && l.area.is_none() =>
            {
                return Err(invalid(
                    "location",
                    "name the location's columns: text, coordinates or an area, or several",
                ));
            }
            (Some(lat), Some(lon), None, None, None) | (None, None, None, Some(lon), Some(lat)) => {
                Some(Coordinates::Apart(lat, lon))
            }
            (None, None, Some(both), None, None) => Some(Coordinates::Together(both)),
            (None, None, None, None, None) => None,
            _ => {
                return Err(invalid(
                    "location",
                    "give `latitude` and `longitude`, or `x` and `y`, or `coordinates`, or none of them",
                ));
            }
        };
        let projection = match l.crs.as_deref() {
            None => None,
            Some(crs) => Projection::from_crs(crs).map_err(|reason| invalid("location.crs", reason))?,
        };
        let area = match (l.area, l.area_label) {
            (Some(column), label) => {
                Some(AreaColumn { label: label.unwrap_or_else(|| column.trim().to_owned()), column })
            }
            (None, Some(_)) => return Err(invalid("location.area_label", "needs `area`")),
            (None, None) => None,
        };
        let rules = file
            .categories
            .into_iter()
            .enumerate()
            .map(|(i, rule)| {
                let field = format!("categories[{i}]");
                let re = RegexBuilder::new(&rule.pattern)
                    .case_insensitive(true)
                    .build()
                    .map_err(|e| invalid(&format!("{field}.pattern"), e.to_string()))?;
                let category = rule
                    .category
                    .parse::<Category>()
                    .map_err(|e| invalid(&format!("{field}.category"), e.to_string()))?;
                Ok((re, category))
            })
            .collect::<Result<_, MappingError>>()?;
        let closure_rules: Vec<(String, String)> = if file.closures.is_empty() {
            DEFAULT_CLOSURES.iter().map(|(p, c)| ((*p).to_owned(), (*c).to_owned())).collect()
        } else {
            file.closures.into_iter().map(|r| (r.pattern, r.closure)).collect()
        };
        let closures = closure_rules
            .into_iter()
            .enumerate()
            .map(|(i, (pattern, closure))| {
                let field = format!("closures[{i}]");
                let re = RegexBuilder::new(&pattern)
                    .case_insensitive(true)
                    .build()
                    .map_err(|e| invalid(&format!("{field}.pattern"), e.to_string()))?;
                let closure = Closure::parse(&closure).ok_or_else(|| {
                    invalid(&format!("{field}.closure"), "must be unfounded, cancelled or no_report")
                })?;
                Ok((re, closure))
            })
            .collect::<Result<_, MappingError>>()?;
        Ok(Self {
            closures,
            agency,
            agency_name: file.agency.name,
            time_zone,
            delimiter,
            has_headers: file.csv.headers,
            incident_id: file.fields.incident_id,
            time_columns: file.fields.received_at.columns,
            join_time_columns: file.fields.received_at.join,
            time_format: file.fields.received_at.format,
            call_type: file.fields.call_type,
            priority: file.fields.priority,
            status: file.fields.status,
            narrative: file.fields.narrative,
            units: file.fields.units,
            location,
            coordinates,
            projection,
            area,
            learn_gazetteer,
            geocoder_context,
            source: file
                .source
                .map(Source::from_section)
                .transpose()
                .map_err(|(field, reason)| invalid(&field, reason))?,
            rules,
        })
    }

    pub fn agency(&self) -> &AgencyId {
        &self.agency
    }

    pub fn agency_name(&self) -> &str {
        &self.agency_name
    }

    /// The portal `porchlight serve` polls, if the mapping names one.
    pub fn source(&self) -> Option<&Source> {
        self.source.as_ref()
    }

    /// The place an external geocoder is told the agency's streets are in.
    pub fn geocoder_context(&self) -> &str {
        self.geocoder_context.as_deref().unwrap_or(&self.agency_name)
    }

    /// Whether the agency's gazetteer learns from the rows that come with coordinates.
    pub fn learns_gazetteer(&self) -> bool {
        self.learn_gazetteer
    }

    pub fn time_zone(&self) -> Tz {
        self.time_zone
    }

    /// Whether a status closes the call in a way that takes back its first report.
    pub fn closure_for(&self, status: &str) -> Option<Closure> {
        self.closures.iter().find(|(re, _)| re.is_match(status.trim())).map(|(_, c)| *c)
    }

    /// The category of the first rule whose pattern matches, if any.
    pub fn category_for(&self, call_type: &str) -> Option<Category> {
        self.rules.iter().find(|(re, _)| re.is_match(call_type)).map(|(_, c)| *c)
    }

    /// Read a local time in the agency's zone. In the hour that repeats when clocks go back the
    /// earlier instant is taken; a time in the hour skipped when clocks go forward is read as
    /// standard time, which is what a dispatch clock that did not change would have written.
    pub(crate) fn parse_time(&self, text: &str) -> Result<DateTime<Utc>, String> {
        // "epoch" and "epoch_ms": seconds or milliseconds since 1970-01-01 UTC, no zone needed.
        if let Some(scale) = match self.time_format.as_str() {
            "epoch" => Some(1000),
            "epoch_ms" => Some(1),
            _ => None,
        } {
            let n: i64 = text
                .trim()
                .parse()
                .map_err(|_| format!("{text:?} is not a whole number of {}", self.time_format))?;
            return n
                .checked_mul(scale)
                .and_then(DateTime::from_timestamp_millis)
                .ok_or_else(|| format!("{text:?} is out of range"));
        }
        let naive = NaiveDateTime::parse_from_str(text.trim(), &self.time_format)
            .map_err(|e| format!("cannot read {text:?} with format {:?}: {e}", self.time_format))?;
        let local = self
            .time_zone
            .from_local_datetime(&naive)
            .earliest()
            .or_else(|| self.time_zone.from_local_datetime(&(naive + chrono::Duration::hours(1))).earliest())
            .ok_or_else(|| format!("{text:?} does not exist in {}", self.time_zone))?;
        Ok(local.with_timezone(&Utc))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small mapping for tests in this crate: one address column, two category rules.
    pub(crate) const MINIMAL: &str = r#"
        [agency]
        id = "testville"
        name = "Testville PD"
        time_zone = "America/Chicago"
        [fields]
        incident_id = "id"
        received_at = { columns = ["time"], format = "%Y-%m-%d %H:%M:%S" }
        call_type = "nature"
        [location]
        address = "location"
        [[categories]]
        pattern = "-DV$"
        category = "domestic_violence"
        [[categories]]
        pattern = "^THEFT"
        category = "property"
    "#;

    #[test]
    fn parses_and_maps_categories_in_order() {
        let m = Mapping::parse(MINIMAL).unwrap();
        assert_eq!(m.agency().as_str(), "testville");
        assert_eq!(m.category_for("theft-dv"), Some(Category::DomesticViolence));
        assert_eq!(m.category_for("THEFT VEHICLE"), Some(Category::Property));
        assert_eq!(m.category_for("PATROL"), None);
    }

    /// The statuses of the shared cities that take a call back, and some that do not.
    #[test]
    fn closing_statuses_are_recognised_as_agencies_word_them() {
        let m = Mapping::parse(MINIMAL).unwrap();
        for (status, closure) in [
            ("FALSE COMPLAINT/UNFOUNDED", Some(Closure::Unfounded)),
            ("Unfounded", Some(Closure::Unfounded)),
            ("False Alarm", Some(Closure::Unfounded)),
            ("ALARM MALFUNCTIO", Some(Closure::Unfounded)),
            ("Call Cancelled", Some(Closure::Cancelled)),
            ("DUPLICATED OR CANCELLED BY RADIO", Some(Closure::Cancelled)),
            ("RESPONDING UNIT(S) CANCELLED BY RADIO", Some(Closure::Cancelled)),
            ("No Report", Some(Closure::NoReport)),
            ("Report To Follow", None),
            ("Unable to Locate Complainant", None),
            ("Assignment Completed", None),
        ] {
            assert_eq!(m.closure_for(status), closure, "{status}");
        }
        let own = format!("{MINIMAL}\n[[closures]]\npattern = \"^GOA$\"\nclosure = \"cancelled\"\n");
        let own = Mapping::parse(&own).unwrap();
        assert_eq!((own.closure_for("GOA"), own.closure_for("Unfounded")), (Some(Closure::Cancelled), None));
        let bad = format!("{MINIMAL}\n[[closures]]\npattern = \"x\"\nclosure = \"solved\"\n");
        assert!(Mapping::parse(&bad).unwrap_err().to_string().contains("closures[0].closure"));
    }

    #[test]
    fn local_times_follow_daylight_saving() {
        let m = Mapping::parse(MINIMAL).unwrap();
        let epoch = Mapping::parse(&MINIMAL.replace("%Y-%m-%d %H:%M:%S", "epoch")).unwrap();
        assert_eq!(epoch.parse_time("1525151428").unwrap().to_rfc3339(), "2018-05-01T05:10:28+00:00");
        assert!(epoch.parse_time("soon").is_err());
        // Central Daylight Time is UTC-5 in May, Central Standard Time UTC-6 in January.
        assert_eq!(m.parse_time("2018-05-01 00:10:28").unwrap().to_rfc3339(), "2018-05-01T05:10:28+00:00");
        assert_eq!(m.parse_time("2018-01-01 00:10:28").unwrap().to_rfc3339(), "2018-01-01T06:10:28+00:00");
        // 02:30 on 2018-03-11 never happened in Chicago.
        assert_eq!(m.parse_time("2018-03-11 02:30:00").unwrap().to_rfc3339(), "2018-03-11T08:30:00+00:00");
        assert!(m.parse_time("yesterday").unwrap_err().contains("yesterday"));
    }

    #[test]
    fn errors_name_the_field() {
        let bad_zone = MINIMAL.replace("America/Chicago", "Mars/Olympus");
        assert_eq!(
            Mapping::parse(&bad_zone).unwrap_err().to_string(),
            "mapping file, field `agency.time_zone`: unknown time zone \"Mars/Olympus\""
        );
        let bad_category = MINIMAL.replace("\"property\"", "\"burglary\"");
        assert_eq!(
            Mapping::parse(&bad_category).unwrap_err().to_string(),
            "mapping file, field `categories[1].category`: unknown category \"burglary\""
        );
        let bad_regex = MINIMAL.replace("^THEFT", "(THEFT");
        assert!(Mapping::parse(&bad_regex).unwrap_err().to_string().contains("`categories[1].pattern`"));
        assert!(
            Mapping::parse("nonsense =")
                .unwrap_err()
                .to_string()
                .starts_with("mapping file is not valid TOML")
        );
    }
}
