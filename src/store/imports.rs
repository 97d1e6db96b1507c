//! The import history: every reading of every source, with its counts and outcome.

use super::{Conn, MaybeMillis, Millis};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Counts of one import, as stored.
#[derive(Debug, Clone, Default, Serialize, sqlx::FromRow)]
pub struct ImportCounts {
    pub rows_read: i64,
    pub rows_new: i64,
    pub rows_updated: i64,
    pub rows_unchanged: i64,
    pub rows_removed: i64,
    pub rows_rejected: i64,
    /// Imported rows whose status says they are no appointment (drafts, blocked slots).
    pub rows_ignored: i64,
    /// Rows of a key read earlier in the same export for the same citizen and time (one row
    /// per service): they joined that booking.
    pub rows_merged: i64,
}

impl ImportCounts {
    /// Rows that became a booking or part of one: new, changed, unchanged and merged ones.
    pub fn imported(&self) -> i64 {
        self.rows_new + self.rows_updated + self.rows_unchanged + self.rows_merged
    }

    /// The conservation line every import prints: each row read became a booking or was
    /// rejected with its reason — nothing else happens to a row. A refused import applied
    /// nothing; its counts say what the file held.
    pub fn conservation(&self, applied: bool) -> String {
        let ignored = match (self.rows_ignored, self.rows_merged) {
            (0, 0) => String::new(),
            (n, 0) => format!(" (of which {n} ignored: no appointment)"),
            (0, m) => format!(" (of which {m} merged: another service of the same booking)"),
            (n, m) => format!(
                " (of which {n} ignored: no appointment; {m} merged: another service of the \
                 same booking)"
            ),
        };
        let holds = if self.rows_read == self.imported() + self.rows_rejected {
            ""
        } else {
            " — COUNTS DO NOT ADD UP, please report this"
        };
        let (imported, refused) = match applied {
            true => ("imported", ""),
            false => ("readable", "; refused, nothing applied"),
        };
        format!(
            "read {} = {imported} {}{ignored} + rejected {}{holds}{refused}",
            self.rows_read,
            self.imported(),
            self.rows_rejected
        )
    }
}

/// One line of the import history.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ImportRow {
    pub id: i64,
    pub tenant_id: String,
    pub source: String,
    pub location: String,
    #[sqlx(try_from = "Millis")]
    pub started_at: DateTime<Utc>,
    #[sqlx(try_from = "MaybeMillis")]
    pub finished_at: Option<DateTime<Utc>>,
    pub outcome: String,
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub counts: ImportCounts,
    pub message: Option<String>,
}

/// Records the start of an import (outside the import's own transaction, so that a refused or
/// failed import still leaves a trace).
pub async fn start(
    conn: &mut Conn,
    tenant: &str,
    source: &str,
    location: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "insert into imports (tenant_id, source, location, started_at, outcome) \
         values ($1, $2, $3, $4, 'running') returning id",
    )
    .bind(tenant)
    .bind(source)
    .bind(location)
    .bind(Millis::of(now))
    .fetch_one(&mut *conn)
    .await
}

/// Records which file a folder or glob resolved to (also for a URL's download: the URL).
pub async fn set_location(conn: &mut Conn, id: i64, location: &str) -> sqlx::Result<()> {
    sqlx::query("update imports set location = $2 where id = $1")
        .bind(id)
        .bind(location)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Marks failed every import of a source still `running`: the caller holds the source's lease,
/// so no other run is importing it, and these were left by a process that stopped. Returns how
/// many.
pub async fn fail_interrupted(
    conn: &mut Conn,
    tenant: &str,
    source: &str,
    now: DateTime<Utc>,
    message: &str,
) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "update imports set outcome = 'failed', finished_at = $3, message = $4 \
         where outcome = 'running' and tenant_id = $1 and source = $2",
    )
    .bind(tenant)
    .bind(source)
    .bind(Millis::of(now))
    .bind(message)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

/// Marks failed every import still `running` whose source's lease (`import:TENANT:SOURCE`) has
/// run out or is gone: the process that ran it stopped. Returns how many.
pub async fn fail_orphans(conn: &mut Conn, now: DateTime<Utc>, message: &str) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "update imports set outcome = 'failed', finished_at = $1, message = $2 \
         where outcome = 'running' and not exists (select 1 from job_leases l \
         where l.name = 'import:' || imports.tenant_id || ':' || imports.source \
         and l.lease_until > $1)",
    )
    .bind(Millis::of(now))
    .bind(message)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

/// The file and start time of a source's latest import, whatever its outcome.
pub async fn latest_of(
    conn: &mut Conn,
    tenant: &str,
    source: &str,
) -> sqlx::Result<Option<(String, DateTime<Utc>)>> {
    let row: Option<(String, i64)> = sqlx::query_as(
        "select location, started_at from imports where tenant_id = $1 and source = $2 \
         order by id desc limit 1",
    )
    .bind(tenant)
    .bind(source)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|(file, at)| (file, crate::domain::from_millis(at))))
}

/// How an import ended, besides its counts.
#[derive(Debug, Clone, Copy)]
pub struct Ending<'a> {
    /// applied, refused or failed
    pub outcome: &'a str,
    pub message: Option<&'a str>,
    /// The first rejected rows, and the contact problems, as JSON.
    pub rejected_json: &'a str,
    pub contact_json: &'a str,
    /// What an applied import read (see [`LastApplied`]); none for the others.
    pub fingerprint: Option<&'a str>,
}

/// Records how an import ended.
pub async fn finish(
    conn: &mut Conn,
    id: i64,
    counts: &ImportCounts,
    end: Ending<'_>,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    let Ending {
        outcome,
        message,
        rejected_json,
        contact_json,
        fingerprint,
    } = end;
    sqlx::query(
        "update imports set outcome = $2, finished_at = $3, rows_read = $4, rows_new = $5, \
         rows_updated = $6, rows_unchanged = $7, rows_removed = $8, rows_rejected = $9, \
         message = $10, rejected_json = $11, rows_ignored = $12, contact_json = $13, \
         rows_merged = $14, fingerprint = $15 where id = $1",
    )
    .bind(id)
    .bind(outcome)
    .bind(Millis::of(now))
    .bind(counts.rows_read)
    .bind(counts.rows_new)
    .bind(counts.rows_updated)
    .bind(counts.rows_unchanged)
    .bind(counts.rows_removed)
    .bind(counts.rows_rejected)
    .bind(message)
    .bind(rejected_json)
    .bind(counts.rows_ignored)
    .bind(contact_json)
    .bind(counts.rows_merged)
    .bind(fingerprint)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records what an applied import read (see [`LastApplied`]).
pub async fn set_fingerprint(conn: &mut Conn, id: i64, fingerprint: &str) -> sqlx::Result<()> {
    sqlx::query("update imports set fingerprint = $2 where id = $1")
        .bind(id)
        .bind(fingerprint)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The latest applied import of a source: what the source's bookings are now.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LastApplied {
    pub id: i64,
    /// A SHA-256 of the export's bytes and of the settings it was read with (none for a
    /// database source, a forced import, or one applied before fingerprints were kept).
    pub fingerprint: Option<String>,
    #[sqlx(flatten)]
    pub counts: ImportCounts,
    pub rejected_json: Option<String>,
    pub contact_json: Option<String>,
    /// The first of the applied imports in a row with this fingerprint: the one that read the
    /// export (those after it found it unchanged).
    pub read_by: Option<i64>,
}

/// The latest applied import of a source, if any.
pub async fn last_applied_import(
    conn: &mut Conn,
    tenant: &str,
    source: &str,
) -> sqlx::Result<Option<LastApplied>> {
    sqlx::query_as(
        "select i.id, i.fingerprint, i.rows_read, i.rows_new, i.rows_updated, \
         i.rows_unchanged, i.rows_removed, i.rows_rejected, i.rows_ignored, i.rows_merged, \
         i.rejected_json, i.contact_json, \
         (select min(j.id) from imports j where j.tenant_id = $1 and j.source = $2 \
           and j.outcome = 'applied' and j.fingerprint = i.fingerprint \
           and j.id > coalesce((select max(k.id) from imports k where k.tenant_id = $1 \
             and k.source = $2 and k.outcome = 'applied' and k.id < i.id \
             and (k.fingerprint is null or k.fingerprint <> i.fingerprint)), 0)) as read_by \
         from imports i where i.tenant_id = $1 and i.source = $2 and i.outcome = 'applied' \
         order by i.id desc limit 1",
    )
    .bind(tenant)
    .bind(source)
    .fetch_optional(&mut *conn)
    .await
}

impl ImportRow {
    /// How long the import took; None while it runs.
    pub fn duration_ms(&self) -> Option<i64> {
        self.finished_at
            .map(|f| (f - self.started_at).num_milliseconds())
    }
}

/// The newest imports first, of one source or of all.
pub async fn history(
    conn: &mut Conn,
    source: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<ImportRow>> {
    sqlx::query_as(
        "select id, tenant_id, source, location, started_at, finished_at, outcome, rows_read, \
         rows_new, rows_updated, rows_unchanged, rows_removed, rows_rejected, rows_ignored, rows_merged, message \
         from imports where cast($1 as text) is null or source = $1 order by id desc limit $2",
    )
    .bind(source)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await
}

/// The newest imports of a tenant's sources first.
pub async fn history_of_tenant(
    conn: &mut Conn,
    tenant: &str,
    limit: i64,
) -> sqlx::Result<Vec<ImportRow>> {
    sqlx::query_as(
        "select id, tenant_id, source, location, started_at, finished_at, outcome, rows_read, \
         rows_new, rows_updated, rows_unchanged, rows_removed, rows_rejected, rows_ignored, rows_merged, message \
         from imports where tenant_id = $1 order by id desc limit $2",
    )
    .bind(tenant)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await
}

/// One import of a tenant with its rejected rows (JSON), if it is the tenant's.
pub async fn with_rejected(
    conn: &mut Conn,
    tenant: &str,
    id: i64,
) -> sqlx::Result<Option<(ImportRow, Option<String>)>> {
    let row: Option<ImportRow> = sqlx::query_as(
        "select id, tenant_id, source, location, started_at, finished_at, outcome, rows_read, \
         rows_new, rows_updated, rows_unchanged, rows_removed, rows_rejected, rows_ignored, rows_merged, message \
         from imports where tenant_id = $1 and id = $2",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let rejected: Option<String> =
        sqlx::query_scalar("select rejected_json from imports where id = $1")
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
    Ok(Some((row, rejected)))
}

/// The contact problems of one import of a tenant (JSON of `import::ContactProblems`), if it
/// is the tenant's and recorded them.
pub async fn contact_of(conn: &mut Conn, tenant: &str, id: i64) -> sqlx::Result<Option<String>> {
    let found: Option<Option<String>> =
        sqlx::query_scalar("select contact_json from imports where tenant_id = $1 and id = $2")
            .bind(tenant)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(found.flatten())
}

/// The latest import of each source, and the latest successful one's finish time.
/// A source's latest import and when it last imported successfully.
pub type Latest = (ImportRow, Option<DateTime<Utc>>);

pub async fn latest_per_source(conn: &mut Conn) -> sqlx::Result<Vec<Latest>> {
    let rows: Vec<ImportRow> = sqlx::query_as(
        "select id, tenant_id, source, location, started_at, finished_at, outcome, rows_read, \
         rows_new, rows_updated, rows_unchanged, rows_removed, rows_rejected, rows_ignored, rows_merged, message \
         from imports i where id = (select max(id) from imports j \
         where j.tenant_id = i.tenant_id and j.source = i.source) order by tenant_id, source",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let ok: Option<i64> = sqlx::query_scalar(
            "select max(finished_at) from imports where tenant_id = $1 and source = $2 \
             and outcome = 'applied'",
        )
        .bind(&row.tenant_id)
        .bind(&row.source)
        .fetch_one(&mut *conn)
        .await?;
        out.push((row, ok.map(crate::domain::from_millis)));
    }
    Ok(out)
}

/// When the given source last imported successfully.
pub async fn last_applied(
    conn: &mut Conn,
    tenant: &str,
    source: &str,
) -> sqlx::Result<Option<DateTime<Utc>>> {
    let at: Option<i64> = sqlx::query_scalar(
        "select max(finished_at) from imports where tenant_id = $1 and source = $2 \
         and outcome = 'applied'",
    )
    .bind(tenant)
    .bind(source)
    .fetch_one(&mut *conn)
    .await?;
    Ok(at.map(crate::domain::from_millis))
}
