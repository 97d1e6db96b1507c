//! Seeing a message before citizens do: `absage templates preview`, the SMS length check of
//! `absage config check`, and SMS segments and cost in an outage's impact.

use crate::config::{Settings, TenantSettings};
use crate::domain::from_millis;
use crate::messages::sms::{SmsEncoding, analyse};
use crate::messages::{Channel, MessageContext, TemplateSet};
use crate::store::{Store, bookings};
use anyhow::{Context, bail};
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
    store: &Store,
    settings: &Settings,
    templates: &TemplateSet,
    req: &PreviewRequest<'_>,
    now: DateTime<Utc>,
) -> anyhow::Result<Preview> {
    let tenant = settings
        .tenant(req.tenant)
        .with_context(|| format!("no tenant with id {:?} is configured", req.tenant))?;
    let booking = match req.booking_key {
        None => None,
        Some(key) => {
            let mut conn = store.conn().await?;
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
        .map_or(now + Duration::days(1), |b| from_millis(b.starts_at));
    let chain = tenant.language_chain();
    let rendered = templates.for_tenant(&tenant.id).render(&MessageContext {
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
    })?;
    let sms = (req.channel == Channel::Sms).then(|| SmsFacts::of(&rendered.text, tenant));
    Ok(Preview {
        language: rendered.language,
        subject: rendered.subject,
        text: rendered.text,
        html: rendered.html,
        sms,
    })
}

/// Refuses an SMS longer than the tenant allows.
pub fn check_sms_length(text: &str, tenant: &TenantSettings, what: &str) -> anyhow::Result<()> {
    let info = analyse(text);
    if info.segments > tenant.max_sms_segments {
        bail!(
            "{what}: the SMS needs {} segments ({} characters as {:?}), more than max_sms_segments = {} of tenant {}; shorten the reason, the template or the rebook_url, or raise the limit",
            info.segments,
            info.units,
            info.encoding,
            tenant.max_sms_segments,
            tenant.id
        );
    }
    Ok(())
}

/// For `config check`: renders every SMS template of every tenant with long sample values and
/// reports those that exceed the tenant's segment limit.
pub fn check_sms_templates(settings: &Settings, set: &TemplateSet) -> Vec<String> {
    let mut problems = Vec::new();
    let now = Utc::now();
    for tenant in &settings.tenants {
        let templates = set.for_tenant(&tenant.id);
        for kind in ["cancellation", "retraction"] {
            for lang in templates.languages(kind, Channel::Sms) {
                let chain = tenant.language_chain();
                let rendered = templates.render(&MessageContext {
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
                });
                let what = format!("templates {kind}/{lang}/sms.txt.j2");
                match rendered {
                    Ok(r) => {
                        if let Err(e) = check_sms_length(&r.text, tenant, &what) {
                            problems.push(e.to_string());
                        }
                    }
                    Err(e) => problems.push(format!("{what}: {e}")),
                }
            }
        }
    }
    problems
}
