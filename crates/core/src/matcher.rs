//! Finding the subscriptions whose area holds an incident.
//!
//! Circles are in a [`CircleGrid`] (flat runs scanned in `f32`, exact on the sphere), with each
//! one's category mask beside it so the category filter costs a bit test; neighbourhood
//! polygons are in an R-tree of their boxes, checked exactly; private-mode cells in a map from
//! cell to subscribers. The index holds only what matching needs: what to do with a match
//! (pacing, channels) is the caller's, read from the store.

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
    circles: CircleGrid,
    tree: RTree<Entry>,
    cells: HashMap<h3o::CellIndex, Vec<(Uuid, u32)>>,
    /// Polygons and cell sets, with their category masks: few next to circles.
    others: HashMap<Uuid, (Area, u32)>,
}

/// The bit of a category in a subscription's category mask.
fn bit(category: Category) -> u32 {
    Category::ALL.iter().position(|c| *c == category).map_or(0, |i| 1u32 << i)
}

impl SubscriptionIndex {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.circles.len() + self.others.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, id: Uuid) -> bool {
        self.circles.contains(id) || self.others.contains_key(&id)
    }

    /// Add or replace a subscription.
    pub fn insert(&mut self, subscription: &Subscription) {
        self.remove(subscription.id);
        match &subscription.area {
            Area::Circle { point, radius_m } => {
                self.circles.insert(subscription.id, *point, *radius_m, subscription.category_mask());
            }
            other => self.insert_other(subscription.id, other, subscription.category_mask()),
        }
    }

    /// Add many subscriptions at once, as at start-up: circles are sorted into place once at
    /// the end rather than as they come.
    pub fn load<'a>(&mut self, subscriptions: impl IntoIterator<Item = &'a Subscription>) {
        let mut circles = Vec::new();
        for s in subscriptions {
            match &s.area {
                Area::Circle { point, radius_m } => {
                    circles.push((s.id, *point, *radius_m, s.category_mask()))
                }
                other => {
                    self.remove(s.id);
                    self.insert_other(s.id, other, s.category_mask());
                }
            }
        }
        self.circles.extend(circles);
        self.shrink_to_fit();
    }

    fn insert_other(&mut self, id: Uuid, area: &Area, mask: u32) {
        match area {
            Area::Circle { .. } => unreachable!("circles go to the grid"),
            Area::Polygon(_) => {
                let (lo, hi) = area.bounding_box();
                self.tree.insert(Entry { id, envelope: AABB::from_corners(lo, hi) });
            }
            Area::Cells { cells, .. } => {
                for cell in cells {
                    self.cells.entry(*cell).or_default().push((id, mask));
                }
            }
        }
        self.others.insert(id, (area.clone(), mask));
    }

    pub fn remove(&mut self, id: Uuid) {
        if self.circles.remove(id) {
            return;
        }
        match self.others.remove(&id).map(|(area, _)| area) {
            Some(area @ Area::Polygon(_)) => {
                let (lo, hi) = area.bounding_box();
                self.tree.remove(&Entry { id, envelope: AABB::from_corners(lo, hi) });
            }
            Some(Area::Cells { cells, .. }) => {
                for cell in cells {
                    if let Some(ids) = self.cells.get_mut(&cell) {
                        ids.retain(|(i, _)| *i != id);
                        if ids.is_empty() {
                            self.cells.remove(&cell);
                        }
                    }
                }
            }
            Some(Area::Circle { .. }) | None => {}
        }
    }

    /// Give back spare capacity: after loading every subscription at start-up.
    pub fn shrink_to_fit(&mut self) {
        self.circles.shrink_to_fit();
        self.cells.shrink_to_fit();
        self.others.shrink_to_fit();
    }

    /// Bytes held by the circles, which are nearly all of a city's subscriptions.
    pub fn circle_bytes(&self) -> usize {
        self.circles.bytes()
    }

    /// The subscriptions that want an incident of `category` at `at`, in no particular order.
    pub fn matches(&self, category: Category, at: Point) -> Vec<Uuid> {
        let mut found = Vec::new();
        self.matches_into(category, at, &mut found);
        found
    }

    /// [`SubscriptionIndex::matches`], appended to `found`.
    pub fn matches_into(&self, category: Category, at: Point, found: &mut Vec<Uuid>) {
        let bit = bit(category);
        self.circles.containing_into(at, bit, found);
        if self.others.is_empty() {
            return;
        }
        let polygons = self
            .tree
            .locate_in_envelope_intersecting(&AABB::from_point([at.lon(), at.lat()]))
            .filter(|e| {
                self.others.get(&e.id).is_some_and(|(area, mask)| mask & bit != 0 && area.contains(at))
            })
            .map(|e| e.id);
        found.extend(polygons);
        // Private-mode cells are at most resolution 7: look the point's cell up at each.
        if self.cells.is_empty() {
            return;
        }
        let cells = (0..=u8::from(FINEST_PRIVATE_RESOLUTION))
            .filter_map(|r| h3o::Resolution::try_from(r).ok())
            .filter_map(|r| self.cells.get(&at.cell(r)))
            .flatten()
            .filter(|(_, mask)| mask & bit != 0)
            .map(|(id, _)| *id);
        found.extend(cells);
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
        index.write().unwrap().insert(&steady);
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (index, done) = (index.clone(), done.clone());
            std::thread::spawn(move || {
                for i in 0..400u32 {
                    let s = sub(32.78 + f64::from(i % 10) * 0.0004, -96.80, 600.0 + f64::from(i % 7) * 100.0);
                    let id = s.id;
                    index.write().unwrap().insert(&s);
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
            // Every id found is a live subscription (the churned ones all hold the point).
            for id in &found {
                assert!(index.contains(*id), "a live subscription");
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
            index.insert(&s);
            all.push(s);
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
        index.insert(&s);
        let at = Point::new(43.001, -88.0).unwrap();
        assert_eq!(index.matches(Category::Fire, at), vec![id]);
        index.remove(id);
        assert!(index.matches(Category::Fire, at).is_empty());
        assert!(index.is_empty());
    }
}
