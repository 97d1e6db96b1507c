//! Seeing a message before citizens do: `absage templates preview`, the SMS length check of
//! `absage config check`, and SMS segments and cost in an outage's impact.

use crate::config::{Settings, TenantSettings};
use crate::ctx::Ctx;
use crate::messages::sms::{SmsEncoding, analyse};
use crate::messages::{Channel, MessageContext, SmsChoice, TemplateSet};
use crate::store::bookings;
use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// Values for a sample message, as long as typical real ones.
const SAMPLE_OFFICE: &str = "Straßenverkehrsamt Soest";
const SAMPLE_SERVICE: &str = "Aufenthaltstitel";
const SAMPLE_REASON: &str = "Ausfall der IT nach einem Cyberangriff";
const SAMPLE_NAME: &str = "Maximiliane Mustermann-Schulze";

/// SMS facts of a rendered text.
#[derive(Debug, Clone, Serialize)]
pub struct SmsFacts {
    pub encoding: &'static str,
    pub units: usize,
    pub segments: usize,
    pub cost: Option<f64>,
}

impl SmsFacts {
    pub fn of(text: &str, tenant: &TenantSettings) -> SmsFacts {
        let info = analyse(text);
        SmsFacts {
            encoding: match info.encoding {
                SmsEncoding::Gsm7 => "GSM-7",
                SmsEncoding::Ucs2 => "UCS-2",
            },
            units: info.units,
            segments: info.segments,
            cost: tenant
                .sms_price_per_segment
                .map(|p| p * info.segments as f64),
        }
    }
}

/// A rendered message for an operator to look at.
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    pub language: String,
    pub subject: Option<String>,
    pub text: String,
    pub html: Option<String>,
    pub sms: Option<SmsFacts>,
    /// For an SMS, which text goes out under the tenant's `max_sms_segments`: "full",
    /// "short", or "too_long" (none; `text` shows the full one, to see what to shorten).
    pub sms_variant: Option<&'static str>,
}

/// What to preview.
pub struct PreviewRequest<'a> {
    pub tenant: &'a str,
    pub kind: &'a str,
    pub channel: Channel,
    pub language: &'a str,
    /// Render with this booking's data instead of sample values.
    pub booking_key: Option<&'a str>,
    pub reason: Option<&'a str>,
}

pub async fn preview(
    ctx: &Ctx,
    req: &PreviewRequest<'_>,
    now: DateTime<Utc>,
) -> anyhow::Result<Preview> {
    let tenant = ctx
        .settings
        .tenant(req.tenant)
        .with_context(|| format!("no tenant with id {:?} is configured", req.tenant))?;
    let booking = match req.booking_key {
        None => None,
        Some(key) => {
            let mut conn = ctx.store.conn().await?;
            let found = bookings::active_by_keys(&mut conn, &tenant.id, &[key.to_owned()]).await?;
            Some(
                found
                    .into_iter()
                    .next()
                    .with_context(|| format!("no active booking with key {key:?}"))?,
            )
        }
    };
    let starts_at = booking
        .as_ref()
        .map_or(now + Duration::days(1), |b| b.starts_at);
    let chain = tenant.language_chain();
    let templates = ctx.templates.for_tenant(&tenant.id);
    let message = MessageContext {
        kind: req.kind,
        channel: req.channel,
        language: Some(req.language),
        fallback_languages: &chain,
        tenant_name: &tenant.name,
        office: booking
            .as_ref()
            .map_or(SAMPLE_OFFICE, |b| b.location.as_str()),
        service: booking
            .as_ref()
            .map_or(SAMPLE_SERVICE, |b| b.service.as_str()),
        starts_at,
        tz: tenant.time_zone,
        reason: req.reason.unwrap_or(SAMPLE_REASON),
        hotline: &tenant.hotline,
        citizen_name: Some(booking.as_ref().map_or(SAMPLE_NAME, |b| b.name.as_str())),
        bilingual: tenant.bilingual,
        rebook_url: tenant.rebook_url.as_deref(),
    };
    let mut rendered = templates.render(&message)?;
    let mut sms_variant = None;
    if req.channel == Channel::Sms {
        let choice = templates
            .render_sms(&message, tenant.max_sms_segments)?
            .choice;
        sms_variant = Some(choice.variant());
        if let SmsChoice::Short(short) = choice {
            rendered.text = short;
        }
    }
    let sms = (req.channel == Channel::Sms).then(|| SmsFacts::of(&rendered.text, tenant));
    Ok(Preview {
        language: rendered.language,
        subject: rendered.subject,
        text: rendered.text,
        html: rendered.html,
        sms,
        sms_variant,
    })
}

/// What `absage config check` finds in the SMS templates: problems refuse the configuration,
/// warnings are printed and let it pass.
#[derive(Debug, Default)]
pub struct SmsTemplateCheck {
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
}

/// For `config check`: renders every SMS template of every tenant with long sample values.
/// A full SMS over the tenant's segment limit is only a warning when the short one fits (that
/// one is sent then); a language whose SMS would never fit is a problem.
pub fn check_sms_templates(settings: &Settings, set: &TemplateSet) -> SmsTemplateCheck {
    let mut check = SmsTemplateCheck::default();
    let now = Utc::now();
    for tenant in &settings.tenants {
        let templates = set.for_tenant(&tenant.id);
        let max = tenant.max_sms_segments;
        for kind in ["cancellation", "retraction"] {
            for lang in templates.languages(kind, Channel::Sms) {
                let chain = tenant.language_chain();
                let rendered = templates.render_sms(
                    &MessageContext {
                        kind,
                        channel: Channel::Sms,
                        language: Some(&lang),
                        fallback_languages: &chain,
                        tenant_name: &tenant.name,
                        office: SAMPLE_OFFICE,
                        service: SAMPLE_SERVICE,
                        starts_at: now,
                        tz: tenant.time_zone,
                        reason: SAMPLE_REASON,
                        hotline: &tenant.hotline,
                        citizen_name: Some(SAMPLE_NAME),
                        bilingual: false,
                        rebook_url: tenant.rebook_url.as_deref(),
                    },
                    max,
                );
                let what = format!("tenant {}: templates {kind}/{lang}", tenant.id);
                let short = templates.has_short_sms(kind, &lang);
                match rendered.map(|m| m.choice) {
                    Ok(SmsChoice::Full(_)) => {}
                    Ok(SmsChoice::Short(text)) => check.warnings.push(format!(
                        "{what}: with sample values the full SMS is longer than \
                         max_sms_segments = {max}; the short one ({} segments) is sent instead",
                        analyse(&text).segments
                    )),
                    Ok(SmsChoice::TooLong { segments }) => check.problems.push(format!(
                        "{what}: with sample values {} needs {segments} segments, more than \
                         max_sms_segments = {max}, so no SMS would go out in this language; \
                         shorten the template or the rebook_url, or raise the limit",
                        if short {
                            "even the short SMS"
                        } else {
                            "the SMS (no short one)"
                        }
                    )),
                    Err(e) => check.problems.push(format!("{what}: {e}")),
                }
            }
        }
    }
    for (tenant, kind_lang) in set.without_short_sms() {
        check.warnings.push(format!(
            "tenant {tenant}: templates {kind_lang} have no short SMS (sms.short.txt.j2), \
             neither in the tenant's folder nor the shared one; an SMS longer than \
             max_sms_segments is not sent"
        ));
    }
    check
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn settings(max_sms_segments: usize) -> Settings {
        let tenant = format!(
            "id = \"soest\"\nname = \"Kreis Soest\"\ntime_zone = \"Europe/Berlin\"\n\
             hotline = \"02921 30-0\"\nemail_from = \"termine@kreis-soest.example\"\n\
             sms_sender = \"KreisSoest\"\nmax_sms_segments = {max_sms_segments}\n"
        );
        Settings {
            tenants: vec![toml::from_str(&tenant).unwrap()],
            ..Settings::default()
        }
    }

    fn shipped() -> TemplateSet {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/templates");
        TemplateSet::load(&dir, []).unwrap()
    }

    #[test]
    fn shipped_templates_pass_the_default_limit_without_a_word() {
        let check = check_sms_templates(&settings(4), &shipped());
        assert!(check.problems.is_empty(), "{:?}", check.problems);
        assert!(check.warnings.is_empty(), "{:?}", check.warnings);
    }

    #[test]
    fn a_full_sms_over_the_limit_only_warns_when_the_short_one_fits() {
        // Two parts: every short cancellation fits (UCS-2 ones about 115 of 134 characters).
        let check = check_sms_templates(&settings(2), &shipped());
        assert!(
            !check.problems.iter().any(|p| p.contains("cancellation/")),
            "{:?}",
            check.problems
        );
        assert!(
            check
                .warnings
                .iter()
                .any(|w| w.contains("cancellation/tr") && w.contains("short one")),
            "{:?}",
            check.warnings
        );
    }

    #[test]
    fn an_sms_that_never_fits_is_a_problem() {
        let check = check_sms_templates(&settings(1), &shipped());
        assert!(
            check
                .problems
                .iter()
                .any(|p| p.contains("cancellation/uk") && p.contains("even the short SMS")),
            "{:?}",
            check.problems
        );
    }
}
