//! Text as people paste it: what no reader should see is dropped before it is kept or sent.

use std::borrow::Cow;

/// Drops control characters (but tab and line breaks), NUL, the byte-order mark, zero-width
/// spaces and the bidirectional overrides that would make a text read differently than it is
/// stored (PostgreSQL refuses NUL outright; an SMS would carry the rest as garbage).
pub fn clean(text: Cow<'_, str>) -> Cow<'_, str> {
    let junk = |c: char| {
        (c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
            || matches!(c, '\u{feff}' | '\u{200b}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if text.contains(junk) {
        Cow::Owned(text.replace(junk, ""))
    } else {
        text
    }
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
}
