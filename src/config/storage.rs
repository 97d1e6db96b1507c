//! `[database]` and `[retention]`: where absage keeps its data, and how long contact data stays.

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

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
