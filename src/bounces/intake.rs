//! Taking a returned message: read it, find the email its return path names, keep it, and act
//! on it in one transaction.
//!
//! - a failure (hard bounce, or the mail server gave up) marks the email `bounced` with a
//!   reason written for the office, and moves the citizen on at once: to the other channel
//!   where one waits, else onto the call list;
//! - a complaint, or a hard bounce saying the address does not exist, stops the tenant mailing
//!   the address in later outages (see [`Kind::suppresses`]);
//! - a delay or a success report is kept as evidence and changes nothing else;
//! - what is forged (right shape, wrong signature), not addressed to a return path, or not
//!   readable is kept whole for a person and changes nothing.

use super::parse::{self, Kind};
use crate::ctx::Ctx;
use crate::domain::return_path::{self, Recipient};
use crate::store::notifications;
use crate::store::returned::{self, NewReturned};

/// What became of a returned message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// About one of absage's emails; `moved_on`: fallbacks queued because it failed.
    Email {
        notification: i64,
        kind: Kind,
        moved_on: u64,
    },
    /// A return path whose email no longer exists (purged): kept, nothing to do.
    Gone { notification: i64, kind: Kind },
    /// Shaped like a return path, with a wrong signature: kept for a person, not acted on.
    Forged,
    /// Not addressed to any return path: kept for a person.
    Unaddressed,
}

/// Which email a returned message is about: the envelope recipients (known when it came
/// through absage's listener) first, then the addresses the message names as its own.
pub fn recipient_of(
    domain: &str,
    secret: &str,
    envelope_to: &[String],
    addressed_to: &[String],
) -> Recipient {
    let mut forged = false;
    for address in envelope_to.iter().chain(addressed_to) {
        match return_path::recipient(domain, secret, address) {
            Recipient::Notification(id) => return Recipient::Notification(id),
            Recipient::Forged => forged = true,
            Recipient::Other => {}
        }
    }
    if forged {
        Recipient::Forged
    } else {
        Recipient::Other
    }
}

/// Takes one returned message that came `via` the listener, a mailbox, …
pub async fn take(
    ctx: &Ctx,
    raw: &[u8],
    envelope_to: &[String],
    via: &str,
) -> anyhow::Result<Taken> {
    let (domain, secret) =
        ctx.settings.bounces.return_paths().ok_or_else(|| {
            anyhow::anyhow!("bounces are not configured ([bounces] domain, secret)")
        })?;
    let read = parse::read(raw);
    let recipient = recipient_of(domain, secret, envelope_to, &read.addressed_to);
    let now = ctx.now();
    let mut tx = ctx.store.begin().await?;
    let mut kept = NewReturned {
        via,
        notification_id: None,
        tenant_id: None,
        kind: read.kind.as_str(),
        status: read.status.as_deref(),
        diagnostic: read.diagnostic.as_deref(),
        reason: None,
        size: raw.len(),
        raw: (read.kind == Kind::Unrecognised).then_some(raw),
    };
    let taken = match recipient {
        Recipient::Forged | Recipient::Other => {
            let forged = recipient == Recipient::Forged;
            kept.kind = if forged { "forged" } else { "unaddressed" };
            kept.raw = Some(raw);
            returned::record(&mut tx, &kept, now).await?;
            if forged {
                Taken::Forged
            } else {
                Taken::Unaddressed
            }
        }
        Recipient::Notification(id) => {
            kept.notification_id = Some(id);
            match returned::email(&mut tx, id).await? {
                None => {
                    returned::record(&mut tx, &kept, now).await?;
                    Taken::Gone {
                        notification: id,
                        kind: read.kind,
                    }
                }
                Some(email) => {
                    let reason = office_reason(read.kind, read.status.as_deref());
                    kept.tenant_id = Some(&email.tenant_id);
                    kept.reason = reason.as_deref();
                    returned::record(&mut tx, &kept, now).await?;
                    let mut moved_on = 0;
                    if let Some(state) = delivery_state(read.kind) {
                        let recorded = returned::record_delivery(&mut tx, id, state, now).await?;
                        if recorded && read.kind.is_failure() && email.sent {
                            moved_on =
                                notifications::delivery_failed(&mut tx, id, state, now).await?;
                        }
                    }
                    if read.kind.suppresses(read.status.as_deref()) {
                        returned::suppress(
                            &mut tx,
                            &email.tenant_id,
                            &email.recipient,
                            read.kind.as_str(),
                            reason.as_deref().unwrap_or(read.kind.as_str()),
                            id,
                            now,
                        )
                        .await?;
                    }
                    Taken::Email {
                        notification: id,
                        kind: read.kind,
                        moved_on,
                    }
                }
            }
        }
    };
    tx.commit().await?;
    match &taken {
        Taken::Email {
            notification,
            kind,
            moved_on,
        } => tracing::info!(
            notification,
            kind = kind.as_str(),
            status = read.status.as_deref(),
            fallbacks = moved_on,
            via,
            "returned mail"
        ),
        other => tracing::warn!(via, taken = ?other, "returned mail not applied to any email"),
    }
    Ok(taken)
}

/// Notes a message larger than `bounces.max_message_kib` that a mailbox keeps for a person
/// (`note`: where it lies), without reading it.
pub async fn too_large(
    ctx: &Ctx,
    via: &str,
    size: usize,
    note: Option<&str>,
) -> anyhow::Result<()> {
    let mut tx = ctx.store.begin().await?;
    let kept = NewReturned {
        via,
        notification_id: None,
        tenant_id: None,
        kind: "too_large",
        status: None,
        diagnostic: note,
        reason: None,
        size,
        raw: None,
    };
    returned::record(&mut tx, &kept, ctx.now()).await?;
    tx.commit().await?;
    tracing::warn!(
        via,
        size,
        "a returned message larger than bounces.max_message_kib is left for a person"
    );
    Ok(())
}

/// The delivery state a returned message gives its email.
fn delivery_state(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::Hard | Kind::GaveUp => Some("bounced"),
        Kind::Complaint => Some("complained"),
        Kind::Delayed => Some("delayed"),
        Kind::Delivered => Some("delivered"),
        Kind::AutoReply | Kind::Unrecognised => None,
    }
}

/// What a returned message means, for the office reading the call list (not for the log).
pub fn office_reason(kind: Kind, status: Option<&str>) -> Option<String> {
    let what = match (kind, status.unwrap_or("")) {
        (Kind::Complaint, _) => {
            return Some("email arrived, but the citizen marked it as spam".into());
        }
        (Kind::Hard, s) if s.starts_with("5.1.1") => "the email address does not exist",
        (Kind::Hard, "5.1.2") => "the email domain does not exist",
        (Kind::Hard, "5.2.1") => "the mailbox is disabled",
        (Kind::Hard, "5.2.2") => "the mailbox is full",
        (Kind::Hard, s) if s.starts_with("5.7.") => {
            "the receiving mail server refused it as unwanted"
        }
        (Kind::Hard, _) => "the receiving mail server refused it",
        (Kind::GaveUp, "4.2.2") => "the mailbox was full until the mail server gave up",
        (Kind::GaveUp, _) => "the mail server could not deliver it and gave up",
        _ => return None,
    };
    Some(match status {
        Some(s) => format!("email not delivered: {what} ({s})"),
        None => format!("email not delivered: {what}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_written_for_the_office() {
        assert_eq!(
            office_reason(Kind::Hard, Some("5.1.1")).unwrap(),
            "email not delivered: the email address does not exist (5.1.1)"
        );
        assert_eq!(
            office_reason(Kind::GaveUp, None).unwrap(),
            "email not delivered: the mail server could not deliver it and gave up"
        );
        assert_eq!(
            office_reason(Kind::Complaint, None).unwrap(),
            "email arrived, but the citizen marked it as spam"
        );
        assert_eq!(office_reason(Kind::Delayed, Some("4.4.1")), None);
    }

    #[test]
    fn the_envelope_names_the_email_before_the_message_does() {
        let (d, s) = ("bounces.kreis.test", "sixteen chars at least");
        let a = return_path::address(d, s, 5);
        let b = return_path::address(d, s, 6);
        assert_eq!(
            recipient_of(d, s, std::slice::from_ref(&a), std::slice::from_ref(&b)),
            Recipient::Notification(5)
        );
        assert_eq!(recipient_of(d, s, &[], &[b]), Recipient::Notification(6));
        let forged = a.replace("bounce+5.", "bounce+6.");
        assert_eq!(recipient_of(d, s, &[forged], &[]), Recipient::Forged);
        assert_eq!(
            recipient_of(d, s, &["x@elsewhere.test".into()], &[]),
            Recipient::Other
        );
    }
}
