//! The outbox's own lifecycle for the dispatcher: claiming with a lease, recording sent,
//! retry and final outcomes, expiry, fallbacks, and what is due next.

use super::delivery::NOT_NEEDED;
use crate::domain::notification::{Kind, Role};
use crate::store::Millis;
use crate::store::leases::INSTANCE_PREFIX;
use crate::store::{Backend, Conn, Params};
use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;

/// A claimed notification, ready to send. Its fields are [`CLAIMED_COLUMNS`] in order: a
/// claim is read as one JSON array of their values ([`claim`]).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Claimed {
    pub id: i64,
    pub tenant_id: String,
    pub outage_id: i64,
    pub booking_id: i64,
    pub channel: crate::domain::notification::Channel,
    pub kind: crate::domain::notification::Kind,
    pub role: crate::domain::notification::Role,
    pub recipient: String,
    /// The stored text; an email without one is written when it is sent, from its booking
    /// (the dispatcher fills these in after the claim).
    pub subject: Option<String>,
    pub body_text: Option<String>,
    pub body_html: Option<String>,
    pub attempts: i64,
    #[serde(deserialize_with = "chrono::serde::ts_milliseconds::deserialize")]
    pub deadline: DateTime<Utc>,
    /// How often it was claimed, this claim included (signed into delivery-report URLs).
    pub claims: i64,
    /// Why its text could not be written after the claim (not stored).
    #[serde(skip)]
    pub unwritable: Option<String>,
    /// Until when this claim holds it: after that another claim may take it.
    #[serde(skip)]
    pub lease_until: DateTime<Utc>,
}

const CLAIMED_COLUMNS: &str = "id, tenant_id, outage_id, booking_id, channel, kind, role, \
     recipient, subject, body_text, body_html, attempts, deadline, claims";

/// How long after its lease ran out a claim whose owner still beats is taken over all the same:
/// longer than a database failover and the owner's pause before it records again.
pub const STALLED_AFTER: chrono::Duration = chrono::Duration::minutes(5);

/// Claims up to `limit` due notifications of one channel, earliest appointment first, for
/// `owner` until `lease_until`. Due means queued and scheduled, or claimed by a process whose
/// lease ran out (it crashed). Nothing whose appointment has started is claimed. Each claim
/// counts up `claims` and forgets delivery reports of earlier sends.
///
/// A claim whose lease ran out is not taken while its owner's heartbeat is on record
/// ([`crate::store::leases::heartbeat`]): alive, or not yet seen gone for a heartbeat's
/// lifetime. An owner that lost the database for a while (a PostgreSQL restart or failover) has
/// sends out whose outcome it records as soon as it can; taken over, they would go out twice.
/// Its owner takes a claim back a whole lease after it ran out: by then it has lost track of it
/// (the answer to its claim was lost), since its sends end within the lease and are recorded,
/// or kept until they are, before it claims again. Another instance takes it regardless only
/// [`STALLED_AFTER`] after it ran out (or a whole lease, if longer).
///
/// The claimed rows come back as one JSON array (one value), not a row each: sqlx hands each
/// row of a result from SQLite's thread to the caller on its own and copies each of its values
/// through its `Any` driver (the speed issue: email 4–9 % faster in six paired runs). On SQLite,
/// where `returning` cannot feed an aggregate, that takes three statements: the due ids, their
/// update, their rows. The dispatcher's transaction holds the write lock from its start
/// ([`crate::store::Store::begin_claim`]), so nothing comes between them; they run in a
/// transaction of their own (a savepoint inside the caller's), so that without one a writer
/// coming between makes the claim fail rather than claim twice.
pub async fn claim(
    conn: &mut Conn,
    backend: Backend,
    channel: &str,
    owner: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
) -> sqlx::Result<Vec<Claimed>> {
    // Only what this version understands: a kind or role a newer instance wrote (sharing the
    // queue during an upgrade) is left to it, instead of failing every claim of the channel.
    let understood = format!(
        "kind in ('{}', '{}') and role in ('{}', '{}')",
        Kind::Cancellation.as_str(),
        Kind::Retraction.as_str(),
        Role::Primary.as_str(),
        Role::Fallback.as_str()
    );
    // Placeholders: the channel, now, the limit, this owner, when a claim of its own and when
    // one of a live other was lost.
    let due = |[channel, now, limit, owner, lost, stalled]: [&str; 6]| {
        format!(
            "select id from notifications \
             where channel = {channel} and deadline > {now} and state in ('queued', 'sending') \
               and {understood} \
               and ((state = 'queued' and next_attempt_at <= {now}) \
                 or (state = 'sending' and lease_until <= {now} \
                   and (lease_until <= {stalled} \
                     or (lease_owner = {owner} and lease_until <= {lost}) \
                     or not exists (select 1 from job_leases \
                       where job_leases.name = '{INSTANCE_PREFIX}' || notifications.lease_owner)))) \
             order by deadline, id limit {limit}"
        )
    };
    let held_for = lease_until - now;
    let (lost, stalled) = (now - held_for, now - held_for.max(STALLED_AFTER));
    let lease = "set state = 'sending', lease_owner = $1, lease_until = $2, \
         claims = claims + 1, delivery_state = null, delivery_at = null";
    let json = match backend {
        Backend::Postgres => {
            let sql = format!(
                "with claimed as (update notifications {lease} \
                   where id in ({} for update skip locked) returning {CLAIMED_COLUMNS}) \
                 select coalesce(json_agg(json_build_array({CLAIMED_COLUMNS})), '[]')::text \
                 from claimed",
                due(["$3", "$4", "$5", "$1", "$6", "$7"])
            );
            sqlx::query_scalar::<_, String>(AssertSqlSafe(sql))
                .bind(owner)
                .bind(Millis::of(lease_until))
                .bind(channel)
                .bind(Millis::of(now))
                .bind(limit)
                .bind(Millis::of(lost))
                .bind(Millis::of(stalled))
                .fetch_one(&mut *conn)
                .await?
        }
        Backend::Sqlite => {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            let sql = format!(
                "select coalesce(json_group_array(id), '[]') from ({})",
                due(["$1", "$2", "$3", "$4", "$5", "$6"])
            );
            let ids: String = sqlx::query_scalar(AssertSqlSafe(sql))
                .bind(channel)
                .bind(Millis::of(now))
                .bind(limit)
                .bind(owner)
                .bind(Millis::of(lost))
                .bind(Millis::of(stalled))
                .fetch_one(&mut *tx)
                .await?;
            if ids == "[]" {
                return Ok(Vec::new());
            }
            let ids_in = "id in (select value from json_each($3))";
            sqlx::query(AssertSqlSafe(format!(
                "update notifications {lease} where {ids_in}"
            )))
            .bind(owner)
            .bind(Millis::of(lease_until))
            .bind(&ids)
            .execute(&mut *tx)
            .await?;
            let rows = sqlx::query_scalar(AssertSqlSafe(format!(
                "select coalesce(json_group_array(json_array({CLAIMED_COLUMNS})), '[]') \
                 from notifications where id in (select value from json_each($1))"
            )))
            .bind(&ids)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            rows
        }
    };
    let mut rows: Vec<Claimed> =
        serde_json::from_str(&json).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    rows.sort_by_key(|c| (c.deadline, c.id));
    for c in &mut rows {
        c.lease_until = lease_until;
    }
    Ok(rows)
}

/// Whether any open notification of the channel has reached its deadline (a cheap read).
pub async fn any_overdue(conn: &mut Conn, channel: &str, now: DateTime<Utc>) -> sqlx::Result<bool> {
    let hit: Option<i64> = sqlx::query_scalar(
        "select id from notifications where state in ('queued', 'sending') and channel = $1 \
         and deadline <= $2 limit 1",
    )
    .bind(channel)
    .bind(Millis::of(now))
    .fetch_optional(&mut *conn)
    .await?;
    Ok(hit.is_some())
}

/// The processes holding leases on notifications that have not run out.
pub async fn live_lease_owners(conn: &mut Conn, now: DateTime<Utc>) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "select distinct lease_owner from notifications \
         where state = 'sending' and lease_until > $1 and lease_owner is not null",
    )
    .bind(Millis::of(now))
    .fetch_all(&mut *conn)
    .await
}

/// Ends `owner`'s leases now (its process no longer runs): what it claimed is due again.
pub async fn end_leases_of(conn: &mut Conn, owner: &str, now: DateTime<Utc>) -> sqlx::Result<u64> {
    let r = sqlx::query(
        "update notifications set lease_until = $1 \
         where state = 'sending' and lease_owner = $2 and lease_until > $1",
    )
    .bind(Millis::of(now))
    .bind(owner)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected())
}

/// Expires every notification of the channel whose appointment has started and that was not
/// sent: queued ones, and claimed ones whose lease ran out (their process died).
pub async fn expire_due(conn: &mut Conn, channel: &str, now: DateTime<Utc>) -> sqlx::Result<u64> {
    let r = sqlx::query(
        "update notifications set state = 'expired', finished_at = $1, \
         last_error = coalesce(last_error, 'not sent before the appointment started') \
         where state in ('queued', 'sending') and channel = $2 and deadline <= $1 \
         and (state = 'queued' or lease_until <= $1)",
    )
    .bind(Millis::of(now))
    .bind(channel)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected())
}

/// A successful send to record with [`mark_sent_many`].
pub struct SentRecord<'a> {
    pub id: i64,
    pub destination: &'a str,
    pub provider_id: Option<&'a str>,
    pub message_id: Option<&'a str>,
    pub at: DateTime<Utc>,
}

/// Records a group of successful sends in one statement (and the Message-ID each email
/// carried). Also over `expired`: a send whose record was held up (the database refused writes)
/// until its lease ran out and its appointment began did go out, before the appointment.
/// Returns, per notification that was updated, the delivery report that came in before its
/// record (an SMS gateway may report faster than the dispatcher records); one not updated is
/// missing.
pub async fn mark_sent_many(
    conn: &mut Conn,
    sent: &[SentRecord<'_>],
) -> sqlx::Result<std::collections::HashMap<i64, Option<String>>> {
    let mut updated = std::collections::HashMap::with_capacity(sent.len());
    if conn.backend_name() == "SQLite" {
        // The group as one JSON parameter: one statement for every size of group (prepared
        // once, not once per size and connection), and one value for the driver to copy
        // instead of five a send.
        let rows: Vec<_> = sent
            .iter()
            .map(|r| {
                let at = Millis::of(r.at);
                (r.id, r.destination, r.provider_id, r.message_id, at)
            })
            .collect();
        let json = serde_json::to_string(&rows).expect("plain values serialise to JSON");
        let done: Vec<(i64, Option<String>)> = sqlx::query_as(
            "update notifications set state = 'sent', destination = v.value ->> 1, \
             provider_id = v.value ->> 2, message_id = v.value ->> 3, \
             sent_at = v.value ->> 4, finished_at = v.value ->> 4, attempts = attempts + 1, \
             lease_owner = null, lease_until = null from json_each($1) as v \
             where notifications.id = v.value ->> 0 \
             and notifications.state in ('sending', 'expired') \
             returning notifications.id, notifications.delivery_state",
        )
        .bind(json)
        .fetch_all(&mut *conn)
        .await?;
        updated.extend(done);
        return Ok(updated);
    }
    // 5 parameters a row.
    for chunk in sent.chunks(1000) {
        let values = Params::new(conn).rows(chunk.len(), 5);
        // VALUES columns are column1… in SQLite and PostgreSQL alike.
        let sql = format!(
            "update notifications set state = 'sent', destination = v.column2, \
             provider_id = v.column3, message_id = v.column4, sent_at = v.column5, \
             finished_at = v.column5, attempts = attempts + 1, lease_owner = null, \
             lease_until = null from (values {values}) as v \
             where notifications.id = v.column1 and notifications.state in ('sending', 'expired') \
             returning notifications.id, notifications.delivery_state"
        );
        let mut q = sqlx::query_as::<_, (i64, Option<String>)>(AssertSqlSafe(sql));
        for r in chunk {
            q = q
                .bind(r.id)
                .bind(r.destination)
                .bind(r.provider_id)
                .bind(r.message_id)
                .bind(Millis::of(r.at));
        }
        updated.extend(q.fetch_all(&mut *conn).await?);
    }
    Ok(updated)
}

/// Puts a notification back in the queue for a later attempt — unless this process lost its
/// lease meanwhile (another process owns the notification now).
pub async fn mark_retry(
    conn: &mut Conn,
    id: i64,
    owner: &str,
    attempts: i64,
    at: DateTime<Utc>,
    reason: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "update notifications set state = 'queued', attempts = $3, next_attempt_at = $4, \
         last_error = $5, lease_owner = null, lease_until = null \
         where id = $1 and state = 'sending' and lease_owner = $2",
    )
    .bind(id)
    .bind(owner)
    .bind(attempts)
    .bind(Millis::of(at))
    .bind(reason)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// How a notification ends unsent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Final {
    Failed,
    Expired,
}

impl Final {
    pub fn as_str(self) -> &'static str {
        match self {
            Final::Failed => "failed",
            Final::Expired => "expired",
        }
    }
}

/// Ends a notification unsent (same lease rule as [`mark_retry`]).
pub async fn mark_final(
    conn: &mut Conn,
    id: i64,
    owner: &str,
    state: Final,
    attempts: i64,
    reason: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "update notifications set state = $3, attempts = $4, last_error = $5, finished_at = $6, \
         lease_owner = null, lease_until = null \
         where id = $1 and state = 'sending' and lease_owner = $2",
    )
    .bind(id)
    .bind(owner)
    .bind(state.as_str())
    .bind(attempts)
    .bind(reason)
    .bind(Millis::of(now))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The primary went out: its waiting fallback on the other channel is no longer needed.
pub async fn cancel_fallbacks(
    conn: &mut Conn,
    outage_id: i64,
    booking_id: i64,
    kind: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "update notifications set state = 'cancelled', finished_at = $4, \
         last_error = $5 \
         where outage_id = $1 and booking_id = $2 and kind = $3 and role = 'fallback' \
         and state = 'queued'",
    )
    .bind(outage_id)
    .bind(booking_id)
    .bind(kind)
    .bind(Millis::of(now))
    .bind(NOT_NEEDED)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The primary failed for good or could not be sent: its fallback goes now.
pub async fn release_fallbacks(
    conn: &mut Conn,
    outage_id: i64,
    booking_id: i64,
    kind: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "update notifications set next_attempt_at = $4 \
         where outage_id = $1 and booking_id = $2 and kind = $3 and role = 'fallback' \
         and state = 'queued' and next_attempt_at > $4",
    )
    .bind(outage_id)
    .bind(booking_id)
    .bind(kind)
    .bind(Millis::of(now))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// When the channel's next queued notification falls due (to sleep until then).
pub async fn next_due(conn: &mut Conn, channel: &str) -> sqlx::Result<Option<DateTime<Utc>>> {
    let at: Option<i64> = sqlx::query_scalar(
        "select min(next_attempt_at) from notifications where state = 'queued' and channel = $1",
    )
    .bind(channel)
    .fetch_one(&mut *conn)
    .await?;
    Ok(at.map(crate::domain::from_millis))
}

/// How many notifications of the channel are not yet final (queued or in flight).
pub async fn count_pending(conn: &mut Conn, channel: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "select count(*) from notifications where state in ('queued', 'sending') and channel = $1",
    )
    .bind(channel)
    .fetch_one(&mut *conn)
    .await
}

#[cfg(test)]
mod tests {
    use super::{SentRecord, claim, mark_sent_many};
    use crate::domain::notification::{Channel, Kind, Role};
    use crate::store::Backend;
    use crate::store::notifications::{NewNotification, enqueue_many, queued_notification};
    use chrono::{Duration, TimeZone, Utc};

    /// A claim hands over every value as stored, earliest appointment first, leases what it
    /// hands over and nothing else: not another channel, nor what is not due yet, nor what
    /// has reached its appointment, nor what is leased; once the lease has run out, again.
    /// On a connection outside a transaction (the claim makes its own).
    #[tokio::test]
    async fn a_claim_hands_over_each_value_and_only_what_is_due() {
        let runs = [("a", 1), ("b", 2), ("c", 3)];
        let (_dir, store) = crate::store::notifications::store_with_runs(&runs).await;
        let mut conn = store.conn().await.unwrap();
        let now = Utc.timestamp_millis_opt(1_800_000_000_123).unwrap();
        let text = "Ihr Termin \"morgen\" fällt aus.\nZeile 2 \\ 😀 </script>";
        let row = |run: i64, channel, kind, deadline| NewNotification {
            recipient: format!("+4917100000{run}"),
            body_text: Some(text.to_owned()),
            deadline,
            ..queued_notification(runs[run as usize - 1].0, run, channel, kind, now)
        };
        let later = NewNotification {
            role: "fallback",
            subject: Some("Betreff".into()),
            body_html: Some("<p class=\"x\">ü</p>".into()),
            ..row(2, "sms", "retraction", now + Duration::hours(1))
        };
        let rows = [
            row(1, "sms", "cancellation", now + Duration::hours(2)),
            later,
            row(3, "sms", "cancellation", now),
            row(1, "email", "cancellation", now + Duration::hours(1)),
            NewNotification {
                next_attempt_at: now + Duration::minutes(1),
                ..row(2, "sms", "cancellation", now + Duration::hours(1))
            },
        ];
        enqueue_many(&mut conn, &rows, false, now).await.unwrap();
        sqlx::query("update notifications set delivery_state = 'delivered' where id = 2")
            .execute(&mut *conn)
            .await
            .unwrap();
        let lease = now + Duration::minutes(2);
        let claimed = claim(&mut conn, Backend::Sqlite, "sms", "me", now, lease, 10)
            .await
            .unwrap();
        let got: Vec<_> = claimed
            .iter()
            .map(|c| {
                (
                    c.id,
                    c.tenant_id.as_str(),
                    (c.outage_id, c.booking_id),
                    (c.channel, c.kind, c.role),
                    c.recipient.as_str(),
                    (c.subject.as_deref(), c.body_text.as_deref()),
                    c.body_html.as_deref(),
                    (c.attempts, c.deadline, c.claims, c.unwritable.is_none()),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    2,
                    "b",
                    (2, 2),
                    (Channel::Sms, Kind::Retraction, Role::Fallback),
                    "+49171000002",
                    (Some("Betreff"), Some(text)),
                    Some("<p class=\"x\">ü</p>"),
                    (0, now + Duration::hours(1), 1, true)
                ),
                (
                    1,
                    "a",
                    (1, 1),
                    (Channel::Sms, Kind::Cancellation, Role::Primary),
                    "+49171000001",
                    (None, Some(text)),
                    None,
                    (0, now + Duration::hours(2), 1, true)
                ),
            ]
        );
        type Lease = (i64, String, Option<String>, Option<i64>, Option<String>);
        let stored: Vec<Lease> = sqlx::query_as(
            "select id, state, lease_owner, lease_until, delivery_state from notifications \
                 order by id",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        let leased = |id| {
            (
                id,
                "sending".into(),
                Some("me".into()),
                Some(lease.timestamp_millis()),
                None,
            )
        };
        let queued = |id| (id, "queued".into(), None, None, None);
        assert_eq!(
            stored,
            [leased(1), leased(2), queued(3), queued(4), queued(5)]
        );

        // Leased: not again, by anyone, until the lease has run out.
        let again = claim(&mut conn, Backend::Sqlite, "sms", "other", now, lease, 10);
        assert!(again.await.unwrap().is_empty());
        let after = lease + Duration::milliseconds(1);
        let again = claim(&mut conn, Backend::Sqlite, "sms", "other", after, after, 1)
            .await
            .unwrap();
        assert_eq!((again.len(), again[0].id, again[0].claims), (1, 2, 2));
    }

    /// A group of sends is recorded with each send's own values, of the stored types; what is
    /// not claimed (queued) is left alone; a delivery report that came first is handed back.
    #[tokio::test]
    async fn a_group_of_sends_is_recorded_each_with_its_own_values() {
        let (_dir, store) = crate::store::notifications::store_with_runs(&[("t", 1)]).await;
        let mut conn = store.conn().await.unwrap();
        let now = Utc.timestamp_millis_opt(1_800_000_000_123).unwrap();
        let row = |channel, kind| queued_notification("t", 1, channel, kind, now);
        let rows = [
            row("email", "cancellation"),
            row("sms", "cancellation"),
            row("sms", "retraction"),
        ];
        enqueue_many(&mut conn, &rows, false, now).await.unwrap();
        // Ids 1 and 2 are claimed; 2 already has a report; 3 stays queued.
        sqlx::query("update notifications set state = 'sending' where id in (1, 2)")
            .execute(&mut *conn)
            .await
            .unwrap();
        sqlx::query("update notifications set delivery_state = 'failed:1' where id = 2")
            .execute(&mut *conn)
            .await
            .unwrap();
        let at = |ms: i64| Utc.timestamp_millis_opt(ms).unwrap();
        let sent = [
            SentRecord {
                id: 1,
                destination: "relay \"a\"",
                provider_id: None,
                message_id: Some("<n1.o1@termine.example>"),
                at: at(1_800_000_000_500),
            },
            SentRecord {
                id: 2,
                destination: "kannel",
                provider_id: Some("00042 ünï\\"),
                message_id: None,
                at: at(1_800_000_000_900),
            },
            SentRecord {
                id: 3,
                destination: "kannel",
                provider_id: None,
                message_id: None,
                at: at(1_800_000_001_000),
            },
        ];
        let reported = mark_sent_many(&mut conn, &sent).await.unwrap();
        assert_eq!(
            reported,
            [(1, None), (2, Some("failed:1".to_owned()))]
                .into_iter()
                .collect()
        );
        type Stored = (
            i64,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<i64>,
            i64,
            String,
        );
        let stored: Vec<Stored> = sqlx::query_as(
            "select id, state, destination, provider_id, message_id, sent_at, finished_at, \
             attempts, typeof(sent_at) || ' ' || typeof(provider_id) from notifications \
             order by id",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        let sent_row = |id,
                        destination: &str,
                        provider: Option<&str>,
                        message: Option<&str>,
                        ms,
                        types: &str| {
            (
                id,
                "sent".to_owned(),
                Some(destination.to_owned()),
                provider.map(str::to_owned),
                message.map(str::to_owned),
                Some(ms),
                Some(ms),
                1,
                types.to_owned(),
            )
        };
        assert_eq!(
            stored,
            [
                sent_row(
                    1,
                    "relay \"a\"",
                    None,
                    Some("<n1.o1@termine.example>"),
                    1_800_000_000_500,
                    "integer null"
                ),
                sent_row(
                    2,
                    "kannel",
                    Some("00042 ünï\\"),
                    None,
                    1_800_000_000_900,
                    "integer text"
                ),
                (
                    3,
                    "queued".to_owned(),
                    None,
                    None,
                    None,
                    None,
                    None,
                    0,
                    "null null".to_owned()
                ),
            ]
        );
    }
}
