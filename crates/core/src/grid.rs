//! Circles indexed for "whose circle holds this point", answered by scanning short, flat runs of
//! memory with 16-bit integer vector arithmetic, and exact on the sphere.
//!
//! Each circle up to [`MAX_RADIUS_M`] (4 km) is stored once, by the grid cell of its centre
//! (cells are [`ROW_DEG`] degrees of latitude by [`COL_DEG`] of longitude) and by its *radius class* (radii
//! up to 250 m, 500 m, 1, 2, 3 and 4 km). A circle of class `k` can only hold the point if its centre
//! lies within the class's largest radius of it, so for each class a query visits only the grid
//! rows and columns of that spherical cap; within a row, a class's circles are sorted by
//! column, so the cells to visit are one contiguous run.
//!
//! Cells are grouped in tiles of 20 rows by 40 columns (0.05° square: small enough that merging
//! one stays quick in the densest city). Columns are half a row wide, so the cells a query must
//! test at the ends of each row's run are narrow, while the runs, one a row, are as few. A tile stores its circles row by row, and within a row class by class,
//! so the runs one query reads lie close together. Each circle is a lane of a block of eight:
//! its centre on the plane that touches the sphere at the tile's centre (east and north, in
//! whole quarter metres: `i16` reaches 8.19 km, and a tile's farthest corner is 3.6 km away),
//! the distance on that plane within which a point is surely inside (whole quarter metres,
//! `i16`), and its category tag (`u16`), 8 bytes in all, so a block of eight is one cache line;
//! the keys the store gave the subscriptions (4 bytes each, not the 16-byte ids) sit in a
//! column beside the blocks. A query places its point on the same plane and squares the
//! differences with one multiply-add of 16-bit pairs: eight lanes at once in 256-bit registers
//! where the processor has AVX2 (chosen at run time), four in the portable code elsewhere.
//! Within 8 km of where it touches, the plane leaves out less than a millionth of a distance
//! (the sphere's height below it), and the straight-line chord grows with the distance on the
//! sphere, so with both points rounded to a quarter metre the answer is certain except within
//! about 40 centimetres outside the edge or 65 inside it (the sure radius is rounded down to a
//! whole step), where the circle's exact centre and radius decide by
//! [`Point::distance_m`]: answers agree with the plain haversine distance everywhere. Cells
//! that lie wholly within a class's smallest radius of the point need no test at all: their
//! keys are copied as they are. Larger circles, which are few, are the caller's to keep (the
//! matcher's R-tree).
//!
//! A query is bound by memory, not arithmetic: it reads a few hundred short stretches spread
//! over a large index. So it first lists every stretch (the cells of each class, row by row,
//! tile by tile), then tests and copies them in order while asking the memory system (a
//! prefetch, which does not wait) for the lines of the stretches some sixteen blocks ahead, so
//! that the fetches overlap one another and the work. The few circles too close to call wait
//! until the end, where their exact geometry is fetched for all of them at once. Rows and
//! columns wrap at the antimeridian, and a cap over a pole visits every longitude.
//!
//! Updates: a new circle goes to its tile's short unsorted *pending* list (scanned whole by each
//! query), merged into the sorted runs once it grows past `Tile::pending_max` (128, or a
//! 64th of a dense tile, so a merge's cost per new circle stays the same); a removed circle is
//! made unmatchable in place at once and dropped at the tile's next merge. A merge rewrites one
//! tile (0.05° square), so a writer holds its lock for milliseconds at most.

use std::collections::HashMap;

use foldhash::fast::RandomState;

use wide::{i16x8, i32x4, i32x8, u16x8};

use crate::{
    geo::{EARTH_RADIUS_M, Point},
    subscription::SubscriptionKey,
};

/// The grid's cell size in degrees of latitude and of longitude (about 280 m of latitude).
pub const ROW_DEG: f64 = 0.0025;
/// The grid's cell width in degrees of longitude (about 115 m in the middle latitudes): narrower
/// than a row, so that the cells a query tests at either end of a row's run are narrow too,
/// while the runs (one a row) stay as few.
pub const COL_DEG: f64 = ROW_DEG / COL_SPLIT as f64;
/// Grid columns in a radian of longitude.
const COLS_PER_RADIAN: f64 = 180.0 / std::f64::consts::PI / COL_DEG;
/// Columns to a row's height.
const COL_SPLIT: u32 = 2;
/// Cells on a side of a tile.
const TILE_ROW_CELLS: u32 = 20;
/// Cells across a tile, which is as wide in degrees as it is tall.
const TILE_COL_CELLS: u32 = TILE_ROW_CELLS * COL_SPLIT;
const ROWS: u32 = 72_000;
const COLS: u32 = 144_000 * COL_SPLIT;
/// Tiles around the globe.
const TILE_COLS: u32 = COLS / TILE_COL_CELLS;
/// The largest radius of each class, in metres. The last class holds anything larger, up to the
/// whole sphere (half the circumference is about 20,015 km). Fine where radii are small (the
/// quiet default's 500 m is a bound), coarser above: each class costs a query a run a row, and
/// with classes 500 m apart above 1 km (eight in all) the listing cost more than the wider
/// rings' extra tests save (`matcher-bench` at 1M, alternating: 44,000-45,000 calls a second
/// with eight, 50,000-66,000 with these six; even at 10M).
const CLASS_BOUNDS_M: [f64; 6] = [250.0, 500.0, 1_000.0, 2_000.0, 3_000.0, MAX_RADIUS_M];
/// The largest radius the grid holds: a larger circle is the caller's to keep elsewhere. A
/// circle's centre is within 3.6 km of its tile's centre and a point it holds within 7.6 km,
/// inside the 8.19 km that 16-bit quarter metres reach.
pub const MAX_RADIUS_M: f64 = 4_000.0;
const CLASSES: usize = CLASS_BOUNDS_M.len();
/// Radians added to each class's angle when choosing rows and columns, far above the rounding
/// of placing a centre in its cell (0.6 m).
const SEARCH_EPSILON: f64 = 1e-7;
/// Entries of a dense tile's table of where each cell of a run starts: one a column, and the
/// end.
const CELL_STARTS: usize = TILE_COL_CELLS as usize + 1;
/// Circles from which a tile keeps a table of where each cell starts.
const DENSE_TILE: usize = 4096;
/// New circles a tile keeps unsorted before it merges them in, at least.
const PENDING_MIN: usize = 128;
const LANES: usize = 8;
/// Circles that surely hold the point are copied without a test only from this many in a row:
/// a test costs a few instructions a circle, and each stretch set apart costs two jobs more.
const SURE_MIN: usize = 16;
/// Circles whose lines a query asks for ahead of the job it works on: some 16 blocks.
const CIRCLES_AHEAD: usize = 128;

/// A point as a vector from the Earth's centre, in metres.
fn to_metres(p: Point) -> [f64; 3] {
    let (sin_lat, cos_lat) = p.lat().to_radians().sin_cos();
    let (sin_lon, cos_lon) = p.lon().to_radians().sin_cos();
    [EARTH_RADIUS_M * cos_lat * cos_lon, EARTH_RADIUS_M * cos_lat * sin_lon, EARTH_RADIUS_M * sin_lat]
}

fn row_of(lat: f64) -> u32 {
    (((lat + 90.0) / ROW_DEG).floor() as i64).clamp(0, i64::from(ROWS) - 1) as u32
}

fn col_of(lon: f64) -> u32 {
    (((lon + 180.0) / COL_DEG).floor() as i64).rem_euclid(i64::from(COLS)) as u32
}

fn class_of(radius_m: f64) -> usize {
    CLASS_BOUNDS_M.iter().position(|b| radius_m <= *b).unwrap_or(CLASSES - 1)
}

/// Steps of a stored centre's offset from its tile's centre: a quarter of a metre, so that an
/// `i16` reaches 8 km, past the farthest corner of a tile (4 km).
const STEPS_PER_M: f64 = 4.0;

/// How far from exact the test can be for a circle of this radius, in metres, with room to
/// spare: the rounding of the centre and of the point to quarter metres on the tile's plane
/// (each at most 0.18 m away), and the height the plane leaves out (under a millionth of the
/// distance: both are within 8 km of the tile's centre, where the sphere falls below its
/// tangent plane by at most 5 m).
fn uncertainty_m(radius_m: f64) -> f64 {
    0.40 + radius_m * 2e-6
}

/// The chord of a radius on the sphere, in metres.
fn chord_m(radius_m: f64) -> f64 {
    2.0 * EARTH_RADIUS_M * (radius_m / EARTH_RADIUS_M / 2.0).sin()
}

/// The distance on the tile's plane, in whole steps, within which (strictly) a point is
/// surely inside; 0 when no point surely is.
fn sure_radius(radius_m: f64) -> i16 {
    let inner = (chord_m(radius_m) - uncertainty_m(radius_m)) * STEPS_PER_M;
    inner.floor().clamp(0.0, f64::from(i16::MAX)) as i16
}

/// What a query needs of each class, worked out once.
#[derive(Debug, Clone, Copy)]
struct ClassConstants {
    /// The class's largest radius as an angle, with the search margin.
    angle: f64,
    sin_angle: f64,
    cos_angle: f64,
    /// The cosine of the angle within which every circle of the class surely holds the point
    /// (the next smaller class's bound, less a margin), where there is one.
    cos_inner: Option<f64>,
    band: i32,
}

/// Metres taken off a class's smallest radius for the cells that surely hold the point.
const INNER_MARGIN_M: f64 = 0.5;

static CLASS_CONSTANTS: std::sync::LazyLock<[ClassConstants; CLASSES]> = std::sync::LazyLock::new(|| {
    std::array::from_fn(|k| {
        let angle = CLASS_BOUNDS_M[k] / EARTH_RADIUS_M + SEARCH_EPSILON;
        let (sin_angle, cos_angle) = angle.sin_cos();
        let inner = k
            .checked_sub(1)
            .map(|smaller| (CLASS_BOUNDS_M[smaller] - INNER_MARGIN_M) / EARTH_RADIUS_M - SEARCH_EPSILON)
            .filter(|inner| *inner > 0.0 && *inner < std::f64::consts::FRAC_PI_4);
        ClassConstants { angle, sin_angle, cos_angle, cos_inner: inner.map(f64::cos), band: band(k) }
    })
});

/// How far above the square of [`sure_radius`] a point's squared distance may be, in steps²,
/// and the point still inside, for any circle of the class.
fn band(class: usize) -> i32 {
    let bound = CLASS_BOUNDS_M[class];
    let (c, d) = (chord_m(bound) * STEPS_PER_M, uncertainty_m(bound) * STEPS_PER_M);
    // The sure radius is at least c - d - 1 steps, so (c + d)² less its square is at most
    // (2d + 1)(2c - 1), largest for the widest circle; a tiny circle's sure radius is 0.
    (((2.0 * d + 1.0) * 2.0 * c).max(4.0 * d * d + 1.0) * 1.01 + 1.0).ceil() as i32
}

/// `acos(c)`, or a hair below it: the lower bound of the same series.
fn acos_at_most(c: f64) -> f64 {
    if c >= 1.0 {
        return 0.0;
    }
    let s = ((1.0 - c) / 2.0).sqrt();
    if s <= 0.05 { 2.0 * s * (1.0 + s * s / 6.0) } else { (c.max(-1.0).acos() - 1e-12).max(0.0) }
}

/// `acos(c)`, or a hair above it: a series where the angle is small (no library call), which
/// is the common case of a city-sized cap.
fn acos_at_least(c: f64) -> f64 {
    if c >= 1.0 {
        return 0.0;
    }
    // acos(c) = 2 asin(s) with s = sqrt((1 - c) / 2), and for s <= 0.05,
    // asin(s) = s + s³/6 + 3s⁵/40 + ... <= s + s³/6 + s⁵/10.
    let s = ((1.0 - c) / 2.0).sqrt();
    if s <= 0.05 {
        let s2 = s * s;
        2.0 * s * (1.0 + s2 * (1.0 / 6.0 + s2 / 10.0))
    } else {
        c.max(-1.0).acos()
    }
}

/// Eight circles side by side, one vector register per tested field: what a query reads to
/// test a circle, 8 bytes a circle. 64 bytes aligned to 64: each block is one cache line.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Block {
    /// Each centre on the tile's plane, east then north of the tile's centre, in quarter
    /// metres ([`STEPS_PER_M`]): lane `i` at `2i` and `2i + 1`, as one multiply-add of 16-bit
    /// pairs wants them.
    en: [i16; 2 * LANES],
    /// Distance on the plane within which a point is surely inside, in steps ([`sure_radius`]);
    /// [`REMOVED`] for a removed circle or an empty lane.
    r: [i16; LANES],
    /// The category bits the circle wants; none for a removed circle or an empty lane, so that
    /// no query wants it.
    tag: [u16; LANES],
}

/// What marks a removed circle or an empty lane (with an empty tag, which no query wants).
const REMOVED: i16 = -1;

impl Block {
    const EMPTY: Block = Block { en: [0; 2 * LANES], r: [REMOVED; LANES], tag: [0; LANES] };
}

/// Circles in the layout queries scan: blocks of eight, and beside them the key of each (read
/// for a hit, or copied wholesale for a run that surely holds the point), its column (to find
/// a row's run of columns) and its slot (read only for an edge too close to call).
#[derive(Debug, Default)]
struct Columns {
    blocks: Vec<Block>,
    id: Vec<SubscriptionKey>,
    col: Vec<u8>,
    slot: Vec<u32>,
}

/// One circle's entry, with its place in the tile.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// East and north of the tile's centre, in steps.
    en: [i16; 2],
    r: i16,
    class: u8,
    row: u8,
    col: u8,
    tag: u16,
    slot: u32,
    id: SubscriptionKey,
}

impl Columns {
    fn len(&self) -> usize {
        self.col.len()
    }

    fn is_empty(&self) -> bool {
        self.col.is_empty()
    }

    fn set(&mut self, i: usize, e: &Entry) {
        let b = &mut self.blocks[i / LANES];
        let lane = i % LANES;
        (b.en[2 * lane], b.en[2 * lane + 1]) = (e.en[0], e.en[1]);
        b.r[lane] = e.r;
        b.tag[lane] = e.tag;
        self.id[i] = e.id;
        self.col[i] = e.col;
        self.slot[i] = e.slot;
    }

    fn push(&mut self, e: &Entry) {
        let i = self.len();
        if i.is_multiple_of(LANES) {
            self.blocks.push(Block::EMPTY);
        }
        self.id.push(SubscriptionKey::default());
        self.col.push(0);
        self.slot.push(0);
        self.set(i, e);
    }

    /// Make circle `i` unmatchable where it stands.
    fn disable(&mut self, i: usize) {
        let b = &mut self.blocks[i / LANES];
        b.r[i % LANES] = REMOVED;
        b.tag[i % LANES] = 0;
    }

    fn is_disabled(&self, i: usize) -> bool {
        self.blocks[i / LANES].r[i % LANES] == REMOVED
    }

    fn swap_remove(&mut self, i: usize) {
        let last = self.len() - 1;
        if i != last {
            let moved = self.entry(last, 0, 0);
            self.set(i, &moved);
        }
        self.disable(last);
        self.id.pop();
        self.col.pop();
        self.slot.pop();
        if last.is_multiple_of(LANES) {
            self.blocks.pop();
        }
    }

    fn with_capacity(n: usize) -> Self {
        Self {
            blocks: Vec::with_capacity(n.div_ceil(LANES)),
            id: Vec::with_capacity(n),
            col: Vec::with_capacity(n),
            slot: Vec::with_capacity(n),
        }
    }

    fn entry(&self, i: usize, class: u8, row: u8) -> Entry {
        let b = &self.blocks[i / LANES];
        let lane = i % LANES;
        Entry {
            en: [b.en[2 * lane], b.en[2 * lane + 1]],
            r: b.r[lane],
            class,
            row,
            col: self.col[i],
            tag: b.tag[lane],
            slot: self.slot[i],
            id: self.id[i],
        }
    }

    fn bytes(&self) -> usize {
        self.blocks.capacity() * std::mem::size_of::<Block>()
            + self.id.capacity() * std::mem::size_of::<SubscriptionKey>()
            + self.col.capacity()
            + self.slot.capacity() * 4
    }
}

#[derive(Debug)]
struct Tile {
    /// The tile's centre from the Earth's centre, and the plane that touches the sphere there:
    /// its east and north unit vectors. Circles and points are placed on that plane.
    origin: [f64; 3],
    east: [f64; 3],
    north: [f64; 3],
    /// Sorted by row, class, column.
    sorted: Columns,
    /// The classes with circles in `sorted`, ascending.
    classes: Vec<u8>,
    /// Where each (row, class) run starts in `sorted`: `starts[row * classes.len() + i]` for
    /// the `i`th class, with the end after the last.
    starts: Vec<u32>,
    /// The bits every circle of each (row, class) run has in its tag: a query whose mask meets
    /// them wants the whole run.
    run_tags: Vec<u16>,
    /// In a dense tile, where each cell of each run starts, counted from the run's start:
    /// `cell_starts[run * (TILE_COL_CELLS + 1) + col]`, so a query finds a run's columns by two
    /// reads (of one cache line, mostly) rather than two binary searches. Empty in a sparse
    /// tile, where it would cost more memory than it saves time, and in a tile with a run too
    /// long for 16 bits.
    cell_starts: Vec<u16>,
    pending: Columns,
    /// The class and row of each pending circle (the column is in `pending`).
    pending_place: Vec<(u8, u8)>,
    removed: usize,
}

/// A circle as given: to decide the cases too close to call, and to find its entry.
#[derive(Debug, Clone, Copy)]
struct Circle {
    centre: Point,
    radius_m: f64,
}

enum Place {
    Pending(usize),
    Sorted(usize),
}

/// What a query tests each circle against.
#[derive(Clone, Copy)]
struct Probe {
    /// The point on the tile's plane, east and north, in steps (clamped: [`Tile::place`]).
    q: [i16; 2],
    mask: u16,
}

/// One stretch of a query's work: circles of one tile to test against the point, or (`copy`)
/// to take without a test.
struct Job<'a> {
    columns: &'a Columns,
    from: u32,
    to: u32,
    q: [i16; 2],
    band: i32,
    copy: bool,
}

impl<'a> Job<'a> {
    /// What the job reads: the blocks of the circles it tests (none for a copy), and the keys
    /// of all its circles.
    fn reads(&self) -> (&'a [Block], &'a [SubscriptionKey]) {
        let (from, to) = (self.from as usize, self.to as usize);
        let blocks = if self.copy { &[][..] } else { &self.columns.blocks[from / LANES..to.div_ceil(LANES)] };
        (blocks, &self.columns.id[from..to])
    }

    /// Read one word of every cache line the job will read, so that the memory system fetches
    /// all of a query's lines at once rather than one stretch after another.
    fn touch(&self) -> u32 {
        let (blocks, keys) = self.reads();
        let mut acc = 0u32;
        for b in blocks {
            // A block is one cache line.
            acc = acc.wrapping_add(b.en[0] as u32);
        }
        // One key of each 64-byte line, and the last.
        for key in keys.iter().step_by(64 / std::mem::size_of::<SubscriptionKey>()) {
            acc ^= key.0;
        }
        acc ^ keys[keys.len() - 1].0
    }

    /// Hand `fetch` an address in each cache line the job reads: each block's line, then each
    /// line of its keys.
    fn each_line(&self, mut fetch: impl FnMut(*const i8)) {
        let (blocks, keys) = self.reads();
        for b in blocks {
            // A block is one cache line.
            fetch(std::ptr::from_ref(b).cast());
        }
        let first: *const i8 = keys.as_ptr().cast();
        let end = first.wrapping_add(std::mem::size_of_val(keys));
        fetch(first);
        let mut line = first.wrapping_add(64 - first.addr() % 64);
        while line < end {
            fetch(line);
            line = line.wrapping_add(64);
        }
    }
}

/// One run of a tile that a query visits: the columns of it to visit, and of them those whose
/// circles surely hold the point, if any.
struct Visit<'a> {
    tile: &'a Tile,
    q: [i16; 2],
    run: u32,
    columns: (u8, u8),
    sure: Option<(u8, u8)>,
    band: i32,
}

/// The cells a query visits for one class: for each grid row from `first_row`, the columns;
/// an empty span where the cap misses the row.
#[derive(Debug, Clone, Copy)]
struct ClassPlan {
    first_row: u32,
    rows: u32,
    /// Where this class's spans start in [`Plan::spans`].
    offset: usize,
}

/// Columns counted from the point's own column (the antimeridian wraps them: a span is a
/// stretch of longitude narrower than the globe, or [`ALL_COLUMNS`]).
type Span = (i32, i32);

/// A span that holds every column whatever it is counted from: a cap over a pole. Any other cap
/// is at most half the globe wide (where it touches the pole); spans wider than the globe less
/// two tiles are made this too, for a tile would meet one on both sides of its gap, which a
/// span cannot say.
const ALL_COLUMNS: Span = (-(COLS as i32), COLS as i32);

/// A span with no column.
const NO_COLUMNS: Span = (1, 0);

/// The cells a query visits, class by class.
struct Plan {
    /// The point's grid column, from which spans count.
    origin_col: u32,
    classes: [Option<ClassPlan>; CLASSES],
    spans: Vec<Span>,
    /// For each span, the columns whose cells lie wholly within the class's smallest radius of
    /// the point: every circle there holds it. [`NO_COLUMNS`] where there are none.
    inner: Vec<Span>,
    widest: ClassPlan,
}

impl Plan {
    /// The first column of the tile in tile column `tile_col`, counted from the point's column
    /// (the nearer way round the globe).
    fn tile_first_col(&self, tile_col: u32) -> i32 {
        let d = i64::from(tile_col * TILE_COL_CELLS) - i64::from(self.origin_col);
        (d + i64::from(COLS / 2)).rem_euclid(i64::from(COLS)) as i32 - (COLS / 2) as i32
    }
}

/// A tile's centre from the Earth's centre, and the east and north unit vectors there.
fn tile_frame(key: u32) -> [[f64; 3]; 3] {
    let (tr, tc) = (key / TILE_COLS, key % TILE_COLS);
    let lat = f64::from(tr * TILE_ROW_CELLS + TILE_ROW_CELLS / 2) * ROW_DEG - 90.0;
    let lon = f64::from(tc * TILE_COL_CELLS + TILE_COL_CELLS / 2) * COL_DEG - 180.0;
    let origin = to_metres(Point::new(lat, lon).expect("a tile centre is on the Earth"));
    let (sin_lat, cos_lat) = lat.to_radians().sin_cos();
    let (sin_lon, cos_lon) = lon.to_radians().sin_cos();
    [origin, [-sin_lon, cos_lon, 0.0], [-sin_lat * cos_lon, -sin_lat * sin_lon, cos_lat]]
}

impl Tile {
    fn new(key: u32) -> Self {
        let [origin, east, north] = tile_frame(key);
        Tile {
            origin,
            east,
            north,
            sorted: Columns::default(),
            classes: Vec::new(),
            starts: vec![0],
            run_tags: Vec::new(),
            cell_starts: Vec::new(),
            pending: Columns::default(),
            pending_place: Vec::new(),
            removed: 0,
        }
    }

    /// A point (from the Earth's centre, in metres) on the tile's plane, east and north of its
    /// centre in steps. Beyond the 8.19 km that `i16` reaches it is clamped there: such a point
    /// is more than 4.5 km from every circle of the tile (each centre is within 3.6 km of the
    /// tile's), farther than any radius the grid holds.
    fn place(&self, p: [f64; 3]) -> [i16; 2] {
        let d = [p[0] - self.origin[0], p[1] - self.origin[1], p[2] - self.origin[2]];
        let step = |axis: [f64; 3]| {
            let m = d[0] * axis[0] + d[1] * axis[1] + d[2] * axis[2];
            (m * STEPS_PER_M).round().clamp(-f64::from(i16::MAX), f64::from(i16::MAX)) as i16
        };
        [step(self.east), step(self.north)]
    }

    /// How many new circles wait before a merge: a merge rewrites the tile, so in a dense
    /// tile more wait, keeping the work per new circle (and the pending share of a query's
    /// candidates) the same.
    fn pending_max(&self) -> usize {
        PENDING_MIN.max(self.sorted.len() / 64)
    }

    /// The entries of run `run` (from `s` to `e`) in columns `a` to `b`.
    fn columns(&self, run: usize, (s, e): (usize, usize), a: u8, b: u8) -> (usize, usize) {
        if self.cell_starts.is_empty() {
            let cols = &self.sorted.col[s..e];
            (s + cols.partition_point(|c| *c < a), s + cols.partition_point(|c| *c <= b))
        } else {
            let cells = &self.cell_starts[run * CELL_STARTS..];
            (s + usize::from(cells[a as usize]), s + usize::from(cells[b as usize + 1]))
        }
    }

    fn live(&self) -> usize {
        self.sorted.len() - self.removed + self.pending.len()
    }

    /// Fold the pending circles into the sorted columns and drop removed ones: the sorted
    /// circles are already in order, so only the pending ones are sorted, and the two merged.
    fn merge(&mut self) {
        let key = |e: &Entry| (e.row, e.class, e.col);
        let mut fresh: Vec<Entry> = self
            .pending_place
            .iter()
            .enumerate()
            .map(|(i, (class, row))| self.pending.entry(i, *class, *row))
            .collect();
        fresh.sort_unstable_by_key(key);
        let n = self.classes.len();
        let (starts, classes, sorted) = (&self.starts, &self.classes, &self.sorted);
        let mut old = (0..TILE_ROW_CELLS as usize)
            .flat_map(|row| (0..n).map(move |c| (row, c)))
            .flat_map(|(row, c)| {
                (starts[row * n + c] as usize..starts[row * n + c + 1] as usize).map(move |i| (i, row, c))
            })
            .filter(|(i, _, _)| !sorted.is_disabled(*i))
            .map(|(i, row, c)| sorted.entry(i, classes[c], row as u8))
            .peekable();
        let mut fresh = fresh.into_iter().peekable();
        let mut merged = Columns::with_capacity(self.live());
        let mut counts = [[0u32; CLASSES]; TILE_ROW_CELLS as usize];
        let mut tags = [[u16::MAX; CLASSES]; TILE_ROW_CELLS as usize];
        loop {
            let take_fresh = match (old.peek(), fresh.peek()) {
                (Some(o), Some(f)) => key(f) < key(o),
                (None, Some(_)) => true,
                (Some(_), None) => false,
                (None, None) => break,
            };
            let e = if take_fresh { fresh.next() } else { old.next() }.expect("peeked");
            counts[e.row as usize][e.class as usize] += 1;
            tags[e.row as usize][e.class as usize] &= e.tag;
            merged.push(&e);
        }
        drop(old);
        let classes: Vec<u8> =
            (0..CLASSES as u8).filter(|k| counts.iter().any(|row| row[*k as usize] > 0)).collect();
        let mut starts = Vec::with_capacity(TILE_ROW_CELLS as usize * classes.len() + 1);
        let mut run_tags = Vec::with_capacity(TILE_ROW_CELLS as usize * classes.len());
        let mut at = 0u32;
        for row in 0..TILE_ROW_CELLS as usize {
            for k in &classes {
                starts.push(at);
                at += counts[row][*k as usize];
                run_tags.push(tags[row][*k as usize]);
            }
        }
        starts.push(at);
        let mut cell_starts = Vec::new();
        if merged.len() >= DENSE_TILE && starts.windows(2).all(|run| run[1] - run[0] <= u32::from(u16::MAX)) {
            cell_starts.reserve_exact((starts.len() - 1) * (TILE_COL_CELLS as usize + 1));
            for run in starts.windows(2) {
                let (mut i, e) = (run[0] as usize, run[1] as usize);
                for col in 0..=TILE_COL_CELLS as u8 {
                    while i < e && merged.col[i] < col {
                        i += 1;
                    }
                    cell_starts.push((i - run[0] as usize) as u16);
                }
            }
        }
        self.cell_starts = cell_starts;
        self.sorted = merged;
        self.classes = classes;
        self.starts = starts;
        self.run_tags = run_tags;
        self.pending = Columns::default();
        self.pending_place = Vec::new();
        self.removed = 0;
    }

    /// Where a live circle is: in the pending list, or in the sorted columns (found from its
    /// cell and class: a few entries to look through).
    fn find(&self, slot: u32, row: u8, col: u8, class: u8) -> Option<Place> {
        if let Some(i) = self.pending.slot.iter().position(|s| *s == slot) {
            return Some(Place::Pending(i));
        }
        let c = self.classes.iter().position(|k| *k == class)?;
        let run = row as usize * self.classes.len() + c;
        let (s, e) = (self.starts[run] as usize, self.starts[run + 1] as usize);
        let cols = &self.sorted.col[s..e];
        let (from, to) = (s + cols.partition_point(|c| *c < col), s + cols.partition_point(|c| *c <= col));
        (from..to).find(|i| self.sorted.slot[*i] == slot && !self.sorted.is_disabled(*i)).map(Place::Sorted)
    }

    fn bytes(&self) -> usize {
        std::mem::size_of::<Tile>()
            + self.sorted.bytes()
            + self.pending.bytes()
            + self.classes.capacity()
            + self.starts.capacity() * 4
            + self.run_tags.capacity() * 2
            + self.cell_starts.capacity() * 2
            + self.pending_place.capacity() * 2
    }
}

/// Circles by grid cell and radius class.
#[derive(Debug, Default)]
pub struct CircleGrid {
    tiles: HashMap<u32, Tile, RandomState>,
    circles: Vec<Circle>,
    slot_of: HashMap<SubscriptionKey, u32, RandomState>,
    free: Vec<u32>,
    per_class: [usize; CLASSES],
}

impl CircleGrid {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.slot_of.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slot_of.is_empty()
    }

    pub fn contains(&self, id: SubscriptionKey) -> bool {
        self.slot_of.contains_key(&id)
    }

    /// Enter a circle under `id` (the subscription's key) with a tag (a bit set queries filter
    /// by), replacing any circle already under that id.
    pub fn insert(&mut self, id: SubscriptionKey, centre: Point, radius_m: f64, tag: u16) {
        let key = self.enter(id, centre, radius_m, tag);
        let tile = self.tiles.get_mut(&key).expect("just entered");
        if tile.pending.len() > tile.pending_max() {
            tile.merge();
        }
    }

    /// Enter many circles, merging each tile once at the end: for loading at start-up.
    pub fn extend(&mut self, circles: impl IntoIterator<Item = (SubscriptionKey, Point, f64, u16)>) {
        for (id, centre, radius_m, tag) in circles {
            self.enter(id, centre, radius_m, tag);
        }
        self.settle();
    }

    /// Merge every tile with pending or removed circles.
    fn settle(&mut self) {
        for tile in self.tiles.values_mut() {
            if !tile.pending.is_empty() || tile.removed > 0 {
                tile.merge();
            }
        }
    }

    fn tile_key(centre: Point) -> u32 {
        (row_of(centre.lat()) / TILE_ROW_CELLS) * TILE_COLS + col_of(centre.lon()) / TILE_COL_CELLS
    }

    /// Put a circle in its tile's pending list; returns the tile's key.
    fn enter(&mut self, id: SubscriptionKey, centre: Point, radius_m: f64, tag: u16) -> u32 {
        assert!(radius_m <= MAX_RADIUS_M, "the grid holds radii up to {MAX_RADIUS_M} m, not {radius_m}");
        self.remove(id);
        let key = Self::tile_key(centre);
        let tile = self.tiles.entry(key).or_insert_with(|| Tile::new(key));
        let class = class_of(radius_m);
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => u32::try_from(self.circles.len()).expect("fewer than 2 billion circles"),
        };
        let entry = Entry {
            en: tile.place(to_metres(centre)),
            r: sure_radius(radius_m),
            class: class as u8,
            row: (row_of(centre.lat()) % TILE_ROW_CELLS) as u8,
            col: (col_of(centre.lon()) % TILE_COL_CELLS) as u8,
            tag,
            slot,
            id,
        };
        tile.pending.push(&entry);
        tile.pending_place.push((entry.class, entry.row));
        let circle = Circle { centre, radius_m };
        match self.circles.get_mut(slot as usize) {
            Some(c) => *c = circle,
            None => self.circles.push(circle),
        }
        self.slot_of.insert(id, slot);
        self.per_class[class] += 1;
        key
    }

    /// Take a circle out; queries stop finding it at once. Returns whether it was there.
    pub fn remove(&mut self, id: SubscriptionKey) -> bool {
        let Some(slot) = self.slot_of.remove(&id) else {
            return false;
        };
        let Circle { centre, radius_m } = self.circles[slot as usize];
        let class = class_of(radius_m);
        self.per_class[class] -= 1;
        self.free.push(slot);
        let key = Self::tile_key(centre);
        let tile = self.tiles.get_mut(&key).expect("a circle's tile exists");
        let (row, col) =
            ((row_of(centre.lat()) % TILE_ROW_CELLS) as u8, (col_of(centre.lon()) % TILE_COL_CELLS) as u8);
        match tile.find(slot, row, col, class as u8).expect("a live circle is in its tile") {
            Place::Pending(i) => {
                tile.pending.swap_remove(i);
                tile.pending_place.swap_remove(i);
            }
            Place::Sorted(i) => {
                // Unmatchable at once; dropped at the tile's next merge.
                tile.sorted.disable(i);
                tile.removed += 1;
            }
        }
        if tile.live() == 0 {
            self.tiles.remove(&key);
        } else if tile.removed >= 64.max(tile.sorted.len() / 8) {
            tile.merge();
        }
        true
    }

    /// Give back spare capacity: after loading many circles at once.
    pub fn shrink_to_fit(&mut self) {
        self.settle();
        self.tiles.shrink_to_fit();
        self.circles.shrink_to_fit();
        self.slot_of.shrink_to_fit();
        self.free.shrink_to_fit();
    }

    /// Bytes held by the grid, counted from its allocations' capacities.
    pub fn bytes(&self) -> usize {
        self.tiles.values().map(Tile::bytes).sum::<usize>()
            + self.tiles.capacity() * (4 + 1)
            + self.circles.capacity() * std::mem::size_of::<Circle>()
            + self.slot_of.capacity() * (std::mem::size_of::<SubscriptionKey>() + 4 + 1)
            + self.free.capacity() * 4
    }

    /// For each class with circles, the grid rows and columns a circle's centre must lie in
    /// to be within the class's largest radius of `at`.
    fn plan(&self, at: Point) -> Option<Plan> {
        let widest = (0..CLASSES).rev().find(|k| self.per_class[*k] > 0)?;
        let (sin_lat, cos_lat) = at.lat().to_radians().sin_cos();
        let constants = &*CLASS_CONSTANTS;
        let lon_col = (at.lon() + 180.0) / COL_DEG;
        let origin_col = col_of(at.lon());
        // Where the point is within its column (from 0 to 1, a hair past at the antimeridian).
        let within = lon_col - lon_col.floor();
        // Shifted to be positive, so truncating is flooring and ceiling (no library call).
        let floor = |x: f64| (x + f64::from(COLS)) as i32 - COLS as i32;
        let ceil = |x: f64| -floor(-x);
        let columns = |half: f64| {
            let half = (half + SEARCH_EPSILON) * COLS_PER_RADIAN;
            if half >= f64::from(COLS / 2 - TILE_COL_CELLS) {
                return ALL_COLUMNS;
            }
            (floor(within - half), floor(within + half))
        };
        // The sine of each row edge's latitude, and one over the product of its cosine and the
        // point's, stepped from the widest class's first row by the angle-addition formulas
        // (far more exact than the search margin needs): with them, the cosine of a cap's
        // half-width at the edge is one multiply away.
        let widest_angle = constants[widest].angle;
        let base_row = row_of((at.lat() - widest_angle.to_degrees()).max(-90.0));
        let last_row = row_of((at.lat() + widest_angle.to_degrees()).min(90.0));
        let (sin_step, cos_step) = ROW_DEG.to_radians().sin_cos();
        let mut edges = Vec::with_capacity((last_row - base_row + 2) as usize);
        let mut edge = (f64::from(base_row) * ROW_DEG - 90.0).to_radians().sin_cos();
        for _ in base_row..=last_row + 1 {
            edges.push((edge.0, 1.0 / (cos_lat * edge.1)));
            edge = (edge.0 * cos_step + edge.1 * sin_step, edge.1 * cos_step - edge.0 * sin_step);
        }
        // Room for every class's rows: no vector grows during the plan.
        let room =
            (last_row - base_row + 1) as usize * (0..=widest).filter(|k| self.per_class[*k] > 0).count();
        let mut plan = Plan {
            origin_col,
            classes: [None; CLASSES],
            spans: Vec::with_capacity(room),
            inner: Vec::with_capacity(room),
            widest: ClassPlan { first_row: 0, rows: 0, offset: 0 },
        };
        for k in (0..=widest).filter(|k| self.per_class[*k] > 0) {
            let ClassConstants { angle, sin_angle: sin_a, cos_angle: cos_a, cos_inner, .. } = constants[k];
            let class = {
                let (top, bottom) = (at.lat() + angle.to_degrees(), at.lat() - angle.to_degrees());
                let (first_row, last) = (row_of(bottom.max(-90.0)), row_of(top.min(90.0)));
                let over_pole = top >= 90.0 || bottom <= -90.0;
                // The cap is widest at the latitude whose sine is this, and its half-width
                // there is asin(sin a / cos lat).
                let sin_widest = (sin_lat / cos_a).clamp(-1.0, 1.0);
                let widest_half = if over_pole { 0.0 } else { (sin_a / cos_lat).min(1.0).asin() };
                let offset = plan.spans.len();
                // The cosines of the half-widths of the cap and of the inner cap at an edge.
                let at_edge = |r: u32| {
                    let (sin_e, w) = edges[(r - base_row) as usize];
                    let c = |cos: f64| (cos - sin_lat * sin_e) * w;
                    (sin_e, c(cos_a), cos_inner.map(c))
                };
                let mut south = at_edge(first_row);
                for r in first_row..=last {
                    let north = at_edge(r + 1);
                    let span = if over_pole {
                        ALL_COLUMNS
                    } else if (south.0..=north.0).contains(&sin_widest) {
                        columns(widest_half)
                    } else {
                        // Otherwise the cap is widest in this row at the edge nearer its widest.
                        let c = if sin_widest > north.0 { north.1 } else { south.1 };
                        if c > 1.0 { NO_COLUMNS } else { columns(acos_at_least(c)) }
                    };
                    plan.spans.push(span);
                    // The cells wholly inside the inner cap: its half-width over the row is
                    // least at one of the row's edges, and both must be inside it.
                    let inner = match (south.2, north.2) {
                        (Some(cs), Some(cn)) if !over_pole && span.0 <= span.1 && cs <= 1.0 && cn <= 1.0 => {
                            let half = (acos_at_most(cs.max(cn)) - SEARCH_EPSILON) * COLS_PER_RADIAN;
                            // Whole cells only: from the first whose west edge is inside to the
                            // last whose east edge is.
                            (half < f64::from(COLS / 2))
                                .then(|| (ceil(within - half), floor(within + half) - 1))
                        }
                        _ => None,
                    };
                    plan.inner.push(inner.unwrap_or(NO_COLUMNS));
                    south = north;
                }
                ClassPlan { first_row, rows: last - first_row + 1, offset }
            };
            plan.classes[k] = Some(class);
            plan.widest = class;
        }
        Some(plan)
    }

    /// Every circle that holds `at` and whose tag shares a bit with `mask`, by key, appended to
    /// `out` in no particular order.
    pub fn containing_into(&self, at: Point, mask: u16, out: &mut Vec<SubscriptionKey>) {
        self.containing_with(at, mask, out, Vectors::Detect);
    }

    // Elsewhere than x86-64 there is only the portable code, whatever `vectors` asks.
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
    fn containing_with(&self, at: Point, mask: u16, out: &mut Vec<SubscriptionKey>, vectors: Vectors) {
        #[cfg(target_arch = "x86_64")]
        if let Some(sse) = pulp::core_arch::x86::Sse::try_new() {
            use std::arch::x86_64::_MM_HINT_T0;
            let fetch = |line: *const i8| sse._mm_prefetch::<_MM_HINT_T0>(line);
            let jobs = self.jobs(at, mask, fetch);
            let start = make_room(&jobs, out);
            let n = match pulp::x86::V3::try_new().filter(|_| vectors == Vectors::Detect) {
                Some(v3) => v3.vectorize(|| {
                    self.work(&jobs, at, mask, out, start, fetch, |c, run, probe, band, out, n, close| {
                        self.scan_v3(v3, c, run, probe, band, out, n, close)
                    })
                }),
                None => {
                    self.work(&jobs, at, mask, out, start, fetch, |c, run, probe, band, out, n, close| {
                        self.scan(c, run, probe, band, out, n, close)
                    })
                }
            };
            out.truncate(n);
            return;
        }
        let jobs = self.jobs(at, mask, |_| {});
        let start = make_room(&jobs, out);
        // No way to ask for a line ahead: read one word of each, all before the work, so that
        // the fetches at least overlap one another.
        std::hint::black_box(jobs.iter().fold(0u32, |acc, job| acc ^ job.touch()));
        let n = self.work(
            &jobs,
            at,
            mask,
            out,
            start,
            |_| {},
            |c, run, probe, band, out, n, close| self.scan(c, run, probe, band, out, n, close),
        );
        out.truncate(n);
    }

    /// A query's work: the stretches of circles it tests or copies, tile by tile. Listed in two
    /// passes: the first finds the runs to visit and asks (`fetch`) for the lines of the
    /// tables that say where their cells start, the second reads those tables.
    fn jobs(&self, at: Point, mask: u16, mut fetch: impl FnMut(*const i8)) -> Vec<Job<'_>> {
        let Some(plan) = self.plan(at) else {
            return Vec::new();
        };
        let p = to_metres(at);
        let constants = &*CLASS_CONSTANTS;
        let pending_band =
            (0..CLASSES).rev().find(|k| plan.classes[*k].is_some()).map_or(0, |k| constants[k].band);
        let mut jobs: Vec<Job<'_>> = Vec::with_capacity(512);
        let mut visits: Vec<Visit<'_>> = Vec::with_capacity(256);
        for (tile, tile_row, tile_col) in self.tiles_near(&plan) {
            let q = tile.place(p);
            // Pending circles are few: each is tested whatever its cell, with the band of the
            // widest class, which is wide enough for any.
            if !tile.pending.is_empty() {
                let to = tile.pending.len() as u32;
                jobs.push(Job { columns: &tile.pending, from: 0, to, q, band: pending_band, copy: false });
            }
            let first_col = plan.tile_first_col(tile_col);
            let n = tile.classes.len();
            let first_row = tile_row * TILE_ROW_CELLS;
            for (c, k) in tile.classes.iter().enumerate() {
                let Some(class) = plan.classes[*k as usize] else { continue };
                let band = constants[*k as usize].band;
                // Only the rows of this tile that the class's cap reaches.
                let from_row = class.first_row.max(first_row);
                let to_row = (class.first_row + class.rows).min(first_row + TILE_ROW_CELLS);
                if from_row >= to_row {
                    continue;
                }
                let first = class.offset + (from_row - class.first_row) as usize;
                let rows = (to_row - from_row) as usize;
                let (spans, inner) = (&plan.spans[first..first + rows], &plan.inner[first..first + rows]);
                let first_run = (from_row - first_row) as usize * n + c;
                for (i, (span, inner)) in spans.iter().zip(inner).enumerate() {
                    let Some(columns) = local_columns(*span, first_col) else { continue };
                    let run = first_run + i * n;
                    // Cells wholly within the class's smallest radius: every circle there holds
                    // the point, so when the run has none removed and all want the category,
                    // their keys are copied without a test.
                    let sure = local_columns(*inner, first_col).filter(|_| tile.removed == 0);
                    fetch(std::ptr::from_ref(&tile.starts[run]).cast());
                    if sure.is_some() {
                        fetch(std::ptr::from_ref(&tile.run_tags[run]).cast());
                    }
                    if let Some(cells) = tile.cell_starts.get(run * CELL_STARTS..(run + 1) * CELL_STARTS) {
                        fetch(std::ptr::from_ref(&cells[0]).cast());
                        fetch(std::ptr::from_ref(&cells[CELL_STARTS - 1]).cast());
                    }
                    visits.push(Visit { tile, q, run: run as u32, columns, sure, band });
                }
            }
        }
        for Visit { tile, q, run, columns: (a, b), sure, band } in visits {
            let mut job = |from: usize, to: usize, copy| {
                if from < to {
                    jobs.push(Job { columns: &tile.sorted, from: from as u32, to: to as u32, q, band, copy });
                }
            };
            let run = run as usize;
            let (s, e) = (tile.starts[run] as usize, tile.starts[run + 1] as usize);
            if s == e {
                continue;
            }
            let (from, to) = tile.columns(run, (s, e), a, b);
            match sure.filter(|_| tile.run_tags[run] & mask != 0) {
                Some((ia, ib)) => {
                    let (i1, i2) = tile.columns(run, (s, e), ia, ib);
                    if i2 - i1 >= SURE_MIN {
                        job(from, i1, false);
                        job(i1, i2, true);
                        job(i2, to, false);
                    } else {
                        job(from, to, false);
                    }
                }
                None => job(from, to, false),
            }
        }
        jobs
    }

    /// The cache lines (their addresses over 64) that a query at `at` for `mask` reads of the
    /// circles' blocks and keys, in the order it first asks for them: what its time waiting
    /// for memory is made of (`matcher-bench` reads the same lines and pages of a buffer of
    /// its own, to show what they alone cost on the machine).
    pub fn lines_read(&self, at: Point, mask: u16) -> Vec<usize> {
        let mut seen = std::collections::HashSet::new();
        let mut lines = Vec::new();
        for job in self.jobs(at, mask, |_| {}) {
            let (blocks, keys) = job.reads();
            let spans = [
                (blocks.as_ptr().addr(), std::mem::size_of_val(blocks)),
                (keys.as_ptr().addr(), std::mem::size_of_val(keys)),
            ];
            for (start, len) in spans.into_iter().filter(|(_, len)| *len > 0) {
                for line in start / 64..=(start + len - 1) / 64 {
                    if seen.insert(line) {
                        lines.push(line);
                    }
                }
            }
        }
        lines
    }

    /// Test (with `scan`) or copy each job's circles, writing keys from `out[n]`; returns the
    /// new `n`. Before each job, the lines of the jobs after it are asked for (`fetch`, which
    /// does not wait for them) until those of [`CIRCLES_AHEAD`] circles are on their way: the
    /// memory system fetches them while the work goes on. Inlined, so that the AVX2 scan is
    /// compiled into code built for it.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn work<'a>(
        &self,
        jobs: &[Job<'a>],
        at: Point,
        mask: u16,
        out: &mut [SubscriptionKey],
        mut n: usize,
        mut fetch: impl FnMut(*const i8),
        mut scan: impl FnMut(
            &'a Columns,
            std::ops::Range<usize>,
            Probe,
            i32,
            &mut [SubscriptionKey],
            usize,
            &mut Vec<Close<'a>>,
        ) -> usize,
    ) -> usize {
        let mut close = Vec::new();
        // Circles asked for and not yet worked on.
        let (mut next, mut ahead) = (0, 0);
        for (i, job) in jobs.iter().enumerate() {
            while next < jobs.len() && (next <= i || ahead < CIRCLES_AHEAD) {
                jobs[next].each_line(&mut fetch);
                ahead += (jobs[next].to - jobs[next].from) as usize;
                next += 1;
            }
            let (from, to) = (job.from as usize, job.to as usize);
            ahead -= to - from;
            if job.copy {
                out[n..n + to - from].copy_from_slice(&job.columns.id[from..to]);
                n += to - from;
            } else {
                let noted = close.len();
                n = scan(job.columns, from..to, Probe { q: job.q, mask }, job.band, out, n, &mut close);
                // Each circle too close to call needs its slot: on its way while the work goes on.
                for (columns, i) in &close[noted..] {
                    fetch(std::ptr::from_ref(&columns.slot[*i as usize]).cast());
                }
            }
        }
        if close.is_empty() { n } else { self.decide_close(&close, at, out, n, fetch) }
    }

    /// Each tile that may hold a circle of the plan, with its row and column of tiles.
    fn tiles_near(&self, plan: &Plan) -> Vec<(&Tile, u32, u32)> {
        let mut near = Vec::with_capacity(16);
        let mut visit = |tile, tile_row, tile_col| near.push((tile, tile_row, tile_col));
        'find: {
            let widest = plan.widest;
            let spans = &plan.spans[widest.offset..widest.offset + widest.rows as usize];
            let (west, east) = spans
                .iter()
                .filter(|s| s.0 <= s.1)
                .fold((i64::MAX, i64::MIN), |(w, e), s| (w.min(i64::from(s.0)), e.max(i64::from(s.1))));
            if west > east {
                break 'find;
            }
            let tile_rows =
                widest.first_row / TILE_ROW_CELLS..=(widest.first_row + widest.rows - 1) / TILE_ROW_CELLS;
            let tile_cols: Vec<u32> = if east - west + 1 >= i64::from(COLS) - i64::from(TILE_COL_CELLS) {
                (0..TILE_COLS).collect()
            } else {
                let origin = i64::from(plan.origin_col);
                ((origin + west).div_euclid(i64::from(TILE_COL_CELLS))
                    ..=(origin + east).div_euclid(i64::from(TILE_COL_CELLS)))
                    .map(|c| c.rem_euclid(i64::from(TILE_COLS)) as u32)
                    .collect()
            };
            if tile_rows.clone().count() * tile_cols.len() > self.tiles.len() {
                // Near a pole a cap spans many tiles: fewer exist than would be looked up.
                for (key, tile) in &self.tiles {
                    let (tile_row, tile_col) = (key / TILE_COLS, key % TILE_COLS);
                    if tile_rows.contains(&tile_row) && tile_cols.contains(&tile_col) {
                        visit(tile, tile_row, tile_col);
                    }
                }
                break 'find;
            }
            for tile_row in tile_rows {
                for tile_col in &tile_cols {
                    if let Some(tile) = self.tiles.get(&(tile_row * TILE_COLS + tile_col)) {
                        visit(tile, tile_row, *tile_col);
                    }
                }
            }
        }
        near
    }

    /// Test a run of circles against the point, a block of eight at a time in vector
    /// registers: squared distances on the tile's plane by one 16-bit multiply-add per four
    /// lanes, the sure hits and those too close to call as bit sets; then each lane's key is
    /// written at `out[n]` and `n` moved on by the hits alone (whether a lane hits is a coin
    /// toss, which a branch per hit would mispredict); the rare circle whose edge passes within
    /// 40 cm outside or 65 inside is noted in `too_close`, for the exact distance to decide.
    /// Returns the new `n`.
    #[allow(clippy::too_many_arguments)]
    fn scan<'a>(
        &self,
        columns: &'a Columns,
        range: std::ops::Range<usize>,
        probe: Probe,
        band: i32,
        out: &mut [SubscriptionKey],
        mut n: usize,
        too_close: &mut Vec<Close<'a>>,
    ) -> usize {
        if range.is_empty() {
            return n;
        }
        let [qe, qn] = probe.q;
        let q = i16x8::from([qe, qn, qe, qn, qe, qn, qe, qn]);
        let squared = |en: &[i16]| plane_squared(q, <[i16; LANES]>::try_from(en).expect("eight halves"));
        let (mask, band) = (u16x8::splat(probe.mask), i32x8::splat(band));
        let first = range.start / LANES;
        for (b, block) in columns.blocks[first..range.end.div_ceil(LANES)].iter().enumerate() {
            let base = (first + b) * LANES;
            let (low, high): (i32x4, i32x4) = (squared(&block.en[..LANES]), squared(&block.en[LANES..]));
            let (low, high) = (low.to_array(), high.to_array());
            let d2 = i32x8::from([low[0], low[1], low[2], low[3], high[0], high[1], high[2], high[3]]);
            let r = i32x8::from(block.r.map(i32::from));
            let sure = r * r;
            let unwanted = (u16x8::from(block.tag) & mask).simd_eq(u16x8::ZERO).to_bitmask();
            // The lanes of this block that are in the run.
            let lanes = (0xFFu32 << range.start.saturating_sub(base).min(LANES))
                & (0xFF >> (base + LANES).saturating_sub(range.end));
            let wanted = lanes & !unwanted;
            let hits = sure.simd_gt(d2).to_bitmask() & wanted;
            let close = !d2.simd_gt(sure + band).to_bitmask() & wanted & !hits;
            if let Some(keys) = columns.id.get(base..base + LANES) {
                // Every lane written, the count moved on by the hits only: no branch to mispredict.
                // The eight places are checked once; `j` stays below eight while lanes remain.
                let dst = &mut out[n..n + LANES];
                let mut j = 0;
                for (lane, key) in keys.iter().enumerate() {
                    dst[j & (LANES - 1)] = *key;
                    j += (hits >> lane) as usize & 1;
                }
                n += j;
            } else {
                n = write_hits(columns, base, hits, out, n);
            }
            if close != 0 {
                defer_close(columns, base, close, too_close);
            }
        }
        n
    }

    /// [`CircleGrid::scan`] with AVX2: the eight squared distances in one multiply-add, and
    /// the hits' keys packed to the front of one register by a permutation (from a table of
    /// the 256 ways eight lanes can hit) and stored at once.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn scan_v3<'a>(
        &self,
        v3: pulp::x86::V3,
        columns: &'a Columns,
        range: std::ops::Range<usize>,
        probe: Probe,
        band: i32,
        out: &mut [SubscriptionKey],
        mut n: usize,
        too_close: &mut Vec<Close<'a>>,
    ) -> usize {
        use std::arch::x86_64::__m256i;

        use pulp::cast;
        if range.is_empty() {
            return n;
        }
        let (avx, avx2) = (v3.avx, v3.avx2);
        let [qe, qn] = probe.q;
        let q = avx._mm256_set1_epi32(i32::from(qe as u16) | (i32::from(qn) << 16));
        let floor = avx._mm256_set1_epi16(-i16::MAX);
        let mask = v3.sse2._mm_set1_epi16(probe.mask as i16);
        let band = avx._mm256_set1_epi32(band);
        let first = range.start / LANES;
        let last = range.end.div_ceil(LANES) - 1;
        // The lanes in the run: all but the first block's head and the last block's tail.
        let mut lanes = (0xFFu32 << (range.start - first * LANES)) & 0xFF;
        let last_lanes = 0xFFu32 >> ((last + 1) * LANES - range.end);
        for (b, block) in columns.blocks[first..=last].iter().enumerate() {
            let base = (first + b) * LANES;
            if first + b == last {
                lanes &= last_lanes;
            }
            let en: __m256i = cast(block.en);
            let d = avx2._mm256_max_epi16(avx2._mm256_subs_epi16(q, en), floor);
            let d2 = avx2._mm256_madd_epi16(d, d);
            // Each sure radius widened to 32 bits is a 16-bit pair (r, 0): one multiply-add
            // squares it.
            let r = avx2._mm256_cvtepu16_epi32(cast(block.r));
            let sure = avx2._mm256_madd_epi16(r, r);
            let (sse2, zero) = (v3.sse2, v3.sse2._mm_setzero_si128());
            let unwanted = sse2._mm_cmpeq_epi16(sse2._mm_and_si128(cast(block.tag), mask), zero);
            let bits = |v: __m256i| avx._mm256_movemask_ps(cast(v)) as u32;
            let wanted = lanes & !bits(avx2._mm256_cvtepi16_epi32(unwanted));
            let hits = bits(avx2._mm256_cmpgt_epi32(sure, d2)) & wanted;
            let close =
                !bits(avx2._mm256_cmpgt_epi32(d2, avx2._mm256_add_epi32(sure, band))) & wanted & !hits;
            if let Some(keys) = columns.id.get(base..base + LANES) {
                let keys: [u32; LANES] = std::array::from_fn(|i| keys[i].0);
                let order: __m256i = cast(PACKED[hits as usize]);
                let packed: [u32; LANES] = cast(avx2._mm256_permutevar8x32_epi32(cast(keys), order));
                for (dst, key) in out[n..n + LANES].iter_mut().zip(packed) {
                    *dst = SubscriptionKey(key);
                }
                n += hits.count_ones() as usize;
            } else {
                n = write_hits(columns, base, hits, out, n);
            }
            if close != 0 {
                defer_close(columns, base, close, too_close);
            }
            lanes = 0xFF;
        }
        n
    }

    /// The circles too close to call, decided by the exact distance; the keys of those that
    /// hold the point written from `out[n]`. Returns the new `n`. Each needs its slot (asked
    /// for as the scan noted it), then the circle in that slot, which is rarely cached: all
    /// circles are asked for at once, so that a query waits for memory once, however many
    /// there are.
    #[cold]
    #[inline(never)]
    fn decide_close(
        &self,
        close: &[Close<'_>],
        at: Point,
        out: &mut [SubscriptionKey],
        mut n: usize,
        mut fetch: impl FnMut(*const i8),
    ) -> usize {
        for (columns, i) in close {
            fetch(std::ptr::from_ref(&self.circles[columns.slot[*i as usize] as usize]).cast());
        }
        for (columns, i) in close {
            let circle = self.circles[columns.slot[*i as usize] as usize];
            if circle.centre.distance_m(at) <= circle.radius_m {
                out[n] = columns.id[*i as usize];
                n += 1;
            }
        }
        n
    }

    /// Every circle that holds `at` and whose tag shares a bit with `mask`, by key.
    pub fn containing(&self, at: Point, mask: u16) -> Vec<SubscriptionKey> {
        let mut out = Vec::new();
        self.containing_into(at, mask, &mut out);
        out
    }
}

/// Room in `out` for every candidate of the jobs (and one block's worth past them: a block
/// writes each of its lanes and counts only the hits), to be cut back to the hits; returns
/// where they start.
fn make_room(jobs: &[Job<'_>], out: &mut Vec<SubscriptionKey>) -> usize {
    let start = out.len();
    let candidates: usize = jobs.iter().map(|j| (j.to - j.from) as usize).sum();
    out.resize(start + candidates + LANES, SubscriptionKey::default());
    start
}

/// A circle too close to call: its columns and its place in them.
type Close<'a> = (&'a Columns, u32);

/// Note the lanes of the block at `base` that are too close to call, for
/// [`CircleGrid::decide_close`] once the scan is done. Rare: kept out of line.
#[cold]
#[inline(never)]
fn defer_close<'a>(columns: &'a Columns, base: usize, mut lanes: u32, close: &mut Vec<Close<'a>>) {
    while lanes != 0 {
        close.push((columns, (base + lanes.trailing_zeros() as usize) as u32));
        lanes &= lanes - 1;
    }
}

/// The keys of the lanes of the block at `base` that hit, written from `out[n]` one by one:
/// for the last block of the columns, not full. Returns the new `n`.
fn write_hits(
    columns: &Columns,
    base: usize,
    mut hits: u32,
    out: &mut [SubscriptionKey],
    mut n: usize,
) -> usize {
    while hits != 0 {
        out[n] = columns.id[base + hits.trailing_zeros() as usize];
        n += 1;
        hits &= hits - 1;
    }
    n
}

/// For each set of lanes that hit (a bit each), the lanes in order, then zeros: the
/// permutation that packs their keys to the front of a register.
#[cfg(target_arch = "x86_64")]
static PACKED: [[u32; LANES]; 1 << LANES] = {
    let mut table = [[0u32; LANES]; 1 << LANES];
    let mut hits = 0;
    while hits < 1 << LANES {
        let (mut lane, mut j) = (0, 0);
        while lane < LANES {
            if hits >> lane & 1 == 1 {
                table[hits][j] = lane as u32;
                j += 1;
            }
            lane += 1;
        }
        hits += 1;
    }
    table
};

/// How a query tests its circles: in the widest vector registers the processor has, or in
/// the portable 128-bit code every x86-64 (and every other target) runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Vectors {
    Detect,
    #[cfg_attr(not(test), allow(dead_code))]
    Portable,
}

/// Four squared distances on a tile's plane, in steps², from the point `q` (east and north,
/// repeated) to four centres (east and north each). A difference beyond `i16` saturates, and
/// is kept above -32768 so that two of them cannot overflow the multiply-add: whatever the
/// inputs, the answer is at least the true distance's square or 2 x 32767².
fn plane_squared(q: i16x8, centres: [i16; LANES]) -> i32x4 {
    let d = q.saturating_sub(i16x8::from(centres)).max(i16x8::splat(-i16::MAX));
    d.dot(d)
}

/// The columns of a span (counted from the point's column) that fall in the tile whose first
/// column is `first_col` (counted the same way), as the tile's own column numbers.
fn local_columns((a, b): Span, first_col: i32) -> Option<(u8, u8)> {
    let (a, b) = (a - first_col, b - first_col);
    (a <= b && a < TILE_COL_CELLS as i32 && b >= 0)
        .then(|| (a.max(0) as u8, b.min(TILE_COL_CELLS as i32 - 1) as u8))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn brute(circles: &[(SubscriptionKey, Point, f64)], at: Point, mask: u16) -> Vec<SubscriptionKey> {
        let mut v: Vec<SubscriptionKey> = circles
            .iter()
            .filter(|(id, c, r)| tag_of(*id) & mask != 0 && c.distance_m(at) <= *r)
            .map(|c| c.0)
            .collect();
        v.sort_unstable();
        v
    }

    /// Each circle's tag, from its id: one of 1, 2 and 3, so masks 1 and 2 each want some.
    fn tag_of(id: SubscriptionKey) -> u16 {
        ((id.0.wrapping_mul(0x9E37_79B9) >> 16) % 3 + 1) as u16
    }

    /// A key no other circle of the tests has.
    fn fresh() -> SubscriptionKey {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
        SubscriptionKey(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }

    /// Every circle that holds `at`, found both with the widest vectors this processor has and
    /// with the portable code, which must agree (in order too: both write the keys as found).
    fn containing(grid: &CircleGrid, at: Point, mask: u16) -> Vec<SubscriptionKey> {
        let (mut detected, mut portable) = (Vec::new(), Vec::new());
        grid.containing_with(at, mask, &mut detected, Vectors::Detect);
        grid.containing_with(at, mask, &mut portable, Vectors::Portable);
        assert_eq!(detected, portable, "at {at:?}, mask {mask}");
        detected
    }

    fn sorted(mut v: Vec<SubscriptionKey>) -> Vec<SubscriptionKey> {
        v.sort_unstable();
        v
    }

    /// Enter circles, half one by one and half in bulk, so both paths are checked.
    fn grid_of(circles: &[(SubscriptionKey, Point, f64)]) -> CircleGrid {
        let mut grid = CircleGrid::new();
        let half = circles.len() / 2;
        for (id, c, r) in &circles[..half] {
            grid.insert(*id, *c, *r, tag_of(*id));
        }
        grid.extend(circles[half..].iter().map(|(id, c, r)| (*id, *c, *r, tag_of(*id))));
        grid
    }

    fn check(circles: &[(SubscriptionKey, Point, f64)], points: impl IntoIterator<Item = Point>) {
        let grid = grid_of(circles);
        for at in points {
            for mask in [1, 2, 3] {
                assert_eq!(
                    sorted(containing(&grid, at, mask)),
                    brute(circles, at, mask),
                    "at {at:?}, mask {mask}"
                );
            }
        }
    }

    fn circles_from(v: Vec<(f64, f64, f64)>) -> Vec<(SubscriptionKey, Point, f64)> {
        v.into_iter().map(|(lat, lon, r)| (fresh(), Point::new(lat, lon).unwrap(), r)).collect()
    }

    /// A point `d` metres from `c` on bearing `b` (radians), on the sphere.
    fn offset(c: Point, d: f64, b: f64) -> Option<Point> {
        let (lat, lon) = (c.lat().to_radians(), c.lon().to_radians());
        let a = d / EARTH_RADIUS_M;
        let lat2 = (lat.sin() * a.cos() + lat.cos() * a.sin() * b.cos()).asin();
        let lon2 = lon + (b.sin() * a.sin() * lat.cos()).atan2(a.cos() - lat.sin() * lat2.sin());
        let lon2 = (lon2.to_degrees() + 540.0).rem_euclid(360.0) - 180.0;
        Point::new(lat2.to_degrees(), lon2).ok()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Random circles and points over a city, radii from 0 to the largest the grid holds,
        /// with points placed on and a hair either side of circles' edges, and on their centres.
        #[test]
        fn agrees_with_brute_force(
            circles in proptest::collection::vec((32.6f64..33.0, -97.0f64..-96.6, 0.0f64..=MAX_RADIUS_M), 1..40),
            points in proptest::collection::vec((32.5f64..33.1, -97.1f64..-96.5), 1..40),
            edge in proptest::collection::vec((0usize..40, 0.0f64..std::f64::consts::TAU, -0.05f64..0.05), 0..40),
        ) {
            let circles = circles_from(circles);
            let mut at: Vec<Point> = points.into_iter().map(|(lat, lon)| Point::new(lat, lon).unwrap()).collect();
            at.extend(circles.iter().map(|c| c.1));
            at.extend(edge.into_iter().filter_map(|(i, b, d)| {
                let (_, c, r) = circles[i % circles.len()];
                offset(c, r + d, b)
            }));
            check(&circles, at);
        }

        /// The hard places: across the antimeridian and over the poles (where a tile is a thin
        /// wedge and a point's cap meets tiles all around), with radii up to the largest the grid
        /// holds.
        #[test]
        fn agrees_at_the_antimeridian_and_poles(
            circles in proptest::collection::vec(
                (prop_oneof![-90.0f64..-89.9, -17.0f64..-16.98, 89.9f64..=90.0], prop_oneof![179.97f64..=180.0, -180.0f64..-179.97, -0.05f64..0.05, -180.0f64..180.0], 0.0f64..=MAX_RADIUS_M),
                1..30),
            points in proptest::collection::vec(
                (prop_oneof![-90.0f64..-89.9, -17.04f64..-16.94, 89.9f64..=90.0], prop_oneof![179.9f64..=180.0, -180.0f64..-179.9, -0.1f64..0.1, -180.0f64..180.0]),
                1..40),
        ) {
            let circles = circles_from(circles);
            check(&circles, points.into_iter().map(|(lat, lon)| Point::new(lat, lon).unwrap()));
        }
    }

    /// Numbers uniform in [0, 1) from a seed: the same on every run.
    fn uniform(seed: u64) -> impl FnMut() -> f64 {
        let mut state = seed;
        move || {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// A tile dense enough to keep its table of cell starts, built in bulk, then changed by
    /// single inserts and removals, agrees with brute force throughout.
    #[test]
    fn dense_tiles_agree() {
        let mut next = uniform(0x5EED);
        // One tile's square (its corner is on tile lines).
        let side = f64::from(TILE_ROW_CELLS) * ROW_DEG;
        let mut circles: Vec<(SubscriptionKey, Point, f64)> = (0..6_000)
            .map(|_| {
                let p = Point::new(32.70 + next() * side, -96.90 + next() * side).unwrap();
                (fresh(), p, 50.0 + next() * 3_950.0)
            })
            .collect();
        let points: Vec<Point> =
            (0..60).map(|_| Point::new(32.68 + next() * 0.14, -96.92 + next() * 0.14).unwrap()).collect();
        assert!(circles.iter().all(|c| CircleGrid::tile_key(c.1) == CircleGrid::tile_key(circles[0].1)));
        let mut grid = CircleGrid::new();
        grid.extend(circles.iter().map(|(id, c, r)| (*id, *c, *r, tag_of(*id))));
        assert!(grid.tiles.values().any(|t| !t.cell_starts.is_empty()), "a dense tile");
        let agree = |grid: &CircleGrid, circles: &[(SubscriptionKey, Point, f64)]| {
            for at in &points {
                for mask in [1, 2] {
                    assert_eq!(sorted(containing(grid, *at, mask)), brute(circles, *at, mask));
                }
            }
        };
        agree(&grid, &circles);
        for (id, _, _) in circles.drain(..1_500) {
            grid.remove(id);
        }
        for _ in 0..1_000 {
            let c = (
                fresh(),
                Point::new(32.70 + next() * side, -96.90 + next() * side).unwrap(),
                300.0 + next() * 2_000.0,
            );
            grid.insert(c.0, c.1, c.2, tag_of(c.0));
            circles.push(c);
        }
        agree(&grid, &circles);
    }

    /// A dense city where every circle wants the category asked about, so that runs of cells
    /// that surely hold the point are copied without a test (with mixed tags, as in the other
    /// tests, no run is wholly wanted), beside the stretches around them that are tested.
    #[test]
    fn cells_that_surely_hold_the_point_are_copied_exactly() {
        let mut next = uniform(0x5A5E);
        let side = 0.12;
        let circles: Vec<(SubscriptionKey, Point, f64)> = (0..40_000)
            .map(|_| {
                (
                    fresh(),
                    Point::new(32.70 + next() * side, -96.90 + next() * side).unwrap(),
                    200.0 + next() * 3_000.0,
                )
            })
            .collect();
        let mut grid = CircleGrid::new();
        grid.extend(circles.iter().map(|(id, c, r)| (*id, *c, *r, 3)));
        for _ in 0..40 {
            let at = Point::new(32.72 + next() * 0.08, -96.88 + next() * 0.08).unwrap();
            let mut expected: Vec<SubscriptionKey> =
                circles.iter().filter(|(_, c, r)| c.distance_m(at) <= *r).map(|c| c.0).collect();
            expected.sort_unstable();
            assert_eq!(sorted(containing(&grid, at, 1)), expected, "at {at:?}");
        }
    }

    /// The lines a query reads: each once, every line of its matches' keys among them, and
    /// none where no circle is near.
    #[test]
    fn the_lines_a_query_reads() {
        let circles: Vec<(SubscriptionKey, Point, f64)> = (0..2_000)
            .map(|i| {
                let f = f64::from(i);
                (
                    fresh(),
                    Point::new(
                        32.70 + (f * 0.618_034).fract() * 0.05,
                        -96.90 + (f * 0.414_214).fract() * 0.05,
                    )
                    .unwrap(),
                    1_500.0,
                )
            })
            .collect();
        let grid = grid_of(&circles);
        let at = Point::new(32.725, -96.875).unwrap();
        let lines = grid.lines_read(at, 3);
        let distinct: std::collections::HashSet<usize> = lines.iter().copied().collect();
        assert_eq!(distinct.len(), lines.len());
        let matches = containing(&grid, at, 3).len();
        assert!(matches > 100, "{matches}");
        assert!(
            lines.len() >= matches * std::mem::size_of::<SubscriptionKey>() / 64,
            "{} lines",
            lines.len()
        );
        assert!(grid.lines_read(Point::new(-40.0, 100.0).unwrap(), 3).is_empty());
    }

    /// The largest circle the grid holds and the smallest, with points on their centres and
    /// edges, and points far away: the antipode of a tile's centre lies on its plane's centre
    /// too, and must not match.
    #[test]
    fn the_largest_and_tiny_circles() {
        let circles = circles_from(vec![
            (10.0, 20.0, MAX_RADIUS_M),
            (-40.0, 170.0, 0.0),
            (-40.0, 170.0, 0.01),
            (0.0, 0.0, 1.0),
        ]);
        let mut points =
            vec![(10.0, 20.0), (-40.0, 170.0), (-10.0, -160.0), (0.0, 0.0), (0.000_000_1, 0.0), (90.0, 0.0)];
        points.extend([(-10.0, -160.0), (40.0, -10.0), (0.0, 180.0), (10.0, 20.0 + 0.0365), (10.0359, 20.0)]);
        let mut at: Vec<Point> = points.into_iter().map(|(lat, lon)| Point::new(lat, lon).unwrap()).collect();
        for (_, c, r) in &circles {
            for bearing in [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0] {
                at.extend(
                    [r - 0.05, *r, r + 0.05].into_iter().filter_map(|d| offset(*c, d.max(0.0), bearing)),
                );
            }
        }
        check(&circles, at);
    }

    /// A point clamped at the plane's corner against a centre on the far side: the squared
    /// distance saturates high, never wraps round to a hit.
    #[test]
    fn far_points_never_wrap() {
        let corner = i16x8::splat(-i16::MAX);
        let far = plane_squared(corner, [1, 1, 14_400, 14_400, -14_400, 14_400, 0, 0]).to_array();
        assert!(far.iter().all(|d2| *d2 >= 32_767 * 32_767), "{far:?}");
        let near = plane_squared(i16x8::from([3, 4, 3, 4, 3, 4, 3, 4]), [0, 0, 3, 4, 6, 8, -3, 4]).to_array();
        assert_eq!(near, [25, 0, 25, 36]);
    }

    #[test]
    #[should_panic(expected = "the grid holds radii up to")]
    fn larger_circles_are_refused() {
        CircleGrid::new().insert(fresh(), Point::new(10.0, 20.0).unwrap(), MAX_RADIUS_M + 1.0, 1);
    }

    #[test]
    fn cell_edges_and_tile_edges() {
        // Centres exactly on grid and tile lines, points exactly on them too.
        let mut v = Vec::new();
        for i in 0..6 {
            for j in 0..6 {
                v.push((
                    32.7 + f64::from(i) * ROW_DEG,
                    -96.9 + f64::from(j) * COL_DEG,
                    100.0 + f64::from(i * 6 + j) * 90.0,
                ));
            }
        }
        let circles = circles_from(v);
        let mut points = Vec::new();
        for i in -8..14 {
            for j in -8..14 {
                points
                    .push(Point::new(32.7 + f64::from(i) * ROW_DEG, -96.9 + f64::from(j) * COL_DEG).unwrap());
            }
        }
        check(&circles, points);
    }

    #[test]
    fn removal_replacement_and_merging() {
        let mut grid = CircleGrid::new();
        let home = Point::new(32.78, -96.80).unwrap();
        let (a, b) = (fresh(), fresh());
        grid.insert(a, home, 1_000.0, 1);
        grid.insert(b, home, 300.0, 2);
        assert_eq!(containing(&grid, home, 3).len(), 2);
        assert_eq!(containing(&grid, home, 2), [b], "tags filter");
        grid.remove(a);
        assert_eq!(containing(&grid, home, 3), [b], "gone at once");
        // Replacing moves the circle.
        grid.insert(b, Point::new(33.5, -96.0).unwrap(), 300.0, 2);
        assert!(containing(&grid, home, 3).is_empty());
        assert_eq!(grid.len(), 1);
        // Many inserts merge into sorted runs; removals from runs and from pending lists.
        let ids: Vec<SubscriptionKey> = (0..3_000).map(|_| fresh()).collect();
        for (i, id) in ids.iter().enumerate() {
            grid.insert(*id, home, 100.0 + i as f64, 1);
        }
        assert!(grid.tiles.values().all(|t| t.pending.len() <= t.pending_max()));
        for id in ids.iter().step_by(3) {
            assert!(grid.remove(*id));
        }
        assert!(!grid.remove(ids[0]), "already gone");
        assert_eq!(containing(&grid, home, 1).len(), 2_000);
        // Freed slots are used again while their old entries may still be in the runs.
        let more: Vec<SubscriptionKey> = (0..700).map(|_| fresh()).collect();
        for (i, id) in more.iter().enumerate() {
            grid.insert(*id, home, 150.0 + i as f64, 1);
        }
        assert_eq!(containing(&grid, home, 1).len(), 2_700);
        for id in more.iter().step_by(2) {
            assert!(grid.remove(*id));
        }
        assert_eq!(containing(&grid, home, 1).len(), 2_350);
        for id in &more {
            grid.remove(*id);
        }
        for id in &ids {
            grid.remove(*id);
        }
        grid.remove(b);
        assert!(containing(&grid, home, u16::MAX).is_empty());
        assert!(grid.tiles.is_empty(), "empty tiles are dropped");
        assert!(grid.is_empty());
    }
}
