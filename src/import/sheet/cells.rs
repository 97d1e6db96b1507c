//! One spreadsheet cell as the text the field mapping reads.
//!
//! The mapping parses text, so typed cells are written out here in the first format the
//! source configures for that field (`formats.date[0]` for a date column, and so on); the
//! mapping then reads them back exactly as it reads a CSV cell. Numbers lose Excel's `.0`
//! (`1234.0` → `1234`), so numeric keys and phone numbers stored as numbers read as digits.
//!
//! Dates come in three shapes: XLSX and XLS store a serial number of days (1900 system,
//! with Excel's phantom 29 February 1900, or the 1904 system), calamine marks such cells
//! as dates by their number format; ODS stores ISO 8601 text (`2026-03-02T10:30:00`) and
//! times as ISO durations (`PT10H30M00S`). All become a [`Moment`] first.

use std::borrow::Cow;
use std::fmt::Write as _;

use calamine::{Data, ExcelDateTime};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeDelta};

use crate::import::mapping::{Field, Formats};

const SECONDS_PER_DAY: i64 = 86_400;
/// Excel's last day, 9999-12-31, as a serial number.
const LAST_SERIAL: f64 = 2_958_466.0;

/// What a date or time cell holds, before it is written as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Moment {
    Date(NaiveDate),
    DateTime(NaiveDateTime),
    /// A time of day without a date (a serial below 1, an ISO time).
    Time(NaiveTime),
    /// A length of time (a duration-formatted cell, an ODS time value).
    Span(TimeDelta),
}

/// The first configured format of each kind, used to write typed cells as text.
#[derive(Debug, Clone)]
pub(super) struct Render {
    date: String,
    time: String,
    datetime: String,
    /// Whether the date column holds only the date (a separate time column is mapped).
    time_mapped: bool,
    /// The workbook counts serial days from 1904 (old Mac Excel) rather than 1900.
    is_1904: bool,
}

impl Render {
    pub(super) fn new(formats: &Formats, time_mapped: bool, is_1904: bool) -> Render {
        let first = |list: &[String], fallback: &str| {
            list.first()
                .cloned()
                .unwrap_or_else(|| fallback.to_string())
        };
        Render {
            date: first(&formats.date, "%Y-%m-%d"),
            time: first(&formats.time, "%H:%M:%S"),
            datetime: first(&formats.datetime, "%Y-%m-%dT%H:%M:%S"),
            time_mapped,
            is_1904,
        }
    }

    /// The text of `cell` for the column mapped to `field`; `Err` says why it has none,
    /// without repeating the cell (it may be personal data).
    pub(super) fn text<'c>(&self, cell: &'c Data, field: Field) -> Result<Cow<'c, str>, String> {
        let moment = match cell {
            Data::Empty => return Ok(Cow::Borrowed("")),
            Data::String(text) => return Ok(Cow::Borrowed(text)),
            Data::Float(number) => return Ok(Cow::Owned(number_text(*number))),
            Data::Int(number) => return Ok(Cow::Owned(number.to_string())),
            Data::Bool(value) => return Ok(Cow::Borrowed(if *value { "TRUE" } else { "FALSE" })),
            Data::Error(error) => return Err(format!("holds the spreadsheet error {error}")),
            Data::DateTime(serial) => serial_moment(serial, self.is_1904)?,
            Data::DateTimeIso(text) => iso_moment(text)?,
            Data::DurationIso(text) => iso_span(text).map(Moment::Span)?,
        };
        self.moment_text(moment, field).map(Cow::Owned)
    }

    fn moment_text(&self, moment: Moment, field: Field) -> Result<String, String> {
        use Moment::{Date, DateTime, Span, Time};
        match (field, moment) {
            (Field::Date, Date(date)) if self.time_mapped => write(&date, &self.date),
            (Field::Date, DateTime(at)) if self.time_mapped => write(&at.date(), &self.date),
            (Field::Date | Field::End, DateTime(at)) => write(&at, &self.datetime),
            (Field::Date | Field::End, Date(_)) => Err(DATE_WITHOUT_TIME.to_string()),
            (Field::Date, Time(_) | Span(_)) => Err("holds a time, not a date".to_string()),
            (Field::Time | Field::End, Time(time)) => write(&time, &self.time),
            (Field::Time | Field::End, Span(span)) => write(&time_of(span)?, &self.time),
            (Field::Time, DateTime(at)) => write(&at.time(), &self.time),
            (Field::Time, Date(_)) => Err("holds a date, not a time".to_string()),
            (Field::Duration, Span(span)) => Ok(minutes(span)),
            (Field::Duration, Time(time)) => Ok(minutes(time - NaiveTime::MIN)),
            (Field::Duration, _) => Err("holds a date, not a number of minutes".to_string()),
            (_, other) => Ok(plain(other)),
        }
    }
}

const DATE_WITHOUT_TIME: &str =
    "holds a date without a time, but the mapping reads date and time from this column";

/// Writes a date or time in a configured chrono format. A format that cannot write it
/// (one with a zone, say) is named; the mapping could not have read the text anyway.
fn write(value: &impl Formattable, format: &str) -> Result<String, String> {
    let mut text = String::new();
    value
        .write_in(&mut text, format)
        .map(|()| text)
        .map_err(|_| format!("holds a date or time that format {format:?} cannot write"))
}

/// chrono's date, time and date-time types, written in a strftime format.
trait Formattable {
    fn write_in(&self, out: &mut String, format: &str) -> std::fmt::Result;
}

impl Formattable for NaiveDate {
    fn write_in(&self, out: &mut String, format: &str) -> std::fmt::Result {
        write!(out, "{}", self.format(format))
    }
}

impl Formattable for NaiveTime {
    fn write_in(&self, out: &mut String, format: &str) -> std::fmt::Result {
        write!(out, "{}", self.format(format))
    }
}

impl Formattable for NaiveDateTime {
    fn write_in(&self, out: &mut String, format: &str) -> std::fmt::Result {
        write!(out, "{}", self.format(format))
    }
}

/// A date or time in a column that is not a date column (a key, say): ISO text.
fn plain(moment: Moment) -> String {
    match moment {
        Moment::Date(date) => date.format("%Y-%m-%d").to_string(),
        Moment::DateTime(at) => at.format("%Y-%m-%d %H:%M:%S").to_string(),
        Moment::Time(time) => time.format("%H:%M:%S").to_string(),
        Moment::Span(span) => minutes(span),
    }
}

fn minutes(span: TimeDelta) -> String {
    ((span.num_seconds() + 30) / 60).to_string()
}

fn time_of(span: TimeDelta) -> Result<NaiveTime, String> {
    u32::try_from(span.num_seconds())
        .ok()
        .and_then(|secs| NaiveTime::from_num_seconds_from_midnight_opt(secs, 0))
        .ok_or_else(|| "holds a length of time that is not a time of day".to_string())
}

/// A number as people write it: whole numbers without `.0`, never in exponent form.
pub(super) fn number_text(number: f64) -> String {
    // Below 2^53 every whole f64 is exact, so the integer digits are the stored ones.
    if number.fract() == 0.0 && number.abs() < 9_007_199_254_740_992.0 {
        format!("{}", number as i64)
    } else {
        format!("{number}")
    }
}

/// A serial date of the 1900 or 1904 system, to the second.
pub(super) fn serial_moment(serial: &ExcelDateTime, is_1904: bool) -> Result<Moment, String> {
    let value = serial.as_f64();
    if !(0.0..LAST_SERIAL).contains(&value) {
        return Err("holds a date number outside the spreadsheet's calendar".to_string());
    }
    let seconds = (value * SECONDS_PER_DAY as f64).round() as i64;
    if serial.is_duration() {
        return Ok(Moment::Span(TimeDelta::seconds(seconds)));
    }
    let (days, of_day) = (
        seconds.div_euclid(SECONDS_PER_DAY),
        seconds.rem_euclid(SECONDS_PER_DAY),
    );
    let time =
        NaiveTime::from_num_seconds_from_midnight_opt(of_day as u32, 0).unwrap_or(NaiveTime::MIN);
    if days == 0 {
        return Ok(Moment::Time(time));
    }
    let date = serial_date(days, is_1904)?;
    Ok(if of_day == 0 {
        Moment::Date(date)
    } else {
        Moment::DateTime(date.and_time(time))
    })
}

/// Day numbers: 1904 system from 1904-01-01 = 0; 1900 system from 1900-01-01 = 1, where
/// Excel counts a 29 February 1900 (day 60) that never was, so later days are one off.
fn serial_date(days: i64, is_1904: bool) -> Result<NaiveDate, String> {
    let (epoch, offset) = match (is_1904, days) {
        (true, _) => ((1904, 1, 1), days),
        (false, 1..60) => ((1899, 12, 31), days),
        (false, 60) => return Err("holds 29 February 1900, a day that does not exist".into()),
        (false, _) => ((1899, 12, 30), days),
    };
    NaiveDate::from_ymd_opt(epoch.0, epoch.1, epoch.2)
        .and_then(|start| start.checked_add_signed(TimeDelta::days(offset)))
        .ok_or_else(|| "holds a date number outside the calendar".to_string())
}

/// ODS dates: `2026-03-02`, `2026-03-02T10:30:00`, with optional fractions of a second.
pub(super) fn iso_moment(text: &str) -> Result<Moment, String> {
    let text = text.trim();
    if let Ok(at) = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f") {
        return Ok(Moment::DateTime(at));
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(Moment::Date(date));
    }
    NaiveTime::parse_from_str(text, "%H:%M:%S%.f")
        .map(Moment::Time)
        .map_err(|_| "holds a date the spreadsheet wrote in an unknown form".to_string())
}

/// ODS times and durations: `PT10H30M00S`, `P1DT2H`, `PT0.5S`; rounded to the second.
pub(super) fn iso_span(text: &str) -> Result<TimeDelta, String> {
    let bad = || "holds a time the spreadsheet wrote in an unknown form".to_string();
    let rest = text.trim().strip_prefix('P').ok_or_else(bad)?;
    let (mut seconds, mut number, mut in_time) = (0.0_f64, String::new(), false);
    for c in rest.chars() {
        let unit = match c {
            '0'..='9' | '.' | ',' => {
                number.push(if c == ',' { '.' } else { c });
                continue;
            }
            'T' if number.is_empty() => {
                in_time = true;
                continue;
            }
            'D' if !in_time => 86_400.0,
            'H' if in_time => 3_600.0,
            'M' if in_time => 60.0,
            'S' if in_time => 1.0,
            _ => return Err(bad()),
        };
        seconds += number.parse::<f64>().map_err(|_| bad())? * unit;
        number.clear();
    }
    if !number.is_empty() {
        return Err(bad());
    }
    Ok(TimeDelta::seconds(seconds.round() as i64))
}

/// `A`, `Z`, `AA`, … for a 0-based column index.
pub(super) fn column_letters(index: u32) -> String {
    let mut letters = Vec::new();
    let mut n = index + 1;
    while n > 0 {
        let rem = ((n - 1) % 26) as u8;
        letters.push(char::from(b'A' + rem));
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::ExcelDateTimeType;

    fn serial(value: f64, is_1904: bool) -> Result<Moment, String> {
        serial_moment(
            &ExcelDateTime::new(value, ExcelDateTimeType::DateTime, is_1904),
            is_1904,
        )
    }

    fn date(y: i32, m: u32, d: u32) -> Moment {
        Moment::Date(NaiveDate::from_ymd_opt(y, m, d).expect("valid"))
    }

    #[test]
    fn serial_days_follow_excels_1900_leap_year_bug() {
        assert_eq!(serial(1.0, false), Ok(date(1900, 1, 1)));
        assert_eq!(serial(59.0, false), Ok(date(1900, 2, 28)));
        assert!(
            serial(60.0, false)
                .expect_err("no such day")
                .contains("29 February 1900")
        );
        assert_eq!(serial(61.0, false), Ok(date(1900, 3, 1)));
        assert_eq!(serial(46083.0, false), Ok(date(2026, 3, 2)));
    }

    #[test]
    fn serial_days_of_the_1904_system_start_on_new_year_1904() {
        assert_eq!(serial(1.0, true), Ok(date(1904, 1, 2)));
        assert_eq!(serial(44621.0, true), Ok(date(2026, 3, 2)));
    }

    #[test]
    fn a_serial_below_one_is_a_time_of_day_rounded_to_the_second() {
        let ten_thirty = NaiveTime::from_hms_opt(10, 30, 0).expect("valid");
        assert_eq!(serial(0.4375, false), Ok(Moment::Time(ten_thirty)));
        assert_eq!(serial(0.437_499_99, true), Ok(Moment::Time(ten_thirty)));
        assert!(serial(-1.0, false).is_err());
        assert!(serial(3e6, false).is_err());
    }

    #[test]
    fn iso_durations_of_ods_time_cells_are_read() {
        assert_eq!(iso_span("PT10H30M00S"), Ok(TimeDelta::minutes(630)));
        assert_eq!(iso_span("P1DT0H15M"), Ok(TimeDelta::minutes(1455)));
        assert_eq!(iso_span("PT0.6S"), Ok(TimeDelta::seconds(1)));
        for bad in ["10:30", "PT10X", "PT10", "P10H"] {
            assert!(iso_span(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn numbers_are_written_without_a_trailing_zero_or_exponent() {
        assert_eq!(number_text(1234.0), "1234");
        assert_eq!(number_text(491_711_234_567.0), "491711234567");
        assert_eq!(number_text(12.5), "12.5");
        assert_eq!(number_text(-3.0), "-3");
    }

    #[test]
    fn typed_dates_are_written_in_the_first_configured_format() {
        let formats = Formats {
            date: vec!["%d.%m.%Y".into()],
            time: vec!["%H.%M".into()],
            ..Formats::default()
        };
        let render = Render::new(&formats, true, false);
        let at = Data::DateTimeIso("2026-03-02T10:30:00".into());
        assert_eq!(render.text(&at, Field::Date).as_deref(), Ok("02.03.2026"));
        assert_eq!(render.text(&at, Field::Time).as_deref(), Ok("10.30"));
        let span = Data::DurationIso("PT0H20M0S".into());
        assert_eq!(render.text(&span, Field::Duration).as_deref(), Ok("20"));
        assert!(render.text(&span, Field::Date).is_err());
        let error = Data::Error(calamine::CellErrorType::NA);
        assert_eq!(
            render.text(&error, Field::Name),
            Err("holds the spreadsheet error #N/A".to_string())
        );
    }

    #[test]
    fn a_format_that_cannot_write_the_date_is_named() {
        let formats = Formats {
            date: vec!["%d.%m.%Y %z".into()],
            ..Formats::default()
        };
        let render = Render::new(&formats, true, false);
        let err = render
            .text(&Data::DateTimeIso("2026-03-02".into()), Field::Date)
            .expect_err("no zone to write");
        assert!(err.contains("%z"), "{err}");
    }

    #[test]
    fn columns_are_lettered_like_spreadsheets() {
        let letters: Vec<String> = [0, 2, 25, 26, 27, 701, 702].map(column_letters).into();
        assert_eq!(letters, ["A", "C", "Z", "AA", "AB", "ZZ", "AAA"]);
    }
}
