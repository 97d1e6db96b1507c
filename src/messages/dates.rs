//! Dates and times as a citizen reads them: in the tenant's time zone and the message's language.
//!
//! Each language has its own patterns because word order differs ("Montag, 2. November 2026",
//! "2 Kasım 2026 Pazartesi"), and its own clock ("09:30 Uhr", "9:30 am", "09:30"). Unknown
//! languages are written in German, the last resort of every message.

use std::fmt::Write as _;

use chrono::{DateTime, Locale, Utc};
use chrono_tz::Tz;

/// How one language writes a day and a time of day (strftime patterns for `format_localized`).
struct Style {
    lang: &'static str,
    locale: Locale,
    date: &'static str,
    time: &'static str,
    tidy: Tidy,
}

/// Repairs of chrono's locale data, applied to the formatted date.
#[derive(Clone, Copy)]
enum Tidy {
    Keep,
    /// ru_RU capitalises weekdays ("Понедельник"), which Russian only does at a sentence start.
    Lowercase,
    /// fa_IR spells October with the Arabic kaf ("اكتبر"); Persian writes keheh and Farsi yeh.
    PersianLetters,
}

const GERMAN: Style = Style {
    lang: "de",
    locale: Locale::de_DE,
    date: "%A, %-d. %B %Y",
    time: "%H:%M Uhr",
    tidy: Tidy::Keep,
};

/// Languages absage writes dates for. Every pattern here is exercised by a test, because a
/// pattern a locale cannot format is only noticed when formatting.
const STYLES: [Style; 9] = [
    GERMAN,
    Style {
        lang: "en",
        locale: Locale::en_GB,
        date: "%A, %-d %B %Y",
        time: "%-I:%M %P",
        tidy: Tidy::Keep,
    },
    Style {
        lang: "tr",
        locale: Locale::tr_TR,
        date: "%-d %B %Y %A",
        time: "%H:%M",
        tidy: Tidy::Keep,
    },
    Style {
        lang: "ar",
        locale: Locale::ar_SA,
        date: "%A، %-d %B %Y",
        time: "%H:%M",
        tidy: Tidy::Keep,
    },
    Style {
        lang: "uk",
        locale: Locale::uk_UA,
        date: "%A, %-d %B %Y р.",
        time: "%H:%M",
        tidy: Tidy::Keep,
    },
    Style {
        lang: "ru",
        locale: Locale::ru_RU,
        date: "%A, %-d %B %Y г.",
        time: "%H:%M",
        tidy: Tidy::Lowercase,
    },
    Style {
        lang: "pl",
        locale: Locale::pl_PL,
        date: "%A, %-d %B %Y",
        time: "%H:%M",
        tidy: Tidy::Keep,
    },
    Style {
        lang: "ro",
        locale: Locale::ro_RO,
        date: "%A, %-d %B %Y",
        time: "%H:%M",
        tidy: Tidy::Keep,
    },
    Style {
        lang: "fa",
        locale: Locale::fa_IR,
        date: "%A %-d %B %Y",
        time: "%H:%M",
        tidy: Tidy::PersianLetters,
    },
];

/// The long date, e.g. "Montag, 2. November 2026" or "Monday, 2 November 2026".
pub fn long_date(at: DateTime<Utc>, tz: Tz, lang: &str) -> String {
    let style = style(lang);
    let date = format(at, tz, style.locale, style.date, "%Y-%m-%d");
    match style.tidy {
        Tidy::Keep => date,
        Tidy::Lowercase => date.to_lowercase(),
        Tidy::PersianLetters => date
            .replace('\u{643}', "\u{6A9}")
            .replace('\u{64A}', "\u{6CC}"),
    }
}

/// The time of day, e.g. "09:30 Uhr" or "9:30 am".
pub fn time_of_day(at: DateTime<Utc>, tz: Tz, lang: &str) -> String {
    let style = style(lang);
    format(at, tz, style.locale, style.time, "%H:%M")
}

/// Accepts "de", "DE", "de-AT" and "de-x-simple" alike: only the primary subtag picks the style.
fn style(lang: &str) -> &'static Style {
    let primary = lang.split(['-', '_']).next().unwrap_or_default();
    STYLES
        .iter()
        .find(|s| s.lang.eq_ignore_ascii_case(primary))
        .unwrap_or(&GERMAN)
}

/// chrono reports a pattern its locale data cannot fill only as a `fmt::Error`, which
/// `to_string` would turn into a panic; a message with an ISO date beats no message.
fn format(at: DateTime<Utc>, tz: Tz, locale: Locale, pattern: &str, plain: &str) -> String {
    let local = at.with_timezone(&tz);
    let mut out = String::with_capacity(40);
    if write!(out, "{}", local.format_localized(pattern, locale)).is_err() {
        out.clear();
        let _ = write!(out, "{}", local.format(plain));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::Europe::Berlin;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    #[test]
    fn german_dates_name_the_weekday_and_month() {
        let t = at(2026, 11, 2, 8, 30);
        assert_eq!(long_date(t, Berlin, "de"), "Montag, 2. November 2026");
        assert_eq!(time_of_day(t, Berlin, "de"), "09:30 Uhr");
    }

    #[test]
    fn english_dates_use_british_order_and_a_twelve_hour_clock() {
        let t = at(2026, 11, 2, 8, 30);
        assert_eq!(long_date(t, Berlin, "en"), "Monday, 2 November 2026");
        assert_eq!(time_of_day(t, Berlin, "en"), "9:30 am");
        assert_eq!(time_of_day(at(2026, 11, 2, 13, 5), Berlin, "en"), "2:05 pm");
    }

    #[test]
    fn dates_are_written_in_the_tenant_zone_not_utc() {
        // 23:30 UTC on 1 November is already 2 November in Berlin (CET, UTC+1).
        let t = at(2026, 11, 1, 23, 30);
        assert_eq!(long_date(t, Berlin, "de"), "Montag, 2. November 2026");
        assert_eq!(time_of_day(t, Berlin, "de"), "00:30 Uhr");
        // Summer time: UTC+2.
        assert_eq!(time_of_day(at(2026, 7, 1, 7, 0), Berlin, "de"), "09:00 Uhr");
    }

    #[test]
    fn unknown_or_regional_codes_fall_back_sensibly() {
        let t = at(2026, 11, 2, 8, 30);
        assert_eq!(long_date(t, Berlin, "xx"), "Montag, 2. November 2026");
        assert_eq!(long_date(t, Berlin, ""), "Montag, 2. November 2026");
        assert_eq!(long_date(t, Berlin, "EN-gb"), "Monday, 2 November 2026");
        assert_eq!(long_date(t, Berlin, "de_AT"), "Montag, 2. November 2026");
    }

    #[test]
    fn every_language_formats_without_falling_back_to_iso() {
        let t = at(2026, 11, 2, 8, 30);
        for style in &STYLES {
            let date = long_date(t, Berlin, style.lang);
            assert!(!date.starts_with("2026-"), "{}: {date}", style.lang);
            assert!(date.contains("2026"), "{}: {date}", style.lang);
            assert!(time_of_day(t, Berlin, style.lang).contains("9:30"));
        }
    }

    #[test]
    fn other_languages_read_naturally() {
        let t = at(2026, 11, 2, 8, 30);
        assert_eq!(long_date(t, Berlin, "tr"), "2 Kasım 2026 Pazartesi");
        assert_eq!(long_date(t, Berlin, "pl"), "poniedziałek, 2 listopada 2026");
        assert_eq!(long_date(t, Berlin, "uk"), "понеділок, 2 листопада 2026 р.");
        assert_eq!(long_date(t, Berlin, "ro"), "luni, 2 noiembrie 2026");
        assert_eq!(time_of_day(t, Berlin, "tr"), "09:30");
    }

    #[test]
    fn months_are_in_the_genitive_and_weekdays_in_lower_case_where_the_language_wants_it() {
        let t = at(2030, 1, 7, 8, 30);
        assert_eq!(long_date(t, Berlin, "tr"), "7 Ocak 2030 Pazartesi");
        assert_eq!(long_date(t, Berlin, "pl"), "poniedziałek, 7 stycznia 2030");
        assert_eq!(long_date(t, Berlin, "ru"), "понедельник, 7 января 2030 г.");
        assert_eq!(long_date(t, Berlin, "uk"), "понеділок, 7 січня 2030 р.");
        assert_eq!(long_date(t, Berlin, "ro"), "luni, 7 ianuarie 2030");
        assert_eq!(long_date(t, Berlin, "ar"), "الإثنين، 7 يناير 2030");
        assert_eq!(
            long_date(t, Berlin, "de-x-simple"),
            "Montag, 7. Januar 2030"
        );
    }

    #[test]
    fn persian_dates_use_persian_letters_only() {
        let t = at(2030, 10, 7, 8, 30);
        assert_eq!(long_date(t, Berlin, "fa"), "دوشنبه 7 اکتبر 2030");
        assert!(!long_date(t, Berlin, "fa").contains(['\u{643}', '\u{64A}']));
    }

    #[test]
    fn a_pattern_the_locale_cannot_fill_gives_an_iso_date_instead_of_a_panic() {
        // fa_IR has no %x pattern in chrono's locale data.
        let t = at(2026, 11, 2, 8, 30);
        assert_eq!(
            format(t, Berlin, Locale::fa_IR, "%x", "%Y-%m-%d"),
            "2026-11-02"
        );
    }
}
