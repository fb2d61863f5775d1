//! Days as integers, and the parsing of dates and timestamps into days.
//!
//! winback works in whole days: a [`Day`] is the number of days since
//! 1970-01-01 (negative before). A purchase's day is the calendar date on which it
//! happened **in a stated time zone**:
//!
//! * [`Zone::AsWritten`] (the default): the date as written in the value. For a
//!   timestamp with an offset (`2017-03-01T23:30:00-05:00`) that is the local
//!   date of the offset it carries (2017-03-01); for a value without offset it is
//!   the written date, i.e. naive values are read as UTC wall-clock times.
//! * [`Zone::Utc`], [`Zone::Fixed`] or [`Zone::Named`] (an IANA name such as
//!   `Europe/Paris`): the instant is converted to that zone and its local date is
//!   taken. A value without offset is first placed on the time line in
//!   [`TimeSettings::naive_zone`] (default: the day zone itself, so naive values
//!   keep their written date).
//!
//! Accepted inputs ([`DateFormat::Auto`]): `YYYY-MM-DD`, `YYYYMMDD`,
//! `YYYY-MM-DDTHH:MM[:SS[.fff]]` (a space may replace the `T`), optionally
//! followed by `Z`, `±HH:MM`, `±HHMM` or `±HH`. Any other layout is read with
//! [`DateFormat::Custom`], a `strftime`-style format (`%d/%m/%Y %H:%M`).
//!
//! ```
//! use winback_core::date::{day_from_ymd, format_day, DateFormat, DateParser, TimeSettings, Zone};
//! let p = DateParser::new(DateFormat::Auto, &TimeSettings::default())?;
//! assert_eq!(p.parse_day("2017-03-01"), Some(day_from_ymd(2017, 3, 1)));
//! assert_eq!(p.parse_day("20170301"), Some(day_from_ymd(2017, 3, 1)));
//! // 23:30 at UTC-5 is still March 1st where it happened...
//! assert_eq!(p.parse_day("2017-03-01T23:30:00-05:00"), Some(day_from_ymd(2017, 3, 1)));
//! // ...but March 2nd in UTC.
//! let utc = DateParser::new(DateFormat::Auto, &TimeSettings { day_zone: Zone::Utc, ..Default::default() })?;
//! assert_eq!(format_day(utc.parse_day("2017-03-01T23:30:00-05:00").unwrap()), "2017-03-02");
//! # Ok::<(), winback_core::Error>(())
//! ```

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Days since 1970-01-01.
pub type Day = i32;

/// Whether a day lies in years 1 to 9999, the days a file's dates can name:
/// beyond them day arithmetic overflows and a gap histogram would span billions
/// of days (an `i32::MIN` null sentinel stored as a date, a yyyymmdd integer
/// tagged as a date).
pub(crate) fn in_file_range(day: i64) -> bool {
    (i64::from(day_from_ymd(1, 1, 1))..=i64::from(day_from_ymd(9999, 12, 31))).contains(&day)
}

/// The day number of a calendar date (proleptic Gregorian). No validation: use
/// [`parse_iso_date`] for untrusted text.
pub fn day_from_ymd(y: i32, m: u32, d: u32) -> Day {
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i32;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i32 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The calendar date `(year, month, day)` of a day number.
pub fn ymd_from_day(z: Day) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `YYYY-MM-DD` of a day number.
pub fn format_day(day: Day) -> String {
    let (y, m, d) = ymd_from_day(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Parses a strict `YYYY-MM-DD` date (for arguments such as a cutoff).
///
/// ```
/// assert_eq!(winback_core::date::parse_iso_date("1970-01-02"), Some(1));
/// assert_eq!(winback_core::date::parse_iso_date("2017-02-30"), None);
/// ```
pub fn parse_iso_date(s: &str) -> Option<Day> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    ymd(digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?)
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn ymd(y: u32, m: u32, d: u32) -> Option<Day> {
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y as i32, m) {
        return None;
    }
    Some(day_from_ymd(y as i32, m, d))
}

#[inline]
fn digits(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// How date values are written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum DateFormat {
    /// ISO date, ISO date-time with or without offset, or `YYYYMMDD`, per value.
    #[default]
    Auto,
    /// A `strftime`-style format such as `%d/%m/%Y %H:%M` (parsed by `jiff`).
    Custom(String),
}

/// A time zone in which purchase days are taken (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Zone {
    /// The date as written (the value's own offset, else as if UTC).
    #[default]
    AsWritten,
    /// Coordinated Universal Time.
    Utc,
    /// A fixed offset east of UTC, in seconds.
    Fixed(i32),
    /// An IANA time zone name (`America/Chicago`), daylight saving included.
    Named(String),
}

/// The time zones used to turn timestamps into days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TimeSettings {
    /// The zone whose calendar date is the purchase's day.
    pub day_zone: Zone,
    /// The zone of values written without an offset; `AsWritten` means "the day zone".
    pub naive_zone: Zone,
}

#[derive(Debug, Clone)]
enum ZoneImpl {
    AsWritten,
    Fixed(i64),
    Named(jiff::tz::TimeZone),
}

impl ZoneImpl {
    fn new(z: &Zone) -> Result<Self> {
        Ok(match z {
            Zone::AsWritten => ZoneImpl::AsWritten,
            Zone::Utc => ZoneImpl::Fixed(0),
            Zone::Fixed(s) => ZoneImpl::Fixed(i64::from(*s)),
            Zone::Named(name) => ZoneImpl::Named(
                jiff::tz::TimeZone::get(name).map_err(|_| Error::UnknownTimeZone(name.clone()))?,
            ),
        })
    }
}

/// A parsed value before time zones are applied.
struct Parsed {
    /// Day of the written date.
    day: Day,
    /// Seconds since midnight of the written time (0 for a date).
    secs: i64,
    /// The value's offset east of UTC in seconds, if written.
    offset: Option<i64>,
}

/// Turns date or timestamp text into a [`Day`]. Cheap to clone, `Send + Sync`.
#[derive(Debug, Clone)]
pub struct DateParser {
    format: DateFormat,
    day_zone: ZoneImpl,
    naive_zone: ZoneImpl,
}

impl DateParser {
    /// A parser for `format` under the time settings `time`.
    ///
    /// Fails on an unknown time zone name, or on a custom format that cannot
    /// yield a date (it must contain `%Y`/`%y`-style year, month and day, or `%F`).
    pub fn new(format: DateFormat, time: &TimeSettings) -> Result<Self> {
        if let DateFormat::Custom(f) = &format {
            let has_date = f.contains("%F")
                || f.contains("%D")
                || ((f.contains("%Y") || f.contains("%y"))
                    && (f.contains("%m") || f.contains("%b") || f.contains("%B"))
                    && (f.contains("%d") || f.contains("%e")));
            if !has_date {
                return Err(Error::InvalidDateFormat {
                    format: f.clone(),
                    message: "needs a year, a month and a day (e.g. %Y, %m, %d)".into(),
                });
            }
        }
        Ok(DateParser {
            format,
            day_zone: ZoneImpl::new(&time.day_zone)?,
            naive_zone: ZoneImpl::new(&time.naive_zone)?,
        })
    }

    /// The day of `s`, or `None` when it cannot be read.
    pub fn parse_day(&self, s: &str) -> Option<Day> {
        let s = s.trim();
        let p = match &self.format {
            DateFormat::Auto => parse_auto(s.as_bytes())?,
            DateFormat::Custom(f) => parse_custom(f, s)?,
        };
        self.day_of(p)
    }

    /// The day of a value given as parts: the written day, seconds since its
    /// midnight, and its offset east of UTC in seconds (`None` when naive).
    #[cfg_attr(not(feature = "arrow"), allow(dead_code))]
    pub(crate) fn day_of_parts(&self, day: Day, secs: i64, offset: Option<i64>) -> Option<Day> {
        self.day_of(Parsed { day, secs, offset })
    }

    fn day_of(&self, p: Parsed) -> Option<Day> {
        let local = i64::from(p.day) * 86_400 + p.secs;
        let instant = match (p.offset, &self.naive_zone) {
            (Some(off), _) => local - off,
            // The wall clock is already the day zone's: the written date is the day.
            (None, ZoneImpl::AsWritten) => return Some(p.day),
            (None, ZoneImpl::Fixed(off)) => local - off,
            (None, ZoneImpl::Named(tz)) => {
                let dt = jiff::civil::DateTime::from(civil(p.day)?)
                    .checked_add(jiff::SignedDuration::from_secs(p.secs))
                    .ok()?;
                tz.to_ambiguous_timestamp(dt).compatible().ok()?.as_second()
            }
        };
        match &self.day_zone {
            ZoneImpl::AsWritten => Some(p.day),
            ZoneImpl::Fixed(off) => i32::try_from((instant + off).div_euclid(86_400)).ok(),
            ZoneImpl::Named(tz) => {
                let ts = jiff::Timestamp::from_second(instant).ok()?;
                let d = ts.to_zoned(tz.clone()).date();
                Some(day_from_ymd(i32::from(d.year()), d.month() as u32, d.day() as u32))
            }
        }
    }
}

/// The time zone of an Arrow timestamp column (`UTC`, `+05:00`, `-0800`, or an
/// IANA name), to recover each value's local wall clock.
#[cfg_attr(not(feature = "arrow"), allow(dead_code))]
pub(crate) enum ColumnZone {
    Fixed(i64),
    Named(jiff::tz::TimeZone),
}

#[cfg_attr(not(feature = "arrow"), allow(dead_code))]
impl ColumnZone {
    pub(crate) fn parse(tz: &str) -> Result<ColumnZone> {
        let t = tz.trim();
        if t.eq_ignore_ascii_case("utc") || t == "Z" || t.eq_ignore_ascii_case("etc/utc") {
            return Ok(ColumnZone::Fixed(0));
        }
        let b = t.as_bytes();
        if let [sign @ (b'+' | b'-'), rest @ ..] = b {
            let (h, m) = match rest {
                [a, b] => (digits(&[*a, *b]), Some(0)),
                [a, b, b':', c, d] | [a, b, c, d] => (digits(&[*a, *b]), digits(&[*c, *d])),
                _ => (None, None),
            };
            if let (Some(h), Some(m)) = (h, m) {
                let off = i64::from(h * 3600 + m * 60);
                return Ok(ColumnZone::Fixed(if *sign == b'-' { -off } else { off }));
            }
        }
        jiff::tz::TimeZone::get(t).map(ColumnZone::Named).map_err(|_| Error::UnknownTimeZone(tz.to_string()))
    }

    /// The zone's offset east of UTC, in seconds, at the instant `secs` (Unix seconds).
    pub(crate) fn offset_at(&self, secs: i64) -> Option<i64> {
        match self {
            ColumnZone::Fixed(o) => Some(*o),
            ColumnZone::Named(tz) => Some(i64::from(tz.to_offset(jiff::Timestamp::from_second(secs).ok()?).seconds())),
        }
    }
}

fn civil(day: Day) -> Option<jiff::civil::Date> {
    let (y, m, d) = ymd_from_day(day);
    jiff::civil::Date::new(i16::try_from(y).ok()?, m as i8, d as i8).ok()
}

fn parse_custom(format: &str, s: &str) -> Option<Parsed> {
    let tm = jiff::fmt::strtime::parse(format, s).ok()?;
    let date = tm.to_date().ok()?;
    let day = day_from_ymd(i32::from(date.year()), date.month() as u32, date.day() as u32);
    let secs = match tm.to_time() {
        Ok(t) => i64::from(t.hour()) * 3600 + i64::from(t.minute()) * 60 + i64::from(t.second()),
        Err(_) => 0,
    };
    let offset = tm.offset().map(|o| i64::from(o.seconds()));
    Some(Parsed { day, secs, offset })
}

fn parse_auto(b: &[u8]) -> Option<Parsed> {
    if b.len() == 8 {
        return Some(Parsed {
            day: ymd(digits(&b[0..4])?, digits(&b[4..6])?, digits(&b[6..8])?)?,
            secs: 0,
            offset: None,
        });
    }
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let day = ymd(digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?)?;
    if b.len() == 10 {
        return Some(Parsed { day, secs: 0, offset: None });
    }
    if b[10] != b'T' && b[10] != b' ' && b[10] != b't' {
        return None;
    }
    let rest = &b[11..];
    if rest.len() < 5 || rest[2] != b':' {
        return None;
    }
    let h = digits(&rest[0..2])?;
    let mi = digits(&rest[3..5])?;
    let mut i = 5;
    let mut sec = 0;
    if rest.len() >= 8 && rest[5] == b':' {
        sec = digits(&rest[6..8])?;
        i = 8;
        if i < rest.len() && (rest[i] == b'.' || rest[i] == b',') {
            i += 1;
            let start = i;
            while i < rest.len() && rest[i].is_ascii_digit() {
                i += 1;
            }
            if i == start {
                return None;
            }
        }
    }
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let secs = i64::from(h * 3600 + mi * 60 + sec.min(59));
    let tz = &rest[i..];
    let offset = match tz {
        [] => None,
        [b'Z'] | [b'z'] => Some(0),
        [sign @ (b'+' | b'-'), t @ ..] => {
            let (oh, om) = match t {
                [a, b] => (digits(&[*a, *b])?, 0),
                [a, b, b':', c, d] | [a, b, c, d] => (digits(&[*a, *b])?, digits(&[*c, *d])?),
                _ => return None,
            };
            if oh > 23 || om > 59 {
                return None;
            }
            let off = i64::from(oh * 3600 + om * 60);
            Some(if *sign == b'-' { -off } else { off })
        }
        _ => return None,
    };
    Some(Parsed { day, secs, offset })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auto(time: TimeSettings) -> DateParser {
        DateParser::new(DateFormat::Auto, &time).unwrap()
    }

    #[test]
    fn civil_round_trip() {
        for d in -800_000..800_000 {
            let (y, m, dd) = ymd_from_day(d);
            assert_eq!(day_from_ymd(y, m, dd), d);
        }
        assert_eq!(day_from_ymd(1970, 1, 1), 0);
        assert_eq!(day_from_ymd(2000, 3, 1), 11_017);
        assert_eq!(format_day(day_from_ymd(2024, 2, 29)), "2024-02-29");
    }

    #[test]
    fn auto_formats() {
        let p = auto(TimeSettings::default());
        let d = day_from_ymd(2011, 12, 9);
        for s in [
            "2011-12-09",
            "20111209",
            "2011-12-09T12:50:00",
            "2011-12-09 12:50",
            "2011-12-09T12:50:00.123Z",
            "2011-12-09T23:59:59+14:00",
            "2011-12-09T00:10:00-0800",
            "2011-12-09T00:10:00-08",
            " 2011-12-09 ",
        ] {
            assert_eq!(p.parse_day(s), Some(d), "{s}");
        }
        for s in ["", "2011-13-01", "2011-02-29", "20111232", "2011/12/09", "2011-12-09T25:00", "2011-12-09X", "2011-12-09T10:00+2:00", "abc"] {
            assert_eq!(p.parse_day(s), None, "{s}");
        }
    }

    #[test]
    fn zones() {
        let utc = auto(TimeSettings { day_zone: Zone::Utc, ..Default::default() });
        assert_eq!(utc.parse_day("2017-03-01T23:30:00-05:00"), Some(day_from_ymd(2017, 3, 2)));
        assert_eq!(utc.parse_day("2017-03-01T23:30:00"), Some(day_from_ymd(2017, 3, 1)));
        let chicago = auto(TimeSettings { day_zone: Zone::Named("America/Chicago".into()), naive_zone: Zone::Utc });
        // 03:00 UTC on March 2nd is 21:00 on March 1st in Chicago (CST, UTC-6).
        assert_eq!(chicago.parse_day("2017-03-02T03:00:00"), Some(day_from_ymd(2017, 3, 1)));
        // In July, CDT is UTC-5: 04:59 UTC is 23:59 the day before, 05:00 UTC is midnight.
        assert_eq!(chicago.parse_day("2017-07-02T04:59:00Z"), Some(day_from_ymd(2017, 7, 1)));
        assert_eq!(chicago.parse_day("2017-07-02T05:00:00Z"), Some(day_from_ymd(2017, 7, 2)));
        let plus2 = auto(TimeSettings { day_zone: Zone::Fixed(7200), naive_zone: Zone::Utc });
        assert_eq!(plus2.parse_day("2017-03-01T22:30:00"), Some(day_from_ymd(2017, 3, 2)));
        assert!(matches!(
            DateParser::new(DateFormat::Auto, &TimeSettings { day_zone: Zone::Named("Mars/Olympus".into()), ..Default::default() }),
            Err(Error::UnknownTimeZone(_))
        ));
    }

    #[test]
    fn custom_format() {
        let p = DateParser::new(DateFormat::Custom("%m/%d/%Y %H:%M".into()), &TimeSettings::default()).unwrap();
        assert_eq!(p.parse_day("12/1/2010 8:26"), Some(day_from_ymd(2010, 12, 1)));
        assert_eq!(p.parse_day("13/1/2010 8:26"), None);
        assert!(matches!(
            DateParser::new(DateFormat::Custom("%H:%M".into()), &TimeSettings::default()),
            Err(Error::InvalidDateFormat { .. })
        ));
    }
}
