//! What an import did ([`ImportReport`]): its outcome and counts, the rejected rows and the
//! contact data that could not be used (by position, never with personal data), the first
//! warnings in words, and the outages matched again.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use super::SourceSettings;
use super::mapping::{Field, FieldMapping, RowError, RowWarning};
use crate::domain::booking::{BookingRecord, BookingStatus};
use crate::lifecycle::matching::MatchStats;
use crate::store::imports::ImportCounts;

/// How many rejected rows an import report and the history keep (the count is always exact).
const KEEP_REJECTED: usize = 1000;
/// Warnings listed in words in a report (all are counted).
const MAX_LISTED_WARNINGS: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The snapshot was applied.
    Applied,
    /// Nothing was changed: the file is not what the source expects, or it would remove too much.
    Refused,
}

/// A rejected row, without personal data.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Rejected {
    /// Where the row is, as [`ImportReport::position`] says: file line, record or row number.
    pub line: u64,
    /// In a spreadsheet, the failing cell: `Termine!C17`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cell: Option<String>,
    pub field: String,
    pub reason: String,
}

impl From<RowError> for Rejected {
    fn from(e: RowError) -> Self {
        Rejected {
            line: e.line,
            cell: e.cell,
            field: e.field,
            reason: e.reason,
        }
    }
}

/// Imported bookings with contact data that could not be used, per field, and the first of
/// them by position (field and reason, never the value).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ContactProblems {
    /// Bookings whose email address is unusable (imported without email).
    pub email: u64,
    /// Bookings whose phone column held no usable mobile number but text (no SMS).
    pub phone: u64,
    /// Active bookings with neither email nor a mobile number (for whatever reason): the call
    /// list, when affected.
    pub no_channel: u64,
    #[schema(value_type = Vec<Object>)]
    pub first: Vec<Rejected>,
}

impl ContactProblems {
    /// "contact problems: 3 email, 5 phone (imported without that channel; 2 have no channel
    /// left: the call list when affected)", or nothing when there were none.
    pub fn summary(&self) -> Option<String> {
        match (self.email + self.phone, self.no_channel) {
            (0, 0) => None,
            (0, n) => Some(format!(
                "without email address and mobile number: {n} (the call list, when affected)"
            )),
            (_, n) => Some(format!(
                "contact problems: {} email, {} phone (imported without that channel); without \
                 email address and mobile number: {n} (the call list, when affected)",
                self.email, self.phone
            )),
        }
    }
}

impl Rejected {
    /// The position in words: "line 305", "row 17 (Termine!C17)".
    pub fn place(&self, position: &str) -> String {
        match &self.cell {
            Some(cell) => format!("{position} {} ({cell})", self.line),
            None => format!("{position} {}", self.line),
        }
    }
}

/// What an import did; printed by `absage import` and kept (in part) in the history.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub import_id: i64,
    pub source: String,
    pub tenant: String,
    pub file: PathBuf,
    /// What a rejected row's `line` counts: "line" (CSV, NDJSON, iCalendar: the file's physical
    /// line), "record" (JSON arrays), "row" (spreadsheets, with the `cell`; query results).
    pub position: &'static str,
    pub outcome: Outcome,
    pub message: Option<String>,
    #[serde(flatten)]
    pub counts: ImportCounts,
    pub warnings: u64,
    /// The first warnings in words, with their position ("line 12, field \"Dauer\" …").
    pub first_warnings: Vec<String>,
    pub rejected: Vec<Rejected>,
    /// Imported bookings whose email or phone could not be used: they lost that channel only.
    pub contact: ContactProblems,
    /// Active outages matched again after the import, with what changed.
    pub rematched: Vec<(i64, MatchStats)>,
}

impl ImportReport {
    /// The report of an import that just started, of `file` (its path, or its URL): refused
    /// until it is applied.
    pub(super) fn new(import_id: i64, source: &SourceSettings, file: PathBuf) -> ImportReport {
        ImportReport {
            import_id,
            source: source.name.clone(),
            tenant: source.tenant.clone(),
            file,
            position: source.position_name(),
            outcome: Outcome::Refused,
            message: None,
            counts: ImportCounts::default(),
            warnings: 0,
            first_warnings: Vec::new(),
            rejected: Vec::new(),
            contact: ContactProblems::default(),
            rematched: Vec::new(),
        }
    }

    /// Counts what the row's contact data cost it: a channel, never the booking.
    /// `fields` names the columns.
    pub(super) fn note_contact(&mut self, rec: &BookingRecord, line: u64, fields: &FieldMapping) {
        if rec.status == BookingStatus::Ignored {
            self.counts.rows_ignored += 1;
        }
        let problems = [
            (Field::Email, &rec.email_problem),
            (Field::Phone, &rec.phone_problem),
        ];
        let c = &mut self.contact;
        for (field, problem) in problems {
            let Some(reason) = problem else { continue };
            match field {
                Field::Email => c.email += 1,
                _ => c.phone += 1,
            }
            if c.first.len() < KEEP_REJECTED {
                c.first.push(Rejected {
                    cell: None,
                    line,
                    field: fields.header(field).unwrap_or(field.as_str()).to_string(),
                    reason: reason.clone(),
                });
            }
        }
        // Found by attacking the release build: a booking with only a landline and "keine
        // Angabe" as email has no problem, yet no channel either; the operator must see it.
        let active = rec.status == BookingStatus::Active;
        if active && rec.email.is_none() && !rec.phone.as_ref().is_some_and(|p| p.mobile) {
            c.no_channel += 1;
        }
    }

    /// Counts a rejected row, and keeps the first ones.
    pub(super) fn reject(&mut self, r: Rejected) {
        self.counts.rows_rejected += 1;
        if self.rejected.len() < KEEP_REJECTED {
            self.rejected.push(r);
        }
    }

    /// Counts a warning, and keeps the first ones in words.
    pub(super) fn note_warning(&mut self, text: String) {
        self.warnings += 1;
        if self.first_warnings.len() < MAX_LISTED_WARNINGS {
            self.first_warnings.push(text);
        }
    }

    /// Counts the warnings of an imported row, and keeps the first ones in words.
    pub(super) fn note_row_warnings(&mut self, warnings: &[RowWarning]) {
        self.warnings += warnings.len() as u64;
        for w in warnings {
            if self.first_warnings.len() < MAX_LISTED_WARNINGS {
                self.first_warnings.push(w.to_string());
            }
        }
    }
}
