//! Why a message did not reach its citizen, in words for the office reading the call list —
//! not the log's (`the mail server could not be reached before the appointment`, not
//! `connect: Connection refused (os error 111)`). The technical text stays in the report's
//! `last_error`; a permanent refusal keeps it in brackets, since there the words matter
//! (`550 5.1.1 user unknown`).

use crate::domain::notification::{Channel, State};

/// What became of one channel's cancellation; None when it reached the citizen, is still on
/// its way, or was not needed.
pub fn office_words(
    channel: Channel,
    state: State,
    delivery: Option<&str>,
    error: Option<&str>,
) -> Option<String> {
    let (what, server) = match channel {
        Channel::Email => ("email", "the mail server"),
        Channel::Sms => ("SMS", "the SMS gateway"),
    };
    let failed_delivery = delivery.is_some_and(crate::domain::dlr::is_failure);
    let words = match state {
        State::Sent if failed_delivery => match error {
            // Bounces and delivery reports write their reason for the office already.
            Some(e) => e.to_owned(),
            None => format!("{what} not delivered"),
        },
        State::Expired => match error.map(classify) {
            None | Some(Class::NotReached) => {
                format!("{what} not sent: the appointment started before its turn came")
            }
            Some(Class::Unreachable) => {
                format!("{what} not sent: {server} could not be reached before the appointment")
            }
            Some(Class::Deferred) => {
                format!("{what} not sent: {server} kept deferring it until the appointment")
            }
        },
        State::Failed => match error {
            Some(e) if e.starts_with("the message could not be written") => {
                format!("{what} not sent: {e}")
            }
            Some(e) => format!("{what} not sent: {server} refused it ({e})"),
            None => format!("{what} not sent: {server} refused it"),
        },
        _ => return None,
    };
    Some(words)
}

enum Class {
    /// The queue never got to it (no error recorded on the way).
    NotReached,
    /// The relay or gateway was down, unreachable, or refused the connection.
    Unreachable,
    /// It answered, but with temporary refusals.
    Deferred,
}

fn classify(error: &str) -> Class {
    let e = error.to_ascii_lowercase();
    if e.contains("before the appointment started") {
        return Class::NotReached;
    }
    let unreachable = [
        "connect",
        "refused",
        "timed out",
        "timeout",
        "unreachable",
        "reset",
        "broken pipe",
        "dns",
        "resolve",
        "tls",
        "greeting",
        "421",
        "no destination is up",
        "eof",
        "closed",
        "403",
    ];
    if unreachable.iter().any(|w| e.contains(w)) {
        Class::Unreachable
    } else {
        Class::Deferred
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_office_reads_what_happened_not_the_socket_error() {
        let words = |ch, state, delivery, error| office_words(ch, state, delivery, error);
        assert_eq!(
            words(
                Channel::Email,
                State::Expired,
                None,
                Some("relay-1: connect: Connection refused (os error 111)")
            )
            .as_deref(),
            Some("email not sent: the mail server could not be reached before the appointment")
        );
        assert_eq!(
            words(Channel::Sms, State::Expired, None, Some("429: slow down")).as_deref(),
            Some("SMS not sent: the SMS gateway kept deferring it until the appointment")
        );
        assert_eq!(
            words(
                Channel::Email,
                State::Expired,
                None,
                Some("not sent before the appointment started")
            )
            .as_deref(),
            Some("email not sent: the appointment started before its turn came")
        );
        assert_eq!(
            words(
                Channel::Email,
                State::Failed,
                None,
                Some("permanent error (550): 5.1.1 user unknown")
            )
            .as_deref(),
            Some(
                "email not sent: the mail server refused it (permanent error (550): 5.1.1 user unknown)"
            )
        );
        let bounced = "email not delivered: the email address does not exist (5.1.1)";
        assert_eq!(
            words(Channel::Email, State::Sent, Some("bounced"), Some(bounced)).as_deref(),
            Some(bounced)
        );
        assert_eq!(words(Channel::Email, State::Sent, None, None), None);
        assert_eq!(
            words(Channel::Sms, State::Sent, Some("delivered"), None),
            None
        );
        assert_eq!(words(Channel::Sms, State::Cancelled, None, Some("x")), None);
    }
}
