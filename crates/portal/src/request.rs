//! A video request's rules: the taxonomy of incident types, the area (a circle or a polygon of
//! 0.025 to 0.5 square miles), the time window (15 minutes to 12 hours, past, not too old),
//! and the flags that moderation must refuse (people described by race alone, lawful
//! activity such as protests). No IO.

use chrono::{DateTime, Duration, Utc};
use geo::{ChamberlainDuquetteArea, Contains, Distance, Haversine, LineString, Point, Polygon};
use serde::{Deserialize, Serialize};

use crate::domain::Invalid;

fn invalid(field: &'static str, reason: &'static str) -> Invalid {
    Invalid { field, reason }
}

/// What a request may be about: a choice from this list, not free text.
pub const INCIDENT_TYPES: [&str; 12] = [
    "arson",
    "assault",
    "burglary",
    "homicide",
    "hit_and_run",
    "kidnapping",
    "missing_person",
    "robbery",
    "sexual_assault",
    "shooting",
    "theft",
    "vehicle_theft",
];

pub fn incident_type(text: &str) -> Result<String, Invalid> {
    if INCIDENT_TYPES.contains(&text) {
        Ok(text.to_owned())
    } else {
        Err(invalid("incident_type", "must be one of the taxonomy's types (GET /v1/portal/taxonomy)"))
    }
}

/// Square metres in a square mile.
const SQ_MILE_M2: f64 = 2_589_988.11;
pub const MIN_AREA_M2: f64 = 0.025 * SQ_MILE_M2;
pub const MAX_AREA_M2: f64 = 0.5 * SQ_MILE_M2;

/// Where footage is asked for: a circle, or a polygon whose corners are [longitude, latitude].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
#[schema(as = PortalArea)]
pub enum Area {
    Circle {
        lat: f64,
        lon: f64,
        radius_m: f64,
    },
    /// Corners as [longitude, latitude].
    Polygon {
        polygon: Vec<[f64; 2]>,
    },
}

impl Area {
    /// Check the area and return its size in square metres.
    pub fn check(&self) -> Result<f64, Invalid> {
        let area = match self {
            Self::Circle { lat, lon, radius_m } => {
                if !(-90.0..=90.0).contains(lat) || !(-180.0..=180.0).contains(lon) {
                    return Err(invalid("area", "the centre is not a latitude and longitude"));
                }
                if !radius_m.is_finite() || *radius_m <= 0.0 {
                    return Err(invalid("area.radius_m", "must be a positive number of metres"));
                }
                std::f64::consts::PI * radius_m * radius_m
            }
            Self::Polygon { polygon } => {
                if polygon.len() < 3 || polygon.len() > 200 {
                    return Err(invalid("area.polygon", "must have 3 to 200 corners"));
                }
                if polygon
                    .iter()
                    .any(|[lon, lat]| !(-90.0..=90.0).contains(lat) || !(-180.0..=180.0).contains(lon))
                {
                    return Err(invalid("area.polygon", "a corner is not a longitude and latitude"));
                }
                self.polygon().chamberlain_duquette_unsigned_area()
            }
        };
        if !(MIN_AREA_M2..=MAX_AREA_M2).contains(&area) {
            return Err(invalid("area", "must be between 0.025 and 0.5 square miles"));
        }
        Ok(area)
    }

    fn polygon(&self) -> Polygon {
        match self {
            Self::Polygon { polygon } => Polygon::new(
                LineString::from(polygon.iter().map(|[x, y]| (*x, *y)).collect::<Vec<_>>()),
                vec![],
            ),
            Self::Circle { .. } => unreachable!("only polygons have corners"),
        }
    }

    pub fn contains(&self, lat: f64, lon: f64) -> bool {
        match self {
            Self::Circle { lat: clat, lon: clon, radius_m } => {
                Haversine.distance(Point::new(*clon, *clat), Point::new(lon, lat)) <= *radius_m
            }
            Self::Polygon { .. } => self.polygon().contains(&Point::new(lon, lat)),
        }
    }

    /// `[min_lat, min_lon, max_lat, max_lon]`, a little wide.
    pub fn bounding_box(&self) -> [f64; 4] {
        match self {
            Self::Circle { lat, lon, radius_m } => {
                let dlat = radius_m / 111_000.0 + 1e-4;
                let dlon = dlat / lat.to_radians().cos().max(0.01);
                [lat - dlat, lon - dlon, lat + dlat, lon + dlon]
            }
            Self::Polygon { polygon } => {
                let lats = polygon.iter().map(|p| p[1]);
                let lons = polygon.iter().map(|p| p[0]);
                [
                    lats.clone().fold(f64::MAX, f64::min) - 1e-6,
                    lons.clone().fold(f64::MAX, f64::min) - 1e-6,
                    lats.fold(f64::MIN, f64::max) + 1e-6,
                    lons.fold(f64::MIN, f64::max) + 1e-6,
                ]
            }
        }
    }

    /// What the public sees: the area's centre rounded to about a kilometre and a radius
    /// rounded up to the next 500 m that still covers it, never its exact shape.
    pub fn generalized(&self) -> (f64, f64, f64) {
        let [a, b, c, d] = self.bounding_box();
        let (lat, lon) = ((a + c) / 2.0, (b + d) / 2.0);
        let round = |v: f64| (v * 100.0).round() / 100.0;
        let (glat, glon) = (round(lat), round(lon));
        let corner = Haversine
            .distance(Point::new(glon, glat), Point::new(d, c))
            .max(Haversine.distance(Point::new(glon, glat), Point::new(b, a)));
        (glat, glon, (corner / 500.0).ceil() * 500.0)
    }
}

/// The longest and shortest windows, and how far back a window may start.
pub const MIN_WINDOW: Duration = Duration::minutes(15);
pub const MAX_WINDOW: Duration = Duration::hours(12);

pub fn window(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
    oldest: Duration,
) -> Result<(), Invalid> {
    if end > now {
        return Err(invalid("window_end", "must not be in the future"));
    }
    let length = end - start;
    if length < MIN_WINDOW || length > MAX_WINDOW {
        return Err(invalid("window", "must be from 15 minutes to 12 hours long"));
    }
    if start < now - oldest {
        return Err(invalid("window_start", "is older than this platform accepts"));
    }
    Ok(())
}

/// Words naming a race or ethnicity, and words that describe a person otherwise.
const RACE_WORDS: [&str; 12] = [
    "black",
    "white",
    "hispanic",
    "latino",
    "latina",
    "asian",
    "arab",
    "african",
    "mexican",
    "caucasian",
    "indian",
    "native",
];
const OTHER_DESCRIPTORS: [&str; 16] = [
    "shirt", "jacket", "hoodie", "hat", "cap", "pants", "jeans", "shoes", "tall", "short", "beard", "tattoo",
    "vehicle", "car", "bag", "backpack",
];
/// Lawful activity that is no reason to collect footage.
const LAWFUL_ACTIVITY: [&str; 8] =
    ["protest", "protester", "protesters", "demonstration", "rally", "march", "vigil", "picket"];

/// Why moderation must refuse a request, if it must: a description of people by race alone,
/// or lawful activity such as a protest.
pub fn flags(description: &str) -> Vec<&'static str> {
    let words: Vec<String> = description
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let has = |list: &[&str]| words.iter().any(|w| list.contains(&w.as_str()));
    let mut flags = Vec::new();
    if has(&RACE_WORDS) && !has(&OTHER_DESCRIPTORS) {
        flags.push("describes people by race alone");
    }
    if has(&LAWFUL_ACTIVITY) {
        flags.push("concerns lawful activity such as a protest");
    }
    flags
}

pub fn text(field: &'static str, value: &str, max: usize) -> Result<String, Invalid> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max {
        return Err(Invalid { field, reason: "must not be empty, nor too long" });
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_are_bounded() {
        // 0.025 sq mi is a circle of about 144 m; 0.5 sq mi about 642 m.
        let circle = |r: f64| Area::Circle { lat: 43.05, lon: -87.95, radius_m: r };
        assert!(circle(140.0).check().is_err());
        assert!(circle(300.0).check().is_ok());
        assert!(circle(650.0).check().is_err());
        // A block of about 400 m x 400 m: 0.06 sq mi.
        let square = Area::Polygon {
            polygon: vec![
                [-87.95, 43.05],
                [-87.945, 43.05],
                [-87.945, 43.0536],
                [-87.95, 43.0536],
                [-87.95, 43.05],
            ],
        };
        let m2 = square.check().unwrap();
        assert!((150_000.0..170_000.0).contains(&m2), "{m2}");
        assert!(square.contains(43.052, -87.947));
        assert!(!square.contains(43.06, -87.947));
        assert!(circle(300.0).contains(43.051, -87.95));
        assert!(!circle(300.0).contains(43.06, -87.95));
        let (lat, lon, r) = circle(300.0).generalized();
        assert_eq!((lat, lon), (43.05, -87.95));
        assert!(r >= 300.0 && r % 500.0 == 0.0);
    }

    #[test]
    fn windows_are_bounded_and_past() {
        let now = Utc::now();
        let old = Duration::days(30);
        assert!(window(now - Duration::hours(2), now - Duration::hours(1), now, old).is_ok());
        assert_eq!(window(now - Duration::minutes(10), now, now, old).unwrap_err().field, "window");
        assert_eq!(window(now - Duration::hours(13), now, now, old).unwrap_err().field, "window");
        assert_eq!(window(now, now + Duration::hours(1), now, old).unwrap_err().field, "window_end");
        assert_eq!(
            window(now - Duration::days(40), now - Duration::days(40) + Duration::hours(1), now, old)
                .unwrap_err()
                .field,
            "window_start"
        );
    }

    #[test]
    fn race_alone_and_protests_are_flagged() {
        assert_eq!(
            flags("Looking for a black male seen near the alley"),
            vec!["describes people by race alone"]
        );
        assert!(flags("A white male in a red hoodie carrying a backpack").is_empty());
        assert!(flags("Smashed window, car stolen from the driveway").is_empty());
        assert_eq!(
            flags("Footage of the protest on Main St"),
            vec!["concerns lawful activity such as a protest"]
        );
    }
}
