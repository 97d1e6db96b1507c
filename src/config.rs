//! One typed configuration: defaults → TOML file → `ABSAGE_SECTION__KEY` environment overrides,
//! secrets from the environment or from `*_file` keys, validated once at start with messages
//! that name the key.

use crate::dispatch::email::SmtpRelayConfig;
use crate::dispatch::sms::SmsGatewayConfig;
use crate::domain::quiet::QuietHours;
use crate::import::csv::CsvOptions;
use crate::import::mapping::{FieldMapping, Formats};
use crate::secret::Secret;
use anyhow::{Context, bail};
use chrono_tz::Tz;
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The whole configuration. Every section has defaults, so an empty file is a valid (if useless)
/// configuration and `absage config check` shows what is in force.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub tenants: Vec<TenantSettings>,
    pub sources: Vec<SourceSettings>,
    pub email: EmailSettings,
    pub sms: SmsSettings,
    pub outbox: OutboxSettings,
    pub queue: QueueSettings,
    pub templates: TemplateSettings,
    pub log: LogSettings,
    pub retention: RetentionSettings,
    pub http: HttpSettings,
    pub alerts: AlertSettings,
}

/// Outages declared by monitoring (`[alerts]`): Alertmanager posts to `/hooks/alertmanager`
/// (with `Authorization: Bearer TOKEN`), and each firing alert that matches a rule declares an
/// outage for the rule's tenant, services and locations — subject to the four-eyes rule.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertSettings {
    /// The bearer token Alertmanager sends (`token_file` reads it from a file); 16+ characters.
    pub token: Secret,
    pub rules: Vec<AlertRule>,
}

/// Which alerts declare which outage.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    /// Labels the alert must carry, all of them with these values (`alertname`, `kreis`, …).
    #[serde(rename = "match")]
    pub matchers: BTreeMap<String, String>,
    pub tenant: String,
    #[serde(default)]
    pub services: Vec<String>,
    #[serde(default)]
    pub locations: Vec<String>,
    /// The outage's window: from the alert's start for this many hours (amend it when it is
    /// over sooner or later).
    pub hours: u32,
    /// The reason, as citizens read it.
    pub reason: String,
}

impl AlertRule {
    /// Whether an alert with `labels` matches.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        !self.matchers.is_empty()
            && self
                .matchers
                .iter()
                .all(|(k, v)| labels.get(k).is_some_and(|l| l == v))
    }
}

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

/// When contact data goes: runs are closed once over, and their citizens' names, addresses and
/// numbers (and the message texts) are deleted `days` later; the counts stay.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSettings {
    pub days: u32,
    /// How often the daemon closes finished runs and purges (on one instance at a time).
    pub interval_minutes: u32,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            days: 30,
            interval_minutes: 60,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `sqlite://data/absage.db` (the embedded default) or `postgres://…`. May hold a password,
    /// hence a secret.
    pub url: Secret,
    pub max_connections: u32,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: Secret::new("sqlite://data/absage.db"),
            max_connections: 8,
        }
    }
}

/// Which channels a tenant uses and in what order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ChannelPolicy {
    /// Email and SMS, each wherever the booking has the address.
    #[default]
    Both,
    /// Email; SMS only when email fails for good, is missing, or has not gone out by
    /// `fallback_lead_minutes` before the appointment.
    EmailFirst,
    /// The mirror image of `email_first`.
    SmsFirst,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSettings {
    pub id: String,
    pub name: String,
    /// IANA zone in which exports are read and messages are written.
    #[serde(with = "tz_serde")]
    pub time_zone: Tz,
    #[serde(default = "default_language")]
    pub default_language: String,
    /// Languages tried, in order, when no template exists in the booking's language.
    #[serde(default)]
    pub fallback_languages: Vec<String>,
    pub hotline: String,
    /// `Name <address>` that citizens see as the sender.
    pub email_from: String,
    #[serde(default)]
    pub reply_to: Option<String>,
    /// Alphanumeric sender id (max. 11 characters) or a number.
    pub sms_sender: String,
    #[serde(default)]
    pub channel_policy: ChannelPolicy,
    #[serde(default = "default_fallback_lead")]
    pub fallback_lead_minutes: i64,
    /// No SMS in these local hours (`"21:00-07:00"`), unless the appointment is closer than
    /// `quiet_hours_urgent_minutes` after they end.
    #[serde(default)]
    pub quiet_hours: Option<QuietHours>,
    #[serde(default = "default_quiet_urgent")]
    pub quiet_hours_urgent_minutes: i64,
    /// Emails in another language than German also carry the German text, so that family or
    /// staff can read it too.
    #[serde(default)]
    pub bilingual: bool,
    /// An SMS longer than this many segments is sent in its short form (no reason, service or
    /// link); if that is still longer, the booking gets no SMS (its email and the call list
    /// still apply). Never truncated at the gateway, never a reason to refuse a declaration.
    #[serde(default = "default_max_segments")]
    pub max_sms_segments: usize,
    /// What one SMS segment costs (for the impact preview), in `currency`.
    #[serde(default)]
    pub sms_price_per_segment: Option<f64>,
    /// What one SMS segment costs to mobiles of a country (ISO 3166 alpha-2 → price, `{ SY =
    /// 0.25 }`), in `currency`; countries not named cost `sms_price_per_segment`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sms_price_per_country: BTreeMap<String, f64>,
    /// SMS only to mobiles of these countries (ISO 3166 alpha-2, `["DE", "AT", "UA"]`); absent:
    /// every country. A booking whose mobile is elsewhere gets no SMS: its email still goes
    /// out, and without one it is on the call list ("mobile number in a country without SMS").
    #[serde(default)]
    pub sms_countries: Option<Vec<String>>,
    #[serde(default = "default_currency")]
    pub currency: String,
    /// A complete template folder of the tenant's own, instead of the shared `templates.dir`.
    #[serde(default)]
    pub templates_dir: Option<PathBuf>,
    /// Where citizens book a new appointment; cancellations point there when set.
    #[serde(default)]
    pub rebook_url: Option<String>,
    /// Four-eyes rule for the API and web UI: an action that would take one account above
    /// this many bookings within `approval_window_minutes` waits until a different approver
    /// approves it. Counted: the bookings a declaration or batch affects, an amendment adds or
    /// takes out, a retraction or confirmed removal takes out. None: never waits.
    #[serde(default)]
    pub approval_threshold: Option<u64>,
    /// The window in which one account's actions add up for `approval_threshold`.
    #[serde(default = "default_approval_window")]
    pub approval_window_minutes: u64,
}

fn default_approval_window() -> u64 {
    24 * 60
}

fn default_max_segments() -> usize {
    4
}

fn default_currency() -> String {
    "EUR".into()
}

fn default_quiet_urgent() -> i64 {
    120
}

fn default_language() -> String {
    "de".into()
}
fn default_fallback_lead() -> i64 {
    12 * 60
}

impl TenantSettings {
    /// The language chain for templates: the tenant's fallbacks, then its default.
    pub fn language_chain(&self) -> Vec<String> {
        let mut chain = self.fallback_languages.clone();
        if !chain.contains(&self.default_language) {
            chain.push(self.default_language.clone());
        }
        chain
    }

    /// The country of the mobile `e164` when `sms_countries` leaves it out, so that it gets no
    /// SMS; `None` when an SMS may go there. A number of no known country (`+882…`) is outside
    /// every allow-list and reported as `"unknown"`.
    pub fn sms_barred_country(&self, e164: &str) -> Option<String> {
        let allowed = self.sms_countries.as_ref()?;
        let country = crate::domain::phone::region_code(e164);
        match country {
            Some(c) if allowed.iter().any(|a| a.trim().eq_ignore_ascii_case(&c)) => None,
            Some(c) => Some(c),
            None => Some(UNKNOWN_COUNTRY.to_owned()),
        }
    }

    /// What one SMS segment to a mobile of `country` costs: its `sms_price_per_country`, else
    /// `sms_price_per_segment`.
    pub fn sms_segment_price(&self, country: Option<&str>) -> Option<f64> {
        country
            .and_then(|c| {
                self.sms_price_per_country
                    .iter()
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case(c))
            })
            .map(|(_, p)| *p)
            .or(self.sms_price_per_segment)
    }
}

/// How previews and call lists name the country of a number libphonenumber cannot place.
pub const UNKNOWN_COUNTRY: &str = "unknown";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Csv,
    /// JSON (an array of records, possibly under `json.records_path`) or NDJSON.
    Json,
    /// iCalendar: every VEVENT is a booking (recurring ones expand within a horizon).
    Ics,
    /// A spreadsheet: XLSX, ODS, XLS or XLSB (`kind = "xlsx"` and `"ods"` mean the same).
    #[serde(alias = "xlsx", alias = "ods")]
    Spreadsheet,
    /// A query against an exported SQLite file or a live PostgreSQL or MySQL/MariaDB database
    /// (`[sources.sql]`).
    #[serde(
        alias = "sqlite",
        alias = "postgres",
        alias = "mysql",
        alias = "mariadb"
    )]
    Sql,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ImportMode {
    /// The export is the whole calendar: bookings missing from it are gone.
    #[default]
    Full,
    /// The export holds changes only: its rows add or update bookings, rows whose status is
    /// cancelled cancel them, and bookings it does not mention stay as they are.
    Incremental,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSettings {
    pub name: String,
    pub tenant: String,
    pub kind: SourceKind,
    /// The export file (all kinds but `sql`, whose database is `sql.url`).
    #[serde(default)]
    pub path: PathBuf,
    /// Cron expression with seconds (`0 */15 * * * *`), read in the tenant's time zone; without
    /// it the source is imported only by `absage import`.
    #[serde(default)]
    pub schedule: Option<String>,
    #[serde(default)]
    pub mode: ImportMode,
    /// A full snapshot that would remove more than this share of the source's active bookings is
    /// refused as a whole (a truncated or wrong file) unless forced.
    #[serde(default = "default_max_removal")]
    pub max_removal_share: f64,
    /// Look at `path` (a folder or glob) every this many seconds and import a new export as
    /// soon as it has stopped changing, besides the schedule.
    pub watch_secs: Option<u64>,
    /// Flag the source in `absage status` when its last successful import is older than this.
    #[serde(default)]
    pub stale_after_minutes: Option<u64>,
    #[serde(default)]
    pub csv: CsvOptions,
    #[serde(default)]
    pub json: crate::import::json::JsonOptions,
    #[serde(default)]
    pub ics: crate::import::ics::IcsOptions,
    #[serde(default)]
    pub sheet: crate::import::sheet::SheetOptions,
    #[serde(default)]
    pub sql: crate::import::sql::SqlOptions,
    /// Fetch the export from a URL instead of `path`.
    #[serde(default)]
    pub http: crate::import::locate::HttpSource,
    /// Caps on cells, records, lines and unzipped sizes: a larger export is refused whole.
    #[serde(default)]
    pub limits: crate::import::limits::Limits,
    pub fields: FieldMapping,
    #[serde(default)]
    pub formats: Formats,
}

/// A calendar of upcoming appointments imported every few minutes loses a few per cent per
/// import (cancellations, appointments that ended); a quarter gone at once is a wrong file.
fn default_max_removal() -> f64 {
    0.25
}

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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueSettings {
    /// Delay before each retry after a transient failure; the last one repeats.
    pub retry_delays_secs: Vec<u64>,
    /// Up to this share is added at random to each delay, so a backlog does not return as a burst.
    pub retry_jitter: f64,
    pub max_attempts: u32,
    /// How long a claimed notification belongs to one process; after a crash it is due again then.
    pub lease_secs: u64,
    /// How often a destination marked down is tried again.
    pub probe_interval_secs: u64,
    /// Connection-level failures in a row that mark a destination down.
    pub down_after_failures: u32,
    /// Notifications claimed per step.
    pub batch_size: u32,
    /// How often an idle dispatcher looks for due work, in milliseconds. A declaration made by
    /// another process is picked up within this time.
    pub idle_poll_ms: u64,
    /// On shutdown, how long in-flight sends may take before the process exits anyway.
    pub shutdown_grace_secs: u64,
    /// `/readyz` fails once the dispatcher's steps have failed this long without a success
    /// (the database refuses writes, say).
    pub stall_secs: u64,
    /// Messages per second per destination name (relay or gateway), for all instances
    /// together, spread evenly (no burst); absent = unlimited.
    pub rate_limits: BTreeMap<String, f64>,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            retry_delays_secs: vec![30, 120, 600, 1800, 3600],
            retry_jitter: 0.2,
            max_attempts: 8,
            lease_secs: 120,
            probe_interval_secs: 30,
            down_after_failures: 3,
            batch_size: 200,
            idle_poll_ms: 500,
            shutdown_grace_secs: 20,
            stall_secs: 60,
            rate_limits: BTreeMap::new(),
        }
    }
}

impl QueueSettings {
    pub fn retry_policy(&self) -> crate::domain::notification::RetryPolicy {
        crate::domain::notification::RetryPolicy {
            delays: self
                .retry_delays_secs
                .iter()
                .map(|s| chrono::Duration::seconds(*s as i64))
                .collect(),
            jitter: self.retry_jitter,
            max_attempts: self.max_attempts,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TemplateSettings {
    pub dir: PathBuf,
}

impl Default for TemplateSettings {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("config/templates"),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `text` for a terminal, `json` for a log collector.
    pub format: String,
    /// A tracing filter, e.g. `info` or `absage=debug,sqlx=warn`; `RUST_LOG` wins when set.
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

mod tz_serde {
    use chrono_tz::Tz;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(tz.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Tz, D::Error> {
        let name = String::deserialize(d)?;
        name.parse::<Tz>().map_err(|_| {
            serde::de::Error::custom(format!(
                "{name:?} is not an IANA time zone (e.g. \"Europe/Berlin\")"
            ))
        })
    }
}

/// Keys whose value may instead come from a file named by `<key>_file` (Docker/systemd secrets).
const SECRET_KEYS: &[&str] = &[
    "password",
    "token",
    "api_key",
    "secret",
    "url",
    "metrics_token",
];

impl Settings {
    /// Loads defaults, then the TOML file (if given), then `ABSAGE_SECTION__KEY` variables.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Settings> {
        let mut figment = Figment::new();
        if let Some(path) = path {
            if !path.exists() {
                bail!("config file {} does not exist", path.display());
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        // Only ABSAGE_SECTION__KEY variables are configuration; others with the prefix (such as
        // ABSAGE_CONFIG, the file's path) are not.
        figment = figment.merge(
            Env::prefixed("ABSAGE_")
                .filter(|key| key.as_str().contains("__"))
                .split("__"),
        );
        let mut value: serde_json::Value = figment
            .extract()
            .map_err(|e| anyhow::anyhow!("{}", describe_figment_error(e)))?;
        resolve_secret_files(&mut value)?;
        let settings: Settings = serde_path_to_error::deserialize(value)
            .map_err(|e| anyhow::anyhow!("config key `{}`: {}", e.path(), e.inner()))?;
        settings.validate()?;
        Ok(settings)
    }

    pub fn tenant(&self, id: &str) -> Option<&TenantSettings> {
        self.tenants.iter().find(|t| t.id == id)
    }

    pub fn source(&self, name: &str) -> Option<&SourceSettings> {
        self.sources.iter().find(|s| s.name == name)
    }

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
                    crate::dispatch::sms::SmsGatewayConfig::Kannel(k) => k.timeout_secs,
                    crate::dispatch::sms::SmsGatewayConfig::Http(h) => h.timeout_secs,
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

    /// The effective configuration as TOML, secrets shown as `***`: also the credentials in
    /// URLs (an HTTP source's `user:password@` and `?token=`, a gateway's `?password=`) and
    /// in the query and body templates of SMS gateways (`api_key = …`).
    pub fn redacted_toml(&self) -> anyhow::Result<String> {
        let mut value = toml::Value::try_from(self).context("printing the configuration")?;
        redact_value(&mut value, false);
        toml::to_string_pretty(&value).context("printing the configuration")
    }
}

/// Redacts every URL in `value`, and, inside request templates (`in_template`), every value
/// whose name says it is a credential.
fn redact_value(value: &mut toml::Value, in_template: bool) {
    match value {
        toml::Value::String(s) if s.contains("://") => *s = crate::secret::redact_url(s),
        toml::Value::Table(table) => {
            for (key, v) in table.iter_mut() {
                let template = in_template || key == "query" || key == "body";
                if template && v.is_str() && crate::secret::is_secret_name(key) {
                    *v = toml::Value::String("***".into());
                } else {
                    redact_value(v, template);
                }
            }
        }
        toml::Value::Array(items) => {
            for v in items {
                redact_value(v, in_template);
            }
        }
        _ => {}
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
fn valid_sms_sender(s: &str) -> bool {
    let digits = s.strip_prefix('+').unwrap_or(s);
    if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        return digits.len() <= 15;
    }
    (1..=11).contains(&s.chars().count())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-' || c == '.')
}

fn describe_figment_error(e: figment::Error) -> String {
    e.into_iter()
        .map(|e| {
            let key = e.path.join(".");
            if key.is_empty() {
                e.kind.to_string()
            } else {
                format!("config key `{key}`: {}", e.kind)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Replaces every `<secret>_file = "PATH"` by `<secret> = <contents of PATH, trimmed>`.
fn resolve_secret_files(value: &mut serde_json::Value) -> anyhow::Result<()> {
    match value {
        serde_json::Value::Object(map) => {
            for key in SECRET_KEYS {
                let file_key = format!("{key}_file");
                if let Some(path) = map.remove(&file_key) {
                    let path = path
                        .as_str()
                        .with_context(|| format!("config key `{file_key}` must be a path"))?
                        .to_owned();
                    let secret = std::fs::read_to_string(&path).with_context(|| {
                        format!("config key `{file_key}`: cannot read secret file {path}")
                    })?;
                    map.insert(
                        (*key).to_owned(),
                        serde_json::Value::String(secret.trim_end().to_owned()),
                    );
                }
            }
            for v in map.values_mut() {
                resolve_secret_files(v)?;
            }
        }
        serde_json::Value::Array(items) => {
            for v in items {
                resolve_secret_files(v)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
// figment's `Jail` closures return its large error type; that is its API, not ours.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    const MINIMAL: &str = r#"
[[tenants]]
id = "soest"
name = "Kreis Soest"
time_zone = "Europe/Berlin"
hotline = "02921 30-0"
email_from = "Kreis Soest <termine@kreis-soest.example>"
sms_sender = "KreisSoest"
"#;

    fn load(jail: &Jail, text: &str) -> anyhow::Result<Settings> {
        jail.create_file("absage.toml", text).unwrap();
        Settings::load(Some(Path::new("absage.toml")))
    }

    #[test]
    fn sms_senders_are_short_names_or_phone_numbers() {
        assert!(valid_sms_sender("KreisSoest"));
        assert!(valid_sms_sender("+4929213000"));
        assert!(!valid_sms_sender("Kreisverwaltung Soest"));
        assert!(!valid_sms_sender(""));
        assert!(!valid_sms_sender("Kreis/Soest"));
    }

    #[test]
    fn the_shipped_example_config_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/absage.toml");
        let s = Settings::load(Some(&path)).unwrap();
        assert_eq!(s.tenants[0].time_zone, chrono_tz::Europe::Berlin);
        assert_eq!(s.sources[0].csv.delimiter, ';');
    }

    #[test]
    fn the_commented_sms_country_keys_of_the_example_config_are_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/absage.toml");
        let text = std::fs::read_to_string(path)
            .unwrap()
            .replace("# sms_price_per_country =", "sms_price_per_country =")
            .replace("# sms_countries =", "sms_countries =");
        Jail::expect_with(|jail| {
            let s = load(jail, &text).unwrap();
            let t = &s.tenants[0];
            assert_eq!(t.sms_segment_price(Some("SY")), Some(0.25));
            assert_eq!(t.sms_countries.as_deref().map(<[String]>::len), Some(3));
            Ok(())
        });
    }

    #[test]
    fn sms_countries_bar_other_countries_and_prices_follow_the_country() {
        Jail::expect_with(|jail| {
            let s = load(jail, MINIMAL).unwrap();
            let t = &s.tenants[0];
            assert_eq!(t.sms_countries, None, "absent: every country");
            assert_eq!(t.sms_barred_country("+963944567890"), None);

            let text = MINIMAL.replace(
                "sms_sender",
                "sms_countries = [\"DE\", \"ua\"]\nsms_price_per_segment = 0.08\nsms_sender",
            );
            let s = load(
                jail,
                &format!("{text}[tenants.sms_price_per_country]\nSY = 0.3\n"),
            )
            .unwrap();
            let t = &s.tenants[0];
            assert_eq!(t.sms_barred_country("+491711234567"), None);
            assert_eq!(t.sms_barred_country("+380671234567"), None, "any case");
            assert_eq!(t.sms_barred_country("+963944567890").as_deref(), Some("SY"));
            assert_eq!(t.sms_barred_country("+905321234567").as_deref(), Some("TR"));
            assert_eq!(
                t.sms_barred_country("+882345678901").as_deref(),
                Some(UNKNOWN_COUNTRY)
            );
            assert_eq!(t.sms_segment_price(Some("SY")), Some(0.3));
            assert_eq!(t.sms_segment_price(Some("DE")), Some(0.08));
            assert_eq!(t.sms_segment_price(None), Some(0.08));

            let none = MINIMAL.replace("sms_sender", "sms_countries = []\nsms_sender");
            let s = load(jail, &none).unwrap();
            assert!(s.tenants[0].sms_barred_country("+491711234567").is_some());
            Ok(())
        });
    }

    #[test]
    fn environment_variables_override_the_file() {
        Jail::expect_with(|jail| {
            jail.set_env("ABSAGE_DATABASE__URL", "sqlite:///tmp/other.db");
            jail.set_env("ABSAGE_QUEUE__LEASE_SECS", "7");
            jail.set_env("ABSAGE_UNRELATED", "not configuration");
            let s = load(jail, MINIMAL).unwrap();
            assert_eq!(s.database.url.expose(), "sqlite:///tmp/other.db");
            assert_eq!(s.queue.lease_secs, 7);
            Ok(())
        });
    }

    #[test]
    fn secrets_can_come_from_files_and_are_never_printed() {
        Jail::expect_with(|jail| {
            jail.create_file("db-url", "sqlite://secret.db\n").unwrap();
            let s = load(
                jail,
                &format!("[database]\nurl_file = \"db-url\"\n{MINIMAL}"),
            )
            .unwrap();
            assert_eq!(s.database.url.expose(), "sqlite://secret.db");
            let printed = s.redacted_toml().unwrap();
            assert!(!printed.contains("secret.db"), "{printed}");
            Ok(())
        });
    }

    #[test]
    fn credentials_in_urls_and_gateway_templates_are_never_printed() {
        let text = format!(
            r#"{MINIMAL}
[[sources]]
name = "web"
tenant = "soest"
kind = "csv"
[sources.http]
url = "https://kim:pa55word@termine.example/export.csv?token=t0ken&format=csv"
[sources.fields]
key = "key"
date = "d"
service = "s"
name = "n"
[sms]
transport = "network"
[[sms.gateways]]
kind = "kannel"
name = "kannel"
url = "http://127.0.0.1:13013/cgi-bin/sendsms?password=kannelpw"
username = "absage"
password = "kannelpw2"
[[sms.gateways]]
kind = "http"
name = "provider"
url = "https://api.sms.example/send?access_token=acce55"
[sms.gateways.query]
api_key = "k3y"
to = "{{to}}"
[sms.gateways.body.json]
signature = "s1gn"
text = "{{text}}"
"#
        );
        Jail::expect_with(|jail| {
            let printed = load(jail, &text).unwrap().redacted_toml().unwrap();
            for secret in [
                "pa55word", "t0ken", "kannelpw", "acce55", "k3y", "s1gn", "kim",
            ] {
                assert!(!printed.contains(secret), "{secret} in:\n{printed}");
            }
            for kept in [
                "https://***@termine.example/export.csv?token=***&format=csv",
                "to = \"{to}\"",
                "key = \"key\"",
                "username = \"absage\"",
            ] {
                assert!(printed.contains(kept), "{kept} missing in:\n{printed}");
            }
            let database = printed.find("[database]").unwrap();
            assert!(
                database < printed.find("[[tenants]]").unwrap(),
                "in the order of the settings:\n{printed}"
            );
            Ok(())
        });
    }

    #[test]
    fn errors_name_the_key_and_the_problem() {
        Jail::expect_with(|jail| {
            let bad_zone = MINIMAL.replace("Europe/Berlin", "Europe/Berln");
            let e = format!("{:#}", load(jail, &bad_zone).unwrap_err());
            assert!(
                e.contains("tenants[0].time_zone") && e.contains("Europe/Berln"),
                "{e}"
            );

            let e = format!(
                "{:#}",
                load(
                    jail,
                    &format!("{MINIMAL}\n[queue]\nlease_secs = \"soon\"\n")
                )
                .unwrap_err()
            );
            assert!(e.contains("queue.lease_secs"), "{e}");

            let e = format!(
                "{:#}",
                load(jail, &format!("{MINIMAL}\n[queue]\nleese_secs = 3\n")).unwrap_err()
            );
            assert!(e.contains("leese_secs"), "{e}");

            let source = "\n[[sources]]\nname = \"x\"\ntenant = \"nowhere\"\nkind = \"csv\"\npath = \"x.csv\"\nschedule = \"every minute\"\n[sources.fields]\nkey = \"k\"\ndate = \"d\"\nservice = \"s\"\nname = \"n\"\n";
            let e = format!(
                "{:#}",
                load(jail, &format!("{MINIMAL}{source}")).unwrap_err()
            );
            assert!(
                e.contains("sources[0].tenant") && e.contains("sources[0].schedule"),
                "{e}"
            );

            let e = format!(
                "{:#}",
                load(
                    jail,
                    &format!("{MINIMAL}\n[email]\ntransport = \"network\"\n")
                )
                .unwrap_err()
            );
            assert!(e.contains("email.relays"), "{e}");

            let bad_countries = MINIMAL.replace(
                "sms_sender",
                "sms_countries = [\"DE\", \"ua\", \"XY\"]\nsms_sender",
            );
            let e = format!("{:#}", load(jail, &bad_countries).unwrap_err());
            assert!(
                e.contains("tenants[0].sms_countries[2]")
                    && e.contains("\"XY\"")
                    && !e.contains("sms_countries[1]"),
                "{e}"
            );
            let bad_price = format!("{MINIMAL}[tenants.sms_price_per_country]\nSYR = 0.3\n");
            let e = format!("{:#}", load(jail, &bad_price).unwrap_err());
            assert!(e.contains("tenants[0].sms_price_per_country.SYR"), "{e}");

            let e = format!(
                "{:#}",
                load(jail, &format!("{MINIMAL}\n[http]\nlisten = \"8080\"\n")).unwrap_err()
            );
            assert!(e.contains("http.listen") && e.contains("\"8080\""), "{e}");
            for good in [
                "",
                "0.0.0.0:8080",
                "[::1]:80",
                "localhost:8080",
                "absage.kreis:80",
            ] {
                let text = format!("{MINIMAL}\n[http]\nlisten = \"{good}\"\n");
                assert!(load(jail, &text).is_ok(), "{good}");
            }
            let hung = format!(
                "{MINIMAL}\n[queue]\nlease_secs = 40\n[email]\ntransport = \"network\"\n\
                 [[email.relays]]\nname = \"a\"\nhost = \"h\"\nport = 25\ntimeout_secs = 30\n"
            );
            let e = format!("{:#}", load(jail, &hung).unwrap_err());
            assert!(
                e.contains("email.relays[0].timeout_secs") && e.contains("queue.lease_secs"),
                "{e}"
            );
            assert!(
                load(
                    jail,
                    &hung.replace("timeout_secs = 30", "timeout_secs = 29")
                )
                .is_ok()
            );

            let bad_link =
                MINIMAL.replace("sms_sender", "rebook_url = \"termine.example\"\nsms_sender");
            let e = format!("{:#}", load(jail, &bad_link).unwrap_err());
            assert!(e.contains("tenants[0].rebook_url"), "{e}");
            Ok(())
        });
    }
}
