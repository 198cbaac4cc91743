//! Wire formats for times and dates (API.md §1): RFC 3339 UTC out, and on input also the
//! vendor's `YYYY-MM-DD HH:MM:SS` and a date-time where a date is expected.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// The current time at the precision the table stores (microseconds, UTC).
///
/// Every time the API keeps comes from here or from [`parse_time`], both truncated to what
/// [`format_time`] writes, so a value in memory equals the same value read back from the
/// table. Comparing an untruncated clock reading with a stored one (nanoseconds against
/// microseconds) made an import worker believe it had lost its lease (issue 11, item 1).
pub fn now() -> OffsetDateTime {
    stored_precision(OffsetDateTime::now_utc())
}

/// `t` in UTC, truncated to whole microseconds.
pub fn stored_precision(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(UtcOffset::UTC);
    t.replace_nanosecond(t.nanosecond() / 1_000 * 1_000).unwrap_or(t)
}

/// `2020-07-03T13:08:40Z`, with 6 fractional digits only when there is a fraction.
pub fn format_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    let whole = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let base = t.format(whole).unwrap_or_default();
    match t.microsecond() {
        0 => format!("{base}Z"),
        micros => format!("{base}.{micros:06}Z"),
    }
}

pub fn format_date(d: Date) -> String {
    d.format(format_description!("[year]-[month]-[day]")).unwrap_or_default()
}

/// RFC 3339 (any offset, normalised to UTC), `YYYY-MM-DD HH:MM:SS[.f]` (UTC), `YYYY-MM-DDTHH:MM:SS`
/// (UTC), or a bare date (midnight UTC).
pub fn parse_time(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(stored_precision(t));
    }
    let naive = [
        format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
        format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond]"),
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond]"),
        format_description!("[year]-[month]-[day] [hour]:[minute]"),
    ];
    for fmt in naive {
        if let Ok(t) = PrimitiveDateTime::parse(s, fmt) {
            return Some(stored_precision(t.assume_utc()));
        }
    }
    parse_date_only(s).map(|d| d.midnight().assume_utc())
}

/// A date, or the date part of any time `parse_time` reads.
pub fn parse_date(s: &str) -> Option<Date> {
    parse_date_only(s.trim()).or_else(|| parse_time(s).map(|t| t.date()))
}

fn parse_date_only(s: &str) -> Option<Date> {
    Date::parse(s, format_description!("[year]-[month]-[day]")).ok()
}

/// Serde adapter: times stored as RFC 3339 strings (sortable as text: always UTC, fixed width
/// up to the fraction).
pub mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;

    pub fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_time(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_time(&text).ok_or_else(|| serde::de::Error::custom("bad time"))
    }
}

/// Serde adapter for optional times, `null` when absent.
pub mod rfc3339_option {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;

    pub fn serialize<S: Serializer>(t: &Option<OffsetDateTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_some(&super::format_time(*t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<OffsetDateTime>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| super::parse_time(&text).ok_or_else(|| serde::de::Error::custom("bad time")))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn formats_utc_with_z() {
        assert_eq!(format_time(datetime!(2020-07-03 13:08:40 UTC)), "2020-07-03T13:08:40Z");
        assert_eq!(format_time(datetime!(2020-11-13 07:41:01.671067 UTC)), "2020-11-13T07:41:01.671067Z");
        assert_eq!(format_time(datetime!(2020-07-03 15:08:40 +2)), "2020-07-03T13:08:40Z");
    }

    #[test]
    fn reads_the_vendor_forms() {
        let t = datetime!(2020-07-03 13:08:40 UTC);
        assert_eq!(parse_time("2020-07-03T13:08:40Z"), Some(t));
        assert_eq!(parse_time("2020-07-03T15:08:40+02:00"), Some(t));
        assert_eq!(parse_time("2020-07-03 13:08:40"), Some(t));
        assert_eq!(parse_time("2020-07-03T13:08:40"), Some(t));
        assert_eq!(parse_time("2020-07-03"), Some(datetime!(2020-07-03 0:00 UTC)));
        assert_eq!(parse_time("03/07/2020"), None);
    }

    #[test]
    fn times_in_memory_equal_their_stored_text_read_back() {
        for _ in 0..1_000 {
            let t = now();
            assert_eq!(parse_time(&format_time(t)), Some(t));
        }
        let precise = parse_time("2020-07-03T13:08:40.123456789Z").unwrap();
        assert_eq!(parse_time(&format_time(precise)), Some(precise));
        assert_eq!(precise.nanosecond(), 123_456_000);
    }

    #[test]
    fn dates_accept_date_times() {
        assert_eq!(parse_date("2023-09-15"), Some(date!(2023 - 09 - 15)));
        assert_eq!(parse_date("2023-09-15 10:00:00"), Some(date!(2023 - 09 - 15)));
        assert_eq!(parse_date("2023-09-15T23:30:00Z"), Some(date!(2023 - 09 - 15)));
        assert_eq!(parse_date("2023-02-30"), None);
        assert_eq!(format_date(date!(2023 - 09 - 05)), "2023-09-05");
    }
}
