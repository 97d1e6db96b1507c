//! Rendering a booking's messages: the template context for its citizen, the full text per
//! channel, the SMS that fits the tenant's segment limit, and the outbox row to queue.
//!
//! An SMS is written when it is queued: its length decides whether it is sent at all. An email
//! is written when it is sent ([`email`], called by the dispatcher), from the booking as it is
//! then; matching only picks its language, and writes the first of each pass as the sample.

use super::matching::{MatchContext, Run};
use crate::config::TenantSettings;
use crate::domain::notification::{Channel, Kind, Role};
use crate::messages::{MessageContext, Rendered, SmsMessage, Templates};
use crate::store::bookings::BookingRow;
use crate::store::notifications::NewNotification;
use anyhow::Context;
use chrono::{DateTime, Utc};

/// One message to queue for a booking.
pub(super) struct Message {
    pub kind: Kind,
    pub channel: Channel,
    pub role: Role,
    pub recipient: String,
    pub next_attempt_at: DateTime<Utc>,
}

/// What the templates say to this booking's citizen.
fn message_context<'a>(
    tenant: &'a TenantSettings,
    b: &'a BookingRow,
    kind: Kind,
    channel: Channel,
    reason: &'a str,
    chain: &'a [String],
) -> MessageContext<'a> {
    MessageContext {
        kind: kind.as_str(),
        channel,
        language: b.language.as_deref(),
        fallback_languages: chain,
        tenant_name: &tenant.name,
        office: &b.location,
        service: &b.service,
        starts_at: b.starts_at,
        tz: tenant.time_zone,
        reason,
        hotline: &tenant.hotline,
        citizen_name: Some(b.name.as_str()).filter(|n| !n.is_empty()),
        bilingual: tenant.bilingual,
        rebook_url: tenant.rebook_url.as_deref(),
    }
}

/// The booking's message on `channel`, in full (an SMS through [`render_sms`] instead).
pub(super) fn render(
    ctx: &MatchContext<'_>,
    b: &BookingRow,
    kind: Kind,
    channel: Channel,
    reason: &str,
) -> anyhow::Result<Rendered> {
    write(ctx.tenant, ctx.templates, b, kind, channel, reason)
}

/// The booking's email of `kind`, written now: what the dispatcher sends for a notification
/// queued without a text.
pub fn email(
    tenant: &TenantSettings,
    templates: &Templates,
    b: &BookingRow,
    kind: Kind,
    reason: &str,
) -> anyhow::Result<Rendered> {
    write(tenant, templates, b, kind, Channel::Email, reason)
}

fn write(
    tenant: &TenantSettings,
    templates: &Templates,
    b: &BookingRow,
    kind: Kind,
    channel: Channel,
    reason: &str,
) -> anyhow::Result<Rendered> {
    let chain = tenant.language_chain();
    let mc = message_context(tenant, b, kind, channel, reason, &chain);
    templates
        .render(&mc)
        .with_context(|| rendering(channel, kind, b))
}

/// The language the booking's message on `channel` will be written in.
pub(super) fn language(
    ctx: &MatchContext<'_>,
    b: &BookingRow,
    kind: Kind,
    channel: Channel,
) -> anyhow::Result<String> {
    let chain = ctx.tenant.language_chain();
    let mc = message_context(ctx.tenant, b, kind, channel, "", &chain);
    ctx.templates
        .language(&mc)
        .with_context(|| rendering(channel, kind, b))
}

/// The booking's SMS that fits the tenant's `max_sms_segments`: full, short, or none.
pub(super) fn render_sms(
    ctx: &MatchContext<'_>,
    b: &BookingRow,
    kind: Kind,
    reason: &str,
) -> anyhow::Result<SmsMessage> {
    let chain = ctx.tenant.language_chain();
    let mc = message_context(ctx.tenant, b, kind, Channel::Sms, reason, &chain);
    ctx.templates
        .render_sms(&mc, ctx.tenant.max_sms_segments)
        .with_context(|| rendering(Channel::Sms, kind, b))
}

fn rendering(channel: Channel, kind: Kind, b: &BookingRow) -> String {
    format!(
        "rendering the {} {} of booking {}",
        channel.as_str(),
        kind.as_str(),
        b.booking_key
    )
}

/// The outbox row of a message: with its text, or (an email to write when sent) only the
/// language it will be written in.
pub(super) enum Text {
    Written(Rendered),
    AtSend { language: String },
}

pub(super) fn notification(run: &Run, b: &BookingRow, m: Message, text: Text) -> NewNotification {
    let (language, subject, body_text, body_html) = match text {
        Text::Written(r) => (r.language, r.subject, Some(r.text), r.html),
        Text::AtSend { language } => (language, None, None, None),
    };
    NewNotification {
        tenant_id: run.tenant_id.clone(),
        outage_id: run.id,
        booking_id: b.id,
        channel: m.channel.as_str(),
        kind: m.kind.as_str(),
        role: m.role.as_str(),
        recipient: m.recipient,
        language,
        subject,
        body_text,
        body_html,
        next_attempt_at: m.next_attempt_at,
        deadline: b.starts_at,
    }
}
