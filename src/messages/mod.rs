//! The messages absage sends, rendered from templates in the citizen's language.
//!
//! - [`Templates`]: every template under `config/templates/<kind>/<lang>/`, compiled once and
//!   checked at load by rendering each with sample data (strict: an unknown variable is an error).
//! - language resolution: the booking's language if it has templates, else the tenant's
//!   fallback chain, else German. Each wanted language first matches a folder named exactly
//!   like it (case-insensitive, `_` read as `-`), then the folder of its primary subtag: the
//!   plain-language German folder `de-x-simple` (BCP 47 private use) serves only who asks for
//!   `de-x-simple`, and `de-AT` is written in `de`.
//! - bilingual email: the citizen's language, then German (`bilingual`); SMS stay monolingual.
//! - [`dates`]: dates and times in the tenant's zone and the message's language.
//! - [`sms`]: GSM-7 / UCS-2 encoding, segment counting and transliteration of typography.
//! - [`sms_choice`]: the full SMS when it fits the tenant's limit, else the short one, else none.
//! - `load`: reading and checking the template folder; `filters`: the minijinja environment.
//!
//! Kinds: `cancellation` and `retraction` (the appointment stands after all). Template files
//! per language: `email.subject.j2`, `email.txt.j2`, `email.html.j2` (HTML,
//! auto-escaped), `sms.txt.j2` and `sms.short.txt.j2` (the SMS without reason, service and
//! link, for when the full one is too long). Variables: `tenant`, `office`, `service`, `date`, `time`,
//! `reason`, `hotline` (strings, possibly empty), `name` (none when unknown) and `rebook` (the
//! tenant's web address for booking anew; none when it has none). The filter `sentence` ends a
//! text with a full stop unless it already ends with punctuation; `tel` turns a phone number
//! into the digits of a `tel:` link; `ltr` keeps a phone number in reading order inside
//! right-to-left text; `url` writes a web address into HTML without mangling its slashes.

mod bilingual;
pub mod set;
pub use set::TemplateSet;
pub mod dates;
mod filters;
mod load;
pub mod sms;
pub mod sms_choice;
pub use sms_choice::{SmsChoice, SmsMessage};

use std::fmt;

use chrono::{DateTime, Utc};
use minijinja::{Environment, Value, context};

/// The language every message can fall back to.
const LAST_RESORT: &str = "de";
const EMAIL_FILES: [&str; 3] = ["email.subject.j2", "email.txt.j2", "email.html.j2"];
const SMS_FILE: &str = "sms.txt.j2";
/// Optional beside `sms.txt.j2`: see [`sms_choice`].
const SHORT_SMS_FILE: &str = "sms.short.txt.j2";

pub use crate::domain::notification::{Channel, UnknownChannel};

/// The template files a channel's message is made of.
fn files_of(channel: Channel) -> &'static [&'static str] {
    match channel {
        Channel::Email => &EMAIL_FILES,
        Channel::Sms => std::slice::from_ref(&SMS_FILE),
    }
}

/// Everything one message says. Holds personal data: never log it.
#[derive(Clone, Copy)]
pub struct MessageContext<'a> {
    /// "cancellation" or "retraction": the folder under the template directory.
    pub kind: &'a str,
    pub channel: Channel,
    /// The booking's language tag (ISO 639-1 code, or a template folder name such as
    /// `de-x-simple`), if known.
    pub language: Option<&'a str>,
    /// The tenant's languages to try next; German is the last resort anyway.
    pub fallback_languages: &'a [String],
    pub tenant_name: &'a str,
    /// The location, e.g. "Straßenverkehrsamt Soest"; may be empty.
    pub office: &'a str,
    pub service: &'a str,
    pub starts_at: DateTime<Utc>,
    /// The tenant's zone: dates are written in it.
    pub tz: chrono_tz::Tz,
    /// Why the appointment cannot happen (for a retraction: why it stands after all), in the
    /// tenant's words.
    pub reason: &'a str,
    pub hotline: &'a str,
    pub citizen_name: Option<&'a str>,
    /// Where the citizen can book a new appointment (the tenant's `rebook_url`). Only an
    /// `http://` or `https://` address without spaces is used; anything else is left out,
    /// so the message keeps its wording without a link.
    pub rebook_url: Option<&'a str>,
    /// Email in a language other than German also carries the German text below it, for
    /// family or staff who help the citizen. SMS ignore it: a second language doubles the cost.
    pub bilingual: bool,
}

/// A rendered message. Holds personal data: never log it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The language actually used after fallback.
    pub language: String,
    /// Email only; always a single line.
    pub subject: Option<String>,
    pub text: String,
    /// Email only.
    pub html: Option<String>,
}

/// Why a message could not be rendered. Templates are checked at load, so this means a
/// message kind without templates or a value the templates cannot handle.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("no {channel} templates for message kind {kind:?}")]
    NoTemplates { kind: String, channel: Channel },
    #[error("rendering template {template} failed: {source}")]
    Template {
        template: String,
        #[source]
        source: minijinja::Error,
    },
}

/// All message templates, compiled once.
pub struct Templates {
    env: Environment<'static>,
    /// Per kind and channel, the languages with a complete set of templates (sorted).
    available: Vec<(String, Channel, Vec<String>)>,
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Templates")
            .field("available", &self.available)
            .finish_non_exhaustive()
    }
}

impl Templates {
    /// Renders the message `ctx` describes, in the best language that has templates.
    pub fn render(&self, ctx: &MessageContext<'_>) -> Result<Rendered, RenderError> {
        let lang = self.resolve(ctx).ok_or_else(|| RenderError::NoTemplates {
            kind: ctx.kind.to_owned(),
            channel: ctx.channel,
        })?;
        self.render_in(ctx, lang)
    }

    /// The language [`Templates::render`] would write `ctx` in, without writing it.
    pub fn language(&self, ctx: &MessageContext<'_>) -> Result<String, RenderError> {
        match self.resolve(ctx) {
            Some(lang) => Ok(lang.to_owned()),
            None => Err(RenderError::NoTemplates {
                kind: ctx.kind.to_owned(),
                channel: ctx.channel,
            }),
        }
    }

    /// Languages for which `kind`/`channel` templates exist (for the config check).
    pub fn languages(&self, kind: &str, channel: Channel) -> Vec<String> {
        self.langs(kind, channel).to_vec()
    }

    fn langs(&self, kind: &str, channel: Channel) -> &[String] {
        self.available
            .iter()
            .find(|(k, c, _)| k == kind && *c == channel)
            .map_or(&[], |(_, _, langs)| langs.as_slice())
    }

    /// The booking's language, then the tenant's chain, then German; the first with templates.
    fn resolve(&self, ctx: &MessageContext<'_>) -> Option<&str> {
        let langs = self.langs(ctx.kind, ctx.channel);
        let wanted = ctx.language.into_iter();
        let chain = ctx.fallback_languages.iter().map(String::as_str);
        wanted
            .chain(chain)
            .chain([LAST_RESORT])
            .find_map(|want| folder_for(langs, want.trim()))
    }

    /// The message in `lang`, followed by German when the context asks for a bilingual email.
    fn render_in(&self, ctx: &MessageContext<'_>, lang: &str) -> Result<Rendered, RenderError> {
        let own = self.render_one(ctx, lang)?;
        if !ctx.bilingual || ctx.channel == Channel::Sms || is_german(lang) {
            return Ok(own);
        }
        let german = self.render_one(ctx, LAST_RESORT)?;
        Ok(bilingual::join(own, &german))
    }

    fn render_one(&self, ctx: &MessageContext<'_>, lang: &str) -> Result<Rendered, RenderError> {
        let values = values(ctx, lang);
        let render = |file: &str| self.render_file(ctx.kind, lang, file, &values);
        let rendered = match ctx.channel {
            Channel::Email => Rendered {
                language: lang.to_owned(),
                subject: Some(filters::one_line(&render(EMAIL_FILES[0])?)),
                text: format!("{}\n", render(EMAIL_FILES[1])?.trim_end()),
                html: Some(render(EMAIL_FILES[2])?),
            },
            Channel::Sms => Rendered {
                language: lang.to_owned(),
                subject: None,
                text: sms_text(&render(SMS_FILE)?),
                html: None,
            },
        };
        Ok(rendered)
    }

    fn render_file(
        &self,
        kind: &str,
        lang: &str,
        file: &str,
        values: &Value,
    ) -> Result<String, RenderError> {
        let name = format!("{kind}/{lang}/{file}");
        let failed = |source| RenderError::Template {
            template: name.clone(),
            source,
        };
        let template = self.env.get_template(&name).map_err(failed)?;
        template.render(values).map_err(failed)
    }
}

/// What templates in `lang` see of `ctx`. Services and offices that hold several values are
/// written as people read them ("Kfz-Zulassung, Personalausweis").
fn values(ctx: &MessageContext<'_>, lang: &str) -> Value {
    use crate::domain::booking::display_list;
    context! {
        tenant => ctx.tenant_name,
        office => display_list(ctx.office),
        service => display_list(ctx.service),
        date => dates::long_date(ctx.starts_at, ctx.tz, lang),
        time => dates::time_of_day(ctx.starts_at, ctx.tz, lang),
        reason => ctx.reason,
        hotline => ctx.hotline,
        name => ctx.citizen_name,
        rebook => ctx.rebook_url.and_then(web_address),
    }
}

/// A rendered SMS as it is sent: one place for every SMS text, full or short.
fn sms_text(rendered: &str) -> String {
    sms::transliterated(rendered.trim())
}

/// The folder named exactly like `want`, else the folder of its primary subtag.
fn folder_for<'a>(langs: &'a [String], want: &str) -> Option<&'a str> {
    let same = |folder: &str, tag: &str| {
        folder.len() == tag.len()
            && folder.bytes().zip(tag.bytes()).all(|(f, t)| {
                f == if t == b'_' {
                    b'-'
                } else {
                    t.to_ascii_lowercase()
                }
            })
    };
    let primary = want.split(['-', '_']).next().unwrap_or_default();
    let exact = langs.iter().find(|l| same(l, want));
    exact
        .or_else(|| langs.iter().find(|l| same(l, primary)))
        .map(String::as_str)
}

/// `url` trimmed if it is an http(s) address a citizen can open; a `javascript:` link or a
/// value with spaces inside must never reach a message.
fn web_address(url: &str) -> Option<&str> {
    let url = url.trim();
    let scheme_end = url.find("://")?;
    let web = url[..scheme_end].eq_ignore_ascii_case("https")
        || url[..scheme_end].eq_ignore_ascii_case("http");
    let host_given = url.len() > scheme_end + 3;
    let clean = !url.chars().any(|c| c.is_whitespace() || c.is_control());
    (web && host_given && clean).then_some(url)
}

/// German and its variants (`de-x-simple`) need no German translation below them.
fn is_german(lang: &str) -> bool {
    let primary = lang.split(['-', '_']).next().unwrap_or_default();
    primary.eq_ignore_ascii_case(LAST_RESORT)
}

#[cfg(test)]
mod golden;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;
    use std::path::PathBuf;

    fn shipped() -> Templates {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/templates");
        Templates::load(&dir).expect("shipped templates load")
    }

    fn soest(channel: Channel, language: Option<&str>) -> MessageContext<'_> {
        MessageContext {
            kind: "cancellation",
            channel,
            language,
            fallback_languages: &[],
            tenant_name: "Kreis Soest",
            office: "Straßenverkehrsamt Soest",
            service: "Zulassung",
            // 09:30 in Berlin (CET).
            starts_at: Utc.with_ymd_and_hms(2026, 11, 2, 8, 30, 0).unwrap(),
            tz: chrono_tz::Europe::Berlin,
            reason: "IT-Ausfall nach einem Cyberangriff",
            hotline: "02921 30-0",
            citizen_name: Some("Erika Mustermann"),
            rebook_url: None,
            bilingual: false,
        }
    }

    fn assert_facts(text: &str, date: &str, time: &str) {
        assert!(!text.contains("\n\n\n"), "two blank lines in:\n{text}");
        for fact in [
            date,
            time,
            "Zulassung",
            "Straßenverkehrsamt Soest",
            "02921 30-0",
        ] {
            assert!(text.contains(fact), "{fact:?} missing in:\n{text}");
        }
        assert!(
            text.contains("IT-Ausfall nach einem Cyberangriff"),
            "{text}"
        );
        assert!(text.contains("Kreis Soest"), "{text}");
    }

    #[test]
    fn german_email_names_the_appointment_and_what_to_do() {
        let m = shipped()
            .render(&soest(Channel::Email, Some("de")))
            .unwrap();
        assert_eq!(m.language, "de");
        let subject = m.subject.unwrap();
        assert!(subject.contains("Montag, 2. November 2026"), "{subject}");
        assert!(subject.contains("fällt aus"), "{subject}");
        assert!(
            m.text.starts_with("Guten Tag Erika Mustermann,\n\n"),
            "{}",
            m.text
        );
        assert_facts(&m.text, "Montag, 2. November 2026", "09:30 Uhr");
        assert!(m.text.contains("Bitte kommen Sie nicht"));
        let html = m.html.unwrap();
        assert_facts(&html, "Montag, 2. November 2026", "09:30 Uhr");
        assert!(html.contains(r#"<html lang="de">"#));
        assert!(html.contains(r#"href="tel:02921300""#), "{html}");
    }

    #[test]
    fn english_email_names_the_appointment_and_what_to_do() {
        let m = shipped()
            .render(&soest(Channel::Email, Some("en")))
            .unwrap();
        assert_eq!(m.language, "en");
        assert!(
            m.subject
                .unwrap()
                .contains("Monday, 2 November 2026 at 9:30 am")
        );
        assert!(
            m.text.starts_with("Dear Erika Mustermann,\n\n"),
            "{}",
            m.text
        );
        assert_facts(&m.text, "Monday, 2 November 2026", "9:30 am");
        assert!(m.text.contains("Please do not come"));
        let html = m.html.unwrap();
        assert_facts(&html, "Monday, 2 November 2026", "9:30 am");
        assert!(html.contains(r#"<html lang="en">"#));
    }

    #[test]
    fn sms_in_both_languages_carry_the_key_facts_without_a_subject() {
        let t = shipped();
        let de = t.render(&soest(Channel::Sms, Some("de"))).unwrap();
        assert_facts(&de.text, "Montag, 2. November 2026", "09:30 Uhr");
        assert_eq!((de.subject, de.html), (None, None));
        let en = t.render(&soest(Channel::Sms, Some("en"))).unwrap();
        assert_facts(&en.text, "Monday, 2 November 2026", "9:30 am");
        assert!(!en.text.contains('\n'));
    }

    #[test]
    fn a_typical_german_sms_stays_gsm7_and_fits_two_parts() {
        let m = shipped().render(&soest(Channel::Sms, Some("de"))).unwrap();
        let info = sms::analyse(&m.text);
        assert_eq!(info.encoding, sms::SmsEncoding::Gsm7, "{}", m.text);
        assert!(info.segments <= 2, "{info:?}: {}", m.text);
        let en = shipped().render(&soest(Channel::Sms, Some("en"))).unwrap();
        assert!(sms::analyse(&en.text).segments <= 2, "{}", en.text);
    }

    #[test]
    fn html_escapes_markup_in_values_while_text_keeps_it() {
        let mut ctx = soest(Channel::Email, Some("de"));
        ctx.reason = "<script>alert(1)</script> & Co";
        let m = shipped().render(&ctx).unwrap();
        let html = m.html.unwrap();
        assert!(!html.contains("<script>"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt; &amp; Co"),
            "{html}"
        );
        assert!(m.text.contains("<script>alert(1)</script> & Co"));
        let sms = shipped()
            .render(&MessageContext {
                channel: Channel::Sms,
                ..ctx
            })
            .unwrap();
        assert!(
            sms.text.contains("<script>alert(1)</script> & Co."),
            "{}",
            sms.text
        );
    }

    #[test]
    fn a_rebooking_link_is_escaped_in_html_and_plain_in_text_and_sms() {
        let url = "https://termine.kreis-soest.de/neu?dienst=zulassung&ort=soest";
        let ctx = MessageContext {
            rebook_url: Some(url),
            ..soest(Channel::Email, Some("de"))
        };
        let m = shipped().render(&ctx).unwrap();
        assert!(
            m.text.contains(&format!("online buchen:\n{url}\n")),
            "{}",
            m.text
        );
        let html = m.html.unwrap();
        let escaped = "https://termine.kreis-soest.de/neu?dienst=zulassung&amp;ort=soest";
        assert!(html.contains(&format!(r#"<a href="{escaped}""#)), "{html}");
        assert!(html.contains(">Neuen Termin online buchen</a>"), "{html}");
        let sms = shipped()
            .render(&MessageContext {
                channel: Channel::Sms,
                ..ctx
            })
            .unwrap();
        assert!(
            sms.text.contains(&format!("Neuen Termin buchen: {url}")),
            "{}",
            sms.text
        );
        assert!(!sms.text.contains("später"), "{}", sms.text);
    }

    #[test]
    fn only_web_addresses_become_rebooking_links() {
        assert_eq!(
            web_address(" https://termine.kreis-soest.de/neu "),
            Some("https://termine.kreis-soest.de/neu")
        );
        assert_eq!(web_address("HTTP://a.de"), Some("HTTP://a.de"));
        for bad in [
            "",
            "   ",
            "javascript://%0aalert(1)",
            "termine.kreis-soest.de",
            "https://",
            "https://a.de/x y",
            "https://a.de/\nBcc: x",
        ] {
            assert_eq!(web_address(bad), None, "{bad:?}");
        }
        let ctx = MessageContext {
            rebook_url: Some("javascript:alert(1)"),
            ..soest(Channel::Sms, Some("de"))
        };
        let sms = shipped().render(&ctx).unwrap().text;
        assert!(sms.ends_with("Neuen Termin bitte später buchen."), "{sms}");
    }

    #[test]
    fn a_language_without_templates_falls_back_to_the_tenant_chain_then_german() {
        let t = shipped();
        let french = t.render(&soest(Channel::Email, Some("fr"))).unwrap();
        assert_eq!(french.language, "de");
        assert!(french.text.contains("Montag"));
        assert_eq!(t.render(&soest(Channel::Sms, None)).unwrap().language, "de");
        let chain = ["it".to_owned(), "en".to_owned()];
        let ctx = MessageContext {
            fallback_languages: &chain,
            ..soest(Channel::Email, Some("fr"))
        };
        assert_eq!(t.render(&ctx).unwrap().language, "en");
    }

    #[test]
    fn regional_and_upper_case_codes_find_their_language() {
        let t = shipped();
        assert_eq!(
            t.render(&soest(Channel::Sms, Some("EN-gb")))
                .unwrap()
                .language,
            "en"
        );
        assert_eq!(
            t.render(&soest(Channel::Sms, Some("de_AT")))
                .unwrap()
                .language,
            "de"
        );
    }

    #[test]
    fn missing_optional_values_give_a_neutral_text() {
        let ctx = MessageContext {
            citizen_name: None,
            office: "",
            reason: "",
            ..soest(Channel::Email, Some("de"))
        };
        let m = shipped().render(&ctx).unwrap();
        assert!(m.text.starts_with("Guten Tag,\n\n"), "{}", m.text);
        assert!(
            !m.text.contains("Ort:") && !m.text.contains("Grund:"),
            "{}",
            m.text
        );
        assert!(!m.text.contains("\n\n\n"), "{}", m.text);
        let sms = shipped()
            .render(&MessageContext {
                channel: Channel::Sms,
                ..ctx
            })
            .unwrap();
        assert!(
            sms.text.contains("(Zulassung) fällt aus. Bitte"),
            "{}",
            sms.text
        );
    }

    #[test]
    fn an_unknown_kind_is_a_render_error() {
        let ctx = MessageContext {
            kind: "reminder",
            ..soest(Channel::Sms, None)
        };
        let err = shipped().render(&ctx).unwrap_err();
        assert!(matches!(err, RenderError::NoTemplates { .. }), "{err}");
    }

    #[test]
    fn shipped_languages_are_listed_per_kind_and_channel() {
        let t = shipped();
        let all = [
            "ar",
            "de",
            "de-x-simple",
            "en",
            "fa",
            "pl",
            "ro",
            "ru",
            "tr",
            "uk",
        ];
        for kind in ["cancellation", "retraction"] {
            for channel in Channel::ALL {
                assert_eq!(t.languages(kind, channel), all, "{kind} {channel}");
            }
        }
        assert!(t.languages("reminder", Channel::Sms).is_empty());
    }

    #[test]
    fn an_exact_folder_name_wins_over_the_primary_subtag() {
        let langs = ["de".to_owned(), "de-x-simple".to_owned(), "en".to_owned()];
        assert_eq!(folder_for(&langs, "de-x-simple"), Some("de-x-simple"));
        assert_eq!(folder_for(&langs, "DE_X_SIMPLE"), Some("de-x-simple"));
        assert_eq!(folder_for(&langs, "de-AT"), Some("de"));
        assert_eq!(folder_for(&langs, "de"), Some("de"));
        assert_eq!(folder_for(&langs, "en-x-simple"), Some("en"));
        assert_eq!(folder_for(&langs, "fr"), None);
        let only_german = ["de".to_owned()];
        assert_eq!(folder_for(&only_german, "de-x-simple"), Some("de"));
    }

    #[test]
    fn plain_language_german_is_chosen_through_the_tenant_chain() {
        let chain = ["de-x-simple".to_owned()];
        let ctx = MessageContext {
            fallback_languages: &chain,
            ..soest(Channel::Email, None)
        };
        let m = shipped().render(&ctx).unwrap();
        assert_eq!(m.language, "de-x-simple");
        assert!(m.html.unwrap().contains(r#"<html lang="de-x-simple">"#));
    }

    #[test]
    fn channels_parse_and_print_their_names() {
        assert_eq!("email".parse::<Channel>().unwrap(), Channel::Email);
        assert_eq!(" SMS ".parse::<Channel>().unwrap(), Channel::Sms);
        assert!("fax".parse::<Channel>().is_err());
        assert_eq!(Channel::Sms.to_string(), "sms");
    }

    /// `cargo test --release -- --ignored --nocapture renders_fast`
    #[test]
    #[ignore = "timing; run in release"]
    fn renders_fast_enough_for_a_large_outage() {
        let t = shipped();
        let n = 20_000;
        for channel in Channel::ALL {
            let ctx = soest(channel, Some("de"));
            let start = std::time::Instant::now();
            for _ in 0..n {
                std::hint::black_box(t.render(std::hint::black_box(&ctx)).unwrap());
            }
            let per = start.elapsed() / n;
            println!("render {channel}: {per:?} per message");
            assert!(per < std::time::Duration::from_micros(100), "{per:?}");
        }
    }
}
