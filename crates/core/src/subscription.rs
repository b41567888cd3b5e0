//! A resident's subscription: an area, the categories they want to hear about, a severity floor
//! and their pacing.
//!
//! The area is a point and a radius (precise mode), or a set of coarse H3 cells (private mode).
//! In private mode the server never learns the point: the client covers its exact area with
//! cells of at least ~5 km² (resolution 7 or coarser), the server matches on cells and sends
//! each incident with its generalized point, and the client shows it only if it falls inside
//! the area it keeps to itself. The trade-off: the server sends more than the resident wants
//! (everything in the cells), the client does the last filtering, and base rates are counted
//! over the cells rather than the exact area.
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

/// The coarsest detail a private-mode cell may have: resolution 7, about 5.2 km² a cell.
pub const FINEST_PRIVATE_RESOLUTION: h3o::Resolution = h3o::Resolution::Seven;
/// Cells in one private-mode area at most.
pub const MAX_CELLS: usize = 64;

/// Where a subscriber wants to hear about.
#[derive(Debug, Clone, PartialEq)]
pub enum Area {
    /// Precise mode: the server knows the point.
    Circle { point: Point, radius_m: f64 },
    /// Private mode: coarse cells of one resolution; the server never learns the point.
    Cells { resolution: h3o::Resolution, cells: BTreeSet<h3o::CellIndex> },
    /// A neighbourhood drawn as a polygon (one outer ring, longitude and latitude).
    Polygon(geo::Polygon<f64>),
}

/// Corners of a neighbourhood polygon at most.
pub const MAX_VERTICES: usize = 1000;

impl Area {
    /// Check a private-mode area: 1 to [`MAX_CELLS`] cells of one resolution, no finer than
    /// [`FINEST_PRIVATE_RESOLUTION`].
    pub fn cells(cells: impl IntoIterator<Item = h3o::CellIndex>) -> Result<Self, InvalidSubscription> {
        let cells: BTreeSet<h3o::CellIndex> = cells.into_iter().collect();
        let Some(first) = cells.first() else {
            return Err(InvalidSubscription::Cells("give at least one cell"));
        };
        let resolution = first.resolution();
        if cells.len() > MAX_CELLS {
            return Err(InvalidSubscription::Cells("at most 64 cells"));
        }
        if cells.iter().any(|c| c.resolution() != resolution) {
            return Err(InvalidSubscription::Cells("all cells must have the same resolution"));
        }
        if resolution > FINEST_PRIVATE_RESOLUTION {
            return Err(InvalidSubscription::Cells(
                "cells must be of resolution 7 or coarser (about 5 km² or more each)",
            ));
        }
        Ok(Area::Cells { resolution, cells })
    }

    /// A neighbourhood from its corners as `[longitude, latitude]` pairs (GeoJSON's order): 3 to
    /// [`MAX_VERTICES`] distinct corners, the ring closed if it is not, no wider than a
    /// subscription circle could be.
    pub fn polygon(corners: &[[f64; 2]]) -> Result<Self, InvalidSubscription> {
        let mut ring: Vec<geo::Coord<f64>> = Vec::with_capacity(corners.len() + 1);
        for [lon, lat] in corners {
            Point::new(*lat, *lon).map_err(|_| {
                InvalidSubscription::Polygon("a corner is not a valid longitude and latitude")
            })?;
            ring.push(geo::coord! { x: *lon, y: *lat });
        }
        if ring.len() > 1 && ring.first() == ring.last() {
            ring.pop();
        }
        if ring.len() < 3 {
            return Err(InvalidSubscription::Polygon("give at least three corners"));
        }
        if ring.len() > MAX_VERTICES {
            return Err(InvalidSubscription::Polygon("at most 1000 corners"));
        }
        let polygon = geo::Polygon::new(geo::LineString::from(ring), Vec::new());
        let area = Area::Polygon(polygon);
        let radius_m = area.covering_circles().first().map_or(f64::INFINITY, |(_, r)| *r);
        if radius_m > MAX_RADIUS_M || !radius_m.is_finite() {
            return Err(InvalidSubscription::Polygon("no wider than 100 km across"));
        }
        Ok(area)
    }

    /// A neighbourhood's corners as `[longitude, latitude]` pairs; `None` for other areas.
    pub fn polygon_corners(&self) -> Option<Vec<[f64; 2]>> {
        match self {
            Area::Polygon(p) => Some(p.exterior().coords().map(|c| [c.x, c.y]).collect()),
            _ => None,
        }
    }

    /// The box, `([min_lon, min_lat], [max_lon, max_lat])`, that holds the area.
    pub fn bounding_box(&self) -> ([f64; 2], [f64; 2]) {
        match self {
            Area::Circle { point, radius_m } => point.bounding_box(*radius_m),
            Area::Cells { .. } | Area::Polygon(_) => {
                let mut lo = [f64::INFINITY; 2];
                let mut hi = [f64::NEG_INFINITY; 2];
                for (c, r) in self.covering_circles() {
                    let (a, b) = c.bounding_box(r);
                    lo = [lo[0].min(a[0]), lo[1].min(a[1])];
                    hi = [hi[0].max(b[0]), hi[1].max(b[1])];
                }
                (lo, hi)
            }
        }
    }

    /// A private-mode area from cell indexes written as hexadecimal ("872830828ffffff").
    pub fn cells_named<S: AsRef<str>>(names: &[S]) -> Result<Self, InvalidSubscription> {
        let cells = names
            .iter()
            .map(|n| n.as_ref().parse::<h3o::CellIndex>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| {
                InvalidSubscription::Cells("each cell must be an H3 cell index such as \"872830828ffffff\"")
            })?;
        Self::cells(cells)
    }

    /// The cells of a private-mode area, as hexadecimal indexes; `None` for a circle.
    pub fn cell_names(&self) -> Option<Vec<String>> {
        match self {
            Area::Circle { .. } | Area::Polygon(_) => None,
            Area::Cells { cells, .. } => Some(cells.iter().map(ToString::to_string).collect()),
        }
    }

    /// Circles that together cover the area, to search stored incidents with before checking
    /// [`Area::contains`]: the circle itself, or one around each cell.
    pub fn covering_circles(&self) -> Vec<(Point, f64)> {
        match self {
            Area::Circle { point, radius_m } => vec![(*point, *radius_m)],
            // A hexagon's corners are one edge length from its centre; pentagons and the
            // projection's distortion stay well inside twice that.
            Area::Cells { resolution, cells } => {
                cells.iter().map(|c| (Point::of_cell(*c), 2.0 * resolution.edge_length_m())).collect()
            }
            // The corners' middle, out to the farthest corner.
            Area::Polygon(polygon) => {
                let coords: Vec<&geo::Coord<f64>> = polygon.exterior().coords().collect();
                let (min_x, max_x, min_y, max_y) = coords.iter().fold(
                    (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY),
                    |(a, b, c, d), p| (a.min(p.x), b.max(p.x), c.min(p.y), d.max(p.y)),
                );
                let Ok(center) = Point::new((min_y + max_y) / 2.0, (min_x + max_x) / 2.0) else {
                    return Vec::new();
                };
                let radius = coords
                    .iter()
                    .filter_map(|c| Point::new(c.y, c.x).ok())
                    .map(|p| center.distance_m(p))
                    .fold(0.0, f64::max);
                vec![(center, radius + 1.0)]
            }
        }
    }

    pub fn contains(&self, at: Point) -> bool {
        match self {
            Area::Circle { point, radius_m } => point.distance_m(at) <= *radius_m,
            Area::Cells { resolution, cells } => cells.contains(&at.cell(*resolution)),
            Area::Polygon(polygon) => {
                use geo::Intersects;
                // On the boundary counts as inside.
                polygon.intersects(&geo::point! { x: at.lon(), y: at.lat() })
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    pub id: Uuid,
    pub area: Area,
    /// Empty means every category that can alert.
    pub categories: BTreeSet<Category>,
    /// Calls below this severity are not alerted.
    pub min_severity: Severity,
    /// Quiet hours, daily budget and digest.
    pub pacing: Pacing,
    pub created_at: DateTime<Utc>,
}

/// The store's number for a subscription, given once when it is stored and never given again:
/// what the matcher holds and answers with. A quarter of the id's size, so a query that finds
/// thousands of subscribers reads and writes a quarter of the memory; the store turns keys
/// back into subscriptions with the same one query it needs for their pacing anyway.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionKey(pub u32);

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
    #[error("cells: {0}")]
    Cells(&'static str),
    #[error("polygon: {0}")]
    Polygon(&'static str),
}

impl Subscription {
    /// Check a request for a new subscription and give it an id.
    pub fn new(
        point: Point,
        radius_m: f64,
        filter: (BTreeSet<Category>, Severity),
        now: DateTime<Utc>,
    ) -> Result<Self, InvalidSubscription> {
        Self::in_area(Area::Circle { point, radius_m }, filter, now)
    }

    /// Check a request for a subscription to an area (a circle, or private-mode cells).
    pub fn in_area(
        area: Area,
        (categories, min_severity): (BTreeSet<Category>, Severity),
        now: DateTime<Utc>,
    ) -> Result<Self, InvalidSubscription> {
        if let Area::Circle { radius_m, .. } = area
            && !(MIN_RADIUS_M..=MAX_RADIUS_M).contains(&radius_m)
        {
            return Err(InvalidSubscription::Radius(radius_m));
        }
        if let Some(c) = categories.iter().find(|c| c.is_sensitive()) {
            return Err(InvalidSubscription::SensitiveCategory(*c));
        }
        Ok(Self {
            id: Uuid::new_v4(),
            area,
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

    /// Whether this subscriber wants calls of `category` anywhere: the categories and the
    /// severity floor, without the area.
    pub fn wants_category(&self, category: Category) -> bool {
        category.can_alert()
            && category.severity() >= self.min_severity
            && (self.categories.is_empty() || self.categories.contains(&category))
    }

    /// The categories this subscriber wants, as bits by [`Category::ALL`]'s order.
    pub fn category_mask(&self) -> u32 {
        Category::ALL
            .iter()
            .enumerate()
            .filter(|(_, c)| self.wants_category(**c))
            .fold(0, |mask, (i, _)| mask | (1 << i))
    }

    /// Whether an incident of `category` at `at` is for this subscriber.
    pub fn wants(&self, category: Category, at: Point) -> bool {
        self.wants_category(category) && self.area.contains(at)
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

    #[test]
    fn private_mode_matches_on_coarse_cells_only() {
        let home = Point::new(43.1128, -87.9567).unwrap();
        let cell = home.cell(h3o::Resolution::Seven);
        let area = Area::cells([cell]).unwrap();
        let s = Subscription::in_area(area, (BTreeSet::new(), Severity::Low), Utc::now()).unwrap();
        assert!(s.wants(Category::Property, home));
        assert!(!s.wants(Category::Property, Point::new(43.2, -87.9567).unwrap()));
        let fine = home.cell(h3o::Resolution::Nine);
        assert!(matches!(Area::cells([fine]), Err(InvalidSubscription::Cells(_))));
        assert!(matches!(Area::cells([]), Err(InvalidSubscription::Cells(_))));
        let mixed = [cell, home.cell(h3o::Resolution::Six)];
        assert!(matches!(Area::cells(mixed), Err(InvalidSubscription::Cells(_))));
    }

    #[test]
    fn a_neighbourhood_polygon_holds_what_is_inside_it() {
        // A square around N 35th St and W Villard Av, about 1 km a side.
        let square = [[-87.963, 43.108], [-87.951, 43.108], [-87.951, 43.117], [-87.963, 43.117]];
        let area = Area::polygon(&square).unwrap();
        assert!(area.contains(Point::new(43.1128, -87.9567).unwrap()));
        assert!(!area.contains(Point::new(43.0695, -87.9447).unwrap()));
        let ([min_lon, min_lat], [max_lon, max_lat]) = area.bounding_box();
        assert!(min_lon <= -87.963 && max_lon >= -87.951 && min_lat <= 43.108 && max_lat >= 43.117);
        assert_eq!(area.polygon_corners().unwrap().len(), 5);
        assert!(matches!(Area::polygon(&square[..2]), Err(InvalidSubscription::Polygon(_))));
        assert!(matches!(
            Area::polygon(&[[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]]),
            Err(InvalidSubscription::Polygon(_))
        ));
        assert!(matches!(
            Area::polygon(&[[0.0, 95.0], [1.0, 0.0], [1.0, 1.0]]),
            Err(InvalidSubscription::Polygon(_))
        ));
    }
}
