//! What every service function needs: the store, the settings, the templates and the clock.
//! [`App`](crate::app::App) owns one; the HTTP state wraps it.

use crate::config::{Settings, TenantSettings};
use crate::dispatch::Clock;
use crate::messages::TemplateSet;
use crate::store::Store;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// The service layer's context; cheap to clone.
#[derive(Clone)]
pub struct Ctx {
    pub store: Store,
    pub settings: Arc<Settings>,
    pub templates: Arc<TemplateSet>,
    pub clock: Clock,
}

impl Ctx {
    /// The time now, by this context's clock (the edges read it; the rules take it as input).
    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// A configured tenant, or an error naming the id.
    pub fn tenant(&self, id: &str) -> anyhow::Result<&TenantSettings> {
        self.settings
            .tenant(id)
            .ok_or_else(|| anyhow::anyhow!("tenant {id:?} is not configured"))
    }
}
