//! Importing a source: read the export (streaming, on a blocking thread), apply it as one
//! snapshot in one transaction, refuse it whole when it would wipe the calendar, re-match the
//! tenant's active outages, and record the outcome in the import history.
//!
//! - [`csv`]: the CSV/TSV reader; [`json`]: JSON and NDJSON; [`ics`]: iCalendar;
//!   [`sheet`]: XLSX, ODS (and XLS, XLSB) spreadsheets; [`sql`]: SQLite files and live PostgreSQL
//! - [`mapping`]: header names → booking fields, and parsing one row
//! - [`limits`]: caps on cells, records, lines and unzipped sizes (zip bombs are refused)
//! - [`lease`]: one import of a source at a time, on a short renewed lease

pub mod csv;
pub mod ics;
pub mod json;
pub mod lease;
pub mod limits;
pub mod locate;
pub mod mapping;
pub mod sheet;
pub mod sql;
pub mod watch;

use crate::config::{ImportMode, SourceKind, SourceSettings, TenantSettings};
use crate::domain::booking::{BookingRecord, BookingStatus};
use crate::domain::to_millis;
use crate::lifecycle::matching::{self, MatchContext, MatchStats};
use crate::messages::TemplateSet;
use crate::store::imports::ImportCounts;
use crate::store::{Store, bookings, imports, outages};
use anyhow::Context;
use chrono::{DateTime, Utc};
pub use lease::Busy;
use mapping::{ParseContext, RowError};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Rows of an export with the line each starts on.
type Rows = Vec<(BookingRecord, u64)>;

/// How many rejected rows an import report and the history keep (the count is always exact).
const KEEP_REJECTED: usize = 1000;
const CHUNK: usize = 1000;
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

/// What the positions of a source's rejected rows count.
fn position_name(source: &SourceSettings) -> &'static str {
    match source.kind {
        SourceKind::Spreadsheet | SourceKind::Sql => "row",
        SourceKind::Json => match source.json.layout {
            json::Layout::Ndjson => "line",
            json::Layout::Array => "record",
            json::Layout::Auto => "line (NDJSON) or record (array)",
        },
        _ => "line",
    }
}

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

type Chunk = Vec<Result<mapping::ParsedRow, RowError>>;

/// What the reader thread sends: rows, or the news that the file could not be read to its end
/// (then the snapshot is incomplete and must not be applied).
enum ReaderMsg {
    Rows(Chunk),
    Aborted(String),
}

/// The time now; the import reads it at its start (the snapshot's time) and its end.
pub type Now<'a> = &'a (dyn Fn() -> DateTime<Utc> + Send + Sync);

/// Imports one source, holding its lease ([`lease`]) for the time it runs. Errors are
/// infrastructure failures (database down), or [`Busy`] when another run imports the source
/// right now; a bad file is a refused import, reported in the returned report and the history.
pub async fn run(
    store: &Store,
    tenant: &TenantSettings,
    templates: &TemplateSet,
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
    let held = lease::take(store, &tenant.id, &source.name, by, clock()).await?;
    let (done, lost) = (CancellationToken::new(), CancellationToken::new());
    let work = async {
        let result = tokio::select! {
            result = run_held(store, tenant, templates, source, opts, clock, progress) => result,
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

/// [`run`], with the lease held.
async fn run_held(
    store: &Store,
    tenant: &TenantSettings,
    templates: &TemplateSet,
    source: &SourceSettings,
    opts: &ImportOptions,
    clock: Now<'_>,
    progress: &(dyn Fn(u64) + Sync),
) -> anyhow::Result<ImportReport> {
    let now = clock();
    let file = opts.file.clone().unwrap_or_else(|| source.path.clone());
    // A download is named by its URL (without credentials), never by its temporary file.
    let url = (opts.file.is_none() && !source.http.url.is_empty())
        .then(|| locate::redact(&source.http.url));
    let shown = url
        .clone()
        .unwrap_or_else(|| file.to_string_lossy().into_owned());
    let import_id = {
        let mut conn = store.conn().await?;
        imports::start(&mut conn, &tenant.id, &source.name, &shown, to_millis(now)).await?
    };
    let mut importer = Importer {
        store,
        tenant,
        templates,
        source,
        import_id,
        now,
        clock,
        url,
        report: ImportReport {
            import_id,
            source: source.name.clone(),
            tenant: tenant.id.clone(),
            file: PathBuf::from(&shown),
            position: position_name(source),
            outcome: Outcome::Refused,
            message: None,
            counts: ImportCounts::default(),
            warnings: 0,
            first_warnings: Vec::new(),
            rejected: Vec::new(),
            contact: ContactProblems::default(),
            rematched: Vec::new(),
        },
        persons: HashMap::new(),
    };
    let result = importer
        .apply(&file, opts.file.is_some(), opts.force, progress)
        .await;
    let mut report = importer.report;
    // An applied import recorded its outcome inside its own transaction; the others do it here.
    let outcome = match &result {
        Ok(()) if report.outcome == Outcome::Applied => return Ok(report),
        Ok(()) => "refused",
        Err(e) => {
            report.message = Some(format!("{e:#}"));
            "failed"
        }
    };
    let rejected_json = serde_json::to_string(&report.rejected)?;
    let contact_json = serde_json::to_string(&report.contact)?;
    let mut conn = store.conn().await?;
    let end = imports::Ending {
        outcome,
        message: report.message.as_deref(),
        rejected_json: &rejected_json,
        contact_json: &contact_json,
    };
    imports::finish(
        &mut conn,
        import_id,
        &report.counts,
        end,
        to_millis(clock()),
    )
    .await?;
    result.map(|()| report)
}

/// One import in progress.
struct Importer<'a> {
    store: &'a Store,
    tenant: &'a TenantSettings,
    templates: &'a TemplateSet,
    source: &'a SourceSettings,
    import_id: i64,
    /// The snapshot's time: bookings and outages are judged by it.
    now: DateTime<Utc>,
    /// For when the import ends.
    clock: Now<'a>,
    /// The source's URL without credentials, when the export is downloaded.
    url: Option<String>,
    report: ImportReport,
    /// The person ([`BookingRecord::person`]) of each key written by this import so far; an
    /// empty person for the key of a rejected row (whose citizen is unknown).
    persons: HashMap<String, String>,
}

impl Importer<'_> {
    /// Reads the export (a file given on the command line, or where the source says: a file,
    /// the newest of a folder or glob, a URL) and applies it as one snapshot, or refuses it whole.
    async fn apply(
        &mut self,
        file: &Path,
        given: bool,
        force: bool,
        progress: &(dyn Fn(u64) + Sync),
    ) -> anyhow::Result<()> {
        let (tenant, source) = (&self.tenant.id, &self.source.name);
        let no_http = locate::HttpSource::default();
        let http = if given { &no_http } else { &self.source.http };
        let located = match locate::locate(file, http).await {
            Ok(located) => located,
            Err(e) => {
                self.report.message = Some(format!("{e:#}"));
                return Ok(());
            }
        };
        if self.source.kind != SourceKind::Sql && self.url.is_none() {
            self.report.file = located.path.clone();
            let mut conn = self.store.conn().await?;
            let file = located.path.to_string_lossy();
            imports::set_location(&mut conn, self.import_id, &file).await?;
        }
        // Messages name a download by its URL, not by the temporary file it was read from.
        let temporary = located.path.to_string_lossy().into_owned();
        let url = self.url.clone();
        let shown = |message: String| match &url {
            Some(url) => message.replace(&temporary, url),
            None => message,
        };
        let mut rx = match spawn_reader(self.source, self.tenant, &located.path).await {
            Ok(rx) => rx,
            Err(refusal) => {
                self.report.message = Some(shown(refusal));
                return Ok(());
            }
        };
        let mut tx = self.store.begin().await?;
        let active_before = bookings::count_active(&mut tx, tenant, source).await?;
        while let Some(msg) = rx.recv().await {
            let chunk = match msg {
                ReaderMsg::Rows(chunk) => chunk,
                ReaderMsg::Aborted(why) => {
                    tx.rollback().await?;
                    // Nothing was applied; the counts say what the file held so far. The
                    // reader hands its refusal on as a last "row"; it is no row of the file.
                    if self
                        .report
                        .rejected
                        .last()
                        .is_some_and(|r| r.field.is_empty() && why.ends_with(&r.reason))
                    {
                        self.report.rejected.pop();
                        self.report.counts.rows_read -= 1;
                        self.report.counts.rows_rejected -= 1;
                    }
                    let why = shown(why);
                    self.report.message = Some(format!("refused: {why}; nothing was changed"));
                    return Ok(());
                }
            };
            self.apply_chunk(&mut tx, chunk).await?;
            progress(self.report.counts.rows_read as u64);
        }
        if self.source.mode == ImportMode::Full {
            let refused = self.remove_missing(&mut tx, active_before, force).await?;
            if refused {
                tx.rollback().await?;
                return Ok(());
            }
        }
        let ctx = MatchContext {
            tenant: self.tenant,
            templates: self.templates.for_tenant(&self.tenant.id),
            now: self.now,
            confirm_removals: force,
        };
        for outage in outages::active_outages(&mut tx, tenant).await? {
            let stats = matching::match_run(&mut tx, &ctx, &outage).await?;
            self.report.rematched.push((outage.id, stats));
        }
        self.report.outcome = Outcome::Applied;
        let rejected_json = serde_json::to_string(&self.report.rejected)?;
        let contact_json = serde_json::to_string(&self.report.contact)?;
        let c = &self.report.counts;
        let end = imports::Ending {
            outcome: "applied",
            message: None,
            rejected_json: &rejected_json,
            contact_json: &contact_json,
        };
        let ended = to_millis((self.clock)());
        imports::finish(&mut tx, self.import_id, c, end, ended).await?;
        crate::store::notify_work(&mut tx).await?;
        tx.commit().await.context("committing the import")?;
        Ok(())
    }

    /// A full snapshot: bookings it lacks are gone — unless that would remove more than the
    /// allowed share (a truncated or wrong file); then the import is refused (returns true).
    async fn remove_missing(
        &mut self,
        tx: &mut crate::store::Tx,
        active_before: i64,
        force: bool,
    ) -> anyhow::Result<bool> {
        let (tenant, source) = (&self.tenant.id, &self.source.name);
        let missing = bookings::count_missing(tx, tenant, source, self.import_id).await?;
        let share = missing as f64 / active_before.max(1) as f64;
        if active_before > 0 && !force && share > self.source.max_removal_share {
            self.report.message = Some(format!(
                "refused: this export would remove {missing} of {active_before} active bookings \
                 ({:.0} %, more than the allowed {:.0} %); the file may be truncated or the wrong \
                 one. Nothing was changed. Use --force if the calendar really shrank.",
                share * 100.0,
                self.source.max_removal_share * 100.0
            ));
            return Ok(true);
        }
        let now_ms = to_millis(self.now);
        self.report.counts.rows_removed =
            bookings::mark_missing_gone(tx, tenant, source, self.import_id, now_ms).await? as i64;
        Ok(false)
    }

    /// Counts what the row's contact data cost it: a channel, never the booking.
    fn note_contact(&mut self, rec: &BookingRecord, line: u64) {
        use mapping::Field;
        if rec.status == BookingStatus::Ignored {
            self.report.counts.rows_ignored += 1;
        }
        let fields = &self.source.fields;
        let problems = [
            (Field::Email, &rec.email_problem),
            (Field::Phone, &rec.phone_problem),
        ];
        let c = &mut self.report.contact;
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

    fn reject(&mut self, r: Rejected) {
        self.report.counts.rows_rejected += 1;
        if self.report.rejected.len() < KEEP_REJECTED {
            self.report.rejected.push(r);
        }
    }

    /// Folds the rows of keys seen before in this export, so that no citizen is lost to a
    /// repeated key: a row of the same person and time is another service of the same
    /// appointment (an export joined with its services) and joins it; a row of another person
    /// is another citizen and gets the key `KEY#person`, and so does a row of a key whose
    /// earlier row was rejected (that citizen's booking stays as it was). Returns the rows to write and the
    /// merges into bookings an earlier chunk already wrote.
    fn fold_repeated_keys(
        &mut self,
        valid: Vec<(BookingRecord, u64)>,
        broken_at: &HashMap<String, u64>,
    ) -> (Rows, Rows) {
        let mut out: Rows = Vec::with_capacity(valid.len());
        // Each key of this chunk: where its row is in `out`, and its person.
        let mut index: HashMap<String, (usize, String)> = HashMap::new();
        let mut into_written: Rows = Vec::new();
        let mut warnings = Vec::new();
        // The person of the row that holds `key` so far, in this chunk or an earlier one.
        let first = |key: &str, index: &HashMap<String, (usize, String)>| {
            index
                .get(key)
                .map(|(_, person)| person.clone())
                .or_else(|| self.persons.get(key).cloned())
        };
        for (mut rec, line) in valid {
            let person = rec.person();
            let after_broken = broken_at.get(&rec.key).is_some_and(|&at| at < line);
            if after_broken || first(&rec.key, &index).is_some_and(|p| p != person) {
                let own = format!("{}#{person}", rec.key);
                warnings.push(format!(
                    "line {line}: booking key {:?} is used for another citizen too; imported as \
                     {own:?}",
                    rec.key
                ));
                rec.key = own;
            }
            if first(&rec.key, &index).is_some() {
                // The same person at the same time under this key: another row of the booking.
                match index.get(&rec.key) {
                    Some((i, _)) => out[*i].0.absorb(&rec),
                    None => into_written.push((rec, line)),
                }
                self.report.counts.rows_merged += 1;
                continue;
            }
            index.insert(rec.key.clone(), (out.len(), person));
            out.push((rec, line));
        }
        for (key, (_, person)) in index {
            self.persons.entry(key).or_insert(person);
        }
        for w in warnings {
            self.note_warning(w);
        }
        (out, into_written)
    }

    fn note_warning(&mut self, text: String) {
        self.report.warnings += 1;
        if self.report.first_warnings.len() < MAX_LISTED_WARNINGS {
            self.report.first_warnings.push(text);
        }
    }

    /// Upserts one chunk: new and changed bookings in one statement, unchanged ones only
    /// touched. Repeated keys are folded first (see [`Self::fold_repeated_keys`]). A booking
    /// whose row is broken this time is kept as it was (touched), not taken for removed.
    async fn apply_chunk(&mut self, tx: &mut crate::store::Tx, chunk: Chunk) -> anyhow::Result<()> {
        let (tenant, source) = (self.tenant.id.clone(), self.source.name.clone());
        let mut valid: Vec<(BookingRecord, u64)> = Vec::with_capacity(chunk.len());
        let mut broken_keys = Vec::new();
        let mut broken_at: HashMap<String, u64> = HashMap::new();
        for row in chunk {
            self.report.counts.rows_read += 1;
            match row {
                Ok(parsed) => {
                    self.report.warnings += parsed.warnings.len() as u64;
                    for w in &parsed.warnings {
                        if self.report.first_warnings.len() < MAX_LISTED_WARNINGS {
                            self.report.first_warnings.push(w.to_string());
                        }
                    }
                    self.note_contact(&parsed.record, parsed.line);
                    valid.push((parsed.record, parsed.line));
                }
                Err(e) => {
                    if let Some(key) = &e.key {
                        broken_keys.push(key.clone());
                        broken_at.entry(key.clone()).or_insert(e.line);
                    }
                    self.reject(e.into());
                }
            }
        }
        let (valid, into_written) = self.fold_repeated_keys(valid, &broken_at);
        for key in &broken_keys {
            // The booking stays as it was; a later row of this key is not taken for it.
            self.persons.entry(key.clone()).or_default();
        }
        let mut keys: Vec<&str> = valid.iter().map(|(r, _)| r.key.as_str()).collect();
        keys.extend(broken_keys.iter().map(String::as_str));
        let existing = bookings::existing_by_keys(tx, &tenant, &source, &keys).await?;
        let mut seen = HashSet::new();
        let mut upserts = Vec::new();
        let mut touched = Vec::new();
        for (rec, line) in &valid {
            let old = existing.get(&rec.key);
            if !seen.insert(rec.key.as_str())
                || old.is_some_and(|o| o.last_import_id == self.import_id)
            {
                self.reject(Rejected {
                    line: *line,
                    cell: None,
                    field: "key".into(),
                    reason: format!(
                        "booking key {:?} appears more than once in this export; the first row was kept",
                        rec.key
                    ),
                });
                continue;
            }
            let hash = rec.content_hash();
            match old {
                None => {
                    self.report.counts.rows_new += 1;
                    upserts.push((rec, hash));
                }
                Some(o) if o.content_hash != hash || o.status == "gone" => {
                    self.report.counts.rows_updated += 1;
                    upserts.push((rec, hash));
                }
                Some(o) => {
                    self.report.counts.rows_unchanged += 1;
                    touched.push(o.id);
                }
            }
        }
        touched.extend(
            broken_keys
                .iter()
                .filter(|k| !seen.contains(k.as_str()))
                .filter_map(|k| existing.get(k))
                .filter(|o| o.last_import_id != self.import_id)
                .map(|o| o.id),
        );
        let now_ms = to_millis(self.now);
        bookings::upsert_many(tx, &tenant, &source, &upserts, self.import_id, now_ms).await?;
        bookings::touch(tx, &touched, self.import_id).await?;
        for (rec, _) in &into_written {
            bookings::absorb(tx, &tenant, &source, rec).await?;
        }
        Ok(())
    }
}

/// Streams a SQL source's rows in chunks; the source counts as opened with its first row (or
/// its end), as refused when the query fails or lacks mapped columns.
async fn read_sql(
    source: SourceSettings,
    ctx: ParseContext,
    tx: mpsc::Sender<ReaderMsg>,
    open_tx: tokio::sync::oneshot::Sender<Result<(), String>>,
) {
    let name = format!("source {}", source.name);
    let mut open_tx = Some(open_tx);
    let (row_tx, mut row_rx) = mpsc::channel(CHUNK);
    let reading = sql::read(
        &name,
        &source.sql,
        &source.fields,
        &source.formats,
        &ctx,
        row_tx,
    );
    let forwarding = async {
        let mut chunk = Vec::with_capacity(CHUNK);
        while let Some(row) = row_rx.recv().await {
            if let Some(open) = open_tx.take() {
                let _ = open.send(Ok(()));
            }
            chunk.push(row);
            if chunk.len() == CHUNK {
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
                if tx.send(ReaderMsg::Rows(full)).await.is_err() {
                    return;
                }
            }
        }
        if !chunk.is_empty() {
            let _ = tx.send(ReaderMsg::Rows(chunk)).await;
        }
    };
    let (result, ()) = tokio::join!(reading, forwarding);
    let stopped = match result {
        Err(refusal) => match open_tx.take() {
            Some(open) => {
                let _ = open.send(Err(refusal.to_string()));
                return;
            }
            None => Some(refusal.to_string()),
        },
        Ok(stopped) => stopped,
    };
    if let Some(open) = open_tx.take() {
        let _ = open.send(Ok(()));
    }
    if let Some(why) = stopped {
        let _ = tx.send(ReaderMsg::Aborted(format!("{name}: {why}"))).await;
    }
}

/// An open export of any kind.
enum Reader {
    Csv(Box<csv::CsvRecords>),
    Json(Box<json::JsonRecords>),
    Ics(Box<ics::IcsRecords>),
    Sheet(Box<sheet::SheetRecords>),
}

/// Sends the rows in chunks; false when the importer stopped listening.
fn pump(
    records: &mut impl Iterator<Item = Result<mapping::ParsedRow, RowError>>,
    tx: &mpsc::Sender<ReaderMsg>,
) -> bool {
    let mut chunk = Vec::with_capacity(CHUNK);
    for row in records {
        chunk.push(row);
        if chunk.len() == CHUNK {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
            if tx.blocking_send(ReaderMsg::Rows(full)).is_err() {
                return false;
            }
        }
    }
    chunk.is_empty() || tx.blocking_send(ReaderMsg::Rows(chunk)).is_ok()
}

/// Opens the export on a blocking thread and streams parsed rows in chunks through a bounded
/// channel, so memory stays bounded however large the file is. A file that is not what the
/// source expects is refused with one message.
async fn spawn_reader(
    source: &SourceSettings,
    tenant: &TenantSettings,
    file: &Path,
) -> Result<mpsc::Receiver<ReaderMsg>, String> {
    let (tx, rx) = mpsc::channel::<ReaderMsg>(4);
    let (open_tx, open_rx) = tokio::sync::oneshot::channel::<Result<(), String>>();
    let source = source.clone();
    let file = file.to_owned();
    let ctx = ParseContext {
        tz: tenant.time_zone,
        default_language: None,
        limits: source.limits,
    };
    if source.kind == SourceKind::Sql {
        tokio::spawn(read_sql(source, ctx, tx, open_tx));
        return match open_rx.await {
            Ok(Ok(())) => Ok(rx),
            Ok(Err(refusal)) => Err(refusal),
            Err(_) => Err("the export reader stopped unexpectedly".into()),
        };
    }
    tokio::task::spawn_blocking(move || {
        let opened = match source.kind {
            SourceKind::Csv => {
                csv::open_file(&file, &source.csv, &source.fields, &source.formats, &ctx)
                    .map(|r| Reader::Csv(Box::new(r)))
                    .map_err(|e| e.to_string())
            }
            SourceKind::Sql => unreachable!("SQL sources are read by read_sql"),
            SourceKind::Spreadsheet => {
                sheet::open_file(&file, &source.sheet, &source.fields, &source.formats, &ctx)
                    .map(|r| Reader::Sheet(Box::new(r)))
                    .map_err(|e| e.to_string())
            }
            SourceKind::Ics => {
                ics::open_file(&file, &source.ics, &source.fields, &source.formats, &ctx)
                    .map(|r| Reader::Ics(Box::new(r)))
                    .map_err(|e| e.to_string())
            }
            SourceKind::Json => {
                json::open_file(&file, &source.json, &source.fields, &source.formats, &ctx)
                    .map(|r| Reader::Json(Box::new(r)))
                    .map_err(|e| e.to_string())
            }
        };
        let reader = match opened {
            Ok(r) => {
                let _ = open_tx.send(Ok(()));
                r
            }
            Err(refusal) => {
                let _ = open_tx.send(Err(refusal));
                return;
            }
        };
        let aborted = match reader {
            Reader::Csv(mut r) => pump(&mut *r, &tx).then(|| r.report().aborted.clone()),
            Reader::Json(mut r) => pump(&mut *r, &tx).then(|| r.report().aborted.clone()),
            Reader::Ics(mut r) => pump(&mut *r, &tx).then(|| r.report().aborted.clone()),
            Reader::Sheet(mut r) => pump(&mut *r, &tx).then(|| r.report().aborted.clone()),
        };
        if let Some(Some(why)) = aborted {
            let _ = tx.blocking_send(ReaderMsg::Aborted(format!("{}: {why}", file.display())));
        }
    });
    match open_rx.await {
        Ok(Ok(())) => Ok(rx),
        Ok(Err(refusal)) => Err(refusal),
        Err(_) => Err("the export reader stopped unexpectedly".into()),
    }
}
