//! Outages and batches (one table: both are declared cancellation runs) and the targets they
//! affect.

use super::{Conn, MaybeMillis, Millis};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A stored outage or batch.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct OutageRow {
    pub id: i64,
    pub tenant_id: String,
    #[sqlx(try_from = "String")]
    pub kind: crate::domain::outage::RunKind,
    #[sqlx(try_from = "MaybeMillis")]
    pub window_from: Option<DateTime<Utc>>,
    #[sqlx(try_from = "MaybeMillis")]
    pub window_to: Option<DateTime<Utc>>,
    pub services_json: String,
    pub locations_json: String,
    pub keys_json: Option<String>,
    pub reason: String,
    #[sqlx(try_from = "String")]
    pub state: crate::domain::outage::RunState,
    #[sqlx(try_from = "Millis")]
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub retract_reason: Option<String>,
    #[sqlx(try_from = "MaybeMillis")]
    pub updated_at: Option<DateTime<Utc>>,
    #[sqlx(try_from = "MaybeMillis")]
    pub closed_at: Option<DateTime<Utc>>,
    #[sqlx(try_from = "MaybeMillis")]
    pub purged_at: Option<DateTime<Utc>>,
}

/// What to store for a new run.
pub struct NewOutage<'a> {
    pub tenant_id: &'a str,
    pub kind: &'a str,
    pub window_from: Option<DateTime<Utc>>,
    pub window_to: Option<DateTime<Utc>>,
    pub services_json: String,
    pub locations_json: String,
    pub keys_json: Option<String>,
    pub reason: &'a str,
    pub created_by: &'a str,
}

const COLUMNS: &str = "id, tenant_id, kind, window_from, window_to, services_json, \
     locations_json, keys_json, reason, state, created_at, created_by, retract_reason, updated_at, \
     closed_at, purged_at";

pub async fn insert(conn: &mut Conn, o: &NewOutage<'_>, now: DateTime<Utc>) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "insert into outages (tenant_id, kind, window_from, window_to, services_json, \
         locations_json, keys_json, reason, state, created_at, created_by) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, 'active', $9, $10) returning id",
    )
    .bind(o.tenant_id)
    .bind(o.kind)
    .bind(o.window_from.map(Millis::of))
    .bind(o.window_to.map(Millis::of))
    .bind(&o.services_json)
    .bind(&o.locations_json)
    .bind(o.keys_json.as_deref())
    .bind(o.reason)
    .bind(Millis::of(now))
    .bind(o.created_by)
    .fetch_one(&mut *conn)
    .await
}

pub async fn get(conn: &mut Conn, id: i64) -> sqlx::Result<Option<OutageRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from outages where id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
}

/// All runs, newest first, optionally of one tenant.
pub async fn list(conn: &mut Conn, tenant: Option<&str>) -> sqlx::Result<Vec<OutageRow>> {
    match tenant {
        Some(t) => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "select {COLUMNS} from outages where tenant_id = $1 order by id desc"
            )))
            .bind(t)
            .fetch_all(&mut *conn)
            .await
        }
        None => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "select {COLUMNS} from outages order by id desc"
            )))
            .fetch_all(&mut *conn)
            .await
        }
    }
}

/// The reasons of these runs, by id: what their cancellations say, written when sent.
pub async fn reasons(conn: &mut Conn, ids: &[i64]) -> sqlx::Result<Vec<(i64, String)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "select id, reason from outages where id in ({})",
        super::Params::new(conn).list(ids.len())
    );
    let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
    for id in ids {
        q = q.bind(*id);
    }
    q.fetch_all(&mut *conn).await
}

/// Active outages (not batches) of a tenant: re-matched after every import.
pub async fn active_outages(conn: &mut Conn, tenant: &str) -> sqlx::Result<Vec<OutageRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from outages where tenant_id = $1 and kind = 'outage' \
         and state = 'active' order by id"
    )))
    .bind(tenant)
    .fetch_all(&mut *conn)
    .await
}

/// A target as re-matching needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TargetRow {
    pub id: i64,
    pub booking_id: i64,
    pub state: String,
    pub booking_revision: i64,
}

pub async fn targets(conn: &mut Conn, outage_id: i64) -> sqlx::Result<Vec<TargetRow>> {
    sqlx::query_as(
        "select id, booking_id, state, booking_revision from targets where outage_id = $1",
    )
    .bind(outage_id)
    .fetch_all(&mut *conn)
    .await
}

/// Marks bookings as affected by a run (again), remembering which revision was matched.
/// `bookings` holds (booking id, revision).
pub async fn upsert_targets(
    conn: &mut Conn,
    tenant: &str,
    outage_id: i64,
    bookings: &[(i64, i64)],
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    // What every row shares is bound once per statement; each row brings the rest.
    const COLS: usize = 2;
    for chunk in bookings.chunks(1000) {
        let mut p = super::Params::new(conn);
        let (tenant_p, outage_p, now_p) = (p.one(), p.one(), p.one());
        let values = p.rows(chunk.len(), COLS);
        // INSERT … SELECT needs its WHERE before ON CONFLICT.
        let sql = format!(
            "insert into targets (tenant_id, outage_id, state, matched_at, booking_id, \
             booking_revision) \
             select {tenant_p}, {outage_p}, 'affected', {now_p}, v.column1, v.column2 \
             from (values {values}) as v where true \
             on conflict (outage_id, booking_id) do update set state = 'affected', \
             booking_revision = excluded.booking_revision, matched_at = excluded.matched_at, \
             removal_pending_since = null"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .bind(outage_id)
            .bind(Millis::of(now));
        for (booking_id, revision) in chunk {
            q = q.bind(*booking_id).bind(*revision);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// These targets' bookings vanished from the export but stay affected until a person confirms
/// (the first time it was seen is kept).
pub async fn mark_removal_pending(
    conn: &mut Conn,
    target_ids: &[i64],
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    for chunk in target_ids.chunks(5000) {
        let mut p = super::Params::new(conn);
        let sql = format!(
            "update targets set removal_pending_since = coalesce(removal_pending_since, {}) \
             where id in ({})",
            p.one(),
            p.list(chunk.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(Millis::of(now));
        for id in chunk {
            q = q.bind(*id);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The bookings of a run that vanished from the export and wait for a person to confirm.
pub async fn pending_removals(conn: &mut Conn, outage_id: i64) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar(
        "select booking_id from targets where outage_id = $1 and state = 'affected' \
         and removal_pending_since is not null order by booking_id",
    )
    .bind(outage_id)
    .fetch_all(&mut *conn)
    .await
}

/// The bookings of a run that vanished from the export and wait for a person to confirm,
/// with when absage first missed each (booking id, removal pending since), by appointment.
pub async fn pending_removals_since(
    conn: &mut Conn,
    outage_id: i64,
) -> sqlx::Result<Vec<(i64, DateTime<Utc>)>> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "select t.booking_id, t.removal_pending_since from targets t \
         join bookings b on b.id = t.booking_id \
         where t.outage_id = $1 and t.state = 'affected' \
         and t.removal_pending_since is not null order by b.starts_at, b.booking_key",
    )
    .bind(outage_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(b, since)| (b, crate::domain::from_millis(since)))
        .collect())
}

/// These targets' bookings are no longer affected (cancelled, gone, moved out of the run).
pub async fn withdraw_targets(conn: &mut Conn, target_ids: &[i64]) -> sqlx::Result<()> {
    for chunk in target_ids.chunks(5000) {
        let sql = format!(
            "update targets set state = 'withdrawn' where id in ({})",
            super::Params::new(conn).list(chunk.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(*id);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Every booking the run ever affected, with whether it still does ('affected') or left it
/// ('withdrawn').
pub async fn target_states(
    conn: &mut Conn,
    outage_id: i64,
    only: Option<i64>,
) -> sqlx::Result<Vec<(i64, String)>> {
    let sql = format!(
        "select booking_id, state from targets where outage_id = $1{} order by booking_id",
        only_booking(only, "booking_id")
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(outage_id)
        .bind(only)
        .fetch_all(&mut *conn)
        .await
}

/// The condition that keeps one booking's rows (`column` equal to `$2`), or none.
pub(crate) fn only_booking(only: Option<i64>, column: &str) -> String {
    match only {
        Some(_) => format!(" and {column} = $2"),
        None => " and $2 is null".to_string(),
    }
}

/// The booking of `tenant` with `key` that the run ever targeted (the first, should two sources
/// use the key).
pub async fn targeted_by_key(
    conn: &mut Conn,
    outage_id: i64,
    tenant: &str,
    key: &str,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(
        "select b.id from bookings b where b.tenant_id = $1 and b.booking_key = $2 \
         and exists (select 1 from targets t where t.outage_id = $3 and t.booking_id = b.id) \
         order by b.id limit 1",
    )
    .bind(tenant)
    .bind(key)
    .bind(outage_id)
    .fetch_optional(&mut *conn)
    .await
}

/// Changes an outage's window and scope (an amendment).
pub async fn update_selection(
    conn: &mut Conn,
    id: i64,
    window_from: Option<DateTime<Utc>>,
    window_to: Option<DateTime<Utc>>,
    services_json: &str,
    locations_json: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "update outages set window_from = $2, window_to = $3, services_json = $4, \
         locations_json = $5, updated_at = $6 where id = $1",
    )
    .bind(id)
    .bind(window_from.map(Millis::of))
    .bind(window_to.map(Millis::of))
    .bind(services_json)
    .bind(locations_json)
    .bind(Millis::of(now))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Marks an outage as declared by mistake.
pub async fn retract(
    conn: &mut Conn,
    id: i64,
    reason: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "update outages set state = 'retracted', retract_reason = $2, updated_at = $3 \
         where id = $1",
    )
    .bind(id)
    .bind(reason)
    .bind(Millis::of(now))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A booking that absage cancelled (a cancellation is sent or on its way) in an active outage
/// or batch: the booking system must not remind its citizen.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Suppression {
    pub tenant_id: String,
    pub source: String,
    pub booking_key: String,
    #[sqlx(try_from = "Millis")]
    pub starts_at: DateTime<Utc>,
    #[sqlx(try_from = "Millis")]
    pub ends_at: DateTime<Utc>,
    pub service: String,
    pub location: String,
    pub outage_id: i64,
}

/// Every booking with a live cancellation, by appointment time.
pub async fn suppressions(conn: &mut Conn, tenant: Option<&str>) -> sqlx::Result<Vec<Suppression>> {
    let base = "select distinct b.tenant_id, b.source, b.booking_key, b.starts_at, b.ends_at, \
                b.service, b.location, t.outage_id from targets t \
                join outages o on o.id = t.outage_id \
                join bookings b on b.id = t.booking_id \
                where t.state = 'affected' and o.state = 'active' \
                and exists (select 1 from notifications n where n.outage_id = t.outage_id \
                  and n.booking_id = t.booking_id and n.kind = 'cancellation' \
                  and n.state in ('queued', 'sending', 'sent'))";
    match tenant {
        Some(t) => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{base} and b.tenant_id = $1 order by b.starts_at, b.booking_key"
            )))
            .bind(t)
            .fetch_all(&mut *conn)
            .await
        }
        None => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{base} order by b.starts_at, b.booking_key"
            )))
            .fetch_all(&mut *conn)
            .await
        }
    }
}

/// A run's bookings by reach, for the conservation line: (affected, with a live cancellation
/// (queued, in flight or sent), on the call list). "Live" and "call list" are counted by two
/// separate conditions, so a state that neither covers would show as a gap.
pub async fn reach_counts(conn: &mut Conn, outage_id: i64) -> sqlx::Result<(i64, i64, i64)> {
    sqlx::query_as(
        "select count(*), \
           coalesce(sum(case when exists (select 1 from notifications n \
             where n.outage_id = t.outage_id and n.booking_id = t.booking_id \
             and n.kind = 'cancellation' and n.state in ('queued', 'sending', 'sent')) \
             then 1 else 0 end), 0), \
           coalesce(sum(case when not exists (select 1 from notifications n \
             where n.outage_id = t.outage_id and n.booking_id = t.booking_id \
             and n.kind = 'cancellation' and n.state not in ('failed', 'expired', 'cancelled')) \
             then 1 else 0 end), 0) \
         from targets t where t.outage_id = $1 and t.state = 'affected'",
    )
    .bind(outage_id)
    .fetch_one(&mut *conn)
    .await
}

/// The services and locations of a run's affected bookings, with how many bookings hold each
/// combination (a booking with several services is one row here; callers split).
pub async fn affected_names(
    conn: &mut Conn,
    outage_id: i64,
) -> sqlx::Result<Vec<(String, String, i64)>> {
    sqlx::query_as(
        "select b.service, b.location, count(*) from targets t \
         join bookings b on b.id = t.booking_id \
         where t.outage_id = $1 and t.state = 'affected' \
         group by b.service, b.location order by b.service, b.location",
    )
    .bind(outage_id)
    .fetch_all(&mut *conn)
    .await
}

/// Per active run: its affected bookings whose appointment starts after `now` and by `until`
/// with no evidence yet that the citizen was informed — the rule of
/// [`crate::reports::evidence`] in one statement (for the metrics; a test holds the two
/// equal): no call, and no sent cancellation that was reported delivered (or complained
/// about), or that went without a failure report since `quiet_before` (an SMS only when no
/// delivery reports come back, `sms_reports` false).
pub async fn not_informed_by(
    conn: &mut Conn,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    quiet_before: DateTime<Utc>,
    sms_reports: bool,
) -> sqlx::Result<Vec<(i64, String, i64)>> {
    sqlx::query_as(
        "select t.outage_id, o.tenant_id, count(*) from targets t \
         join outages o on o.id = t.outage_id \
         join bookings b on b.id = t.booking_id \
         where o.state = 'active' and t.state = 'affected' and b.starts_at > $1 \
         and b.starts_at <= $2 \
         and not exists (select 1 from calls c where c.outage_id = t.outage_id \
           and c.booking_id = t.booking_id) \
         and not exists (select 1 from notifications n where n.outage_id = t.outage_id \
           and n.booking_id = t.booking_id and n.kind = 'cancellation' and n.state = 'sent' \
           and (n.delivery_state in ('delivered', 'complained') \
             or ((n.delivery_state is null \
                  or n.delivery_state not in ('undelivered', 'rejected', 'bounced')) \
               and n.sent_at <= $3 and (n.channel = 'email' or $4 = 0)))) \
         group by t.outage_id, o.tenant_id order by t.outage_id",
    )
    .bind(Millis::of(now))
    .bind(Millis::of(until))
    .bind(Millis::of(quiet_before))
    .bind(i64::from(sms_reports))
    .fetch_all(&mut *conn)
    .await
}

/// Notes why the planner put these bookings of a run on the call list (a state-wide outage
/// through a slow gateway may name tens of thousands: a statement per thousand).
pub async fn mark_late(
    conn: &mut Conn,
    outage_id: i64,
    late: &[(i64, String)],
) -> sqlx::Result<()> {
    for chunk in late.chunks(1000) {
        let mut params = super::Params::new(conn);
        let values = params.rows(chunk.len(), 2);
        let outage = params.one();
        // VALUES columns are column1… in SQLite and PostgreSQL alike.
        let sql = format!(
            "update targets set late_reason = v.column2 from (values {values}) as v \
             where targets.booking_id = v.column1 and targets.outage_id = {outage}"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (booking, reason) in chunk {
            q = q.bind(booking).bind(reason);
        }
        q.bind(outage_id).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Booking id → why the planner put it on the run's call list.
pub async fn late_reasons(
    conn: &mut Conn,
    outage_id: i64,
    only: Option<i64>,
) -> sqlx::Result<std::collections::HashMap<i64, String>> {
    let sql = format!(
        "select booking_id, late_reason from targets where outage_id = $1 \
         and late_reason is not null{}",
        only_booking(only, "booking_id")
    );
    let rows: Vec<(i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(outage_id)
        .bind(only)
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows.into_iter().collect())
}
