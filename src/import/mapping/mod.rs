//! The field mapping of a source, and turning one exported row into a
//! [`BookingRecord`](crate::domain::booking::BookingRecord).
//!
//! Every source kind finds the text of each mapped column its own
//! way and hands it over through [`RowSource`]; the rules for reading dates, times,
//! durations, addresses, numbers, languages and statuses live here once.
//!
//! Rules, in short: a row is rejected only when no booking can be made of it: no key, a date
//! or time that does not parse, an end that is not after its start. Everything else costs at
//! most a channel, never the booking: an unusable email address or phone number is a *contact
//! problem* of that field (the booking is imported without that channel, the problem is kept
//! with it and counted, and a booking left with no channel goes on the call list with the
//! reason). An unknown language is only a warning: messages use the tenant's default.
//! A field may read several columns (`name = ["Vorname", "Nachname"]`, `phone = ["Mobil",
//! "Telefon"]`): names are joined, the first mobile number gets the SMS and the other numbers
//! stay for the call list, the first usable email address is taken; services and locations may
//! hold several values (several columns, or one split at `formats.list_separator`).
//! Errors never repeat the value of a personal-data field (name, email, phone).
//!
//! Here: the mapping and formats of a source ([`FieldMapping`], [`Formats`]) and the booking
//! [`Field`]s; in `row.rs` what a row becomes ([`ParsedRow`], [`RowError`], [`RowWarning`]);
//! in `parse.rs` the [`RowParser`] that makes it, reading times in `times.rs` and the other
//! values in `values.rs`.

mod parse;
mod row;
mod times;
mod values;

pub use parse::RowParser;
pub use row::{ParsedRow, RowError, RowSource, RowWarning, WarningKind};

use chrono_tz::Tz;
use phonenumber::country;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::domain::language::Language;

/// Header names in the export for each booking field (`[sources.fields]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldMapping {
    pub key: String,
    /// A date, or a full date-time when `time` is not mapped.
    pub date: String,
    #[serde(default)]
    pub time: Option<String>,
    /// End time (time only: same day as the start) or end date-time.
    #[serde(default)]
    pub end: Option<String>,
    /// Length in minutes, used when there is no end.
    #[serde(default)]
    pub duration: Option<String>,
    pub service: Headers,
    #[serde(default)]
    pub location: Option<Headers>,
    pub name: Headers,
    #[serde(default)]
    pub email: Option<Headers>,
    #[serde(default)]
    pub phone: Option<Headers>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
}

impl Default for FieldMapping {
    /// Only the required fields, under their English names.
    fn default() -> Self {
        FieldMapping {
            key: "key".into(),
            date: "date".into(),
            time: None,
            end: None,
            duration: None,
            service: "service".into(),
            location: None,
            name: "name".into(),
            email: None,
            phone: None,
            language: None,
            status: None,
        }
    }
}

impl FieldMapping {
    /// The (first) header mapped to `field`, if any.
    pub fn header(&self, field: Field) -> Option<&str> {
        self.headers(field).first().map(String::as_str)
    }

    /// Every header mapped to `field`, in the order given; empty when it is not mapped.
    pub fn headers(&self, field: Field) -> &[String] {
        fn one(h: &Option<String>) -> &[String] {
            h.as_ref().map_or(&[][..], std::slice::from_ref)
        }
        fn many(h: &Option<Headers>) -> &[String] {
            h.as_ref().map_or(&[][..], Headers::list)
        }
        match field {
            Field::Key => std::slice::from_ref(&self.key),
            Field::Date => std::slice::from_ref(&self.date),
            Field::Time => one(&self.time),
            Field::End => one(&self.end),
            Field::Duration => one(&self.duration),
            Field::Service => self.service.list(),
            Field::Location => many(&self.location),
            Field::Name => self.name.list(),
            Field::Email => many(&self.email),
            Field::Phone => many(&self.phone),
            Field::Language => one(&self.language),
            Field::Status => one(&self.status),
        }
    }

    /// Refuses a field mapped to an empty list of columns; the error names the config key.
    pub fn check(&self) -> Result<(), String> {
        match Field::ALL
            .into_iter()
            .find(|f| self.headers(*f).iter().any(|h| h.trim().is_empty()))
        {
            Some(field) => Err(format!("fields.{}: a column name is empty", field.as_str())),
            None => match [Field::Service, Field::Name]
                .into_iter()
                .find(|f| self.headers(*f).is_empty())
            {
                Some(field) => Err(format!(
                    "fields.{}: give at least one column",
                    field.as_str()
                )),
                None => Ok(()),
            },
        }
    }
}

/// The columns of a field: one (`name = "Name"`) or several read together
/// (`name = ["Vorname", "Nachname"]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Headers {
    One(String),
    Many(Vec<String>),
}

impl Headers {
    pub fn list(&self) -> &[String] {
        match self {
            Headers::One(one) => std::slice::from_ref(one),
            Headers::Many(many) => many,
        }
    }
}

impl From<&str> for Headers {
    fn from(header: &str) -> Self {
        Headers::One(header.to_string())
    }
}

impl From<String> for Headers {
    fn from(header: String) -> Self {
        Headers::One(header)
    }
}

impl<const N: usize> From<[&str; N]> for Headers {
    fn from(headers: [&str; N]) -> Self {
        Headers::Many(headers.iter().map(|h| h.to_string()).collect())
    }
}

/// How values are written in the export (`[sources.formats]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Formats {
    /// chrono formats for dates, tried in order.
    pub date: Vec<String>,
    pub time: Vec<String>,
    /// Formats for a date-time in one column; RFC 3339 with an offset is always accepted too.
    pub datetime: Vec<String>,
    /// Length of a booking without an end or duration.
    pub default_duration_minutes: u32,
    /// Status values meaning "cancelled" (compared case-insensitively); anything else is active.
    pub cancelled_values: Vec<String>,
    /// Status values of rows that are not appointments a citizen relies on (drafts, blocked
    /// slots): imported like cancelled bookings, never notified, counted as ignored.
    pub ignored_values: Vec<String>,
    /// Splits one service or location cell into several values (`","` for `A, B`).
    pub list_separator: Option<String>,
    /// Country whose numbering plan national phone numbers belong to.
    #[serde(serialize_with = "region_to_str", deserialize_with = "region_from_str")]
    pub phone_region: country::Id,
}

impl Default for Formats {
    fn default() -> Self {
        let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        Formats {
            // Two-digit years first: the other way round chrono reads "08.01.30" as the year 30.
            date: strings(&["%d.%m.%y", "%d.%m.%Y", "%Y-%m-%d"]),
            time: strings(&["%H:%M", "%H:%M:%S"]),
            datetime: strings(&["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%d.%m.%Y %H:%M"]),
            default_duration_minutes: 15,
            cancelled_values: strings(&["storniert", "abgesagt", "cancelled", "canceled"]),
            ignored_values: Vec::new(),
            list_separator: None,
            phone_region: country::Id::DE,
        }
    }
}

fn region_to_str<S: Serializer>(id: &country::Id, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(id.as_ref())
}

fn region_from_str<'de, D: Deserializer<'de>>(deserializer: D) -> Result<country::Id, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.trim().to_ascii_uppercase().parse().map_err(|_| {
        serde::de::Error::custom(format!(
            "{text:?} is not a two-letter country code like \"DE\""
        ))
    })
}

/// What the export does not say but reading it needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseContext {
    /// The tenant's zone, in which the export's local times are read.
    pub tz: Tz,
    /// Language for rows whose language cell is empty or absent; `None` leaves them without.
    pub default_language: Option<Language>,
    /// What the readers refuse as too large (the source's `[sources.limits]`).
    pub limits: crate::import::limits::Limits,
}

/// The booking fields a column can be mapped to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Key,
    Date,
    Time,
    End,
    Duration,
    Service,
    Location,
    Name,
    Email,
    Phone,
    Language,
    Status,
}

impl Field {
    pub const ALL: [Field; 12] = [
        Field::Key,
        Field::Date,
        Field::Time,
        Field::End,
        Field::Duration,
        Field::Service,
        Field::Location,
        Field::Name,
        Field::Email,
        Field::Phone,
        Field::Language,
        Field::Status,
    ];

    /// The name used in config and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Key => "key",
            Field::Date => "date",
            Field::Time => "time",
            Field::End => "end",
            Field::Duration => "duration",
            Field::Service => "service",
            Field::Location => "location",
            Field::Name => "name",
            Field::Email => "email",
            Field::Phone => "phone",
            Field::Language => "language",
            Field::Status => "status",
        }
    }
}

#[cfg(test)]
mod tests;
