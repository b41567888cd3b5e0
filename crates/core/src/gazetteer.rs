//! Points for the places a feed names without coordinates: a hundred block ("11XX BATES ST")
//! or an intersection ("WINNEBAGO ST / NEBRASKA AVE"), so that such a call can be matched to
//! residents' areas. Two sources, both the operator's: a table of points (a city's geocoded
//! blocks, or what the feed itself taught), and street centrelines with address ranges (the
//! Census's TIGER/Line layout or a city's own), where a block is the point at the middle of its
//! address range along the segment and an intersection the point where two streets meet.
//!
//! Entries are keyed by the place as the address parser reads it, at the level of the hundred
//! block, never finer: a house number in the table is reduced to its block, a house on a
//! centreline is looked up by its block's middle number, and the point found for a call is
//! snapped by the agency's policy like any other.

use std::collections::HashMap;

use geo::{ClosestPoint, Coord, LineString, line_intersection::LineIntersection};
use serde::{Deserialize, Serialize};

use crate::{
    address::{self, Place},
    geo::Point,
    incident::PlacedBy,
};

/// Block and intersection points of one agency's streets, and its street centrelines.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gazetteer {
    points: HashMap<String, (Point, Confidence)>,
    /// Centreline segments by [`address::street_key`].
    streets: HashMap<String, Vec<Segment>>,
    /// The street key without its type ("E ILLINOIS" for "E ILLINOIS AVE") to the one street
    /// that has it; `None` where two streets share it ("MAIN ST" and "MAIN AVE").
    untyped: HashMap<String, Option<String>>,
}

/// A stretch of a street's centreline, usually from one intersection to the next, with the
/// house numbers on each side as TIGER/Line gives them (from and to follow the line's direction;
/// either may be the larger).
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    line: Vec<Point>,
    left: Option<(u32, u32)>,
    right: Option<(u32, u32)>,
}

impl Segment {
    /// A segment of two points or more; `None` for a shorter line.
    pub fn new(line: Vec<Point>, left: Option<(u32, u32)>, right: Option<(u32, u32)>) -> Option<Self> {
        (line.len() >= 2).then_some(Self { line, left, right })
    }

    pub fn line(&self) -> &[Point] {
        &self.line
    }

    pub fn left(&self) -> Option<(u32, u32)> {
        self.left
    }

    pub fn right(&self) -> Option<(u32, u32)> {
        self.right
    }

    /// The point `t` (0 to 1) of the way along the line, by length.
    fn along(&self, t: f64) -> Point {
        let lengths: Vec<f64> = self.line.windows(2).map(|w| w[0].distance_m(w[1])).collect();
        let mut rest = t.clamp(0.0, 1.0) * lengths.iter().sum::<f64>();
        for (w, length) in self.line.windows(2).zip(&lengths) {
            if rest <= *length && *length > 0.0 {
                let f = rest / length;
                let (a, b) = (w[0], w[1]);
                return Point::new(a.lat() + f * (b.lat() - a.lat()), a.lon() + f * (b.lon() - a.lon()))
                    .expect("between two points");
            }
            rest -= length;
        }
        *self.line.last().expect("two points or more")
    }

    /// Where the middle of a block lies on this segment: the point, and whether one side's range
    /// holds the middle number itself (else the range only overlaps the block, and the point is
    /// the range's end nearest the middle).
    fn block(&self, block: u32, size: u32) -> Option<(Point, bool)> {
        let middle = f64::from(block) + f64::from(size) / 2.0;
        let (first, last) = (f64::from(block), f64::from(block + size - 1));
        let mut best: Option<(Point, bool)> = None;
        for (from, to) in [self.left, self.right].into_iter().flatten() {
            let (from, to) = (f64::from(from), f64::from(to));
            let (lo, hi) = (from.min(to), from.max(to));
            if hi < first || lo > last {
                continue;
            }
            let at = middle.clamp(lo, hi);
            let t = if to == from { 0.5 } else { (at - from) / (to - from) };
            let exact = (lo..=hi).contains(&middle);
            if best.is_none_or(|(_, e)| exact && !e) {
                best = Some((self.along(t), exact));
            }
        }
        best
    }
}

/// How sure a placement is. A point Porchlight placed, never one the feed gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// The block or the corner itself: a table entry the operator imported or the feed taught
    /// by [`LEARNED_SURE`] rows or more, a centreline range holding the block's middle number,
    /// two centrelines crossing.
    High,
    /// Near it: a centreline range that only overlaps the block (the point is the range's end),
    /// two centrelines that come within [`NEAR_MISS_M`] of each other without crossing, or a
    /// table entry the feed taught by fewer than [`LEARNED_SURE`] rows (one geocoded call may
    /// be a slip).
    Medium,
    /// Someone else's match: an external geocoder's answer for the block or corner.
    Low,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::High => "high",
            Confidence::Medium => "medium",
            Confidence::Low => "low",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Confidence::High, Confidence::Medium, Confidence::Low].into_iter().find(|c| c.as_str() == s)
    }
}

/// How many of the feed's rows must agree on a block's point before it is as sure as an
/// imported one.
pub const LEARNED_SURE: u32 = 3;

/// How close two centrelines that do not cross must come for their corner to be placed where
/// they nearly meet: a T-junction drawn a little short.
pub const NEAR_MISS_M: f64 = 40.0;

/// Two streets that cross more than once this far apart (a loop, two streets of one name) have
/// no one corner: the call stays unplaced.
const ONE_CORNER_M: f64 = 150.0;

/// Where a place was found, how, and how surely.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Located {
    pub point: Point,
    pub by: PlacedBy,
    pub confidence: Confidence,
}

/// The gazetteer's key of a place: its hundred block, or its two streets in a fixed order; `None`
/// for a place that is neither (a bare street, an unknown text).
pub fn key(place: &Place) -> Option<String> {
    match place {
        Place::House { number, street } | Place::Block { number, street } => {
            Some(format!("{} {}", number / 100 * 100, address::street_key(street)))
        }
        Place::Intersection(a, b) => {
            let (a, b) = (address::street_key(a), address::street_key(b));
            let (a, b) = if a <= b { (a, b) } else { (b, a) };
            Some(format!("{a} & {b}"))
        }
        Place::Street(_) | Place::Unknown => None,
    }
}

/// The key of a location as a table or a feed writes it.
pub fn key_of(text: &str) -> Option<String> {
    key(&address::parse(text))
}

impl Gazetteer {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether it has neither points nor centrelines.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty() && self.streets.is_empty()
    }

    /// The number of centreline segments.
    pub fn segments(&self) -> usize {
        self.streets.values().map(Vec::len).sum()
    }

    /// Enter a point under a key made by [`key`] or [`key_of`], replacing any. A key made by an
    /// older version of [`key`] is read again, so that it meets today's.
    pub fn insert(&mut self, key: String, point: Point) {
        self.insert_learned(key, point, 0);
    }

    /// [`Gazetteer::insert`] for a point the feed taught, the mean of `samples` rows' points
    /// (0: the operator imported it).
    pub fn insert_learned(&mut self, key: String, point: Point, samples: u32) {
        let key = key_of(&key).unwrap_or(key);
        let sure = samples == 0 || samples >= LEARNED_SURE;
        self.points.insert(key, (point, if sure { Confidence::High } else { Confidence::Medium }));
    }

    /// Enter a centreline segment of a street, by its name as the centreline file writes it
    /// ("N 35th St", "NORTH 35TH STREET").
    pub fn add_segment(&mut self, street: &str, segment: Segment) {
        let street = address::street_key(street);
        if street.is_empty() {
            return;
        }
        if let Some(untyped) = address::without_type(&street) {
            // A feed may also write the directional after the name: "HIGUERA S" for "S HIGUERA
            // ST" (San Luis Obispo's log does).
            let after = untyped
                .split_once(' ')
                .filter(|(d, _)| matches!(*d, "N" | "S" | "E" | "W" | "NE" | "NW" | "SE" | "SW"))
                .map(|(d, rest)| format!("{rest} {d}"));
            for name in std::iter::once(untyped).chain(after) {
                let one = self.untyped.entry(name).or_insert_with(|| Some(street.clone()));
                if one.as_ref().is_some_and(|s| *s != street) {
                    *one = None;
                }
            }
        }
        self.streets.entry(street).or_default().push(segment);
    }

    /// The segments of a street as a feed names it: by its full key, or, where the feed leaves
    /// the type out ("E ILLINOIS"), by the one street of that name with a type. A feed's type
    /// is never traded for another: "MAIN AVE" is not "MAIN ST".
    fn street(&self, name: &str) -> Option<&[Segment]> {
        let key = address::street_key(name);
        if let Some(segments) = self.streets.get(&key) {
            return Some(segments);
        }
        if address::without_type(&key).is_some() {
            return None;
        }
        let full = self.untyped.get(&key)?.as_ref()?;
        self.streets.get(full).map(Vec::as_slice)
    }

    /// Where a place is: the table's point of its block or intersection, else its point on the
    /// street centrelines.
    pub fn locate(&self, place: &Place) -> Option<Located> {
        if let Some((point, confidence)) = key(place).and_then(|k| self.points.get(&k).copied()) {
            return Some(Located { point, by: PlacedBy::Gazetteer, confidence });
        }
        let (point, confidence) = match place {
            Place::House { number, street } | Place::Block { number, street } => {
                self.on_block(number / 100 * 100, street)?
            }
            Place::Intersection(a, b) => self.corner(a, b)?,
            Place::Street(_) | Place::Unknown => return None,
        };
        Some(Located { point, by: PlacedBy::Centreline, confidence })
    }

    /// The middle of a hundred block on its street's centreline.
    fn on_block(&self, block: u32, street: &str) -> Option<(Point, Confidence)> {
        let mut near = None;
        for segment in self.street(street)? {
            match segment.block(block, 100) {
                Some((p, true)) => return Some((p, Confidence::High)),
                Some((p, false)) => near = near.or(Some((p, Confidence::Medium))),
                None => {}
            }
        }
        near
    }

    /// Where two streets' centrelines cross, or, failing that, nearly meet.
    fn corner(&self, a: &str, b: &str) -> Option<(Point, Confidence)> {
        let (a, b) = (self.street(a)?, self.street(b)?);
        let origin = a[0].line[0];
        let plane = Plane::at(origin);
        let lines = |segments: &[Segment]| -> Vec<LineString<f64>> {
            segments.iter().map(|s| s.line.iter().map(|p| plane.coord(*p)).collect()).collect()
        };
        let (a, b) = (lines(a), lines(b));
        let mut crossings: Vec<Coord<f64>> = Vec::new();
        for la in &a {
            for lb in &b {
                for pa in la.lines() {
                    for pb in lb.lines() {
                        match geo::line_intersection::line_intersection(pa, pb) {
                            Some(LineIntersection::SinglePoint { intersection, .. }) => {
                                crossings.push(intersection)
                            }
                            Some(LineIntersection::Collinear { intersection }) => {
                                crossings.push(intersection.start);
                            }
                            None => {}
                        }
                    }
                }
            }
        }
        if let Some(first) = crossings.first().copied() {
            if crossings.iter().any(|c| distance(*c, first) > ONE_CORNER_M) {
                return None;
            }
            let n = crossings.len() as f64;
            let mean = crossings.iter().fold(Coord { x: 0.0, y: 0.0 }, |s, c| s + *c) / n;
            return Some((plane.point(mean), Confidence::High));
        }
        // No crossing: the closest approach of a line's vertex to the other street.
        let mut best: Option<(f64, Coord<f64>)> = None;
        for (from, to) in [(&a, &b), (&b, &a)] {
            for line in from {
                for vertex in line.coords() {
                    for other in to {
                        let (geo::Closest::SinglePoint(q) | geo::Closest::Intersection(q)) =
                            other.closest_point(&geo::Point::from(*vertex))
                        else {
                            continue;
                        };
                        let d = distance(*vertex, q.0);
                        if best.is_none_or(|(bd, _)| d < bd) {
                            best = Some((d, (*vertex + q.0) / 2.0));
                        }
                    }
                }
            }
        }
        best.filter(|(d, _)| *d <= NEAR_MISS_M).map(|(_, c)| (plane.point(c), Confidence::Medium))
    }
}

fn distance(a: Coord<f64>, b: Coord<f64>) -> f64 {
    (a - b).x.hypot((a - b).y)
}

/// A flat plane in metres around a point, good to a few centimetres across a city: where lines
/// cross is found there.
struct Plane {
    origin: Point,
    metres_per_degree_lon: f64,
}

const METRES_PER_DEGREE_LAT: f64 = 111_195.0;

impl Plane {
    fn at(origin: Point) -> Self {
        Self { origin, metres_per_degree_lon: METRES_PER_DEGREE_LAT * origin.lat().to_radians().cos() }
    }

    fn coord(&self, p: Point) -> Coord<f64> {
        Coord {
            x: (p.lon() - self.origin.lon()) * self.metres_per_degree_lon,
            y: (p.lat() - self.origin.lat()) * METRES_PER_DEGREE_LAT,
        }
    }

    fn point(&self, c: Coord<f64>) -> Point {
        let lon = self.origin.lon() + c.x / self.metres_per_degree_lon;
        let lat = self.origin.lat() + c.y / METRES_PER_DEGREE_LAT;
        Point::new(lat.clamp(-90.0, 90.0), lon.clamp(-180.0, 180.0)).expect("clamped")
    }
}

impl FromIterator<(String, Point)> for Gazetteer {
    fn from_iter<I: IntoIterator<Item = (String, Point)>>(iter: I) -> Self {
        let mut g = Self::default();
        for (k, p) in iter {
            g.insert(k, p);
        }
        g
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_and_intersections_are_found_however_the_feed_writes_them() {
        let p = Point::new(38.568, -90.253).unwrap();
        let q = Point::new(38.589, -90.233).unwrap();
        let mut g = Gazetteer::new();
        g.insert(key_of("11XX BATES ST").unwrap(), p);
        g.insert(key_of("WINNEBAGO ST / NEBRASKA AVE").unwrap(), q);
        assert_eq!(g.len(), 2);
        // A house on the block, the block written another way, the streets the other way round.
        let at = |s: &str| g.locate(&address::parse(s)).map(|l| l.point);
        assert_eq!(at("1137 BATES ST"), Some(p));
        assert_eq!(at("1100 BLOCK OF BATES ST"), Some(p));
        assert_eq!(at("1100 BLOCK OF BATES STREET"), Some(p));
        assert_eq!(at("NEBRASKA AVE / WINNEBAGO ST"), Some(q));
        assert_eq!(at("NEBRASKA AVENUE & WINNEBAGO ST"), Some(q));
        // Another block of the street, a bare street: not known.
        assert_eq!(g.locate(&address::parse("1200 BATES ST")), None);
        assert_eq!(g.locate(&address::parse("BATES ST")), None);
        // A house number in the table itself is kept only as its block.
        assert_eq!(key_of("1137 BATES ST").as_deref(), key_of("11XX BATES ST").as_deref());
    }

    fn point(lat: f64, lon: f64) -> Point {
        Point::new(lat, lon).unwrap()
    }

    /// A small made-up grid near 43 N: MAIN ST east-west along 43.0 N with houses 100 to 899,
    /// and a short stretch 902 to 940 beyond; 5TH AVE crossing it; ELM ST ending 33 m short of
    /// it; OAK ST 111 m away; LOOP RD crossing MAIN ST twice, 600 m apart.
    fn grid() -> Gazetteer {
        let mut g = Gazetteer::new();
        let main =
            Segment::new(vec![point(43.0, -88.0), point(43.0, -87.99)], Some((100, 898)), Some((101, 899)));
        g.add_segment("Main Street", main.unwrap());
        let beyond = Segment::new(vec![point(43.0, -87.99), point(43.0, -87.989)], Some((902, 940)), None);
        g.add_segment("MAIN ST", beyond.unwrap());
        let fifth = Segment::new(vec![point(42.995, -87.995), point(43.005, -87.995)], None, None);
        g.add_segment("5th Avenue", fifth.unwrap());
        let elm =
            Segment::new(vec![point(43.0003, -87.992), point(43.01, -87.992)], Some((2, 98)), Some((1, 99)));
        g.add_segment("Elm St", elm.unwrap());
        let oak = Segment::new(vec![point(43.001, -87.997), point(43.01, -87.997)], None, None);
        g.add_segment("Oak St", oak.unwrap());
        let lp = Segment::new(
            vec![
                point(42.999, -87.9985),
                point(43.001, -87.9985),
                point(43.001, -87.9915),
                point(42.999, -87.9915),
            ],
            None,
            None,
        );
        g.add_segment("Loop Rd", lp.unwrap());
        g
    }

    #[test]
    fn a_block_is_the_middle_of_its_address_range_along_the_centreline() {
        let g = grid();
        assert_eq!(g.segments(), 6);
        let at = |s: &str| g.locate(&address::parse(s));
        // 550 is (550 - 100) / (898 - 100) of the way along MAIN ST.
        let l = at("5XX MAIN ST").unwrap();
        let expected = point(43.0, -88.0 + 0.01 * 450.0 / 798.0);
        assert!(l.point.distance_m(expected) < 0.5, "{:?}", l.point);
        assert_eq!((l.by, l.confidence), (PlacedBy::Centreline, Confidence::High));
        // A house is looked up by its block's middle, however the street is spelled.
        assert_eq!(at("517 MAIN STREET").unwrap().point, l.point);
        assert_eq!(at("599 N MAIN ST").map(|l| l.point), None, "another street");
        // A range that only overlaps the block: its nearest end, less sure.
        let l = at("900 BLOCK OF MAIN ST").unwrap();
        assert!(l.point.distance_m(point(43.0, -87.989)) < 0.5);
        assert_eq!(l.confidence, Confidence::Medium);
        // No range holds the block; a street without ranges places no block.
        assert_eq!(at("1500 MAIN ST"), None);
        assert_eq!(at("100 5TH AVE"), None);
        // A block the feed taught by one or two rows is less sure than one it taught by three.
        let mut g = grid();
        g.insert_learned(key_of("5XX MAIN ST").unwrap(), point(43.1, -88.1), 2);
        g.insert_learned(key_of("6XX MAIN ST").unwrap(), point(43.1, -88.1), LEARNED_SURE);
        assert_eq!(g.locate(&address::parse("500 MAIN ST")).unwrap().confidence, Confidence::Medium);
        assert_eq!(g.locate(&address::parse("600 MAIN ST")).unwrap().confidence, Confidence::High);
        // A table entry wins over the centreline.
        let mut g = grid();
        g.insert(key_of("5XX MAIN ST").unwrap(), point(43.1, -88.1));
        let l = g.locate(&address::parse("500 MAIN ST")).unwrap();
        assert_eq!(
            (l.point, l.by, l.confidence),
            (point(43.1, -88.1), PlacedBy::Gazetteer, Confidence::High)
        );
    }

    #[test]
    fn a_corner_is_where_two_centrelines_meet() {
        let g = grid();
        let at = |s: &str| g.locate(&address::parse(s));
        let l = at("MAIN ST / 5TH AVE").unwrap();
        assert!(l.point.distance_m(point(43.0, -87.995)) < 0.5, "{:?}", l.point);
        assert_eq!((l.by, l.confidence), (PlacedBy::Centreline, Confidence::High));
        assert_eq!(at("5TH AVENUE & MAIN STREET").unwrap().point, l.point);
        // A T-junction drawn 33 m short: where they nearly meet, less sure.
        let l = at("ELM ST / MAIN ST").unwrap();
        assert!(l.point.distance_m(point(43.00015, -87.992)) < 0.5, "{:?}", l.point);
        assert_eq!(l.confidence, Confidence::Medium);
        // 111 m apart: no corner. Streets that cross twice far apart: no one corner.
        assert_eq!(at("OAK ST / MAIN ST"), None);
        assert_eq!(at("LOOP RD / MAIN ST"), None);
        assert_eq!(at("5TH AVE / NOWHERE ST"), None);
    }

    #[test]
    fn a_feed_that_leaves_the_type_out_finds_the_one_street_of_that_name() {
        let mut g = grid();
        let at = |g: &Gazetteer, s: &str| g.locate(&address::parse(s)).map(|l| l.point);
        let main = at(&g, "500 MAIN ST");
        assert!(main.is_some());
        assert_eq!(at(&g, "500 MAIN"), main);
        // The directional written after the name, without a type.
        let higuera =
            Segment::new(vec![point(35.27, -120.66), point(35.26, -120.65)], Some((100, 198)), None);
        g.add_segment("S Higuera St", higuera.unwrap());
        assert!(at(&g, "150 HIGUERA S").is_some());
        assert_eq!(at(&g, "150 HIGUERA S"), at(&g, "150 S HIGUERA ST"));
        assert_eq!(at(&g, "150 HIGUERA N"), None);
        // A feed's type is never traded for another.
        assert_eq!(at(&g, "500 MAIN AVE"), None);
        // Two streets of the name: no guess.
        let other =
            Segment::new(vec![point(43.1, -88.0), point(43.1, -87.99)], Some((100, 898)), None).unwrap();
        g.add_segment("MAIN AVE", other);
        assert_eq!(at(&g, "500 MAIN"), None);
        assert!(at(&g, "500 MAIN AVE").is_some());
    }
}
