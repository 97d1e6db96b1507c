//! Reading a row's start and end: dates, times and date-times in the source's formats or as
//! offices write them, local times in the tenant's zone (odd ones warned about), an end or a
//! duration, or the default length.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc};

use super::parse::{Cells, RowParser};
use super::{Field, RowError, RowSource, RowWarning, WarningKind};
use crate::domain::localtime::{LocalResolution, resolve_local_detailed};

/// A start or end as written: a local wall-clock time, or an instant with its own offset.
pub(super) enum Written {
    Local(NaiveDateTime),
    Instant(DateTime<Utc>),
}

impl RowParser {
    pub(super) fn start(
        &self,
        cells: &Cells<'_, impl RowSource>,
        warnings: &mut Vec<RowWarning>,
    ) -> Result<(DateTime<Utc>, NaiveDateTime), RowError> {
        let date_text = cells.required(Field::Date, "every booking needs a date")?;
        let written = if self.fields.time.is_some() {
            let date = self.date(cells, Field::Date, &date_text)?;
            let time_text = cells.required(Field::Time, "the time is missing")?;
            let time = self.time(cells, Field::Time, &time_text)?;
            Written::Local(date.and_time(time))
        } else {
            self.datetime(cells, Field::Date, &date_text)?
        };
        let at = self.instant(cells, Field::Date, written, warnings);
        Ok((at, at.with_timezone(&self.ctx.tz).naive_local()))
    }

    /// The end: an end column (a time on the start's day, or a date-time), else a duration
    /// column, else the default duration. An end that cannot be read, or does not come after
    /// the start, costs the booking only its length: the citizen relies on the start, so the
    /// default duration is taken and a warning names the cell.
    pub(super) fn end(
        &self,
        cells: &Cells<'_, impl RowSource>,
        starts_at: DateTime<Utc>,
        start_local: NaiveDateTime,
        warnings: &mut Vec<RowWarning>,
    ) -> Result<DateTime<Utc>, RowError> {
        let default_end = || {
            // A start at the edge of time (a year like +262142 that `%Y` accepts) has no end.
            starts_at
                .checked_add_signed(self.default_duration)
                .ok_or_else(|| {
                    cells.error(
                        Field::Date,
                        "the start lies too far in the future to have an end".to_owned(),
                    )
                })
        };
        // A cell that cannot be read as text at all (a date in a spreadsheet's duration
        // column) is a problem with the end too, not with the booking.
        let read = |field| cells.optional(field).map_err(|e| e.reason);
        let (written, field) = match (read(Field::End), read(Field::Duration)) {
            (Err(reason), _) => (Err(reason), Field::End),
            (Ok(Some(text)), _) => (
                self.written_end(cells, &text, start_local, warnings),
                Field::End,
            ),
            (Ok(None), Err(reason)) => (Err(reason), Field::Duration),
            (Ok(None), Ok(Some(text))) => {
                let end = parse_minutes(&text)
                    .ok_or_else(|| format!("{} is not a number of minutes", quoted(&text)))
                    .and_then(|minutes| {
                        TimeDelta::try_minutes(minutes)
                            .and_then(|d| starts_at.checked_add_signed(d))
                            .ok_or_else(|| {
                                format!(
                                    "{} minutes after the start is past any date",
                                    quoted(&text)
                                )
                            })
                    });
                (end, Field::Duration)
            }
            (Ok(None), Ok(None)) => return default_end(),
        };
        let tz = self.ctx.tz;
        let show = |at: DateTime<Utc>| at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string();
        let problem = match written {
            Ok(ends_at) if ends_at > starts_at => return Ok(ends_at),
            Ok(ends_at) => format!(
                "the end {} is not after the start {}",
                show(ends_at),
                show(starts_at)
            ),
            Err(reason) => reason,
        };
        let minutes = self.default_duration.num_minutes();
        warnings.push(cells.warning(
            field,
            WarningKind::EndGuessed {
                reason: format!("{problem}; imported with the default length of {minutes} minutes"),
            },
        ));
        default_end()
    }

    /// An end cell: a time on the start's day, or a date-time.
    pub(super) fn written_end(
        &self,
        cells: &Cells<'_, impl RowSource>,
        text: &str,
        start_local: NaiveDateTime,
        warnings: &mut Vec<RowWarning>,
    ) -> Result<DateTime<Utc>, String> {
        let written = match self.read_time(text) {
            Some(time) => Written::Local(start_local.date().and_time(time)),
            None => self.datetime(cells, Field::End, text).map_err(|_| {
                let (time, datetime) = (self.time.describe(), self.datetime.describe());
                format!(
                    "{} is not a time {time} nor a date-time {datetime}",
                    quoted(text)
                )
            })?,
        };
        Ok(self.instant(cells, Field::End, written, warnings))
    }

    pub(super) fn date(
        &self,
        cells: &Cells<'_, impl RowSource>,
        field: Field,
        text: &str,
    ) -> Result<NaiveDate, RowError> {
        let read = |text: &str| self.date.parse(text, |p| p.to_naive_date().ok());
        read(text)
            .or_else(|| date_part(text).and_then(read))
            .ok_or_else(|| {
                cells.error(
                    field,
                    format!("{} is not a date {}", quoted(text), self.date.describe()),
                )
            })
    }

    /// A time in the configured formats, or as offices also write it (see [`time_text`]).
    pub(super) fn read_time(&self, text: &str) -> Option<NaiveTime> {
        let read = |text: &str| self.time.parse(text, |p| p.to_naive_time().ok());
        read(text).or_else(|| time_text(text).and_then(|t| read(&t)))
    }

    pub(super) fn time(
        &self,
        cells: &Cells<'_, impl RowSource>,
        field: Field,
        text: &str,
    ) -> Result<NaiveTime, RowError> {
        self.read_time(text).ok_or_else(|| {
            cells.error(
                field,
                format!("{} is not a time {}", quoted(text), self.time.describe()),
            )
        })
    }

    pub(super) fn datetime(
        &self,
        cells: &Cells<'_, impl RowSource>,
        field: Field,
        text: &str,
    ) -> Result<Written, RowError> {
        if let Ok(at) = DateTime::parse_from_rfc3339(text) {
            return Ok(Written::Instant(at.with_timezone(&Utc)));
        }
        let local = self
            .datetime
            .parse(text, |p| p.to_naive_datetime_with_offset(0).ok());
        local.map(Written::Local).ok_or_else(|| {
            let formats = self.datetime.describe();
            cells.error(
                field,
                format!("{} is not a date-time {formats} or RFC 3339", quoted(text)),
            )
        })
    }

    pub(super) fn instant(
        &self,
        cells: &Cells<'_, impl RowSource>,
        field: Field,
        written: Written,
        warnings: &mut Vec<RowWarning>,
    ) -> DateTime<Utc> {
        let local = match written {
            Written::Instant(at) => return at,
            Written::Local(local) => local,
        };
        let (at, how) = resolve_local_detailed(self.ctx.tz, local);
        let kind = match how {
            LocalResolution::Exact => return at,
            LocalResolution::Ambiguous => WarningKind::RepeatedLocalTime,
            LocalResolution::Shifted => WarningKind::SkippedLocalTime,
        };
        // The time column, when there is one, is where the odd time was written.
        let field = match (field, self.fields.time.is_some()) {
            (Field::Date, true) => Field::Time,
            _ => field,
        };
        warnings.push(cells.warning(field, kind));
        at
    }
}

/// The date of a cell that holds more than the date, as spreadsheets and people write it: with
/// a time after it (`07.01.2030 00:00:00`, a spreadsheet's date cell) or a weekday before it
/// (`Mo, 07.01.2030`). `None` when there is nothing to take off.
fn date_part(text: &str) -> Option<&str> {
    let whole = text.trim();
    let mut date = whole;
    if let Some((day, rest)) = date.split_once(',')
        && !day.trim().is_empty()
        && day.trim().chars().all(char::is_alphabetic)
    {
        date = rest.trim();
    }
    if let Some((day, time)) = date.split_once([' ', 'T'])
        && time.trim_start().starts_with(|c: char| c.is_ascii_digit())
        && time.contains(':')
    {
        date = day;
    }
    (date != whole).then_some(date)
}

/// A time as offices write it besides `HH:MM`: `9.00`, `9,00`, `9 Uhr`, `09:00 Uhr`, `0900`,
/// `9`, or after a date (`1899-12-30 09:00:00`: a spreadsheet's time cell exported as a
/// date-time). `None` when it reads no differently.
fn time_text(text: &str) -> Option<String> {
    let whole = text.trim();
    let mut time = whole.to_lowercase();
    if let Some(rest) = time.strip_suffix("uhr").or_else(|| time.strip_suffix('h')) {
        time = rest.trim().to_owned();
    }
    if let Some((_, after)) = time.rsplit_once([' ', 'T', 't'])
        && after.contains(':')
    {
        time = after.to_owned();
    }
    if !time.contains(':') && time.matches(['.', ',']).count() == 1 && time.len() <= 5 {
        time = time.replace(['.', ','], ":");
    }
    if time.bytes().all(|b| b.is_ascii_digit()) {
        time = match time.len() {
            1 | 2 => format!("{time}:00"),
            3 | 4 => format!("{}:{}", &time[..time.len() - 2], &time[time.len() - 2..]),
            _ => return None,
        };
    }
    (time != whole).then_some(time)
}

/// A value for a message, cut short so a misplaced long text cannot flood a report.
fn quoted(text: &str) -> String {
    const MAX: usize = 40;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}

/// Minutes as exports write them: `15`, `15 min`, `15 Minuten`.
fn parse_minutes(text: &str) -> Option<i64> {
    let digits = text
        .trim_end_matches(|c: char| c.is_alphabetic() || c == '.')
        .trim();
    digits.parse::<u32>().ok().map(i64::from)
}
