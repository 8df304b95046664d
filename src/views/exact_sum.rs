//! [`ExactSum`]: a sum of `f64`s that does not depend on the order of its terms, so that a view's
//! sums and averages are bit-identical however its rows were cut into batches and epochs, spread
//! over workers, or restored after a restart. Floating-point addition is not associative (the
//! crash harness once saw a restored `temp_avg` one unit in the last place below the
//! uninterrupted run's); integer addition is.
//!
//! A sum is held in fixed point, `int + frac / 2^64` with `frac` in `[0, 2^64)`: one canonical
//! form per value, so equal sums compare equal. A term of magnitude below 2^126 is split into its
//! integer part (exact, an `f64` that large is an integer anyway) and its fraction, rounded to
//! the nearest 2^-64: exact for every term whose lowest set bit is at least 2^-64 (any double of
//! magnitude 2^-11, about 0.0005, or more), deterministic for all others.
//! The integer part wraps on overflow, which keeps addition associative: the result is exact as
//! long as the true total stays below 2^127 in magnitude. Terms of 2^126 and more (beyond any
//! telemetry) are added in floating point beside it ([`ExactSum::far`]).

use serde::{Deserialize, Serialize};

use super::OrdF64;

/// 2^64 as an `f64`.
const TWO_64: f64 = 18_446_744_073_709_551_616.0;
/// Terms at least this large go to the floating-point part.
const FAR: f64 = 85_070_591_730_234_615_865_843_651_857_942_052_864.0; // 2^126

/// An order-independent sum of `f64`s (see the module docs).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct ExactSum {
    /// Integer part (wrapping).
    pub int: i128,
    /// Fraction, in units of 2^-64.
    pub frac: u64,
    /// Terms of magnitude 2^126 or more, summed in floating point.
    pub far: OrdF64,
}

impl ExactSum {
    /// The sum of one term.
    pub fn of(x: f64) -> ExactSum {
        let mut s = ExactSum::default();
        s.add(x);
        s
    }

    /// Adds one term.
    pub fn add(&mut self, x: f64) {
        if !(x.abs() < FAR) {
            self.far = OrdF64(self.far.0 + x);
            return;
        }
        let whole = x.trunc();
        let fraction = ((x - whole) * TWO_64).round_ties_even() as i128; // in [-2^64, 2^64]
        self.int = self.int.wrapping_add(whole as i128);
        self.add_units(fraction);
    }

    /// Adds `units` × 2^-64 (|units| ≤ 2^65).
    fn add_units(&mut self, units: i128) {
        let total = self.frac as i128 + units;
        self.int = self.int.wrapping_add(total.div_euclid(1 << 64));
        self.frac = total.rem_euclid(1 << 64) as u64;
    }

    /// Adds another sum.
    pub fn plus(&mut self, other: &ExactSum) {
        self.int = self.int.wrapping_add(other.int);
        self.add_units(other.frac as i128);
        if other.far.0 != 0.0 {
            self.far = OrdF64(self.far.0 + other.far.0);
        }
    }

    /// The sum as the nearest `f64` (correctly rounded while the integer part is below 2^62).
    pub fn value(&self) -> f64 {
        let near = if self.int.unsigned_abs() < 1 << 62 {
            ((self.int << 64) + self.frac as i128) as f64 / TWO_64
        } else {
            self.int as f64 + self.frac as f64 / TWO_64
        };
        near + self.far.0
    }
}

impl ExactSum {
    /// Its exact state as 32 bytes (little-endian integer part, fraction, far part): what a
    /// view's table stores so that a restart continues the sum exactly.
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out[..16].copy_from_slice(&self.int.to_le_bytes());
        out[16..24].copy_from_slice(&self.frac.to_le_bytes());
        out[24..].copy_from_slice(&self.far.0.to_le_bytes());
        out
    }

    /// The sum stored by [`ExactSum::to_bytes`] (`None` for another length).
    pub fn from_bytes(bytes: &[u8]) -> Option<ExactSum> {
        let bytes: &[u8; 32] = bytes.try_into().ok()?;
        Some(ExactSum {
            int: i128::from_le_bytes(bytes[..16].try_into().ok()?),
            frac: u64::from_le_bytes(bytes[16..24].try_into().ok()?),
            far: OrdF64(f64::from_le_bytes(bytes[24..].try_into().ok()?)),
        })
    }
}

/// The sum of the sums present (`None` when neither is): how aggregates add sums.
pub fn sum_present(a: Option<ExactSum>, b: Option<ExactSum>) -> Option<ExactSum> {
    match (a, b) {
        (Some(mut x), Some(y)) => {
            x.plus(&y);
            Some(x)
        }
        (x, None) | (None, x) => x,
    }
}

/// `sum` with one more term.
pub fn add_term(sum: Option<ExactSum>, x: f64) -> Option<ExactSum> {
    let mut s = sum.unwrap_or_default();
    s.add(x);
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator of awkward terms: decimals of a few digits, tiny and huge
    /// magnitudes, both signs.
    fn terms(seed: u64, n: usize) -> Vec<f64> {
        let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        (0..n)
            .map(|_| {
                let r = next();
                let sign = if r & 1 == 0 { 1.0 } else { -1.0 };
                sign * match (r >> 1) % 6 {
                    0 => ((r >> 8) % 100_000) as f64 / 10.0, // a reading like 1234.5
                    1 => ((r >> 8) % 1_000) as f64 / 1000.0, // 0.123
                    2 => f64::from_bits((r >> 12) | 0x3FF0_0000_0000_0000), // [1, 2) full mantissa
                    3 => ((r >> 8) % 1_000_000) as f64 * 1e9, // large integers
                    4 => 1e-7 * ((r >> 8) % 1000) as f64,    // below the 2^-64 grid's exactness
                    _ => 17.6265625,
                }
            })
            .collect()
    }

    fn sum_in_order(xs: &[f64]) -> ExactSum {
        let mut s = ExactSum::default();
        xs.iter().for_each(|&x| s.add(x));
        s
    }

    #[test]
    fn a_sum_survives_its_bytes() {
        for seed in 0..50 {
            let s = sum_in_order(&terms(seed, 40));
            let back = ExactSum::from_bytes(&s.to_bytes()).unwrap();
            assert_eq!(back, s);
            assert_eq!(back.value().to_bits(), s.value().to_bits());
        }
        assert_eq!(ExactSum::from_bytes(&[0; 31]), None);
    }

    #[test]
    fn any_order_and_any_grouping_gives_the_same_sum() {
        for seed in 0..200 {
            let xs = terms(seed, 1 + (seed as usize * 13) % 300);
            let forward = sum_in_order(&xs);
            let mut reversed = xs.clone();
            reversed.reverse();
            assert_eq!(sum_in_order(&reversed), forward, "seed {seed}");
            // cut into runs whose sums are added up in another order
            let cut = 1 + seed as usize % 7;
            let mut parts: Vec<ExactSum> = xs.chunks(cut).map(sum_in_order).collect();
            let by = seed as usize % parts.len();
            parts.rotate_left(by);
            let mut grouped = ExactSum::default();
            parts.iter().for_each(|p| grouped.plus(p));
            assert_eq!(grouped, forward, "seed {seed}");
            assert_eq!(grouped.value().to_bits(), forward.value().to_bits());
        }
    }

    #[test]
    fn sums_of_terms_on_the_grid_are_exact() {
        // Terms of [1, 2) and 1/1000ths are multiples of 2^-52 resp. not; integers and halves are
        // exactly representable: their exact sum is known.
        let xs = [0.5, 0.25, 1e15, -1e15, 3.0, 0.125, -0.375];
        assert_eq!(sum_in_order(&xs).value(), 3.5);
        // one addition of two doubles is correctly rounded, as the exact sum's value is
        assert_eq!(sum_in_order(&[0.1, 0.2]).value(), 0.1 + 0.2);
        assert_eq!(sum_in_order(&[1e-3, 7.25]).value(), 1e-3 + 7.25);
        // the exact sum of 17.6265625 four times, divided as an average would be
        assert_eq!(sum_in_order(&[17.6265625; 4]).value() / 4.0, 17.6265625);
        // negative fractions carry into the integer part
        assert_eq!(sum_in_order(&[-0.75, 0.25]).value(), -0.5);
        assert_eq!(ExactSum::of(-2.5).value(), -2.5);
    }

    #[test]
    fn the_integer_part_may_wrap_on_the_way() {
        let big = 2f64.powi(125);
        let s = sum_in_order(&[big, big, big, -big, -big, -big, 1.5]);
        assert_eq!(s.value(), 1.5);
        let far = sum_in_order(&[1e300, 2.0]);
        assert_eq!(far.value(), 1e300);
    }
}
