//! Liveness and readiness.

use super::State;
use axum::extract::State as Extract;
use axum::http::StatusCode;

/// The process is up.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// The database answers and every migration is applied: this instance can work.
pub async fn readyz(Extract(state): Extract<State>) -> (StatusCode, String) {
    match state.store.ready().await {
        Ok(()) => (StatusCode::OK, "ready\n".into()),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {e:#}\n"),
        ),
    }
}
