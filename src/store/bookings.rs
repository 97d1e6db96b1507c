//! Bookings: absage's own copy of the calendar.

use super::{Conn, Millis, Params};
use crate::domain::booking::{BookingRecord, BookingStatus, join_list};
use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;
use std::collections::HashMap;

/// What the store already holds for a booking key.
#[derive(Debug, Clone)]
pub struct Existing {
    pub id: i64,
    pub content_hash: String,
    pub status: String,
    pub last_import_id: i64,
    /// [`BookingRecord::person`] of the row that wrote it; `None` for a booking written before
    /// it was kept.
    pub person: Option<String>,
}

/// A booking an import writes: the record with its [`BookingRecord::content_hash`] and
/// [`BookingRecord::person`].
#[derive(Debug, Clone, Copy)]
pub struct Write<'a> {
    pub record: &'a BookingRecord,
    pub content_hash: &'a str,
    pub person: &'a str,
    /// The store held no booking of this key when the chunk was read: it is inserted, not
    /// upserted (see [`bind_upserts`]).
    pub new: bool,
}

/// A booking as matching and messages need it. Its fields are `BOOKING_COLUMNS` in order: it
/// is also read from a JSON array of their values ([`from_json`]).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, sqlx::FromRow)]
pub struct BookingRow {
    pub id: i64,
    pub tenant_id: String,
    pub source: String,
    pub booking_key: String,
    #[sqlx(try_from = "Millis")]
    #[serde(deserialize_with = "chrono::serde::ts_milliseconds::deserialize")]
    pub starts_at: DateTime<Utc>,
    #[sqlx(try_from = "Millis")]
    #[serde(deserialize_with = "chrono::serde::ts_milliseconds::deserialize")]
    pub ends_at: DateTime<Utc>,
    pub service: String,
    pub location: String,
    pub name: String,
    pub email: Option<String>,
    pub phone_raw: Option<String>,
    pub phone_e164: Option<String>,
    pub phone_mobile: i64,
    pub language: Option<String>,
    pub status: String,
    pub revision: i64,
    /// Why the export's email address or phone number could not be used.
    pub email_problem: Option<String>,
    pub phone_problem: Option<String>,
    /// Further numbers as typed, one per line, for staff to phone.
    pub phone_other: Option<String>,
}

const BOOKING_COLUMNS: &str = "id, tenant_id, source, booking_key, starts_at, ends_at, service, \
     location, name, email, phone_raw, phone_e164, phone_mobile, language, status, revision, \
     email_problem, phone_problem, phone_other";

/// The stored state of the given keys of one source.
pub async fn existing_by_keys(
    conn: &mut Conn,
    tenant: &str,
    source: &str,
    keys: &[&str],
) -> sqlx::Result<HashMap<String, Existing>> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    if is_postgres(conn) {
        // One unique-index probe per key, whatever the statistics say: during a first big
        // import they are stale, and a join would scan the whole source for every chunk. The
        // `limit` keeps the planner from flattening the lateral subquery into such a join.
        let rows = sqlx::query_as::<_, ExistingRow>(
            "select b.id, k.key, b.content_hash, b.status, b.last_import_id, b.person \
             from json_array_elements_text($3::json) as k(key) cross join lateral \
             (select id, content_hash, status, last_import_id, person from bookings \
              where tenant_id = $1 and source = $2 and booking_key = k.key limit 1) as b",
        )
        .bind(tenant)
        .bind(source)
        .bind(json_array(keys))
        .fetch_all(&mut *conn)
        .await?;
        return Ok(rows.into_iter().map(existing).collect());
    }
    // One JSON value instead of a row per key, and the keys in one JSON parameter: each row
    // and each parameter costs the driver more (copies, allocations) than SQLite takes to
    // write or read it in JSON.
    let mut p = Params::new(conn);
    let sql = format!(
        "select json_group_array(json_array(id, booking_key, content_hash, status, \
         last_import_id, person)) from bookings \
         where tenant_id = {} and source = {} \
         and booking_key in (select value from json_each({}))",
        p.one(),
        p.one(),
        p.one(),
    );
    let q = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql))
        .bind(tenant)
        .bind(source)
        .bind(json_array(keys));
    let json = q.fetch_one(&mut *conn).await?;
    let rows: Vec<ExistingRow> =
        serde_json::from_str(&json).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    Ok(rows.into_iter().map(existing).collect())
}

type ExistingRow = (i64, String, String, String, i64, Option<String>);

fn existing(
    (id, key, content_hash, status, last_import_id, person): ExistingRow,
) -> (String, Existing) {
    (
        key,
        Existing {
            id,
            content_hash,
            status,
            last_import_id,
            person,
        },
    )
}

fn is_postgres(conn: &Conn) -> bool {
    conn.backend_name() == "PostgreSQL"
}

/// A JSON array of the values: on PostgreSQL a whole chunk travels as one bound parameter
/// (`json_array_elements_text`, `json_to_recordset`) instead of one parameter per value.
fn json_array<T: serde::Serialize>(values: &[T]) -> String {
    serde_json::to_string(values).expect("plain values serialise to JSON")
}

/// A statement with its values bound, to run later: it owns its text and values.
type Bound = sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments>;

/// The statements that write a chunk's bookings, bound before their turn ([`bind_upserts`]):
/// an import binds one chunk while the database writes the one before.
#[derive(Default)]
pub struct Upserts {
    /// SQLite: `insert or ignore` statements of the new bookings, each with how many it holds.
    inserts: Vec<(Bound, usize)>,
    /// Upserts: of the changed bookings on SQLite, of all on PostgreSQL.
    upserts: Vec<Bound>,
}

/// Binds the statements that insert new bookings and overwrite changed ones.
///
/// On SQLite the new ones are inserted without an upsert clause: a statement of many rows that
/// may abort half-way (an upsert may) journals every page it changes first, and with the
/// booking-time index filled in export order, not time order, that was a third of an import
/// (`sqlite3` alone: 8.7 s for 1,000,000 rows in statements of 1,000 with the journal, 5.6 s
/// without). They are inserted `or ignore`, which never aborts; the rows that did not go in (a
/// key the store held after all, a broken value) are upserted after it ([`write_upserts`]), so
/// the end is what the upsert alone writes and every error it would raise is still raised.
pub fn bind_upserts(
    postgres: bool,
    tenant: &str,
    source: &str,
    records: &[Write<'_>],
    import_id: i64,
    now: DateTime<Utc>,
) -> Upserts {
    if postgres {
        let upserts = records
            .chunks(5000)
            .map(|chunk| bind_postgres(tenant, source, chunk, import_id, now))
            .collect();
        return Upserts {
            inserts: Vec::new(),
            upserts,
        };
    }
    let (new, changed): (Vec<Write>, Vec<Write>) = records.iter().partition(|w| w.new);
    let bind = |chunk: &[Write], upsert| bind_sqlite(tenant, source, chunk, import_id, now, upsert);
    Upserts {
        inserts: new
            .chunks(ROWS_PER_STATEMENT)
            .map(|chunk| (bind(chunk, ""), chunk.len()))
            .collect(),
        upserts: changed
            .chunks(ROWS_PER_STATEMENT)
            .map(|chunk| bind(chunk, UPSERT))
            .collect(),
    }
}

/// Runs the statements [`bind_upserts`] bound for `records`, the first of them first. The new
/// bookings an `insert or ignore` left out are upserted: those of its keys the store does not
/// hold as written by this import.
pub async fn write_upserts(
    conn: &mut Conn,
    bound: Upserts,
    (tenant, source): (&str, &str),
    records: &[Write<'_>],
    import_id: i64,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    let mut new = records.iter().filter(|w| w.new);
    for (statement, len) in bound.inserts {
        let chunk: Vec<Write> = new.by_ref().take(len).copied().collect();
        let inserted = statement.execute(&mut *conn).await?.rows_affected();
        if inserted < len as u64 {
            let mut p = Params::new(conn);
            let sql = format!(
                "select booking_key from bookings where tenant_id = {} and source = {} \
                 and last_import_id = {} and booking_key in ({})",
                p.one(),
                p.one(),
                p.one(),
                p.list(chunk.len())
            );
            let mut q = sqlx::query_scalar(AssertSqlSafe(sql))
                .bind(tenant)
                .bind(source)
                .bind(import_id);
            for w in &chunk {
                q = q.bind(w.record.key.as_str());
            }
            let mine: std::collections::HashSet<String> =
                q.fetch_all(&mut *conn).await?.into_iter().collect();
            let rest: Vec<Write> = chunk
                .iter()
                .filter(|w| !mine.contains(&w.record.key))
                .copied()
                .collect();
            if !rest.is_empty() {
                bind_sqlite(tenant, source, &rest, import_id, now, UPSERT)
                    .execute(&mut *conn)
                    .await?;
            }
        }
    }
    for statement in bound.upserts {
        statement.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Within SQLite's limit of 32,766 parameters per statement.
const ROWS_PER_STATEMENT: usize = 1500;

/// One statement writing the rows on SQLite: with `upsert` ([`UPSERT`]) an upsert, without it
/// an `insert or ignore`.
fn bind_sqlite(
    tenant: &str,
    source: &str,
    chunk: &[Write<'_>],
    import_id: i64,
    now: DateTime<Utc>,
    upsert: &str,
) -> Bound {
    // What every row shares is bound once per statement; each row brings the rest.
    const COLS: usize = 17;
    let mut p = Params::sqlite();
    let shared = [p.one(), p.one(), p.one(), p.one()];
    let rows = p.rows(chunk.len(), COLS);
    let [tenant_p, source_p, import_p, now_p] = &shared;
    let or_ignore = if upsert.is_empty() { "or ignore " } else { "" };
    // The row values are v.column1…; INSERT … SELECT needs its WHERE before ON CONFLICT.
    let sql = format!(
        "insert {or_ignore}into bookings (tenant_id, source, booking_key, starts_at, ends_at, \
         service, location, name, email, phone_raw, phone_e164, phone_mobile, language, status, \
         content_hash, last_import_id, updated_at, email_problem, phone_problem, \
         phone_other, person) \
         select {tenant_p}, {source_p}, v.column1, v.column2, v.column3, v.column4, \
         v.column5, v.column6, v.column7, v.column8, v.column9, v.column10, v.column11, \
         v.column12, v.column13, {import_p}, {now_p}, v.column14, v.column15, v.column16, \
         v.column17 from (values {rows}) as v where true {upsert}"
    );
    let mut q = sqlx::query(AssertSqlSafe(sql))
        .bind(tenant)
        .bind(source)
        .bind(import_id)
        .bind(Millis::of(now));
    for w in chunk {
        let (rec, phone) = (w.record, w.record.phone.as_ref());
        q = q
            .bind(rec.key.as_str())
            .bind(rec.starts_at.timestamp_millis())
            .bind(rec.ends_at.timestamp_millis())
            .bind(rec.service.as_str())
            .bind(rec.location.as_str())
            .bind(rec.name.as_str())
            .bind(rec.email.as_ref().map(|e| e.as_str()))
            .bind(phone.map(|p| p.raw.as_str()))
            .bind(phone.and_then(|p| p.e164.as_deref()))
            .bind(i64::from(phone.is_some_and(|p| p.mobile)))
            .bind(rec.language.as_ref().map(|l| l.code()))
            .bind(status_text(rec.status))
            .bind(w.content_hash)
            .bind(rec.email_problem.as_deref())
            .bind(rec.phone_problem.as_deref())
            .bind(other_phones(rec))
            .bind(w.person);
    }
    q
}

fn status_text(status: BookingStatus) -> &'static str {
    status.as_str()
}

fn other_phones(rec: &BookingRecord) -> Option<String> {
    Some(rec.other_phones.join("\n")).filter(|s| !s.is_empty())
}

/// The update of an existing booking by a newer export. An email address or mobile number
/// that is broken in this export while an earlier one was good keeps the earlier value (the
/// problem stays recorded with it): a typo made while editing the booking must not cost the
/// citizen the message. A field that is simply empty now is taken as deleted.
const UPSERT: &str = "on conflict (tenant_id, source, booking_key) do update set \
     starts_at = excluded.starts_at, ends_at = excluded.ends_at, \
     service = excluded.service, location = excluded.location, name = excluded.name, \
     email = case when excluded.email is null and excluded.email_problem is not null \
         then bookings.email else excluded.email end, \
     phone_raw = case when excluded.phone_mobile = 0 and excluded.phone_problem is not null \
         and bookings.phone_mobile = 1 then bookings.phone_raw else excluded.phone_raw end, \
     phone_e164 = case when excluded.phone_mobile = 0 and excluded.phone_problem is not null \
         and bookings.phone_mobile = 1 then bookings.phone_e164 else excluded.phone_e164 end, \
     phone_mobile = case when excluded.phone_mobile = 0 and excluded.phone_problem is not null \
         and bookings.phone_mobile = 1 then 1 else excluded.phone_mobile end, \
     language = excluded.language, status = excluded.status, \
     content_hash = excluded.content_hash, last_import_id = excluded.last_import_id, \
     updated_at = excluded.updated_at, email_problem = excluded.email_problem, \
     phone_problem = excluded.phone_problem, phone_other = excluded.phone_other, \
     person = excluded.person, revision = bookings.revision + 1";

/// One row of [`bind_postgres`]'s JSON parameter; short keys keep it small.
#[derive(serde::Serialize)]
struct JsonBooking<'a> {
    k: &'a str,
    s: i64,
    e: i64,
    sv: &'a str,
    l: &'a str,
    n: &'a str,
    em: Option<&'a str>,
    pr: Option<&'a str>,
    pe: Option<&'a str>,
    pm: i64,
    lg: Option<&'a str>,
    st: &'static str,
    h: &'a str,
    ep: Option<&'a str>,
    pp: Option<&'a str>,
    po: Option<String>,
    p: &'a str,
}

/// PostgreSQL's bulk path: up to 5,000 rows per statement, all in one JSON parameter that
/// `json_to_recordset` turns into rows — no per-value binds, no row-at-a-time round trips.
fn bind_postgres(
    tenant: &str,
    source: &str,
    chunk: &[Write<'_>],
    import_id: i64,
    now: DateTime<Utc>,
) -> Bound {
    let rows: Vec<JsonBooking> = chunk
        .iter()
        .map(|w| {
            let (rec, phone) = (w.record, w.record.phone.as_ref());
            JsonBooking {
                k: rec.key.as_str(),
                s: rec.starts_at.timestamp_millis(),
                e: rec.ends_at.timestamp_millis(),
                sv: rec.service.as_str(),
                l: rec.location.as_str(),
                n: rec.name.as_str(),
                em: rec.email.as_ref().map(|e| e.as_str()),
                pr: phone.map(|p| p.raw.as_str()),
                pe: phone.and_then(|p| p.e164.as_deref()),
                pm: i64::from(phone.is_some_and(|p| p.mobile)),
                lg: rec.language.as_ref().map(|l| l.code()),
                st: status_text(rec.status),
                h: w.content_hash,
                ep: rec.email_problem.as_deref(),
                pp: rec.phone_problem.as_deref(),
                po: other_phones(rec),
                p: w.person,
            }
        })
        .collect();
    let sql = format!(
        "insert into bookings (tenant_id, source, booking_key, starts_at, ends_at, service, \
         location, name, email, phone_raw, phone_e164, phone_mobile, language, status, \
         content_hash, last_import_id, updated_at, email_problem, phone_problem, \
         phone_other, person) \
         select $1, $2, r.k, r.s, r.e, r.sv, r.l, r.n, r.em, r.pr, r.pe, r.pm, r.lg, r.st, \
         r.h, $3, $4, r.ep, r.pp, r.po, r.p from json_to_recordset($5::json) as r(k text, \
         s bigint, e bigint, sv text, l text, n text, em text, pr text, pe text, pm bigint, \
         lg text, st text, h text, ep text, pp text, po text, p text) {UPSERT}"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(tenant)
        .bind(source)
        .bind(import_id)
        .bind(Millis::of(now))
        .bind(json_array(&rows))
}

/// Joins another row of the same appointment into a booking this import already wrote: its
/// services and locations join the lists, and the booking stands if either row says so.
pub async fn absorb(
    conn: &mut Conn,
    tenant: &str,
    source: &str,
    rec: &BookingRecord,
) -> sqlx::Result<()> {
    let row: Option<(i64, String, String, String, i64)> = sqlx::query_as(
        "select id, service, location, status, ends_at from bookings \
         where tenant_id = $1 and source = $2 and booking_key = $3",
    )
    .bind(tenant)
    .bind(source)
    .bind(&rec.key)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((id, mut service, mut location, mut status, ends_at)) = row else {
        return Ok(());
    };
    join_list(&mut service, &rec.service);
    join_list(&mut location, &rec.location);
    if rec.status == BookingStatus::Active {
        status = BookingStatus::Active.as_str().to_owned();
    }
    sqlx::query(
        "update bookings set service = $2, location = $3, status = $4, ends_at = $5 \
         where id = $1",
    )
    .bind(id)
    .bind(service)
    .bind(location)
    .bind(status)
    .bind(ends_at.max(crate::domain::to_millis(rec.ends_at)))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records that unchanged bookings were seen again by this import.
pub async fn touch(conn: &mut Conn, ids: &[i64], import_id: i64) -> sqlx::Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    if is_postgres(conn) {
        sqlx::query(
            "update bookings set last_import_id = $1 \
             where id = any(array(select (json_array_elements_text($2::json))::bigint))",
        )
        .bind(import_id)
        .bind(json_array(ids))
        .execute(&mut *conn)
        .await?;
        return Ok(());
    }
    for chunk in ids.chunks(5000) {
        let mut p = Params::new(conn);
        let sql = format!(
            "update bookings set last_import_id = {} where id in ({})",
            p.one(),
            p.list(chunk.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(import_id);
        for id in chunk {
            q = q.bind(*id);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Records the person ([`Existing::person`]) of bookings written before it was kept, as
/// `(id, person)`.
pub async fn set_persons(conn: &mut Conn, persons: &[(i64, &str)]) -> sqlx::Result<()> {
    for chunk in persons.chunks(1000) {
        // VALUES columns are column1… in SQLite and PostgreSQL alike.
        let sql = format!(
            "update bookings set person = v.column2 from (values {}) as v \
             where bookings.id = v.column1",
            Params::new(conn).rows(chunk.len(), 2)
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (id, person) in chunk {
            q = q.bind(*id).bind(*person);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// What a source holds before an import: its active bookings, those not gone (active or
/// cancelled), which a full snapshot may mark gone, and all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub active: i64,
    pub not_gone: i64,
    pub all: i64,
}

/// Counts what a source holds ([`Held`]), in one pass over its bookings.
pub async fn count_held(conn: &mut Conn, tenant: &str, source: &str) -> sqlx::Result<Held> {
    let (active, not_gone, all): (i64, i64, i64) = sqlx::query_as(
        "select count(case when status = 'active' then 1 end), \
         count(case when status <> 'gone' then 1 end), count(*) from bookings \
         where tenant_id = $1 and source = $2",
    )
    .bind(tenant)
    .bind(source)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Held {
        active,
        not_gone,
        all,
    })
}

/// Active bookings of a source that this import did not see.
pub async fn count_missing(
    conn: &mut Conn,
    tenant: &str,
    source: &str,
    import_id: i64,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "select count(*) from bookings where tenant_id = $1 and source = $2 \
         and status = 'active' and last_import_id <> $3",
    )
    .bind(tenant)
    .bind(source)
    .bind(import_id)
    .fetch_one(&mut *conn)
    .await
}

/// Marks bookings missing from a full snapshot as gone.
pub async fn mark_missing_gone(
    conn: &mut Conn,
    tenant: &str,
    source: &str,
    import_id: i64,
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    let r = sqlx::query(
        "update bookings set status = 'gone', revision = revision + 1, updated_at = $4 \
         where tenant_id = $1 and source = $2 and status <> 'gone' and last_import_id <> $3",
    )
    .bind(tenant)
    .bind(source)
    .bind(import_id)
    .bind(Millis::of(now))
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected())
}

/// Active bookings of a tenant overlapping `[from, to)` (half-open), by appointment time: every
/// page of [`WindowPages`], read in one transaction (a savepoint inside the caller's) so that
/// they see one state of the calendar.
pub async fn active_in_window(
    conn: &mut Conn,
    tenant: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> sqlx::Result<Vec<BookingRow>> {
    let mut snapshot = sqlx::Connection::begin(&mut *conn).await?;
    let mut pages = WindowPages::new(tenant, from, to);
    let mut rows = Vec::new();
    while let Some(page) = pages.next(&mut snapshot).await? {
        rows.extend(page);
    }
    snapshot.commit().await?;
    rows.sort_by_key(|b| (b.starts_at, b.id));
    Ok(rows)
}

/// How many bookings a page of [`WindowPages`] holds on SQLite (more only where more end at
/// the same time): a declaration holds two pages, not its window (a million bookings took
/// 1.2 GB read whole).
pub const WINDOW_PAGE: i64 = 10_000;

/// The active bookings of a tenant overlapping a window, page by page, each by appointment
/// time. The database hands a page over as one JSON array (one value) instead of a row per
/// booking: sqlx copies each value of each row across threads and through its `Any` driver,
/// which took a second for 100,000 against 0.2 s of SQLite's own work.
///
/// On SQLite a page is the bookings ending in a range of end times that holds [`WINDOW_PAGE`]
/// bookings of the tenant (its end found in the time index alone), the last one those ending
/// after the window. The pages see one state of the calendar only inside one transaction:
/// between two statements outside one, an import could move a booking from a page not yet
/// read into one already read, and the booking would be missed. On PostgreSQL the same holds
/// in a transaction that sees one snapshot ([`crate::store::one_snapshot`], a declaration);
/// in any other the whole window is one page, one statement: read committed gives each
/// statement its own snapshot.
pub struct WindowPages {
    tenant: String,
    from: i64,
    to: i64,
    /// The end time after which the next page begins; `None` once the last page is read.
    after: Option<i64>,
    /// On PostgreSQL, whether the transaction sees one snapshot (asked at the first page).
    snapshot: Option<bool>,
}

/// A page of [`WindowPages`] as the database handed it over, parsed apart ([`RawPage::parse`])
/// so that the caller can parse it while the database works on something else.
pub struct RawPage(String);

impl RawPage {
    /// The page's bookings, by appointment time.
    pub fn parse(self) -> sqlx::Result<Vec<BookingRow>> {
        from_json(&self.0)
    }
}

impl WindowPages {
    pub fn new(tenant: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> WindowPages {
        let from = from.timestamp_millis();
        WindowPages {
            tenant: tenant.to_owned(),
            from,
            to: to.timestamp_millis(),
            after: Some(from),
            snapshot: None,
        }
    }

    /// Whether the PostgreSQL transaction on `conn` sees one snapshot in all its statements
    /// (`repeatable read` or stricter, see [`crate::store::one_snapshot`]): then it is read
    /// in pages like SQLite, else whole in one statement.
    async fn one_snapshot(&mut self, conn: &mut Conn) -> sqlx::Result<bool> {
        if let Some(known) = self.snapshot {
            return Ok(known);
        }
        let level: String = sqlx::query_scalar("select current_setting('transaction_isolation')")
            .fetch_one(&mut *conn)
            .await?;
        let one = matches!(level.as_str(), "repeatable read" | "serializable");
        self.snapshot = Some(one);
        Ok(one)
    }

    /// The next page; `None` after the last. A page may be empty.
    pub async fn next(&mut self, conn: &mut Conn) -> sqlx::Result<Option<Vec<BookingRow>>> {
        self.next_raw(conn).await?.map(RawPage::parse).transpose()
    }

    /// [`Self::next`], not parsed yet.
    pub async fn next_raw(&mut self, conn: &mut Conn) -> sqlx::Result<Option<RawPage>> {
        let Some(after) = self.after else {
            return Ok(None);
        };
        if is_postgres(conn) && !self.one_snapshot(conn).await? {
            self.after = None;
            let sql = as_one_json(
                conn,
                "from bookings where tenant_id = $1 and status = 'active' \
                 and starts_at < $2 and ends_at > $3",
            );
            let json: String = sqlx::query_scalar(AssertSqlSafe(sql))
                .bind(&self.tenant)
                .bind(self.to)
                .bind(self.from)
                .fetch_one(&mut *conn)
                .await?;
            return Ok(Some(RawPage(json)));
        }
        // Up to the window's end in pages of WINDOW_PAGE; then those ending after it (only
        // the few that began before it match).
        let until = match after < self.to {
            true => {
                let page_end: Option<i64> = sqlx::query_scalar(
                    "select ends_at from bookings where tenant_id = $1 and ends_at > $2 \
                     order by ends_at limit 1 offset $3",
                )
                .bind(&self.tenant)
                .bind(after)
                .bind(WINDOW_PAGE - 1)
                .fetch_optional(&mut *conn)
                .await?;
                Some(page_end.map_or(self.to, |end| end.min(self.to)))
            }
            false => None,
        };
        let sql = as_one_json(
            conn,
            "from bookings where tenant_id = $1 and status = 'active' \
             and starts_at < $2 and ends_at > $3 and ends_at <= $4",
        );
        let json: String = sqlx::query_scalar(AssertSqlSafe(sql))
            .bind(&self.tenant)
            .bind(self.to)
            .bind(after)
            .bind(until.unwrap_or(i64::MAX))
            .fetch_one(&mut *conn)
            .await?;
        self.after = until;
        Ok(Some(RawPage(json)))
    }
}

/// A select of the bookings `filter` (`from bookings where …`) as one JSON array of arrays of
/// `BOOKING_COLUMNS`, for [`from_json`].
fn as_one_json(conn: &Conn, filter: &str) -> String {
    match conn.backend_name() {
        "SQLite" => format!(
            "select coalesce(json_group_array(json_array({BOOKING_COLUMNS})), '[]') \
             from (select {BOOKING_COLUMNS} {filter})"
        ),
        _ => format!(
            "select coalesce(json_agg(json_build_array({BOOKING_COLUMNS})), '[]')::text {filter}"
        ),
    }
}

/// The bookings of an [`as_one_json`] select, by appointment time.
fn from_json(json: &str) -> sqlx::Result<Vec<BookingRow>> {
    let mut rows: Vec<BookingRow> =
        serde_json::from_str(json).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    rows.sort_by_key(|b| (b.starts_at, b.id));
    Ok(rows)
}

/// Active bookings of a tenant with the given keys (any source).
pub async fn active_by_keys(
    conn: &mut Conn,
    tenant: &str,
    keys: &[String],
) -> sqlx::Result<Vec<BookingRow>> {
    let mut out = Vec::new();
    for chunk in keys.chunks(5000) {
        let mut p = Params::new(conn);
        let sql = format!(
            "select {BOOKING_COLUMNS} from bookings where tenant_id = {} and status = 'active' \
             and booking_key in ({}) order by starts_at, id",
            p.one(),
            p.list(chunk.len())
        );
        let mut q = sqlx::query_as(AssertSqlSafe(sql)).bind(tenant);
        for k in chunk {
            q = q.bind(k.as_str());
        }
        out.extend(q.fetch_all(&mut *conn).await?);
    }
    Ok(out)
}

/// Bookings by id (for reports, call lists and the emails written when sent), by appointment
/// time; read as one JSON value like [`active_in_window`].
pub async fn by_ids(conn: &mut Conn, ids: &[i64]) -> sqlx::Result<Vec<BookingRow>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(5000) {
        let filter = format!(
            "from bookings where id in ({})",
            Params::new(conn).list(chunk.len())
        );
        let mut q = sqlx::query_scalar(AssertSqlSafe(as_one_json(conn, &filter)));
        for id in chunk {
            q = q.bind(*id);
        }
        let json: String = q.fetch_one(&mut *conn).await?;
        out.extend(from_json(&json)?);
    }
    out.sort_by_key(|b: &BookingRow| (b.starts_at, b.id));
    Ok(out)
}

/// The booking keys of these bookings, by id.
pub async fn keys_of(conn: &mut Conn, ids: &[i64]) -> sqlx::Result<HashMap<i64, String>> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(5000) {
        let sql = format!(
            "select id, booking_key from bookings where id in ({})",
            Params::new(conn).list(chunk.len())
        );
        let mut q = sqlx::query_as::<_, (i64, String)>(AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(*id);
        }
        out.extend(q.fetch_all(&mut *conn).await?);
    }
    Ok(out)
}

/// A tenant's active bookings whose key or name contains `text` (case-insensitive), by
/// appointment time; for the admin API's search.
pub async fn search(
    conn: &mut Conn,
    tenant: &str,
    text: &str,
    limit: i64,
) -> sqlx::Result<Vec<BookingRow>> {
    let pattern = format!(
        "%{}%",
        text.to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let sql = format!(
        "select {BOOKING_COLUMNS} from bookings where tenant_id = $1 and status = 'active' \
         and (lower(booking_key) like $2 escape '\\' or lower(name) like $2 escape '\\') \
         order by starts_at, id limit $3"
    );
    sqlx::query_as(AssertSqlSafe(sql))
        .bind(tenant)
        .bind(pattern)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await
}

/// The services and locations of a tenant's active bookings that have not ended, with how many
/// bookings hold each combination: the calendar's own names, for picking a scope.
pub async fn names(
    conn: &mut Conn,
    tenant: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<(String, String, i64)>> {
    sqlx::query_as(
        "select service, location, count(*) from bookings \
         where tenant_id = $1 and status = 'active' and ends_at > $2 \
         group by service, location order by service, location",
    )
    .bind(tenant)
    .bind(Millis::of(now))
    .fetch_all(&mut *conn)
    .await
}

#[cfg(test)]
mod tests {
    use super::{
        Conn, WINDOW_PAGE, WindowPages, Write, active_in_window, bind_upserts, is_postgres,
        write_upserts,
    };
    use crate::domain::booking::{BookingRecord, BookingStatus};
    use chrono::{TimeZone, Utc};

    /// Binds and writes, as an import does for one chunk.
    async fn upsert_many(
        conn: &mut Conn,
        tenant: &str,
        source: &str,
        records: &[Write<'_>],
        import_id: i64,
        now: chrono::DateTime<Utc>,
    ) -> sqlx::Result<()> {
        let bound = bind_upserts(is_postgres(conn), tenant, source, records, import_id, now);
        write_upserts(conn, bound, (tenant, source), records, import_id, now).await
    }

    fn record(key: &str, name: &str) -> BookingRecord {
        let starts_at = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        BookingRecord {
            key: key.into(),
            starts_at,
            ends_at: starts_at + chrono::TimeDelta::minutes(15),
            service: "Zulassung".into(),
            location: "Soest".into(),
            name: name.into(),
            email: None,
            phone: None,
            language: None,
            status: BookingStatus::Active,
            email_problem: None,
            phone_problem: None,
            other_phones: Vec::new(),
        }
    }

    /// A booking taken for new that the store holds after all (the importer's lookup missed
    /// it) is still written as the upsert writes it: overwritten, its revision bumped, the other
    /// rows of the statement inserted once — never left as it was, never a second copy.
    #[tokio::test]
    async fn a_row_taken_for_new_that_exists_is_upserted_not_lost_or_doubled() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/a.db", dir.path().display());
        let store = crate::store::Store::connect(&url, 1).await.unwrap();
        store.migrate().await.unwrap();
        let mut conn = store.conn().await.unwrap();
        let now = Utc::now();
        let write = |r: &'static BookingRecord, new| Write {
            record: r,
            content_hash: &r.name,
            person: "p",
            new,
        };
        let first: &'static BookingRecord = Box::leak(Box::new(record("K1", "Erika")));
        upsert_many(&mut conn, "t", "s", &[write(first, true)], 1, now)
            .await
            .unwrap();

        let changed: &'static BookingRecord = Box::leak(Box::new(record("K1", "Erika M.")));
        let other: &'static BookingRecord = Box::leak(Box::new(record("K2", "Max")));
        let rows = [write(other, true), write(changed, true)];
        upsert_many(&mut conn, "t", "s", &rows, 2, now)
            .await
            .unwrap();

        let stored: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "select booking_key, name, revision, last_import_id from bookings order by booking_key",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        assert_eq!(
            stored,
            [
                ("K1".into(), "Erika M.".into(), 2, 2),
                ("K2".into(), "Max".into(), 1, 2)
            ]
        );
    }

    /// Every active booking of the tenant that overlaps the window is on exactly one page, also
    /// where many end at the same time across the pages' edges; none outside it is.
    #[tokio::test]
    async fn the_pages_of_a_window_hold_each_of_its_bookings_once() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/a.db", dir.path().display());
        let store = crate::store::Store::connect(&url, 1).await.unwrap();
        store.migrate().await.unwrap();
        let mut conn = store.conn().await.unwrap();
        let n = 2 * WINDOW_PAGE + WINDOW_PAGE / 2;
        // Bookings of 30 minutes starting every minute, seven at a time, from minute 0: some
        // end before the window, some start after it; a few are cancelled or another tenant's.
        sqlx::query(
            "with recursive i(n) as (select 0 union all select n + 1 from i where n + 1 < $1) \
             insert into bookings (tenant_id, source, booking_key, starts_at, ends_at, service, \
                 location, name, status, content_hash, last_import_id, updated_at) \
             select case when n % 101 = 0 then 'other' else 't' end, 's', 'K' || n, \
                 (n / 7) * 60000, (n / 7) * 60000 + 1800000, 'Zulassung', 'Soest', 'P', \
                 case when n % 97 = 0 then 'cancelled' else 'active' end, 'h', 1, 0 from i",
        )
        .bind(n)
        .execute(&mut *conn)
        .await
        .unwrap();
        let minutes = |m: i64| chrono::DateTime::from_timestamp_millis(m * 60_000).unwrap();
        let (from, to) = (minutes(100), minutes(n / 7 - 100));
        let expected: Vec<i64> = sqlx::query_scalar(
            "select id from bookings where tenant_id = 't' and status = 'active' \
             and starts_at < $1 and ends_at > $2 order by id",
        )
        .bind(to.timestamp_millis())
        .bind(from.timestamp_millis())
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        assert!(
            expected.len() as i64 > 2 * WINDOW_PAGE,
            "the window spans three pages"
        );

        let mut pages = WindowPages::new("t", from, to);
        let mut read = Vec::new();
        let mut sizes = Vec::new();
        while let Some(page) = pages.next(&mut conn).await.unwrap() {
            sizes.push(page.len() as i64);
            assert!(page.is_sorted_by_key(|b| (b.starts_at, b.id)));
            read.extend(page.into_iter().map(|b| b.id));
        }
        assert!(sizes.len() >= 3, "{sizes:?}");
        // A page ends with all that end when its last one does (seven at a time here).
        assert!(sizes.iter().all(|&s| s <= WINDOW_PAGE + 6), "{sizes:?}");
        read.sort();
        let differ = read.iter().zip(&expected).position(|(a, b)| a != b);
        assert!(
            read == expected,
            "each booking of the window once, no other: {} read, {} expected, first difference \
             at {differ:?}",
            read.len(),
            expected.len()
        );

        let mut whole: Vec<i64> = active_in_window(&mut conn, "t", from, to)
            .await
            .unwrap()
            .into_iter()
            .map(|b| b.id)
            .collect();
        whole.sort();
        assert!(whole == expected, "active_in_window reads them all");
    }
}
