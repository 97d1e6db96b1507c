//! One import in progress ([`Importer`]): the export located and read, applied as one
//! snapshot in one transaction (chunk by chunk, see `chunk.rs`), bookings it lacks marked gone
//! unless that would remove too much, the tenant's active outages matched again, and the
//! outcome recorded in the import history.

use anyhow::Context;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::report::{ImportReport, Outcome};
use super::{
    ImportMode, ImportOptions, Now, Rematch, SourceKind, SourceSettings, chunk, feed, fingerprint,
    locate,
};
use crate::lifecycle::matching;
use crate::store::imports::ImportCounts;
use crate::store::{Store, bookings, imports, outages};

/// [`run`](super::run), with the lease held.
pub(super) async fn run_held(
    store: &Store,
    time_zone: Tz,
    rematch: &Rematch<'_>,
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
        imports::start(&mut conn, &source.tenant, &source.name, &shown, now).await?
    };
    let mut importer = Importer {
        store,
        time_zone,
        rematch,
        source,
        import_id,
        now,
        clock,
        url,
        report: ImportReport::new(import_id, source, PathBuf::from(&shown)),
        broken_first: HashSet::new(),
        written: None,
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
        fingerprint: None,
    };
    imports::finish(&mut conn, import_id, &report.counts, end, clock()).await?;
    result.map(|()| report)
}

/// One import in progress.
pub(super) struct Importer<'a, 'm> {
    store: &'a Store,
    /// The zone the export's local times are read in.
    time_zone: Tz,
    rematch: &'a Rematch<'m>,
    pub(super) source: &'a SourceSettings,
    pub(super) import_id: i64,
    /// The snapshot's time: bookings and outages are judged by it.
    pub(super) now: DateTime<Utc>,
    /// For when the import ends.
    clock: Now<'a>,
    /// The source's URL without credentials, when the export is downloaded.
    url: Option<String>,
    pub(super) report: ImportReport,
    /// The keys whose first row in this export was rejected: a later row of such a key is
    /// not taken for that citizen, whose booking stays as it was (see `chunk.rs`).
    pub(super) broken_first: HashSet<String>,
    /// The keys this import wrote, when the store held no booking of the source before it
    /// (see `chunk.rs`).
    pub(super) written: Option<chunk::Written>,
}

impl Importer<'_, '_> {
    /// Reads the export (a file given on the command line, or where the source says: a file,
    /// the newest of a folder or glob, a URL) and applies it as one snapshot, or refuses it whole.
    async fn apply(
        &mut self,
        file: &Path,
        given: bool,
        force: bool,
        progress: &(dyn Fn(u64) + Sync),
    ) -> anyhow::Result<()> {
        let (tenant, source) = (&self.source.tenant, &self.source.name);
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
        let fingerprint = self.fingerprint(&located.path).await;
        if let Some(fingerprint) = &fingerprint
            && !force
            && self.unchanged(fingerprint).await?
        {
            return Ok(());
        }
        // Messages name a download by its URL, not by the temporary file it was read from.
        let temporary = located.path.to_string_lossy().into_owned();
        let url = self.url.clone();
        let shown = |message: String| match &url {
            Some(url) => message.replace(&temporary, url),
            None => message,
        };
        let mut rx = match feed::spawn_reader(self.source, self.time_zone, &located.path).await {
            Ok(rx) => rx,
            Err(refusal) => {
                self.report.message = Some(shown(refusal));
                return Ok(());
            }
        };
        let mut tx = self.store.begin_bulk().await?;
        let before = bookings::count_held(&mut tx, tenant, source).await?;
        if before.all == 0 {
            self.written = Some(chunk::Written::default());
        }
        let mut flight = chunk::InFlight::default();
        let mut next = self.receive(&mut rx).await;
        loop {
            let sorted = match next {
                chunk::Next::Rows(sorted) => sorted,
                chunk::Next::End => break,
                chunk::Next::Aborted(why) => {
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
            next = (self.apply_chunk(&mut tx, sorted, &mut flight, &mut rx)).await?;
            progress(self.report.counts.rows_read as u64);
        }
        chunk::write_last(&mut tx, &mut flight).await?;
        if self.source.mode == ImportMode::Full {
            let refused = self.remove_missing(&mut tx, before, force).await?;
            if refused {
                tx.rollback().await?;
                return Ok(());
            }
        }
        let ctx = (self.rematch)(self.now, force);
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
            fingerprint: None,
        };
        imports::finish(&mut tx, self.import_id, c, end, (self.clock)()).await?;
        crate::store::notify_work(&mut tx).await?;
        tx.commit().await.context("committing the import")?;
        if let Some(fingerprint) = &fingerprint {
            self.keep_fingerprint(&located.path, fingerprint).await;
        }
        Ok(())
    }

    /// The fingerprint of reading the export at `path` as this source ([`fingerprint`]); none
    /// for a database, or a file that cannot be read (the reader says why).
    async fn fingerprint(&self, path: &Path) -> Option<String> {
        if self.source.kind == SourceKind::Sql {
            return None;
        }
        let (path, source) = (path.to_path_buf(), self.source.clone());
        let (time_zone, now) = (self.time_zone, self.now);
        tokio::task::spawn_blocking(move || fingerprint::of(&path, &source, time_zone, now))
            .await
            .ok()?
            .ok()
            .flatten()
    }

    /// Records the fingerprint of the export this import applied: taken before it was read,
    /// and kept only if the file still has it once read, so that a file rewritten in between
    /// is never taken for what it held before. (After the commit: no write lock held for it.
    /// Should the process stop before, the next import just reads the export.)
    async fn keep_fingerprint(&self, path: &Path, before: &str) {
        if self.fingerprint(path).await.as_deref() != Some(before) {
            return;
        }
        let kept = async {
            let mut conn = self.store.conn().await?;
            anyhow::Ok(imports::set_fingerprint(&mut conn, self.import_id, before).await?)
        };
        if let Err(e) = kept.await {
            // The import is applied; the next one just reads the export again.
            tracing::warn!(import = self.import_id, error = %format!("{e:#}"), "could not record what the import read");
        }
    }

    /// Whether the source's latest applied import read this very export with these settings:
    /// then the calendar is already what this import would make it, and it only records itself
    /// as applied, with that import's counts as a reading of unchanged rows, its rejected rows
    /// and contact problems. No booking is written and no outage matched again, so on SQLite
    /// the sending goes on meanwhile.
    async fn unchanged(&mut self, fingerprint: &str) -> anyhow::Result<bool> {
        let (tenant, source) = (&self.source.tenant, &self.source.name);
        let mut conn = self.store.conn().await?;
        let Some(last) = imports::last_applied_import(&mut conn, tenant, source).await? else {
            return Ok(false);
        };
        if last.fingerprint.as_deref() != Some(fingerprint) {
            return Ok(false);
        }
        let c = &last.counts;
        self.report.counts = ImportCounts {
            rows_read: c.rows_read,
            rows_unchanged: c.rows_new + c.rows_updated + c.rows_unchanged,
            rows_rejected: c.rows_rejected,
            rows_ignored: c.rows_ignored,
            rows_merged: c.rows_merged,
            ..ImportCounts::default()
        };
        self.report.rejected = from_json(last.rejected_json);
        self.report.contact = from_json(last.contact_json);
        self.report.outcome = Outcome::Applied;
        let message = format!(
            "unchanged: the same export, read with the same settings, as import #{} (applied); \
             the calendar already holds it, nothing was written",
            last.read_by.unwrap_or(last.id)
        );
        let rejected_json = serde_json::to_string(&self.report.rejected)?;
        let contact_json = serde_json::to_string(&self.report.contact)?;
        let end = imports::Ending {
            outcome: "applied",
            message: Some(&message),
            rejected_json: &rejected_json,
            contact_json: &contact_json,
            fingerprint: Some(fingerprint),
        };
        let at = (self.clock)();
        imports::finish(&mut conn, self.import_id, &self.report.counts, end, at).await?;
        self.report.message = Some(message);
        Ok(true)
    }

    /// A full snapshot: bookings it lacks are gone — unless that would remove more than the
    /// allowed share (a truncated or wrong file); then the import is refused (returns true).
    /// A source that held nothing but gone bookings before has nothing to lose, and its
    /// bookings are not read again for it (a first import of a million rows: 0.45 s).
    async fn remove_missing(
        &mut self,
        tx: &mut crate::store::Tx,
        before: bookings::Held,
        force: bool,
    ) -> anyhow::Result<bool> {
        if before.not_gone == 0 {
            return Ok(false);
        }
        let active_before = before.active;
        let (tenant, source) = (&self.source.tenant, &self.source.name);
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
        self.report.counts.rows_removed =
            bookings::mark_missing_gone(tx, tenant, source, self.import_id, self.now).await? as i64;
        Ok(false)
    }
}

/// A value an earlier import stored as JSON; the default where there is none (or it no longer
/// reads).
fn from_json<T: serde::de::DeserializeOwned + Default>(json: Option<String>) -> T {
    json.and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default()
}
