//! Seeded workloads: the same numbers on every run and every machine.

/// SplitMix64: a fixed, documented generator.
#[derive(Debug, Clone)]
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
    }

    /// A (latitude, longitude) uniform in the square of `half_side_m` metres each way around
    /// `centre` (latitude first, then longitude, from the generator).
    pub fn point_in_square(&mut self, centre: (f64, f64), half_side_m: f64) -> (f64, f64) {
        let dlat = (half_side_m / 6_371_008.8).to_degrees();
        let dlon = dlat / centre.0.to_radians().cos();
        (self.uniform(centre.0 - dlat, centre.0 + dlat), self.uniform(centre.1 - dlon, centre.1 + dlon))
    }
}
