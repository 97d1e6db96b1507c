//! Phone numbers as citizens and clerks type them, normalised to E.164.
//!
//! Exports from German offices carry numbers in every shape: `0171 1234567`,
//! `+49 (0)171 1234567`, `0049171…`, `0171/1234567`, and Excel's leading apostrophe
//! (`'+49171…`) that keeps it from eating the plus sign. [`Phone::parse`] cleans these up,
//! validates the number with libphonenumber's metadata (the `phonenumber` crate, its steps
//! for cleaned numbers in [`numbering`]) and records whether it can receive SMS. The raw text
//! is kept for the call list.

use super::numbering::{self, Parsed};
use phonenumber::{Type, country};
use serde::{Deserialize, Serialize};

/// A validated phone number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Phone {
    /// The text as it stood in the export, for people to read and dial.
    pub raw: String,
    /// The number in E.164 (`+491711234567`); `None` only for numbers stored before validation.
    pub e164: Option<String>,
    /// Whether SMS can reach it: mobile numbers, and numbers that may be mobile.
    pub mobile: bool,
}

impl Phone {
    /// Parses a number; national numbers are read as numbers of `default_region`.
    ///
    /// The error says why the number was refused without repeating it, since a phone
    /// number is personal data and errors end up in logs and reports.
    pub fn parse(raw: &str, default_region: country::Id) -> Result<Phone, String> {
        let cleaned = clean(raw)?;
        let refused = || "is not a phone number".to_string();
        let (code, national) = match numbering::parse(&cleaned, default_region) {
            Some(Parsed::Number { code, national }) => (code, national),
            Some(Parsed::Refused) => return Err(refused()),
            None => {
                let number =
                    phonenumber::parse(Some(default_region), &cleaned).map_err(|_| refused())?;
                (number.code().value(), number.national().to_string())
            }
        };
        // The number type is what `is_valid` checks (Unknown = invalid).
        let value = national.trim_start_matches('0');
        let kind = numbering::metadata(code, value)
            .map_or(Type::Unknown, |meta| numbering::number_type(meta, value));
        let mobile = match kind {
            Type::Unknown => return Err(invalid_reason(code, &national)),
            Type::Mobile | Type::FixedLineOrMobile => true,
            _ => false,
        };
        Ok(Phone {
            raw: raw.trim().to_string(),
            e164: Some(format!("+{code}{national}")),
            mobile,
        })
    }

    /// The number for logs: country and network prefix and the last two digits
    /// (`+49171*****67`), enough to tell numbers apart, too little to call one.
    pub fn masked(&self) -> String {
        let digits: String = match &self.e164 {
            Some(e164) => e164.clone(),
            None => self.raw.chars().filter(char::is_ascii_digit).collect(),
        };
        let chars: Vec<char> = digits.chars().collect();
        let keep_front = if self.e164.is_some() { 6 } else { 0 };
        let keep_back = 2;
        if chars.len() <= keep_front + keep_back {
            return "*".repeat(chars.len());
        }
        let hidden = chars.len() - keep_front - keep_back;
        let front: String = chars[..keep_front].iter().collect();
        let back: String = chars[chars.len() - keep_back..].iter().collect();
        format!("{front}{}{back}", "*".repeat(hidden))
    }
}

/// The country a number in E.164 belongs to (`+380671234567` → UA), from libphonenumber's
/// metadata; `None` for non-geographic numbers (`+882…`) and text that is no E.164 number.
///
/// Most calling codes belong to one country and are answered from the code alone, cheaply
/// enough for every booking of a large outage; shared ones (+1, +7, +44, …) parse the number.
pub fn region(e164: &str) -> Option<country::Id> {
    let digits = e164.strip_prefix('+')?;
    // Calling codes are prefix-free: the first length that names one is the number's.
    for len in 1..=3 {
        let code: u16 = digits.get(..len)?.parse().ok()?;
        let Some(regions) = phonenumber::metadata::DATABASE.region(&code) else {
            continue;
        };
        return match regions.as_slice() {
            // "001" (non-geographic) is no country.
            [one] => one.parse().ok(),
            _ => phonenumber::parse(None, e164).ok()?.country().id(),
        };
    }
    None
}

/// [`region`] as its ISO 3166 alpha-2 code (`"UA"`).
pub fn region_code(e164: &str) -> Option<String> {
    region(e164).map(|id| id.as_ref().to_owned())
}

/// Whether `code` is an ISO 3166 alpha-2 code libphonenumber knows (`"UA"`; any case).
pub fn is_region_code(code: &str) -> bool {
    code.len() == 2 && code.to_ascii_uppercase().parse::<country::Id>().is_ok()
}

/// The numbers in one cell as people fill it in: one number (`0171 1234567`), one with a note
/// (`0171 / 123 45 67 (abends)`), or two (`0171 1234567, 02921 12345`, `0171 1234567 / 02921
/// 12345`). Notes in words are dropped; the raw text of each number found is kept. The error
/// (no number in the cell at all) gives the first number's reason, without the value.
pub fn parse_cell(
    text: &str,
    default_region: phonenumber::country::Id,
) -> Result<Vec<Phone>, String> {
    if scientific(text.trim().trim_start_matches(['\'', '='])) {
        return Err(SCIENTIFIC.to_string());
    }
    let whole = Phone::parse(text, default_region);
    let first_error = match whole {
        Ok(phone) => return Ok(vec![phone]),
        Err(why) => why,
    };
    // Runs of characters that can belong to a number; words and list separators end a run.
    let runs: Vec<&str> = text
        .split(|c: char| c.is_alphabetic() || matches!(c, ',' | ';' | '|' | ':' | '&'))
        .map(|run| run.trim_matches(|c: char| c.is_whitespace() || "()/-.".contains(c)))
        .filter(|run| run.chars().filter(char::is_ascii_digit).count() >= 5)
        .collect();
    let mut found = Vec::new();
    for run in runs {
        match Phone::parse(run, default_region) {
            Ok(phone) => found.push(phone),
            // "0171 1234567 / 02921 12345": two numbers joined by a slash.
            Err(_) if run.contains('/') => found.extend(
                run.split('/')
                    .filter(|part| part.chars().filter(char::is_ascii_digit).count() >= 5)
                    .filter_map(|part| Phone::parse(part, default_region).ok()),
            ),
            Err(_) => {}
        }
    }
    if found.is_empty() {
        Err(first_error)
    } else {
        Ok(found)
    }
}

const SCIENTIFIC: &str = "is written in scientific notation (like 1,71555E+10), which loses \
     digits; the column must be exported as text";

/// Whether a cell holds a number as spreadsheets write large ones (`4.91715551234E+11`,
/// `1,71555E+10`): its last digits may be gone, and reading the mantissa as a number would
/// text a stranger.
fn scientific(text: &str) -> bool {
    let Some((mantissa, exponent)) = text.split_once(['e', 'E']) else {
        return false;
    };
    let exponent = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
    mantissa.chars().any(|c| c.is_ascii_digit())
        && mantissa
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == ',')
        && !exponent.is_empty()
        && exponent.chars().all(|c| c.is_ascii_digit())
}

/// Strips what office software and people add around a number.
fn clean(raw: &str) -> Result<String, String> {
    let text = raw.trim().trim_start_matches(['\'', '=']).trim();
    let text = text.trim_matches('"');
    if text.is_empty() {
        return Err("is empty".to_string());
    }
    if scientific(text) {
        return Err(SCIENTIFIC.to_string());
    }
    // A number column written as floats ("1715551234.0", where a gap made it one): the ".0"
    // is no digit of the number.
    let text = match text.split_once(['.', ',']) {
        Some((int, zeros))
            if int.bytes().all(|b| b.is_ascii_digit() || b == b'+')
                && !zeros.is_empty()
                && zeros.bytes().all(|b| b == b'0') =>
        {
            int
        }
        _ => text,
    };
    // "+49 (0)171": the trunk zero in brackets must go, or it becomes part of the number.
    let text = match text.contains("(0)") {
        true => std::borrow::Cow::Owned(text.replace("(0)", "")),
        false => std::borrow::Cow::Borrowed(text),
    };
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.chars().enumerate() {
        match c {
            '0'..='9' => out.push(c),
            '+' if i == 0 || out.is_empty() => out.push(c),
            ' ' | '\u{a0}' | '/' | '-' | '.' | '(' | ')' | '\t' => {}
            _ => return Err("contains characters that are not part of a phone number".into()),
        }
    }
    if let Some(rest) = out.strip_prefix("00") {
        out = format!("+{rest}");
    }
    Ok(out)
}

fn invalid_reason(code: u16, national: &str) -> String {
    format!(
        "is not a valid number for country code +{code} ({} digits after it)",
        national.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(text: &str) -> Vec<(String, bool)> {
        parse_cell(text, country::Id::DE)
            .unwrap_or_else(|e| panic!("{text:?} refused: {e}"))
            .into_iter()
            .map(|p| (p.e164.expect("set by parse"), p.mobile))
            .collect()
    }

    /// Found by attacking the release build with numbers as spreadsheets and data tools store
    /// them: a float column wrote "1715551234.0" and the ".0" became a digit (an SMS to a
    /// stranger); scientific notation lost digits and its mantissa was read as a number.
    #[test]
    fn numbers_written_as_floats_are_read_right_or_refused() {
        let de = phonenumber::country::Id::DE;
        for text in [
            "1715551234.0",
            "01715551234.0",
            "491715551234,0",
            "+491715551234.00",
        ] {
            let phones = parse_cell(text, de).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(phones[0].e164.as_deref(), Some("+491715551234"), "{text}");
        }
        for text in [
            "4.91715551234E+11",
            "1,71555E+10",
            "1.71555123E+10",
            "'4,9E+11",
        ] {
            let err = parse_cell(text, de).expect_err(text);
            assert!(err.contains("scientific notation"), "{text}: {err}");
        }
        // Dots as separators stay what they are.
        let phones = parse_cell("0171.555.1234", de).unwrap();
        assert_eq!(phones[0].e164.as_deref(), Some("+491715551234"));
    }

    #[test]
    fn a_cell_with_a_note_or_two_numbers_yields_every_number_in_it() {
        assert_eq!(
            cell("0171 / 123 45 67 (abends)"),
            vec![("+491711234567".into(), true)]
        );
        assert_eq!(
            cell("0171 1234567, 02921 123456"),
            vec![
                ("+491711234567".into(), true),
                ("+492921123456".into(), false)
            ]
        );
        assert_eq!(
            cell("02921 123456 / 0171 1234567"),
            vec![
                ("+492921123456".into(), false),
                ("+491711234567".into(), true)
            ]
        );
        assert_eq!(
            cell("mobil: 0171 1234567"),
            vec![("+491711234567".into(), true)]
        );
        assert!(parse_cell("keine Angabe", country::Id::DE).is_err());
        assert!(parse_cell("0171", country::Id::DE).is_err());
    }

    fn de(raw: &str) -> Result<Phone, String> {
        Phone::parse(raw, country::Id::DE)
    }

    fn e164(raw: &str) -> String {
        de(raw)
            .unwrap_or_else(|e| panic!("{raw:?} refused: {e}"))
            .e164
            .expect("e164 is set by parse")
    }

    #[test]
    fn the_ways_germans_write_a_mobile_number_all_normalise_to_one() {
        for raw in [
            "0171 1234567",
            "+49 (0)171 1234567",
            "+49(0)1711234567",
            "0049 171 1234567",
            "00491711234567",
            "'+491711234567",
            "0171/1234567",
            "0171-123 45 67",
            "+49 171 123-4567",
            " 0171.1234567 ",
        ] {
            assert_eq!(e164(raw), "+491711234567", "for {raw:?}");
        }
    }

    #[test]
    fn a_mobile_number_can_receive_sms() {
        assert!(de("0171 1234567").expect("valid").mobile);
        assert!(de("+49 1512 3456789").expect("valid").mobile);
    }

    #[test]
    fn a_landline_number_is_kept_but_gets_no_sms() {
        let phone = de("+49 2921 301234").expect("valid landline");
        assert_eq!(phone.e164.as_deref(), Some("+492921301234"));
        assert!(!phone.mobile);
        assert_eq!(de("02921 / 30-1234").expect("valid").e164, phone.e164);
    }

    #[test]
    fn a_foreign_number_keeps_its_own_country_code() {
        let phone = de("+90 532 123 45 67").expect("valid Turkish mobile");
        assert_eq!(phone.e164.as_deref(), Some("+905321234567"));
        assert!(phone.mobile);
        let vienna = de("0043 664 1234567").expect("valid Austrian mobile");
        assert_eq!(
            (vienna.e164.as_deref(), vienna.mobile),
            (Some("+436641234567"), true)
        );
    }

    #[test]
    fn foreign_mobiles_are_mobiles_and_get_an_sms() {
        // A foreigners' office: Ukrainian, Syrian, Turkish, Polish, Afghan, Romanian mobiles,
        // typed with +, with 00, or as Excel leaves them.
        for (raw, e164) in [
            ("+380 67 123 4567", "+380671234567"),
            ("00380 50 123 45 67", "+380501234567"),
            ("+963 944 567 890", "+963944567890"),
            ("00963 933 123 456", "+963933123456"),
            ("+90 532 123 45 67", "+905321234567"),
            ("'+48 512 345 678", "+48512345678"),
            ("+93 70 123 4567", "+93701234567"),
            ("+40 721 234 567", "+40721234567"),
        ] {
            let phone = de(raw).unwrap_or_else(|e| panic!("{raw:?} refused: {e}"));
            assert_eq!(phone.e164.as_deref(), Some(e164), "for {raw:?}");
            assert!(phone.mobile, "{raw:?} is a mobile");
        }
        // A foreign landline is kept for the call list, without an SMS.
        let kyiv = de("+380 44 123 4567").expect("valid Kyiv landline");
        assert!(!kyiv.mobile);
    }

    #[test]
    fn the_country_of_a_number_comes_from_its_calling_code() {
        for (e164, want) in [
            ("+491711234567", "DE"),
            ("+436641234567", "AT"),
            ("+380671234567", "UA"),
            ("+963944567890", "SY"),
            ("+905321234567", "TR"),
            ("+48512345678", "PL"),
            // Shared calling codes: the number decides.
            ("+12015550123", "US"),
            ("+14165550123", "CA"),
            ("+79161234567", "RU"),
            ("+77011234567", "KZ"),
            ("+447400123456", "GB"),
        ] {
            assert_eq!(region_code(e164).as_deref(), Some(want), "for {e164}");
        }
        // Non-geographic numbers and text belong to no country.
        assert_eq!(region_code("+882345678901"), None);
        assert_eq!(region_code("01711234567"), None);
        assert_eq!(region_code("+"), None);
        assert_eq!(region_code(""), None);
    }

    #[test]
    fn region_codes_are_iso_alpha_2_in_any_case() {
        assert!(is_region_code("DE") && is_region_code("ua") && is_region_code("Sy"));
        assert!(!is_region_code("XX") && !is_region_code("DEU") && !is_region_code(""));
        assert!(!is_region_code("001"));
    }

    #[test]
    fn the_raw_text_is_kept_as_typed() {
        assert_eq!(de(" 0171/1234567 ").expect("valid").raw, "0171/1234567");
    }

    #[test]
    fn nonsense_is_refused_without_repeating_the_number() {
        for raw in [
            "0171 12345678901234",
            "ruf mich an",
            "12",
            "0171 1234567 oder 02921 301234",
        ] {
            let err = de(raw).expect_err(raw);
            assert!(!err.contains("1234") && !err.contains(raw), "{err}");
        }
        assert!(de("").is_err());
        assert!(de(" ' ").is_err());
    }

    #[test]
    fn a_masked_number_shows_only_prefix_and_last_two_digits() {
        let phone = de("0171 1234567").expect("valid");
        assert_eq!(phone.masked(), "+49171*****67");
        let unparsed = Phone {
            raw: "0171 1234567".into(),
            e164: None,
            mobile: false,
        };
        assert_eq!(unparsed.masked(), "*********67");
    }
}
