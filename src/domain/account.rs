//! Accounts of the admin API and web UI: roles, API tokens and passwords.
//!
//! Tokens are 32 random bytes, shown once and stored as their SHA-256: they carry enough
//! entropy that a fast hash is safe, and every request can check one cheaply. Passwords are
//! chosen by people, so they are stored as argon2id (memory-hard) PHC strings.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What an account may do, each role including the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Sees outages, reports, call lists, the queue and the audit log of its tenant.
    Viewer,
    /// Also declares, amends, retracts, runs batches and triggers imports.
    Operator,
    /// Also approves what waits for the four-eyes rule (never their own).
    Approver,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Approver => "approver",
        }
    }

    pub fn parse(s: &str) -> Result<Role, String> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "approver" => Ok(Role::Approver),
            other => Err(format!(
                "{other:?} is not a role (viewer, operator or approver)"
            )),
        }
    }
}

/// The prefix of every API token, so that a leaked one is recognisable (secret scanners).
const TOKEN_PREFIX: &str = "absage_";

/// A new API token (to show once) and its hash (to store).
pub fn new_token() -> (String, String) {
    let bytes: [u8; 32] = rand::random();
    let token = format!("{TOKEN_PREFIX}{}", hex::encode(bytes));
    let hash = token_hash(&token);
    (token, hash)
}

/// The stored form of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// An argon2id hash of `password` with a random salt, as a PHC string.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| anyhow::anyhow!("making a salt: {e}"))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))
}

/// Whether `password` matches the stored PHC string (false for a malformed one).
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// An account name: 1 to 64 letters, digits, `.`, `-`, `_` or `@` (it appears in the audit log
/// and in URLs).
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not an account name (1-64 letters, digits, '.', '-', '_' or '@')"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_include_the_ones_below_them() {
        assert!(Role::Approver > Role::Operator && Role::Operator > Role::Viewer);
        for r in [Role::Viewer, Role::Operator, Role::Approver] {
            assert_eq!(Role::parse(r.as_str()), Ok(r));
        }
        assert!(Role::parse("admin").is_err());
    }

    #[test]
    fn a_token_is_stored_only_as_its_hash_and_each_is_new() {
        let (a, hash_a) = new_token();
        let (b, _) = new_token();
        assert_ne!(a, b);
        assert!(a.starts_with("absage_") && a.len() == 7 + 64);
        assert_eq!(token_hash(&a), hash_a);
        assert!(!hash_a.contains(&a[7..]));
    }

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let stored = hash_password("Korrekt Pferd Batterie").unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify_password("Korrekt Pferd Batterie", &stored));
        assert!(!verify_password("korrekt pferd batterie", &stored));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn account_names_are_plain() {
        assert!(check_name("anna.schmidt@kreis-soest").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a b").is_err());
        assert!(check_name(&"x".repeat(65)).is_err());
    }
}
