//! Reading bookings from a JSON or NDJSON export, streaming, record by record.
//!
//! Layouts (`[sources.json] layout`): `ndjson` (one object per line), `array` (a JSON array
//! of objects, at the top level or at `records_path`), and `auto`, the default: a file that
//! starts with `[` (or any file when `records_path` is set) is an array, one that starts with
//! `{` is NDJSON.
//!
//! Field paths (`[sources.fields]`): object keys joined by dots, with numeric segments
//! indexing lists: `customer.email`, `services.0.name`; `attendees[0].email` is accepted as
//! the same as `attendees.0.email`. A flat key that itself contains dots (`"Termin.Nr"`) is
//! found too, when the dotted walk finds nothing. `records_path` is object keys only
//! (`data.appointments`). A missing path or `null` is an empty field; numbers and booleans
//! become their text (`1234`, `true`); a list or object where a value is expected rejects
//! the record. With `epoch = "seconds"` or `"milliseconds"`, a number (or a text of digits)
//! in the start or end field is a Unix time.
//!
//! Memory stays bounded: NDJSON is read line by line; an array is walked by a small `serde::de::Visitor` over `serde_json::Deserializer` on its
//! own thread (`json::stream`), which hands the elements in batches through a bounded channel,
//! so only a few hundred records exist at a time. `json::record` turns one record into a row.
//! A line or record over `limits.max_line_bytes` / `max_record_bytes`, or a value over
//! `max_cell_bytes`, stops reading there and refuses the import whole ([`Limits`]).
//!
//! Positions: [`RowError::line`] and [`ParsedRow::line`] are the physical line for NDJSON and
//! the 1-based record index for arrays. A syntax error stops reading (the report is
//! `aborted`: the snapshot is incomplete, and the import is refused whole) and its message
//! carries serde_json's line and column; a file that ends inside a record or before its array
//! is closed is said to look cut off there. A file that is not JSON at all, or whose first record has none of the mapped
//! paths, is refused whole with one [`JsonFormatError`]. The [`ReadReport`] is the CSV
//! reader's: `rows` counts records, `blank_rows` blank NDJSON lines.

mod record;
mod stream;

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::import::csv::ReadReport;
use crate::import::limits::{Limit, Limits};
use crate::import::mapping::{
    Field, FieldMapping, Formats, ParseContext, ParsedRow, RowError, RowParser,
};
use record::{JsonRow, Paths, kind};
use stream::Elements;

/// Blank space allowed before the first record.
const MAX_LEADING_BLANK: usize = 1024 * 1024;
/// Keys listed in a refusal, so the operator sees what the file has instead.
const SHOW_KEYS: usize = 12;

/// How the export is laid out (`[sources.json]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JsonOptions {
    pub layout: Layout,
    /// Object keys leading to the array of records, like `data.appointments`.
    pub records_path: Option<String>,
    /// Whether numbers in the start and end fields are Unix seconds or milliseconds.
    pub epoch: Option<Epoch>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// One JSON object per line.
    Ndjson,
    /// A JSON array of objects, at the top level or at `records_path`.
    Array,
    /// `[` or a `records_path`: array; `{`: NDJSON.
    #[default]
    Auto,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Epoch {
    Seconds,
    Milliseconds,
}

/// A whole export refused; the message names the file and never repeats a value from it.
#[derive(Debug, thiserror::Error)]
pub enum JsonFormatError {
    #[error("{file}: cannot be read: {source}")]
    Unreadable { file: String, source: io::Error },
    #[error("{file}: is empty, there is not a single record")]
    Empty { file: String },
    #[error("{file}: is not {expected}: {reason}{}", hint_suffix(.hint))]
    NotJson {
        file: String,
        /// "JSON", "NDJSON (one object per line)".
        expected: &'static str,
        /// What is wrong, with line and column.
        reason: String,
        hint: Option<String>,
    },
    /// `records_path` leads nowhere, or not to an array.
    #[error("{file}: {reason}")]
    NoRecords { file: String, reason: String },
    #[error("{file}: {}", missing_message(.position, .missing, .keys, *.not_object))]
    MissingPaths {
        file: String,
        /// "line 1" or "record 1".
        position: String,
        /// Every mapped path, with its booking field: the first record has none of them.
        missing: Vec<(String, Field)>,
        /// The first record's keys (names, not values).
        keys: Vec<String>,
        /// What the first record is, when not an object: "a list".
        not_object: Option<&'static str>,
    },
    #[error("{file}: the source's configuration is not usable: {reason}")]
    Config { file: String, reason: String },
    /// The file ends inside its first record: cut off, or still being written.
    #[error("{file}: {reason}")]
    CutOff { file: String, reason: String },
    /// A line, record or value over the source's limits; `reason` names where and which.
    #[error("{file}: {reason}")]
    TooLarge { file: String, reason: String },
}

fn hint_suffix(hint: &Option<String>) -> String {
    hint.as_ref().map(|h| format!("; {h}")).unwrap_or_default()
}

fn missing_message(
    position: &str,
    missing: &[(String, Field)],
    keys: &[String],
    not_object: Option<&str>,
) -> String {
    let missing: Vec<String> = missing
        .iter()
        .map(|(path, field)| format!("{path:?} ({})", field.as_str()))
        .collect();
    let found = match not_object {
        Some(what) => format!("it is {what}, not an object"),
        None if keys.is_empty() => "it is an empty object".to_string(),
        None => format!("its keys are {}", list_keys(keys)),
    };
    format!(
        "the first record ({position}) has none of the mapped paths {}; {found}",
        missing.join(", ")
    )
}

fn list_keys(keys: &[String]) -> String {
    let shown: Vec<String> = keys.iter().map(|k| format!("{:?}", cut(k))).collect();
    shown.join(", ")
}

/// A key for a message, cut short: keys are names, but a file may abuse them.
fn cut(text: &str) -> &str {
    text.char_indices()
        .nth(40)
        .map_or(text, |(at, _)| &text[..at])
}

/// The bookings of an export, one record at a time.
pub struct JsonRecords {
    source: Source,
    /// The first record, read while opening to check the mapping.
    pending: Option<Pulled>,
    parser: RowParser,
    paths: Paths,
    epoch: Option<Epoch>,
    limits: Limits,
    report: ReadReport,
    done: bool,
}

impl fmt::Debug for JsonRecords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonRecords")
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
}

/// Opens an export file and reads its first record.
pub fn open_file(
    path: &Path,
    opts: &JsonOptions,
    fields: &FieldMapping,
    formats: &Formats,
    ctx: &ParseContext,
) -> Result<JsonRecords, JsonFormatError> {
    let file = path.display().to_string();
    let handle = File::open(path).map_err(|source| JsonFormatError::Unreadable {
        file: file.clone(),
        source,
    })?;
    open_reader(handle, &file, opts, fields, formats, ctx)
}

/// Like [`open_file`] for any reader; `name` stands for the file in messages.
pub fn open_reader<R: Read + Send + 'static>(
    input: R,
    name: &str,
    opts: &JsonOptions,
    fields: &FieldMapping,
    formats: &Formats,
    ctx: &ParseContext,
) -> Result<JsonRecords, JsonFormatError> {
    let file = name.to_string();
    let config = |reason: String| JsonFormatError::Config {
        file: file.clone(),
        reason,
    };
    let parser = RowParser::new(fields, formats, ctx).map_err(config)?;
    let paths = Paths::compile(fields).map_err(config)?;
    let records_path = records_path(opts).map_err(config)?;
    let (first, input) = sniff(input).map_err(|source| JsonFormatError::Unreadable {
        file: file.clone(),
        source,
    })?;
    let first = first.ok_or_else(|| JsonFormatError::Empty { file: file.clone() })?;
    let limits = ctx.limits;
    let mut source = match (opts.layout, records_path) {
        (Layout::Ndjson, _) => Source::lines(input, limits),
        (_, Some(path)) => Source::array(input, path, limits),
        (Layout::Array, None) => Source::array(input, Vec::new(), limits),
        (Layout::Auto, None) if first == b'[' => Source::array(input, Vec::new(), limits),
        (Layout::Auto, None) if first == b'{' => Source::lines(input, limits),
        (Layout::Auto, None) => {
            return Err(JsonFormatError::NotJson {
                file,
                expected: "JSON",
                reason: "it starts with neither \"[\" nor \"{\"".to_string(),
                hint: None,
            });
        }
    };
    let mut report = ReadReport::default();
    let pending = source.next(&mut report);
    check_first(&file, &source, pending.as_ref(), &paths, first)?;
    Ok(JsonRecords {
        source,
        pending,
        parser,
        paths,
        epoch: opts.epoch,
        limits,
        report,
        done: false,
    })
}

fn records_path(opts: &JsonOptions) -> Result<Option<Vec<String>>, String> {
    let Some(text) = &opts.records_path else {
        return Ok(None);
    };
    if opts.layout == Layout::Ndjson {
        return Err(
            "json.records_path is for arrays; it cannot be used with layout \"ndjson\"".into(),
        );
    }
    let keys: Vec<String> = text.trim().split('.').map(str::to_string).collect();
    if keys.iter().any(String::is_empty) {
        return Err(format!(
            "json.records_path {text:?} is not a path of keys like \"data.appointments\""
        ));
    }
    Ok(Some(keys))
}

/// The refusals that only the first record can tell: not JSON, records not where configured,
/// or a mapping that matches nothing in it.
fn check_first(
    file: &str,
    source: &Source,
    first: Option<&Pulled>,
    paths: &Paths,
    first_byte: u8,
) -> Result<(), JsonFormatError> {
    let file = file.to_string();
    match first {
        None => match source {
            Source::Lines(_) => Err(JsonFormatError::Empty { file }),
            Source::Array(_) => Ok(()),
        },
        Some(Pulled::Missing(reason)) => Err(JsonFormatError::NoRecords {
            file,
            reason: reason.clone(),
        }),
        Some(Pulled::TooLarge { reason, .. }) => Err(JsonFormatError::TooLarge {
            file,
            reason: reason.clone(),
        }),
        Some(Pulled::Failed {
            reason, io: true, ..
        }) => Err(JsonFormatError::Unreadable {
            file,
            source: io::Error::other(reason.clone()),
        }),
        // Cut off, unless the file is plainly of another layout ("[" read as NDJSON).
        Some(Pulled::Failed {
            reason, cut: true, ..
        }) if not_json_hint(source, first_byte, false).is_none() => Err(JsonFormatError::CutOff {
            file,
            reason: reason.clone(),
        }),
        Some(Pulled::Failed { reason, eof, .. }) => Err(JsonFormatError::NotJson {
            file,
            expected: source.expected(),
            reason: reason.clone(),
            hint: not_json_hint(source, first_byte, *eof),
        }),
        Some(Pulled::Record(position, value)) if !paths.any_in(value) => {
            Err(JsonFormatError::MissingPaths {
                file,
                position: source.describe(*position),
                missing: paths.listed(),
                keys: value
                    .as_object()
                    .map(|o| o.keys().take(SHOW_KEYS).cloned().collect())
                    .unwrap_or_default(),
                not_object: Some(kind(value)).filter(|_| !value.is_object()),
            })
        }
        Some(Pulled::Record(..)) => Ok(()),
    }
}

fn not_json_hint(source: &Source, first_byte: u8, eof: bool) -> Option<String> {
    match source {
        Source::Lines(_) if first_byte == b'[' => {
            Some("the file is one JSON array: is json.layout \"array\"?".into())
        }
        Source::Lines(_) if eof => Some(
            "a record spans several lines: if the records are an array inside one object, \
             set json.records_path"
                .into(),
        ),
        _ => None,
    }
}

/// Skips a UTF-8 BOM and finds the first byte that is not blank, keeping the blank bytes so
/// line numbers stay right.
fn sniff<R: Read + Send + 'static>(input: R) -> io::Result<(Option<u8>, Box<dyn BufRead + Send>)> {
    let mut reader = BufReader::with_capacity(64 * 1024, input);
    if reader.fill_buf()?.starts_with(b"\xef\xbb\xbf") {
        reader.consume(3);
    }
    let mut blank = Vec::new();
    let first = loop {
        let buf = reader.fill_buf()?;
        let Some(at) = buf.iter().position(|b| !b.is_ascii_whitespace()) else {
            if buf.is_empty() {
                break None;
            }
            let n = buf.len();
            blank.extend_from_slice(buf);
            reader.consume(n);
            if blank.len() > MAX_LEADING_BLANK {
                break None;
            }
            continue;
        };
        break Some(buf[at]);
    };
    Ok((first, Box::new(io::Cursor::new(blank).chain(reader))))
}

impl JsonRecords {
    /// Counts and warnings so far; final once the iterator returned `None`.
    pub fn report(&self) -> &ReadReport {
        &self.report
    }

    fn read_record(&mut self) -> Option<Result<ParsedRow, RowError>> {
        let pulled = match self.pending.take() {
            Some(pulled) => pulled,
            None => self.source.next(&mut self.report)?,
        };
        let (position, value) = match pulled {
            Pulled::Record(position, value) => (position, value),
            Pulled::Missing(_) => return None,
            Pulled::Failed {
                position,
                reason,
                cut,
                ..
            } => return Some(Err(self.abort(position, reason, cut))),
            Pulled::TooLarge { position, reason } => {
                return Some(Err(self.abort(position, reason, true)));
            }
        };
        let cap = self.limits.get(Limit::Cell);
        if longest_text(&value) > cap {
            let at = self.source.describe(position);
            let reason = self.limits.exceeded(Limit::Cell, at, "a value");
            return Some(Err(self.abort(position, reason, true)));
        }
        self.report.rows += 1;
        if !value.is_object() {
            return Some(Err(RowError {
                line: position,
                field: String::new(),
                target: None,
                reason: format!("is {}, not an object", kind(&value)),
                key: None,
                cell: None,
            }));
        }
        let row = JsonRow {
            value: &value,
            paths: &self.paths,
            epoch: self.epoch,
        };
        let parsed = self.parser.parse(position, &row);
        if let Ok(parsed) = &parsed {
            parsed.warnings.iter().for_each(|w| self.report.note(w));
        }
        Some(parsed)
    }

    /// Stops reading: the snapshot is incomplete. `plain`: the reason says it all (the file
    /// looks cut off, or went over a limit), else it is why reading broke off.
    fn abort(&mut self, position: u64, reason: String, plain: bool) -> RowError {
        self.done = true;
        let reason = match plain {
            true => reason,
            false => format!("reading stopped, the rest of the file is lost: {reason}"),
        };
        self.report.aborted = Some(reason.clone());
        RowError {
            line: position,
            field: String::new(),
            target: None,
            reason,
            key: None,
            cell: None,
        }
    }
}

impl Iterator for JsonRecords {
    type Item = Result<ParsedRow, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.read_record();
        if item.is_none() {
            self.done = true;
        }
        item
    }
}

/// What the layout reader produced next.
#[derive(Debug)]
enum Pulled {
    /// A record with its position (line or 1-based index).
    Record(u64, Value),
    /// `records_path` leads nowhere or not to an array: why.
    Missing(String),
    /// A line, record or key over the source's limits: reading stopped there.
    TooLarge { position: u64, reason: String },
    /// Reading cannot go on.
    Failed {
        position: u64,
        reason: String,
        /// An I/O error rather than bad JSON.
        io: bool,
        /// The input ended inside a value.
        eof: bool,
        /// The file ends in the middle of its last record: it looks cut off, which `reason`
        /// says with the position.
        cut: bool,
    },
}

enum Source {
    Lines(Lines),
    Array(Elements),
}

impl Source {
    fn lines(input: Box<dyn BufRead + Send>, limits: Limits) -> Source {
        Source::Lines(Lines {
            input,
            buf: Vec::new(),
            line: 0,
            limits,
        })
    }

    fn array(input: Box<dyn BufRead + Send>, path: Vec<String>, limits: Limits) -> Source {
        Source::Array(Elements::spawn(input, path, limits))
    }

    fn next(&mut self, report: &mut ReadReport) -> Option<Pulled> {
        match self {
            Source::Lines(lines) => lines.next(report),
            Source::Array(elements) => elements.next(),
        }
    }

    fn expected(&self) -> &'static str {
        match self {
            Source::Lines(_) => "NDJSON (one JSON object per line)",
            Source::Array(_) => "JSON",
        }
    }

    fn describe(&self, position: u64) -> String {
        match self {
            Source::Lines(_) => format!("line {position}"),
            Source::Array(_) => format!("record {position}"),
        }
    }
}

/// NDJSON: one reused line buffer.
struct Lines {
    input: Box<dyn BufRead + Send>,
    buf: Vec<u8>,
    line: u64,
    limits: Limits,
}

impl Lines {
    fn next(&mut self, report: &mut ReadReport) -> Option<Pulled> {
        loop {
            self.buf.clear();
            self.line += 1;
            // A line is a record: the smaller limit holds, and nothing past it is held.
            let (line_cap, record_cap) =
                (self.limits.get(Limit::Line), self.limits.get(Limit::Record));
            let cap = line_cap.min(record_cap);
            let read = (&mut self.input)
                .take(cap + 1)
                .read_until(b'\n', &mut self.buf);
            match read {
                Ok(0) => return None,
                Ok(_) => {}
                Err(err) => return Some(self.failed(format!("cannot be read: {err}"), true)),
            }
            let content = self.buf.len() - usize::from(self.buf.ends_with(b"\n"));
            if content as u64 > cap {
                let (which, what) = match line_cap <= record_cap {
                    true => (Limit::Line, "a line"),
                    false => (Limit::Record, "a record"),
                };
                let at = format!("line {}", self.line);
                let reason = self.limits.exceeded(which, at, what);
                return Some(Pulled::TooLarge {
                    position: self.line,
                    reason,
                });
            }
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                report.blank_rows += 1;
                continue;
            }
            return Some(match serde_json::from_slice::<Value>(&self.buf) {
                Ok(value) => Pulled::Record(self.line, value),
                Err(err) => {
                    // The last line, without its line break, ends inside its record.
                    let cut = err.is_eof() && !self.buf.ends_with(b"\n");
                    let (line, column) = (self.line, self.column(&err));
                    let reason = match cut {
                        true => format!(
                            "looks cut off at line {line}, column {column}: the last record \
                             ends in the middle ({})",
                            without_position(&err)
                        ),
                        false => {
                            format!("{} at line {line} column {column}", without_position(&err))
                        }
                    };
                    Pulled::Failed {
                        position: self.line,
                        reason,
                        io: err.is_io(),
                        eof: err.is_eof(),
                        cut,
                    }
                }
            });
        }
    }

    /// serde_json's column, or the line's end when the value ran past it (past the newline).
    fn column(&self, err: &serde_json::Error) -> usize {
        match err.line() {
            1 => err.column(),
            _ => self.buf.trim_ascii_end().len(),
        }
    }

    fn failed(&self, reason: String, io: bool) -> Pulled {
        Pulled::Failed {
            position: self.line,
            reason,
            io,
            eof: false,
            cut: false,
        }
    }
}

/// The length of the longest text in `value`, keys included.
fn longest_text(value: &Value) -> u64 {
    let len = |t: &String| t.len() as u64;
    match value {
        Value::String(t) => len(t),
        Value::Array(items) => items.iter().map(longest_text).max().unwrap_or(0),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| len(k).max(longest_text(v)))
            .max()
            .unwrap_or(0),
        _ => 0,
    }
}

/// serde_json's message without its " at line L column C", for a line read on its own.
fn without_position(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rsplit_once(" at line ") {
        Some((message, _)) => message.to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::booking::BookingRecord;
    use chrono::{DateTime, TimeZone, Utc};
    use serde::de::IgnoredAny;
    use serde_json::json;

    fn fields() -> FieldMapping {
        let some = |s: &str| Some(s.to_string());
        FieldMapping {
            key: "id".into(),
            date: "start".into(),
            end: some("end"),
            service: "services.0.name".into(),
            name: "customer.name".into(),
            email: Some("customer.email".into()),
            phone: Some("attendees[0].phone".into()),
            ..FieldMapping::default()
        }
    }

    fn ctx() -> ParseContext {
        ParseContext {
            tz: chrono_tz::Europe::Berlin,
            default_language: None,
            limits: Default::default(),
        }
    }

    fn record(id: Value, start: Value) -> Value {
        json!({
            "id": id,
            "start": start,
            "services": [{"name": "Pass"}],
            "customer": {"name": "Erika Mustermann", "email": "erika@example.org"},
            "attendees": [{"phone": 491711234567_u64}],
        })
    }

    fn ndjson(records: &[Value]) -> String {
        records.iter().map(|r| format!("{r}\n")).collect()
    }

    fn open_with(text: &str, opts: &JsonOptions) -> Result<JsonRecords, JsonFormatError> {
        let input = io::Cursor::new(text.as_bytes().to_vec());
        let formats = Formats::default();
        open_reader(input, "termine.json", opts, &fields(), &formats, &ctx())
    }

    fn read_with(text: &str, opts: &JsonOptions) -> (Vec<Result<ParsedRow, RowError>>, ReadReport) {
        let mut records = open_with(text, opts).unwrap_or_else(|e| panic!("refused: {e}"));
        let rows: Vec<_> = records.by_ref().collect();
        (rows, records.report().clone())
    }

    fn read(text: &str) -> (Vec<Result<ParsedRow, RowError>>, ReadReport) {
        read_with(text, &JsonOptions::default())
    }

    fn ok(row: &Result<ParsedRow, RowError>) -> &BookingRecord {
        row.as_ref()
            .map(|parsed| &parsed.record)
            .unwrap_or_else(|err| panic!("record refused: {err}"))
    }

    fn keys(rows: &[Result<ParsedRow, RowError>]) -> Vec<&str> {
        rows.iter()
            .filter_map(|r| r.as_ref().ok())
            .map(|r| r.record.key.as_str())
            .collect()
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("valid")
    }

    #[test]
    fn ndjson_is_read_line_by_line_through_nested_paths() {
        let text = ndjson(&[
            record(json!(1234), json!("2026-03-02T10:30:00")),
            record(json!("B-7"), json!("02.03.2026 11:00")),
        ]);
        let (rows, report) = read(&format!("\n{text}\n"));
        let first = ok(&rows[0]);
        assert_eq!(first.key, "1234", "a numeric id becomes text");
        assert_eq!(first.starts_at, utc(2026, 3, 2, 9, 30));
        assert_eq!(first.service, "Pass");
        assert_eq!(first.name, "Erika Mustermann");
        assert_eq!(
            first.email.as_ref().map(|e| e.as_str()),
            Some("erika@example.org")
        );
        let phone = first.phone.as_ref().expect("a numeric phone is read");
        assert_eq!(phone.e164.as_deref(), Some("+491711234567"));
        assert_eq!(rows[1].as_ref().map(|r| r.line), Ok(3), "physical line");
        assert_eq!((report.rows, report.blank_rows), (2, 2));
    }

    #[test]
    fn a_top_level_array_is_streamed_with_record_indices() {
        let text = json!([
            record(json!(1), json!("2026-03-02T10:30:00")),
            record(json!(2), json!("2026-03-02T10:45:00")),
            record(json!(3), json!("2026-03-02T11:00:00")),
        ]);
        let pretty = serde_json::to_string_pretty(&text).expect("printable");
        let (rows, report) = read(&pretty);
        assert_eq!(keys(&rows), ["1", "2", "3"]);
        let lines: Vec<u64> = rows.iter().flatten().map(|r| r.line).collect();
        assert_eq!(lines, [1, 2, 3]);
        assert_eq!((report.rows, report.aborted), (3, None));
    }

    #[test]
    fn records_under_a_nested_key_are_found_and_their_siblings_skipped() {
        let text = json!({
            "meta": {"appointments": "not these", "count": 2},
            "data": {
                "page": 1,
                "appointments": [
                    record(json!(1), json!("2026-03-02T10:30:00")),
                    record(json!(2), json!("2026-03-02T10:45:00")),
                ],
                "more": [1, 2, 3],
            },
        });
        let opts = JsonOptions {
            records_path: Some("data.appointments".into()),
            ..JsonOptions::default()
        };
        let (rows, _) = read_with(&text.to_string(), &opts);
        assert_eq!(keys(&rows), ["1", "2"]);
    }

    #[test]
    fn a_records_path_that_leads_nowhere_is_refused_naming_the_keys() {
        let text = json!({"data": {"items": [], "total": 0}}).to_string();
        let opts = JsonOptions {
            records_path: Some("data.appointments".into()),
            ..JsonOptions::default()
        };
        let err = open_with(&text, &opts).expect_err("refused");
        let message = err.to_string();
        assert!(
            matches!(err, JsonFormatError::NoRecords { .. }),
            "{message}"
        );
        assert!(message.starts_with("termine.json: "), "{message}");
        assert!(
            message.contains(r#""data" has no key "appointments""#),
            "{message}"
        );
        assert!(message.contains(r#""items", "total""#), "{message}");
        let err = open_with(
            &text,
            &JsonOptions {
                layout: Layout::Array,
                ..JsonOptions::default()
            },
        )
        .expect_err("an object, not an array");
        assert!(err.to_string().contains("records_path missing"), "{err}");
    }

    #[test]
    fn numbers_become_unix_times_when_an_epoch_is_configured() {
        let end = |r: Value, end: Value| {
            let mut r = r;
            r["end"] = end;
            r
        };
        let seconds = 1_772_443_800_i64; // 2026-03-02 09:30 UTC
        let text = ndjson(&[
            end(record(json!(1), json!(seconds)), json!(seconds + 1200)),
            record(json!(2), json!(seconds.to_string())),
            record(json!(3), json!("2026-03-02T10:30:00")),
            record(json!(4), json!(seconds * 1000)),
        ]);
        let opts = |epoch| JsonOptions {
            epoch: Some(epoch),
            ..JsonOptions::default()
        };
        let (rows, _) = read_with(&text, &opts(Epoch::Seconds));
        assert_eq!(ok(&rows[0]).starts_at, utc(2026, 3, 2, 9, 30));
        assert_eq!(ok(&rows[0]).ends_at, utc(2026, 3, 2, 9, 50));
        assert_eq!(
            ok(&rows[1]).starts_at,
            utc(2026, 3, 2, 9, 30),
            "digits in a string"
        );
        assert_eq!(
            ok(&rows[2]).starts_at,
            utc(2026, 3, 2, 9, 30),
            "text still works"
        );
        let err = rows[3].as_ref().expect_err("milliseconds read as seconds");
        assert_eq!((err.line, err.target), (4, Some(Field::Date)));
        assert!(
            err.reason.contains(r#"is json.epoch "milliseconds"?"#),
            "{err}"
        );
        let (rows, _) = read_with(&text, &opts(Epoch::Milliseconds));
        assert_eq!(ok(&rows[3]).starts_at, utc(2026, 3, 2, 9, 30));
        assert!(rows[0].is_err(), "seconds read as milliseconds are 1970");
    }

    #[test]
    fn bad_records_are_rejected_with_index_and_field_while_the_rest_import() {
        let mut no_key = record(json!(null), json!("2026-03-02T10:30:00"));
        no_key["customer"]["name"] = json!({"first": "Erika"});
        let text = json!([
            record(json!(1), json!("2026-03-02T10:30:00")),
            record(json!(2), json!("31.02.2026 10:30")),
            "not a record",
            no_key,
            record(json!(5), json!("2026-03-02T11:00:00")),
        ]);
        let (rows, report) = read(&text.to_string());
        let errors: Vec<(u64, String, Option<Field>)> = rows
            .iter()
            .filter_map(|r| r.as_ref().err())
            .map(|e| (e.line, e.field.clone(), e.target))
            .collect();
        assert_eq!(
            errors,
            [
                (2, "start".to_string(), Some(Field::Date)),
                (3, String::new(), None),
                (4, "id".to_string(), Some(Field::Key)),
            ]
        );
        assert_eq!(keys(&rows), ["1", "5"]);
        assert_eq!((report.rows, report.aborted), (5, None));
        let broken = rows[1].as_ref().expect_err("bad date");
        assert_eq!(
            broken.key.as_deref(),
            Some("2"),
            "kept, not taken for removed"
        );
    }

    #[test]
    fn a_syntax_error_mid_file_aborts_with_line_and_column() {
        let good = record(json!(1), json!("2026-03-02T10:30:00")).to_string();
        let array = format!("[\n{good},\n{good},\n{{\"id\": 3,, }}\n]");
        let lines = format!("{good}\n{good}\n{{\"id\": 3\n{good}\n");
        for (text, at, mark) in [
            (array, 3, "key must be a string at line 4 column 10"),
            (lines, 3, "EOF while parsing an object at line 3 column 8"),
        ] {
            let mut records = open_with(&text, &JsonOptions::default()).expect("starts well");
            let rows: Vec<_> = records.by_ref().collect();
            assert_eq!(rows.iter().filter(|r| r.is_ok()).count(), 2);
            let last = rows
                .last()
                .and_then(|r| r.as_ref().err())
                .expect("error last");
            assert_eq!((last.line, last.target), (at, None), "{last}");
            assert!(last.reason.contains(mark), "{last}");
            assert!(records.report().aborted.is_some(), "must not be applied");
            assert!(records.next().is_none(), "stays finished");
        }
    }

    #[test]
    fn a_truncated_array_aborts() {
        let good = record(json!(1), json!("2026-03-02T10:30:00")).to_string();
        let (rows, report) = read(&format!("[{good}, {good}"));
        assert_eq!(rows.iter().filter(|r| r.is_ok()).count(), 2);
        assert!(report.aborted.is_some_and(|why| why.contains("EOF")));
    }

    /// Two records, then the third cut in the middle of the citizen's name.
    fn cut_in_third(text: &str) -> &str {
        let third = text
            .match_indices("Erika Must")
            .nth(2)
            .expect("three records");
        &text[..third.0 + 10]
    }

    #[test]
    fn a_file_cut_inside_its_last_record_looks_cut_off_at_its_position() {
        let records: Vec<Value> = (1..=3)
            .map(|id| record(json!(id), json!("2026-03-02T10:30:00")))
            .collect();
        let lines = ndjson(&records);
        let pretty = serde_json::to_string_pretty(&records).expect("printable");
        let line = pretty[..cut_in_third(&pretty).len()].lines().count();
        for (text, position, mark) in [
            (
                lines.as_str(),
                3,
                "looks cut off at line 3, column".to_string(),
            ),
            (
                pretty.as_str(),
                3,
                format!("looks cut off at line {line}, column "),
            ),
        ] {
            let (rows, report) = read(cut_in_third(text));
            assert_eq!(rows.iter().filter(|r| r.is_ok()).count(), 2);
            let last = rows.last().and_then(|r| r.as_ref().err()).expect("error");
            assert_eq!(last.line, position, "{last}");
            assert!(last.reason.starts_with(&mark), "{last}");
            if text == pretty {
                assert!(last.reason.contains(", after record 2: "), "{last}");
            }
            assert!(!last.reason.contains("Must"), "{last}");
            assert_eq!(report.aborted.as_ref(), Some(&last.reason));
        }
        let first = cut_in_third(&lines).lines().next().expect("a line");
        let err = open_with(&first[..first.len() - 20], &JsonOptions::default())
            .expect_err("cut in its first record");
        assert!(matches!(err, JsonFormatError::CutOff { .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with("termine.json: looks cut off at line 1, column"),
            "{err}"
        );
    }

    #[test]
    fn a_file_that_is_not_json_is_refused_with_one_message() {
        let csv = "Termin-Nr;Datum;Name\n1;02.03.2026;Erika Mustermann\n";
        for layout in [Layout::Auto, Layout::Ndjson, Layout::Array] {
            let opts = JsonOptions {
                layout,
                ..JsonOptions::default()
            };
            let err = open_with(csv, &opts).expect_err("not JSON");
            let message = err.to_string();
            assert!(matches!(err, JsonFormatError::NotJson { .. }), "{message}");
            assert!(message.starts_with("termine.json: is not "), "{message}");
            assert!(!message.contains("Erika"), "{message}");
        }
        let err = open_with(
            "[1, 2",
            &JsonOptions {
                layout: Layout::Ndjson,
                ..JsonOptions::default()
            },
        );
        let message = err.expect_err("an array read as NDJSON").to_string();
        assert!(message.ends_with(r#"is json.layout "array"?"#), "{message}");
    }

    #[test]
    fn an_empty_file_is_refused_but_an_empty_array_is_an_empty_export() {
        for text in ["", " \n\n ", "\u{feff}"] {
            let err = open_with(text, &JsonOptions::default()).expect_err("empty");
            assert!(matches!(err, JsonFormatError::Empty { .. }), "{err}");
        }
        let (rows, report) = read(" [ ] ");
        assert!(rows.is_empty() && report.aborted.is_none());
    }

    #[test]
    fn a_first_record_without_any_mapped_path_is_refused_naming_paths_not_values() {
        let text = ndjson(&[json!({"Nr": 1, "Kunde": "Erika Mustermann", "Tel": "0171 2345678"})]);
        let err = open_with(&text, &JsonOptions::default()).expect_err("refused");
        let message = err.to_string();
        assert!(
            message.contains(r#"first record (line 1) has none of the mapped paths "id" (key)"#),
            "{message}"
        );
        assert!(
            message.contains(r#""attendees[0].phone" (phone)"#),
            "{message}"
        );
        let keys = message.split_once("its keys are ").map_or("", |(_, k)| k);
        for key in [r#""Kunde""#, r#""Nr""#, r#""Tel""#] {
            assert!(keys.contains(key), "{message}");
        }
        assert!(
            !message.contains("Erika") && !message.contains("2345678"),
            "{message}"
        );
    }

    #[test]
    fn personal_data_never_appears_in_row_messages() {
        let mut bad_email = record(json!(1), json!("2026-03-02T10:30:00"));
        bad_email["customer"]["email"] = json!("erika.mustermann-at-example.org");
        let mut bad_phone = record(json!(2), json!("2026-03-02T10:30:00"));
        bad_phone["attendees"][0]["phone"] = json!(1712345678901234567_u64);
        let mut nested_name = record(json!(3), json!("2026-03-02T10:30:00"));
        nested_name["customer"]["name"] = json!(["Erika", "Mustermann"]);
        let (rows, _) = read(&ndjson(&[bad_email, bad_phone, nested_name]));
        // Unusable contact data costs the channel, not the booking; a name that is no text
        // still rejects the row.
        let ok: Vec<&BookingRecord> = rows
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .map(|r| &r.record)
            .collect();
        assert_eq!(ok.len(), 2);
        assert!(ok[0].email.is_none() && ok[0].email_problem.is_some());
        assert!(ok[1].phone.is_none() && ok[1].phone_problem.is_some());
        let targets: Vec<_> = rows
            .iter()
            .filter_map(|r| r.as_ref().err().and_then(|e| e.target))
            .collect();
        assert_eq!(targets, [Field::Name]);
        let problems = ok
            .iter()
            .flat_map(|r| [r.email_problem.clone(), r.phone_problem.clone()])
            .flatten();
        let errors = rows
            .iter()
            .filter_map(|r| r.as_ref().err())
            .map(|e| e.to_string());
        for message in problems.chain(errors) {
            for secret in ["mustermann", "Erika", "12345678"] {
                assert!(!message.contains(secret), "{message}");
            }
        }
    }

    #[test]
    fn a_path_may_be_a_flat_key_with_dots_and_values_may_be_booleans() {
        let fields = FieldMapping {
            key: "Termin.Nr".into(),
            date: "start".into(),
            status: Some("cancelled".into()),
            ..FieldMapping::default()
        };
        let formats = Formats {
            cancelled_values: vec!["true".into()],
            ..Formats::default()
        };
        let line = json!({"Termin.Nr": 7, "start": "2026-03-02T10:30:00", "cancelled": true});
        let input = io::Cursor::new(format!("{line}\n").into_bytes());
        let opts = JsonOptions::default();
        let mut records =
            open_reader(input, "t.ndjson", &opts, &fields, &formats, &ctx()).expect("opens");
        let row = records.next().expect("one record");
        let record = ok(&row);
        assert_eq!(record.key, "7");
        assert_eq!(
            record.status,
            crate::domain::booking::BookingStatus::Cancelled
        );
    }

    #[test]
    fn the_options_deserialise_from_toml_and_bad_ones_are_config_errors() {
        let opts: JsonOptions = toml::from_str(
            "layout = \"array\"\nrecords_path = \"data.appointments\"\nepoch = \"milliseconds\"",
        )
        .expect("valid");
        assert_eq!(
            (opts.layout, opts.records_path.as_deref(), opts.epoch),
            (
                Layout::Array,
                Some("data.appointments"),
                Some(Epoch::Milliseconds)
            )
        );
        assert_eq!(
            toml::from_str::<JsonOptions>("").expect("empty"),
            JsonOptions::default()
        );
        assert!(toml::from_str::<JsonOptions>("layout = \"jsonl\"").is_err());
        assert!(toml::from_str::<JsonOptions>("record_path = \"x\"").is_err());
        let opts = JsonOptions {
            layout: Layout::Ndjson,
            records_path: Some("data".into()),
            ..JsonOptions::default()
        };
        let err = open_with("{}", &opts).expect_err("ndjson has no records path");
        assert!(matches!(err, JsonFormatError::Config { .. }), "{err}");
        let bad_path = FieldMapping {
            email: Some("customer..email".into()),
            ..fields()
        };
        let input = io::Cursor::new(b"{}".to_vec());
        let err = open_reader(
            input,
            "t",
            &JsonOptions::default(),
            &bad_path,
            &Formats::default(),
            &ctx(),
        )
        .expect_err("bad path");
        assert!(err.to_string().contains("fields.email"), "{err}");
    }

    #[test]
    fn a_file_on_disk_is_read_and_a_missing_one_is_refused_naming_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("termine.ndjson");
        let text = ndjson(&[record(json!(1), json!("2026-03-02T10:30:00"))]);
        std::fs::write(&path, format!("\u{feff}{text}")).expect("written");
        let (opts, formats) = (JsonOptions::default(), Formats::default());
        let records = open_file(&path, &opts, &fields(), &formats, &ctx()).expect("opens");
        assert_eq!(records.filter(Result::is_ok).count(), 1, "a BOM is dropped");
        let missing = dir.path().join("fehlt.json");
        let err = open_file(&missing, &opts, &fields(), &formats, &ctx()).expect_err("missing");
        assert!(matches!(err, JsonFormatError::Unreadable { .. }));
        assert!(err.to_string().contains("fehlt.json"), "{err}");
    }

    #[test]
    fn the_reader_can_move_to_a_blocking_thread_and_be_dropped_half_read() {
        fn assert_send<T: Send>() {}
        assert_send::<JsonRecords>();
        let one = record(json!(1), json!("2026-03-02T10:30:00")).to_string();
        let many = vec![one; 2 * stream::AHEAD];
        let mut records =
            open_with(&format!("[{}]", many.join(",")), &JsonOptions::default()).expect("opens");
        assert!(records.next().is_some_and(|r| r.is_ok()));
        drop(records);
    }

    /// Peak resident memory of this process so far, in KiB.
    fn peak_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM")
    }

    /// Writes `n` generated records as NDJSON or as one array, without holding them.
    fn generate(path: &Path, n: u64, array: bool) {
        use std::io::Write;
        let file = File::create(path).expect("created");
        let mut out = io::BufWriter::new(file);
        let (open, sep, close) = if array {
            ("[\n", ",\n", "\n]\n")
        } else {
            ("", "\n", "\n")
        };
        out.write_all(open.as_bytes()).expect("written");
        for i in 0..n {
            let day = 1 + i % 28;
            let line = json!({
                "id": i,
                "start": format!("2026-03-{day:02}T{:02}:{:02}:00", 8 + i % 9, (i % 4) * 15),
                "services": [{"name": "Personalausweis"}],
                "customer": {"name": format!("Person {i}"), "email": format!("p{i}@example.org")},
                "attendees": [{"phone": 491_711_000_000_u64 + i}],
            });
            if i > 0 {
                out.write_all(sep.as_bytes()).expect("written");
            }
            serde_json::to_writer(&mut out, &line).expect("written");
        }
        out.write_all(close.as_bytes()).expect("written");
        out.flush().expect("flushed");
    }

    /// Seconds serde_json alone needs for the file, the yardstick: NDJSON lines into values;
    /// an array only tokenised (building all values at once would not fit the point).
    fn parse_only(path: &Path, array: bool) -> f64 {
        let started = std::time::Instant::now();
        let input = BufReader::new(File::open(path).expect("exists"));
        if array {
            serde_json::from_reader::<_, IgnoredAny>(input).expect("valid");
        } else {
            let count = input
                .lines()
                .filter(|l| {
                    let line = l.as_deref().expect("read");
                    serde_json::from_str::<Value>(line).is_ok()
                })
                .count();
            assert_eq!(count, 1_000_000);
        }
        started.elapsed().as_secs_f64()
    }

    #[test]
    #[ignore = "release benchmark: cargo test --release -- --ignored --nocapture a_million"]
    fn a_million_records_stream_in_bounded_memory() {
        const N: u64 = 1_000_000;
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, array) in [("million.ndjson", false), ("million.json", true)] {
            let path = dir.path().join(name);
            generate(&path, N, array);
            let size = std::fs::metadata(&path).expect("exists").len();
            let before = peak_kib();
            let started = std::time::Instant::now();
            let (opts, formats) = (JsonOptions::default(), Formats::default());
            let mut records = open_file(&path, &opts, &fields(), &formats, &ctx()).expect("opens");
            let imported = records.by_ref().filter(Result::is_ok).count() as u64;
            let seconds = started.elapsed().as_secs_f64();
            let grown_mib = (peak_kib() - before) / 1024;
            let yardstick = parse_only(&path, array);
            println!(
                "{name}: {} MiB, {imported} records in {seconds:.2} s = {:.0} rows/s \
                 (yardstick, serde_json alone: {:.0}/s); peak memory grew by \
                 {grown_mib} MiB",
                size / (1 << 20),
                imported as f64 / seconds,
                N as f64 / yardstick,
            );
            assert_eq!((imported, records.report().rows), (N, N));
            assert!(grown_mib < 64, "memory grew by {grown_mib} MiB");
            std::fs::remove_file(&path).expect("removed");
        }
    }

    /// Counts the bytes taken from the file.
    struct Counted(
        io::Cursor<Vec<u8>>,
        std::sync::Arc<std::sync::atomic::AtomicUsize>,
    );

    impl Read for Counted {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.read(buf)?;
            self.1.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            Ok(n)
        }
    }

    /// Reads `text` to its end or its refusal: the rows, the refusal, the bytes taken.
    fn read_counted(text: String, opts: &JsonOptions) -> (usize, Option<String>, usize) {
        let taken = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let input = Counted(io::Cursor::new(text.into_bytes()), taken.clone());
        let formats = Formats::default();
        let opened = open_reader(input, "termine.json", opts, &fields(), &formats, &ctx());
        let (rows, refusal) = match opened {
            Ok(mut records) => {
                let rows = records.by_ref().filter(Result::is_ok).count();
                (rows, records.report().aborted.clone())
            }
            Err(e) => (0, Some(e.to_string())),
        };
        (
            rows,
            refusal,
            taken.load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// A record of `n` bytes of JSON: many small values, no one of them long.
    fn padded(id: u64, n: usize) -> Value {
        let mut r = record(json!(id), json!("2026-03-02T10:30:00"));
        r["padding"] = json!(vec!["abcdefgh"; n / 11]);
        r
    }

    #[test]
    fn an_array_record_over_the_record_limit_stops_reading_there() {
        let records = [padded(1, 100), padded(2, 5 << 20), padded(3, 100)];
        let text = serde_json::to_string(&records).expect("json");
        let (rows, refusal, taken) = read_counted(text, &JsonOptions::default());
        let refusal = refusal.expect("refused");
        assert_eq!(rows, 1, "{refusal}");
        assert!(
            refusal.starts_with(
                "record 2: a record is over the limit of 1 MiB (limits.max_record_bytes)"
            ),
            "{refusal}"
        );
        assert!(
            taken < 2 << 20,
            "reading stopped early: {taken} bytes of 5 MiB"
        );
    }

    #[test]
    fn an_ndjson_line_over_the_limit_and_a_value_over_the_cell_limit_are_refused() {
        let lines = ndjson(&[padded(1, 100), padded(2, 5 << 20), padded(3, 100)]);
        let (rows, refusal, taken) = read_counted(lines, &JsonOptions::default());
        let refusal = refusal.expect("refused");
        assert_eq!(rows, 1, "{refusal}");
        assert!(
            refusal
                .starts_with("line 2: a line is over the limit of 1 MiB (limits.max_line_bytes)"),
            "{refusal}"
        );
        assert!(taken < 2 << 20, "reading stopped early: {taken} bytes");
        let mut long = record(json!(2), json!("2026-03-02T10:30:00"));
        long["customer"]["name"] = json!("x".repeat(100 << 10));
        let text = ndjson(&[record(json!(1), json!("2026-03-02T10:30:00")), long]);
        let (_, refusal, _) = read_counted(text, &JsonOptions::default());
        let refusal = refusal.expect("refused");
        assert!(
            refusal
                .starts_with("line 2: a value is over the limit of 64 KiB (limits.max_cell_bytes)"),
            "{refusal}"
        );
    }

    #[test]
    fn a_first_record_over_the_limit_refuses_the_file_as_too_large() {
        let text = serde_json::to_string(&[padded(1, 2 << 20)]).expect("json");
        let (_, refusal, _) = read_counted(text, &JsonOptions::default());
        let refusal = refusal.expect("refused");
        assert!(
            refusal.starts_with("termine.json: record 1: a record is over the limit"),
            "{refusal}"
        );
        let key = format!("{{\"{}\": 1, \"data\": []}}", "k".repeat(2 << 20));
        let opts = JsonOptions {
            records_path: Some("data".into()),
            ..JsonOptions::default()
        };
        let (_, refusal, _) = read_counted(key, &opts);
        let refusal = refusal.expect("refused");
        assert!(
            refusal.contains("before the records: an object key is over the limit"),
            "{refusal}"
        );
    }
}
