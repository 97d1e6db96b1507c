//! The HTTP side of `absage run`: health and readiness for the supervisor, Prometheus metrics
//! for monitoring. (The admin API and web UI come with their own issue.)
//!
//! - [`health`]: `/healthz`, `/readyz`
//! - [`metrics`]: the Prometheus text at `/metrics`

pub mod health;
pub mod metrics;

use crate::config::Settings;
use crate::store::Store;
use axum::Router;
use axum::routing::get;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// What the handlers share.
#[derive(Clone)]
pub struct State {
    pub store: Store,
    pub settings: Arc<Settings>,
    pub clock: crate::dispatch::Clock,
}

/// Every route.
pub fn router(state: State) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
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
