//! One appointment of one person, as read from an export.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::email::EmailAddress;
use crate::domain::language::Language;
use crate::domain::phone::Phone;

/// A booking as an import delivers it; upserted by `key` within its source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingRecord {
    /// The booking system's own id of the appointment, unique within a source.
    pub key: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub service: String,
    /// The office or branch; empty when the export has none.
    pub location: String,
    pub name: String,
    pub email: Option<EmailAddress>,
    pub phone: Option<Phone>,
    /// `None`: the export did not say; messages then use the tenant's default.
    pub language: Option<Language>,
    pub status: BookingStatus,
}

/// Whether the appointment still stands in the booking system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BookingStatus {
    Active,
    Cancelled,
}

impl BookingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BookingStatus::Active => "active",
            BookingStatus::Cancelled => "cancelled",
        }
    }
}

impl BookingRecord {
    /// A hex SHA-256 over every field, so a re-import can tell a changed row from an
    /// unchanged one without comparing field by field. Stable across versions as long as
    /// the field list below is only ever appended to (bump the version tag otherwise).
    pub fn content_hash(&self) -> String {
        let mut hasher = Sha256::new();
        let starts = self.starts_at.timestamp().to_string();
        let ends = self.ends_at.timestamp().to_string();
        let email = self.email.as_ref().map(EmailAddress::as_str);
        let phone = self.phone.as_ref();
        let fields: [Option<&str>; 12] = [
            Some("booking/v1"),
            Some(&self.key),
            Some(&starts),
            Some(&ends),
            Some(&self.service),
            Some(&self.location),
            Some(&self.name),
            email,
            phone.map(|p| p.raw.as_str()),
            phone.and_then(|p| p.e164.as_deref()),
            self.language.as_ref().map(Language::code),
            Some(self.status.as_str()),
        ];
        for field in fields {
            // Length-prefixed, and absent distinct from empty, so no two records collide
            // by moving text from one field into the next.
            match field {
                Some(text) => {
                    hasher.update([1u8]);
                    hasher.update((text.len() as u64).to_le_bytes());
                    hasher.update(text.as_bytes());
                }
                None => hasher.update([0u8]),
            }
        }
        hex::encode(hasher.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn record() -> BookingRecord {
        let starts_at = Utc
            .with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
            .single()
            .expect("valid");
        BookingRecord {
            key: "T-1".into(),
            starts_at,
            ends_at: starts_at + chrono::TimeDelta::minutes(15),
            service: "Zulassung".into(),
            location: "Soest".into(),
            name: "Erika Mustermann".into(),
            email: Some(EmailAddress::parse("erika@example.org").expect("valid")),
            phone: None,
            language: Some(Language::parse("de").expect("known")),
            status: BookingStatus::Active,
        }
    }

    #[test]
    fn the_same_record_always_hashes_the_same() {
        let hash = record().content_hash();
        assert_eq!(hash, record().content_hash());
        assert_eq!(hash.len(), 64);
        assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn every_changed_field_changes_the_hash() {
        let base = record().content_hash();
        let changes: Vec<fn(&mut BookingRecord)> = vec![
            |r| r.key.push('x'),
            |r| r.starts_at += chrono::TimeDelta::minutes(1),
            |r| r.ends_at += chrono::TimeDelta::minutes(1),
            |r| r.service.push('x'),
            |r| r.location.push('x'),
            |r| r.name.push('x'),
            |r| r.email = None,
            |r| {
                r.phone =
                    Some(Phone::parse("0171 1234567", phonenumber::country::Id::DE).expect("valid"))
            },
            |r| r.language = None,
            |r| r.status = BookingStatus::Cancelled,
        ];
        for change in changes {
            let mut changed = record();
            change(&mut changed);
            assert_ne!(changed.content_hash(), base, "{changed:?}");
        }
    }

    #[test]
    fn text_moved_between_fields_changes_the_hash() {
        let mut a = record();
        let mut b = record();
        a.service = "ab".into();
        a.location = "c".into();
        b.service = "a".into();
        b.location = "bc".into();
        assert_ne!(a.content_hash(), b.content_hash());
    }

    #[test]
    fn statuses_have_stable_names() {
        assert_eq!(BookingStatus::Active.as_str(), "active");
        assert_eq!(BookingStatus::Cancelled.as_str(), "cancelled");
    }
}
