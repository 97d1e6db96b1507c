//! The language a citizen should be written to in, as an ISO 639-1 code.
//!
//! Exports name languages however their users typed them: `de`, `DE`, `de-DE`, `deu`,
//! `Deutsch`, `German`, `Türkisch`, `Türkçe`. [`Language::parse`] reads codes (ISO 639-1,
//! 639-2/B and /T, with a region tag), and the English, German and native names of the
//! languages most often met in German offices, from a small built-in table.

use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A language as a lowercase two-letter ISO 639-1 code (`de`, `tr`, `uk`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Language(String);

/// ISO 639-1 code, then other codes and names (written as usual; matching folds case and
/// diacritics, so `tuerkisch` and `TÜRKISCH` find `türkisch`). Country codes that people
/// mistake for language codes (`ua`, `cz`, `gr`) are included.
const LANGUAGES: &[(&str, &[&str])] = &[
    ("de", &["ger", "deu", "german", "deutsch"]),
    ("en", &["eng", "english", "englisch"]),
    ("tr", &["tur", "turkish", "türkisch", "türkçe"]),
    ("ar", &["ara", "arabic", "arabisch", "العربية", "عربي"]),
    (
        "uk",
        &["ukr", "ua", "ukrainian", "ukrainisch", "українська"],
    ),
    ("ru", &["rus", "russian", "russisch", "русский"]),
    ("pl", &["pol", "polish", "polnisch", "polski"]),
    (
        "ro",
        &["rum", "ron", "romanian", "rumänisch", "română", "romana"],
    ),
    (
        "fa",
        &[
            "per",
            "fas",
            "persian",
            "persisch",
            "farsi",
            "dari",
            "فارسی",
            "دری",
        ],
    ),
    ("fr", &["fre", "fra", "french", "französisch", "français"]),
    ("it", &["ita", "italian", "italienisch", "italiano"]),
    ("es", &["spa", "spanish", "spanisch", "español"]),
    ("pt", &["por", "portuguese", "portugiesisch", "português"]),
    (
        "nl",
        &["dut", "nld", "dutch", "niederländisch", "nederlands"],
    ),
    (
        "el",
        &["gre", "ell", "gr", "greek", "griechisch", "ελληνικά"],
    ),
    ("bg", &["bul", "bulgarian", "bulgarisch", "български"]),
    ("hr", &["hrv", "croatian", "kroatisch", "hrvatski"]),
    ("sr", &["srp", "serbian", "serbisch", "српски", "srpski"]),
    ("bs", &["bos", "bosnian", "bosnisch", "bosanski"]),
    ("sq", &["alb", "sqi", "albanian", "albanisch", "shqip"]),
    (
        "mk",
        &["mac", "mkd", "macedonian", "mazedonisch", "македонски"],
    ),
    ("hu", &["hun", "hungarian", "ungarisch", "magyar"]),
    (
        "cs",
        &["cze", "ces", "cz", "czech", "tschechisch", "čeština"],
    ),
    ("sk", &["slo", "slk", "slovak", "slowakisch", "slovenčina"]),
    ("ku", &["kur", "kurdish", "kurdisch", "kurdî", "kurmancî"]),
    ("ps", &["pus", "pashto", "paschtu", "paschto", "پښتو"]),
    ("ur", &["urd", "urdu", "اردو"]),
    ("ti", &["tir", "tigrinya", "ትግርኛ"]),
    ("so", &["som", "somali", "soomaali"]),
    ("vi", &["vie", "vietnamese", "vietnamesisch", "tiếng việt"]),
    ("zh", &["chi", "zho", "chinese", "chinesisch", "中文"]),
];

impl Language {
    /// Reads a language code or name; the error says why it was not recognised.
    pub fn parse(raw: &str) -> Result<Language, String> {
        let text = raw.trim();
        if text.is_empty() {
            return Err("is empty".to_string());
        }
        let folded = fold(text);
        // "Deutsch (Deutschland)" or "Persisch (Farsi)": the part before the bracket decides.
        let folded = folded.split('(').next().unwrap_or_default().trim();
        lookup(folded)
            .or_else(|| {
                let tag = folded.split(['-', '_']).next().unwrap_or_default();
                lookup(tag)
            })
            .map(|code| Language(code.to_string()))
            .ok_or_else(|| format!("{text:?} is not a language absage knows"))
    }

    /// The ISO 639-1 code.
    pub fn code(&self) -> &str {
        &self.0
    }
}

/// Every folded code and name, built once: imports look up a language per row.
static INDEX: LazyLock<HashMap<String, &'static str>> = LazyLock::new(|| {
    LANGUAGES
        .iter()
        .flat_map(|(code, aliases)| {
            std::iter::once(*code)
                .chain(aliases.iter().copied())
                .map(|alias| (fold(alias), *code))
        })
        .collect()
});

fn lookup(folded: &str) -> Option<&'static str> {
    INDEX.get(folded).copied()
}

/// Lowercases and spells out the letters that German and Turkish keyboards may or may not
/// have, so `Türkisch`, `Tuerkisch` and `TÜRKISCH` meet.
fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        match c {
            'ä' => out.push_str("ae"),
            'ö' => out.push_str("oe"),
            'ü' => out.push_str("ue"),
            'ß' => out.push_str("ss"),
            'é' | 'è' | 'ê' => out.push('e'),
            'ç' => out.push('c'),
            'ñ' => out.push('n'),
            'ă' | 'â' => out.push('a'),
            'î' | 'ı' => out.push('i'),
            'ș' | 'ş' => out.push('s'),
            _ => out.push(c),
        }
    }
    out
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Language {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Language {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Language::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(raw: &str) -> String {
        match Language::parse(raw) {
            Ok(language) => language.code().to_string(),
            Err(why) => panic!("{raw:?} refused: {why}"),
        }
    }

    #[test]
    fn codes_in_any_case_and_with_a_region_are_read() {
        for raw in ["de", "DE", " de ", "de-DE", "de_AT", "ger", "deu", "DEU"] {
            assert_eq!(code(raw), "de", "for {raw:?}");
        }
        for (raw, want) in [("tr", "tr"), ("ar", "ar"), ("uk", "uk"), ("ru", "ru")] {
            assert_eq!(code(raw), want);
        }
        for (raw, want) in [("pl", "pl"), ("ro", "ro"), ("fa", "fa"), ("zh-Hans", "zh")] {
            assert_eq!(code(raw), want);
        }
    }

    #[test]
    fn english_german_and_native_names_are_read() {
        let cases = [
            ("German", "de"),
            ("Deutsch", "de"),
            ("englisch", "en"),
            ("Türkisch", "tr"),
            ("Tuerkisch", "tr"),
            ("Türkçe", "tr"),
            ("Arabisch", "ar"),
            ("العربية", "ar"),
            ("Ukrainisch", "uk"),
            ("українська", "uk"),
            ("Russisch", "ru"),
            ("Polski", "pl"),
            ("Rumänisch", "ro"),
            ("Farsi", "fa"),
            ("Persisch (Farsi)", "fa"),
            ("Français", "fr"),
            ("Italienisch", "it"),
            ("Spanish", "es"),
            ("Deutsch (Deutschland)", "de"),
        ];
        for (raw, want) in cases {
            assert_eq!(code(raw), want, "for {raw:?}");
        }
    }

    #[test]
    fn country_codes_mistaken_for_languages_are_read_as_meant() {
        assert_eq!(code("UA"), "uk");
        assert_eq!(code("cz"), "cs");
    }

    #[test]
    fn an_unknown_language_is_refused_with_a_reason() {
        let err = Language::parse("Klingonisch").expect_err("unknown");
        assert!(
            err.contains("Klingonisch") && err.contains("not a language"),
            "{err}"
        );
        assert!(Language::parse("  ").is_err());
        assert!(Language::parse("xx-XX").is_err());
    }

    #[test]
    fn a_language_travels_through_serde_as_its_code() {
        let value = toml::Value::try_from(Language::parse("Deutsch").expect("known"));
        assert_eq!(value.expect("serialises"), toml::Value::String("de".into()));
        let back: Language = toml::Value::String("tr".into()).try_into().expect("known");
        assert_eq!(back.code(), "tr");
    }
}
