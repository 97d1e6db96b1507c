//! What the admin API answers with: its own types, mapped from the store's rows here, so that a
//! column's storage never becomes the API's contract. Lists are JSON arrays (not JSON inside a
//! string), times are RFC 3339 in UTC (`2030-01-08T07:00:00Z`, not epoch milliseconds), and a
//! state or kind is one of its stable lower-case strings (an enum in the OpenAPI description).
//!
//! A row whose value falls outside its enum (the database's check constraints rule that out)
//! fails the mapping: an internal error, logged, rather than a made-up answer.

use crate::domain::booking::list_items;
use crate::store::approvals::ApprovalRow;
use crate::store::audit::AuditRow;
use crate::store::bookings::BookingRow;
use crate::store::destinations::DestinationRow;
use crate::store::imports::{ImportCounts, ImportRow};
use crate::store::notifications::QueueCount as QueueCountRow;
use crate::store::outages::OutageRow;
use crate::store::queue_admin::QueuedRow;
use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// An enum of the API with its stable strings (its variants in snake case: a unit test checks
/// that they are the stored ones), parsed from the column that stores them.
macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            #[cfg(test)]
            const ALL: &[$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            fn parse(stored: &str) -> anyhow::Result<$name> {
                match stored {
                    $($text => Ok($name::$variant),)+
                    other => anyhow::bail!("{} {other:?} is not one the API knows", stringify!($name)),
                }
            }
        }
    };
}

wire_enum!(
    /// An outage (re-matched after every import) or a one-off batch.
    RunKind { Outage = "outage", Batch = "batch" }
);
wire_enum!(
    /// `active` until it is retracted or, once over, closed.
    OutageState { Active = "active", Retracted = "retracted", Closed = "closed" }
);
wire_enum!(
    /// What waits for a second person.
    ApprovalAction {
        Declare = "declare",
        Amend = "amend",
        Retract = "retract",
        ConfirmRemovals = "confirm_removals",
    }
);
wire_enum!(
    ApprovalState { Pending = "pending", Approved = "approved", Rejected = "rejected" }
);
wire_enum!(
    Channel { Email = "email", Sms = "sms" }
);
wire_enum!(
    /// `sent`, `failed`, `expired` and `cancelled` are final.
    NotificationState {
        Queued = "queued",
        Sending = "sending",
        Sent = "sent",
        Failed = "failed",
        Expired = "expired",
        Cancelled = "cancelled",
    }
);
wire_enum!(
    /// A cancellation, or the message that an appointment stands after all.
    NotificationKind { Cancellation = "cancellation", Retraction = "retraction" }
);
wire_enum!(
    /// A primary message goes at once; a fallback only when the primary did not get through.
    NotificationRole { Primary = "primary", Fallback = "fallback" }
);
wire_enum!(
    BookingStatus { Active = "active", Cancelled = "cancelled" }
);
wire_enum!(
    DestinationState { Up = "up", Down = "down" }
);
wire_enum!(
    ImportOutcome {
        Running = "running",
        Applied = "applied",
        Refused = "refused",
        Failed = "failed",
    }
);

/// A list stored as a JSON array of strings.
fn json_list(stored: &str, what: &str) -> anyhow::Result<Vec<String>> {
    serde_json::from_str(stored).with_context(|| format!("the stored {what}"))
}

/// A field that may hold several values (services, locations of a booking) as an array.
fn items(stored: &str) -> Vec<String> {
    list_items(stored).map(str::to_owned).collect()
}

/// An outage or batch: a declared cancellation run.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Outage {
    pub id: i64,
    pub tenant_id: String,
    pub kind: RunKind,
    /// The window (an outage, or a batch by window); none for a batch by booking keys.
    pub window_from: Option<DateTime<Utc>>,
    pub window_to: Option<DateTime<Utc>>,
    /// Only bookings of these services; empty: all.
    pub services: Vec<String>,
    /// Only bookings at these locations; empty: all.
    pub locations: Vec<String>,
    /// A batch's booking keys; none for a window.
    pub keys: Option<Vec<String>>,
    pub reason: String,
    pub state: OutageState,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub retract_reason: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// When the contact data of its citizens was deleted (retention).
    pub purged_at: Option<DateTime<Utc>>,
}

impl TryFrom<OutageRow> for Outage {
    type Error = anyhow::Error;

    fn try_from(o: OutageRow) -> anyhow::Result<Outage> {
        Ok(Outage {
            kind: RunKind::parse(o.kind.as_str())?,
            window_from: o.window_from,
            window_to: o.window_to,
            services: json_list(&o.services_json, "services")?,
            locations: json_list(&o.locations_json, "locations")?,
            keys: o
                .keys_json
                .as_deref()
                .map(|k| json_list(k, "booking keys"))
                .transpose()?,
            state: OutageState::parse(o.state.as_str())?,
            created_at: o.created_at,
            updated_at: o.updated_at,
            closed_at: o.closed_at,
            purged_at: o.purged_at,
            id: o.id,
            tenant_id: o.tenant_id,
            reason: o.reason,
            created_by: o.created_by,
            retract_reason: o.retract_reason,
        })
    }
}

/// An action waiting for (or decided by) a second person under the four-eyes rule.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Approval {
    pub id: i64,
    pub tenant_id: String,
    pub kind: RunKind,
    pub action: ApprovalAction,
    /// The request as it was made, carried out as such once approved.
    #[schema(value_type = Object)]
    pub request: serde_json::Value,
    /// The bookings it counts for the threshold.
    pub affected: i64,
    pub reason: String,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub state: ApprovalState,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    /// The outage it declared or changed.
    pub outage_id: Option<i64>,
}

impl TryFrom<ApprovalRow> for Approval {
    type Error = anyhow::Error;

    fn try_from(a: ApprovalRow) -> anyhow::Result<Approval> {
        Ok(Approval {
            kind: RunKind::parse(&a.kind)?,
            action: ApprovalAction::parse(&a.action)?,
            request: serde_json::from_str(&a.request_json).context("the stored request")?,
            requested_at: a.requested_at,
            state: ApprovalState::parse(&a.state)?,
            decided_at: a.decided_at,
            id: a.id,
            tenant_id: a.tenant_id,
            affected: a.affected,
            reason: a.reason,
            requested_by: a.requested_by,
            decided_by: a.decided_by,
            outage_id: a.outage_id,
        })
    }
}

/// A message to one citizen on one channel.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Notification {
    pub id: i64,
    pub outage_id: i64,
    pub booking_key: String,
    pub channel: Channel,
    pub kind: NotificationKind,
    pub role: NotificationRole,
    /// The address or number it goes to.
    pub recipient: String,
    pub state: NotificationState,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    /// After this it is no use any more (the appointment begins).
    pub deadline: DateTime<Utc>,
    /// The relay or gateway that took it.
    pub destination: Option<String>,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl TryFrom<QueuedRow> for Notification {
    type Error = anyhow::Error;

    fn try_from(n: QueuedRow) -> anyhow::Result<Notification> {
        Ok(Notification {
            channel: Channel::parse(n.channel.as_str())?,
            kind: NotificationKind::parse(n.kind.as_str())?,
            role: NotificationRole::parse(n.role.as_str())?,
            state: NotificationState::parse(n.state.as_str())?,
            next_attempt_at: n.next_attempt_at,
            deadline: n.deadline,
            sent_at: n.sent_at,
            id: n.id,
            outage_id: n.outage_id,
            booking_key: n.booking_key,
            recipient: n.recipient,
            attempts: n.attempts,
            destination: n.destination,
            last_error: n.last_error,
        })
    }
}

/// A booking in absage's copy of the calendar.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Booking {
    pub id: i64,
    pub tenant_id: String,
    pub source: String,
    pub booking_key: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// The booked services (one, or several booked together).
    pub services: Vec<String>,
    /// The office or branch; empty when the export has none.
    pub locations: Vec<String>,
    pub name: String,
    pub email: Option<String>,
    /// The phone number as the export had it.
    pub phone_raw: Option<String>,
    pub phone_e164: Option<String>,
    /// Whether `phone_e164` is a mobile (SMS go only to mobiles).
    pub phone_mobile: bool,
    /// Further numbers as typed, for staff to phone.
    pub other_phones: Vec<String>,
    pub language: Option<String>,
    pub status: BookingStatus,
    pub revision: i64,
    /// Why the export's email address could not be used.
    pub email_problem: Option<String>,
    /// Why no mobile number could be taken from the export.
    pub phone_problem: Option<String>,
}

impl TryFrom<BookingRow> for Booking {
    type Error = anyhow::Error;

    fn try_from(b: BookingRow) -> anyhow::Result<Booking> {
        Ok(Booking {
            starts_at: b.starts_at,
            ends_at: b.ends_at,
            services: items(&b.service),
            locations: items(&b.location),
            phone_mobile: b.phone_mobile != 0,
            other_phones: b.phone_other.as_deref().map(items).unwrap_or_default(),
            status: BookingStatus::parse(&b.status)?,
            id: b.id,
            tenant_id: b.tenant_id,
            source: b.source,
            booking_key: b.booking_key,
            name: b.name,
            email: b.email,
            phone_raw: b.phone_raw,
            phone_e164: b.phone_e164,
            language: b.language,
            revision: b.revision,
            email_problem: b.email_problem,
            phone_problem: b.phone_problem,
        })
    }
}

/// One entry of the audit log.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub tenant_id: Option<String>,
    pub actor: String,
    /// `outage.declare`, `approval.approve`, `login`, …
    pub action: String,
    pub subject: Option<String>,
    /// The action's numbers (impact, counts), as an object.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = anyhow::Error;

    fn try_from(e: AuditRow) -> anyhow::Result<AuditEntry> {
        Ok(AuditEntry {
            details: serde_json::from_str(&e.details_json).context("the stored details")?,
            at: e.at,
            id: e.id,
            tenant_id: e.tenant_id,
            actor: e.actor,
            action: e.action,
            subject: e.subject,
        })
    }
}

/// How many rows of an export went where.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Counts {
    pub rows_read: i64,
    pub rows_new: i64,
    pub rows_updated: i64,
    pub rows_unchanged: i64,
    pub rows_removed: i64,
    pub rows_rejected: i64,
    /// Rows whose status says they are no appointment (drafts, blocked slots).
    pub rows_ignored: i64,
    /// Rows that joined a booking read earlier in the same export (one row per service).
    pub rows_merged: i64,
}

impl From<ImportCounts> for Counts {
    fn from(c: ImportCounts) -> Counts {
        Counts {
            rows_read: c.rows_read,
            rows_new: c.rows_new,
            rows_updated: c.rows_updated,
            rows_unchanged: c.rows_unchanged,
            rows_removed: c.rows_removed,
            rows_rejected: c.rows_rejected,
            rows_ignored: c.rows_ignored,
            rows_merged: c.rows_merged,
        }
    }
}

/// One reading of a source.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Import {
    pub id: i64,
    pub tenant_id: String,
    pub source: String,
    /// The file or URL read (credentials hidden).
    pub location: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub outcome: ImportOutcome,
    #[serde(flatten)]
    pub counts: Counts,
    pub message: Option<String>,
}

impl TryFrom<ImportRow> for Import {
    type Error = anyhow::Error;

    fn try_from(i: ImportRow) -> anyhow::Result<Import> {
        Ok(Import {
            started_at: i.started_at,
            finished_at: i.finished_at,
            outcome: ImportOutcome::parse(&i.outcome)?,
            counts: i.counts.into(),
            id: i.id,
            tenant_id: i.tenant_id,
            source: i.source,
            location: i.location,
            message: i.message,
        })
    }
}

/// The health of a relay or gateway.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Destination {
    pub name: String,
    pub channel: Channel,
    pub state: DestinationState,
    pub consecutive_failures: i64,
    pub last_error: Option<String>,
    pub down_since: Option<DateTime<Utc>>,
    pub next_probe_at: Option<DateTime<Utc>>,
    /// How long one send has taken once a connection was free (a moving average), in
    /// microseconds; absent before the first success.
    pub send_micros: Option<i64>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<DestinationRow> for Destination {
    type Error = anyhow::Error;

    fn try_from(d: DestinationRow) -> anyhow::Result<Destination> {
        Ok(Destination {
            channel: Channel::parse(&d.channel)?,
            state: DestinationState::parse(&d.state)?,
            down_since: d.down_since,
            next_probe_at: d.next_probe_at,
            send_micros: d.send_micros,
            updated_at: d.updated_at,
            name: d.name,
            consecutive_failures: d.consecutive_failures,
            last_error: d.last_error,
        })
    }
}

/// How many notifications are in a state on a channel.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueueCount {
    pub state: NotificationState,
    pub channel: Channel,
    pub count: i64,
}

impl TryFrom<QueueCountRow> for QueueCount {
    type Error = anyhow::Error;

    fn try_from(q: QueueCountRow) -> anyhow::Result<QueueCount> {
        Ok(QueueCount {
            state: NotificationState::parse(&q.state)?,
            channel: Channel::parse(&q.channel)?,
            count: q.count,
        })
    }
}

/// Maps every row, or fails on the first that does not map.
pub fn all<R, V: TryFrom<R, Error = anyhow::Error>>(rows: Vec<R>) -> anyhow::Result<Vec<V>> {
    rows.into_iter().map(V::try_from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outage_row() -> OutageRow {
        OutageRow {
            id: 7,
            tenant_id: "soest".into(),
            kind: crate::domain::outage::RunKind::Batch,
            window_from: None,
            window_to: None,
            services_json: r#"["Zulassung","Führerschein"]"#.into(),
            locations_json: "[]".into(),
            keys_json: Some(r#"["A1","A2"]"#.into()),
            reason: "IT-Ausfall".into(),
            state: crate::domain::outage::RunState::Active,
            created_at: crate::domain::from_millis(1_893_999_600_000),
            created_by: "olga".into(),
            retract_reason: None,
            updated_at: None,
            closed_at: None,
            purged_at: None,
        }
    }

    #[test]
    fn an_outage_has_arrays_rfc3339_times_and_its_enums_as_strings() {
        let json = serde_json::to_value(Outage::try_from(outage_row()).unwrap()).unwrap();
        assert_eq!(
            json["services"],
            serde_json::json!(["Zulassung", "Führerschein"])
        );
        assert_eq!(json["locations"], serde_json::json!([]));
        assert_eq!(json["keys"], serde_json::json!(["A1", "A2"]));
        assert_eq!(json["created_at"], "2030-01-07T07:00:00Z");
        assert_eq!(json["window_from"], serde_json::Value::Null);
        assert_eq!(
            (json["kind"].as_str(), json["state"].as_str()),
            (Some("batch"), Some("active"))
        );
        for stored in ["services_json", "locations_json", "keys_json"] {
            assert!(json.get(stored).is_none(), "{stored}");
        }
    }

    #[test]
    fn every_enum_serialises_as_the_string_it_is_stored_as() {
        fn check<E: Serialize + Copy>(all: &[E], text: fn(E) -> &'static str) {
            for e in all {
                assert_eq!(serde_json::to_value(e).unwrap(), text(*e));
            }
        }
        check(RunKind::ALL, RunKind::as_str);
        check(OutageState::ALL, OutageState::as_str);
        check(ApprovalAction::ALL, ApprovalAction::as_str);
        check(ApprovalState::ALL, ApprovalState::as_str);
        check(Channel::ALL, Channel::as_str);
        check(NotificationState::ALL, NotificationState::as_str);
        check(NotificationKind::ALL, NotificationKind::as_str);
        check(NotificationRole::ALL, NotificationRole::as_str);
        check(BookingStatus::ALL, BookingStatus::as_str);
        check(DestinationState::ALL, DestinationState::as_str);
        check(ImportOutcome::ALL, ImportOutcome::as_str);
    }
}
