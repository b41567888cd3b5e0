//! Records for tests and benchmarks (the `testing` feature): a dispatch call as the privacy
//! stage receives it.

use chrono::{TimeZone, Utc};

use crate::{
    agency::AgencyId,
    category::Category,
    geo::Point,
    incident::Closure,
    record::{CadRecord, Raw, RawLocation},
};

/// A call to `agency` on the 5200 block of N 35th St, received 2018-05-01 05:00 UTC, its
/// coordinates `at`; a status of `UNFOUNDED` closes it so.
pub fn call(
    agency: &str,
    id: &str,
    call_type: &str,
    category: Category,
    status: &str,
    at: Point,
) -> CadRecord {
    CadRecord {
        agency: AgencyId::parse(agency).expect("a valid agency id"),
        line: 0,
        source_id: id.into(),
        received_at: Utc.with_ymd_and_hms(2018, 5, 1, 5, 0, 0).unwrap(),
        local_day: chrono::NaiveDate::from_ymd_opt(2018, 5, 1).unwrap(),
        call_type: call_type.into(),
        category,
        priority: None,
        status: Some(status.into()),
        closure: (status == "UNFOUNDED").then_some(Closure::Unfounded),
        location: RawLocation::Text(Raw::new("5237 N 35TH ST".into())),
        point: Some(Raw::new(at)),
        narrative: None,
        units: Vec::new(),
    }
}
