//! Calendar dates, UTC date-times and payment periods, without a clock.
//!
//! Payment files carry dates (`ReqdExctnDt`, `DtOfSgntr`) and one creation
//! time (`CreDtTm`); all of them come in as values, typically derived from a
//! ledger transaction's recorded `timestamp_ms`, so the same inputs always
//! give the same file.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::{Error, Result};

/// A proleptic Gregorian calendar date between 0001-01-01 and 9999-12-31.
///
/// Serialized as `YYYY-MM-DD`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    /// The date, if it exists in the calendar.
    pub fn new(year: u16, month: u8, day: u8) -> Result<Date> {
        let period = Period::new(year, month)?;
        if day == 0 || day > period.days() {
            return Err(Error::Date {
                field: "date".into(),
                reason: format!("{year:04}-{month:02} has {} days, not a day {day}", period.days()),
            });
        }
        Ok(Date { year, month, day })
    }

    /// The UTC calendar day of a Unix time in milliseconds (for instance a
    /// ledger transaction's `timestamp_ms`).
    pub fn from_unix_millis(timestamp_ms: u64) -> Result<Date> {
        Ok(DateTime::from_unix_millis(timestamp_ms)?.date)
    }

    /// The year.
    pub fn year(self) -> u16 {
        self.year
    }

    /// The month, 1 to 12.
    pub fn month(self) -> u8 {
        self.month
    }

    /// The day of the month, from 1.
    pub fn day(self) -> u8 {
        self.day
    }

    /// The month this date falls in.
    pub fn period(self) -> Period {
        Period { year: self.year, month: self.month }
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl FromStr for Date {
    type Err = Error;

    /// Reads `YYYY-MM-DD`.
    fn from_str(text: &str) -> Result<Date> {
        let bad = || Error::Date {
            field: "date".into(),
            reason: format!("{text:?} is not a date written YYYY-MM-DD (for example 2026-12-04)"),
        };
        let bytes = text.as_bytes();
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return Err(bad());
        }
        let year = digits(&text[0..4]).ok_or_else(bad)?;
        let month = digits(&text[5..7]).ok_or_else(bad)?;
        let day = digits(&text[8..10]).ok_or_else(bad)?;
        let (Ok(year), Ok(month), Ok(day)) =
            (u16::try_from(year), u8::try_from(month), u8::try_from(day))
        else {
            return Err(bad());
        };
        Date::new(year, month, day)
    }
}

impl TryFrom<String> for Date {
    type Error = Error;

    fn try_from(text: String) -> Result<Date> {
        text.parse()
    }
}

impl From<Date> for String {
    fn from(date: Date) -> String {
        date.to_string()
    }
}

/// A UTC date and time to the second.
///
/// Written into files as `YYYY-MM-DDTHH:MM:SS` (an ISO 20022
/// `ISODateTime` without an offset, the form most banks accept); the value
/// is always UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DateTime {
    date: Date,
    hour: u8,
    minute: u8,
    second: u8,
}

impl DateTime {
    /// The date-time, if the time of day exists (no leap seconds).
    pub fn new(date: Date, hour: u8, minute: u8, second: u8) -> Result<DateTime> {
        if hour > 23 || minute > 59 || second > 59 {
            return Err(Error::Date {
                field: "time".into(),
                reason: format!(
                    "{hour:02}:{minute:02}:{second:02} is not a time of day (00:00:00 to 23:59:59)"
                ),
            });
        }
        Ok(DateTime { date, hour, minute, second })
    }

    /// The UTC date-time of a Unix time in milliseconds, the sub-second part
    /// dropped.
    pub fn from_unix_millis(timestamp_ms: u64) -> Result<DateTime> {
        let seconds = timestamp_ms / 1000;
        let days = seconds / 86_400;
        let in_day = seconds % 86_400;
        let (year, month, day) = civil_from_days(days);
        let too_late = || Error::Date {
            field: "timestamp_ms".into(),
            reason: format!("{timestamp_ms} ms after 1970 is after the year 9999"),
        };
        let year = u16::try_from(year).map_err(|_| too_late())?;
        if year > 9999 {
            return Err(too_late());
        }
        // The quotients below are less than 24 and 60, so they fit in a u8.
        let hour = (in_day / 3600) as u8;
        let minute = (in_day % 3600 / 60) as u8;
        let second = (in_day % 60) as u8;
        DateTime::new(Date { year, month, day }, hour, minute, second)
    }

    /// The calendar day.
    pub fn date(self) -> Date {
        self.date
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}T{:02}:{:02}:{:02}", self.date, self.hour, self.minute, self.second)
    }
}

impl FromStr for DateTime {
    type Err = Error;

    /// Reads `YYYY-MM-DDTHH:MM:SS`, optionally followed by `Z`.
    fn from_str(text: &str) -> Result<DateTime> {
        let bad = || Error::Date {
            field: "date-time".into(),
            reason: format!(
                "{text:?} is not a UTC date-time written YYYY-MM-DDTHH:MM:SS (for example 2026-12-04T21:00:00)"
            ),
        };
        let body = text.strip_suffix('Z').unwrap_or(text);
        let bytes = body.as_bytes();
        if bytes.len() != 19 || bytes[10] != b'T' || bytes[13] != b':' || bytes[16] != b':' {
            return Err(bad());
        }
        let date: Date = body[0..10].parse().map_err(|_| bad())?;
        let hour = digits(&body[11..13]).ok_or_else(bad)?;
        let minute = digits(&body[14..16]).ok_or_else(bad)?;
        let second = digits(&body[17..19]).ok_or_else(bad)?;
        let (Ok(hour), Ok(minute), Ok(second)) =
            (u8::try_from(hour), u8::try_from(minute), u8::try_from(second))
        else {
            return Err(bad());
        };
        DateTime::new(date, hour, minute, second)
    }
}

impl TryFrom<String> for DateTime {
    type Error = Error;

    fn try_from(text: String) -> Result<DateTime> {
        text.parse()
    }
}

impl From<DateTime> for String {
    fn from(date_time: DateTime) -> String {
        date_time.to_string()
    }
}

/// A calendar month, the unit entitlements are paid in.
///
/// Ordered by time; serialized as `YYYY-MM`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Period {
    year: u16,
    month: u8,
}

impl Period {
    /// The month `month` (1 to 12) of `year` (1 to 9999).
    pub fn new(year: u16, month: u8) -> Result<Period> {
        if !(1..=9999).contains(&year) || !(1..=12).contains(&month) {
            return Err(Error::Date {
                field: "period".into(),
                reason: format!(
                    "year {year} month {month} is not a month: the year must be 1 to 9999 and the month 1 to 12"
                ),
            });
        }
        Ok(Period { year, month })
    }

    /// The year.
    pub fn year(self) -> u16 {
        self.year
    }

    /// The month, 1 to 12.
    pub fn month(self) -> u8 {
        self.month
    }

    /// The number of days in the month.
    pub fn days(self) -> u8 {
        match self.month {
            2 if is_leap(self.year) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }

    /// The first day of the month.
    pub fn first_day(self) -> Date {
        Date { year: self.year, month: self.month, day: 1 }
    }

    /// `YYYYMM`, as used inside end-to-end ids.
    pub(crate) fn compact(self) -> String {
        format!("{:04}{:02}", self.year, self.month)
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for Period {
    type Err = Error;

    /// Reads `YYYY-MM`.
    fn from_str(text: &str) -> Result<Period> {
        let bad = || Error::Date {
            field: "period".into(),
            reason: format!("{text:?} is not a month written YYYY-MM (for example 2026-12)"),
        };
        if text.len() != 7 || text.as_bytes()[4] != b'-' {
            return Err(bad());
        }
        let year = digits(&text[0..4]).ok_or_else(bad)?;
        let month = digits(&text[5..7]).ok_or_else(bad)?;
        let (Ok(year), Ok(month)) = (u16::try_from(year), u8::try_from(month)) else {
            return Err(bad());
        };
        Period::new(year, month)
    }
}

impl TryFrom<String> for Period {
    type Error = Error;

    fn try_from(text: String) -> Result<Period> {
        text.parse()
    }
}

impl From<Period> for String {
    fn from(period: Period) -> String {
        period.to_string()
    }
}

fn is_leap(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

/// The value of a run of ASCII digits, or `None` if any byte is not one.
fn digits(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The civil date of a count of days since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for non-negative day counts).
fn civil_from_days(days: u64) -> (u64, u8, u8) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    // Both are bounded (day 1 to 31, month 1 to 12), so they fit in a u8.
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}
