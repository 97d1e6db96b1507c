//! Return paths (VERP): every email leaves with its own envelope sender
//! `bounce+<notification>.<signature>@<bounce domain>`, so a bounce names the message it is
//! about by the address it is sent to, whatever the bouncing server writes in its text. The
//! signature (an HMAC of the notification id under a secret only absage knows) keeps a forged
//! bounce from failing someone else's message.

use super::signature;

/// Hex characters of the signature in the address (64 bits: a guess costs one email, and a
/// wrong one is refused at RCPT).
const SIG_LEN: usize = 16;
const PREFIX: &str = "bounce+";

fn message(notification_id: i64) -> String {
    format!("bounce:{notification_id}")
}

/// The return path of a notification's email.
pub fn address(domain: &str, secret: &str, notification_id: i64) -> String {
    format!(
        "{PREFIX}{notification_id}.{}@{domain}",
        signature::sign(secret, &message(notification_id), SIG_LEN)
    )
}

/// What an address a bounce was sent to says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipient {
    /// A return path absage gave out: the bounce is about this notification.
    Notification(i64),
    /// Shaped like a return path of this domain, but the signature is wrong.
    Forged,
    /// Not a return path of this domain.
    Other,
}

/// Reads an address (with or without angle brackets, any case of the domain).
pub fn recipient(domain: &str, secret: &str, address: &str) -> Recipient {
    let address = address.trim().trim_start_matches('<').trim_end_matches('>');
    let Some((local, at)) = address.rsplit_once('@') else {
        return Recipient::Other;
    };
    if !at.eq_ignore_ascii_case(domain) {
        return Recipient::Other;
    }
    let Some(token) = local
        .get(..PREFIX.len())
        .filter(|p| p.eq_ignore_ascii_case(PREFIX))
        .map(|_| &local[PREFIX.len()..])
    else {
        return Recipient::Other;
    };
    let Some((id, sig)) = token.split_once('.') else {
        return Recipient::Forged;
    };
    match id.parse::<i64>() {
        Ok(id)
            if id > 0
                && signature::verify(secret, &message(id), &sig.to_ascii_lowercase(), SIG_LEN) =>
        {
            Recipient::Notification(id)
        }
        _ => Recipient::Forged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "sixteen chars at least";

    #[test]
    fn a_return_path_names_its_notification_and_nothing_else() {
        let a = address("bounces.kreis.test", SECRET, 42);
        assert!(
            a.starts_with("bounce+42.") && a.ends_with("@bounces.kreis.test"),
            "{a}"
        );
        assert!(
            a.split('@').next().unwrap().len() <= 64,
            "RFC 5321 local part: {a}"
        );
        assert_eq!(
            recipient("bounces.kreis.test", SECRET, &a),
            Recipient::Notification(42)
        );
        // Mail servers may change the case of the domain, or of the whole address.
        assert_eq!(
            recipient(
                "bounces.kreis.test",
                SECRET,
                &format!("<{}>", a.to_uppercase())
            ),
            Recipient::Notification(42)
        );
        let forged = a.replace("bounce+42.", "bounce+43.");
        assert_eq!(
            recipient("bounces.kreis.test", SECRET, &forged),
            Recipient::Forged
        );
        assert_eq!(
            recipient("bounces.kreis.test", "another secret of 16", &a),
            Recipient::Forged
        );
        for other in [
            "postmaster@bounces.kreis.test",
            "bounce+42@bounces.kreis.test",
            "bounce+-1.00@bounces.kreis.test",
            "bounce+ä.ü@bounces.kreis.test",
        ] {
            assert_ne!(
                recipient("bounces.kreis.test", SECRET, other),
                Recipient::Notification(42),
                "{other}"
            );
        }
        assert_eq!(
            recipient(
                "bounces.kreis.test",
                SECRET,
                "postmaster@bounces.kreis.test"
            ),
            Recipient::Other
        );
        assert_eq!(
            recipient(
                "bounces.kreis.test",
                SECRET,
                &a.replace("kreis.test", "other.test")
            ),
            Recipient::Other
        );
    }
}
