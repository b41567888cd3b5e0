//! Points for the places a feed names without coordinates: a hundred block ("11XX BATES ST")
//! or an intersection ("WINNEBAGO ST / NEBRASKA AVE"), from a table the operator provides
//! (a city's geocoded blocks, say), so that such a call can be matched to residents' areas.
//!
//! Entries are keyed by the place as the address parser reads it, at the level of the hundred
//! block, never finer: a house number in the table is reduced to its block, and the point
//! found for a call is snapped by the agency's policy like any other.

use std::collections::HashMap;

use crate::{
    address::{self, Place},
    geo::Point,
};

/// Block and intersection points of one agency's streets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gazetteer {
    points: HashMap<String, Point>,
}

/// The gazetteer's key of a place: its hundred block, or its two streets in a fixed order; `None`
/// for a place that is neither (a bare street, an unknown text).
pub fn key(place: &Place) -> Option<String> {
    match place {
        Place::House { number, street } | Place::Block { number, street } => {
            Some(format!("{} {street}", number / 100 * 100))
        }
        Place::Intersection(a, b) => {
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

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Enter a point under a key made by [`key`] or [`key_of`], replacing any.
    pub fn insert(&mut self, key: String, point: Point) {
        self.points.insert(key, point);
    }

    /// Where a place is, if the table knows its block or intersection.
    pub fn locate(&self, place: &Place) -> Option<Point> {
        key(place).and_then(|k| self.points.get(&k).copied())
    }
}

impl FromIterator<(String, Point)> for Gazetteer {
    fn from_iter<I: IntoIterator<Item = (String, Point)>>(iter: I) -> Self {
        Self { points: iter.into_iter().collect() }
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
        assert_eq!(g.locate(&address::parse("1137 BATES ST")), Some(p));
        assert_eq!(g.locate(&address::parse("1100 BLOCK OF BATES ST")), Some(p));
        assert_eq!(g.locate(&address::parse("NEBRASKA AVE / WINNEBAGO ST")), Some(q));
        assert_eq!(g.locate(&address::parse("NEBRASKA AVE & WINNEBAGO ST")), Some(q));
        // Another block of the street, a bare street: not known.
        assert_eq!(g.locate(&address::parse("1200 BATES ST")), None);
        assert_eq!(g.locate(&address::parse("BATES ST")), None);
        // A house number in the table itself is kept only as its block.
        assert_eq!(key_of("1137 BATES ST").as_deref(), key_of("11XX BATES ST").as_deref());
    }
}
