//! Checking the settings for what types alone cannot say: references, uniqueness, ranges,
//! parseable values; each problem names its key.

use anyhow::bail;
use std::str::FromStr;

use super::{Settings, SmsGatewayConfig, Transport};
use crate::import::SourceKind;

impl Settings {
    /// Checks what types alone cannot: references, uniqueness, ranges, parseable values.
    pub fn validate(&self) -> anyhow::Result<()> {
        let mut problems = Vec::new();
        let mut ids = std::collections::HashSet::new();
        for (i, t) in self.tenants.iter().enumerate() {
            let key = format!("tenants[{i}]");
            if !ids.insert(t.id.as_str()) {
                problems.push(format!("{key}.id: tenant id {:?} is used twice", t.id));
            }
            if t.id.trim().is_empty() {
                problems.push(format!("{key}.id: must not be empty"));
            }
            if t.email_from.parse::<lettre::message::Mailbox>().is_err() {
                problems.push(format!(
                    "{key}.email_from: {:?} is not an address like \"Kreis Soest <termine@kreis-soest.de>\"",
                    t.email_from
                ));
            }
            if let Some(r) = &t.reply_to
                && r.parse::<lettre::message::Mailbox>().is_err()
            {
                problems.push(format!("{key}.reply_to: {r:?} is not an email address"));
            }
            if !valid_sms_sender(&t.sms_sender) {
                problems.push(format!(
                    "{key}.sms_sender: {:?} must be 1 to 11 letters and digits (\"KreisSoest\") or a phone number of up to 15 digits",
                    t.sms_sender
                ));
            }
            for (j, l) in t.language_chain().iter().enumerate() {
                if crate::domain::language::Language::parse(l).is_err() {
                    problems.push(format!(
                        "{key}.fallback_languages[{j}] / default_language: {l:?} is not a language code"
                    ));
                }
            }
            if let Some(link) = &t.rebook_url
                && !url::Url::parse(link)
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            {
                problems.push(format!(
                    "{key}.rebook_url: {link:?} is not an http(s) address like \"https://termine.kreis.example/neu\""
                ));
            }
            if t.max_sms_segments == 0 {
                problems.push(format!("{key}.max_sms_segments: must be at least 1"));
            }
            for (j, code) in t.sms_countries.iter().flatten().enumerate() {
                if !crate::domain::phone::is_region_code(code.trim()) {
                    problems.push(format!(
                        "{key}.sms_countries[{j}]: {code:?} is not an ISO 3166 country code \
                         (two letters, like \"DE\", \"AT\" or \"UA\")"
                    ));
                }
            }
            for (code, price) in &t.sms_price_per_country {
                if !crate::domain::phone::is_region_code(code.trim()) {
                    problems.push(format!(
                        "{key}.sms_price_per_country.{code}: {code:?} is not an ISO 3166 \
                         country code (two letters, like \"DE\" or \"SY\")"
                    ));
                } else if !price.is_finite() || *price < 0.0 {
                    problems.push(format!(
                        "{key}.sms_price_per_country.{code}: must be a price of 0 or more"
                    ));
                }
            }
            if t.fallback_lead_minutes < 0 {
                problems.push(format!("{key}.fallback_lead_minutes: must not be negative"));
            }
        }
        let mut names = std::collections::HashSet::new();
        for (i, s) in self.sources.iter().enumerate() {
            let key = format!("sources[{i}]");
            if !names.insert(s.name.as_str()) {
                problems.push(format!(
                    "{key}.name: source name {:?} is used twice",
                    s.name
                ));
            }
            if self.tenant(&s.tenant).is_none() {
                problems.push(format!(
                    "{key}.tenant: no tenant with id {:?} is configured",
                    s.tenant
                ));
            }
            if let Some(cron) = &s.schedule
                && let Err(e) = cron::Schedule::from_str(cron)
            {
                problems.push(format!(
                    "{key}.schedule: {cron:?} is not a cron expression with seconds (e.g. \"0 */15 * * * *\"): {e}"
                ));
            }
            match s.kind {
                SourceKind::Sql
                    if s.sql.url.expose().is_empty() || s.sql.query.trim().is_empty() =>
                {
                    problems.push(format!(
                        "{key}.sql: a SQL source needs sql.url and sql.query"
                    ))
                }
                SourceKind::Sql => {}
                _ if s.path.as_os_str().is_empty() && s.http.url.is_empty() => {
                    problems.push(format!("{key}.path: the export file is missing"))
                }
                _ => {}
            }
            if s.watch_secs.is_some() && (s.kind == SourceKind::Sql || !s.http.url.is_empty()) {
                problems.push(format!(
                    "{key}.watch_secs: only a path (a folder or glob) can be watched"
                ));
            }
            if s.watch_secs == Some(0) {
                problems.push(format!("{key}.watch_secs: must be at least 1"));
            }
            if !(0.0..=1.0).contains(&s.max_removal_share) {
                problems.push(format!("{key}.max_removal_share: must be between 0 and 1"));
            }
            if let Err(problem) = s.limits.check() {
                problems.push(format!("{key}.{problem}"));
            }
        }
        if self.email.transport == Transport::Network && self.email.relays.is_empty() {
            problems.push(
                "email.relays: email.transport is \"network\" but no relay is configured".into(),
            );
        }
        if self.sms.transport == Transport::Network && self.sms.gateways.is_empty() {
            problems.push(
                "sms.gateways: sms.transport is \"network\" but no gateway is configured".into(),
            );
        }
        if self.retention.days == 0 {
            problems.push("retention.days: must be at least 1".into());
        }
        let q = &self.queue;
        if q.retry_delays_secs.is_empty() {
            problems.push("queue.retry_delays_secs: needs at least one delay".into());
        }
        if q.max_attempts == 0 || q.batch_size == 0 || q.lease_secs == 0 {
            problems
                .push("queue: max_attempts, batch_size and lease_secs must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&q.retry_jitter) {
            problems.push("queue.retry_jitter: must be between 0 and 1".into());
        }
        if !self.alerts.rules.is_empty() && self.alerts.token.expose().chars().count() < 16 {
            problems.push("alerts.token: rules are configured, so a token of at least 16 characters is needed".into());
        }
        for (i, r) in self.alerts.rules.iter().enumerate() {
            if self.tenant(&r.tenant).is_none() {
                problems.push(format!(
                    "alerts.rules[{i}].tenant: no tenant with id {:?}",
                    r.tenant
                ));
            }
            if r.matchers.is_empty() || r.hours == 0 || r.reason.trim().is_empty() {
                problems.push(format!(
                    "alerts.rules[{i}]: needs `match` labels, `hours` > 0 and a `reason`"
                ));
            }
        }
        problems.extend(self.bounces.problems());
        for (i, g) in self.sms.gateways.iter().enumerate() {
            let SmsGatewayConfig::Http(h) = g else {
                continue;
            };
            let Some(m) = &h.delivery_reports else {
                continue;
            };
            let key = format!("sms.gateways[{i}].delivery_reports");
            if self.http.webhooks.delivery_reports().is_none() {
                problems.push(format!(
                    "{key}: reports need [http.webhooks] public_url and secret (they sign them)"
                ));
            }
            if m.status.trim().is_empty() || m.delivered.is_empty() || m.failed.is_empty() {
                problems.push(format!(
                    "{key}: needs `status` (a field or a JSON pointer), and `delivered` and `failed` statuses"
                ));
            }
        }
        let hooks = &self.http.webhooks;
        if !hooks.public_url.is_empty() || !hooks.secret.expose().is_empty() {
            if !(hooks.public_url.starts_with("http://")
                || hooks.public_url.starts_with("https://"))
            {
                problems.push(format!(
                    "http.webhooks.public_url: {:?} is not an http(s) address",
                    hooks.public_url
                ));
            }
            if hooks.secret.expose().chars().count() < 16 {
                problems.push("http.webhooks.secret: needs at least 16 characters".into());
            }
        }
        // A send that may take longer than most of its lease could still be running when the
        // lease runs out and another instance claims the notification again: a hung relay
        // would then never be marked down, and its citizens could be told twice.
        let lease = q.lease_secs;
        let timeouts = self
            .email
            .relays
            .iter()
            .enumerate()
            .map(|(i, r)| (format!("email.relays[{i}].timeout_secs"), r.timeout_secs))
            .chain(self.sms.gateways.iter().enumerate().map(|(i, g)| {
                let t = match g {
                    SmsGatewayConfig::Kannel(k) => k.timeout_secs,
                    SmsGatewayConfig::Http(h) => h.timeout_secs,
                };
                (format!("sms.gateways[{i}].timeout_secs"), t)
            }));
        for (key, timeout) in timeouts {
            if timeout.saturating_mul(4) >= lease.saturating_mul(3) {
                problems.push(format!(
                    "{key}: {timeout} s is not below ¾ of queue.lease_secs ({lease} s); \
                     shorten the timeout or lengthen the lease"
                ));
            }
        }
        let listen = &self.http.listen;
        if !listen.is_empty() && !valid_listen_address(listen) {
            problems.push(format!(
                "http.listen: {listen:?} is not an address to listen on like \"127.0.0.1:8080\", \
                 \"[::]:8080\" or \"localhost:8080\" (empty: no listener)"
            ));
        }
        if self.http.max_connections == 0
            || self.http.header_timeout_secs == 0
            || self.http.body_timeout_secs == 0
            || self.http.login_attempts_per_minute == 0
        {
            problems.push(
                "http: max_connections, header_timeout_secs, body_timeout_secs and \
                 login_attempts_per_minute must be at least 1"
                    .into(),
            );
        }
        for (name, rate) in &q.rate_limits {
            if rate.is_nan() || *rate <= 0.0 {
                problems.push(format!("queue.rate_limits.{name}: must be a positive rate"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            bail!("invalid configuration:\n  - {}", problems.join("\n  - "))
        }
    }
}

/// `IP:PORT`, `[IPv6]:PORT` or `HOST:PORT` with a port number and a plausible host name.
fn valid_listen_address(s: &str) -> bool {
    if s.parse::<std::net::SocketAddr>().is_ok() {
        return true;
    }
    let Some((host, port)) = s.rsplit_once(':') else {
        return false;
    };
    port.parse::<u16>().is_ok()
        && !host.is_empty()
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

/// An alphanumeric sender id has at most 11 characters (GSM 03.40); a numeric one is a phone
/// number of up to 15 digits, optionally with a leading `+`.
pub(super) fn valid_sms_sender(s: &str) -> bool {
    let digits = s.strip_prefix('+').unwrap_or(s);
    if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        return digits.len() <= 15;
    }
    (1..=11).contains(&s.chars().count())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-' || c == '.')
}
