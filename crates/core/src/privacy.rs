//! The privacy stage: an agency's policy, applied to a raw record before anything is stored.
//!
//! Order, as in DESIGN.md: withhold sensitive categories (counted, not kept), generalize the
//! location, snap coordinates. Free text never enters a [`CadRecord`] in this version, so there is
//! nothing to drop yet. The publication delay arrives with the policy engine (issue 3).

use std::{collections::BTreeSet, fmt};

use chrono::NaiveDate;

use crate::{
    address::{self, Place},
    agency::AgencyId,
    category::Category,
    incident::PublicIncident,
    record::{CadRecord, RawLocation},
};

/// One agency's published privacy policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub version: u32,
    /// Categories counted but never kept.
    pub withhold: BTreeSet<Category>,
    /// House numbers are rounded down to a multiple of this (100: "5200 block").
    pub block_size: u32,
    /// Coordinates are replaced by the centre of the H3 cell of this resolution.
    pub snap_resolution: h3o::Resolution,
}

impl Default for Policy {
    fn default() -> Self {
        let mut withhold: BTreeSet<Category> =
            Category::ALL.into_iter().filter(|c| c.is_sensitive()).collect();
        // Officers' own errands ("RETURN STATION", "COURT DUTY") are not events in a neighbourhood.
        withhold.insert(Category::Administrative);
        Self {
            version: 1,
            withhold,
            block_size: 100,
            // Resolution 10 cells are about 15,000 m², roughly a city block.
            snap_resolution: h3o::Resolution::Ten,
        }
    }
}

/// Why a record was withheld.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WithholdReason {
    /// The policy withholds this category.
    Category(Category),
    /// The location could not be placed confidently; publishing the text could leak it.
    UnparseableLocation,
}

impl fmt::Display for WithholdReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WithholdReason::Category(c) => write!(f, "category:{c}"),
            WithholdReason::UnparseableLocation => f.write_str("unparseable_location"),
        }
    }
}

/// A withheld record, reduced to what may be counted publicly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Withheld {
    pub agency: AgencyId,
    pub day: NaiveDate,
    pub category: Category,
    pub reason: WithholdReason,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Publish(PublicIncident),
    Withhold(Withheld),
}

impl Policy {
    /// Apply the policy. Consumes the record: after this call the raw form is gone.
    pub fn apply(&self, record: CadRecord) -> Decision {
        let withheld = |reason| {
            Decision::Withhold(Withheld {
                agency: record.agency.clone(),
                day: record.received_at.date_naive(),
                category: record.category,
                reason,
            })
        };
        if self.withhold.contains(&record.category) {
            return withheld(WithholdReason::Category(record.category));
        }
        let place = match &record.location {
            RawLocation::Text(t) => address::parse(t.expose()),
            RawLocation::NumberAndStreet { number, street } => {
                address::parse_parts(number.expose(), street.expose())
            }
            RawLocation::CrossStreets(a, b) => address::parse_cross_streets(a.expose(), b.expose()),
            RawLocation::None => Place::Unknown,
        };
        let Some(location) = address::generalize(&place, self.block_size) else {
            return withheld(WithholdReason::UnparseableLocation);
        };
        let point = record.point.as_ref().map(|p| p.expose().snap(self.snap_resolution));
        Decision::Publish(PublicIncident {
            agency: record.agency,
            source_id: record.source_id,
            received_at: record.received_at,
            call_type: record.call_type,
            category: record.category,
            priority: record.priority,
            status: record.status,
            location,
            point,
            policy_version: self.version,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::{geo::Point, record::Raw};

    fn record(category: Category, location: &str) -> CadRecord {
        CadRecord {
            agency: AgencyId::parse("milwaukee").unwrap(),
            source_id: "1211372".into(),
            received_at: Utc.with_ymd_and_hms(2018, 5, 1, 5, 10, 28).unwrap(),
            call_type: "TRBL W/SUBJ".into(),
            category,
            priority: None,
            status: Some("Unable to Locate Complainant".into()),
            location: RawLocation::Text(Raw::new(location.into())),
            point: Some(Raw::new(Point::new(43.112_798_7, -87.956_741_5).unwrap())),
        }
    }

    #[test]
    fn publishes_the_block_and_a_snapped_point() {
        let Decision::Publish(p) = Policy::default().apply(record(Category::Disorder, "5237 N 35TH ST,MKE"))
        else {
            panic!("withheld")
        };
        assert_eq!(p.location().text(), "5200 block of N 35th St");
        let point = p.point().unwrap();
        assert_ne!((point.lat(), point.lon()), (43.112_798_7, -87.956_741_5));
        assert!(point.distance_m(Point::new(43.112_798_7, -87.956_741_5).unwrap()) < 80.0);
    }

    #[test]
    fn withholds_sensitive_categories_and_unplaceable_locations() {
        let policy = Policy::default();
        for c in [
            Category::DomesticViolence,
            Category::Medical,
            Category::Suicide,
            Category::MentalHealth,
            Category::SexualOffense,
            Category::ChildAbuse,
        ] {
            assert_eq!(
                policy.apply(record(c, "5237 N 35TH ST")),
                Decision::Withhold(Withheld {
                    agency: AgencyId::parse("milwaukee").unwrap(),
                    day: NaiveDate::from_ymd_opt(2018, 5, 1).unwrap(),
                    category: c,
                    reason: WithholdReason::Category(c),
                })
            );
        }
        let Decision::Withhold(w) = policy.apply(record(Category::Property, "BADGER UNIFORM")) else {
            panic!("published")
        };
        assert_eq!(w.reason, WithholdReason::UnparseableLocation);
        assert_eq!(w.reason.to_string(), "unparseable_location");
    }
}
