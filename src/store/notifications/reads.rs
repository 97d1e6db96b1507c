//! The outbox's read models: counts for status and metrics, a run's notifications for the
//! report and the call list, its breakdown and samples for the impact preview.

use crate::store::Conn;
use crate::store::MaybeMillis;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Queue depth per state and channel.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct QueueCount {
    pub state: String,
    pub channel: String,
    pub count: i64,
}

pub async fn counts(conn: &mut Conn, outage_id: Option<i64>) -> sqlx::Result<Vec<QueueCount>> {
    match outage_id {
        Some(id) => {
            sqlx::query_as(
                "select state, channel, count(*) as count from notifications where outage_id = $1 \
             group by state, channel order by channel, state",
            )
            .bind(id)
            .fetch_all(&mut *conn)
            .await
        }
        None => {
            sqlx::query_as(
                "select state, channel, count(*) as count from notifications \
             group by state, channel order by channel, state",
            )
            .fetch_all(&mut *conn)
            .await
        }
    }
}

/// Queue depth per state and channel of one tenant.
pub async fn counts_of_tenant(conn: &mut Conn, tenant: &str) -> sqlx::Result<Vec<QueueCount>> {
    sqlx::query_as(
        "select state, channel, count(*) as count from notifications where tenant_id = $1 \
         group by state, channel order by channel, state",
    )
    .bind(tenant)
    .fetch_all(&mut *conn)
    .await
}

/// One notification of a run, for reports.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ReportNotification {
    pub id: i64,
    pub booking_id: i64,
    #[sqlx(try_from = "String")]
    pub kind: crate::domain::notification::Kind,
    #[sqlx(try_from = "String")]
    pub channel: crate::domain::notification::Channel,
    #[sqlx(try_from = "String")]
    pub role: crate::domain::notification::Role,
    #[sqlx(try_from = "String")]
    pub state: crate::domain::notification::State,
    pub attempts: i64,
    pub destination: Option<String>,
    #[sqlx(try_from = "MaybeMillis")]
    pub sent_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub language: String,
    /// What the SMS gateway last reported (delivered, undelivered, buffered, …).
    pub delivery_state: Option<String>,
    #[sqlx(try_from = "MaybeMillis")]
    pub finished_at: Option<DateTime<Utc>>,
    #[sqlx(try_from = "MaybeMillis")]
    pub delivery_at: Option<DateTime<Utc>>,
}

pub async fn of_outage(
    conn: &mut Conn,
    outage_id: i64,
    only: Option<i64>,
) -> sqlx::Result<Vec<ReportNotification>> {
    let sql = format!(
        "select id, booking_id, kind, channel, role, state, attempts, destination, sent_at, \
         last_error, language, delivery_state, finished_at, delivery_at from notifications \
         where outage_id = $1{} \
         order by booking_id, id",
        crate::store::outages::only_booking(only, "booking_id")
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(outage_id)
        .bind(only)
        .fetch_all(&mut *conn)
        .await
}

/// Notifications queued for a run per channel and language, for the impact of a declaration.
pub async fn breakdown(
    conn: &mut Conn,
    outage_id: i64,
) -> sqlx::Result<Vec<(String, String, i64)>> {
    sqlx::query_as(
        "select channel, language, count(*) from notifications where outage_id = $1 \
         group by channel, language",
    )
    .bind(outage_id)
    .fetch_all(&mut *conn)
    .await
}

/// The latest notification of a run per kind and channel with a stored text: (kind, channel,
/// language, subject, text) — after an amendment or retraction, the "appointment stands" text
/// is among them. Emails are written when sent; matching stores the text of the first of each
/// pass as its sample.
pub async fn samples(
    conn: &mut Conn,
    outage_id: i64,
) -> sqlx::Result<Vec<(String, String, String, Option<String>, String)>> {
    sqlx::query_as(
        "select kind, channel, language, subject, body_text from notifications \
         where id in (select max(id) from notifications where outage_id = $1 \
           and body_text is not null group by kind, channel) \
         order by kind, channel",
    )
    .bind(outage_id)
    .fetch_all(&mut *conn)
    .await
}

/// When a run's first message went out.
pub async fn first_sent_at(conn: &mut Conn, outage_id: i64) -> sqlx::Result<Option<DateTime<Utc>>> {
    let at: Option<i64> =
        sqlx::query_scalar("select min(sent_at) from notifications where outage_id = $1")
            .bind(outage_id)
            .fetch_one(&mut *conn)
            .await?;
    Ok(at.map(crate::domain::from_millis))
}

/// The texts of a run's SMS that are or were to be sent: (language, recipient, text), for
/// segment counts and destination countries.
pub async fn sms_texts(
    conn: &mut Conn,
    outage_id: i64,
) -> sqlx::Result<Vec<(String, String, String)>> {
    sqlx::query_as(
        "select language, recipient, body_text from notifications where outage_id = $1 \
         and channel = 'sms' and state <> 'cancelled' and body_text is not null",
    )
    .bind(outage_id)
    .fetch_all(&mut *conn)
    .await
}

/// How messages ended, per channel and destination: final states, and SMS delivery reports
/// (as `delivery:STATE`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Outcome {
    pub channel: String,
    pub destination: Option<String>,
    pub outcome: String,
    pub count: i64,
}

pub async fn outcomes(conn: &mut Conn) -> sqlx::Result<Vec<Outcome>> {
    sqlx::query_as(
        "select channel, destination, state as outcome, count(*) as count from notifications \
         where state in ('sent', 'failed', 'expired', 'cancelled') \
         group by channel, destination, state \
         union all \
         select channel, destination, 'delivery:' || delivery_state as outcome, count(*) as count \
         from notifications where delivery_state is not null \
         group by channel, destination, delivery_state \
         order by 1, 2, 3",
    )
    .fetch_all(&mut *conn)
    .await
}

/// The primaries waiting on a channel: due now, in flight, or waiting for a retry before
/// their appointment — all but those `except` queued at `now` (the messages being planned).
/// The queue a run's new messages join (for the deadline planner).
pub async fn waiting(
    conn: &mut Conn,
    channel: &str,
    except: i64,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<Waiting>> {
    sqlx::query_as(
        "select ready, deadline, sms_text from (select \
         case when state = 'sending' then $3 else next_attempt_at end as ready, deadline, \
         case when channel = 'sms' then body_text end as sms_text from notifications \
         where channel = $1 and not (outage_id = $2 and created_at >= $3) \
         and role = 'primary' and deadline > $3 \
         and state in ('sending', 'queued')) w where ready < deadline",
    )
    .bind(channel)
    .bind(except)
    .bind(crate::store::Millis::of(now))
    .fetch_all(&mut *conn)
    .await
}

/// A message in the queue as the deadline planner sees it.
#[derive(Debug, sqlx::FromRow)]
pub struct Waiting {
    /// When it may go: now while it is being sent, else its next attempt.
    #[sqlx(try_from = "crate::store::Millis")]
    pub ready: DateTime<Utc>,
    #[sqlx(try_from = "crate::store::Millis")]
    pub deadline: DateTime<Utc>,
    /// An SMS's text, for its segments.
    pub sms_text: Option<String>,
}
