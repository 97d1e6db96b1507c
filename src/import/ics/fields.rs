//! How an ics source's field mapping names iCalendar data, and finding it in one VEVENT.
//!
//! Convention for `[sources.fields]` of an ics source:
//! - `key = "UID"`, `date = "DTSTART"` (required by every mapping; fixed by iCalendar), and
//!   `end`, `duration`, `status` either unset or `"DTEND"`, `"DURATION"`, `"STATUS"`; `time`
//!   unset. These are always read as iCalendar defines them; other names are a config error.
//! - Every other field names where its text is:
//!   - `"PROP"`: the value of the property (`service = "SUMMARY"`, `location = "LOCATION"`,
//!     `phone = "X-PHONE"`, `language = "X-LANGUAGE"`), text escapes resolved;
//!   - `"PROP;PARAM"`: a parameter of it (`name = "ATTENDEE;CN"`);
//!   - `"PROP:Label"`: the value after `Label:` on a line of that property's text
//!     (`phone = "DESCRIPTION:Telefon"` finds `Telefon: 0171 1234567` in the description).
//! - `ATTENDEE` always means the **citizen**: the first attendee that is not the organizer
//!   (same address), not `ROLE=CHAIR` or `ROLE=NON-PARTICIPANT`, and not a room or resource
//!   (`CUTYPE`). So `email = "ATTENDEE"` and `name = "ATTENDEE;CN"` describe the same person.
//!   Its `mailto:` (or `tel:`) is dropped; another kind of address (`urn:uuid:…`) counts as
//!   no address, since it is not bad data, just not a way to reach anyone.

use std::borrow::Cow;

use crate::import::ics::content::{Event, Property, unescape};
use crate::import::mapping::{Field, FieldMapping, RowSource};

/// Where a field's text is in a VEVENT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Spec {
    Value(String),
    Param(String, String),
    Line(String, String),
}

/// The fields read by the mapping, each with its [`Spec`].
pub(crate) const FREE: [Field; 6] = [
    Field::Service,
    Field::Location,
    Field::Name,
    Field::Email,
    Field::Phone,
    Field::Language,
];

/// Each mapped field's [`Spec`], by `Field as usize`.
#[derive(Debug, Clone)]
pub(crate) struct Specs([Option<Spec>; Field::ALL.len()]);

impl Specs {
    /// Checks the mapping against the convention; the error names the config key.
    pub(crate) fn new(fields: &FieldMapping) -> Result<Specs, String> {
        fixed(fields)?;
        if let Some(field) = Field::ALL
            .into_iter()
            .find(|f| fields.headers(*f).len() > 1)
        {
            return Err(format!(
                "fields.{}: an ics source maps one property per field, not a list",
                field.as_str()
            ));
        }
        let mut specs: [Option<Spec>; Field::ALL.len()] = Default::default();
        for field in FREE {
            if let Some(text) = fields.header(field) {
                specs[field as usize] =
                    Some(spec(text).map_err(|why| {
                        format!("fields.{}: {} {why}", field.as_str(), shown(text))
                    })?);
            }
        }
        Ok(Specs(specs))
    }

    /// The texts of the mapped fields in `event`, by `Field as usize`.
    pub(crate) fn texts(&self, event: &Event) -> [Option<String>; Field::ALL.len()] {
        let citizen = citizen(event);
        let mut texts: [Option<String>; Field::ALL.len()] = Default::default();
        for field in FREE {
            if let Some(spec) = &self.0[field as usize] {
                texts[field as usize] = find(spec, event, citizen);
            }
        }
        texts
    }
}

fn fixed(fields: &FieldMapping) -> Result<(), String> {
    let expect = [
        (Field::Key, Some("UID")),
        (Field::Date, Some("DTSTART")),
        (Field::Time, None),
        (Field::End, Some("DTEND")),
        (Field::Duration, Some("DURATION")),
        (Field::Status, Some("STATUS")),
    ];
    for (field, standard) in expect {
        let Some(given) = fields.header(field) else {
            continue;
        };
        if standard.is_some_and(|s| given.trim().eq_ignore_ascii_case(s)) {
            continue;
        }
        let want = match standard {
            Some(s) => format!("must be \"{s}\" (or left out) in an ics source"),
            None => "must be left out in an ics source: DTSTART holds date and time".to_string(),
        };
        return Err(format!("fields.{}: {want}", field.as_str()));
    }
    Ok(())
}

fn spec(text: &str) -> Result<Spec, &'static str> {
    let text = text.trim();
    let (name, rest) = match text.find([';', ':']) {
        Some(at) => (
            &text[..at],
            Some((&text[at..at + 1], text[at + 1..].trim())),
        ),
        None => (text, None),
    };
    let name = property_name(name)?;
    match rest {
        None => Ok(Spec::Value(name)),
        Some((";", param)) => Ok(Spec::Param(name, property_name(param)?)),
        Some((_, label)) if !label.is_empty() => Ok(Spec::Line(name, label.to_string())),
        Some(_) => Err("has an empty label after ':'"),
    }
}

fn property_name(text: &str) -> Result<String, &'static str> {
    let valid = !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if valid {
        Ok(text.to_ascii_uppercase())
    } else {
        Err("is not an iCalendar name like SUMMARY, X-PHONE, ATTENDEE;CN or DESCRIPTION:Telefon")
    }
}

/// The citizen among the attendees, by the rule in the module documentation.
pub(crate) fn citizen(event: &Event) -> Option<&Property> {
    let organizer = event
        .prop("ORGANIZER")
        .and_then(|p| address(&p.value))
        .map(|a| a.to_lowercase());
    let is = |value: Option<&str>, names: &[&str]| {
        value.is_some_and(|v| names.iter().any(|n| v.eq_ignore_ascii_case(n)))
    };
    event.props_named("ATTENDEE").find(|attendee| {
        let same_as_organizer =
            organizer.is_some() && address(&attendee.value).map(|a| a.to_lowercase()) == organizer;
        !same_as_organizer
            && !is(attendee.param("ROLE"), &["CHAIR", "NON-PARTICIPANT"])
            && !is(attendee.param("CUTYPE"), &["ROOM", "RESOURCE"])
    })
}

fn find(spec: &Spec, event: &Event, citizen: Option<&Property>) -> Option<String> {
    let prop = |name: &str| match name {
        "ATTENDEE" => citizen,
        _ => event.prop(name),
    };
    match spec {
        Spec::Value(name) if name == "ATTENDEE" || name == "ORGANIZER" => {
            address(&prop(name)?.value).map(str::to_owned)
        }
        Spec::Value(name) => Some(unescape(&prop(name)?.value)),
        Spec::Param(name, param) => prop(name)?.param(param).map(str::to_owned),
        Spec::Line(name, label) => labelled(&unescape(&prop(name)?.value), label),
    }
}

/// A calendar address without its `mailto:`/`tel:`; `None` for other URIs and blanks.
fn address(value: &str) -> Option<&str> {
    let value = value.trim();
    let scheme_end = value.find(':');
    let rest = match scheme_end {
        Some(at) => {
            let scheme = &value[..at];
            if !scheme.eq_ignore_ascii_case("mailto") && !scheme.eq_ignore_ascii_case("tel") {
                return None;
            }
            value[at + 1..].trim()
        }
        None => value,
    };
    (!rest.is_empty()).then_some(rest)
}

/// The text after `label:` on a line of `text` (label compared ignoring case).
fn labelled(text: &str, label: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let line = line.trim();
        let head = line.get(..label.len())?;
        let rest = line[label.len()..].trim_start().strip_prefix(':')?;
        head.eq_ignore_ascii_case(label)
            .then(|| rest.trim().to_string())
    })
}

fn shown(text: &str) -> String {
    crate::import::ics::when::shown(text)
}

/// One booking (or occurrence) as the row parser sees it.
pub(crate) struct IcsRow<'a> {
    pub key: String,
    /// Start and end as RFC 3339 instants.
    pub start: String,
    pub end: String,
    pub texts: &'a [Option<String>; Field::ALL.len()],
}

impl RowSource for IcsRow<'_> {
    fn text(&self, field: Field) -> Result<Option<Cow<'_, str>>, String> {
        let text = match field {
            Field::Key => Some(self.key.as_str()),
            Field::Date => Some(self.start.as_str()),
            Field::End => Some(self.end.as_str()),
            Field::Time | Field::Duration | Field::Status => None,
            other => self.texts[other as usize].as_deref(),
        };
        Ok(text.map(Cow::Borrowed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(lines: &[&str]) -> Event {
        let props = lines
            .iter()
            .map(|l| Property::parse(1, l).expect("valid line"))
            .collect();
        Event {
            line: 1,
            props,
            broken: None,
        }
    }

    fn mapping() -> FieldMapping {
        let some = |s: &str| Some(s.to_string());
        FieldMapping {
            key: "UID".into(),
            date: "DTSTART".into(),
            service: "SUMMARY".into(),
            location: Some("LOCATION".into()),
            name: "ATTENDEE;CN".into(),
            email: Some("ATTENDEE".into()),
            phone: Some("DESCRIPTION:Telefon".into()),
            language: some("X-LANGUAGE"),
            ..FieldMapping::default()
        }
    }

    fn texts(lines: &[&str]) -> [Option<String>; Field::ALL.len()] {
        Specs::new(&mapping()).expect("valid").texts(&event(lines))
    }

    #[test]
    fn the_citizen_is_the_first_attendee_who_is_not_staff() {
        let got = texts(&[
            "ORGANIZER;CN=Amt:mailto:amt@example.org",
            "ATTENDEE;CN=Amt:MAILTO:Amt@Example.org",
            "ATTENDEE;ROLE=CHAIR;CN=Sachbearbeiter:mailto:sb@example.org",
            "ATTENDEE;CUTYPE=ROOM;CN=Raum 2:mailto:raum@example.org",
            "ATTENDEE;CN=\"Mustermann, Erika\";PARTSTAT=ACCEPTED:mailto:erika@example.org",
            "ATTENDEE;CN=Zweite:mailto:zweite@example.org",
        ]);
        assert_eq!(texts_of(&got, Field::Email), Some("erika@example.org"));
        assert_eq!(texts_of(&got, Field::Name), Some("Mustermann, Erika"));
    }

    fn texts_of(texts: &[Option<String>; Field::ALL.len()], field: Field) -> Option<&str> {
        texts[field as usize].as_deref()
    }

    #[test]
    fn text_values_labels_and_x_properties_are_found() {
        let got = texts(&[
            r"SUMMARY:Pass\, Personalausweis",
            r"DESCRIPTION:Bitte Unterlagen mitbringen.\nTelefon : 0171 1234567\nDanke",
            "X-LANGUAGE:tr",
        ]);
        assert_eq!(
            texts_of(&got, Field::Service),
            Some("Pass, Personalausweis")
        );
        assert_eq!(texts_of(&got, Field::Phone), Some("0171 1234567"));
        assert_eq!(texts_of(&got, Field::Language), Some("tr"));
        assert_eq!(texts_of(&got, Field::Location), None);
    }

    #[test]
    fn an_attendee_without_a_mail_address_has_no_email() {
        let got = texts(&["ATTENDEE;CN=Erika:urn:uuid:1234"]);
        assert_eq!(texts_of(&got, Field::Email), None);
        assert_eq!(texts_of(&got, Field::Name), Some("Erika"));
    }

    #[test]
    fn mappings_outside_the_convention_are_refused_naming_the_key() {
        let bad_key = FieldMapping {
            key: "Termin-Nr".into(),
            ..mapping()
        };
        let err = Specs::new(&bad_key).expect_err("key is UID");
        assert!(err.starts_with("fields.key"), "{err}");
        let with_time = FieldMapping {
            time: Some("Uhrzeit".into()),
            ..mapping()
        };
        assert!(Specs::new(&with_time).is_err());
        let bad_name = FieldMapping {
            phone: Some("X PHONE".into()),
            ..mapping()
        };
        let err = Specs::new(&bad_name).expect_err("space in a name");
        assert!(err.starts_with("fields.phone"), "{err}");
    }
}
