//! `[alerts]`: which Alertmanager alerts declare which outage.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::secret::Secret;

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
