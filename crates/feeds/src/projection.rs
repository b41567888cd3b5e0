//! Projected coordinates (state plane feet, UTM metres, Web Mercator) to latitude and longitude,
//! with `proj4rs` and its table of EPSG definitions.

use std::{fmt, sync::Arc};

use proj4rs::{Proj, transform::transform};

/// A source coordinate reference system and WGS 84 to convert into.
#[derive(Clone)]
pub struct Projection {
    code: u16,
    from: Arc<Proj>,
    to: Arc<Proj>,
}

impl fmt::Debug for Projection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EPSG:{}", self.code)
    }
}

impl Projection {
    /// "EPSG:2926" (or a bare code). `None` for EPSG:4326, which needs no conversion. Esri's
    /// 102100 and 102113 are Web Mercator, EPSG:3857, as ArcGIS servers report it.
    pub fn from_crs(text: &str) -> Result<Option<Self>, String> {
        let digits = text.trim();
        let digits = digits.strip_prefix("EPSG:").or_else(|| digits.strip_prefix("epsg:")).unwrap_or(digits);
        let code: u32 = digits.parse().map_err(|_| format!("{text:?} is not of the form \"EPSG:<code>\""))?;
        Self::from_code(code)
    }

    pub fn from_code(code: u32) -> Result<Option<Self>, String> {
        let code = match code {
            102100 | 102113 | 900913 => 3857,
            4326 => return Ok(None),
            other => u16::try_from(other).map_err(|_| format!("EPSG:{other} is not a known code"))?,
        };
        let from = Proj::from_epsg_code(code).map_err(|e| format!("EPSG:{code}: {e}"))?;
        let to = Proj::from_epsg_code(4326).map_err(|e| format!("EPSG:4326: {e}"))?;
        Ok(Some(Self { code, from: Arc::new(from), to: Arc::new(to) }))
    }

    /// Latitude and longitude in degrees of an easting `x` and northing `y`.
    pub fn to_lat_lon(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        let mut p = if self.from.is_latlong() { (x.to_radians(), y.to_radians(), 0.0) } else { (x, y, 0.0) };
        transform(&self.from, &self.to, &mut p).ok()?;
        let (lon, lat) = (p.0.to_degrees(), p.1.to_degrees());
        (lat.is_finite() && lon.is_finite()).then_some((lat, lon))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_plane_feet_become_degrees() {
        // NAD83(HARN) / Washington North (ftUS): a point in downtown Seattle.
        let p = Projection::from_crs("EPSG:2926").unwrap().unwrap();
        let (lat, lon) = p.to_lat_lon(1_271_000.0, 219_000.0).unwrap();
        assert!((lat - 47.5905).abs() < 1e-3 && (lon + 122.3305).abs() < 1e-3, "{lat} {lon}");
        let web = Projection::from_code(102100).unwrap().unwrap();
        let (lat, lon) = web.to_lat_lon(-13_618_000.0, 6_041_000.0).unwrap();
        assert!((lat - 47.6026).abs() < 1e-3 && (lon + 122.3326).abs() < 1e-3, "{lat} {lon}");
        assert!(Projection::from_crs("EPSG:4326").unwrap().is_none());
        assert!(Projection::from_crs("state plane").unwrap_err().contains("EPSG:<code>"));
        assert!(Projection::from_crs("EPSG:1").is_err());
    }
}
