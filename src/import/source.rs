//! A source's settings (`[[sources]]`): what kind of export it is, where it is, how it is
//! imported, and each reader's options. The configuration holds them; the importer reads them.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use super::csv::CsvOptions;
use super::ics::IcsOptions;
use super::json::{JsonOptions, Layout};
use super::limits::Limits;
use super::locate::HttpSource;
use super::mapping::{FieldMapping, Formats};
use super::sheet::SheetOptions;
use super::sql::SqlOptions;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Csv,
    /// JSON (an array of records, possibly under `json.records_path`) or NDJSON.
    Json,
    /// iCalendar: every VEVENT is a booking (recurring ones expand within a horizon).
    Ics,
    /// A spreadsheet: XLSX, ODS, XLS or XLSB (`kind = "xlsx"` and `"ods"` mean the same).
    #[serde(alias = "xlsx", alias = "ods")]
    Spreadsheet,
    /// A query against an exported SQLite file or a live PostgreSQL or MySQL/MariaDB database
    /// (`[sources.sql]`).
    #[serde(
        alias = "sqlite",
        alias = "postgres",
        alias = "mysql",
        alias = "mariadb"
    )]
    Sql,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ImportMode {
    /// The export is the whole calendar: bookings missing from it are gone.
    #[default]
    Full,
    /// The export holds changes only: its rows add or update bookings, rows whose status is
    /// cancelled cancel them, and bookings it does not mention stay as they are.
    Incremental,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSettings {
    pub name: String,
    pub tenant: String,
    pub kind: SourceKind,
    /// The export file (all kinds but `sql`, whose database is `sql.url`).
    #[serde(default)]
    pub path: PathBuf,
    /// Cron expression with seconds (`0 */15 * * * *`), read in the tenant's time zone; without
    /// it the source is imported only by `absage import`.
    #[serde(default)]
    pub schedule: Option<String>,
    #[serde(default)]
    pub mode: ImportMode,
    /// A full snapshot that would remove more than this share of the source's active bookings is
    /// refused as a whole (a truncated or wrong file) unless forced.
    #[serde(default = "default_max_removal")]
    pub max_removal_share: f64,
    /// Look at `path` (a folder or glob) every this many seconds and import a new export as
    /// soon as it has stopped changing, besides the schedule.
    pub watch_secs: Option<u64>,
    /// Flag the source in `absage status` when its last successful import is older than this.
    #[serde(default)]
    pub stale_after_minutes: Option<u64>,
    #[serde(default)]
    pub csv: CsvOptions,
    #[serde(default)]
    pub json: JsonOptions,
    #[serde(default)]
    pub ics: IcsOptions,
    #[serde(default)]
    pub sheet: SheetOptions,
    #[serde(default)]
    pub sql: SqlOptions,
    /// Fetch the export from a URL instead of `path`.
    #[serde(default)]
    pub http: HttpSource,
    /// Caps on cells, records, lines and unzipped sizes: a larger export is refused whole.
    #[serde(default)]
    pub limits: Limits,
    pub fields: FieldMapping,
    #[serde(default)]
    pub formats: Formats,
}

/// A calendar of upcoming appointments imported every few minutes loses a few per cent per
/// import (cancellations, appointments that ended); a quarter gone at once is a wrong file.
fn default_max_removal() -> f64 {
    0.25
}

impl SourceSettings {
    /// What the positions of its rejected rows count: a file's line, a JSON array's record, a
    /// spreadsheet's or a query's row.
    pub(crate) fn position_name(&self) -> &'static str {
        match self.kind {
            SourceKind::Spreadsheet | SourceKind::Sql => "row",
            SourceKind::Json => match self.json.layout {
                Layout::Ndjson => "line",
                Layout::Array => "record",
                Layout::Auto => "line (NDJSON) or record (array)",
            },
            _ => "line",
        }
    }

    /// How messages name its export, read from `file`: a query by its source, a file by its
    /// path.
    pub(crate) fn export_name(&self, file: &Path) -> String {
        match self.kind {
            SourceKind::Sql => format!("source {}", self.name),
            _ => file.display().to_string(),
        }
    }
}
