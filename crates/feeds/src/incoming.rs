//! Records pushed by a dispatch centre in Porchlight's own JSON form, read with the agency's
//! mapping (its call-type table). The HTTP layer parses the JSON; this turns it into a
//! [`CadRecord`] or a [`Problem`] that names the record and the field.

use chrono::{DateTime, Utc};
use porchlight_core::{
    category::Category,
    geo::Point,
    record::{CadRecord, Raw, RawLocation},
};

use crate::{Mapping, Problem};

/// Where a pushed call was.
#[derive(Debug, Clone, Default)]
pub struct IncomingLocation {
    pub address: Option<String>,
    pub number: Option<String>,
    pub street: Option<String>,
    pub cross_streets: Option<(String, String)>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// A beat or dispatch group, published as "Beat <name>" when there is no location text.
    pub area: Option<String>,
}

/// One pushed record, fields as sent. `received_at` carries its offset (RFC 3339).
#[derive(Debug, Clone, Default)]
pub struct Incoming {
    pub incident_id: String,
    pub received_at: Option<DateTime<Utc>>,
    pub call_type: String,
    pub priority: Option<String>,
    pub status: Option<String>,
    pub location: IncomingLocation,
    pub narrative: Option<String>,
    /// The responding units.
    pub units: Vec<String>,
}

impl Mapping {
    /// Read a pushed record; `index` is its place in the request (0-based), reported as its
    /// "line" in a problem.
    pub fn record_from(&self, index: u64, incoming: Incoming) -> Result<CadRecord, Problem> {
        let problem = |field: &str, code: &'static str, detail: &str| Problem {
            line: index,
            field: field.to_owned(),
            code,
            detail: detail.to_owned(),
        };
        let source_id = incoming.incident_id.trim().to_owned();
        if source_id.is_empty() {
            return Err(problem("incident_id", "missing", "no incident number"));
        }
        let Some(received_at) = incoming.received_at else {
            return Err(problem("received_at", "missing", "no time"));
        };
        let call_type = incoming.call_type.trim().to_owned();
        if call_type.is_empty() {
            return Err(problem("call_type", "missing", "no call type"));
        }
        let l = incoming.location;
        let point = match (l.latitude, l.longitude) {
            (None, None) => None,
            (Some(lat), Some(lon)) if lat == 0.0 && lon == 0.0 => None,
            (Some(lat), Some(lon)) => Some(Raw::new(Point::new(lat, lon).map_err(|_| {
                problem("location.latitude", "bad_coordinates", "outside the range of latitude and longitude")
            })?)),
            _ => {
                return Err(problem(
                    "location",
                    "bad_coordinates",
                    "give both latitude and longitude, or neither",
                ));
            }
        };
        let text = |s: String| Raw::new(s);
        let location = match (l.address, l.number, l.street, l.cross_streets) {
            (Some(a), None, None, None) if !a.trim().is_empty() => RawLocation::Text(text(a)),
            (None, number, Some(street), None) => RawLocation::NumberAndStreet {
                number: text(number.unwrap_or_default()),
                street: text(street),
            },
            (None, None, None, Some((a, b))) => RawLocation::CrossStreets(text(a), text(b)),
            (None | Some(_), None, None, None) => match l.area.filter(|a| !a.trim().is_empty()) {
                Some(area) => RawLocation::Area { label: "Beat".into(), name: text(area) },
                None => RawLocation::None,
            },
            _ => {
                return Err(problem(
                    "location",
                    "ambiguous_location",
                    "give one of: address, number and street, or cross_streets",
                ));
            }
        };
        let category = self.category_for(&call_type).unwrap_or(Category::Other);
        let status = incoming.status.filter(|s| !s.trim().is_empty());
        Ok(CadRecord {
            closure: status.as_deref().and_then(|s| self.closure_for(s)),
            agency: self.agency.clone(),
            line: index,
            source_id,
            received_at,
            local_day: received_at.with_timezone(&self.time_zone).date_naive(),
            call_type,
            category,
            priority: incoming.priority.filter(|p| !p.trim().is_empty()),
            status,
            location,
            point,
            narrative: incoming.narrative.filter(|n| !n.trim().is_empty()).map(Raw::new),
            units: incoming.units,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn mapping() -> Mapping {
        Mapping::parse(crate::mapping::tests::MINIMAL).unwrap()
    }

    #[test]
    fn pushed_records_use_the_call_type_table_and_name_their_problems() {
        let m = mapping();
        let ok = Incoming {
            incident_id: "1".into(),
            received_at: Some(Utc.with_ymd_and_hms(2018, 5, 1, 5, 0, 0).unwrap()),
            call_type: "THEFT".into(),
            location: IncomingLocation { address: Some("5237 N 35TH ST".into()), ..Default::default() },
            ..Default::default()
        };
        let record = m.record_from(0, ok.clone()).unwrap();
        assert_eq!((record.category, record.line), (Category::Property, 0));
        let no_time = Incoming { received_at: None, ..ok.clone() };
        assert_eq!(
            m.record_from(3, no_time).unwrap_err().to_string(),
            "line 3, field `received_at`: missing: no time"
        );
        let both = Incoming {
            location: IncomingLocation {
                address: Some("5237 N 35TH ST".into()),
                cross_streets: Some(("A".into(), "B".into())),
                ..Default::default()
            },
            ..ok
        };
        assert_eq!(m.record_from(1, both).unwrap_err().code, "ambiguous_location");
    }
}
