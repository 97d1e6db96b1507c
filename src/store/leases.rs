//! Leases for once-only jobs: whoever holds a job's lease runs it; an expired lease is free.
//! Running instances also hold a lease each (`instance:OWNER`), renewed as a heartbeat, so that
//! they know how many share the rate limits (to size their claims).

use super::{Conn, Millis};
use chrono::{DateTime, Utc};

/// Takes (or renews) the lease on `job` for `owner` until `until_ms`, unless another owner holds
/// it still. Returns whether `owner` holds it now.
pub async fn acquire(
    conn: &mut Conn,
    job: &str,
    owner: &str,
    now: DateTime<Utc>,
    until_ms: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let holder: Option<String> = sqlx::query_scalar(
        "insert into job_leases (name, owner, lease_until) values ($1, $2, $3) \
         on conflict (name) do update set owner = excluded.owner, \
         lease_until = excluded.lease_until \
         where job_leases.lease_until <= $4 or job_leases.owner = excluded.owner \
         returning owner",
    )
    .bind(job)
    .bind(owner)
    .bind(Millis::of(until_ms))
    .bind(Millis::of(now))
    .fetch_optional(&mut *conn)
    .await?;
    Ok(holder.is_some())
}

/// Who holds the lease of `job` and until when; `None` when nobody does.
pub async fn holder(conn: &mut Conn, job: &str) -> sqlx::Result<Option<(String, DateTime<Utc>)>> {
    let row: Option<(String, Millis)> =
        sqlx::query_as("select owner, lease_until from job_leases where name = $1")
            .bind(job)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(row.map(|(owner, until)| (owner, until.into())))
}

/// Takes the lease of `job` from `from` (whose process is gone) for `owner` until `until`;
/// `false` if `from` no longer holds it (another run took it first).
pub async fn take_over(
    conn: &mut Conn,
    job: &str,
    from: &str,
    owner: &str,
    until: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let r = sqlx::query(
        "update job_leases set owner = $1, lease_until = $2 where name = $3 and owner = $4",
    )
    .bind(owner)
    .bind(Millis::of(until))
    .bind(job)
    .bind(from)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Gives the lease back early (the job is done).
pub async fn release(conn: &mut Conn, job: &str, owner: &str) -> sqlx::Result<()> {
    sqlx::query("delete from job_leases where name = $1 and owner = $2")
        .bind(job)
        .bind(owner)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Renews this instance's heartbeat lease until `until_ms`, notes the instances whose lease
/// ran out as gone, forgets those gone for a heartbeat's lifetime (`until_ms - now`), and
/// returns how many instances are alive (this one included).
///
/// An instance noted gone that beats again is alive again: after a database outage every
/// heartbeat has run out, and the first beat of one instance must not make the others' claims
/// free for the taking (see [`super::notifications::claim`]) before they could beat themselves.
pub async fn heartbeat(
    conn: &mut Conn,
    owner: &str,
    now: DateTime<Utc>,
    until_ms: DateTime<Utc>,
) -> sqlx::Result<i64> {
    let name = format!("{INSTANCE_PREFIX}{owner}");
    let instances = format!("{INSTANCE_PREFIX}%");
    sqlx::query(
        "insert into job_leases (name, owner, lease_until) values ($1, $2, $3) \
         on conflict (name) do update set lease_until = excluded.lease_until, gone_since = null",
    )
    .bind(&name)
    .bind(owner)
    .bind(Millis::of(until_ms))
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "update job_leases set gone_since = $1 \
         where name like $2 and lease_until <= $1 and gone_since is null",
    )
    .bind(Millis::of(now))
    .bind(&instances)
    .execute(&mut *conn)
    .await?;
    sqlx::query("delete from job_leases where name like $1 and gone_since <= $2")
        .bind(&instances)
        .bind(Millis::of(now - (until_ms - now)))
        .execute(&mut *conn)
        .await?;
    sqlx::query_scalar("select count(*) from job_leases where name like $1 and gone_since is null")
        .bind(&instances)
        .fetch_one(&mut *conn)
        .await
}

/// Ends this instance's heartbeat lease (a clean shutdown), so the others count it out at once.
/// The instances whose heartbeat has not run out yet (their owners).
pub async fn instances(conn: &mut Conn) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar("select owner from job_leases where name like $1")
        .bind(format!("{INSTANCE_PREFIX}%"))
        .fetch_all(&mut *conn)
        .await
}

pub async fn leave(conn: &mut Conn, owner: &str) -> sqlx::Result<()> {
    release(conn, &format!("{INSTANCE_PREFIX}{owner}"), owner).await
}

/// The job name of an instance's heartbeat is this and its owner.
pub(crate) const INSTANCE_PREFIX: &str = "instance:";
