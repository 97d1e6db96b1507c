//! Liveness and readiness.

use super::State;
use axum::extract::State as Extract;
use axum::http::StatusCode;

/// The process is up.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// How long `/readyz` waits for the database.
const DATABASE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The dispatcher is not stuck (its steps have not failed for `queue.stall_secs`), the
/// database answers and every migration is applied: this instance can work.
pub async fn readyz(Extract(state): Extract<State>) -> (StatusCode, String) {
    let stall_after = chrono::Duration::seconds(state.ctx.settings.queue.stall_secs as i64);
    let ready = match state.progress.check(state.ctx.now(), stall_after) {
        Ok(()) => match tokio::time::timeout(DATABASE_WAIT, state.ctx.store.ready()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("{e:#}")),
            Err(_) => Err(format!(
                "the database did not answer within {} s",
                DATABASE_WAIT.as_secs()
            )),
        },
        Err(stalled) => Err(stalled),
    };
    match ready {
        Ok(()) => (StatusCode::OK, "ready\n".into()),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}\n")),
    }
}
