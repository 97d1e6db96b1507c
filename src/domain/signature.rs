//! Truncated HMAC-SHA256 signatures of what absage hands out and must recognise when it comes
//! back: delivery-report URLs ([`super::dlr`]) and return paths ([`super::return_path`]).

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str, message: &str) -> HmacSha256 {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(message.as_bytes());
    mac
}

/// The first `hex_len` hex characters (even, at most 64) of the message's HMAC.
pub fn sign(secret: &str, message: &str, hex_len: usize) -> String {
    let full = hex::encode(mac(secret, message).finalize().into_bytes());
    full[..hex_len].to_owned()
}

/// Whether `sig` is [`sign`]`(secret, message, hex_len)`, compared in constant time.
pub fn verify(secret: &str, message: &str, sig: &str, hex_len: usize) -> bool {
    let Ok(bytes) = hex::decode(sig) else {
        return false;
    };
    sig.len() == hex_len && mac(secret, message).verify_truncated_left(&bytes).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_message_secret_and_length() {
        let sig = sign("a secret of sixteen", "bounce:7", 16);
        assert_eq!(sig.len(), 16);
        assert!(verify("a secret of sixteen", "bounce:7", &sig, 16));
        assert!(!verify("a secret of sixteen", "bounce:8", &sig, 16));
        assert!(!verify("another secret 1234", "bounce:7", &sig, 16));
        assert!(!verify("a secret of sixteen", "bounce:7", &sig[..14], 16));
        assert!(!verify(
            "a secret of sixteen",
            "bounce:7",
            &sig.to_uppercase(),
            17
        ));
        assert!(!verify("a secret of sixteen", "bounce:7", "zz", 2));
    }
}
