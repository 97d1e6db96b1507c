//! What an admin asks for, as the API, the web UI and the command line receive it, and its
//! parsing into a [`Declaration`]: windows in RFC 3339 or the tenant's local time, scopes, keys.

use super::Refused;
use crate::config::Settings;
use crate::domain::localtime::resolve_local;
use crate::domain::outage::{RunKind, Scope, Selection, Window};
use anyhow::Context;
use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// An admin's declaration, parsed.
#[derive(Debug, Clone)]
pub struct Declaration {
    pub tenant: String,
    pub kind: RunKind,
    pub selection: Selection,
    pub reason: String,
    pub created_by: String,
}

/// A declaration as the admin API, the web UI and the command line receive it. Times are
/// RFC 3339 or local times in the tenant's zone ("2026-11-02 08:00").
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeclareRequest {
    /// Start of the window (inclusive).
    pub from: Option<String>,
    /// End of the window (exclusive).
    pub to: Option<String>,
    /// Only these services (default: all).
    #[serde(default)]
    pub services: Vec<String>,
    /// Only these locations (default: all).
    #[serde(default)]
    pub locations: Vec<String>,
    /// A batch of these booking keys instead of a window.
    pub keys: Option<Vec<String>>,
    /// `true`: a batch (a manual run) rather than an outage, also for a window.
    #[serde(default)]
    pub batch: bool,
    /// The reason, as citizens will read it.
    pub reason: String,
}

impl DeclareRequest {
    /// The declaration for `tenant`, by `created_by`; refused with a message saying what is
    /// wrong (bad times, an empty window, neither window nor keys).
    pub fn parse(
        &self,
        settings: &Settings,
        tenant: &str,
        created_by: &str,
    ) -> anyhow::Result<Declaration> {
        let tz = settings
            .tenant(tenant)
            .with_context(|| format!("no tenant with id {tenant:?} is configured"))?
            .time_zone;
        let scope = Scope {
            services: self.services.clone(),
            locations: self.locations.clone(),
        };
        let selection = match (&self.keys, &self.from, &self.to) {
            (Some(keys), _, _) => {
                let keys: Vec<String> = keys
                    .iter()
                    .map(|k| k.trim().to_owned())
                    .filter(|k| !k.is_empty())
                    .collect();
                if keys.is_empty() {
                    invalid!("the batch names no booking keys");
                }
                Selection::Keys { keys, scope }
            }
            (None, Some(from), Some(to)) => {
                let window = Window::new(parse_instant(from, tz)?, parse_instant(to, tz)?)
                    .map_err(Refused::Invalid)?;
                Selection::Window { window, scope }
            }
            _ => invalid!("give from and to (or, for a batch, booking keys)"),
        };
        let kind = if self.batch || self.keys.is_some() {
            RunKind::Batch
        } else {
            RunKind::Outage
        };
        Ok(Declaration {
            tenant: tenant.to_owned(),
            kind,
            selection,
            reason: self.reason.clone(),
            created_by: created_by.to_owned(),
        })
    }
}

/// Reads an instant given on the command line: RFC 3339 (`2026-11-02T08:00:00+01:00`), or a
/// local time in the tenant's zone (`2026-11-02T08:00`, `2026-11-02 08:00`, `02.11.2026 08:00`).
pub fn parse_instant(s: &str, tz: Tz) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    const FORMATS: [&str; 6] = [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%d.%m.%Y %H:%M",
        "%d.%m.%Y %H:%M:%S",
    ];
    for f in FORMATS {
        if let Ok(local) = NaiveDateTime::parse_from_str(s.trim(), f) {
            return Ok(resolve_local(tz, local));
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .or_else(|_| chrono::NaiveDate::parse_from_str(s.trim(), "%d.%m.%Y"))
    {
        return Ok(resolve_local(tz, d.and_time(chrono::NaiveTime::MIN)));
    }
    invalid!(
        "{s:?} is not a time: use RFC 3339 (2026-11-02T08:00:00+01:00) or local time \
         in the tenant's zone {} (2026-11-02 08:00 or 02.11.2026 08:00)",
        tz.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn instants_are_read_as_rfc3339_or_as_local_time_of_the_tenant() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let want = Utc.with_ymd_and_hms(2026, 11, 2, 7, 0, 0).unwrap();
        assert_eq!(
            parse_instant("2026-11-02T08:00:00+01:00", tz).unwrap(),
            want
        );
        assert_eq!(parse_instant("2026-11-02T08:00", tz).unwrap(), want);
        assert_eq!(parse_instant("02.11.2026 08:00", tz).unwrap(), want);
        assert_eq!(
            parse_instant("2026-11-02", tz).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 1, 23, 0, 0).unwrap()
        );
        let err = parse_instant("tomorrow", tz).unwrap_err().to_string();
        assert!(err.contains("Europe/Berlin"), "{err}");
    }
}
