//! The privacy stage: an agency's policy, applied to a raw record before anything is stored.
//!
//! Order, as in DESIGN.md: withhold the categories the policy withholds (counted, not kept),
//! generalize the location, snap coordinates, hold until the publication delay has passed.
//! Free text is dropped, or, where the policy says so, scrubbed.
//!
//! A policy is data: a [`PolicyDocument`] that an agency publishes (TOML in the repository,
//! JSON in the store and the API), checked into a [`Policy`] by [`Policy::new`].

use std::{collections::BTreeSet, fmt, sync::Arc};

use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::{
    address::{self, Generalization, LocationKind, Place},
    agency::AgencyId,
    category::Category,
    gazetteer::{Confidence, Gazetteer, Located},
    geo::Point,
    incident::{PlacedBy, PublicIncident},
    record::{CadRecord, RawLocation},
    scrub::Scrubber,
};

/// The finest snapping allowed: resolution 10 cells are about 15,000 m², roughly a city block.
pub const FINEST_SNAP: u8 = 10;
/// The longest publication delay a policy may set: one week.
pub const MAX_DELAY_MINUTES: u32 = 7 * 24 * 60;

/// An agency's privacy policy as it publishes it. Every field has a default, so an empty
/// document is the default policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDocument {
    /// Categories counted but never kept.
    #[serde(default = "default_withhold")]
    pub withhold: BTreeSet<Category>,
    #[serde(default)]
    pub location: LocationSection,
    #[serde(default)]
    pub coordinates: CoordinatesSection,
    #[serde(default)]
    pub free_text: FreeText,
    #[serde(default)]
    pub publication: PublicationSection,
    /// Whether the responding units' names are published.
    #[serde(default)]
    pub units: Units,
}

fn default_withhold() -> BTreeSet<Category> {
    let mut withhold: BTreeSet<Category> = Category::ALL.into_iter().filter(|c| c.is_sensitive()).collect();
    // Officers' own errands ("RETURN STATION", "COURT DUTY") are not events in a neighbourhood.
    withhold.insert(Category::Administrative);
    withhold
}

impl Default for PolicyDocument {
    fn default() -> Self {
        Self {
            withhold: default_withhold(),
            location: LocationSection::default(),
            coordinates: CoordinatesSection::default(),
            free_text: FreeText::default(),
            publication: PublicationSection::default(),
            units: Units::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocationMode {
    HundredBlock,
    IntersectionOnly,
    StreetOnly,
    Cell,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationSection {
    #[serde(default = "hundred_block")]
    pub mode: LocationMode,
    /// For `hundred_block`: 100 ("5200 block") or 1000 ("5000 block").
    #[serde(default = "hundred")]
    pub block_size: u32,
    /// For `cell`: the H3 resolution of the published area (0 to 9; 7 is about 5 km²).
    #[serde(default = "seven")]
    pub cell_resolution: u8,
}

fn hundred_block() -> LocationMode {
    LocationMode::HundredBlock
}
fn hundred() -> u32 {
    100
}
fn seven() -> u8 {
    7
}

impl Default for LocationSection {
    fn default() -> Self {
        Self { mode: hundred_block(), block_size: hundred(), cell_resolution: seven() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoordinatesSection {
    /// Coordinates are replaced by the centre of the H3 cell of this resolution (0 to 10).
    #[serde(default = "finest")]
    pub snap_resolution: u8,
}

fn finest() -> u8 {
    FINEST_SNAP
}

impl Default for CoordinatesSection {
    fn default() -> Self {
        Self { snap_resolution: FINEST_SNAP }
    }
}

/// What happens to the names of the units that responded ("B791", "4267").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Units {
    /// Not published: which units are busy where is the police's operational business.
    #[default]
    Drop,
    /// Published as the agency lists them, merged over an incident's rows and versions.
    Publish,
}

/// What happens to narratives and comments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FreeText {
    /// Never published.
    #[default]
    Drop,
    /// Published with names, phone numbers, e-mail, plates, dates, addresses and officers
    /// replaced by labels ([`crate::scrub`]).
    Scrub,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicationSection {
    /// Minutes after the call was received before it is published or alerted.
    #[serde(default = "ten")]
    pub delay_minutes: u32,
    /// Days after the call was received when the incident, its versions and its alerts are
    /// deleted. Absent: kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u32>,
}

fn ten() -> u32 {
    10
}

impl Default for PublicationSection {
    fn default() -> Self {
        Self { delay_minutes: ten(), retention_days: None }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("policy field `{field}`: {reason}")]
pub struct InvalidPolicy {
    pub field: &'static str,
    pub reason: String,
}

/// A checked policy, with the version the store gave it (0 before it is stored).
#[derive(Debug, Clone)]
pub struct Policy {
    pub version: u32,
    document: PolicyDocument,
    generalization: Generalization,
    snap: h3o::Resolution,
    delay: Duration,
    /// Needed only by a policy that scrubs free text; without one, free text is dropped.
    scrubber: Option<Arc<Scrubber>>,
    gazetteer: Option<Arc<Gazetteer>>,
    /// Whether published incidents carry their block's gazetteer entry, for the agency's
    /// gazetteer to learn from.
    learn: bool,
}

impl PartialEq for Policy {
    fn eq(&self, other: &Self) -> bool {
        self.version == other.version && self.document == other.document
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self::new(PolicyDocument::default(), 0).expect("the default policy is valid")
    }
}

impl Policy {
    pub fn new(document: PolicyDocument, version: u32) -> Result<Self, InvalidPolicy> {
        let invalid = |field, reason: &str| Err(InvalidPolicy { field, reason: reason.to_owned() });
        let loc = &document.location;
        if ![100, 1000].contains(&loc.block_size) {
            return invalid("location.block_size", "must be 100 or 1000");
        }
        if loc.cell_resolution > 9 {
            return invalid("location.cell_resolution", "must be from 0 (coarsest) to 9");
        }
        if document.coordinates.snap_resolution > FINEST_SNAP {
            return invalid(
                "coordinates.snap_resolution",
                "must be from 0 to 10: finer than a city block is not allowed",
            );
        }
        if document.publication.delay_minutes == 0 {
            return invalid(
                "publication.delay_minutes",
                "must be at least 1: a call published the moment it is made leads anyone to the scene \
                 while the police are still on their way",
            );
        }
        if document.publication.delay_minutes > MAX_DELAY_MINUTES {
            return invalid("publication.delay_minutes", "must be at most 10080 (one week)");
        }
        if document.publication.retention_days == Some(0) {
            return invalid(
                "publication.retention_days",
                "must be at least 1 day, or left out to keep incidents",
            );
        }
        let generalization = match loc.mode {
            LocationMode::HundredBlock => Generalization::HundredBlock { block_size: loc.block_size },
            LocationMode::IntersectionOnly => Generalization::IntersectionOnly,
            LocationMode::StreetOnly => Generalization::StreetOnly,
            LocationMode::Cell => Generalization::Cell,
        };
        // In cell mode the point is as coarse as the published area.
        let snap = match loc.mode {
            LocationMode::Cell => loc.cell_resolution.min(document.coordinates.snap_resolution),
            _ => document.coordinates.snap_resolution,
        };
        let snap = h3o::Resolution::try_from(snap).expect("checked range");
        let delay = Duration::minutes(i64::from(document.publication.delay_minutes));
        Ok(Self {
            version,
            document,
            generalization,
            snap,
            delay,
            scrubber: None,
            gazetteer: None,
            learn: false,
        })
    }

    /// Give the policy the scrubber it needs if it publishes scrubbed free text.
    pub fn with_scrubber(mut self, scrubber: Arc<Scrubber>) -> Self {
        self.scrubber = Some(scrubber);
        self
    }

    /// Place records that come without coordinates by the agency's gazetteer of blocks and
    /// intersections.
    pub fn with_gazetteer(mut self, gazetteer: Arc<Gazetteer>) -> Self {
        self.gazetteer = Some(gazetteer);
        self
    }

    /// Place an incident that has no point at `point` (an external geocoder's answer for its
    /// [`PublicIncident::geocoder_query`]), snapped like any other.
    pub fn place(&self, incident: &mut PublicIncident, point: Point) {
        if incident.point.is_none() {
            incident.point = Some(point.snap(self.snap));
            incident.placed_by = Some(PlacedBy::Geocoder);
            incident.place_confidence = Some(Confidence::Low);
        }
    }

    /// Give each published incident placed by its feed its block or intersection's gazetteer
    /// entry (see [`PublicIncident::gazetteer_entry`]), for the agency's gazetteer to learn.
    pub fn learning_gazetteer(mut self) -> Self {
        self.learn = true;
        self
    }

    /// How long incidents stay public, if the policy limits it.
    pub fn retention(&self) -> Option<Duration> {
        self.document.publication.retention_days.map(|d| Duration::days(i64::from(d)))
    }

    pub fn scrubs_free_text(&self) -> bool {
        self.document.free_text == FreeText::Scrub
    }

    pub fn document(&self) -> &PolicyDocument {
        &self.document
    }

    pub fn withholds(&self, category: Category) -> bool {
        self.document.withhold.contains(&category)
    }
}

/// Why a record was withheld.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WithholdReason {
    /// The policy withholds this category.
    Category(Category),
    /// The location could not be placed confidently; publishing the text could leak it.
    UnparseableLocation,
    /// The record has no location at all: nothing to place it by.
    NoLocation,
}

impl fmt::Display for WithholdReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WithholdReason::Category(c) => write!(f, "category:{c}"),
            WithholdReason::UnparseableLocation => f.write_str("unparseable_location"),
            WithholdReason::NoLocation => f.write_str("no_location"),
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

// Most decisions publish: boxing the incident would add an allocation per row on the import
// path to save space only on the rarer withheld ones.
#[allow(clippy::large_enum_variant)]
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
                day: record.local_day,
                category: record.category,
                reason,
            })
        };
        if self.withholds(record.category) {
            return withheld(WithholdReason::Category(record.category));
        }
        let place = match &record.location {
            RawLocation::Text(t) => address::parse(t.expose()),
            RawLocation::NumberAndStreet { number, street } => {
                address::parse_parts(number.expose(), street.expose())
            }
            RawLocation::CrossStreets(a, b) => address::parse_cross_streets(a.expose(), b.expose()),
            RawLocation::Area { .. } | RawLocation::None => Place::Unknown,
        };
        let fed = record.point.as_ref().map(|p| p.expose().snap(self.snap));
        // Without coordinates, the block or intersection's point from the gazetteer, snapped
        // alike; never from a bare street.
        let placed = match (fed, &self.gazetteer) {
            (None, Some(gazetteer)) => {
                gazetteer.locate(&place).map(|l| Located { point: l.point.snap(self.snap), ..l })
            }
            _ => None,
        };
        let point = fed.or(placed.map(|l| l.point));
        let location = match (address::generalize(&place, self.generalization), &record.location, point) {
            (Some(location), _, _) => location,
            // A feed that gives coordinates and no text ("blurred" points): named by its
            // snapped point. Text that could not be placed is withheld even with a point,
            // since the point may have been geocoded from it.
            (None, RawLocation::None, Some(p)) => address::near(p),
            (None, RawLocation::Area { label, name }, _) => match address::area(label, name.expose()) {
                Some(location) => location,
                None => return withheld(WithholdReason::UnparseableLocation),
            },
            (None, RawLocation::None, None) => return withheld(WithholdReason::NoLocation),
            (None, _, _) => return withheld(WithholdReason::UnparseableLocation),
        };
        // The block's key and the snapped point, never finer than the policy publishes: a hundred
        // block only where it publishes hundred blocks, a corner only where it publishes corners.
        let learned = match (self.learn, fed, location.kind(), self.generalization) {
            (true, Some(p), LocationKind::Block, Generalization::HundredBlock { block_size: 100 })
            | (true, Some(p), LocationKind::Intersection, _) => crate::gazetteer::key(&place).map(|k| (k, p)),
            _ => None,
        };
        let narrative = match (self.document.free_text, &self.scrubber, &record.narrative) {
            (FreeText::Scrub, Some(scrubber), Some(text)) => {
                Some(scrubber.scrub(text.expose())).filter(|t| !t.trim().is_empty())
            }
            _ => None,
        };
        let units = match self.document.units {
            Units::Publish => {
                let mut units: Vec<String> = Vec::new();
                for u in record.units {
                    if !u.trim().is_empty() && !units.iter().any(|k| k == u.trim()) {
                        units.push(u.trim().to_owned());
                    }
                }
                units
            }
            Units::Drop => Vec::new(),
        };
        Decision::Publish(PublicIncident {
            units,
            closure: record.closure,
            narrative,
            agency: record.agency,
            source_id: record.source_id,
            received_at: record.received_at,
            visible_at: record.received_at + self.delay,
            call_type: record.call_type,
            category: record.category,
            priority: record.priority,
            status: record.status,
            location,
            point,
            learned,
            placed_by: match (fed, placed) {
                (Some(_), _) => Some(PlacedBy::Feed),
                (None, Some(l)) => Some(l.by),
                (None, None) => None,
            },
            place_confidence: placed.filter(|_| fed.is_none()).map(|l| l.confidence),
            policy_version: self.version,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::record::Raw;

    fn record(category: Category, location: &str) -> CadRecord {
        CadRecord {
            agency: AgencyId::parse("milwaukee").unwrap(),
            line: 0,
            source_id: "1211372".into(),
            received_at: Utc.with_ymd_and_hms(2018, 5, 1, 5, 10, 28).unwrap(),
            local_day: NaiveDate::from_ymd_opt(2018, 5, 1).unwrap(),
            call_type: "TRBL W/SUBJ".into(),
            category,
            priority: None,
            status: Some("Unable to Locate Complainant".into()),
            location: RawLocation::Text(Raw::new(location.into())),
            point: Some(Raw::new(Point::new(43.112_798_7, -87.956_741_5).unwrap())),
            narrative: None,
            units: vec!["B791".into(), "B791".into(), "B240".into()],
            closure: None,
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
    fn calls_without_coordinates_are_placed_by_the_gazetteer_and_snapped() {
        let block = Point::new(43.113_1, -87.956_9).unwrap();
        let gazetteer: Gazetteer =
            [(crate::gazetteer::key_of("52XX N 35TH ST").unwrap(), block)].into_iter().collect();
        let policy = Policy::default().with_gazetteer(Arc::new(gazetteer));
        let mut r = record(Category::Disorder, "5237 N 35TH ST,MKE");
        r.point = None;
        let Decision::Publish(p) = policy.apply(r) else { panic!("withheld") };
        assert_eq!(p.placed_by(), Some(PlacedBy::Gazetteer));
        assert_eq!(p.point(), Some(block.snap(h3o::Resolution::Ten)));
        // The feed's own coordinates win; a street the gazetteer does not know stays unplaced.
        let Decision::Publish(p) = policy.apply(record(Category::Disorder, "5237 N 35TH ST,MKE")) else {
            panic!("withheld")
        };
        assert_eq!(p.placed_by(), Some(PlacedBy::Feed));
        let mut r = record(Category::Disorder, "4100 N 35TH ST,MKE");
        r.point = None;
        let Decision::Publish(p) = policy.apply(r) else { panic!("withheld") };
        assert_eq!((p.point(), p.placed_by()), (None, None));
        // What a geocoder may be asked: the published block, no house number; its answer is
        // snapped too.
        assert_eq!(p.geocoder_query().as_deref(), Some("4100 N 35th St"));
        let mut p = p;
        policy.place(&mut p, block);
        assert_eq!(
            (p.point(), p.placed_by()),
            (Some(block.snap(h3o::Resolution::Ten)), Some(PlacedBy::Geocoder))
        );
        assert_eq!(p.geocoder_query(), None);
    }

    #[test]
    fn the_gazetteer_learns_nothing_finer_than_the_policy_publishes() {
        let learns = |document: PolicyDocument, location: &str| {
            let policy = Policy::new(document, 1).unwrap().learning_gazetteer();
            let Decision::Publish(p) = policy.apply(record(Category::Disorder, location)) else {
                panic!("withheld")
            };
            p.gazetteer_entry().map(|(k, _)| k.to_owned())
        };
        let hundreds = PolicyDocument::default();
        assert_eq!(learns(hundreds.clone(), "5237 N 35TH ST,MKE").as_deref(), Some("5200 N 35TH ST"));
        let mut thousands = hundreds.clone();
        thousands.location.block_size = 1000;
        assert_eq!(learns(thousands.clone(), "5237 N 35TH ST,MKE"), None);
        assert!(learns(thousands, "N 35TH ST / W HAMPTON AV").is_some());
        // Without learning, nothing.
        let Decision::Publish(p) = Policy::default().apply(record(Category::Disorder, "5237 N 35TH ST,MKE"))
        else {
            panic!("withheld")
        };
        assert_eq!(p.gazetteer_entry(), None);
    }

    #[test]
    fn coordinates_without_text_are_named_by_the_snapped_point() {
        let mut r = record(Category::Property, "");
        r.location = RawLocation::None;
        let Decision::Publish(p) = Policy::default().apply(r) else { panic!("withheld") };
        let point = p.point().unwrap();
        assert_eq!(p.location().text(), format!("Near {:.3}, {:.3}", point.lat(), point.lon()));
        let mut r = record(Category::Property, "");
        (r.location, r.point) = (RawLocation::None, None);
        let Decision::Withhold(w) = Policy::default().apply(r) else { panic!("published") };
        assert_eq!(w.reason.to_string(), "no_location");
    }

    #[test]
    fn an_area_alone_is_published_by_its_name_never_an_address_in_its_place() {
        let area = |name: &str| RawLocation::Area { label: "Beat".into(), name: Raw::new(name.into()) };
        let mut r = record(Category::Property, "");
        (r.location, r.point) = (area(" C3 "), None);
        let Decision::Publish(p) = Policy::default().apply(r) else { panic!("withheld") };
        assert_eq!((p.location().text(), p.location().kind()), ("Beat C3", LocationKind::Area));
        for wrong in ["5237 N 35TH ST", "N 35TH ST / W CAPITOL DR"] {
            let mut r = record(Category::Property, "");
            (r.location, r.point) = (area(wrong), None);
            let Decision::Withhold(w) = Policy::default().apply(r) else { panic!("published {wrong}") };
            assert_eq!(w.reason.to_string(), "unparseable_location");
        }
    }

    #[test]
    fn a_policy_document_sets_each_rule() {
        let doc: PolicyDocument = serde_json::from_str(
            r#"{"withhold": ["medical"], "location": {"mode": "hundred_block", "block_size": 1000},
                "coordinates": {"snap_resolution": 8}, "publication": {"delay_minutes": 30}, "units": "publish"}"#,
        )
        .unwrap();
        let policy = Policy::new(doc, 3).unwrap();
        // Domestic violence is not in this agency's list: published, at the thousand block.
        let Decision::Publish(p) = policy.apply(record(Category::DomesticViolence, "5237 N 35TH ST")) else {
            panic!("withheld")
        };
        assert_eq!(p.location().text(), "5000 block of N 35th St");
        assert_eq!(p.policy_version(), 3);
        assert_eq!(p.visible_at() - p.received_at(), Duration::minutes(30));
        // Resolution 8 cells are about 0.7 km²: the point moves further than at resolution 10.
        let house = Point::new(43.112_798_7, -87.956_741_5).unwrap();
        assert_eq!(p.point(), Some(house.snap(h3o::Resolution::Eight)));
        assert!(matches!(policy.apply(record(Category::Medical, "5237 N 35TH ST")), Decision::Withhold(_)));
        // Units are published once each, in the order given; by default not at all.
        assert_eq!(p.units(), ["B791", "B240"]);
        let Decision::Publish(p) = Policy::default().apply(record(Category::Disorder, "5237 N 35TH ST"))
        else {
            panic!("withheld")
        };
        assert!(p.units().is_empty());
    }

    #[test]
    fn invalid_policies_name_the_field() {
        let mut doc = PolicyDocument::default();
        doc.coordinates.snap_resolution = 12;
        assert_eq!(Policy::new(doc, 0).unwrap_err().field, "coordinates.snap_resolution");
        let mut doc = PolicyDocument::default();
        doc.location.block_size = 50;
        assert_eq!(Policy::new(doc, 0).unwrap_err().field, "location.block_size");
        assert!(serde_json::from_str::<PolicyDocument>(r#"{"publication": {"delay_minutes": -5}}"#).is_err());
        let no_delay: PolicyDocument =
            serde_json::from_str(r#"{"publication": {"delay_minutes": 0}}"#).unwrap();
        let refused = Policy::new(no_delay, 1).unwrap_err();
        assert_eq!(refused.field, "publication.delay_minutes");
        assert!(serde_json::from_str::<PolicyDocument>(r#"{"free_text": "publish"}"#).is_err());
        let mut doc = PolicyDocument::default();
        doc.publication.retention_days = Some(0);
        assert_eq!(Policy::new(doc, 0).unwrap_err().field, "publication.retention_days");
        let mut doc = PolicyDocument::default();
        doc.publication.retention_days = Some(90);
        assert_eq!(Policy::new(doc, 0).unwrap().retention(), Some(Duration::days(90)));
        assert_eq!(serde_json::from_str::<PolicyDocument>("{}").unwrap(), PolicyDocument::default());
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
