//! The duration grammar of API.md §1 (`1y`, `2m`, `1w`, `3d`, `4h`, `5min`) and its calendar
//! arithmetic: months and years keep the day of month, clamped to the month's last day.

use std::fmt;
use std::str::FromStr;

use time::{Date, Month, OffsetDateTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Years,
    Months,
    Weeks,
    Days,
    Hours,
    Minutes,
}

impl Unit {
    fn suffix(self) -> &'static str {
        match self {
            Unit::Years => "y",
            Unit::Months => "m",
            Unit::Weeks => "w",
            Unit::Days => "d",
            Unit::Hours => "h",
            Unit::Minutes => "min",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LicenseDuration {
    pub amount: u32,
    pub unit: Unit,
}

/// Largest amount accepted: keeps every sum far inside `time`'s range (years up to 9999).
const MAX_AMOUNT: u32 = 100_000;

pub const DURATION_HELP: &str =
    "Invalid duration: expected a positive integer and a unit y, m, w, d, h or min (e.g. 1y, 3m, 5min).";

impl FromStr for LicenseDuration {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let split = s.find(|c: char| !c.is_ascii_digit()).ok_or(DURATION_HELP)?;
        let (digits, suffix) = s.split_at(split);
        let unit = match suffix {
            "y" => Unit::Years,
            "m" => Unit::Months,
            "w" => Unit::Weeks,
            "d" => Unit::Days,
            "h" => Unit::Hours,
            "min" => Unit::Minutes,
            _ => return Err(DURATION_HELP),
        };
        let amount: u32 = digits.parse().map_err(|_| DURATION_HELP)?;
        if amount == 0 || amount > MAX_AMOUNT {
            return Err(DURATION_HELP);
        }
        Ok(LicenseDuration { amount, unit })
    }
}

impl fmt::Display for LicenseDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.amount, self.unit.suffix())
    }
}

impl LicenseDuration {
    /// `start + self`; `None` when the result leaves the representable calendar.
    pub fn after(&self, start: OffsetDateTime) -> Option<OffsetDateTime> {
        let amount = i64::from(self.amount);
        match self.unit {
            Unit::Years => add_months(start, amount * 12),
            Unit::Months => add_months(start, amount),
            Unit::Weeks => start.checked_add(time::Duration::weeks(amount)),
            Unit::Days => start.checked_add(time::Duration::days(amount)),
            Unit::Hours => start.checked_add(time::Duration::hours(amount)),
            Unit::Minutes => start.checked_add(time::Duration::minutes(amount)),
        }
    }
}

fn add_months(start: OffsetDateTime, months: i64) -> Option<OffsetDateTime> {
    let zero_based = i64::from(start.year()) * 12 + i64::from(start.month() as u8) - 1 + months;
    let year = i32::try_from(zero_based.div_euclid(12)).ok()?;
    let month = Month::try_from((zero_based.rem_euclid(12) + 1) as u8).ok()?;
    let day = start.day().min(month.length(year));
    let date = Date::from_calendar_date(year, month, day).ok()?;
    Some(start.replace_date(date))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn parse(s: &str) -> Result<LicenseDuration, &'static str> {
        s.parse()
    }

    #[test]
    fn accepts_every_unit_and_prints_it_back() {
        for s in ["1y", "2m", "1w", "3d", "4h", "5min", "100000d"] {
            assert_eq!(parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn rejects_everything_else() {
        for s in ["", "y", "0d", "-1d", "1", "1 d", "1D", "1mins", "1.5y", "d1", "100001d", "99999999999999999999y"] {
            assert!(parse(s).is_err(), "{s:?} accepted");
        }
    }

    #[test]
    fn months_clamp_to_the_end_of_the_month() {
        let jan31 = datetime!(2024-01-31 10:00 UTC);
        assert_eq!(parse("1m").unwrap().after(jan31), Some(datetime!(2024-02-29 10:00 UTC)));
        assert_eq!(parse("13m").unwrap().after(jan31), Some(datetime!(2025-02-28 10:00 UTC)));
        let leap = datetime!(2024-02-29 00:00 UTC);
        assert_eq!(parse("1y").unwrap().after(leap), Some(datetime!(2025-02-28 00:00 UTC)));
    }

    #[test]
    fn fixed_units_add_exact_time() {
        let t = datetime!(2020-07-03 13:08:40 UTC);
        assert_eq!(parse("1w").unwrap().after(t), Some(datetime!(2020-07-10 13:08:40 UTC)));
        assert_eq!(parse("3d").unwrap().after(t), Some(datetime!(2020-07-06 13:08:40 UTC)));
        assert_eq!(parse("4h").unwrap().after(t), Some(datetime!(2020-07-03 17:08:40 UTC)));
        assert_eq!(parse("5min").unwrap().after(t), Some(datetime!(2020-07-03 13:13:40 UTC)));
    }

    #[test]
    fn overflow_is_none_not_a_panic() {
        let late = datetime!(9990-01-01 00:00 UTC);
        assert_eq!(parse("100000y").unwrap().after(late), None);
    }
}
