//! What absage knows about each citizen of a run: one state that the report, the call list,
//! the UI, the API and the metrics all use — **informed**, **not reached** or **unknown** —
//! and the evidence behind it, each piece with its time.
//!
//! Evidence that a cancellation arrived:
//! - an SMS the gateway reports `delivered`;
//! - an email the relay accepted (or an SMS accepted where no delivery reports are
//!   configured) with no bounce or failure report for `bounces.quiet_minutes` since;
//! - an email whose receiving system reported delivery, or whose citizen complained about it
//!   (it arrived);
//! - a call: staff phoned the citizen.
//!
//! Not reached: every cancellation bounced, was reported undelivered, failed, expired, or was
//! never possible (no usable channel) — the call list. Unknown: the rest, a message queued,
//! in flight, or handed over and waiting for its evidence.

use crate::domain::notification::{Channel, Kind, State};
use crate::store::notifications::ReportNotification;
use crate::store::returned::Returned;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// Whether a citizen was reached for a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reach {
    /// There is evidence a cancellation arrived (or staff phoned).
    Informed,
    /// A message is queued, in flight, or handed over without evidence yet.
    Unknown,
    /// Nothing arrived or can be sent: staff must phone.
    NotReached,
}

impl Reach {
    /// As serialized: `informed`, `unknown`, `not_reached`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reach::Informed => "informed",
            Reach::Unknown => "unknown",
            Reach::NotReached => "not_reached",
        }
    }
}

/// What counts as evidence, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// How long a handed-over message must go without a bounce or failure report.
    pub quiet: Duration,
    /// Whether SMS delivery reports come back (then only `delivered` is evidence for an SMS).
    pub sms_reports: bool,
    /// Whether returned mail is read (`[bounces]` with a domain and a way in): without it, "no
    /// bounce" only means nobody could have seen one, and the history says so.
    pub bounces_read: bool,
}

impl Rules {
    pub fn of(settings: &crate::config::Settings) -> Rules {
        let b = &settings.bounces;
        Rules {
            quiet: Duration::minutes(i64::from(b.quiet_minutes)),
            sms_reports: settings.http.webhooks.delivery_reports().is_some(),
            bounces_read: b.return_paths().is_some()
                && (!b.listen.is_empty() || b.maildir.is_some() || b.imap.is_some()),
        }
    }
}

/// When one cancellation became evidence that its citizen was informed, if it did.
pub fn informed_at(
    n: &ReportNotification,
    rules: Rules,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if n.kind != Kind::Cancellation {
        return None;
    }
    arrived_at(n, rules, now)
}

/// When a message (of any kind) became evidence that it arrived, if it did.
pub fn arrived_at(
    n: &ReportNotification,
    rules: Rules,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let delivery = n.delivery_state.as_deref();
    if n.state != State::Sent {
        return None;
    }
    match delivery {
        Some(d) if crate::domain::dlr::is_failure(d) => return None,
        Some("delivered" | "complained") => return n.delivery_at.or(n.sent_at),
        _ => {}
    }
    if n.channel == Channel::Sms && rules.sms_reports {
        return None;
    }
    let quiet_until = n.sent_at? + rules.quiet;
    (quiet_until <= now).then_some(quiet_until)
}

/// The state of a citizen from the run's cancellations to them and whether staff phoned.
pub fn reach(ns: &[ReportNotification], phoned: bool, rules: Rules, now: DateTime<Utc>) -> Reach {
    let cancellations = || ns.iter().filter(|n| n.kind == Kind::Cancellation);
    if phoned || cancellations().any(|n| informed_at(n, rules, now).is_some()) {
        return Reach::Informed;
    }
    let open = |n: &ReportNotification| match n.state {
        State::Queued | State::Sending => true,
        State::Sent => !n
            .delivery_state
            .as_deref()
            .is_some_and(crate::domain::dlr::is_failure),
        _ => false,
    };
    if cancellations().any(open) {
        Reach::Unknown
    } else {
        Reach::NotReached
    }
}

/// One piece of evidence in a booking's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// The tenant's local time.
    pub at: String,
    pub what: String,
    #[serde(skip)]
    pub when: DateTime<Utc>,
}

/// A booking's history for the run, oldest first: each message handed over, each report and
/// returned mail about it, its end, the quiet period passed, and the call.
pub fn history(
    ns: &[ReportNotification],
    returned: &[&Returned],
    called: Option<(&str, DateTime<Utc>)>,
    rules: Rules,
    now: DateTime<Utc>,
    tz: chrono_tz::Tz,
) -> Vec<Evidence> {
    let mut items: Vec<(DateTime<Utc>, String)> = Vec::new();
    for n in ns {
        let what = match (n.kind, n.channel) {
            (Kind::Cancellation, Channel::Email) => "cancellation email",
            (Kind::Cancellation, Channel::Sms) => "cancellation SMS",
            (Kind::Retraction, Channel::Email) => "\"appointment stands\" email",
            (Kind::Retraction, Channel::Sms) => "\"appointment stands\" SMS",
        };
        if let Some(at) = n.sent_at {
            let to = n.destination.as_deref().unwrap_or("the outbox");
            items.push((at, format!("{what} handed to {to}")));
        }
        if let (Some(at), Some(d)) = (n.delivery_at, n.delivery_state.as_deref())
            && n.channel == Channel::Sms
        {
            items.push((at, format!("{what}: the gateway reports {d}")));
        }
        if let Some(at) = informed_at(n, rules, now)
            && n.delivery_state.is_none()
        {
            let unseen = match n.channel {
                Channel::Email if !rules.bounces_read => {
                    " (returned mail is not read here: [bounces] is not set up, so a bounce \
                     would not be seen)"
                }
                Channel::Sms if !rules.sms_reports => {
                    " (no delivery reports are set up, so a failure would not be seen)"
                }
                _ => "",
            };
            items.push((
                at,
                format!("{what}: no bounce or failure report since{unseen}"),
            ));
        }
        if matches!(n.state, State::Failed | State::Expired)
            && let (Some(at), Some(words)) = (
                n.finished_at,
                super::office_words(
                    n.channel,
                    n.state,
                    n.delivery_state.as_deref(),
                    n.last_error.as_deref(),
                ),
            )
        {
            items.push((at, words));
        }
    }
    for r in returned {
        let what = match r.reason.as_deref() {
            Some(reason) => reason.to_owned(),
            None => match r.kind.as_str() {
                "delayed" => "email delayed: the receiving mail server is still trying".into(),
                "delivered" => "email reported delivered".into(),
                "auto_reply" => "an automatic answer came back (the mailbox exists)".into(),
                other => format!("returned mail ({other})"),
            },
        };
        items.push((r.received_at, what));
    }
    if let Some((by, at)) = called {
        items.push((at, format!("phoned by {by}")));
    }
    items.sort_by_key(|(at, _)| *at);
    items
        .into_iter()
        .map(|(when, what)| Evidence {
            at: when.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
            what,
            when,
        })
        .collect()
}

/// A history as one line: "AT WHAT; AT WHAT".
pub fn as_text<S: serde::Serializer>(items: &[Evidence], s: S) -> Result<S::Ok, S::Error> {
    let text: Vec<String> = items
        .iter()
        .map(|e| format!("{} {}", e.at, e.what))
        .collect();
    s.serialize_str(&text.join("; "))
}

#[cfg(test)]
mod tests;
