//! Reading bookings from an iCalendar (`.ics`) export: each VEVENT is a booking.
//!
//! The reader keeps the contract of every reader ([`crate::import::read`]): a file that is not
//! iCalendar (or is cut off before its `END:VCALENDAR`) is refused whole with one
//! [`FormatError`]; a bad VEVENT becomes a [`RowError`] on the line of its `BEGIN:VEVENT`, and
//! the events after it go on.
//!
//! What it reads, in short (details in the submodules):
//! - times: `DTSTART` with `DTEND`, `DURATION` or neither (then `formats.default_duration_minutes`);
//!   zones as [`when`] describes; all-day events (`VALUE=DATE`) are not appointments and are
//!   rejected with a reason, or skipped quietly with `all_day = "skip"`;
//! - `STATUS:CANCELLED` makes a cancelled booking; every other status an active one;
//! - the citizen and other fields through the field mapping, by the convention in [`fields`];
//! - the key is the `UID`; an occurrence of a recurring event (and an override of one, by its
//!   `RECURRENCE-ID`) is keyed `UID/20260302T090000Z`, the occurrence's original start in UTC;
//! - `RRULE`/`RDATE`/`EXDATE` expand into one booking per occurrence starting within
//!   `[now − 1 day, now + recurrence_horizon_days)` ([`recur`]); overrides replace their
//!   occurrence wherever they stand in the file, and are imported whatever their date;
//! - the same UID (and RECURRENCE-ID) twice: the highest `SEQUENCE` wins ([`index`]); the
//!   others are not errors, only counted in [`IcsReport::superseded`].
//!
//! Positions: a booking's `line` is the line of its VEVENT's `BEGIN:VEVENT`; a row that stops
//! reading is at the last line read.
//!
//! Memory: the file is read twice, streaming both times, which is why [`open_reader`] wants
//! `Seek`; three times when a UID (with its RECURRENCE-ID) is in it more than once. The first
//! pass keeps 8 bytes an event, and after it only what [`index`] says; the last pass holds one
//! VEVENT and the occurrences of one recurring event (capped). A line, VEVENT or property
//! value over the source's limits (`limits.max_line_bytes`, `max_record_bytes`,
//! `max_cell_bytes`) is found by the first pass and refuses the file whole.

mod content;
mod fields;
mod index;
mod recur;
mod when;

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::booking::BookingStatus;
use crate::domain::localtime::LocalResolution;
use crate::import::mapping::{
    Field, FieldMapping, Formats, ParseContext, ParsedRow, RowError, RowParser, RowWarning,
    WarningKind,
};
use crate::import::read::{FormatError, ReadReport, ReadRows, Records, open_path};
use content::{Block, Blocks, ContentLines, Event};
use fields::{IcsRow, Specs};
use index::Index;
use recur::Window;
use when::When;

/// How the calendar is read (`[sources.ics]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IcsOptions {
    /// How far ahead of the import recurring events are expanded, in days (1 to 3660).
    pub recurrence_horizon_days: u32,
    /// What to do with all-day events, which are not appointments.
    pub all_day: AllDay,
}

impl Default for IcsOptions {
    fn default() -> Self {
        IcsOptions {
            recurrence_horizon_days: 180,
            all_day: AllDay::Reject,
        }
    }
}

/// What an all-day event (a `DTSTART` without a time) becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AllDay {
    /// A rejected record with a reason: a booking system should not export such events.
    Reject,
    /// Left out, only counted: for calendars that also hold holidays or closing days.
    Skip,
}

/// What happened while reading, beyond the bookings themselves; final once iteration ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IcsReport {
    /// What every reader reports: its `rows` are the VEVENTs read; the warnings of the
    /// bookings handed out; why reading stopped early, if it did.
    pub read: ReadReport,
    /// Bookings handed out from recurring events (one per occurrence in the window).
    pub occurrences: u64,
    /// VEVENTs left out because a later version (higher SEQUENCE) of them is in the file.
    pub superseded: u64,
    pub all_day_skipped: u64,
}

impl AsRef<ReadReport> for IcsReport {
    fn as_ref(&self) -> &ReadReport {
        &self.read
    }
}

/// Days before the import from which occurrences of recurring events are still read.
const LOOKBACK: TimeDelta = TimeDelta::days(1);
const MAX_HORIZON_DAYS: u32 = 3660;

/// The bookings of an iCalendar export, one at a time.
pub type IcsRecords = Records<IcsRows>;

/// Reading an iCalendar export event by event ([`IcsRecords`] hands the bookings out).
pub struct IcsRows {
    blocks: Blocks<Box<dyn BufRead + Send>>,
    index: Index,
    specs: Specs,
    parser: RowParser,
    opts: IcsOptions,
    window: Window,
    default_duration: TimeDelta,
    pending: VecDeque<Result<ParsedRow, RowError>>,
    report: IcsReport,
}

/// Opens an export file and reads it once to index it (see the module documentation).
pub fn open_file(
    path: &Path,
    opts: &IcsOptions,
    fields: &FieldMapping,
    formats: &Formats,
    ctx: &ParseContext,
) -> Result<IcsRecords, FormatError> {
    open_path(path, |input, name| {
        open_reader(input, name, opts, fields, formats, ctx)
    })
}

/// Like [`open_file`] for any seekable reader; `name` stands for the file in messages.
pub fn open_reader<R: Read + Seek + Send + 'static>(
    input: R,
    name: &str,
    opts: &IcsOptions,
    fields: &FieldMapping,
    formats: &Formats,
    ctx: &ParseContext,
) -> Result<IcsRecords, FormatError> {
    open_reader_at(input, name, opts, fields, formats, ctx, Utc::now())
}

/// Like [`open_reader`], with the recurrence window counted from `now`.
pub fn open_reader_at<R: Read + Seek + Send + 'static>(
    input: R,
    name: &str,
    opts: &IcsOptions,
    fields: &FieldMapping,
    formats: &Formats,
    ctx: &ParseContext,
    now: DateTime<Utc>,
) -> Result<IcsRecords, FormatError> {
    let config = |reason: String| FormatError::Config {
        file: name.to_string(),
        reason,
    };
    if !(1..=MAX_HORIZON_DAYS).contains(&opts.recurrence_horizon_days) {
        return Err(config(format!(
            "ics.recurrence_horizon_days must be between 1 and {MAX_HORIZON_DAYS}"
        )));
    }
    let specs = Specs::new(fields).map_err(config)?;
    let parser = RowParser::new(&parser_fields(fields), formats, ctx).map_err(config)?;
    let unreadable = |source: io::Error| FormatError::Unreadable {
        file: name.to_string(),
        source,
    };
    let mut reader = BufReader::new(input);
    check_start(&mut reader, name)?;
    reader.seek(SeekFrom::Start(0)).map_err(unreadable)?;
    let limits = &ctx.limits;
    let mut first = Blocks::limited(ContentLines::limited(&mut reader, limits), limits);
    let mut index = Index::build(&mut first, ctx.tz).map_err(unreadable)?;
    if let Some(reason) = first.over() {
        return Err(FormatError::TooLarge {
            file: name.to_string(),
            reason: reason.to_string(),
        });
    }
    if !first.complete() {
        return Err(FormatError::CutOff {
            file: name.to_string(),
            at: format!("at line {}", first.lines_read()),
            reason: "it ends there without END:VCALENDAR, which closes every complete \
                     iCalendar file (was it still being written or copied?)"
                .to_string(),
        });
    }
    if index.contested() {
        reader.seek(SeekFrom::Start(0)).map_err(unreadable)?;
        let mut again = Blocks::limited(ContentLines::limited(&mut reader, limits), limits);
        index.resolve(&mut again).map_err(unreadable)?;
    }
    reader.seek(SeekFrom::Start(0)).map_err(unreadable)?;
    let input: Box<dyn BufRead + Send> = Box::new(reader);
    let horizon = TimeDelta::days(i64::from(opts.recurrence_horizon_days));
    Ok(Records::new(IcsRows {
        blocks: Blocks::limited(ContentLines::limited(input, limits), limits),
        index,
        specs,
        parser,
        opts: opts.clone(),
        window: Window {
            from: now - LOOKBACK,
            until: now + horizon,
        },
        default_duration: TimeDelta::minutes(i64::from(formats.default_duration_minutes)),
        pending: VecDeque::new(),
        report: IcsReport::default(),
    }))
}

/// Refuses, with one message, what does not begin like an iCalendar file.
fn check_start(reader: &mut impl BufRead, name: &str) -> Result<(), FormatError> {
    let first =
        ContentLines::new(reader)
            .next_line()
            .map_err(|source| FormatError::Unreadable {
                file: name.to_string(),
                source,
            })?;
    let Some(first) = first else {
        return Err(FormatError::Empty {
            file: name.to_string(),
        });
    };
    if first.text.trim().eq_ignore_ascii_case("BEGIN:VCALENDAR") {
        return Ok(());
    }
    Err(FormatError::Unreadable {
        file: name.to_string(),
        source: io::Error::new(
            io::ErrorKind::InvalidData,
            "it is not an iCalendar file: it does not begin with BEGIN:VCALENDAR \
             (is the source's kind right?)",
        ),
    })
}

/// The mapping the row parser reports by: iCalendar's names for the fixed fields.
fn parser_fields(fields: &FieldMapping) -> FieldMapping {
    FieldMapping {
        key: "UID".into(),
        date: "DTSTART".into(),
        time: None,
        end: Some("DTEND".into()),
        duration: None,
        status: None,
        ..fields.clone()
    }
}

impl ReadRows for IcsRows {
    type Report = IcsReport;

    fn read_row(&mut self) -> Option<Result<ParsedRow, RowError>> {
        if self.pending.is_empty() && !self.read_more() {
            return None;
        }
        self.pending.pop_front()
    }

    fn report(&self) -> &IcsReport {
        &self.report
    }
}

impl IcsRows {
    /// Reads events until one gives bookings (or a rejection); false at the end of the file.
    fn read_more(&mut self) -> bool {
        loop {
            let block = self.blocks.next_block();
            if let Some(reason) = self.blocks.over() {
                // The file changed since it was indexed: it is now over a limit.
                self.abort(reason.to_string());
                return true;
            }
            match block {
                Ok(Some(Block::Event(event))) => {
                    self.read_event(&event);
                    if !self.pending.is_empty() {
                        return true;
                    }
                }
                Ok(Some(Block::TimeZone(_))) => {}
                Ok(None) if self.blocks.complete() => return false,
                Ok(None) => {
                    self.abort("the file changed while it was read: it now ends early".into());
                    return true;
                }
                Err(err) => {
                    self.abort(format!(
                        "reading stopped, the rest of the file is lost: {err}"
                    ));
                    return true;
                }
            }
        }
    }

    fn abort(&mut self, reason: String) {
        let line = self.blocks.lines_read();
        let refusal = self.report.read.abort(line, reason);
        self.pending.push_back(Err(refusal));
    }

    fn read_event(&mut self, event: &Event) {
        self.report.read.rows += 1;
        if !self.index.is_current(event) {
            self.report.superseded += 1;
            return;
        }
        let uid = index::uid(event).map(str::to_owned);
        match self.bookings(event) {
            Ok(rows) => self.pending.extend(rows),
            Err(err) => self.pending.push_back(Err(RowError { key: uid, ..err })),
        }
    }

    /// The bookings of one current VEVENT: one, or one per occurrence.
    fn bookings(&mut self, event: &Event) -> Result<Vec<Result<ParsedRow, RowError>>, RowError> {
        let line = event.line;
        if let Some(reason) = &event.broken {
            return Err(reject(line, "", None, reason.clone()));
        }
        let uid = index::uid(event).ok_or_else(|| {
            let reason = "is missing; every event needs one".to_string();
            reject(line, "UID", Some(Field::Key), reason)
        })?;
        let Some((start, starts_at, how)) = self.start(event)? else {
            return Ok(Vec::new());
        };
        let shape = Shape {
            line,
            length: self.length(event, starts_at),
            texts: self.specs.texts(event),
            cancelled: event
                .prop("STATUS")
                .is_some_and(|s| s.value.trim().eq_ignore_ascii_case("CANCELLED")),
        };
        if let Some(rid) = event.prop("RECURRENCE-ID") {
            let original = self.index.zones.when(rid).ok().and_then(When::instant);
            let (original, _) = original.ok_or_else(|| {
                let reason = "is not a date-time".to_string();
                reject(line, "RECURRENCE-ID", Some(Field::Key), reason)
            })?;
            let row = self.row(&shape, occurrence_key(uid, original), starts_at);
            return Ok(vec![self.with_time_warning(row, how)]);
        }
        if event.prop("RRULE").is_none() && event.prop("RDATE").is_none() {
            let row = self.row(&shape, uid.to_string(), starts_at);
            return Ok(vec![self.with_time_warning(row, how)]);
        }
        let overridden = self.index.overridden(uid);
        let starts = recur::occurrences(event, start, &self.index.zones, self.window, overridden)
            .map_err(|why| reject(line, "RRULE", None, why))?;
        self.report.occurrences += starts.len() as u64;
        let rows: Vec<_> = starts
            .into_iter()
            .map(|at| self.row(&shape, occurrence_key(uid, at), at))
            .collect();
        Ok(rows
            .into_iter()
            .map(|row| self.report.read.noted(row))
            .collect())
    }

    /// One booking of the event, starting at `at`.
    fn row(&self, shape: &Shape, key: String, at: DateTime<Utc>) -> Result<ParsedRow, RowError> {
        let row = IcsRow {
            key,
            start: at.to_rfc3339(),
            end: (at + *shape.length.as_ref().unwrap_or(&self.default_duration)).to_rfc3339(),
            texts: &shape.texts,
        };
        self.parser.parse(shape.line, &row).map(|mut parsed| {
            if shape.cancelled {
                parsed.record.status = BookingStatus::Cancelled;
            }
            if let Err((property, reason)) = &shape.length {
                parsed.warnings.push(RowWarning {
                    line: shape.line,
                    field: (*property).into(),
                    target: Field::End,
                    kind: WarningKind::EndGuessed {
                        reason: format!(
                            "{reason}; imported with the default length of {} minutes",
                            self.default_duration.num_minutes()
                        ),
                    },
                });
            }
            parsed
        })
    }

    /// DTSTART as written and as an instant; `None` for an all-day event that is skipped.
    fn start(
        &mut self,
        event: &Event,
    ) -> Result<Option<(When, DateTime<Utc>, LocalResolution)>, RowError> {
        let line = event.line;
        let date_error = |reason: String| reject(line, "DTSTART", Some(Field::Date), reason);
        let prop = event
            .prop("DTSTART")
            .ok_or_else(|| date_error("is missing; every booking needs a start".into()))?;
        let start = self.index.zones.when(prop).map_err(date_error)?;
        if let Some((at, how)) = start.instant() {
            return Ok(Some((start, at, how)));
        }
        match self.opts.all_day {
            AllDay::Skip => {
                self.report.all_day_skipped += 1;
                Ok(None)
            }
            AllDay::Reject => Err(date_error(
                "is a date without a time (an all-day event), not an appointment; \
                 ics.all_day = \"skip\" leaves such events out quietly"
                    .into(),
            )),
        }
    }

    /// From DTEND, DURATION, or the default duration. An end that cannot be used (unreadable,
    /// not after the start) is the property and the reason: the booking is imported with the
    /// default duration and a warning, since the citizen relies on the start.
    fn length(
        &self,
        event: &Event,
        starts_at: DateTime<Utc>,
    ) -> Result<TimeDelta, (&'static str, String)> {
        let (length, name) = if let Some(prop) = event.prop("DTEND") {
            let end = self.index.zones.when(prop).map_err(|why| ("DTEND", why))?;
            let (ends_at, _) = end.instant().ok_or((
                "DTEND",
                "is a date without a time while DTSTART has one".to_string(),
            ))?;
            (ends_at - starts_at, "DTEND")
        } else if let Some(prop) = event.prop("DURATION") {
            (
                when::duration(&prop.value).map_err(|why| ("DURATION", why))?,
                "DURATION",
            )
        } else {
            return Ok(self.default_duration);
        };
        if length <= TimeDelta::zero() {
            return Err((name, "makes the end not later than the start".to_string()));
        }
        Ok(length)
    }

    /// Adds the warning for a start at an odd local time, and counts the row's warnings.
    fn with_time_warning(
        &mut self,
        row: Result<ParsedRow, RowError>,
        how: LocalResolution,
    ) -> Result<ParsedRow, RowError> {
        let kind = match how {
            LocalResolution::Exact => None,
            LocalResolution::Ambiguous => Some(WarningKind::RepeatedLocalTime),
            LocalResolution::Shifted => Some(WarningKind::SkippedLocalTime),
        };
        let row = row.map(|mut parsed| {
            if let Some(kind) = kind {
                parsed.warnings.push(RowWarning {
                    line: parsed.line,
                    field: "DTSTART".into(),
                    target: Field::Date,
                    kind,
                });
            }
            parsed
        });
        self.report.read.noted(row)
    }
}

/// What every booking of one VEVENT shares.
struct Shape {
    line: u64,
    /// The length, or the property and reason it could not be used (the default is taken).
    length: Result<TimeDelta, (&'static str, String)>,
    texts: [Option<String>; Field::ALL.len()],
    cancelled: bool,
}

/// The key of one occurrence: the UID and the occurrence's original start in UTC.
fn occurrence_key(uid: &str, original: DateTime<Utc>) -> String {
    format!("{uid}/{}", original.format("%Y%m%dT%H%M%SZ"))
}

fn reject(line: u64, property: &str, target: Option<Field>, reason: String) -> RowError {
    RowError {
        line,
        field: property.to_string(),
        target,
        reason,
        key: None,
        cell: None,
    }
}

#[cfg(test)]
mod tests;
