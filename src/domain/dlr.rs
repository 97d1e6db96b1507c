//! SMS delivery reports: the per-notification signature that makes a report trustworthy, and
//! what the gateway's report types mean.
//!
//! absage hands each SMS a callback URL `PUBLIC_URL/hooks/dlr/ID/SIG` where SIG is an HMAC of
//! the notification id under a secret only absage knows. A report whose URL does not carry the
//! right SIG for its ID is refused, so nobody can mark messages delivered or failed by guessing
//! ids.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Hex characters of the signature kept in the URL (128 bits).
const SIG_LEN: usize = 32;

fn mac(secret: &str, notification_id: i64) -> HmacSha256 {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(format!("dlr:{notification_id}").as_bytes());
    mac
}

/// The signature of a notification's callback.
pub fn signature(secret: &str, notification_id: i64) -> String {
    let full = hex::encode(mac(secret, notification_id).finalize().into_bytes());
    full[..SIG_LEN].to_owned()
}

/// Whether `sig` is the notification's signature (compared in constant time).
pub fn verify(secret: &str, notification_id: i64, sig: &str) -> bool {
    let Ok(bytes) = hex::decode(sig) else {
        return false;
    };
    sig.len() == SIG_LEN
        && mac(secret, notification_id)
            .verify_truncated_left(&bytes)
            .is_ok()
}

/// The callback URL for a notification; Kannel puts the report type where `%d` stands.
pub fn callback_url(public_url: &str, secret: &str, notification_id: i64) -> String {
    format!(
        "{}/hooks/dlr/{notification_id}/{}?status=%d",
        public_url.trim_end_matches('/'),
        signature(secret, notification_id)
    )
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

/// Final states are not overwritten by a late intermediate report.
pub fn is_final(state: &str) -> bool {
    matches!(state, "delivered" | "undelivered" | "rejected")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_right_signature_for_the_id_is_accepted() {
        let sig = signature("geheim", 42);
        assert_eq!(sig.len(), 32);
        assert!(verify("geheim", 42, &sig));
        assert!(!verify("geheim", 43, &sig), "another notification");
        assert!(!verify("anderes", 42, &sig), "another secret");
        assert!(!verify("geheim", 42, &sig[..31]), "cut short");
        assert!(!verify("geheim", 42, "zz"), "not hex");
        assert!(!verify("geheim", 42, ""));
    }

    #[test]
    fn the_callback_carries_id_signature_and_kannels_placeholder() {
        let url = callback_url("https://absage.example/", "geheim", 7);
        assert_eq!(
            url,
            format!(
                "https://absage.example/hooks/dlr/7/{}?status=%d",
                signature("geheim", 7)
            )
        );
    }

    #[test]
    fn report_types_map_to_states_and_final_ones_stay() {
        assert_eq!(delivery_state(1), Some("delivered"));
        assert_eq!(delivery_state(8), Some("submitted"));
        assert_eq!(delivery_state(3), None);
        assert!(is_final("delivered") && !is_final("buffered") && !is_final("submitted"));
    }
}
