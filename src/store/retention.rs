//! Closing finished runs and deleting contact data that is no longer needed.

use super::{Conn, Millis};
use chrono::{DateTime, Utc};

/// Closes active outages and batches that are over: the window (if any) has ended, no
/// notification is pending, and no affected appointment lies ahead. Returns how many.
pub async fn close_finished(conn: &mut Conn, now: DateTime<Utc>) -> sqlx::Result<u64> {
    let r = sqlx::query(
        "update outages set state = 'closed', closed_at = $1, updated_at = $1 \
         where state = 'active' and (window_to is null or window_to <= $1) \
         and not exists (select 1 from notifications n where n.outage_id = outages.id \
           and n.state in ('queued', 'sending')) \
         and not exists (select 1 from targets t join bookings b on b.id = t.booking_id \
           where t.outage_id = outages.id and t.state = 'affected' and b.starts_at > $1)",
    )
    .bind(Millis::of(now))
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected())
}

/// What a purge removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Purged {
    pub runs: u64,
    pub notifications: u64,
    pub bookings: u64,
    /// Bounces and other returned messages received before the cutoff.
    pub returned_mail: u64,
    /// Suppressed addresses older than `bounces.suppress_days`.
    pub suppressions: u64,
}

/// Deletes the contact data of runs that ended (closed or retracted) before `cutoff_ms`: the
/// recipients and texts of their notifications, and name, email and phone of bookings whose
/// appointment lies before the cutoff and that no newer run still needs, and the returned mail
/// received before it; and the suppressed addresses suppressed before `suppressed_before`. The
/// rows of runs and notifications stay, so the counts of what was sent remain for the record.
pub async fn purge(
    conn: &mut Conn,
    cutoff_ms: DateTime<Utc>,
    suppressed_before: DateTime<Utc>,
    now: DateTime<Utc>,
) -> sqlx::Result<Purged> {
    let ended = "state <> 'active' and purged_at is null \
                 and coalesce(closed_at, updated_at, created_at) <= $1 \
                 and not exists (select 1 from notifications p where p.outage_id = outages.id \
                   and p.state in ('queued', 'sending'))";
    let notifications = sqlx::query(sqlx::AssertSqlSafe(format!(
        "update notifications set recipient = '', subject = null, body_text = null, \
         body_html = null, last_error = null \
         where outage_id in (select id from outages where {ended}) and recipient <> ''"
    )))
    .bind(Millis::of(cutoff_ms))
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let bookings = sqlx::query(
        "update bookings set name = '', email = null, phone_raw = null, phone_e164 = null, \
         content_hash = '' \
         where ends_at <= $1 and (name <> '' or email is not null or phone_raw is not null) \
         and not exists (select 1 from targets t join outages o on o.id = t.outage_id \
           where t.booking_id = bookings.id and (o.state = 'active' \
             or coalesce(o.closed_at, o.updated_at, o.created_at) > $1))",
    )
    .bind(Millis::of(cutoff_ms))
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let returned_mail = sqlx::query("delete from returned_mail where received_at <= $1")
        .bind(Millis::of(cutoff_ms))
        .execute(&mut *conn)
        .await?
        .rows_affected();
    let suppressions = sqlx::query("delete from suppressed_addresses where since <= $1")
        .bind(Millis::of(suppressed_before))
        .execute(&mut *conn)
        .await?
        .rows_affected();
    let runs = sqlx::query(sqlx::AssertSqlSafe(format!(
        "update outages set purged_at = $2 where {ended}"
    )))
    .bind(Millis::of(cutoff_ms))
    .bind(Millis::of(now))
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(Purged {
        runs,
        notifications,
        bookings,
        returned_mail,
        suppressions,
    })
}

/// Copies a SQLite database into `path` while it is in use (`VACUUM INTO`): a consistent
/// snapshot, without stopping the daemon.
pub async fn backup_sqlite(conn: &mut Conn, path: &str) -> sqlx::Result<()> {
    let quoted = path.replace('\'', "''");
    sqlx::query(sqlx::AssertSqlSafe(format!("vacuum into '{quoted}'")))
        .execute(&mut *conn)
        .await?;
    Ok(())
}
