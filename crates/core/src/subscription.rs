//! A resident's subscription: a point, a radius and the categories they want to hear about.
//!
//! The subscription id is a random UUID and is the only credential: whoever holds it can read
//! and delete the subscription, so it is never listed or logged.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    category::{Category, Severity},
    geo::Point,
    pacing::Pacing,
};

pub const MIN_RADIUS_M: f64 = 50.0;
pub const MAX_RADIUS_M: f64 = 50_000.0;
/// The radius of the quiet default: a few blocks.
pub const QUIET_RADIUS_M: f64 = 500.0;

#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    pub id: Uuid,
    pub point: Point,
    pub radius_m: f64,
    /// Empty means every category that can alert.
    pub categories: BTreeSet<Category>,
    /// Calls below this severity are not alerted.
    pub min_severity: Severity,
    /// Quiet hours, daily budget and digest.
    pub pacing: Pacing,
    pub created_at: DateTime<Utc>,
}

/// What a subscriber hears about when they choose nothing: the quiet default, only
/// high-severity calls of violence, weapons, fire and hazards.
pub fn quiet_default() -> (BTreeSet<Category>, Severity) {
    ([Category::Violent, Category::Weapons, Category::Fire, Category::Hazard].into(), Severity::High)
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum InvalidSubscription {
    #[error("radius_m must be between {MIN_RADIUS_M} and {MAX_RADIUS_M} metres, got {0}")]
    Radius(f64),
    #[error("category {0} is never published, so it cannot be subscribed to")]
    SensitiveCategory(Category),
}

impl Subscription {
    /// Check a request for a new subscription and give it an id.
    pub fn new(
        point: Point,
        radius_m: f64,
        (categories, min_severity): (BTreeSet<Category>, Severity),
        now: DateTime<Utc>,
    ) -> Result<Self, InvalidSubscription> {
        if !(MIN_RADIUS_M..=MAX_RADIUS_M).contains(&radius_m) {
            return Err(InvalidSubscription::Radius(radius_m));
        }
        if let Some(c) = categories.iter().find(|c| c.is_sensitive()) {
            return Err(InvalidSubscription::SensitiveCategory(*c));
        }
        Ok(Self {
            id: Uuid::new_v4(),
            point,
            radius_m,
            categories,
            min_severity,
            pacing: Pacing::default(),
            created_at: now,
        })
    }

    /// The same subscription with its quiet hours, budget and digest set.
    pub fn with_pacing(self, pacing: Pacing) -> Self {
        Self { pacing, ..self }
    }

    /// Whether an incident of `category` at `at` is for this subscriber.
    pub fn wants(&self, category: Category, at: Point) -> bool {
        category.can_alert()
            && category.severity() >= self.min_severity
            && (self.categories.is_empty() || self.categories.contains(&category))
            && self.point.distance_m(at) <= self.radius_m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_radius_and_categories() {
        let p = Point::new(43.0, -88.0).unwrap();
        let now = Utc::now();
        let all = || (BTreeSet::new(), Severity::Low);
        assert!(Subscription::new(p, 10.0, all(), now).is_err());
        assert!(Subscription::new(p, 60_000.0, all(), now).is_err());
        assert!(Subscription::new(p, f64::NAN, all(), now).is_err());
        assert_eq!(
            Subscription::new(p, 500.0, ([Category::Medical].into(), Severity::Low), now),
            Err(InvalidSubscription::SensitiveCategory(Category::Medical))
        );
        let s = Subscription::new(p, 500.0, ([Category::Property].into(), Severity::Low), now).unwrap();
        assert!(s.wants(Category::Property, Point::new(43.004, -88.0).unwrap()));
        assert!(!s.wants(Category::Property, Point::new(43.005, -88.0).unwrap()));
        assert!(!s.wants(Category::Traffic, p));
        // Everything, but `other` never alerts.
        let everything = Subscription::new(p, 500.0, all(), now).unwrap();
        assert!(everything.wants(Category::Disorder, p) && !everything.wants(Category::Other, p));
        // The quiet default: violence yes, property no.
        let quiet = Subscription::new(p, 500.0, quiet_default(), now).unwrap();
        assert!(quiet.wants(Category::Violent, p) && !quiet.wants(Category::Property, p));
    }
}
