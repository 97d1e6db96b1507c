//! The HTTP side of `absage run`: health and readiness for the supervisor, Prometheus metrics
//! for monitoring, and the admin API.
//!
//! - [`health`]: `/healthz`, `/readyz`
//! - [`metrics`]: the Prometheus text at `/metrics`
//! - [`hooks`]: signed SMS delivery reports at `/hooks/dlr/…`, Alertmanager at
//!   `/hooks/alertmanager`
//! - [`ui`]: the web UI (server-rendered, German), sessions with CSRF tokens
//! - [`api`]: the admin API under `/api` (accounts by token, tenant-scoped), with its OpenAPI
//!   description at `/api/openapi.json`

pub mod api;
pub mod health;
pub mod hooks;
pub mod metrics;
pub mod ui;

use crate::config::Settings;
use crate::messages::TemplateSet;
use crate::store::Store;
use axum::Router;
use axum::routing::{get, post};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// What the handlers share.
#[derive(Clone)]
pub struct State {
    pub store: Store,
    pub settings: Arc<Settings>,
    pub templates: Arc<TemplateSet>,
    pub clock: crate::dispatch::Clock,
    /// Whether this instance's dispatcher moves (`/readyz`).
    pub progress: Arc<crate::dispatch::progress::Progress>,
    /// Login attempts per account name (web UI): five a minute.
    pub logins: Arc<governor::DefaultKeyedRateLimiter<String>>,
}

impl State {
    pub fn of(app: &crate::app::App) -> State {
        State {
            store: app.store.clone(),
            settings: app.settings.clone(),
            templates: app.templates.clone(),
            clock: app.clock.clone(),
            progress: app.progress.clone(),
            logins: Arc::new(governor::RateLimiter::keyed(governor::Quota::per_minute(
                std::num::NonZeroU32::new(5).expect("five is not zero"),
            ))),
        }
    }
}

/// Every route.
pub fn router(state: State) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        .route(
            "/hooks/dlr/{id}/{claim}/{sig}",
            get(hooks::delivery_report).post(hooks::delivery_report),
        )
        .route(
            "/hooks/dlr/{id}/{sig}",
            get(hooks::delivery_report_unclaimed).post(hooks::delivery_report_unclaimed),
        )
        .route("/hooks/alertmanager", post(hooks::alertmanager))
        .merge(api::router())
        .merge(ui::router())
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` fires (then lets open requests finish).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
