//! Finding the subscriptions whose area holds an incident.
//!
//! Circles are in a [`CircleGrid`] (interior cells need no distance; edge cells are checked
//! exactly), with each one's category mask beside its slot so the category filter costs a bit
//! test; neighbourhood polygons are in an R-tree of their boxes, checked exactly; private-mode
//! cells in a map from cell to subscribers. Circles that cross the antimeridian are not
//! supported (no city does).

use std::collections::HashMap;

use rstar::{AABB, RTree, RTreeObject};
use uuid::Uuid;

use crate::{
    category::Category,
    geo::Point,
    grid::CircleGrid,
    subscription::{Area, FINEST_PRIVATE_RESOLUTION, Subscription},
};

#[derive(Debug, Clone, PartialEq)]
struct Entry {
    id: Uuid,
    envelope: AABB<[f64; 2]>,
}

impl RTreeObject for Entry {
    type Envelope = AABB<[f64; 2]>;

    fn envelope(&self) -> Self::Envelope {
        self.envelope
    }
}

/// Every live subscription, indexed by area.
#[derive(Debug, Default)]
pub struct SubscriptionIndex {
    grid: CircleGrid,
    /// The subscription of each circle's slot in the grid.
    slots: Vec<Uuid>,
    /// Each circle's slot, by subscription.
    slot_of: HashMap<Uuid, u32>,
    tree: RTree<Entry>,
    cells: HashMap<h3o::CellIndex, Vec<Uuid>>,
    subscriptions: HashMap<Uuid, Subscription>,
}

impl SubscriptionIndex {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.subscriptions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.subscriptions.is_empty()
    }

    /// Add or replace a subscription.
    pub fn insert(&mut self, subscription: Subscription) {
        self.remove(subscription.id);
        match &subscription.area {
            Area::Circle { point, radius_m } => {
                let slot = self.grid.insert(*point, *radius_m, subscription.category_mask());
                match self.slots.get_mut(slot as usize) {
                    Some(s) => *s = subscription.id,
                    None => self.slots.push(subscription.id),
                }
                self.slot_of.insert(subscription.id, slot);
            }
            Area::Polygon(_) => {
                let (lo, hi) = subscription.area.bounding_box();
                self.tree.insert(Entry { id: subscription.id, envelope: AABB::from_corners(lo, hi) });
            }
            Area::Cells { cells, .. } => {
                for cell in cells {
                    self.cells.entry(*cell).or_default().push(subscription.id);
                }
            }
        }
        self.subscriptions.insert(subscription.id, subscription);
    }

    pub fn remove(&mut self, id: Uuid) {
        match self.subscriptions.remove(&id).map(|s| s.area) {
            Some(Area::Circle { .. }) => {
                if let Some(slot) = self.slot_of.remove(&id) {
                    self.grid.remove(slot);
                }
            }
            Some(area @ Area::Polygon(_)) => {
                let (lo, hi) = area.bounding_box();
                self.tree.remove(&Entry { id, envelope: AABB::from_corners(lo, hi) });
            }
            Some(Area::Cells { cells, .. }) => {
                for cell in cells {
                    if let Some(ids) = self.cells.get_mut(&cell) {
                        ids.retain(|i| *i != id);
                        if ids.is_empty() {
                            self.cells.remove(&cell);
                        }
                    }
                }
            }
            None => {}
        }
    }

    /// Sweep removed circles out of the grid's lists now, rather than when enough are waiting.
    pub fn compact(&mut self) {
        self.grid.compact();
    }

    /// Give back spare capacity: after loading every subscription at start-up.
    pub fn shrink_to_fit(&mut self) {
        self.grid.shrink_to_fit();
        self.slots.shrink_to_fit();
        self.slot_of.shrink_to_fit();
        self.subscriptions.shrink_to_fit();
    }

    pub fn get(&self, id: Uuid) -> Option<&Subscription> {
        self.subscriptions.get(&id)
    }

    /// The subscriptions that want an incident of `category` at `at`, in no particular order.
    pub fn matches(&self, category: Category, at: Point) -> Vec<Uuid> {
        let bit = Category::ALL.iter().position(|c| *c == category).map_or(0, |i| 1u32 << i);
        let mut found: Vec<Uuid> =
            self.grid.containing(at, bit).map(|slot| self.slots[slot as usize]).collect();
        let polygons =
            self.tree.locate_in_envelope_intersecting(&AABB::from_point([at.lon(), at.lat()])).map(|e| e.id);
        // Private-mode cells are at most resolution 7: look the point's cell up at each.
        let resolutions = if self.cells.is_empty() { 0 } else { u8::from(FINEST_PRIVATE_RESOLUTION) + 1 };
        let cells = (0..resolutions)
            .filter_map(|r| h3o::Resolution::try_from(r).ok())
            .filter_map(|r| self.cells.get(&at.cell(r)))
            .flatten()
            .copied();
        found.extend(
            polygons
                .chain(cells)
                .filter_map(|id| self.subscriptions.get(&id))
                .filter(|s| s.wants(category, at))
                .map(|s| s.id),
        );
        found
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use crate::category::Severity;

    use chrono::Utc;

    use super::*;

    fn sub(lat: f64, lon: f64, r: f64) -> Subscription {
        Subscription::new(Point::new(lat, lon).unwrap(), r, (BTreeSet::new(), Severity::Low), Utc::now())
            .unwrap()
    }

    /// Queries run while another thread inserts and deletes: a subscription that is never
    /// touched is always found, one being churned is found or not but never half-entered.
    #[test]
    fn queries_during_updates_see_whole_subscriptions() {
        use std::sync::{Arc, RwLock};
        let here = Point::new(32.78, -96.80).unwrap();
        let index = Arc::new(RwLock::new(SubscriptionIndex::new()));
        let steady = sub(32.78, -96.80, 2_000.0);
        index.write().unwrap().insert(steady.clone());
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (index, done) = (index.clone(), done.clone());
            std::thread::spawn(move || {
                for i in 0..400u32 {
                    let s = sub(32.78 + f64::from(i % 10) * 0.0004, -96.80, 600.0 + f64::from(i % 7) * 100.0);
                    let id = s.id;
                    index.write().unwrap().insert(s);
                    if i % 2 == 0 {
                        index.write().unwrap().remove(id);
                    }
                }
                done.store(true, std::sync::atomic::Ordering::SeqCst);
            })
        };
        let mut reads = 0;
        while !done.load(std::sync::atomic::Ordering::SeqCst) || reads == 0 {
            let index = index.read().unwrap();
            let found = index.matches(Category::Property, here);
            assert!(found.contains(&steady.id));
            // Every id found is a live subscription that holds the point.
            for id in &found {
                let s = index.get(*id).expect("a live subscription");
                assert!(s.wants(Category::Property, here));
            }
            reads += 1;
            drop(index);
            std::thread::yield_now();
        }
        writer.join().unwrap();
        // Half were deleted: 200 churned ones remain, all near enough to hold the point.
        assert_eq!(index.read().unwrap().len(), 201);
        assert_eq!(index.read().unwrap().matches(Category::Property, here).len(), 201);
    }

    #[test]
    fn agrees_with_a_linear_scan() {
        let mut index = SubscriptionIndex::new();
        let mut all = Vec::new();
        // A deterministic spread of circles over a city, including far north where degrees of
        // longitude are short.
        for i in 0..400u32 {
            let lat = 43.0 + f64::from(i % 20) * 0.01 + if i % 7 == 0 { 20.0 } else { 0.0 };
            let lon = -88.0 + f64::from(i / 20) * 0.013;
            let s = sub(lat, lon, 100.0 + f64::from(i % 13) * 250.0);
            all.push(s.clone());
            index.insert(s);
        }
        for j in 0..300u32 {
            let at = Point::new(
                43.0 + f64::from(j % 30) * 0.007 + if j % 5 == 0 { 20.0 } else { 0.0 },
                -88.0 + f64::from(j / 30) * 0.021,
            )
            .unwrap();
            let mut got = index.matches(Category::Property, at);
            let mut want: Vec<Uuid> =
                all.iter().filter(|s| s.wants(Category::Property, at)).map(|s| s.id).collect();
            got.sort();
            want.sort();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn removed_subscriptions_stop_matching() {
        let mut index = SubscriptionIndex::new();
        let s = sub(43.0, -88.0, 1000.0);
        let id = s.id;
        index.insert(s);
        let at = Point::new(43.001, -88.0).unwrap();
        assert_eq!(index.matches(Category::Fire, at), vec![id]);
        index.remove(id);
        assert!(index.matches(Category::Fire, at).is_empty());
        assert!(index.is_empty());
    }
}
