//! `[email]`, `[sms]` and `[outbox]`: how messages leave, to the local outbox or over the
//! network, through SMTP relays and SMS gateways.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::secret::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Write messages to the local outbox folder (the embedded default; nothing leaves the host).
    #[default]
    File,
    /// Send over the network: SMTP relays for email, gateways for SMS.
    Network,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct EmailSettings {
    pub transport: Transport,
    /// In failover order: the first relay that is up takes the message.
    pub relays: Vec<SmtpRelayConfig>,
    /// Domain of generated Message-IDs; defaults to the sender's domain.
    pub message_id_domain: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SmsSettings {
    pub transport: Transport,
    /// In failover order.
    pub gateways: Vec<SmsGatewayConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxSettings {
    pub dir: PathBuf,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("data/outbox"),
        }
    }
}

/// How the connection to a relay is encrypted.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain text; only for a relay on the same host or a trusted network.
    None,
    /// Plain connect, then `STARTTLS` (required: a relay that does not offer it is an error).
    #[default]
    Starttls,
    /// Implicit TLS from the first byte (SMTPS, usually port 465).
    Tls,
}

#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct SmtpRelayConfig {
    pub name: String,
    pub host: String,
    pub port: u16,
    #[serde(default)]
    pub tls: TlsMode,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// Connections in use at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Limit for connecting and for each whole send.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// EHLO name; the host name when unset.
    pub hello_name: Option<String>,
    /// Accept invalid certificates: only for tests.
    #[serde(default)]
    pub danger_accept_invalid_certs: bool,
}

/// One configured SMS gateway (`[[sms.gateways]]`, chosen by `kind`). The file outbox is
/// configured apart from these (`[outbox]`).
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SmsGatewayConfig {
    Kannel(KannelConfig),
    Http(HttpGatewayConfig),
}

impl SmsGatewayConfig {
    pub fn name(&self) -> &str {
        match self {
            SmsGatewayConfig::Kannel(k) => &k.name,
            SmsGatewayConfig::Http(h) => &h.name,
        }
    }

    /// Requests in flight at once.
    pub fn concurrency(&self) -> usize {
        match self {
            SmsGatewayConfig::Kannel(k) => k.concurrency,
            SmsGatewayConfig::Http(h) => h.concurrency,
        }
    }
}

#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct KannelConfig {
    pub name: String,
    /// e.g. `http://127.0.0.1:13013/cgi-bin/sendsms`
    pub url: String,
    pub username: String,
    pub password: Secret,
    /// Route through this SMSC id instead of Kannel's own choice.
    #[serde(default)]
    pub smsc: Option<String>,
    /// Requests in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    #[default]
    Post,
}

/// The request body of a generic gateway; string values are templates.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(rename_all = "lowercase")]
pub enum BodyTemplate {
    /// Any JSON document; placeholders are filled in its string values.
    Json(serde_json::Value),
    /// `application/x-www-form-urlencoded` fields.
    Form(BTreeMap<String, String>),
}

/// A header carrying a credential, e.g. `Authorization` = `Bearer …`.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct SecretHeader {
    pub name: String,
    pub value: Secret,
}

/// A third-party HTTP SMS API, described by templates.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct HttpGatewayConfig {
    pub name: String,
    #[serde(default)]
    pub method: HttpMethod,
    pub url: String,
    /// Query parameters (templates).
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    #[serde(default)]
    pub body: Option<BodyTemplate>,
    #[serde(default)]
    pub auth_header: Option<SecretHeader>,
    #[serde(default = "default_success_status")]
    pub success_status: Vec<u16>,
    /// A successful answer must also contain this text (for APIs that answer 200 to errors).
    #[serde(default)]
    pub success_body_contains: Option<String>,
    /// Where the gateway's message id is in a JSON answer, e.g. `/messages/0/id`.
    #[serde(default)]
    pub message_id_json_pointer: Option<String>,
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// How this provider's delivery reports read; without it a report must carry `status` as
    /// a word (`delivered`, `failed`, …) or a Kannel number.
    #[serde(default)]
    pub delivery_reports: Option<Box<ReportMapping>>,
}

/// Where a provider puts the status (and, for a callback URL set once at the provider,
/// absage's reference `{dlr_ref}`) in its delivery reports, and what its statuses mean.
/// A place is a form or query field name (`MessageStatus`) or a JSON pointer (`/status`).
#[derive(Deserialize, Serialize, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct ReportMapping {
    pub status: String,
    /// Where `{dlr_ref}` comes back, for reports to `/hooks/dlr/gateway/<name>`; without it,
    /// each message's own `{dlr_url}` says which message a report is about.
    #[serde(default)]
    pub reference: Option<String>,
    /// Statuses that mean the SMS reached the phone.
    pub delivered: Vec<String>,
    /// Statuses that mean it did not and will not (the citizen moves on).
    pub failed: Vec<String>,
    /// Statuses on the way (accepted, queued, buffered): taken, nothing final.
    #[serde(default)]
    pub pending: Vec<String>,
}

impl ReportMapping {
    /// absage's delivery state for a provider's status (case-insensitive); None: unknown.
    pub fn state_of(&self, status: &str) -> Option<&'static str> {
        let is = |list: &[String]| list.iter().any(|s| s.eq_ignore_ascii_case(status.trim()));
        if is(&self.delivered) {
            Some("delivered")
        } else if is(&self.failed) {
            Some("undelivered")
        } else if is(&self.pending) {
            Some("buffered")
        } else {
            None
        }
    }
}

fn default_success_status() -> Vec<u16> {
    vec![200, 201, 202]
}

fn default_concurrency() -> usize {
    8
}

fn default_timeout_secs() -> u64 {
    30
}
