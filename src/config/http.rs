//! `[http]`: the listener of `absage run`, and the webhooks gateways call back on.

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// The HTTP listener of `absage run` (health, readiness, metrics, admin API, webhooks).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Address to listen on; an empty string turns the listener off.
    pub listen: String,
    /// Connections open at once; more wait in the kernel's queue. Lowered at start when the
    /// limit of open files would not leave enough for the database and the relays.
    pub max_connections: u32,
    /// A request's headers must arrive within this time; an idle keep-alive connection is
    /// closed after it too.
    pub header_timeout_secs: u64,
    /// A request's body must arrive within this time after its headers.
    pub body_timeout_secs: u64,
    /// A request must be answered within this time, else it is cut off with 503 (0: no limit).
    /// Generous: declaring an outage over 100,000 bookings takes seconds.
    pub request_timeout_secs: u64,
    /// Login attempts per minute from one client address (web UI), whatever the names tried.
    pub login_attempts_per_minute: u32,
    /// Reverse proxies whose `X-Forwarded-For` names the client (IP addresses); without them
    /// the client is the connection's peer.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// When set, `/metrics` answers only with `Authorization: Bearer TOKEN` (`metrics_token_file`
    /// reads it from a file).
    pub metrics_token: Secret,
    pub webhooks: WebhookSettings,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            max_connections: 512,
            header_timeout_secs: 10,
            body_timeout_secs: 30,
            request_timeout_secs: 120,
            login_attempts_per_minute: 10,
            trusted_proxies: Vec::new(),
            metrics_token: Secret::default(),
            webhooks: WebhookSettings::default(),
        }
    }
}

/// Callbacks from gateways (`[http.webhooks]`): SMS delivery reports reach absage at
/// `public_url/hooks/dlr/…`, signed per send with `secret`. Both empty: no reports.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookSettings {
    /// How gateways reach this absage (`https://absage.kreis.example`), reverse proxy included.
    pub public_url: String,
    /// Signs each callback URL; at least 16 characters (`secret_file` reads it from a file).
    pub secret: Secret,
}

impl WebhookSettings {
    /// The public URL and secret, when delivery reports are configured.
    pub fn delivery_reports(&self) -> Option<(&str, &str)> {
        (!self.public_url.is_empty() && !self.secret.expose().is_empty())
            .then(|| (self.public_url.as_str(), self.secret.expose()))
    }
}
