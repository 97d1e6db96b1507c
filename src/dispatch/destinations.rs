//! The destinations each channel sends through, in failover order, with their health and rate
//! limits: SMTP relays or the file outbox for email; SMS gateways or the outbox for SMS.

use super::Clock;
use super::email::{OutgoingEmail, SmtpRelay, build_message};
use super::health::Health;
use super::outbox::FileOutbox;
use super::outcome::SendFailure;
use super::rate::{Budget, SharedRate};
use super::sms::{SmsGateway, SmsMessage};
use crate::config::{QueueSettings, Settings, TenantSettings, Transport};
use crate::domain::notification::{AttemptResult, Channel};
use crate::domain::return_path;
use crate::messages::sms::{SmsEncoding, analyse};
use crate::store::destinations::{self as store, DestinationRow};
use crate::store::notifications::Claimed;
use crate::store::{Backend as StoreBackend, Store};
use chrono::{DateTime, Duration, Utc};
use lettre::address::Envelope;
use lettre::message::Mailbox;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

enum Backend {
    Outbox(Arc<FileOutbox>),
    Relay(Arc<SmtpRelay>),
    Gateway(Arc<SmsGateway>),
    Given(Arc<dyn Deliver>),
}

/// A destination given by code instead of the configuration: what a benchmark of the queue on
/// its own plugs in (a transport that accepts every message at once). Never a setting.
pub trait Deliver: Send + Sync {
    fn deliver<'a>(
        &'a self,
        message: &'a Prepared,
    ) -> futures::future::BoxFuture<'a, Result<super::outcome::Sent, SendFailure>>;
}

struct Destination {
    name: String,
    backend: Backend,
    /// Messages per second (for all instances together), when limited.
    rate: Option<SharedRate>,
    /// Sends it takes at once from this instance.
    concurrency: usize,
}

impl Destination {
    /// How long it has taken to accept one message, on average; None before a success (and
    /// for the outbox and code-given destinations, which are not measured).
    fn service_time(&self) -> Option<std::time::Duration> {
        match &self.backend {
            Backend::Relay(r) => r.service.get(),
            Backend::Gateway(g) => g.service.get(),
            Backend::Outbox(_) | Backend::Given(_) => None,
        }
    }

    /// The longest one send through it may take once it has begun (its connection and its
    /// answer); zero for the outbox and code-given destinations, which have no timeout.
    fn timeout(&self) -> std::time::Duration {
        match &self.backend {
            Backend::Relay(r) => r.timeout(),
            Backend::Gateway(g) => g.timeout(),
            Backend::Outbox(_) | Backend::Given(_) => std::time::Duration::ZERO,
        }
    }

    /// Messages per second its connections have carried from this instance: `concurrency`
    /// sends at a time, each taking the measured send time. None before the first success.
    fn measured_rate(&self) -> Option<f64> {
        let took = self.service_time()?.as_secs_f64();
        (took > 0.0).then(|| self.concurrency as f64 / took)
    }
}

/// How many messages one claim may take so that all of them begin their sends within half of
/// `window` (see [`start_window`]) at `rate` messages per second (unlimited when no rate is
/// known): two batches in flight then still begin within it.
fn claim_cap(rate: Option<f64>, window: std::time::Duration) -> u32 {
    match rate {
        Some(rate) => ((rate * window.as_secs_f64() / 2.0) as u32).max(1),
        None => u32::MAX,
    }
}

/// How long after its claim a message may still begin its send through a destination whose
/// sends take up to `timeout`: every send must end before the last quarter of the lease, which
/// is left for recording it before another claim may take the message.
fn start_window(lease_secs: u64, timeout: std::time::Duration) -> std::time::Duration {
    std::time::Duration::from_millis(lease_secs * 750).saturating_sub(timeout)
}

/// A notification turned into what its channel's backends take.
pub enum Prepared {
    Email {
        id: i64,
        message_id: String,
        envelope: Envelope,
        bytes: Vec<u8>,
    },
    Sms {
        id: i64,
        message: SmsMessage,
    },
}

impl Prepared {
    /// Builds the wire form. Errors are permanent: the stored notification cannot be sent.
    pub fn new(
        c: &Claimed,
        tenant: &TenantSettings,
        addressing: &Addressing,
        now: DateTime<Utc>,
    ) -> Result<Prepared, String> {
        let text = c.body_text.clone().ok_or("the message has no text")?;
        match c.channel.as_str() {
            "email" => {
                let from: Mailbox = tenant
                    .email_from
                    .parse()
                    .map_err(|e| format!("tenant sender address: {e}"))?;
                let to: Mailbox = c
                    .recipient
                    .parse()
                    .map_err(|_| "the recipient address is not valid".to_owned())?;
                let reply_to = tenant.reply_to.as_deref().and_then(|r| r.parse().ok());
                let domain =
                    (addressing.message_id_domain.as_deref()).unwrap_or(from.email.domain());
                let message_id = message_id(c.id, c.outage_id, domain);
                let return_path = match &addressing.return_paths {
                    Some((domain, secret)) => Some(
                        return_path::address(domain, secret, c.id)
                            .parse()
                            .map_err(|e| format!("return path: {e}"))?,
                    ),
                    None => None,
                };
                let (envelope, bytes) = build_message(&OutgoingEmail {
                    return_path,
                    message_id: message_id.clone(),
                    from,
                    reply_to,
                    to,
                    subject: c.subject.clone().unwrap_or_default(),
                    text,
                    html: c.body_html.clone(),
                })
                .map_err(|e| e.to_string())?;
                Ok(Prepared::Email {
                    id: c.id,
                    message_id,
                    envelope,
                    bytes,
                })
            }
            "sms" => Ok(Prepared::Sms {
                id: c.id,
                message: SmsMessage {
                    id: c.id,
                    to_e164: c.recipient.clone(),
                    from: tenant.sms_sender.clone(),
                    ucs2: analyse(&text).encoding == SmsEncoding::Ucs2,
                    text,
                    dlr_url: addressing.delivery_reports.as_ref().map(|(url, secret)| {
                        crate::domain::dlr::callback_url(url, secret, c.id, c.claims)
                    }),
                    dlr_ref: (addressing.delivery_reports.as_ref())
                        .map(|(_, secret)| crate::domain::dlr::reference(secret, c.id, c.claims)),
                    validity_minutes: validity_minutes(now, c.deadline),
                },
            }),
            other => Err(format!("unknown channel {other:?}")),
        }
    }

    /// Slots of a rate limit it takes: one per SMS segment (what gateways and SMS centres
    /// count), one per email.
    fn slots(&self) -> u32 {
        match self {
            Prepared::Email { .. } => 1,
            Prepared::Sms { message, .. } => {
                u32::try_from(analyse(&message.text).segments.max(1)).unwrap_or(u32::MAX)
            }
        }
    }

    /// The Message-ID of an email.
    pub fn message_id(&self) -> Option<&str> {
        match self {
            Prepared::Email { message_id, .. } => Some(message_id),
            Prepared::Sms { .. } => None,
        }
    }

    fn channel(&self) -> Channel {
        match self {
            Prepared::Email { .. } => Channel::Email,
            Prepared::Sms { .. } => Channel::Sms,
        }
    }
}

/// Whole minutes from `now` until the appointment (at least 1), for the SMS centre's validity.
pub fn validity_minutes(now: DateTime<Utc>, deadline: DateTime<Utc>) -> Option<u32> {
    let minutes = (deadline - now).num_minutes();
    u32::try_from(minutes.max(1)).ok()
}

/// The Message-ID of a notification: derived from its id, so every resend carries the same one.
pub fn message_id(notification_id: i64, outage_id: i64, domain: &str) -> String {
    format!("absage.{notification_id}.{outage_id}@{domain}")
}

/// What a message carries so that what comes back about it finds it.
#[derive(Debug, Clone, Default)]
pub struct Addressing {
    /// Domain of generated Message-IDs (default: the sender's).
    pub message_id_domain: Option<String>,
    /// Public URL and secret for SMS delivery reports, when configured.
    pub delivery_reports: Option<(String, String)>,
    /// Bounce domain and secret of the emails' return paths, when configured.
    pub return_paths: Option<(String, String)>,
}

impl Addressing {
    pub fn of(settings: &Settings) -> Addressing {
        let owned = |(a, b): (&str, &str)| (a.to_owned(), b.to_owned());
        Addressing {
            message_id_domain: settings.email.message_id_domain.clone(),
            delivery_reports: settings.http.webhooks.delivery_reports().map(owned),
            return_paths: settings.bounces.return_paths().map(owned),
        }
    }
}

/// A channel's destinations in failover order (the first sends while it is up), each with
/// the connections or requests it takes at once: the relays or gateways, or the outbox.
pub fn configured(settings: &Settings, channel: Channel) -> Vec<(String, usize)> {
    match (channel, channel_transport(settings, channel)) {
        (Channel::Email, Transport::File) => vec![("outbox-email".into(), 1)],
        (Channel::Sms, Transport::File) => vec![("outbox-sms".into(), 1)],
        (Channel::Email, Transport::Network) => (settings.email.relays.iter())
            .map(|r| (r.name.clone(), r.concurrency))
            .collect(),
        (Channel::Sms, Transport::Network) => (settings.sms.gateways.iter())
            .map(|g| (g.name().to_owned(), g.concurrency()))
            .collect(),
    }
}

fn channel_transport(settings: &Settings, channel: Channel) -> Transport {
    match channel {
        Channel::Email => settings.email.transport,
        Channel::Sms => settings.sms.transport,
    }
}

/// All destinations of both channels.
pub struct Destinations {
    pub addressing: Addressing,
    email: Vec<Destination>,
    sms: Vec<Destination>,
    health: Mutex<HashMap<String, Health>>,
    /// Held from taking the changed health to writing it, so that the two channel loops'
    /// writes land in the order they were taken (an older "up" never overwrites a "down").
    persisting: tokio::sync::Mutex<()>,
}

impl Destinations {
    /// The destinations of `settings`. Their rate limits take slots from `store` on PostgreSQL,
    /// where several instances may share them, and from memory on SQLite.
    pub fn from_settings(settings: &Settings, store: &Store) -> anyhow::Result<Destinations> {
        let rate = |name: &str| {
            let budget = || match store.backend() {
                StoreBackend::Sqlite => Budget::local(),
                StoreBackend::Postgres => Budget::Database {
                    store: store.clone(),
                    destination: name.to_owned(),
                },
            };
            settings
                .queue
                .rate_limits
                .get(name)
                .map(|r| SharedRate::new(*r, budget()))
        };
        let outbox = Arc::new(FileOutbox::new(settings.outbox.dir.clone()));
        let email = match settings.email.transport {
            Transport::File => vec![Destination {
                name: "outbox-email".into(),
                backend: Backend::Outbox(outbox.clone()),
                rate: rate("outbox-email"),
                concurrency: 1,
            }],
            Transport::Network => settings
                .email
                .relays
                .iter()
                .map(|r| {
                    Ok(Destination {
                        name: r.name.clone(),
                        rate: rate(&r.name),
                        backend: Backend::Relay(Arc::new(SmtpRelay::new(r.clone())?)),
                        concurrency: r.concurrency,
                    })
                })
                .collect::<anyhow::Result<_>>()?,
        };
        let sms = match settings.sms.transport {
            Transport::File => vec![Destination {
                name: "outbox-sms".into(),
                backend: Backend::Outbox(outbox),
                rate: rate("outbox-sms"),
                concurrency: 1,
            }],
            Transport::Network => settings
                .sms
                .gateways
                .iter()
                .map(|g| {
                    let gw = SmsGateway::new(g.clone())?;
                    Ok(Destination {
                        name: gw.name().to_owned(),
                        rate: rate(gw.name()),
                        backend: Backend::Gateway(Arc::new(gw)),
                        concurrency: g.concurrency(),
                    })
                })
                .collect::<anyhow::Result<_>>()?,
        };
        let health = email
            .iter()
            .chain(sms.iter())
            .map(|d| (d.name.clone(), Health::default()))
            .collect();
        Ok(Destinations {
            addressing: Addressing::of(settings),
            email,
            sms,
            health: Mutex::new(health),
            persisting: tokio::sync::Mutex::new(()),
        })
    }

    /// Replaces `channel`'s destinations by one given by code (see [`Deliver`]).
    pub fn with_given(mut self, channel: Channel, name: &str, deliver: Arc<dyn Deliver>) -> Self {
        let given = vec![Destination {
            name: name.to_owned(),
            backend: Backend::Given(deliver),
            rate: None,
            concurrency: 1,
        }];
        match channel {
            Channel::Email => self.email = given,
            Channel::Sms => self.sms = given,
        }
        self.health(|h| h.insert(name.to_owned(), Health::default()));
        self
    }

    fn of(&self, channel: Channel) -> &[Destination] {
        match channel {
            Channel::Email => &self.email,
            Channel::Sms => &self.sms,
        }
    }

    fn health<T>(&self, f: impl FnOnce(&mut HashMap<String, Health>) -> T) -> T {
        let mut guard = self.health.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// Whether any destination of the channel is up (otherwise its messages stay queued and no
    /// attempt is spent).
    pub fn any_up(&self, channel: Channel) -> bool {
        self.health(|h| {
            self.of(channel)
                .iter()
                .any(|d| h.get(&d.name).is_none_or(Health::is_up))
        })
    }

    /// How many notifications of the channel one claim may take so that they all go out well
    /// within the lease through the first destination that is up: at its rate limit, or at
    /// what its connections have carried so far if that is lower (a relay taking a second per
    /// message). Unlimited while neither is known.
    pub fn claim_limit(&self, channel: Channel, lease_secs: u64) -> u32 {
        let all = self.of(channel);
        let up = self.health(|h| {
            all.iter()
                .position(|d| h.get(&d.name).is_none_or(Health::is_up))
        });
        let Some(d) = all.get(up.unwrap_or(0)) else {
            return u32::MAX;
        };
        let limited = d.rate.as_ref().map(SharedRate::per_instance);
        claim_cap(
            limited
                .into_iter()
                .chain(d.measured_rate())
                .reduce(f64::min),
            start_window(lease_secs, d.timeout()),
        )
    }

    /// Records that `instances` are live, which sizes claims (the rate limits hold without it).
    /// Returns whether the count changed.
    pub fn share_rates(&self, instances: u32) -> bool {
        let mut changed = false;
        for d in self.email.iter().chain(self.sms.iter()) {
            if let Some(r) = &d.rate {
                changed |= r.set_instances(instances);
            }
        }
        changed
    }

    /// Probes every down destination of the channel whose probe is due. Returns (probed,
    /// recovered).
    pub async fn probe_due(
        &self,
        channel: Channel,
        now: DateTime<Utc>,
        q: &QueueSettings,
    ) -> (u64, u64) {
        let due: Vec<&Destination> = self.health(|h| {
            self.of(channel)
                .iter()
                .filter(|d| h.get(&d.name).is_some_and(|x| x.probe_due(now)))
                .collect()
        });
        let (mut probed, mut recovered) = (0, 0);
        for d in due {
            probed += 1;
            let result = match &d.backend {
                Backend::Outbox(o) => std::fs::create_dir_all(o.dir())
                    .map_err(|e| SendFailure::Destination(format!("outbox folder: {e}"))),
                Backend::Relay(r) => r.probe().await,
                Backend::Gateway(g) => g.probe().await,
                // Given by code: up for as long as it answers.
                Backend::Given(_) => Ok(()),
            };
            let interval = Duration::seconds(q.probe_interval_secs as i64);
            self.health(|h| {
                let health = h.entry(d.name.clone()).or_default();
                match result {
                    Ok(()) => {
                        tracing::info!(destination = %d.name, "destination is back up");
                        health.success();
                        recovered += 1;
                    }
                    Err(e) => {
                        health.failure(now, &e.to_string(), q.down_after_failures, interval);
                    }
                }
            });
        }
        (probed, recovered)
    }

    /// Sends through the first destination that is up; on a connection-level failure marks it
    /// and fails over to the next. When none could take it, the message waits (no attempt spent).
    pub async fn send(
        &self,
        p: &Prepared,
        now: DateTime<Utc>,
        q: &QueueSettings,
        clock: &Clock,
        end_by: tokio::time::Instant,
    ) -> AttemptResult {
        let interval = Duration::seconds(q.probe_interval_secs as i64);
        let mut last_reason = String::from("no destination is up");
        for d in self.of(p.channel()) {
            let up = self.health(|h| h.get(&d.name).is_none_or(Health::is_up));
            if !up {
                continue;
            }
            // A send that has begun is never cut off for the lease's sake: the relay may hold
            // the message already while its answer is on the way, and a message counted unsent
            // would go out again. So it must begin early enough to take its whole timeout and
            // still end by `end_by`; one whose turn (a rate slot, a connection) comes later is
            // given back unsent, due again at once, no attempt spent.
            let start_by = end_by
                .checked_sub(d.timeout())
                .unwrap_or_else(tokio::time::Instant::now);
            let given_back = || AttemptResult::DestinationDown {
                reason: format!("{}: its turn to send came too late in the lease", d.name),
                retry_at: now,
            };
            if let Some(l) = &d.rate {
                match tokio::time::timeout_at(start_by, l.until_ready(p.slots())).await {
                    Err(_) => return given_back(),
                    Ok(Err(e)) => {
                        // Sending without a slot could break the limit: the message waits a
                        // moment (no attempt spent) and the destination's health is left alone.
                        tracing::warn!(destination = %d.name, error = %format!("{e:#}"), "no send slot; the message waits");
                        return AttemptResult::DestinationDown {
                            reason: format!("{}: {e:#}", d.name),
                            retry_at: now + Duration::seconds(1),
                        };
                    }
                    Ok(Ok(())) => {}
                }
                // It may have gone down while this message waited for its turn.
                if !self.health(|h| h.get(&d.name).is_none_or(Health::is_up)) {
                    continue;
                }
            }
            // Wait for a connection, then look again: a destination that hangs (accepts and
            // never answers) is marked down by the first sends to time out, and the messages
            // that queued behind them go on to the next destination instead of each waiting
            // out its own timeout.
            let permit = async {
                match &d.backend {
                    Backend::Relay(r) => Some(r.permit().await),
                    Backend::Gateway(g) => Some(g.permit().await),
                    Backend::Outbox(_) | Backend::Given(_) => None,
                }
            };
            let Ok(permit) = tokio::time::timeout_at(start_by, permit).await else {
                return given_back();
            };
            let _permit = match permit.transpose() {
                Ok(permit) => permit,
                Err(e) => {
                    last_reason = format!("{}: {e}", d.name);
                    continue;
                }
            };
            if !self.health(|h| h.get(&d.name).is_none_or(Health::is_up)) {
                continue;
            }
            let result = match (&d.backend, p) {
                (
                    Backend::Outbox(o),
                    Prepared::Email {
                        id,
                        envelope,
                        bytes,
                        ..
                    },
                ) => o.send_email(*id, envelope, bytes).await,
                (Backend::Outbox(o), Prepared::Sms { id, message }) => {
                    o.send_sms(*id, message).await
                }
                (
                    Backend::Relay(r),
                    Prepared::Email {
                        envelope, bytes, ..
                    },
                ) => r.send_permitted(envelope, bytes).await,
                (Backend::Gateway(g), Prepared::Sms { message, .. }) => {
                    g.send_permitted(message).await
                }
                (Backend::Given(g), p) => g.deliver(p).await,
                _ => Err(SendFailure::Permanent(
                    "destination does not fit the channel".into(),
                )),
            };
            match result {
                Ok(sent) => {
                    self.health(|h| h.entry(d.name.clone()).or_default().success());
                    return AttemptResult::Sent {
                        destination: d.name.clone(),
                        provider_id: sent.provider_id,
                    };
                }
                Err(SendFailure::Destination(reason)) => {
                    let went_down = self.health(|h| {
                        h.entry(d.name.clone()).or_default().failure(
                            clock(),
                            &reason,
                            q.down_after_failures,
                            interval,
                        )
                    });
                    if went_down {
                        tracing::warn!(destination = %d.name, %reason, "destination marked down");
                    }
                    last_reason = format!("{}: {reason}", d.name);
                }
                Err(SendFailure::Transient {
                    reason,
                    retry_after,
                }) => {
                    self.health(|h| h.entry(d.name.clone()).or_default().success());
                    return AttemptResult::Transient {
                        reason: format!("{}: {reason}", d.name),
                        retry_after: retry_after.and_then(|r| Duration::from_std(r).ok()),
                    };
                }
                Err(SendFailure::Permanent(reason)) => {
                    self.health(|h| h.entry(d.name.clone()).or_default().success());
                    return AttemptResult::Permanent {
                        reason: format!("{}: {reason}", d.name),
                    };
                }
            }
        }
        // Due again at once: nothing is claimed while every destination of the channel is down,
        // and once one is up again (a probe, or any send that gets through) the message is sent
        // before later appointments, not after the next probe time.
        AttemptResult::DestinationDown {
            reason: last_reason,
            retry_at: now,
        }
    }

    /// Writes changed health to the database, for `absage status` and other processes.
    pub async fn persist(&self, store: &Store, now: DateTime<Utc>) -> anyhow::Result<()> {
        let _in_order = self.persisting.lock().await;
        let rows: Vec<DestinationRow> = self.health(|h| {
            let mut rows = Vec::new();
            for (channel, list) in [(Channel::Email, &self.email), (Channel::Sms, &self.sms)] {
                for d in list {
                    let measured = d
                        .service_time()
                        .map(|t| i64::try_from(t.as_micros()).unwrap_or(i64::MAX));
                    if let Some(m) = measured {
                        let x = h.entry(d.name.clone()).or_default();
                        // Stored again once it moved by a tenth, not with every send.
                        if x.send_micros.is_none_or(|old| (m - old).abs() * 10 > old) {
                            x.send_micros = Some(m);
                            x.dirty = true;
                        }
                    }
                    if let Some(x) = h.get_mut(&d.name).filter(|x| x.dirty) {
                        x.dirty = false;
                        rows.push(DestinationRow {
                            name: d.name.clone(),
                            channel: channel.as_str().into(),
                            state: if x.is_up() { "up" } else { "down" }.into(),
                            consecutive_failures: x.consecutive_failures.into(),
                            last_error: x.last_error.clone(),
                            down_since: x.down_since,
                            next_probe_at: x.next_probe_at,
                            send_micros: x.send_micros,
                            updated_at: now,
                        });
                    }
                }
            }
            rows
        });
        if rows.is_empty() {
            return Ok(());
        }
        let saved = async {
            let mut conn = store.conn().await?;
            for r in &rows {
                store::save(&mut conn, r).await?;
            }
            anyhow::Ok(())
        };
        let result = saved.await;
        if result.is_err() {
            // Written again with the next change or step, not lost.
            self.health(|h| {
                for r in &rows {
                    if let Some(x) = h.get_mut(&r.name) {
                        x.dirty = true;
                    }
                }
            });
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn an_sms_is_valid_at_the_centre_only_until_the_appointment() {
        let now = Utc.with_ymd_and_hms(2030, 1, 7, 8, 0, 0).unwrap();
        let at = |h: u32, m: u32| Utc.with_ymd_and_hms(2030, 1, 7, h, m, 0).unwrap();
        assert_eq!(validity_minutes(now, at(9, 30)), Some(90));
        assert_eq!(
            validity_minutes(now, at(8, 0)),
            Some(1),
            "never zero: Kannel would read it as unset"
        );
    }

    #[test]
    fn a_claim_takes_what_begins_in_half_its_window_at_the_lower_known_rate() {
        let secs = std::time::Duration::from_secs;
        assert_eq!(claim_cap(None, secs(60)), u32::MAX);
        // Three connections at a second per message: 90 begin in 30 s.
        assert_eq!(claim_cap(Some(3.0), secs(60)), 90);
        assert_eq!(claim_cap(Some(0.001), secs(60)), 1, "never nothing");
        assert_eq!(claim_cap(Some(3.0), secs(0)), 1, "never nothing");
    }

    #[test]
    fn a_send_begins_early_enough_to_end_before_the_leases_last_quarter() {
        let secs = std::time::Duration::from_secs;
        // The default lease of 120 s and a timeout of 30 s: sends end by 90 s, begin by 60 s.
        assert_eq!(start_window(120, secs(30)), secs(60));
        assert_eq!(start_window(4, secs(2)), secs(1));
        assert_eq!(
            start_window(5, secs(3)),
            std::time::Duration::from_millis(750)
        );
        // A timeout as long as three quarters of the lease (`config check` refuses it): no
        // send may begin later than its claim.
        assert_eq!(start_window(4, secs(3)), secs(0));
        assert_eq!(start_window(4, secs(30)), secs(0));
        // The outbox has no timeout.
        assert_eq!(start_window(120, secs(0)), secs(90));
    }

    #[test]
    fn message_ids_are_derived_from_the_notification() {
        assert_eq!(
            message_id(42, 7, "kreis.example"),
            "absage.42.7@kreis.example"
        );
    }
}
