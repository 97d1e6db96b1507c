//! Importing a source: read the export (streaming, on a thread of its own), apply it as one
//! snapshot in one transaction, refuse it whole when it would wipe the calendar, re-match the
//! tenant's active outages, and record the outcome in the import history.
//!
//! - [`SourceSettings`] (`source.rs`): a source's kind, place and mode; each reader's options
//!   (`CsvOptions`, …) live beside its reader
//! - [`read`]: the contract every reader keeps: a refusal of the whole export, or its rows one at
//!   a time at their positions, stopping for good where the export turns out incomplete
//! - [`csv`]: the CSV/TSV reader; [`json`]: JSON and NDJSON; [`ics`]: iCalendar;
//!   [`sheet`]: XLSX, ODS (and XLS, XLSB) spreadsheets; [`sql`]: SQLite files and live
//!   PostgreSQL or MySQL/MariaDB databases
//! - [`mapping`]: header names → booking fields, and parsing one row
//! - [`limits`]: caps on cells, records, lines and unzipped sizes (zip bombs are refused)
//! - [`locate`], [`watch`]: where the export is (a file, the newest of a folder, a URL), and
//!   noticing a new one
//! - [`lease`]: one import of a source at a time, on a short renewed lease
//! - `fingerprint.rs`: what an import reads as one hash; the same export as the latest applied
//!   import's is not applied again
//! - `feed.rs`: opening the export as its kind reads it, streaming its rows in chunks;
//!   `snapshot.rs`, `chunk.rs`: applying it as one snapshot; `report.rs`: what an import did
//!   ([`ImportReport`])

mod chunk;
pub mod csv;
mod feed;
mod fingerprint;
pub mod ics;
pub mod json;
pub mod lease;
pub mod limits;
pub mod locate;
pub mod mapping;
pub mod read;
mod report;
pub mod sheet;
mod snapshot;
mod source;
pub mod sql;
pub mod watch;

use crate::lifecycle::matching::MatchContext;
use crate::store::Store;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

pub use lease::Busy;
pub use report::{ContactProblems, ImportReport, Outcome, Rejected};
pub use source::{ImportMode, SourceKind, SourceSettings};

/// Options of one import run.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Read this file instead of the source's configured path.
    pub file: Option<PathBuf>,
    /// Apply even if the snapshot would remove more than `max_removal_share`.
    pub force: bool,
    /// Who runs it ("cli:anna", "api:olga", "HOST-PID-…/schedule"): the owner of the source's
    /// lease while it runs, made unique per run.
    pub by: String,
}

/// The time now; the import reads it at its start (the snapshot's time) and its end.
pub type Now<'a> = &'a (dyn Fn() -> DateTime<Utc> + Send + Sync);

/// How the tenant's active outages are matched again once a snapshot is applied: the matching
/// context at the snapshot's time, confirming removals when the import is forced. The caller
/// builds it from the tenant's settings and templates, which the import does not read.
pub type Rematch<'a> = dyn Fn(DateTime<Utc>, bool) -> MatchContext<'a> + Sync + 'a;

/// Imports one source into its tenant's calendar (`source.tenant`), reading the export's local
/// times in `time_zone`, holding the source's lease ([`lease`]) for the time it runs. Errors are
/// infrastructure failures (database down), or [`Busy`] when another run imports the source
/// right now; a bad file is a refused import, reported in the returned report and the history.
pub async fn run(
    store: &Store,
    time_zone: Tz,
    rematch: &Rematch<'_>,
    source: &SourceSettings,
    opts: &ImportOptions,
    clock: Now<'_>,
    progress: &(dyn Fn(u64) + Sync),
) -> anyhow::Result<ImportReport> {
    let by = if opts.by.is_empty() {
        "absage"
    } else {
        &opts.by
    };
    let held = lease::take(store, &source.tenant, &source.name, by, clock()).await?;
    let (done, lost) = (CancellationToken::new(), CancellationToken::new());
    let work = async {
        let result = tokio::select! {
            result = snapshot::run_held(store, time_zone, rematch, source, opts, clock, progress) => result,
            // Dropping the import rolls its transaction back.
            () = lost.cancelled() => Err(anyhow::anyhow!(lease::LOST)),
        };
        done.cancel();
        result
    };
    let (result, ()) = tokio::join!(work, lease::keep(store, &held, clock, &done, &lost));
    lease::give_back(store, &held).await;
    result
}
