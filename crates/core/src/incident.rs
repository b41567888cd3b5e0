//! Incidents in their public form.
//!
//! [`PublicIncident`] is what the privacy stage emits and the only thing the store will write.
//! Its fields are private and it has no public constructor, so nothing outside this crate's
//! privacy stage can make one from a raw record. [`Incident`] is the stored, versioned read
//! model that the API, the feeds and the alerts serve.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    address::{LocationKind, PublicLocation},
    agency::AgencyId,
    category::Category,
    gazetteer::Confidence,
    geo::Point,
};

/// How a call was closed when the closing takes back its first report: the agency's status
/// says so ("UNFOUNDED", "Call Cancelled", "No Report"). Subscribers who were alerted get a
/// retraction; nobody is alerted anew.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Closure {
    Unfounded,
    Cancelled,
    NoReport,
}

impl Closure {
    pub fn as_str(self) -> &'static str {
        match self {
            Closure::Unfounded => "unfounded",
            Closure::Cancelled => "cancelled",
            Closure::NoReport => "no_report",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Closure::Unfounded, Closure::Cancelled, Closure::NoReport].into_iter().find(|c| c.as_str() == s)
    }
}

/// Where an incident's point came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlacedBy {
    /// The feed's own coordinates, snapped.
    Feed,
    /// The agency's gazetteer point of the block or intersection, snapped: the feed gave none.
    Gazetteer,
    /// The agency's street centrelines: the middle of the block's address range along its
    /// street, or where the two streets meet, snapped.
    Centreline,
    /// An external geocoder's answer for the block or intersection (never the address), snapped:
    /// neither the feed nor the gazetteer placed it.
    Geocoder,
}

impl PlacedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            PlacedBy::Feed => "feed",
            PlacedBy::Gazetteer => "gazetteer",
            PlacedBy::Centreline => "centreline",
            PlacedBy::Geocoder => "geocoder",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [PlacedBy::Feed, PlacedBy::Gazetteer, PlacedBy::Centreline, PlacedBy::Geocoder]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PublicIncident {
    pub(crate) agency: AgencyId,
    pub(crate) source_id: String,
    pub(crate) received_at: DateTime<Utc>,
    pub(crate) visible_at: DateTime<Utc>,
    pub(crate) call_type: String,
    pub(crate) category: Category,
    pub(crate) priority: Option<String>,
    pub(crate) status: Option<String>,
    pub(crate) location: PublicLocation,
    pub(crate) point: Option<Point>,
    /// Where the point came from; `None` without a point.
    pub(crate) placed_by: Option<PlacedBy>,
    /// How sure a point Porchlight placed is; `None` for the feed's own point or none.
    pub(crate) place_confidence: Option<Confidence>,
    /// The gazetteer's key of the incident's block or intersection with its snapped point, when
    /// the policy learns and the feed gave coordinates.
    pub(crate) learned: Option<(String, Point)>,
    pub(crate) policy_version: u32,
    /// The narrative, scrubbed, where the policy publishes it.
    pub(crate) narrative: Option<String>,
    /// The responding units, where the policy publishes them; else empty.
    pub(crate) units: Vec<String>,
    pub(crate) closure: Option<Closure>,
}

impl PublicIncident {
    pub fn agency(&self) -> &AgencyId {
        &self.agency
    }

    /// The agency's incident number. The store keeps only a keyed hash of it, to recognise new
    /// versions of the same incident; it is never published, because the agency's own records
    /// pair it with the full address.
    pub fn source_id(&self) -> &str {
        &self.source_id
    }

    pub fn received_at(&self) -> DateTime<Utc> {
        self.received_at
    }

    /// When the publication delay ends: the incident is neither served nor alerted before.
    pub fn visible_at(&self) -> DateTime<Utc> {
        self.visible_at
    }

    pub fn call_type(&self) -> &str {
        &self.call_type
    }

    pub fn category(&self) -> Category {
        self.category
    }

    pub fn priority(&self) -> Option<&str> {
        self.priority.as_deref()
    }

    pub fn status(&self) -> Option<&str> {
        self.status.as_deref()
    }

    pub fn location(&self) -> &PublicLocation {
        &self.location
    }

    pub fn point(&self) -> Option<Point> {
        self.point
    }

    /// Where the point came from: the feed, the agency's gazetteer or centrelines, an external
    /// geocoder; `None` without a point.
    pub fn placed_by(&self) -> Option<PlacedBy> {
        self.placed_by
    }

    /// How sure a point Porchlight placed is; `None` for the feed's own point, or no point.
    pub fn place_confidence(&self) -> Option<Confidence> {
        self.place_confidence
    }

    /// What an external geocoder may be asked to place an incident that has no point: its
    /// published block ("5200 N 35th St") or intersection ("N 35th St & W Hampton Av"), never
    /// more than is published. `None` for an incident with a point, or a street or area.
    pub fn geocoder_query(&self) -> Option<String> {
        if self.point.is_some() {
            return None;
        }
        match self.location.kind() {
            crate::address::LocationKind::Block => Some(self.location.text().replacen(" block of ", " ", 1)),
            crate::address::LocationKind::Intersection => Some(self.location.text().to_owned()),
            _ => None,
        }
    }

    /// What the agency's gazetteer may learn from this incident: its block or intersection's
    /// key and the snapped point the feed gave, under a policy that learns.
    pub fn gazetteer_entry(&self) -> Option<(&str, Point)> {
        self.learned.as_ref().map(|(k, p)| (k.as_str(), *p))
    }

    pub fn policy_version(&self) -> u32 {
        self.policy_version
    }

    pub fn narrative(&self) -> Option<&str> {
        self.narrative.as_deref()
    }

    pub fn units(&self) -> &[String] {
        &self.units
    }

    pub fn closure(&self) -> Option<Closure> {
        self.closure
    }
}

/// A stored incident at its latest version, as every reader sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incident {
    pub id: Uuid,
    pub agency: String,
    pub version: u32,
    pub received_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub call_type: String,
    pub category: Category,
    pub priority: Option<String>,
    pub status: Option<String>,
    pub location_kind: LocationKind,
    pub location: String,
    pub point: Option<Point>,
    /// Where the point came from; `None` without a point.
    pub placed_by: Option<PlacedBy>,
    /// How sure a point Porchlight placed is; `None` for the feed's own point, or no point.
    pub place_confidence: Option<Confidence>,
    pub policy_version: u32,
    pub narrative: Option<String>,
    /// The responding units over all the incident's rows, where the policy publishes them.
    pub units: Vec<String>,
    /// Closed in a way that takes back the first report, if it was.
    pub closure: Option<Closure>,
    /// The call type of the incident's first version: a later version may carry the final one.
    pub initial_call_type: String,
}
