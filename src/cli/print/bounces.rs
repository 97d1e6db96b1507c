//! `absage bounces`: the addresses a tenant no longer mails and why, and the latest returned
//! mail (bounces, complaints, and what waits for a person).

use super::json;
use crate::store::returned::{Returned, Suppressed};
use std::io::Write;

pub fn bounces(
    out: &mut impl Write,
    suppressed: &[Suppressed],
    returned: &[Returned],
    as_json: bool,
) -> anyhow::Result<()> {
    if as_json {
        return json(
            out,
            &serde_json::json!({ "suppressed": suppressed, "returned": returned }),
        );
    }
    writeln!(out, "Addresses not mailed any more: {}", suppressed.len())?;
    for s in suppressed {
        writeln!(
            out,
            "  {}  {}  {}  {} (since {}, message {})",
            s.tenant_id,
            s.address,
            s.kind,
            s.reason,
            s.since.format("%Y-%m-%d %H:%M UTC"),
            s.notification_id.map_or("-".into(), |n| n.to_string())
        )?;
    }
    writeln!(out, "Returned mail, latest first: {}", returned.len())?;
    for r in returned {
        let about = match r.notification_id {
            Some(n) => format!("message {n}"),
            None => "no message of absage's".into(),
        };
        let what = r
            .reason
            .as_deref()
            .or(r.diagnostic.as_deref())
            .unwrap_or("");
        let person = matches!(
            r.kind.as_str(),
            "unrecognised" | "forged" | "unaddressed" | "too_large"
        );
        writeln!(
            out,
            "  #{} {} via {}  {}{}  {}  {}{}",
            r.id,
            r.received_at.format("%Y-%m-%d %H:%M UTC"),
            r.via,
            r.kind,
            r.status
                .as_deref()
                .map(|s| format!(" {s}"))
                .unwrap_or_default(),
            about,
            what,
            if person {
                "  [for a person to read]"
            } else {
                ""
            }
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::print::fixtures::written;

    #[test]
    fn suppressions_and_returned_mail_are_listed_with_their_reasons() {
        let at = chrono::DateTime::from_timestamp(1_900_000_000, 0).unwrap();
        let suppressed = [Suppressed {
            tenant_id: "soest".into(),
            address: "typo@hard.test".into(),
            kind: "hard".into(),
            reason: "email not delivered: the email address does not exist (5.1.1)".into(),
            since: at,
            notification_id: Some(7),
        }];
        let returned = [
            Returned {
                id: 2,
                received_at: at,
                via: "smtp".into(),
                notification_id: Some(7),
                tenant_id: Some("soest".into()),
                kind: "hard".into(),
                status: Some("5.1.1".into()),
                diagnostic: Some("550 5.1.1 Recipient unknown".into()),
                reason: Some(
                    "email not delivered: the email address does not exist (5.1.1)".into(),
                ),
                size: 3000,
            },
            Returned {
                id: 1,
                received_at: at,
                via: "maildir".into(),
                notification_id: None,
                tenant_id: None,
                kind: "unaddressed".into(),
                status: None,
                diagnostic: None,
                reason: None,
                size: 500,
            },
        ];
        let text = written(|out| bounces(out, &suppressed, &returned, false));
        assert_eq!(
            text,
            "Addresses not mailed any more: 1\n  soest  typo@hard.test  hard  email not delivered: the email address does not exist (5.1.1) (since 2030-03-17 17:46 UTC, message 7)\nReturned mail, latest first: 2\n  #2 2030-03-17 17:46 UTC via smtp  hard 5.1.1  message 7  email not delivered: the email address does not exist (5.1.1)\n  #1 2030-03-17 17:46 UTC via maildir  unaddressed  no message of absage's    [for a person to read]\n"
        );
        let json = written(|out| bounces(out, &suppressed, &returned, true));
        assert!(json.contains("\"address\": \"typo@hard.test\""), "{json}");
    }
}
