//! A citizen's email address, checked once at the edge.
//!
//! Validation is lettre's (`lettre::Address`), the same code that later sends the mail,
//! so an address accepted here is one the mailer accepts too.

use std::fmt;
use std::str::FromStr;

use lettre::Address;
use lettre::address::AddressError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A valid email address; the domain is lowercased, the local part kept as written
/// (mail servers may treat it case-sensitively).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(Address);

impl EmailAddress {
    /// Parses an address as found in an export (surrounding blanks and a `mailto:` are dropped).
    ///
    /// The error gives the reason without the address: it is personal data.
    pub fn parse(raw: &str) -> Result<EmailAddress, String> {
        let text = raw.trim();
        let text = strip_mailto(text);
        if text.is_empty() {
            return Err("is empty".to_string());
        }
        let (user, domain) = text
            .rsplit_once('@')
            .ok_or_else(|| "has no @".to_string())?;
        Address::new(user, domain.to_lowercase())
            .map(EmailAddress)
            .map_err(reason)
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        self.0.as_ref()
    }

    /// The lettre address, for building messages.
    pub fn address(&self) -> &Address {
        &self.0
    }

    /// The address for logs: first letter of the local part and the domain (`m***@example.org`).
    pub fn masked(&self) -> String {
        let first: String = self.0.user().chars().take(1).collect();
        format!("{first}***@{}", self.0.domain())
    }
}

fn strip_mailto(text: &str) -> &str {
    match text.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("mailto:") => text[7..].trim(),
        _ => text,
    }
}

fn reason(err: AddressError) -> String {
    match err {
        AddressError::InvalidUser => "has an invalid part before the @".to_string(),
        AddressError::InvalidDomain => "has an invalid domain after the @".to_string(),
        AddressError::MissingParts => "has no @".to_string(),
        _ => "is not an email address".to_string(),
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EmailAddress {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EmailAddress::parse(s)
    }
}

impl Serialize for EmailAddress {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EmailAddress {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        EmailAddress::parse(&text)
            .map_err(|why| serde::de::Error::custom(format!("email address {why}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_trimmed_and_its_domain_lowercased() {
        let email = EmailAddress::parse("  Max.Mustermann@Example.ORG ").expect("valid");
        assert_eq!(email.as_str(), "Max.Mustermann@example.org");
        assert_eq!(email.to_string(), "Max.Mustermann@example.org");
    }

    #[test]
    fn a_mailto_link_is_read_as_its_address() {
        let email = EmailAddress::parse("MAILTO:m@example.org").expect("valid");
        assert_eq!(email.as_str(), "m@example.org");
    }

    #[test]
    fn broken_addresses_are_refused_without_repeating_them() {
        for raw in [
            "",
            "max.mustermann",
            "max@",
            "@example.org",
            "max mustermann@example.org",
        ] {
            let err = EmailAddress::parse(raw).expect_err(raw);
            assert!(!err.contains("max"), "{err}");
        }
    }

    #[test]
    fn a_masked_address_shows_only_the_first_letter_and_the_domain() {
        let email = EmailAddress::parse("max@example.org").expect("valid");
        assert_eq!(email.masked(), "m***@example.org");
    }

    #[test]
    fn an_address_travels_through_serde_as_a_plain_string() {
        let email = EmailAddress::parse("max@example.org").expect("valid");
        let json = toml::Value::try_from(&email).expect("serialises");
        assert_eq!(json, toml::Value::String("max@example.org".into()));
        let back: EmailAddress = json.try_into().expect("deserialises");
        assert_eq!(back, email);
        let bad: Result<EmailAddress, _> = toml::Value::String("nope".into()).try_into();
        assert!(bad.is_err());
    }
}
