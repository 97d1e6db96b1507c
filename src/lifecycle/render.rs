//! Rendering a booking's messages: the template context for its citizen, the full text per
//! channel, the SMS that fits the tenant's segment limit, and the outbox row to queue.

use super::matching::{MatchContext, Run};
use crate::domain::notification::{Channel, Kind, Role};
use crate::messages::{MessageContext, Rendered, SmsMessage};
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
    ctx: &'a MatchContext<'_>,
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
        tenant_name: &ctx.tenant.name,
        office: &b.location,
        service: &b.service,
        starts_at: b.starts_at,
        tz: ctx.tenant.time_zone,
        reason,
        hotline: &ctx.tenant.hotline,
        citizen_name: Some(b.name.as_str()).filter(|n| !n.is_empty()),
        bilingual: ctx.tenant.bilingual,
        rebook_url: ctx.tenant.rebook_url.as_deref(),
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
    let chain = ctx.tenant.language_chain();
    let mc = message_context(ctx, b, kind, channel, reason, &chain);
    ctx.templates
        .render(&mc)
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
    let mc = message_context(ctx, b, kind, Channel::Sms, reason, &chain);
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

pub(super) fn notification(run: &Run, b: &BookingRow, m: Message, r: Rendered) -> NewNotification {
    NewNotification {
        tenant_id: run.tenant_id.clone(),
        outage_id: run.id,
        booking_id: b.id,
        channel: m.channel.as_str(),
        kind: m.kind.as_str(),
        role: m.role.as_str(),
        recipient: m.recipient,
        language: r.language,
        subject: r.subject,
        body_text: r.text,
        body_html: r.html,
        next_attempt_at: m.next_attempt_at,
        deadline: b.starts_at,
    }
}
