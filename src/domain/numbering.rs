//! libphonenumber's parsing and number types as the `phonenumber` crate does them, for the
//! numbers [`phone`](super::phone) has cleaned (digits after an optional `+`), with each of the
//! metadata's patterns compiled once per thread.
//!
//! The crate reads a number with text parsers (nom) that allocate per character class, and
//! looks every pattern up in one shared cache behind a lock, keyed by the pattern's text
//! (SipHash over hundreds of bytes), several times per number: most of an import's time per
//! row. The steps here are the crate's, in its order and with its quirks; the tests hold them to
//! the crate for every example number of every region in the shapes people type, and for
//! random digit strings. Two of its refusals (a number the national prefix would leave too
//! short, a rewritten number that is no longer one of the region's) were met by no example and
//! by no digit string of up to five digits in any region; they are kept as the crate has them.

use foldhash::fast::FixedState;
use phonenumber::metadata::{DATABASE, Database, Descriptor, Metadata};
use phonenumber::{Type, country};
use regex::Regex;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// A number as `phonenumber::parse` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Parsed {
    /// Its country calling code and national significant number (with the leading zeros the
    /// crate keeps, as in Italy).
    Number { code: u16, national: String },
    /// The crate refuses it.
    Refused,
}

/// What `phonenumber::parse(Some(region), cleaned)` makes of `cleaned`, a `+` and digits or
/// digits alone; `None` for any other text (the caller asks the crate).
pub(super) fn parse(cleaned: &str, region: country::Id) -> Option<Parsed> {
    let database: &'static Database = &DATABASE;
    let meta = database.by_id(region.as_ref())?;
    let plus = cleaned.starts_with('+');
    let digits = &cleaned[usize::from(plus)..];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(match split(database, meta, plus, digits) {
        Some((code, national)) => Parsed::Number { code, national },
        None => Parsed::Refused,
    })
}

/// The crate's `parse_with` after its text parsers (which leave a `+` and digits, or digits,
/// as they are): the country code, the national prefix, the lengths.
fn split(
    database: &'static Database,
    meta: &'static Metadata,
    plus: bool,
    digits: &str,
) -> Option<(u16, String)> {
    // `is_viable`: two digits alone, or three after a plus.
    if digits.len() < if plus { 3 } else { 2 } {
        return None;
    }
    // `helper::country_code`: an international dialling prefix (after a `+`, only right at its
    // start) is dropped unless a 0 follows it.
    let mut national = digits;
    let mut international = plus;
    if let Some(idd) = meta.international_prefix()
        && let Some(m) = find(idd.as_str(), national)
        && m.start() == 0
        && !national[m.end()..].starts_with('0')
    {
        international = true;
        national = &national[m.end()..];
    }
    let code = if international {
        if national.len() <= 2 || national.starts_with('0') {
            return None;
        }
        let len = (1..=3).find(|&len| {
            let code: u16 = national[..len].parse().expect("digits");
            database.by_code(&code).is_some()
        })?;
        let code = national[..len].parse().expect("digits");
        national = &national[len..];
        code
    } else {
        // A national number that starts with the country's own code and is no number of the
        // country without it: the code is taken off.
        let code = meta.country_code();
        let own = code.to_string();
        if national.starts_with(&own)
            && (!matches(meta.descriptors().general(), national)
                || !possible(length(meta, national)))
        {
            national = &national[own.len()..];
        }
        code
    };
    // `parse_with`: the national prefix, by the default region's metadata (also for numbers of
    // other countries, as the crate does), unless that leaves the number too short.
    let mut potential = national_number(meta, national);
    if let Some(prefix) = meta.national_prefix()
        && potential.starts_with(prefix)
    {
        potential = potential[prefix.len()..].to_owned();
    }
    let national = if length(meta, &potential) != Length::TooShort {
        potential
    } else {
        national.to_owned()
    };
    if national.len() < 2 || national.len() > 17 {
        return None;
    }
    // `NationalNumber::from_str`: leading zeros, then a number below 2^56.
    let value: u64 = national.trim_start_matches('0').parse().ok()?;
    (value < 1 << 56).then_some((code, national))
}

/// `helper::national_number`: the national prefix for parsing taken off, or transformed by
/// the region's rule, when the number stays one of the region's (or was none before).
fn national_number(meta: &'static Metadata, national: &str) -> String {
    let Some(parsing) = meta.national_prefix_for_parsing() else {
        return match meta.national_prefix() {
            Some(prefix) if national.starts_with(prefix) => national[prefix.len()..].to_owned(),
            _ => national.to_owned(),
        };
    };
    with_regex(parsing.as_str(), |parsing| {
        let Some(m) = parsing.find(national) else {
            return national.to_owned();
        };
        if m.start() != 0 {
            return national.to_owned();
        }
        let general = meta.descriptors().general();
        let viable = matches(general, national);
        let last = parsing
            .captures(national)
            .and_then(|c| c.get(c.len() - 1))
            .is_some();
        match meta.national_prefix_transform_rule() {
            Some(transform) if last => {
                let transformed = parsing.replace(national, transform).into_owned();
                if viable && !matches(general, &transformed) {
                    national.to_owned()
                } else {
                    transformed
                }
            }
            // The crate checks the number from the match's start here, which is 0: the check
            // never refuses.
            _ => national[m.end()..].to_owned(),
        }
    })
}

/// `validator::Validation` as far as parsing looks at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Length {
    PossibleLocalOnly,
    Possible,
    TooShort,
    TooLong,
    Invalid,
}

fn possible(length: Length) -> bool {
    matches!(length, Length::Possible | Length::PossibleLocalOnly)
}

/// `validator::length(meta, number, Type::Unknown)`: the general descriptor's lengths.
fn length(meta: &'static Metadata, national: &str) -> Length {
    let general = meta.descriptors().general();
    let length = national.len() as u16;
    let possible = general.possible_length();
    let (Some(&minimum), Some(&maximum)) = (possible.first(), possible.last()) else {
        return Length::Invalid;
    };
    if general.possible_local_length().contains(&length) {
        Length::PossibleLocalOnly
    } else if length == minimum {
        Length::Possible
    } else if length < minimum {
        Length::TooShort
    } else if length > maximum {
        Length::TooLong
    } else if possible.contains(&length) {
        Length::Possible
    } else {
        Length::Invalid
    }
}

/// The metadata of a number's region (`PhoneNumber::metadata`): the calling code's only
/// region, or of a shared code the first whose leading digits, or else number types, fit.
pub(super) fn metadata(code: u16, value: &str) -> Option<&'static Metadata> {
    let database: &'static Database = &DATABASE;
    let regions = database.region(&code)?;
    if let [one] = regions.as_slice() {
        return if *one == "001" {
            database.by_code(&code)?.into_iter().next()
        } else {
            database.by_id(one.parse::<country::Id>().ok()?.as_ref())
        };
    }
    regions.into_iter().find_map(|region| {
        let meta = database.by_id(region)?;
        let fits = match meta.leading_digits() {
            Some(leading) => find(leading.as_str(), value).is_some_and(|m| m.start() == 0),
            None => number_type(meta, value) != Type::Unknown,
        };
        fits.then_some(meta)
    })
}

/// `validator::number_type`: the first of the types, in the crate's order, whose pattern
/// matches the national number without leading zeros (`value`).
pub(super) fn number_type(meta: &'static Metadata, value: &str) -> Type {
    let d = meta.descriptors();
    let is = |desc: Option<&'static Descriptor>| desc.is_some_and(|d| matches(d, value));
    if !matches(d.general(), value) {
        return Type::Unknown;
    }
    let types = [
        (d.premium_rate(), Type::PremiumRate),
        (d.toll_free(), Type::TollFree),
        (d.shared_cost(), Type::SharedCost),
        (d.voip(), Type::Voip),
        (d.personal_number(), Type::PersonalNumber),
        (d.pager(), Type::Pager),
        (d.uan(), Type::Uan),
        (d.voicemail(), Type::Voicemail),
    ];
    if let Some((_, kind)) = types.into_iter().find(|(desc, _)| is(*desc)) {
        return kind;
    }
    if is(d.fixed_line()) {
        let pattern =
            |desc: Option<&'static Descriptor>| desc.map(|d| d.national_number().as_str());
        return if pattern(d.fixed_line()) == pattern(d.mobile()) || is(d.mobile()) {
            Type::FixedLineOrMobile
        } else {
            Type::FixedLine
        };
    }
    if is(d.mobile()) {
        return Type::Mobile;
    }
    Type::Unknown
}

/// `Descriptor::is_match`: a possible length, and the pattern matching from the first digit
/// (the crate's `find(..).start() == 0`, which is a match anchored at the start).
fn matches(desc: &'static Descriptor, national: &str) -> bool {
    let lengths = desc.possible_length();
    if !lengths.is_empty() && !lengths.contains(&(national.len() as u16)) {
        return false;
    }
    let pattern = desc.national_number().as_str();
    with_compiled(pattern, true, |regex| regex.is_match(national))
}

/// The first match of a metadata pattern, as the crate's `CachedRegex::find`.
fn find<'t>(pattern: &'static str, text: &'t str) -> Option<regex::Match<'t>> {
    with_regex(pattern, |regex| regex.find(text))
}

/// Runs `f` with the metadata pattern compiled as the crate compiles it.
fn with_regex<T>(pattern: &'static str, f: impl FnOnce(&Regex) -> T) -> T {
    with_compiled(pattern, false, f)
}

/// Runs `f` with `pattern` compiled (once per thread) with the crate's options
/// (`ignore_whitespace`), anchored at the start when `anchored`. The metadata is a static that
/// is never dropped: a pattern's address names it.
fn with_compiled<T>(pattern: &'static str, anchored: bool, f: impl FnOnce(&Regex) -> T) -> T {
    let id = (pattern.as_ptr() as usize, pattern.len(), anchored);
    // Out of the map before `f` runs: `f` may look up another pattern.
    let regex = PATTERNS.with_borrow_mut(|compiled| {
        let regex = compiled.entry(id).or_insert_with(|| {
            let source = match anchored {
                true => format!("^(?:{pattern})"),
                false => pattern.to_owned(),
            };
            let regex = regex::RegexBuilder::new(&source)
                .ignore_whitespace(true)
                // The lazy DFA's cache (2 MiB by default) fills with the states a million
                // distinct numbers visit; a smaller one is rebuilt now and then instead.
                .dfa_size_limit(DFA_CACHE)
                .build()
                .expect("libphonenumber's patterns compile, as the crate compiled them");
            Rc::new(regex)
        });
        Rc::clone(regex)
    });
    f(&regex)
}

/// The lazy DFA cache of each pattern, in bytes.
const DFA_CACHE: usize = 256 * 1024;

/// Compiled patterns by the address and length of their text, and whether anchored.
type Compiled = HashMap<(usize, usize, bool), Rc<Regex>, FixedState>;

thread_local! {
    /// The metadata's patterns, compiled ([`with_compiled`]).
    /// Keyed by address, hashed with foldhash: SipHash was a third of the lookups' time.
    static PATTERNS: RefCell<Compiled> = RefCell::new(HashMap::with_hasher(FixedState::default()));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the crate makes of `text`: code, national number, number type.
    fn crates(text: &str, region: country::Id) -> Option<(u16, String, Type)> {
        let number = phonenumber::parse(Some(region), text).ok()?;
        let kind = number.number_type(&DATABASE);
        Some((number.code().value(), number.national().to_string(), kind))
    }

    fn ours(text: &str, region: country::Id) -> Option<(u16, String, Type)> {
        match parse(text, region).expect("digits") {
            Parsed::Refused => None,
            Parsed::Number { code, national } => {
                let value = national.trim_start_matches('0');
                let kind = metadata(code, value).map_or(Type::Unknown, |m| number_type(m, value));
                Some((code, national, kind))
            }
        }
    }

    fn check(text: &str, region: country::Id, checked: &mut usize) {
        assert_eq!(
            ours(text, region),
            crates(text, region),
            "{text:?} read in {region:?}"
        );
        *checked += 1;
    }

    fn regions() -> Vec<(country::Id, &'static Metadata)> {
        DATABASE
            .iter()
            .filter_map(|meta| Some((meta.id().parse().ok()?, meta)))
            .collect()
    }

    /// Every example number of every region's number types, as its region's people and
    /// others type it (nationally, with the trunk prefix, with the calling code with and
    /// without `+`, a digit more or less), read in its own region and in Germany.
    #[test]
    fn parsing_is_the_crates_for_every_example_number() {
        let mut checked = 0;
        for (region, meta) in regions() {
            let d = meta.descriptors();
            let examples = [
                Some(d.general()),
                d.fixed_line(),
                d.mobile(),
                d.toll_free(),
                d.premium_rate(),
                d.shared_cost(),
                d.personal_number(),
                d.voip(),
                d.pager(),
                d.uan(),
                d.voicemail(),
            ]
            .into_iter()
            .flatten()
            .filter_map(|d| d.example());
            let code = meta.country_code();
            let prefix = meta.national_prefix().unwrap_or("0");
            for example in examples {
                for text in [
                    example.to_string(),
                    format!("{prefix}{example}"),
                    format!("{code}{example}"),
                    format!("+{code}{example}"),
                    format!("+{code}{prefix}{example}"),
                    format!("+{code}{example}9"),
                    format!("{example}9"),
                    example[1..].to_string(),
                    format!("00{code}{example}"),
                    format!("011{code}{example}"),
                ] {
                    for reader in [region, country::Id::DE] {
                        check(&text, reader, &mut checked);
                    }
                }
                // Cut short: too short once the trunk prefix is off, or no number at all.
                for end in 1..example.len() {
                    check(
                        &format!("{prefix}{}", &example[..end]),
                        region,
                        &mut checked,
                    );
                }
            }
        }
        assert!(checked > 10_000, "{checked}");
    }

    /// The regions whose national prefix is rewritten by a rule (Argentina's `15`, Brazil's
    /// carrier codes, …), with random digits after their prefixes and carrier codes.
    #[test]
    fn parsing_is_the_crates_where_a_rule_rewrites_the_prefix() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(1615);
        let mut checked = 0;
        for (region, meta) in regions() {
            if meta.national_prefix_transform_rule().is_none() {
                continue;
            }
            let prefix = meta.national_prefix().unwrap_or("0");
            for _ in 0..1500 {
                let len = rng.random_range(1..16);
                let digits: String = (0..len)
                    .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
                    .collect();
                let carrier = rng.random_range(10..100);
                for text in [
                    format!("{prefix}{digits}"),
                    format!("{prefix}{carrier}{digits}"),
                    digits,
                ] {
                    check(&text, region, &mut checked);
                }
            }
        }
        assert!(checked > 10_000, "{checked}");
    }

    /// Random digit strings of every length, with and without `+`, with a trunk or
    /// international prefix, read in regions with different numbering rules.
    #[test]
    fn parsing_is_the_crates_for_random_digits() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(16);
        let readers = [
            country::Id::DE,
            country::Id::AT,
            country::Id::UA,
            country::Id::US,
            country::Id::IT,
            country::Id::BR,
            country::Id::AR,
            country::Id::MX,
            country::Id::GB,
            country::Id::RU,
        ];
        let starts = [
            "", "+", "0", "00", "+49", "49", "+39", "+1", "011", "8", "+0",
        ];
        let mut checked = 0;
        for _ in 0..40_000 {
            let start = starts[rng.random_range(0..starts.len())];
            let len = rng.random_range(0..19);
            let digits: String = (0..len)
                .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
                .collect();
            let text = format!("{start}{digits}");
            if text.is_empty() || text == "+" {
                continue;
            }
            let reader = readers[rng.random_range(0..readers.len())];
            check(&text, reader, &mut checked);
        }
        assert!(checked > 35_000, "{checked}");
    }

    /// Text that is not a `+` and digits is left to the crate.
    #[test]
    fn other_text_is_left_to_the_crate() {
        for text in ["", "+", "0171 1234567", "+49-171", "tel:+49171", "++49171"] {
            assert_eq!(parse(text, country::Id::DE), None, "{text:?}");
        }
    }
}
