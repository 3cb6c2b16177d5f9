//! Study time in half-hour units.
//!
//! Hours are kept as an integer count of half hours so that sums, per-week loads and
//! totals are exact (no float drift); they are only turned into a JSON number at the edge.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign};

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

/// A non-negative amount of time with half-hour granularity.
///
/// Serialises as a JSON number of hours: an integer when whole (`10`), otherwise a
/// `.5` value (`7.5`). Deserialises from any JSON number that is a non-negative multiple of 0.5.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hours(u32);

impl Hours {
    /// Zero hours.
    pub const ZERO: Hours = Hours(0);

    /// From a number of half hours.
    pub const fn from_half_hours(half_hours: u32) -> Hours {
        Hours(half_hours)
    }

    /// From a number of whole hours (saturating, so it can never panic).
    pub const fn from_hours(hours: u32) -> Hours {
        Hours(hours.saturating_mul(2))
    }

    /// The exact number of half hours.
    pub const fn half_hours(self) -> u32 {
        self.0
    }

    /// The value in hours; exact, since every half-integer below 2^31 is an `f64`.
    pub fn as_f64(self) -> f64 {
        f64::from(self.0) / 2.0
    }

    /// True when this is a whole number of hours.
    pub const fn is_whole(self) -> bool {
        self.0.is_multiple_of(2)
    }
}

impl Add for Hours {
    type Output = Hours;
    fn add(self, rhs: Hours) -> Hours {
        // Saturating: catalog totals are tiny, and a panic on user-reachable paths is never OK.
        Hours(self.0.saturating_add(rhs.0))
    }
}

impl AddAssign for Hours {
    fn add_assign(&mut self, rhs: Hours) {
        *self = *self + rhs;
    }
}

impl Sum for Hours {
    fn sum<I: Iterator<Item = Hours>>(iter: I) -> Hours {
        iter.fold(Hours::ZERO, Add::add)
    }
}

impl<'a> Sum<&'a Hours> for Hours {
    fn sum<I: Iterator<Item = &'a Hours>>(iter: I) -> Hours {
        iter.copied().sum()
    }
}

impl fmt::Display for Hours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_whole() {
            write!(f, "{}", self.0 / 2)
        } else {
            write!(f, "{}.5", self.0 / 2)
        }
    }
}

impl Serialize for Hours {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.is_whole() {
            serializer.serialize_u32(self.0 / 2)
        } else {
            serializer.serialize_f64(self.as_f64())
        }
    }
}

impl<'de> Deserialize<'de> for Hours {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Hours, D::Error> {
        let value = f64::deserialize(deserializer)?;
        let halves = value * 2.0;
        if !halves.is_finite()
            || halves < 0.0
            || halves.fract() != 0.0
            || halves > f64::from(u32::MAX)
        {
            return Err(de::Error::custom(
                "hours must be a non-negative multiple of 0.5",
            ));
        }
        // Checked above: a whole number within u32 range, so the cast is exact.
        Ok(Hours(halves as u32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_whole_and_half() {
        for (h, text) in [(Hours(20), "10"), (Hours(15), "7.5"), (Hours(1), "0.5")] {
            assert_eq!(serde_json::to_string(&h).unwrap(), text);
            assert_eq!(serde_json::from_str::<Hours>(text).unwrap(), h);
        }
        assert_eq!(serde_json::from_str::<Hours>("10.0").unwrap(), Hours(20));
    }

    #[test]
    fn rejects_bad_values() {
        for text in ["-1", "0.25", "1e20", "\"3\""] {
            assert!(serde_json::from_str::<Hours>(text).is_err(), "{text}");
        }
    }

    #[test]
    fn display() {
        assert_eq!(Hours(15).to_string(), "7.5");
        assert_eq!(Hours(16).to_string(), "8");
    }
}
