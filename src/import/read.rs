//! The contract every reader keeps, whatever the export's kind. A reader opens its export or
//! refuses it whole with one message naming the file ([`FormatError`]). Then it hands out one
//! row at a time ([`Records`]): a booking ([`ParsedRow`]) or a rejection ([`RowError`]), each
//! at its position (the file's line, the record or the row, and in a spreadsheet the cell).
//! Where the export turns out incomplete (cut off, over a limit, unreadable from some point on)
//! it stops for good: the refusal is its last row, and its [`ReadReport`] says why, so the
//! import is refused whole. [`Export`] is any of them, as the importer streams it.
//!
//! Tabular readers (CSV, spreadsheets, query results) find the mapped columns by the header
//! (`Columns`).

use std::fmt;
use std::fs::File;
use std::path::Path;

use crate::import::mapping::{Field, FieldMapping, ParsedRow, RowError, WarningKind};

/// A whole export refused; the message names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("{file}: cannot be read: {source}")]
    Unreadable {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: is empty, there is not even a header line")]
    Empty { file: String },
    #[error("{file}: {}", missing_message(.missing, .found, *.columns, .hint))]
    MissingColumns {
        file: String,
        /// The configured headers not found, with their booking field.
        missing: Vec<(String, Field)>,
        /// The header as found in the file; empty when the first line does not look like a
        /// header at all (it may be a data row: names and numbers are not repeated in messages).
        found: Vec<String>,
        /// How many columns the first line has.
        columns: usize,
        /// A likely cause ("is the delimiter \";\"?"), when one is apparent.
        hint: Option<String>,
    },
    #[error("{file}: the source's configuration is not usable: {reason}")]
    Config { file: String, reason: String },
    /// A cell, record, line or zip entry over the source's limits (a zip bomb, a file without
    /// line breaks): `reason` names the position and the limit.
    #[error("{file}: {reason}")]
    TooLarge { file: String, reason: String },
    /// The file ends where a complete export would go on: cut off, or still being written.
    #[error("{file}: looks cut off {at}: {reason}")]
    CutOff {
        file: String,
        /// Where it ends: "at line 57", "after 40961 bytes".
        at: String,
        reason: String,
    },
}

impl FormatError {
    /// The refusal for a header without the mapped columns (`columns` wide). The header is
    /// shown only when it looks like one, since a data row in its place holds personal data.
    pub(crate) fn missing_columns(
        file: &str,
        fields: &FieldMapping,
        missing: Vec<(String, Field)>,
        found: Vec<String>,
        columns: usize,
        hint: Option<String>,
    ) -> FormatError {
        FormatError::MissingColumns {
            file: file.to_string(),
            missing,
            found: if looks_like_header(&found, fields) {
                found
            } else {
                Vec::new()
            },
            columns,
            hint,
        }
    }
}

fn missing_message(
    missing: &[(String, Field)],
    found: &[String],
    columns: usize,
    hint: &Option<String>,
) -> String {
    let missing: Vec<String> = missing
        .iter()
        .map(|(header, field)| format!("{header:?} ({})", field.as_str()))
        .collect();
    let found: Vec<String> = found.iter().map(|header| format!("{header:?}")).collect();
    let hint = hint
        .as_ref()
        .map(|hint| format!("; {hint}"))
        .unwrap_or_default();
    let seen = if found.is_empty() {
        format!(
            "the first line ({columns} columns) does not look like a header: is the header line \
             missing?"
        )
    } else {
        format!("the header found is {}", found.join(", "))
    };
    format!(
        "the header lacks the mapped column(s) {}; {seen}{hint}",
        missing.join(", ")
    )
}

/// Whether some mapped header name appears in the header line (even glued together by a wrong
/// delimiter). A line without any is likely a data row and is not repeated in messages.
fn looks_like_header(found: &[String], fields: &FieldMapping) -> bool {
    let names: Vec<String> = Field::ALL
        .iter()
        .flat_map(|f| fields.headers(*f))
        .map(|h| h.to_lowercase())
        .collect();
    found.iter().any(|cell| {
        let cell = cell.to_lowercase();
        !cell.is_empty() && names.iter().any(|n| cell.contains(n.as_str()))
    })
}

/// Opens the export file at `path` and hands it to `open` (a reader's `open_reader`) with the
/// path as the file's name in messages.
pub(crate) fn open_path<T, E: From<FormatError>>(
    path: &Path,
    open: impl FnOnce(File, &str) -> Result<T, E>,
) -> Result<T, E> {
    let file = path.display().to_string();
    let handle = File::open(path).map_err(|source| FormatError::Unreadable {
        file: file.clone(),
        source,
    })?;
    open(handle, &file)
}

/// What happened while reading, beyond the rows themselves; complete once iteration ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadReport {
    /// Data rows read (header and blank rows not counted).
    pub rows: u64,
    /// Rows whose every cell was empty (Excel writes them); skipped.
    pub blank_rows: u64,
    /// Warnings of the rows handed out (each [`ParsedRow`] carries its own), by kind.
    pub repeated_local_times: u64,
    pub skipped_local_times: u64,
    pub unknown_languages: u64,
    /// Rows whose end or duration could not be used: imported with the default duration.
    pub ends_guessed: u64,
    /// Set when reading stopped early (an I/O error mid-file) or the file looks cut off at its
    /// end: the export is incomplete and must not be applied as a snapshot.
    pub aborted: Option<String>,
}

impl ReadReport {
    /// Counts the warnings of a row handed out, by kind.
    pub(crate) fn noted(
        &mut self,
        row: Result<ParsedRow, RowError>,
    ) -> Result<ParsedRow, RowError> {
        for warning in row.iter().flat_map(|parsed| &parsed.warnings) {
            match warning.kind {
                WarningKind::RepeatedLocalTime => self.repeated_local_times += 1,
                WarningKind::SkippedLocalTime => self.skipped_local_times += 1,
                WarningKind::UnknownLanguage { .. } => self.unknown_languages += 1,
                WarningKind::EndGuessed { .. } => self.ends_guessed += 1,
            }
        }
        row
    }

    /// Stops reading at `line` for `reason`: the export is incomplete and must not be applied.
    /// Returns the refusal as the last row to hand out.
    pub(crate) fn abort(&mut self, line: u64, reason: String) -> RowError {
        self.aborted = Some(reason.clone());
        RowError::whole(line, reason)
    }
}

impl AsRef<ReadReport> for ReadReport {
    fn as_ref(&self) -> &ReadReport {
        self
    }
}

/// How a reader goes through its export; [`Records`] makes the iterator every reader is of it.
pub trait ReadRows: Send {
    /// What reading found besides the rows: a [`ReadReport`], or a report that holds one.
    type Report: AsRef<ReadReport> + fmt::Debug;

    /// The next row, `None` at the end of the export. Not asked again after `None`, nor after
    /// the row that aborted reading (see [`ReadReport::aborted`]).
    fn read_row(&mut self) -> Option<Result<ParsedRow, RowError>>;

    /// Counts and warnings so far.
    fn report(&self) -> &Self::Report;
}

/// The bookings of an export, one row at a time, until its end or until reading stopped
/// (then the refusal is the last item, and [`ReadReport::aborted`] holds it).
pub struct Records<R> {
    reader: R,
    done: bool,
}

impl<R: ReadRows> Records<R> {
    pub(crate) fn new(reader: R) -> Records<R> {
        Records {
            reader,
            done: false,
        }
    }

    /// Counts and warnings so far; final once the iterator returned `None`.
    pub fn report(&self) -> &R::Report {
        self.reader.report()
    }
}

impl<R: ReadRows> Iterator for Records<R> {
    type Item = Result<ParsedRow, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.reader.read_row();
        self.done = item.is_none() || self.reader.report().as_ref().aborted.is_some();
        item
    }
}

impl<R: ReadRows> fmt::Debug for Records<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Records")
            .field("report", self.reader.report())
            .finish_non_exhaustive()
    }
}

/// An open export of any kind, as the importer streams it.
pub trait Export: Iterator<Item = Result<ParsedRow, RowError>> + Send {
    /// Why reading stopped before the end of the export, once it did.
    fn aborted(&self) -> Option<&str>;
}

impl<R: ReadRows> Export for Records<R> {
    fn aborted(&self) -> Option<&str> {
        self.report().as_ref().aborted.as_deref()
    }
}

/// The column indexes of each mapped field, in mapping order, found by the header (tabular
/// exports: CSV, spreadsheets, query results).
#[derive(Debug, Clone)]
pub(crate) struct Columns([Vec<usize>; Field::ALL.len()]);

impl Columns {
    /// The `nth` column mapped to `field`.
    pub(crate) fn nth(&self, field: Field, nth: usize) -> Option<usize> {
        self.0[field as usize].get(nth).copied()
    }

    /// Finds each mapped header (trimmed, case-insensitive); on failure lists the missing.
    pub(crate) fn resolve(
        fields: &FieldMapping,
        header: &[String],
    ) -> Result<Columns, Vec<(String, Field)>> {
        let mut columns: [Vec<usize>; Field::ALL.len()] = Default::default();
        let mut missing = Vec::new();
        let lowered: Vec<String> = header.iter().map(|h| h.trim().to_lowercase()).collect();
        for field in Field::ALL {
            for name in fields.headers(field) {
                let wanted = name.trim().to_lowercase();
                match lowered.iter().position(|h| *h == wanted) {
                    Some(index) => columns[field as usize].push(index),
                    None => missing.push((name.to_string(), field)),
                }
            }
        }
        if missing.is_empty() {
            Ok(Columns(columns))
        } else {
            Err(missing)
        }
    }
}
