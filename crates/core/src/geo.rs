//! Points on the Earth, great-circle distance, and deterministic snapping to H3 cell centres.

use serde::Serialize;

/// The mean radius of the Earth, the sphere distances are measured on.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A WGS 84 point with a checked latitude and longitude.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    lat: f64,
    lon: f64,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum InvalidPoint {
    #[error("latitude {0} is not between -90 and 90")]
    Latitude(f64),
    #[error("longitude {0} is not between -180 and 180")]
    Longitude(f64),
}

impl Point {
    pub fn new(lat: f64, lon: f64) -> Result<Self, InvalidPoint> {
        if !(-90.0..=90.0).contains(&lat) {
            return Err(InvalidPoint::Latitude(lat));
        }
        if !(-180.0..=180.0).contains(&lon) {
            return Err(InvalidPoint::Longitude(lon));
        }
        Ok(Self { lat, lon })
    }

    pub fn lat(self) -> f64 {
        self.lat
    }

    pub fn lon(self) -> f64 {
        self.lon
    }

    /// Great-circle distance in metres (haversine on a sphere of the Earth's mean radius).
    pub fn distance_m(self, other: Point) -> f64 {
        let (p1, p2) = (self.lat.to_radians(), other.lat.to_radians());
        let dp = p2 - p1;
        let dl = (other.lon - self.lon).to_radians();
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * a.sqrt().min(1.0).asin()
    }

    /// The centre of the H3 cell of `resolution` that holds this point. The same input always
    /// gives the same output, so many calls at one house cannot be averaged back to the house.
    pub fn snap(self, resolution: h3o::Resolution) -> Point {
        let ll = h3o::LatLng::new(self.lat, self.lon).expect("checked coordinates");
        let centre = h3o::LatLng::from(ll.to_cell(resolution));
        // Six decimals is ~10 cm: more digits would only add noise to a cell centre.
        let round = |x: f64| (x * 1e6).round() / 1e6;
        Point { lat: round(centre.lat()), lon: round(centre.lng()) }
    }

    /// The H3 cell of `resolution` that holds this point.
    pub fn cell(self, resolution: h3o::Resolution) -> h3o::CellIndex {
        h3o::LatLng::new(self.lat, self.lon).expect("checked coordinates").to_cell(resolution)
    }

    /// The centre of an H3 cell.
    pub fn of_cell(cell: h3o::CellIndex) -> Point {
        let centre = h3o::LatLng::from(cell);
        Point { lat: centre.lat(), lon: centre.lng() }
    }

    /// A box, in degrees, that holds every point within `radius_m` of this one: a cheap
    /// pre-filter before the exact distance check. It spans the cap's widest longitudes (which
    /// lie poleward of its centre), and every longitude where the cap holds a pole; its sides
    /// may run past ±180 and ±90.
    pub fn bounding_box(self, radius_m: f64) -> ([f64; 2], [f64; 2]) {
        let angle = radius_m / EARTH_RADIUS_M;
        let dlat = angle.to_degrees();
        let dlon = if self.lat.abs() + dlat >= 90.0 {
            180.0
        } else {
            (angle.sin() / self.lat.to_radians().cos()).min(1.0).asin().to_degrees()
        };
        ([self.lon - dlon, self.lat - dlat], [self.lon + dlon, self.lat + dlat])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_is_on_the_sphere() {
        // Milwaukee City Hall to the Milwaukee Art Museum: about 1.04 km.
        let a = Point::new(43.041_8, -87.909_7).unwrap();
        let b = Point::new(43.040_0, -87.897_1).unwrap();
        let d = a.distance_m(b);
        assert!((d - 1042.0).abs() < 15.0, "{d}");
        // One degree of longitude is much shorter at 60 degrees north than at the equator.
        let e = Point::new(0.0, 0.0).unwrap().distance_m(Point::new(0.0, 1.0).unwrap());
        let n = Point::new(60.0, 0.0).unwrap().distance_m(Point::new(60.0, 1.0).unwrap());
        assert!((e - 111_195.0).abs() < 10.0, "{e}");
        assert!((n - e / 2.0).abs() < 50.0, "{n}");
    }

    #[test]
    fn snapping_is_deterministic_and_moves_the_point() {
        let house = Point::new(43.112_798_7, -87.956_741_5).unwrap();
        let res = h3o::Resolution::Ten;
        let a = house.snap(res);
        let b = Point::new(43.112_798_7, -87.956_741_5).unwrap().snap(res);
        assert_eq!(a, b);
        assert_ne!(a, house);
        assert!(a.distance_m(house) < 80.0);
        // A neighbour a few metres away lands on the same centre or a neighbouring one.
        assert!(Point::new(43.112_8, -87.956_7).unwrap().snap(res).distance_m(a) < 150.0);
    }

    #[test]
    fn rejects_impossible_coordinates() {
        assert!(Point::new(91.0, 0.0).is_err());
        assert!(Point::new(0.0, -181.0).is_err());
        assert!(Point::new(f64::NAN, 0.0).is_err());
    }

    /// Far north, a cap is widest poleward of its centre: every point of its edge, all the way
    /// round, is in the box; and a cap over a pole spans every longitude.
    #[test]
    fn bounding_box_holds_the_whole_cap() {
        for (lat, r) in [(60.0, 50_000.0), (-75.0, 20_000.0), (89.8, 50_000.0), (0.0, 4_000.0)] {
            let c = Point::new(lat, 10.0).unwrap();
            let (lo, hi) = c.bounding_box(r);
            let a = r / EARTH_RADIUS_M;
            let phi = lat.to_radians();
            for step in 0..3_600 {
                let bearing = f64::from(step).to_radians() / 10.0;
                let p2 = (phi.sin() * a.cos() + phi.cos() * a.sin() * bearing.cos()).asin();
                let dl = (bearing.sin() * a.sin() * phi.cos()).atan2(a.cos() - phi.sin() * p2.sin());
                let (plat, plon) = (p2.to_degrees(), 10.0 + dl.to_degrees());
                assert!(lo[1] - 1e-9 <= plat && plat <= hi[1] + 1e-9, "{lat} {r} {bearing}");
                assert!(
                    lo[0] - 1e-9 <= plon && plon <= hi[0] + 1e-9,
                    "{lat} {r} {bearing}: {plon} not in {lo:?}..{hi:?}"
                );
            }
        }
        let (lo, hi) = Point::new(89.8, 10.0).unwrap().bounding_box(50_000.0);
        assert_eq!(hi[0] - lo[0], 360.0);
    }

    #[test]
    fn bounding_box_holds_the_circle() {
        let c = Point::new(43.0, -88.0).unwrap();
        let (lo, hi) = c.bounding_box(1000.0);
        for (lat, lon) in [(lo[1], c.lon()), (hi[1], c.lon()), (c.lat(), lo[0]), (c.lat(), hi[0])] {
            let d = c.distance_m(Point::new(lat, lon).unwrap());
            assert!((d - 1000.0).abs() < 1.0, "{d}");
        }
    }
}
