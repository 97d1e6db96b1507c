//! Reading a row's other values: email addresses and phone numbers (a bad one costs the
//! booking only that channel), lists of services and locations, the language and the status.

use std::borrow::Cow;

use super::parse::{Cells, RowParser};
use super::{Field, RowError, RowSource, RowWarning, WarningKind};
use crate::domain::booking::{BookingStatus, LIST_SEPARATOR};
use crate::domain::email::EmailAddress;
use crate::domain::language::Language;
use crate::domain::phone::Phone;

impl RowParser {
    /// The first usable address among the email columns; when there is none but some column
    /// held text, the reason (for the call list) instead.
    pub(super) fn email(
        &self,
        cells: &Cells<'_, impl RowSource>,
    ) -> Result<(Option<EmailAddress>, Option<String>), RowError> {
        let mut problem = None;
        for text in cells.all(Field::Email)? {
            if is_placeholder(&text) {
                continue;
            }
            match EmailAddress::parse(&text) {
                Ok(address) => return Ok((Some(address), None)),
                Err(why) => {
                    problem.get_or_insert(format!("email address unusable: it {why}"));
                }
            }
        }
        Ok((None, problem))
    }

    /// The numbers of the phone columns: the first mobile gets the SMS, every other number is
    /// kept as typed for the call list. A cell may hold two numbers or a note (`0171 123456
    /// (abends)`); text that is no number at all is kept too, so staff can read it.
    pub(super) fn phones(&self, cells: &Cells<'_, impl RowSource>) -> Result<Phones, RowError> {
        let mut valid: Vec<Phone> = Vec::new();
        let mut unusable: Vec<(String, String)> = Vec::new();
        for text in cells.all(Field::Phone)? {
            let text = one_line(&text);
            if is_placeholder(&text) {
                continue;
            }
            match crate::domain::phone::parse_cell(&text, self.phone_region) {
                Ok(found) => valid.extend(found),
                Err(why) => unusable.push((text.into_owned(), why)),
            }
        }
        let mobile = valid.iter().position(|p| p.mobile);
        let chosen = mobile.or((!valid.is_empty()).then_some(0));
        let phone = chosen.map(|i| valid.remove(i));
        let mut others: Vec<String> = valid.into_iter().map(|p| p.raw).collect();
        others.extend(unusable.iter().map(|(text, _)| text.clone()));
        others.dedup();
        let problem = match (&phone, unusable.first()) {
            (Some(p), _) if p.mobile => None,
            (_, Some((_, why))) => Some(format!("phone number unusable: it {why}")),
            _ => None,
        };
        Ok(Phones {
            phone,
            problem,
            others,
        })
    }

    /// A field that may hold several values: each mapped column, split at the separator.
    pub(super) fn list(
        &self,
        cells: &Cells<'_, impl RowSource>,
        field: Field,
    ) -> Result<String, RowError> {
        let texts = cells.all(field)?;
        let lines: Vec<Cow<'_, str>> = texts.iter().map(|text| one_line(text)).collect();
        let mut items: Vec<&str> = Vec::new();
        for text in &lines {
            let parts: Vec<&str> = match &self.list_separator {
                Some(sep) => text.split(sep.as_str()).collect(),
                None => vec![text.as_ref()],
            };
            for part in parts {
                let part = part.trim();
                if !part.is_empty() && !items.contains(&part) {
                    items.push(part);
                }
            }
        }
        Ok(items.join(LIST_SEPARATOR.encode_utf8(&mut [0; 4])))
    }

    pub(super) fn language(
        &self,
        cells: &Cells<'_, impl RowSource>,
        warnings: &mut Vec<RowWarning>,
    ) -> Result<Option<Language>, RowError> {
        let Some(text) = cells.optional(Field::Language)? else {
            return Ok(self.ctx.default_language.clone());
        };
        match Language::parse(&text) {
            Ok(language) => Ok(Some(language)),
            Err(reason) => {
                warnings
                    .push(cells.warning(Field::Language, WarningKind::UnknownLanguage { reason }));
                Ok(None)
            }
        }
    }

    pub(super) fn status(
        &self,
        cells: &Cells<'_, impl RowSource>,
    ) -> Result<BookingStatus, RowError> {
        let Some(text) = cells.optional(Field::Status)? else {
            return Ok(BookingStatus::Active);
        };
        let text = text.to_lowercase();
        Ok(if self.cancelled.contains(&text) {
            BookingStatus::Cancelled
        } else if self.ignored.contains(&text) {
            BookingStatus::Ignored
        } else {
            BookingStatus::Active
        })
    }
}

/// What the phone columns of a row gave.
pub(super) struct Phones {
    pub(super) phone: Option<Phone>,
    pub(super) problem: Option<String>,
    pub(super) others: Vec<String>,
}

/// What offices type into a contact field when there is nothing to type, squeezed (without
/// spaces, dots, slashes, dashes and underscores) and in lower case.
const NOTHING: [&str; 11] = [
    "",
    "na",
    "ka",
    "keine",
    "kein",
    "keineangabe",
    "unbekannt",
    "none",
    "null",
    "0",
    "nichtvorhanden",
];

/// The characters of the longest of [`NOTHING`].
const NOTHING_LONGEST: usize = 14;

/// Whether a contact cell holds one of [`NOTHING`]. Asked for every email and phone cell: the
/// text is squeezed once, without a copy on the heap, and is none of them as soon as it is
/// longer than the longest (squeezed for each placeholder in turn, this was a fiftieth of an
/// import's time).
fn is_placeholder(text: &str) -> bool {
    let mut squeezed = ['\0'; NOTHING_LONGEST];
    let mut len = 0;
    let chars = (text.chars())
        .filter(|c| !matches!(c, ' ' | '.' | '/' | '-' | '_' | '\u{a0}'))
        .flat_map(char::to_lowercase);
    for c in chars {
        if len == NOTHING_LONGEST {
            return false;
        }
        squeezed[len] = c;
        len += 1;
    }
    let squeezed = &squeezed[..len];
    NOTHING
        .iter()
        .any(|nothing| nothing.chars().eq(squeezed.iter().copied()))
}

/// A value on one line: line breaks and tabs inside a cell become spaces, so they can neither
/// split a value that is stored as a list nor reach a header of a message.
pub(super) fn one_line(text: &str) -> Cow<'_, str> {
    if text.contains(['\r', '\n', '\t']) {
        Cow::Owned(
            text.split(['\r', '\n', '\t'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" "),
        )
    } else {
        Cow::Borrowed(text.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_placeholder_fits_the_buffer() {
        let longest = NOTHING.iter().map(|n| n.chars().count()).max();
        assert_eq!(longest, Some(NOTHING_LONGEST));
    }

    #[test]
    fn placeholders_are_found_as_typed_and_nothing_longer_is_one() {
        for typed in [
            "",
            " ",
            "-",
            "---",
            "n/a",
            "N.A.",
            "k. A.",
            "keine Angabe",
            "KEINE-ANGABE",
            "nicht vorhanden",
            "Nicht_Vorhanden\u{a0}",
            "0",
            "NULL",
            "unbekannt",
        ] {
            assert!(is_placeholder(typed), "{typed:?}");
        }
        for typed in [
            "0171 1234567",
            "00",
            "nicht vorhanden!",
            "nichtvorhandenx",
            "keine Angabe bitte",
            "erika@example.org",
            "ka@b.de",
            "İ",
        ] {
            assert!(!is_placeholder(typed), "{typed:?}");
        }
    }
}
