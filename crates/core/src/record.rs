//! The raw dispatch record, as a feed delivers it, before the privacy stage.
//!
//! A `CadRecord` lives in memory only. Its location is wrapped in [`Raw`], which prints as
//! `[redacted]` under `Debug` and implements neither `Display` nor `Serialize`, so a raw address
//! cannot reach a log line or a JSON body by accident.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};

use crate::{agency::AgencyId, category::Category, geo::Point};

/// A value that must not leave the privacy stage as it is.
#[derive(Clone, PartialEq, Eq)]
pub struct Raw<T>(T);

impl<T> Raw<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// Read the raw value. Only the privacy stage and feed parsers have a reason to call this.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Raw<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where the call was, in whichever shape the agency's feed gives it.
#[derive(Debug, Clone, PartialEq)]
pub enum RawLocation {
    /// One text field: a full address, an already-blocked address, an intersection or a place.
    Text(Raw<String>),
    /// A block or house number and a street, in two fields.
    NumberAndStreet { number: Raw<String>, street: Raw<String> },
    /// Two cross streets, in two fields.
    CrossStreets(Raw<String>, Raw<String>),
    /// Only an area: a beat, a district, a reporting area. `label` says which ("Beat").
    Area { label: String, name: Raw<String> },
    /// The feed gave no location text.
    None,
}

/// One dispatch record, typed by an agency's mapping but not yet made public.
#[derive(Debug, Clone)]
pub struct CadRecord {
    pub agency: AgencyId,
    /// Where the record came from in its input (a file's line number), for reports; 0 if none.
    pub line: u64,
    /// The agency's own incident number; repeated records with the same number are new
    /// versions of one incident.
    pub source_id: String,
    pub received_at: DateTime<Utc>,
    /// The day the call was received in the agency's own time zone: withheld calls are counted
    /// by it ("14 calls withheld today").
    pub local_day: NaiveDate,
    /// The agency's call type text or code, as mapped ("BATTERY", "SHOPLIFT - THEFT").
    pub call_type: String,
    pub category: Category,
    pub priority: Option<String>,
    pub status: Option<String>,
    pub location: RawLocation,
    /// Coordinates as the feed gives them: possibly a geocoded house.
    pub point: Option<Raw<Point>>,
    /// Narratives and comments, as written: names, plates, phone numbers.
    pub narrative: Option<Raw<String>>,
    /// The units that responded, as the agency names them ("B791"). A feed with one row per
    /// responding unit gives one here per row; the store merges them into the incident.
    pub units: Vec<String>,
    /// Whether the status closes the call as unfounded, cancelled or with no report.
    pub closure: Option<crate::incident::Closure>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_values_never_print() {
        let loc = RawLocation::Text(Raw::new("5237 N 35TH ST".to_owned()));
        let printed = format!("{loc:?}");
        assert!(!printed.contains("5237"), "{printed}");
        assert!(printed.contains("[redacted]"));
    }
}
