//! Timestamps: stored as Unix milliseconds (portable, sortable SQL integers), shown as RFC 3339.

use serde::{Deserialize, Serialize};

/// A point in time with millisecond precision. Serialises as an RFC 3339 string in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(jiff::Timestamp);

impl Timestamp {
    pub fn now() -> Self {
        Self::from_millis(jiff::Timestamp::now().as_millisecond())
    }

    /// Builds a timestamp from Unix milliseconds; out-of-range values clamp to jiff's bounds.
    /// (Not by clamping the number: `MAX.as_millisecond()` itself is out of range, as `MAX`
    /// has nanoseconds past its last whole millisecond.)
    pub fn from_millis(ms: i64) -> Self {
        Self(jiff::Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 {
            jiff::Timestamp::MIN
        } else {
            jiff::Timestamp::MAX
        }))
    }

    pub fn as_millis(self) -> i64 {
        self.0.as_millisecond()
    }

    pub fn parse(text: &str) -> Result<Self, jiff::Error> {
        text.parse::<jiff::Timestamp>()
            .map(|t| Self::from_millis(t.as_millisecond()))
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Fixed millisecond precision keeps the strings the same length and sortable.
        write!(f, "{:.3}", self.0)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::DateTime,
            )))
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_milliseconds_clamp_to_the_bounds() {
        // Found by the LiveKit webhook's fuzz target: a `createdAt` far in the future panicked.
        for ms in [
            i64::MAX,
            253_402_207_200_999,
            i64::MIN,
            -377_705_116_800_000,
        ] {
            let t = Timestamp::from_millis(ms);
            assert_eq!(Timestamp::from_millis(t.as_millis()), t);
        }
        assert!(Timestamp::from_millis(i64::MAX) > Timestamp::from_millis(253_402_207_200_000));
        assert_eq!(
            Timestamp::from_millis(i64::MIN),
            Timestamp::from_millis(-377_705_023_201_000)
        );
    }

    #[test]
    fn round_trips_through_text_at_millisecond_precision() {
        let t = Timestamp::from_millis(1_700_000_000_123);
        assert_eq!(t.to_string(), "2023-11-14T22:13:20.123Z");
        assert_eq!(Timestamp::parse(&t.to_string()).unwrap(), t);
    }

    #[test]
    fn whole_seconds_still_print_three_decimals_so_strings_sort() {
        assert_eq!(
            Timestamp::from_millis(1_700_000_000_000).to_string(),
            "2023-11-14T22:13:20.000Z"
        );
    }

    #[test]
    fn parses_offsets_into_utc() {
        let t = Timestamp::parse("2023-11-14T23:13:20+01:00").unwrap();
        assert_eq!(t.as_millis(), 1_700_000_000_000);
    }
}
