//! SMS delivery reports: the per-send signature that makes a report trustworthy, what the
//! gateway's report types mean, and which report a send keeps.
//!
//! absage hands each SMS a callback URL `PUBLIC_URL/hooks/dlr/ID/CLAIM/SIG?status=%d` where
//! CLAIM counts the notification's claims (one per send) and SIG is an HMAC of both under a
//! secret only absage knows. A report whose URL does not carry the right SIG is refused, so
//! nobody can mark messages delivered or failed by guessing ids, and a report for an earlier
//! send of the notification is told from one for the current send.
//!
//! The gateway, not absage, puts the status into the URL (Kannel's `%d`), so no signature made
//! when sending can cover it. What keeps a replayed or edited URL from flipping a final state
//! is [`take`]: the first final report of a send stays, and another final one is refused.

use super::signature;

/// Hex characters of the signature kept in the URL (128 bits).
const SIG_LEN: usize = 32;

fn message(notification_id: i64, claim: Option<i64>) -> String {
    match claim {
        Some(claim) => format!("dlr:{notification_id}:{claim}"),
        // The URLs absage gave out before sends were counted.
        None => format!("dlr:{notification_id}"),
    }
}

/// The signature of a send's callback (`claim` None: the older form without the claim).
pub fn signature(secret: &str, notification_id: i64, claim: Option<i64>) -> String {
    signature::sign(secret, &message(notification_id, claim), SIG_LEN)
}

/// Whether `sig` is the send's signature (compared in constant time).
pub fn verify(secret: &str, notification_id: i64, claim: Option<i64>, sig: &str) -> bool {
    signature::verify(secret, &message(notification_id, claim), sig, SIG_LEN)
}

/// The callback URL for a send; Kannel puts the report type where `%d` stands.
pub fn callback_url(public_url: &str, secret: &str, notification_id: i64, claim: i64) -> String {
    format!(
        "{}/hooks/dlr/{notification_id}/{claim}/{}?status=%d",
        public_url.trim_end_matches('/'),
        signature(secret, notification_id, Some(claim))
    )
}

/// absage's reference of a send, for providers whose callback URL is set once for all
/// messages and hand back a reference of the sender's (`{dlr_ref}`): `ID-CLAIM-SIG`.
pub fn reference(secret: &str, notification_id: i64, claim: i64) -> String {
    format!(
        "{notification_id}-{claim}-{}",
        signature(secret, notification_id, Some(claim))
    )
}

/// The parts of a [`reference`]; the signature is still to be verified.
pub fn parse_reference(reference: &str) -> Option<(i64, i64, String)> {
    let mut parts = reference.trim().splitn(3, '-');
    let id = parts.next()?.parse().ok()?;
    let claim = parts.next()?.parse().ok()?;
    Some((id, claim, parts.next()?.to_owned()))
}

/// What a Kannel report type (`%d`: 1, 2, 4, 8, 16) says about the SMS.
pub fn delivery_state(kind: u32) -> Option<&'static str> {
    match kind {
        1 => Some("delivered"),
        2 => Some("undelivered"),
        4 => Some("buffered"),
        8 => Some("submitted"),
        16 => Some("rejected"),
        _ => None,
    }
}

/// States after which the gateway (or, for an email, the receiving mail system) has nothing
/// more to say.
pub fn is_final(state: &str) -> bool {
    matches!(
        state,
        "delivered" | "undelivered" | "rejected" | "bounced" | "complained"
    )
}

/// Final states that say the message did not reach the citizen: an SMS not delivered to the
/// phone, an email that bounced.
pub fn is_failure(state: &str) -> bool {
    matches!(state, "undelivered" | "rejected" | "bounced")
}

/// What to do with a report `incoming` when the send's last one was `before`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    Record,
    /// Ignore it: the final state stays (an intermediate report came late, or the same final
    /// one again).
    Keep,
    /// Refuse it: a different final state is recorded (a replayed or edited URL, or a gateway
    /// contradicting itself).
    Conflict,
}

pub fn take(before: Option<&str>, incoming: &str) -> Take {
    match before {
        Some(b) if is_final(b) && is_final(incoming) && b != incoming => Take::Conflict,
        Some(b) if is_final(b) => Take::Keep,
        _ => Take::Record,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_right_signature_for_the_send_is_accepted() {
        let sig = signature("geheim", 42, Some(1));
        assert_eq!(sig.len(), 32);
        assert!(verify("geheim", 42, Some(1), &sig));
        assert!(!verify("geheim", 42, Some(2), &sig), "another send");
        assert!(!verify("geheim", 42, None, &sig), "the older form");
        assert!(!verify("geheim", 43, Some(1), &sig), "another notification");
        assert!(!verify("anderes", 42, Some(1), &sig), "another secret");
        assert!(!verify("geheim", 42, Some(1), &sig[..31]), "cut short");
        assert!(!verify("geheim", 42, Some(1), "zz"), "not hex");
        assert!(!verify("geheim", 42, Some(1), ""));
        let old = signature("geheim", 42, None);
        assert!(
            verify("geheim", 42, None, &old),
            "URLs handed out before still work"
        );
    }

    #[test]
    fn the_callback_carries_id_claim_signature_and_kannels_placeholder() {
        let url = callback_url("https://absage.example/", "geheim", 7, 2);
        assert_eq!(
            url,
            format!(
                "https://absage.example/hooks/dlr/7/2/{}?status=%d",
                signature("geheim", 7, Some(2))
            )
        );
    }

    #[test]
    fn the_first_final_report_of_a_send_stays() {
        assert_eq!(take(None, "submitted"), Take::Record);
        assert_eq!(take(Some("submitted"), "undelivered"), Take::Record);
        assert_eq!(take(Some("buffered"), "delivered"), Take::Record);
        assert_eq!(take(Some("delivered"), "submitted"), Take::Keep);
        assert_eq!(take(Some("delivered"), "delivered"), Take::Keep);
        assert_eq!(take(Some("delivered"), "undelivered"), Take::Conflict);
        assert_eq!(take(Some("rejected"), "delivered"), Take::Conflict);
        assert!(is_failure("rejected") && is_failure("undelivered") && !is_failure("delivered"));
    }

    #[test]
    fn report_types_map_to_states_and_final_ones_stay() {
        assert_eq!(delivery_state(1), Some("delivered"));
        assert_eq!(delivery_state(8), Some("submitted"));
        assert_eq!(delivery_state(3), None);
        assert!(is_final("delivered") && !is_final("buffered") && !is_final("submitted"));
    }
}
