//! What one send attempt on a channel came to, in the three classes the dispatcher acts on,
//! and the masking that keeps recipients' addresses and numbers out of failure reasons.

use std::time::Duration;

/// The destination accepted the message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sent {
    /// The gateway's id for the message (Kannel or HTTP gateway), if it gave one.
    pub provider_id: Option<String>,
}

/// What a send attempt came to when it did not succeed. The dispatcher maps these to queue
/// state transitions. Build them with [`SendFailure::destination`], [`SendFailure::transient`]
/// and [`SendFailure::permanent`], which mask personal data in the reason.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SendFailure {
    /// The destination is unreachable or refuses service as a whole: connection refused/reset/dropped,
    /// timeout, TLS/AUTH failure, SMTP 421, HTTP 5xx, Kannel "Not routable"/SMSC down. Counts toward
    /// marking the destination down; the message's attempt is NOT spent.
    #[error("destination failed: {0}")]
    Destination(String),
    /// This message failed for now: SMTP 4xx on MAIL/RCPT/DATA, HTTP 429 (with Retry-After). Retry later.
    #[error("temporary failure: {reason}")]
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// This message can never succeed here: SMTP 5xx, invalid number, HTTP 4xx other than 408/429. Fall back.
    #[error("permanent failure: {0}")]
    Permanent(String),
}

impl SendFailure {
    pub fn destination(reason: impl std::fmt::Display) -> Self {
        Self::Destination(mask_personal_data(&reason.to_string()))
    }

    pub fn transient(reason: impl std::fmt::Display, retry_after: Option<Duration>) -> Self {
        Self::Transient {
            reason: mask_personal_data(&reason.to_string()),
            retry_after,
        }
    }

    pub fn permanent(reason: impl std::fmt::Display) -> Self {
        Self::Permanent(mask_personal_data(&reason.to_string()))
    }
}

/// Runs of this many digits or more are taken for phone numbers and masked.
const MIN_MASKED_DIGITS: usize = 6;

/// Replaces `local@domain` addresses with `***@***` and runs of six or more digits with `***`,
/// because gateways and SMTP servers echo recipients in their replies.
pub fn mask_personal_data(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if let Some(end) = address_at(&chars, i) {
            out.push_str("***@***");
            i = end;
        } else if chars[i].is_ascii_digit() {
            let end = i + chars[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            if end - i >= MIN_MASKED_DIGITS {
                out.push_str("***");
            } else {
                out.extend(&chars[i..end]);
            }
            i = end;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// If an address's local part starts at `start`, the index just after its domain.
fn address_at(chars: &[char], start: usize) -> Option<usize> {
    if start > 0 && is_local_char(chars[start - 1]) {
        return None;
    }
    let at = start
        + chars[start..]
            .iter()
            .take_while(|c| is_local_char(**c))
            .count();
    if at == start || chars.get(at) != Some(&'@') {
        return None;
    }
    let domain_len = chars[at + 1..]
        .iter()
        .take_while(|c| c.is_alphanumeric() || **c == '.' || **c == '-')
        .count();
    (domain_len > 0).then_some(at + 1 + domain_len)
}

fn is_local_char(c: char) -> bool {
    c.is_alphanumeric() || "._%+-!#$&'*/=?^`{|}~".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_echoed_by_a_server_are_masked() {
        let reply = "550 5.1.1 <jane.doe+x@example.org>: Recipient address rejected";
        assert_eq!(
            mask_personal_data(reply),
            "550 5.1.1 <***@***>: Recipient address rejected"
        );
    }

    #[test]
    fn long_digit_runs_are_masked_but_reply_codes_stay() {
        let reply = "400 Bad receiver +4917612345678, code 5.1.3";
        assert_eq!(
            mask_personal_data(reply),
            "400 Bad receiver +***, code 5.1.3"
        );
    }

    #[test]
    fn failures_built_with_constructors_carry_masked_reasons() {
        let f = SendFailure::permanent("rejected a@b.de");
        assert_eq!(f, SendFailure::Permanent("rejected ***@***".into()));
        assert_eq!(f.to_string(), "permanent failure: rejected ***@***");
    }

    #[test]
    fn a_lone_at_sign_is_left_alone() {
        assert_eq!(mask_personal_data("a @ b, @x"), "a @ b, @x");
    }
}
