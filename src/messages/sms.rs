//! SMS encoding and segment counting, so that operators see what a batch will cost.
//!
//! A text that only uses the GSM 03.38 alphabet travels as 7-bit septets: 160 in one SMS, 153 per
//! part of a longer one (the rest of each part carries the concatenation header). A single
//! character outside that alphabet ("ş", "ł", an emoji) switches the whole text to UCS-2:
//! 70 UTF-16 units in one SMS, 67 per part. Phones never split an escape sequence (the extension
//! characters such as "€") or a surrogate pair (an emoji) across parts, so segments are counted
//! by packing whole characters.
//!
//! Typographic characters that come with the data ("Hoher Weg 1–3", „Bürgerbüro“) are
//! [`transliterated`] to their plain GSM look-alikes first, so one en dash does not double what
//! a German SMS costs.

/// How the text is encoded on the air.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SmsEncoding {
    /// GSM 03.38 default alphabet with its extension table.
    Gsm7,
    /// UTF-16, for any text with a character outside the GSM alphabet.
    Ucs2,
}

impl SmsEncoding {
    /// Stable lower-case name for reports and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            SmsEncoding::Gsm7 => "gsm7",
            SmsEncoding::Ucs2 => "ucs2",
        }
    }

    /// Units that fit into a message of one part, and into each part of a longer one.
    fn capacity(self) -> (usize, usize) {
        match self {
            SmsEncoding::Gsm7 => (160, 153),
            SmsEncoding::Ucs2 => (70, 67),
        }
    }
}

/// What a text costs as an SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmsInfo {
    pub encoding: SmsEncoding,
    /// Septets for GSM-7 (extension characters count 2), UTF-16 code units for UCS-2.
    pub units: usize,
    /// Number of SMS the text is sent as; an empty text still costs one.
    pub segments: usize,
}

/// Encoding, length and number of parts of `text`.
pub fn analyse(text: &str) -> SmsInfo {
    match gsm7_septets(text) {
        Some(units) => finish(SmsEncoding::Gsm7, units, text.chars().filter_map(gsm7_cost)),
        None => finish(
            SmsEncoding::Ucs2,
            text.encode_utf16().count(),
            text.chars().map(char::len_utf16),
        ),
    }
}

/// `text` with typographic characters replaced by the plain ones of the GSM alphabet: dashes
/// and minus to `-`, double quotes and guillemets to `"`, single quotes and accents to `'`, the
/// ellipsis to `...`, Unicode spaces to a space; soft hyphens and zero-width spaces (invisible)
/// are dropped. Applied to every SMS, whatever its language: a UCS-2 text reads the same, and a
/// GSM one stays GSM. Marks that steer the reading direction (`ltr`) and the zero-width
/// non-joiner of Persian words are kept.
pub fn transliterated(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2015}'
            | '\u{2212}' => out.push('-'),
            '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{00AB}' | '\u{00BB}' => {
                out.push('"')
            }
            '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2039}' | '\u{203A}' | '`'
            | '\u{00B4}' => out.push('\''),
            '\u{2026}' => out.push_str("..."),
            '\u{00A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' => {
                out.push(' ')
            }
            '\u{00AD}' | '\u{200B}' | '\u{FEFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// Septets the text needs, or `None` if some character is outside the GSM alphabet.
fn gsm7_septets(text: &str) -> Option<usize> {
    text.chars().map(gsm7_cost).sum()
}

fn finish(encoding: SmsEncoding, units: usize, costs: impl Iterator<Item = usize>) -> SmsInfo {
    let (single, part) = encoding.capacity();
    let segments = if units <= single {
        1
    } else {
        pack(costs, part)
    };
    SmsInfo {
        encoding,
        units,
        segments,
    }
}

/// Parts needed when no character (escape pair, surrogate pair) may straddle two parts.
fn pack(costs: impl Iterator<Item = usize>, capacity: usize) -> usize {
    let mut parts = 1;
    let mut used = 0;
    for cost in costs {
        if used + cost > capacity {
            parts += 1;
            used = 0;
        }
        used += cost;
    }
    parts
}

/// Septets for one character: 1 in the basic table, 2 in the extension table (escape + code).
fn gsm7_cost(c: char) -> Option<usize> {
    match c {
        'A'..='Z' | 'a'..='z' | '0'..='9' => Some(1),
        ' ' | '!' | '"' | '#' | '%' | '&' | '\'' | '(' | ')' | '*' | '+' | ',' | '-' | '.'
        | '/' | ':' | ';' | '<' | '=' | '>' | '?' | '@' | '_' | '$' | '\n' | '\r' => Some(1),
        '£' | '¥' | 'è' | 'é' | 'ù' | 'ì' | 'ò' | 'Ç' | 'Ø' | 'ø' | 'Å' | 'å' | 'Æ' | 'æ' | 'ß'
        | 'É' | '¤' | '¡' | 'Ä' | 'Ö' | 'Ñ' | 'Ü' | '§' | '¿' | 'ä' | 'ö' | 'ñ' | 'ü' | 'à' => {
            Some(1)
        }
        'Δ' | 'Φ' | 'Γ' | 'Λ' | 'Ω' | 'Π' | 'Ψ' | 'Σ' | 'Θ' | 'Ξ' => Some(1),
        '^' | '{' | '}' | '\\' | '[' | '~' | ']' | '|' | '€' | '\u{0C}' => Some(2),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(text: &str) -> (SmsEncoding, usize, usize) {
        let i = analyse(text);
        (i.encoding, i.units, i.segments)
    }

    #[test]
    fn plain_text_fills_one_sms_up_to_160_characters() {
        assert_eq!(info(&"a".repeat(160)), (SmsEncoding::Gsm7, 160, 1));
        assert_eq!(info(&"a".repeat(161)), (SmsEncoding::Gsm7, 161, 2));
    }

    #[test]
    fn longer_plain_text_is_split_into_parts_of_153() {
        assert_eq!(info(&"a".repeat(306)).2, 2);
        assert_eq!(info(&"a".repeat(307)).2, 3);
        assert_eq!(info(&"a".repeat(459)).2, 3);
    }

    #[test]
    fn extension_characters_count_two_septets() {
        assert_eq!(info("€"), (SmsEncoding::Gsm7, 2, 1));
        assert_eq!(info("[x]{y}|~^\\"), (SmsEncoding::Gsm7, 18, 1));
        assert_eq!(info(&"€".repeat(80)), (SmsEncoding::Gsm7, 160, 1));
        assert_eq!(info(&"€".repeat(81)).2, 2);
    }

    #[test]
    fn an_escape_sequence_is_never_split_across_parts() {
        // 152 septets, then "€" would take septets 153 and 154: it moves to part two.
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        assert_eq!(info(&text), (SmsEncoding::Gsm7, 306, 3));
        let fits = format!("{}€{}", "a".repeat(151), "a".repeat(153));
        assert_eq!(info(&fits), (SmsEncoding::Gsm7, 306, 2));
    }

    #[test]
    fn german_names_and_words_stay_in_gsm7() {
        assert_eq!(analyse("Müller").encoding, SmsEncoding::Gsm7);
        assert_eq!(analyse("Straße").encoding, SmsEncoding::Gsm7);
        assert_eq!(analyse("ÄÖÜäöü§@£$¥èé").encoding, SmsEncoding::Gsm7);
    }

    #[test]
    fn one_foreign_character_switches_the_whole_text_to_ucs2() {
        assert_eq!(info("Yılmaz ş"), (SmsEncoding::Ucs2, 8, 1));
        assert_eq!(analyse("Łódź").encoding, SmsEncoding::Ucs2);
        assert_eq!(analyse("ł").encoding, SmsEncoding::Ucs2);
        // German typographic quotes and dashes are not GSM either.
        assert_eq!(analyse("„Termin“ – abgesagt").encoding, SmsEncoding::Ucs2);
    }

    #[test]
    fn ucs2_fits_70_units_in_one_sms_and_67_per_part() {
        assert_eq!(info(&"ş".repeat(70)), (SmsEncoding::Ucs2, 70, 1));
        assert_eq!(info(&"ş".repeat(71)), (SmsEncoding::Ucs2, 71, 2));
        assert_eq!(info(&"ş".repeat(134)).2, 2);
        assert_eq!(info(&"ş".repeat(135)).2, 3);
    }

    #[test]
    fn an_emoji_takes_two_units_and_is_never_split() {
        assert_eq!(info("🙂"), (SmsEncoding::Ucs2, 2, 1));
        assert_eq!(info(&"🙂".repeat(35)), (SmsEncoding::Ucs2, 70, 1));
        // 66 units, then the emoji would straddle units 67 and 68: it moves to part two.
        let text = format!("{}🙂{}", "a".repeat(66), "a".repeat(66));
        assert_eq!(info(&text), (SmsEncoding::Ucs2, 134, 3));
        let fits = format!("{}🙂{}", "a".repeat(65), "a".repeat(67));
        assert_eq!(info(&fits), (SmsEncoding::Ucs2, 134, 2));
    }

    #[test]
    fn an_empty_text_still_costs_one_sms() {
        assert_eq!(info(""), (SmsEncoding::Gsm7, 0, 1));
    }

    #[test]
    fn typographic_characters_become_their_plain_gsm_look_alikes() {
        assert_eq!(
            transliterated("„Termin“ – abgesagt … ‚bitte‘ «nicht» kommen — ’s `x´"),
            "\"Termin\" - abgesagt ... 'bitte' \"nicht\" kommen - 's 'x'"
        );
        assert_eq!(transliterated("1‒2 ‐3 −4"), "1-2 -3 -4");
        assert_eq!(
            transliterated("02921\u{A0}30-0,\u{202F}Hoher\u{2009}Weg"),
            "02921 30-0, Hoher Weg"
        );
        assert_eq!(transliterated("Bürger\u{AD}büro\u{200B}"), "Bürgerbüro");
    }

    #[test]
    fn an_en_dash_in_an_address_keeps_a_german_sms_in_gsm7() {
        let sms = "Kreis Soest: Ihr Termin am Montag, 2. November 2026 um 09:30 Uhr \
                   (Zulassung, Bürgerbüro Hoher Weg 1–3) fällt aus. Bei Fragen: 02921 30-0.";
        assert_eq!(analyse(sms).encoding, SmsEncoding::Ucs2);
        let plain = transliterated(sms);
        assert!(plain.contains("Hoher Weg 1-3"), "{plain}");
        assert_eq!(
            analyse(&plain),
            SmsInfo {
                encoding: SmsEncoding::Gsm7,
                units: 137,
                segments: 1
            }
        );
    }

    #[test]
    fn a_ukrainian_sms_stays_ucs2_and_keeps_its_direction_marks_and_joiners() {
        let uk = transliterated("Ваш запис скасовано: «Хрещатик» 1–3. Тел.: 044 123");
        assert_eq!(uk, "Ваш запис скасовано: \"Хрещатик\" 1-3. Тел.: 044 123");
        assert_eq!(analyse(&uk).encoding, SmsEncoding::Ucs2);
        let fa = "می\u{200C}توانید \u{200E}02921 30-0\u{200E}";
        assert_eq!(transliterated(fa), fa);
    }

    #[test]
    fn encodings_have_stable_names() {
        assert_eq!(SmsEncoding::Gsm7.as_str(), "gsm7");
        assert_eq!(SmsEncoding::Ucs2.as_str(), "ucs2");
    }
}
