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
    /// The booked service; several are joined by [`LIST_SEPARATOR`] (see [`list_items`]).
    pub service: String,
    /// The office or branch; empty when the export has none. Several as for `service`.
    pub location: String,
    pub name: String,
    pub email: Option<EmailAddress>,
    /// The number SMS go to when it is a mobile; else the first usable number, for the call list.
    pub phone: Option<Phone>,
    /// `None`: the export did not say; messages then use the tenant's default.
    pub language: Option<Language>,
    pub status: BookingStatus,
    /// Why the export's email address could not be used (never the address itself).
    pub email_problem: Option<String>,
    /// Why no mobile number could be taken from the export's phone columns, when they held
    /// text that is not a usable number.
    pub phone_problem: Option<String>,
    /// Further numbers as typed (landlines, a second mobile, text that did not parse): no SMS
    /// goes to them, but staff phoning the citizen can try them.
    pub other_phones: Vec<String>,
}

/// Joins the values of a field that holds several (services, locations) in storage. Imported
/// values never contain it: line breaks are folded to spaces at the edge.
pub const LIST_SEPARATOR: char = '\n';

/// The values of a field that may hold several (`"Kfz-Zulassung\nPersonalausweis"`).
pub fn list_items(text: &str) -> impl Iterator<Item = &str> {
    text.split(LIST_SEPARATOR)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Adds the values of `more` that `list` does not hold yet (both stored lists).
pub fn join_list(list: &mut String, more: &str) {
    for item in list_items(more) {
        if !list_items(list).any(|have| have == item) {
            if !list.is_empty() {
                list.push(LIST_SEPARATOR);
            }
            list.push_str(item);
        }
    }
}

/// A field that may hold several values, as people read it: `Kfz-Zulassung, Personalausweis`.
pub fn display_list(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains(LIST_SEPARATOR) {
        std::borrow::Cow::Owned(list_items(text).collect::<Vec<_>>().join(", "))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// Whether the appointment still stands in the booking system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BookingStatus {
    Active,
    Cancelled,
    /// Not an appointment a citizen relies on (a draft, a reservation, a blocked slot): kept
    /// like a cancelled booking, never notified, and counted apart in the import report.
    Ignored,
}

impl BookingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BookingStatus::Active => "active",
            BookingStatus::Cancelled => "cancelled",
            // Stored like a cancellation: the booking system does not hold it as a booking.
            BookingStatus::Ignored => "cancelled",
        }
    }
}

impl BookingRecord {
    /// Who and when, not what: a short hex SHA-256 over start, name, email and phone. Two rows
    /// of one key with the same person are one appointment listed once per service (an export
    /// joined with its services); with different persons they are different citizens.
    pub fn person(&self) -> String {
        let mut hasher = Sha256::new();
        let starts = self.starts_at.timestamp().to_string();
        let name = self.name.trim().to_lowercase();
        let fields = [
            "person/v1",
            starts.as_str(),
            name.as_str(),
            self.email.as_ref().map_or("", EmailAddress::as_str),
            self.phone.as_ref().map_or("", |p| p.raw.as_str()),
        ];
        for f in fields {
            hasher.update(f.as_bytes());
            hasher.update([0u8]);
        }
        hex::encode(&hasher.finalize()[..4])
    }

    /// Takes in another row of the same appointment: its services and locations join the
    /// lists, and the appointment stands if either row says so.
    pub fn absorb(&mut self, other: &BookingRecord) {
        join_list(&mut self.service, &other.service);
        join_list(&mut self.location, &other.location);
        if other.status == BookingStatus::Active {
            self.status = BookingStatus::Active;
        }
        if other.ends_at > self.ends_at {
            self.ends_at = other.ends_at;
        }
    }

    /// The first 8 bytes of a SHA-256 over every field, in hex, so a re-import can tell a
    /// changed row from an unchanged one without comparing field by field ([`same_content`]).
    /// Stable across versions as long as the field list below is only ever appended to (bump
    /// the version tag otherwise).
    ///
    /// 64 bits: a change goes unseen only if its hash equals the one stored for that booking,
    /// a chance of 2^-64 per change. The whole 32 bytes were a quarter of each booking's row,
    /// and a 1,000,000-row import spent a tenth of its writing on them (the speed issue).
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
        let other_phones = self.other_phones.join("\n");
        // Appended only when set, so bookings without them keep the hash they always had (an
        // upgrade does not count every booking as changed).
        let extra: [Option<&str>; 4] = [
            Some("contact/v2"),
            self.email_problem.as_deref(),
            self.phone_problem.as_deref(),
            Some(other_phones.as_str()).filter(|s| !s.is_empty()),
        ];
        let has_extra =
            extra[1..].iter().any(Option::is_some) || self.status == BookingStatus::Ignored;
        let extra = extra
            .into_iter()
            .chain([Some(if self.status == BookingStatus::Ignored {
                "ignored"
            } else {
                "kept"
            })])
            .filter(|_| has_extra);
        for field in fields.into_iter().chain(extra) {
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
        hex::encode(&hasher.finalize()[..CONTENT_HASH_BYTES])
    }
}

/// The bytes of the SHA-256 that [`BookingRecord::content_hash`] keeps.
const CONTENT_HASH_BYTES: usize = 8;

/// Whether the booking whose stored hash is `stored` has the content hashed as `hash`.
/// Bookings written before the hash was cut keep their whole SHA-256 (64 hex digits) until
/// they change; it starts with the short one, so an upgrade counts none of them as changed.
pub fn same_content(stored: &str, hash: &str) -> bool {
    match stored.len() {
        64 => stored.starts_with(hash),
        _ => stored == hash,
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
            email_problem: None,
            phone_problem: None,
            other_phones: Vec::new(),
        }
    }

    #[test]
    fn the_same_record_always_hashes_the_same() {
        let hash = record().content_hash();
        assert_eq!(hash, record().content_hash());
        assert_eq!(hash.len(), 16);
        assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn a_hash_stored_whole_by_an_earlier_version_is_the_same_content() {
        let hash = record().content_hash();
        let whole = format!("{hash}{}", "0123456789abcdef".repeat(3));
        assert!(same_content(&hash, &hash));
        assert!(same_content(&whole, &hash));
        let mut changed = record();
        changed.name.push('x');
        let other = changed.content_hash();
        assert!(!same_content(&whole, &other));
        assert!(!same_content(&hash, &other));
        // A prefix is the same content only for a whole SHA-256; erased bookings keep ''.
        assert!(!same_content(&hash[..8], &hash));
        assert!(!same_content("", &hash));
        assert!(!same_content(&whole[..63], &hash));
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
            |r| r.status = BookingStatus::Ignored,
            |r| r.email_problem = Some("has no @".into()),
            |r| r.phone_problem = Some("is not a phone number".into()),
            |r| r.other_phones = vec!["02921 123456".into()],
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
