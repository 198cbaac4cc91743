//! Wire formats for times and dates (API.md §1): RFC 3339 UTC out; on input what Django's
//! `parse_datetime` / `parse_date` accept (the vendor's own parser, so its clients' forms), and
//! a date-time where a date is expected.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, UtcOffset};

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

/// A time as Django's `parse_datetime` reads it (API.md §1), normalised to UTC: `YYYY-M-D`,
/// `T` or a space, `H:M` with one or two digits each, seconds and a fraction (`.` or `,`, up to
/// 6 digits kept) optional, then `Z`, `±HH`, `±HHMM`, `±HH:MM` or nothing (UTC); or a bare
/// date (midnight UTC). `None` for anything else, or an impossible date or time.
pub fn parse_time(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(stored_precision(t));
    }
    let (date, rest) = split_date(s)?;
    if rest.is_empty() {
        return Some(date.midnight().assume_utc());
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let (time, offset) = split_time(rest)?;
    let t = date.with_time(time).assume_offset(offset);
    Some(stored_precision(t))
}

/// A date as Django's `parse_date` reads it (`YYYY-M-D`), or the date part of any time
/// [`parse_time`] reads.
pub fn parse_date(s: &str) -> Option<Date> {
    match split_date(s.trim()) {
        Some((date, "")) => Some(date),
        _ => parse_time(s).map(|t| t.date()),
    }
}

/// Whether a body's time or date field says "not given": empty, or Go's zero time (its
/// clients serialise an unset `time.Time` as `0001-01-01T00:00:00Z`).
pub fn is_unset(text: &str) -> bool {
    let text = text.trim();
    text.is_empty()
        || parse_time(text).is_some_and(|t| t.year() == 1 && t.ordinal() == 1 && t.time() == time::Time::MIDNIGHT)
}

/// Leading digits of `s`, at least `min` and at most `max` of them, and the rest.
fn digits(s: &str, min: usize, max: usize) -> Option<(u32, &str)> {
    let n = s.bytes().take(max).take_while(u8::is_ascii_digit).count();
    if n < min {
        return None;
    }
    Some((s[..n].parse().ok()?, &s[n..]))
}

/// `YYYY-M-D` at the start of `s`, and what follows.
fn split_date(s: &str) -> Option<(Date, &str)> {
    let (year, rest) = digits(s, 4, 4)?;
    let (month, rest) = digits(rest.strip_prefix('-')?, 1, 2)?;
    let (day, rest) = digits(rest.strip_prefix('-')?, 1, 2)?;
    let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?).ok()?;
    Some((date, rest))
}

/// `H:M[:S[.f]]` and an optional offset: the whole of `s`.
fn split_time(s: &str) -> Option<(time::Time, UtcOffset)> {
    let (hour, rest) = digits(s, 1, 2)?;
    let (minute, mut rest) = digits(rest.strip_prefix(':')?, 1, 2)?;
    let (mut second, mut micros) = (0, 0);
    if let Some(after) = rest.strip_prefix(':') {
        let (sec, after) = digits(after, 1, 2)?;
        second = sec;
        rest = after;
        if let Some(fraction) = rest.strip_prefix(['.', ',']) {
            let n = fraction.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 {
                return None;
            }
            let kept = &fraction[..n.min(6)];
            micros = kept.parse::<u32>().ok()? * 10u32.pow(6 - kept.len() as u32);
            rest = &fraction[n..];
        }
    }
    let time = time::Time::from_hms_micro(
        u8::try_from(hour).ok()?,
        u8::try_from(minute).ok()?,
        u8::try_from(second).ok()?,
        micros,
    )
    .ok()?;
    let rest = rest.trim_start();
    let offset = match rest {
        "" | "Z" | "z" => UtcOffset::UTC,
        _ => {
            let sign: i8 = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (hours, after) = digits(&rest[1..], 2, 2)?;
            let after = after.strip_prefix(':').unwrap_or(after);
            let (minutes, after) = if after.is_empty() { (0, after) } else { digits(after, 2, 2)? };
            if !after.is_empty() {
                return None;
            }
            UtcOffset::from_hms(sign * i8::try_from(hours).ok()?, sign * i8::try_from(minutes).ok()?, 0).ok()?
        }
    };
    Some((time, offset))
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
    fn reads_what_djangos_parsers_read() {
        let t = datetime!(2019-06-05 14:03:09 UTC);
        assert_eq!(parse_time("2019-06-5 14:03:09"), Some(t));
        assert_eq!(parse_time("2019-6-5T14:3:9"), Some(t));
        assert_eq!(parse_time("2019-06-05 14:03:09.5"), Some(datetime!(2019-06-05 14:03:09.5 UTC)));
        assert_eq!(parse_time("2019-06-05 14:03:09,123456789"), Some(datetime!(2019-06-05 14:03:09.123456 UTC)));
        assert_eq!(parse_time("2019-06-05 14:03"), Some(datetime!(2019-06-05 14:03 UTC)));
        assert_eq!(parse_time("2019-06-05T16:03:09+02:00"), Some(t));
        assert_eq!(parse_time("2019-06-05T16:03:09+0200"), Some(t));
        assert_eq!(parse_time("2019-06-05T16:03:09 +02"), Some(t));
        assert_eq!(parse_time("2019-06-05T12:03:09-02:00"), Some(t));
        assert_eq!(parse_time("2024-3-5"), Some(datetime!(2024-03-05 0:00 UTC)));
        assert_eq!(parse_date("2024-3-5"), Some(date!(2024 - 03 - 05)));
        for bad in [
            "2019-13-01",
            "2019-02-30",
            "2019-06-05 25:00",
            "2019-06-05 14",
            "19-06-05",
            "2019/06/05",
            "2019-06-05x",
            "2019-06-05 14:03:09+2",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn empty_and_go_zero_times_are_unset() {
        assert!(is_unset(""));
        assert!(is_unset("  "));
        assert!(is_unset("0001-01-01T00:00:00Z"));
        assert!(is_unset("0001-01-01 00:00:00"));
        assert!(!is_unset("0001-01-02T00:00:00Z"));
        assert!(!is_unset("2020-01-01"));
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
