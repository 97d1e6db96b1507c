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
//! paths, is refused whole with one [`JsonFormatError`]. The [`ReadReport`] is every reader's:
//! `rows` counts records, `blank_rows` blank NDJSON lines.

mod error;
mod lines;
mod record;
mod stream;

use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::import::limits::{Limit, Limits};
use crate::import::mapping::{FieldMapping, Formats, ParseContext, ParsedRow, RowError, RowParser};
use crate::import::read::{FormatError, ReadReport, ReadRows, Records, open_path};
pub use error::JsonFormatError;
use lines::Lines;
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

/// The bookings of a JSON or NDJSON export, one record at a time.
pub type JsonRecords = Records<JsonRows>;

/// Reading a JSON export record by record ([`JsonRecords`] hands the rows out).
pub struct JsonRows {
    source: Source,
    /// The first record, read while opening to check the mapping.
    pending: Option<Pulled>,
    parser: RowParser,
    paths: Paths,
    epoch: Option<Epoch>,
    limits: Limits,
    report: ReadReport,
}

/// Opens an export file and reads its first record.
pub fn open_file(
    path: &Path,
    opts: &JsonOptions,
    fields: &FieldMapping,
    formats: &Formats,
    ctx: &ParseContext,
) -> Result<JsonRecords, JsonFormatError> {
    open_path(path, |input, name| {
        open_reader(input, name, opts, fields, formats, ctx)
    })
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
    let config = |reason: String| FormatError::Config {
        file: file.clone(),
        reason,
    };
    let parser = RowParser::new(fields, formats, ctx).map_err(config)?;
    let paths = Paths::compile(fields).map_err(config)?;
    let records_path = records_path(opts).map_err(config)?;
    let (first, input) = sniff(input).map_err(|source| FormatError::Unreadable {
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
    Ok(Records::new(JsonRows {
        source,
        pending,
        parser,
        paths,
        epoch: opts.epoch,
        limits,
        report,
    }))
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
        Some(Pulled::TooLarge { reason, .. }) => Err(FormatError::TooLarge {
            file,
            reason: reason.clone(),
        }
        .into()),
        Some(Pulled::Failed {
            reason, io: true, ..
        }) => Err(FormatError::Unreadable {
            file,
            source: io::Error::other(reason.clone()),
        }
        .into()),
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

impl ReadRows for JsonRows {
    type Report = ReadReport;

    fn read_row(&mut self) -> Option<Result<ParsedRow, RowError>> {
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
            let reason = format!("is {}, not an object", kind(&value));
            return Some(Err(RowError::whole(position, reason)));
        }
        let row = JsonRow {
            value: &value,
            paths: &self.paths,
            epoch: self.epoch,
        };
        let parsed = self.parser.parse(position, &row);
        Some(self.report.noted(parsed))
    }

    fn report(&self) -> &ReadReport {
        &self.report
    }
}

impl JsonRows {
    /// Stops reading: the snapshot is incomplete. `plain`: the reason says it all (the file
    /// looks cut off, or went over a limit), else it is why reading broke off.
    fn abort(&mut self, position: u64, reason: String, plain: bool) -> RowError {
        let reason = match plain {
            true => reason,
            false => format!("reading stopped, the rest of the file is lost: {reason}"),
        };
        self.report.abort(position, reason)
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
        Source::Lines(Lines::new(input, limits))
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
mod tests;
