//! Text as people paste it: what no reader should see is dropped before it is kept or sent.

use std::borrow::Cow;

/// Drops control characters (but tab and line breaks), NUL, the byte-order mark, zero-width
/// spaces and the bidirectional overrides that would make a text read differently than it is
/// stored (PostgreSQL refuses NUL outright; an SMS would carry the rest as garbage).
pub fn clean(text: Cow<'_, str>) -> Cow<'_, str> {
    // Most text has none of them: the bytes they begin with are looked for first (C0 controls
    // and DEL; 0xC2, 0xE2 and 0xEF, the first bytes of the C1 controls, of the spaces and
    // overrides, and of the byte-order mark). Asked for every cell of an import: searched
    // for by character, this was a fiftieth of an import's time.
    let suspect = |b: &u8| match b {
        b'\t' | b'\n' | b'\r' => false,
        0x00..=0x1f | 0x7f | 0xc2 | 0xe2 | 0xef => true,
        _ => false,
    };
    if !text.as_bytes().iter().any(suspect) {
        return text;
    }
    if text.contains(junk) {
        Cow::Owned(text.replace(junk, ""))
    } else {
        text
    }
}

/// What [`clean`] drops.
fn junk(c: char) -> bool {
    (c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
        || matches!(c, '\u{feff}' | '\u{200b}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_no_reader_should_see_is_dropped_and_the_rest_kept() {
        let pasted = "IT-\u{0}Ausfall\u{feff} nach\u{200b} Angriff \u{202e}tlah\u{202c}\tÄÖÜ\nß";
        assert_eq!(clean(pasted.into()), "IT-Ausfall nach Angriff tlah\tÄÖÜ\nß");
        assert!(matches!(clean("schon sauber".into()), Cow::Borrowed(_)));
    }

    #[test]
    fn the_quick_look_at_the_bytes_misses_no_character_that_is_dropped() {
        // Each character between two kept ones, to the end of the spaces and overrides, and
        // the block of the byte-order mark.
        let every = (0..=0x3000)
            .chain(0xfe00..=0xffff)
            .filter_map(char::from_u32);
        for c in every {
            let text = format!("a{c}ß");
            let kept = if junk(c) {
                "aß".to_owned()
            } else {
                text.clone()
            };
            assert_eq!(clean(text.as_str().into()), kept, "U+{:04X}", c as u32);
        }
    }
}
