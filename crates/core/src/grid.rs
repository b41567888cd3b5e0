//! Circles indexed on a fixed latitude-longitude grid: "whose circle holds this point" answered
//! from two short lists of the point's grid cell.
//!
//! Each circle is entered in every grid cell it touches: as *interior* in the cells that lie
//! wholly inside it (a point there is inside, with no distance to compute), as *boundary* in the
//! cells its edge crosses (a point there is checked). The check compares unit vectors (one dot
//! product against the cosine of the radius's angle) and falls back to the haversine distance
//! only within a hair of the edge, so answers agree exactly with [`Point::distance_m`].
//!
//! Cells are [`CELL_DEG`] degrees on a side (about 560 m of latitude). Circles are entered by a
//! small integer slot; the caller maps slots to its own ids.

use std::collections::HashMap;

use crate::geo::Point;

/// The grid's cell size in degrees of latitude and of longitude.
pub const CELL_DEG: f64 = 0.005;
const EARTH_RADIUS_M: f64 = 6_371_008.8;
/// Within this much of the cosine of a circle's angle, the dot product is too close to call and
/// the haversine distance decides.
const COS_EPSILON: f64 = 1e-12;
/// Metres of margin in classifying cells, far above the error of treating a 0.005° cell's
/// sides as straight.
const MARGIN_M: f64 = 5.0;

#[derive(Debug, Clone, Copy)]
struct Unit([f64; 3]);

impl Unit {
    fn of(p: Point) -> Self {
        let (lat, lon) = (p.lat().to_radians(), p.lon().to_radians());
        Unit([lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()])
    }

    fn dot(self, o: Unit) -> f64 {
        self.0[0] * o.0[0] + self.0[1] * o.0[1] + self.0[2] * o.0[2]
    }
}

/// A circle as the grid checks it.
#[derive(Debug, Clone, Copy)]
struct Circle {
    centre: Point,
    unit: Unit,
    radius_m: f64,
    cos_angle: f64,
}

impl Circle {
    fn new(centre: Point, radius_m: f64) -> Self {
        Self { centre, unit: Unit::of(centre), radius_m, cos_angle: (radius_m / EARTH_RADIUS_M).cos() }
    }

    /// Exactly `centre.distance_m(at) <= radius_m`, mostly without the trigonometry.
    fn holds(&self, at: Point, at_unit: Unit) -> bool {
        let dot = self.unit.dot(at_unit);
        if dot >= self.cos_angle + COS_EPSILON {
            true
        } else if dot <= self.cos_angle - COS_EPSILON {
            false
        } else {
            self.centre.distance_m(at) <= self.radius_m
        }
    }
}

/// A circle's entry in a cell: its slot, and the caller's tag beside it, so a query can skip
/// entries by tag while reading the list in order, without a look elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    slot: u32,
    tag: u32,
}

#[derive(Debug, Default)]
struct Cell {
    interior: Vec<Entry>,
    boundary: Vec<Entry>,
}

/// Circles by grid cell.
#[derive(Debug, Default)]
pub struct CircleGrid {
    cells: HashMap<(i32, i32), Cell>,
    circles: Vec<Option<Circle>>,
    /// Slots of removed circles whose entries are gone from every list, to use again.
    free: Vec<u32>,
    /// Removed circles whose entries are still in the lists, as bits by slot: queries skip
    /// them, and [`CircleGrid::compact`] clears them out in one pass once there are enough.
    dead: Vec<u64>,
    dead_count: usize,
}

fn cell_of(lat: f64, lon: f64) -> (i32, i32) {
    ((lat / CELL_DEG).floor() as i32, (lon / CELL_DEG).floor() as i32)
}

/// Where a circle stands to a grid cell.
enum Relation {
    Interior,
    Boundary,
    Apart,
}

impl CircleGrid {
    pub fn new() -> Self {
        Self::default()
    }

    /// The grid cells a circle touches, with how. Corners are shared by neighbouring cells, so
    /// each is placed on the sphere once.
    fn cover(circle: &Circle) -> Vec<((i32, i32), Relation)> {
        let (lo, hi) = circle.centre.bounding_box(circle.radius_m + MARGIN_M);
        let (c0, c1) = (cell_of(lo[1], lo[0]), cell_of(hi[1], hi[0]));
        let (rows, cols) = ((c1.0 - c0.0 + 1) as usize, (c1.1 - c0.1 + 1) as usize);
        // Whether each grid corner lies inside the circle with the margin to spare.
        let inner_cos = ((circle.radius_m - MARGIN_M).max(0.0) / EARTH_RADIUS_M).cos();
        let inside: Vec<bool> = (0..=rows)
            .flat_map(|r| (0..=cols).map(move |c| (r, c)))
            .map(|(r, c)| {
                let lat = (f64::from(c0.0) + r as f64) * CELL_DEG;
                let lon = (f64::from(c0.1) + c as f64) * CELL_DEG;
                match Point::new(lat.clamp(-90.0, 90.0), lon.clamp(-180.0, 180.0)) {
                    Ok(p) => {
                        circle.radius_m > MARGIN_M && circle.unit.dot(Unit::of(p)) >= inner_cos + COS_EPSILON
                    }
                    Err(_) => false,
                }
            })
            .collect();
        let corner_inside = |r: usize, c: usize| inside[r * (cols + 1) + c];
        let outer_cos = ((circle.radius_m + MARGIN_M) / EARTH_RADIUS_M).cos();
        let mut out = Vec::with_capacity(rows * cols);
        for r in 0..rows {
            for c in 0..cols {
                let key = (c0.0 + r as i32, c0.1 + c as i32);
                if corner_inside(r, c)
                    && corner_inside(r + 1, c)
                    && corner_inside(r, c + 1)
                    && corner_inside(r + 1, c + 1)
                {
                    out.push((key, Relation::Interior));
                    continue;
                }
                // The cell's nearest point to the centre, found by clamping.
                let (south, west) = (f64::from(key.0) * CELL_DEG, f64::from(key.1) * CELL_DEG);
                let lat = circle.centre.lat().clamp(south, south + CELL_DEG).clamp(-90.0, 90.0);
                let lon = circle.centre.lon().clamp(west, west + CELL_DEG).clamp(-180.0, 180.0);
                let apart = Point::new(lat, lon)
                    .is_ok_and(|p| circle.unit.dot(Unit::of(p)) < outer_cos - COS_EPSILON);
                out.push((key, if apart { Relation::Apart } else { Relation::Boundary }));
            }
        }
        out
    }

    /// Enter a circle with a tag (a bit set the caller filters by); returns its slot.
    pub fn insert(&mut self, centre: Point, radius_m: f64, tag: u32) -> u32 {
        let circle = Circle::new(centre, radius_m);
        let slot = match self.free.pop() {
            Some(free) => free,
            None => u32::try_from(self.circles.len()).expect("fewer than 4 billion circles"),
        };
        let entry = Entry { slot, tag };
        for (key, relation) in Self::cover(&circle) {
            match relation {
                Relation::Interior => self.cells.entry(key).or_default().interior.push(entry),
                Relation::Boundary => self.cells.entry(key).or_default().boundary.push(entry),
                Relation::Apart => {}
            }
        }
        if slot as usize == self.circles.len() {
            self.circles.push(Some(circle));
        } else {
            self.circles[slot as usize] = Some(circle);
        }
        slot
    }

    /// Give back the lists' spare capacity: after loading many circles at once.
    pub fn shrink_to_fit(&mut self) {
        self.compact();
        for cell in self.cells.values_mut() {
            cell.interior.shrink_to_fit();
            cell.boundary.shrink_to_fit();
        }
        self.cells.shrink_to_fit();
        self.circles.shrink_to_fit();
    }

    fn is_dead(&self, slot: u32) -> bool {
        self.dead.get(slot as usize / 64).is_some_and(|w| w & (1 << (slot % 64)) != 0)
    }

    /// Take a circle out: at once for queries, which skip it; its list entries go at the next
    /// [`CircleGrid::compact`], run here once an eighth of the circles (and at least 1,024)
    /// are waiting, so a removal costs one bit, and the lists are swept in one pass.
    pub fn remove(&mut self, slot: u32) {
        if self.circles.get_mut(slot as usize).and_then(Option::take).is_none() {
            return;
        }
        let word = slot as usize / 64;
        if self.dead.len() <= word {
            self.dead.resize(word + 1, 0);
        }
        self.dead[word] |= 1 << (slot % 64);
        self.dead_count += 1;
        if self.dead_count >= 1024.max(self.circles.len() / 8) {
            self.compact();
        }
    }

    /// Sweep removed circles' entries out of every list and free their slots.
    pub fn compact(&mut self) {
        if self.dead_count == 0 {
            return;
        }
        let dead = std::mem::take(&mut self.dead);
        let is_dead = |slot: u32| dead.get(slot as usize / 64).is_some_and(|w| w & (1 << (slot % 64)) != 0);
        self.cells.retain(|_, cell| {
            cell.interior.retain(|e| !is_dead(e.slot));
            cell.boundary.retain(|e| !is_dead(e.slot));
            !(cell.interior.is_empty() && cell.boundary.is_empty())
        });
        for (w, word) in dead.iter().enumerate() {
            for bit in 0..64 {
                if word & (1 << bit) != 0 {
                    self.free.push((w * 64 + bit) as u32);
                }
            }
        }
        self.dead_count = 0;
    }

    /// Every circle that holds `at` and whose tag shares a bit with `mask`, by slot, in no
    /// particular order.
    pub fn containing(&self, at: Point, mask: u32) -> impl Iterator<Item = u32> + '_ {
        let cell = self.cells.get(&cell_of(at.lat(), at.lon()));
        let unit = Unit::of(at);
        let interior = cell
            .into_iter()
            .flat_map(|c| c.interior.iter())
            .filter(move |e| e.tag & mask != 0 && (self.dead_count == 0 || !self.is_dead(e.slot)));
        let boundary = cell
            .into_iter()
            .flat_map(|c| c.boundary.iter())
            .filter(move |e| e.tag & mask != 0)
            .filter(move |e| self.circles[e.slot as usize].is_some_and(|c| c.holds(at, unit)));
        interior.chain(boundary).map(|e| e.slot)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn brute(circles: &[(Point, f64)], at: Point) -> Vec<u32> {
        (0..circles.len() as u32)
            .filter(|i| circles[*i as usize].0.distance_m(at) <= circles[*i as usize].1)
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Random circles and points over a city, radii from 0 to 50 km, including points
        /// placed exactly on a circle's edge: the grid agrees with the plain distance.
        #[test]
        fn agrees_with_brute_force(
            circles in proptest::collection::vec((32.6f64..33.0, -97.0f64..-96.6, 0.0f64..50_000.0), 1..24),
            points in proptest::collection::vec((32.5f64..33.1, -97.1f64..-96.5), 1..40),
        ) {
            let mut grid = CircleGrid::new();
            let circles: Vec<(Point, f64)> =
                circles.into_iter().map(|(lat, lon, r)| (Point::new(lat, lon).unwrap(), r)).collect();
            for (c, r) in &circles {
                grid.insert(*c, *r, 1);
            }
            for (lat, lon) in points {
                let at = Point::new(lat, lon).unwrap();
                let mut got: Vec<u32> = grid.containing(at, 1).collect();
                got.sort_unstable();
                prop_assert_eq!(got, brute(&circles, at));
            }
            // The centres themselves (inside every circle of radius >= 0).
            for (c, _) in &circles {
                let mut got: Vec<u32> = grid.containing(*c, 1).collect();
                got.sort_unstable();
                prop_assert_eq!(got, brute(&circles, *c));
            }
        }
    }

    #[test]
    fn removal_and_slot_reuse() {
        let mut grid = CircleGrid::new();
        let home = Point::new(32.78, -96.80).unwrap();
        let a = grid.insert(home, 1_000.0, 1);
        let b = grid.insert(home, 300.0, 2);
        assert_eq!(grid.containing(home, 3).count(), 2);
        assert_eq!(grid.containing(home, 2).collect::<Vec<_>>(), [b], "tags filter");
        grid.remove(a);
        assert_eq!(grid.containing(home, 3).collect::<Vec<_>>(), [b], "gone at once for queries");
        // Its slot is used again only once its entries are swept out.
        let c = grid.insert(home, 2_000.0, 1);
        assert_ne!(c, a);
        grid.compact();
        assert_eq!(grid.containing(home, 3).count(), 2);
        let d = grid.insert(home, 2_000.0, 1);
        assert_eq!(d, a, "the freed slot is used again");
        for slot in [b, c, d] {
            grid.remove(slot);
        }
        assert_eq!(grid.containing(home, u32::MAX).count(), 0);
        grid.compact();
        assert!(grid.cells.is_empty());
        // Many removals sweep by themselves.
        let slots: Vec<u32> = (0..3_000).map(|i| grid.insert(home, 100.0 + f64::from(i), 1)).collect();
        for s in &slots[..2_000] {
            grid.remove(*s);
        }
        assert!(grid.dead_count < 1_024);
        assert_eq!(grid.containing(home, 1).count(), 1_000);
    }

    #[test]
    fn cells_near_the_antimeridian_and_the_poles_are_handled() {
        let mut grid = CircleGrid::new();
        let far_east = Point::new(-16.5, 179.999).unwrap();
        grid.insert(far_east, 500.0, 1);
        assert_eq!(grid.containing(far_east, 1).count(), 1);
        let north = Point::new(89.99, 10.0).unwrap();
        grid.insert(north, 200.0, 1);
        assert_eq!(grid.containing(north, 1).count(), 1);
    }
}
