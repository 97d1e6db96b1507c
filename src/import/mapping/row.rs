//! What a row becomes: a booking with what was noticed on the way ([`ParsedRow`],
//! [`RowWarning`]), or a rejection at its position ([`RowError`]); and how a reader hands a
//! row's values to the parser ([`RowSource`]).

use std::borrow::Cow;
use std::fmt;

use super::Field;
use crate::domain::booking::BookingRecord;

/// One rejected row: where, which column, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// Physical line in the file where the row starts (the header is line 1).
    pub line: u64,
    /// The column's header in the export; empty when the whole row is at fault.
    pub field: String,
    /// The booking field of that column; `None` when the whole row is at fault.
    pub target: Option<Field>,
    pub reason: String,
    /// The row's booking key when it could be read: a booking whose row is broken this time
    /// is kept as it was, not taken for removed.
    pub key: Option<String>,
    /// In a spreadsheet, the cell at fault as `Sheet!C17` (`line` is then the row number).
    pub cell: Option<String>,
}

impl RowError {
    /// The whole row at `line` at fault, not one column of it.
    pub fn whole(line: u64, reason: String) -> RowError {
        RowError {
            line,
            field: String::new(),
            target: None,
            reason,
            key: None,
            cell: None,
        }
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.target {
            Some(target) => write!(
                f,
                "line {}, field {:?} ({}): {}",
                self.line,
                self.field,
                target.as_str(),
                self.reason
            ),
            None => write!(f, "line {}: {}", self.line, self.reason),
        }
    }
}

impl std::error::Error for RowError {}

/// Something in an imported row worth telling the operator; the row itself was imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowWarning {
    pub line: u64,
    pub field: String,
    pub target: Field,
    pub kind: WarningKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WarningKind {
    /// The language was not recognised; the booking has no language.
    UnknownLanguage { reason: String },
    /// The local time exists twice (clocks went back); the earlier instant was taken.
    RepeatedLocalTime,
    /// The local time does not exist (clocks went forward); it was moved forward by the gap.
    SkippedLocalTime,
    /// The end or duration could not be used; the default duration was taken.
    EndGuessed { reason: String },
}

impl fmt::Display for RowWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.kind {
            WarningKind::UnknownLanguage { reason } => {
                format!("{reason}; imported without a language")
            }
            WarningKind::RepeatedLocalTime => {
                "the time exists twice (clocks go back); the earlier one was taken".to_string()
            }
            WarningKind::SkippedLocalTime => {
                "the time does not exist (clocks go forward); moved forward by the gap".to_string()
            }
            WarningKind::EndGuessed { reason } => reason.clone(),
        };
        let (line, field, target) = (self.line, &self.field, self.target.as_str());
        write!(f, "line {line}, field {field:?} ({target}): {what}")
    }
}

/// A row's values as the source kind found them.
pub trait RowSource {
    /// The text of the (first) column mapped to `field`; `Ok(None)` if the field is not mapped.
    /// `Err` carries a reason when the cell cannot be read as text (bad encoding).
    fn text(&self, field: Field) -> Result<Option<Cow<'_, str>>, String>;

    /// The text of the `nth` column mapped to `field` (0 is the first), for fields mapped to
    /// several columns. Sources that map one column per field keep this default.
    fn text_nth(&self, field: Field, nth: usize) -> Result<Option<Cow<'_, str>>, String> {
        if nth == 0 { self.text(field) } else { Ok(None) }
    }
}

/// A row that became a booking, with anything unusual noticed on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedRow {
    /// Physical line in the file where the row starts.
    pub line: u64,
    pub record: BookingRecord,
    pub warnings: Vec<RowWarning>,
}
