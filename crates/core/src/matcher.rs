//! Finding the subscriptions whose area holds an incident.
//!
//! Circles up to [`grid::MAX_RADIUS_M`] (4 km: nearly all of a city's) are in a [`CircleGrid`]
//! (flat runs scanned in 16-bit vectors, exact on the sphere), with each one's category mask
//! beside it so the category filter costs a bit test; larger circles and neighbourhood polygons
//! are in an R-tree of their boxes, checked exactly; private-mode cells in a map from cell to
//! subscribers. The index holds only what matching needs: what to do with a match
//! (pacing, channels) is the caller's, read from the store.

use std::collections::HashMap;

use rstar::{AABB, RTree, RTreeObject};

use crate::{
    category::Category,
    geo::Point,
    grid::{self, CircleGrid},
    subscription::{Area, FINEST_PRIVATE_RESOLUTION, Subscription, SubscriptionKey},
};

#[derive(Debug, Clone, PartialEq)]
struct Entry {
    id: SubscriptionKey,
    envelope: AABB<[f64; 2]>,
}

impl RTreeObject for Entry {
    type Envelope = AABB<[f64; 2]>;

    fn envelope(&self) -> Self::Envelope {
        self.envelope
    }
}

/// The share of the world one matcher answers for, of `count` shards that split it between them
/// by region: squares of a tenth of a degree of latitude and longitude (about 11 km by 8 km in
/// the middle latitudes), dealt to shards by a fixed hash, the same in every process and build.
/// The shard that owns an incident's region answers for it, so a matcher keeps every
/// subscription whose area reaches one of its shards' regions (an area on a boundary is kept by
/// each shard it touches). One matcher may own several shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// The shards owned, one bit each.
    owned: u128,
    count: u32,
}

/// The most shards a deployment can be split into.
pub const MAX_SHARDS: u32 = 128;
/// Regions per degree of latitude and of longitude.
const REGIONS_PER_DEG: f64 = 10.0;
/// Degrees added around an area's box before finding the regions it reaches, against
/// rounding at a region's edge.
const SHARD_MARGIN_DEG: f64 = 0.01;

impl Shard {
    /// Shard `index` of `count`; `None` unless `index < count <= MAX_SHARDS`.
    pub fn new(index: u32, count: u32) -> Option<Self> {
        Self::set([index], count)
    }

    /// The shards `indexes` of `count`, owned together; `None` if there are none or one is not
    /// below `count`, or `count` is above [`MAX_SHARDS`].
    pub fn set(indexes: impl IntoIterator<Item = u32>, count: u32) -> Option<Self> {
        if count > MAX_SHARDS {
            return None;
        }
        let mut owned = 0u128;
        for index in indexes {
            if index >= count {
                return None;
            }
            owned |= 1 << index;
        }
        (owned != 0).then_some(Self { owned, count })
    }

    /// How many shards the world is split into.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The shards owned, in order.
    pub fn indexes(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.count).filter(|i| self.owns(*i))
    }

    pub fn owns(&self, index: u32) -> bool {
        index < self.count && self.owned & (1 << index) != 0
    }

    /// The region of a latitude and longitude: whole numbers, latitude -900..900, longitude
    /// wrapped to 0..3600.
    fn region(lat: f64, lon: f64) -> (i32, i32) {
        ((lat * REGIONS_PER_DEG).floor().clamp(-900.0, 899.0) as i32, (lon * REGIONS_PER_DEG).floor() as i32)
    }

    fn of_region(lat: i32, lon: i32, count: u32) -> u32 {
        let region = ((lat + 900) as u64) * 3600 + (lon.rem_euclid(3600) as u64);
        // SplitMix64's finalizer: every bit of the region stirs every bit of the hash, so
        // neighbouring regions (in latitude as in longitude) scatter over the shards.
        let mut z = region;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z % u64::from(count)) as u32
    }

    /// The shard, of `count`, that answers for an incident at `at`.
    pub fn owning(at: Point, count: u32) -> u32 {
        let (lat, lon) = Self::region(at.lat(), at.lon());
        Self::of_region(lat, lon, count.max(1))
    }

    /// Whether this matcher must hold a subscription with this area.
    pub fn covers(&self, area: &Area) -> bool {
        let (lo, hi) = area.bounding_box();
        let (south, west) = Self::region(lo[1] - SHARD_MARGIN_DEG, lo[0] - SHARD_MARGIN_DEG);
        let (north, east) = Self::region(hi[1] + SHARD_MARGIN_DEG, hi[0] + SHARD_MARGIN_DEG);
        let east = east.min(west + 3599);
        (south..=north).any(|lat| (west..=east).any(|lon| self.owns(Self::of_region(lat, lon, self.count))))
    }
}

/// Every live subscription (of one shard, when split), indexed by area.
#[derive(Debug, Default)]
pub struct SubscriptionIndex {
    shard: Option<Shard>,
    circles: CircleGrid,
    tree: RTree<Entry>,
    cells: HashMap<h3o::CellIndex, Vec<(SubscriptionKey, u32)>>,
    /// Polygons and cell sets, with their category masks: few next to circles.
    others: HashMap<SubscriptionKey, (Area, u32)>,
}

/// The box an area is filed under in the R-tree, in degrees of longitude and latitude, a hair
/// wider than the area against rounding. A circle's may run past ±180 (a query looks a turn
/// either side).
fn envelope(area: &Area) -> AABB<[f64; 2]> {
    const MARGIN_DEG: f64 = 1e-7;
    let (lo, hi) = area.bounding_box();
    AABB::from_corners([lo[0] - MARGIN_DEG, lo[1] - MARGIN_DEG], [hi[0] + MARGIN_DEG, hi[1] + MARGIN_DEG])
}

/// The bit of a category in a subscription's category mask.
fn bit(category: Category) -> u32 {
    Category::ALL.iter().position(|c| *c == category).map_or(0, |i| 1u32 << i)
}

/// A category mask as the circle grid keeps it, in 16 bits: a subscription wants only
/// categories that can alert, and each of those is among the first 16
/// (`every_category_that_can_alert_fits_the_grid`), so the bits left out are never set in a
/// subscription's mask, and a query for such a category rightly finds no circle.
fn grid_tag(mask: u32) -> u16 {
    (mask & u32::from(u16::MAX)) as u16
}

impl SubscriptionIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// An index that keeps only the subscriptions `shard` must answer for.
    pub fn for_shard(shard: Shard) -> Self {
        Self { shard: Some(shard), ..Self::default() }
    }

    fn keeps(&self, area: &Area) -> bool {
        self.shard.is_none_or(|shard| shard.covers(area))
    }

    pub fn len(&self) -> usize {
        self.circles.len() + self.others.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, id: SubscriptionKey) -> bool {
        self.circles.contains(id) || self.others.contains_key(&id)
    }

    /// Add or replace a subscription under the key the store gave it (of a split index, only
    /// one its shard answers for).
    pub fn insert(&mut self, key: SubscriptionKey, subscription: &Subscription) {
        self.remove(key);
        if !self.keeps(&subscription.area) {
            return;
        }
        match &subscription.area {
            Area::Circle { point, radius_m } if *radius_m <= grid::MAX_RADIUS_M => {
                self.circles.insert(key, *point, *radius_m, grid_tag(subscription.category_mask()));
            }
            other => self.insert_other(key, other, subscription.category_mask()),
        }
    }

    /// Add many subscriptions at once, as at start-up: circles are sorted into place once at
    /// the end rather than as they come.
    pub fn load<'a>(&mut self, subscriptions: impl IntoIterator<Item = &'a (SubscriptionKey, Subscription)>) {
        let mut circles = Vec::new();
        let shard = self.shard;
        for (key, s) in
            subscriptions.into_iter().filter(|(_, s)| shard.is_none_or(|shard| shard.covers(&s.area)))
        {
            match &s.area {
                Area::Circle { point, radius_m } if *radius_m <= grid::MAX_RADIUS_M => {
                    // The grid replaces its own; one filed elsewhere before is taken out here.
                    if self.others.contains_key(key) {
                        self.remove(*key);
                    }
                    circles.push((*key, *point, *radius_m, grid_tag(s.category_mask())))
                }
                other => {
                    self.remove(*key);
                    self.insert_other(*key, other, s.category_mask());
                }
            }
        }
        self.circles.extend(circles);
        self.shrink_to_fit();
    }

    fn insert_other(&mut self, id: SubscriptionKey, area: &Area, mask: u32) {
        match area {
            Area::Circle { .. } | Area::Polygon(_) => {
                self.tree.insert(Entry { id, envelope: envelope(area) });
            }
            Area::Cells { cells, .. } => {
                for cell in cells {
                    self.cells.entry(*cell).or_default().push((id, mask));
                }
            }
        }
        self.others.insert(id, (area.clone(), mask));
    }

    pub fn remove(&mut self, id: SubscriptionKey) {
        if self.circles.remove(id) {
            return;
        }
        match self.others.remove(&id).map(|(area, _)| area) {
            Some(area @ (Area::Circle { .. } | Area::Polygon(_))) => {
                self.tree.remove(&Entry { id, envelope: envelope(&area) });
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
            None => {}
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

    /// The cache lines of the circles' index that finding the matches for `category` at `at`
    /// reads (see [`CircleGrid::lines_read`]): for `matcher-bench`'s memory floor.
    pub fn circle_lines_read(&self, category: Category, at: Point) -> Vec<usize> {
        self.circles.lines_read(at, grid_tag(bit(category)))
    }

    /// The subscriptions that want an incident of `category` at `at`, in no particular order.
    pub fn matches(&self, category: Category, at: Point) -> Vec<SubscriptionKey> {
        let mut found = Vec::new();
        self.matches_into(category, at, &mut found);
        found
    }

    /// [`SubscriptionIndex::matches`], appended to `found`.
    pub fn matches_into(&self, category: Category, at: Point, found: &mut Vec<SubscriptionKey>) {
        let bit = bit(category);
        self.circles.containing_into(at, grid_tag(bit), found);
        if self.others.is_empty() {
            return;
        }
        // A box may run past the antimeridian (a circle's does, to longitudes beyond ±180):
        // the point is looked up a turn of the globe either side too, and each area found once.
        for shift in [0.0, 360.0, -360.0] {
            let boxed = self
                .tree
                .locate_in_envelope_intersecting(&AABB::from_point([at.lon() + shift, at.lat()]))
                .filter(|e| {
                    self.others.get(&e.id).is_some_and(|(area, mask)| mask & bit != 0 && area.contains(at))
                })
                .map(|e| e.id);
            if shift == 0.0 {
                found.extend(boxed);
            } else {
                // Rare: only an area whose box crosses the antimeridian is met here.
                for id in boxed.collect::<Vec<_>>() {
                    let mine = &found[..];
                    if !mine.contains(&id) {
                        found.push(id);
                    }
                }
            }
        }
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

    use proptest::prelude::*;

    use crate::{
        category::Severity,
        subscription::{MAX_RADIUS_M, MIN_RADIUS_M},
    };

    use chrono::Utc;

    use super::*;

    #[test]
    fn every_category_that_can_alert_fits_the_grid() {
        for category in Category::ALL {
            if category.can_alert() {
                assert_eq!(u32::from(grid_tag(bit(category))), bit(category), "{category:?}");
            }
        }
        // Nor can a subscription want one that cannot.
        let all = Subscription::new(
            Point::new(32.78, -96.8).unwrap(),
            500.0,
            (BTreeSet::new(), Severity::Low),
            Utc::now(),
        )
        .unwrap();
        assert_ne!(all.category_mask(), 0);
        assert_eq!(u32::from(grid_tag(all.category_mask())), all.category_mask());
    }

    /// A subscription with a key no other of the tests has, as the store would give.
    fn keyed(s: Subscription) -> (SubscriptionKey, Subscription) {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
        (SubscriptionKey(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)), s)
    }

    fn sub(lat: f64, lon: f64, r: f64) -> (SubscriptionKey, Subscription) {
        keyed(
            Subscription::new(Point::new(lat, lon).unwrap(), r, (BTreeSet::new(), Severity::Low), Utc::now())
                .unwrap(),
        )
    }

    /// Queries run while another thread inserts and deletes: a subscription that is never
    /// touched is always found, one being churned is found or not but never half-entered.
    #[test]
    fn queries_during_updates_see_whole_subscriptions() {
        use std::sync::{Arc, RwLock};
        let here = Point::new(32.78, -96.80).unwrap();
        let index = Arc::new(RwLock::new(SubscriptionIndex::new()));
        let steady = sub(32.78, -96.80, 2_000.0);
        index.write().unwrap().insert(steady.0, &steady.1);
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (index, done) = (index.clone(), done.clone());
            std::thread::spawn(move || {
                for i in 0..400u32 {
                    let (key, s) =
                        sub(32.78 + f64::from(i % 10) * 0.0004, -96.80, 600.0 + f64::from(i % 7) * 100.0);
                    index.write().unwrap().insert(key, &s);
                    if i % 2 == 0 {
                        index.write().unwrap().remove(key);
                    }
                }
                done.store(true, std::sync::atomic::Ordering::SeqCst);
            })
        };
        let mut reads = 0;
        while !done.load(std::sync::atomic::Ordering::SeqCst) || reads == 0 {
            let index = index.read().unwrap();
            let found = index.matches(Category::Property, here);
            assert!(found.contains(&steady.0));
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
            // Every third wants only violent calls and above "high" severity: a mix of tags.
            let filter = if i % 3 == 0 {
                ([Category::Violent].into(), Severity::High)
            } else {
                (BTreeSet::new(), Severity::Low)
            };
            let (key, s) = keyed(
                Subscription::new(
                    Point::new(lat, lon).unwrap(),
                    100.0 + f64::from(i % 13) * 250.0,
                    filter,
                    Utc::now(),
                )
                .unwrap(),
            );
            index.insert(key, &s);
            all.push((key, s));
        }
        // Neighbourhoods and private-mode cells among them.
        for i in 0..12u32 {
            let (lat, lon) = (43.0 + f64::from(i % 4) * 0.05, -88.0 + f64::from(i / 4) * 0.06);
            let square =
                Area::polygon(&[[lon, lat], [lon + 0.04, lat], [lon + 0.02, lat + 0.05], [lon, lat]])
                    .unwrap();
            let cells = Area::cells([Point::new(lat, lon).unwrap().cell(h3o::Resolution::Seven)]).unwrap();
            for area in [square, cells] {
                let (key, s) =
                    keyed(Subscription::in_area(area, (BTreeSet::new(), Severity::Low), Utc::now()).unwrap());
                index.insert(key, &s);
                all.push((key, s));
            }
        }
        // Replacing one keeps one entry.
        index.insert(all[1].0, &all[1].1);
        assert_eq!(index.len(), all.len());
        for j in 0..300u32 {
            let at = Point::new(
                43.0 + f64::from(j % 30) * 0.007 + if j % 5 == 0 { 20.0 } else { 0.0 },
                -88.0 + f64::from(j / 30) * 0.021,
            )
            .unwrap();
            for category in [Category::Property, Category::Violent] {
                let (got, want) = index_and_scan(&index, &all, category, at);
                assert_eq!(got, want);
            }
        }
    }

    /// Three shards between them answer exactly as one index does, each for the incidents in
    /// its own regions, with circles, polygons and cells straddling region boundaries.
    #[test]
    fn shards_answer_as_the_whole() {
        let mut whole = SubscriptionIndex::new();
        let count = 3;
        let mut shards: Vec<SubscriptionIndex> =
            (0..count).map(|i| SubscriptionIndex::for_shard(Shard::new(i, count).unwrap())).collect();
        let mut subs = Vec::new();
        for i in 0..300u32 {
            // Around the corner of four regions (and of four one-degree squares) at 33 N, 97 W.
            let (lat, lon) = (32.9 + f64::from(i % 17) * 0.013, -97.1 + f64::from(i / 17) * 0.011);
            subs.push(sub(lat, lon, 300.0 + f64::from(i % 11) * 900.0));
        }
        let square = |lat: f64, lon: f64| {
            Area::polygon(&[
                [lon, lat],
                [lon + 0.05, lat],
                [lon + 0.05, lat + 0.05],
                [lon, lat + 0.05],
                [lon, lat],
            ])
            .unwrap()
        };
        for (lat, lon) in [(32.98, -97.02), (32.9, -96.95), (33.01, -97.2)] {
            subs.push(keyed(
                Subscription::in_area(square(lat, lon), (BTreeSet::new(), Severity::Low), Utc::now())
                    .unwrap(),
            ));
        }
        let cells = Area::cells([Point::new(33.0, -97.0).unwrap().cell(h3o::Resolution::Seven)]).unwrap();
        subs.push(keyed(Subscription::in_area(cells, (BTreeSet::new(), Severity::Low), Utc::now()).unwrap()));
        whole.load(&subs);
        for shard in &mut shards {
            shard.load(&subs);
        }
        assert!(shards.iter().all(|s| s.len() < whole.len()), "each shard holds only its part");
        for j in 0..400u32 {
            let at =
                Point::new(32.85 + f64::from(j % 20) * 0.016, -97.15 + f64::from(j / 20) * 0.016).unwrap();
            let mut want = whole.matches(Category::Property, at);
            let mut got = shards[Shard::owning(at, count) as usize].matches(Category::Property, at);
            want.sort();
            got.sort();
            assert_eq!(got, want, "at {at:?}");
        }
    }

    /// A city falls in several regions, dealt to more than one shard; owning several shards
    /// is owning each.
    #[test]
    fn a_city_spreads_over_the_shards() {
        let mut seen = BTreeSet::new();
        for i in 0..20 {
            for j in 0..20 {
                // Milwaukee's 250 km² or so.
                let p = Point::new(42.92 + 0.013 * f64::from(i), -88.06 + 0.01 * f64::from(j)).unwrap();
                seen.insert(Shard::owning(p, 2));
            }
        }
        assert_eq!(seen, BTreeSet::from([0, 1]));
        let both = Shard::set([0, 2], 3).unwrap();
        assert_eq!(both.indexes().collect::<Vec<_>>(), [0, 2]);
        assert!(both.owns(2) && !both.owns(1) && !both.owns(3));
        assert_eq!(Shard::set([], 3), None);
        assert_eq!(Shard::set([3], 3), None);
        assert_eq!(Shard::new(0, MAX_SHARDS + 1), None);
    }

    proptest! {
        /// Wherever a circle is (near the poles, across the antimeridian) and wherever in it a
        /// call falls, the shard answering for the call holds the circle.
        #[test]
        fn the_shard_of_any_point_inside_an_area_holds_it(
            lat in -89.5f64..89.5,
            lon in -180.0f64..180.0,
            radius_m in 0.0f64..20_000.0,
            bearing in 0.0f64..std::f64::consts::TAU,
            fraction in 0.0f64..=1.0,
            count in 2u32..=MAX_SHARDS,
        ) {
            let centre = Point::new(lat, lon).unwrap();
            let area = Area::Circle { point: centre, radius_m };
            // The point `fraction` of the radius away along `bearing`, on the sphere.
            let d = fraction * radius_m / 6_371_008.8;
            let (p1, l1) = (lat.to_radians(), lon.to_radians());
            let p2 = (p1.sin() * d.cos() + p1.cos() * d.sin() * bearing.cos()).asin();
            let l2 = l1 + (bearing.sin() * d.sin() * p1.cos()).atan2(d.cos() - p1.sin() * p2.sin());
            let inside = Point::new(p2.to_degrees(), (l2.to_degrees() + 540.0).rem_euclid(360.0) - 180.0).unwrap();
            prop_assume!(area.contains(inside));
            let shard = Shard::new(Shard::owning(inside, count), count).unwrap();
            prop_assert!(shard.covers(&area), "{inside:?} in {area:?}");
        }
    }

    /// A subscription whose radius grows past what the grid holds moves to the R-tree, and
    /// back when it shrinks, loaded or inserted: never in both, never lost.
    #[test]
    fn a_circle_moves_between_the_grid_and_the_tree() {
        let mut index = SubscriptionIndex::new();
        let centre = Point::new(32.78, -96.80).unwrap();
        let (near, far) = (Point::new(32.781, -96.80).unwrap(), Point::new(32.83, -96.80).unwrap());
        let key = SubscriptionKey(7);
        let with =
            |r: f64| Subscription::new(centre, r, (BTreeSet::new(), Severity::Low), Utc::now()).unwrap();
        for (r, loaded) in
            [(1_000.0, false), (9_000.0, true), (2_000.0, true), (40_000.0, false), (1_500.0, false)]
        {
            if loaded {
                index.load(&[(key, with(r))]);
            } else {
                index.insert(key, &with(r));
            }
            assert_eq!(index.len(), 1);
            assert_eq!(index.matches(Category::Fire, near), vec![key]);
            assert_eq!(index.matches(Category::Fire, far) == vec![key], r > 5_600.0, "radius {r}");
        }
        index.remove(key);
        assert!(index.is_empty() && index.matches(Category::Fire, near).is_empty());
    }

    #[test]
    fn removed_subscriptions_stop_matching() {
        let mut index = SubscriptionIndex::new();
        let (id, s) = sub(43.0, -88.0, 1000.0);
        index.insert(id, &s);
        let at = Point::new(43.001, -88.0).unwrap();
        assert_eq!(index.matches(Category::Fire, at), vec![id]);
        index.remove(id);
        assert!(index.matches(Category::Fire, at).is_empty());
        assert!(index.is_empty());
    }

    /// The index's answer and a linear scan's over `all`, both sorted.
    fn index_and_scan(
        index: &SubscriptionIndex,
        all: &[(SubscriptionKey, Subscription)],
        category: Category,
        at: Point,
    ) -> (Vec<SubscriptionKey>, Vec<SubscriptionKey>) {
        let mut got = index.matches(category, at);
        let mut want: Vec<SubscriptionKey> =
            all.iter().filter(|(_, s)| s.wants(category, at)).map(|(key, _)| *key).collect();
        got.sort();
        want.sort();
        (got, want)
    }

    /// A neighbourhood whose ring passes twice through its middle: two triangles touching at
    /// one corner (a shape a hand-drawn area can take), `size` degrees across.
    fn touching_triangles(lat: f64, lon: f64, size: f64) -> Area {
        let (h, s) = (size / 2.0, size);
        Area::polygon(&[
            [lon, lat],
            [lon + s, lat],
            [lon + h, lat + h],
            [lon + s, lat + s],
            [lon, lat + s],
            [lon + h, lat + h],
            [lon, lat],
        ])
        .unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// The whole index against a linear scan of `Subscription::wants`: circles from the
        /// smallest to the largest radius a subscriber may choose, either side of the largest the
        /// grid holds (some across the antimeridian, some over the north pole),
        /// self-touching and plain neighbourhoods, private-mode cells, mixed category filters,
        /// some removed again; points anywhere near, on polygon corners (the touching one
        /// included) and on circle centres.
        #[test]
        fn agrees_with_a_linear_scan_everywhere(
            circles in proptest::collection::vec(
                (prop_oneof![32.7f64..32.9, 10.0f64..10.1, 89.5f64..=90.0],
                 prop_oneof![-96.9f64..-96.7, 179.95f64..=180.0, -180.0f64..-179.95],
                 prop_oneof![Just(MIN_RADIUS_M), Just(MAX_RADIUS_M), Just(grid::MAX_RADIUS_M),
                             Just(grid::MAX_RADIUS_M + 0.001), MIN_RADIUS_M..grid::MAX_RADIUS_M,
                             MIN_RADIUS_M..MAX_RADIUS_M],
                 0u8..3),
                0..40),
            polygons in proptest::collection::vec((32.7f64..32.9, -96.9f64..-96.7, 0.001f64..0.2, proptest::bool::ANY), 0..6),
            cells in proptest::collection::vec((32.7f64..32.9, -96.9f64..-96.7, 5u8..=7), 0..6),
            removed in proptest::collection::vec(0usize..60, 0..10),
            points in proptest::collection::vec(
                (prop_oneof![32.6f64..33.0, 9.9f64..10.2, 89.4f64..=90.0],
                 prop_oneof![-97.0f64..-96.6, 179.5f64..=180.0, -180.0f64..-179.5]),
                1..30),
        ) {
            let filters = [
                (BTreeSet::new(), Severity::Low),
                ([Category::Violent].into(), Severity::Low),
                ([Category::Property, Category::Traffic].into(), Severity::Low),
            ];
            let mut all = Vec::new();
            for (lat, lon, r, f) in &circles {
                let s = Subscription::new(Point::new(*lat, *lon).unwrap(), *r, filters[*f as usize].clone(), Utc::now());
                all.push(keyed(s.unwrap()));
            }
            let mut corners = Vec::new();
            for (lat, lon, size, touching) in &polygons {
                let area = if *touching {
                    corners.push(Point::new(lat + size / 2.0, lon + size / 2.0).unwrap());
                    touching_triangles(*lat, *lon, *size)
                } else {
                    Area::polygon(&[[*lon, *lat], [lon + size, *lat], [lon + size / 3.0, lat + size], [*lon, *lat]]).unwrap()
                };
                corners.push(Point::new(*lat, *lon).unwrap());
                all.push(keyed(Subscription::in_area(area, filters[0].clone(), Utc::now()).unwrap()));
            }
            for (lat, lon, res) in &cells {
                let cell = Point::new(*lat, *lon).unwrap().cell(h3o::Resolution::try_from(*res).unwrap());
                all.push(keyed(Subscription::in_area(Area::cells([cell]).unwrap(), filters[1].clone(), Utc::now()).unwrap()));
            }
            // Half loaded at once, half one by one; then some removed.
            let mut index = SubscriptionIndex::new();
            let half = all.len() / 2;
            index.load(&all[..half]);
            for (key, s) in &all[half..] {
                index.insert(*key, s);
            }
            for i in removed {
                if i < all.len() {
                    let (key, _) = all.remove(i);
                    index.remove(key);
                }
            }
            let mut at: Vec<Point> = points.into_iter().map(|(lat, lon)| Point::new(lat, lon).unwrap()).collect();
            at.extend(corners);
            at.extend(circles.iter().map(|(lat, lon, _, _)| Point::new(*lat, *lon).unwrap()));
            for at in at {
                for category in [Category::Property, Category::Violent] {
                    let (got, want) = index_and_scan(&index, &all, category, at);
                    prop_assert_eq!(got, want, "at {:?}, {:?}", at, category);
                }
            }
        }
    }

    /// The touching corner of a self-touching neighbourhood belongs to it, and points in either
    /// triangle match while the notches between them do not.
    #[test]
    fn a_self_touching_neighbourhood() {
        let mut index = SubscriptionIndex::new();
        let (key, s) = keyed(
            Subscription::in_area(
                touching_triangles(32.8, -96.8, 0.02),
                (BTreeSet::new(), Severity::Low),
                Utc::now(),
            )
            .unwrap(),
        );
        index.insert(key, &s);
        let at = |lat: f64, lon: f64| Point::new(lat, lon).unwrap();
        for (p, inside) in [
            (at(32.8 + 0.01, -96.8 + 0.01), true), // the touching corner, exactly as the ring has it
            (at(32.802, -96.79), true),            // the southern triangle
            (at(32.818, -96.79), true),            // the northern one
            (at(32.81, -96.798), false),           // the western notch
            (at(32.81, -96.782), false),           // the eastern notch
        ] {
            assert_eq!(index.matches(Category::Fire, p) == vec![key], inside, "at {p:?}");
        }
    }
}
