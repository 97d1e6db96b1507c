//! One typed configuration: defaults → TOML file → `ABSAGE_SECTION__KEY` environment overrides,
//! secrets from the environment or from `*_file` keys, validated once at start with messages
//! that name the key.
//!
//! This file holds [`Settings`] and its loading; the sections live by topic in `tenant.rs`,
//! `transport.rs` (email, SMS, outbox), `queue.rs`, `http.rs`, `alerts.rs`, `bounces.rs` and `storage.rs`
//! (database, retention), the checks across them in `validate.rs`. A source's settings are the
//! importer's ([`crate::import::SourceSettings`]).

mod alerts;
mod bounces;
mod http;
mod queue;
mod storage;
mod tenant;
mod transport;
mod validate;

pub use alerts::{AlertRule, AlertSettings};
pub use bounces::{BounceSettings, ImapSettings};
pub use http::{HttpSettings, WebhookSettings};
pub use queue::QueueSettings;
pub use storage::{DatabaseSettings, RetentionSettings};
pub use tenant::{ChannelPolicy, TenantSettings, UNKNOWN_COUNTRY};
pub use transport::{
    BodyTemplate, EmailSettings, HttpGatewayConfig, HttpMethod, KannelConfig, OutboxSettings,
    ReportMapping, SecretHeader, SmsGatewayConfig, SmsSettings, SmtpRelayConfig, TlsMode,
    Transport,
};

use crate::import::SourceSettings;
use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

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
    pub bounces: BounceSettings,
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

    /// The time zone a tenant's staff read times in; UTC for a tenant no longer configured.
    pub fn zone_of(&self, tenant: &str) -> chrono_tz::Tz {
        self.tenant(tenant).map_or(chrono_tz::UTC, |t| t.time_zone)
    }

    pub fn source(&self, name: &str) -> Option<&SourceSettings> {
        self.sources.iter().find(|s| s.name == name)
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
mod tests;
