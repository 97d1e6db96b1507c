//! Which text an SMS goes out with. A long reason, office name or rebooking link can push the
//! full SMS over the tenant's `max_sms_segments`; then the short one (`sms.short.txt.j2`: date,
//! time, office, "cancelled", hotline; no reason, service or link) is sent instead, and if even
//! that is too long, no SMS at all. The email and the call list still reach the citizen, so one
//! long text never blocks a declaration.

use super::sms::analyse;
use super::{Channel, MessageContext, RenderError, Rendered, SHORT_SMS_FILE, Templates, values};

/// The text an SMS is sent with, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsChoice {
    /// The full text fits the limit.
    Full(String),
    /// The full text is too long; the short one fits.
    Short(String),
    /// Even the shortest text there is needs `segments` parts, more than the limit: no SMS.
    TooLong { segments: usize },
}

impl SmsChoice {
    /// The text to send; none when too long.
    pub fn text(&self) -> Option<&str> {
        match self {
            SmsChoice::Full(t) | SmsChoice::Short(t) => Some(t),
            SmsChoice::TooLong { .. } => None,
        }
    }

    /// Stable name for previews and the API: "full", "short" or "too_long".
    pub fn variant(&self) -> &'static str {
        match self {
            SmsChoice::Full(_) => "full",
            SmsChoice::Short(_) => "short",
            SmsChoice::TooLong { .. } => "too_long",
        }
    }
}

/// `full` if it fits `max_segments`, else the `short` text (rendered only then; `None` when
/// the language has no short template) if that fits, else too long.
pub fn choose<E>(
    full: String,
    short: impl FnOnce() -> Result<Option<String>, E>,
    max_segments: usize,
) -> Result<SmsChoice, E> {
    let full_segments = analyse(&full).segments;
    if full_segments <= max_segments {
        return Ok(SmsChoice::Full(full));
    }
    Ok(match short()? {
        Some(text) => match analyse(&text).segments {
            n if n <= max_segments => SmsChoice::Short(text),
            segments => SmsChoice::TooLong { segments },
        },
        None => SmsChoice::TooLong {
            segments: full_segments,
        },
    })
}

/// An SMS rendered for a booking, with the language both variants are written in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsMessage {
    pub language: String,
    pub choice: SmsChoice,
}

impl SmsMessage {
    /// The message to queue; none when too long.
    pub fn into_rendered(self) -> Option<Rendered> {
        let text = match self.choice {
            SmsChoice::Full(t) | SmsChoice::Short(t) => t,
            SmsChoice::TooLong { .. } => return None,
        };
        Some(Rendered {
            language: self.language,
            subject: None,
            text,
            html: None,
        })
    }
}

impl Templates {
    /// The SMS `ctx` describes (whatever its channel says) that fits `max_segments` parts: the
    /// full one, else the short one in the same language, else [`SmsChoice::TooLong`].
    pub fn render_sms(
        &self,
        ctx: &MessageContext<'_>,
        max_segments: usize,
    ) -> Result<SmsMessage, RenderError> {
        let ctx = MessageContext {
            channel: Channel::Sms,
            ..*ctx
        };
        let full = self.render(&ctx)?;
        let lang = full.language;
        let choice = choose(
            full.text,
            || self.render_short_sms(&ctx, &lang),
            max_segments,
        )?;
        Ok(SmsMessage {
            language: lang,
            choice,
        })
    }

    /// The short SMS of `ctx.kind` in `lang`, if that language has one.
    pub(super) fn render_short_sms(
        &self,
        ctx: &MessageContext<'_>,
        lang: &str,
    ) -> Result<Option<String>, RenderError> {
        if !self.has_short_sms(ctx.kind, lang) {
            return Ok(None);
        }
        let text = self.render_file(ctx.kind, lang, SHORT_SMS_FILE, &values(ctx, lang))?;
        Ok(Some(super::sms_text(&text)))
    }

    /// Whether `kind` has a short SMS in the template folder `lang`.
    pub fn has_short_sms(&self, kind: &str, lang: &str) -> bool {
        self.env.get_template(&short_name(kind, lang)).is_ok()
    }
}

pub(super) fn short_name(kind: &str, lang: &str) -> String {
    format!("{kind}/{lang}/{SHORT_SMS_FILE}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never() -> Result<Option<String>, ()> {
        panic!("the short text is rendered only when the full one is too long")
    }

    #[test]
    fn a_full_text_within_the_limit_is_sent_as_it_is() {
        let full = "a".repeat(306);
        assert_eq!(choose(full.clone(), never, 2), Ok(SmsChoice::Full(full)));
    }

    #[test]
    fn a_full_text_over_the_limit_gives_way_to_the_short_one() {
        let short = || Ok::<_, ()>(Some("kurz".to_owned()));
        let choice = choose("a".repeat(307), short, 2).unwrap();
        assert_eq!(choice, SmsChoice::Short("kurz".into()));
        assert_eq!((choice.text(), choice.variant()), (Some("kurz"), "short"));
    }

    #[test]
    fn a_short_text_over_the_limit_too_means_no_sms() {
        let short = || Ok::<_, ()>(Some("ş".repeat(71)));
        let choice = choose("a".repeat(161), short, 1).unwrap();
        assert_eq!(choice, SmsChoice::TooLong { segments: 2 });
        assert_eq!((choice.text(), choice.variant()), (None, "too_long"));
    }

    #[test]
    fn without_a_short_template_a_full_text_over_the_limit_means_no_sms() {
        let none = || Ok::<_, ()>(None);
        let choice = choose("a".repeat(460), none, 3).unwrap();
        assert_eq!(choice, SmsChoice::TooLong { segments: 4 });
    }

    #[test]
    fn a_failing_short_template_is_an_error_not_a_silent_skip() {
        let broken = || Err::<Option<String>, _>("broken");
        assert_eq!(choose("a".repeat(161), broken, 1), Err("broken"));
    }

    #[test]
    fn a_too_long_message_queues_nothing() {
        let m = |choice| SmsMessage {
            language: "tr".into(),
            choice,
        };
        assert_eq!(m(SmsChoice::TooLong { segments: 5 }).into_rendered(), None);
        let short = m(SmsChoice::Short("kısa".into())).into_rendered().unwrap();
        assert_eq!(
            (short.language.as_str(), short.text.as_str()),
            ("tr", "kısa")
        );
        assert_eq!((short.subject, short.html), (None, None));
    }
}
