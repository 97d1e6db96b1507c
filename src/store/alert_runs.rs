//! Alerts that declared an outage, so that Alertmanager's repeats declare nothing twice.

use super::{Conn, Millis};
use chrono::{DateTime, Utc};

/// Records the alert; false when it was recorded before (a repeat).
pub async fn claim(
    conn: &mut Conn,
    key: &str,
    tenant: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let r = sqlx::query(
        "insert into alert_runs (alert_key, tenant_id, received_at) values ($1, $2, $3) \
         on conflict (alert_key) do nothing",
    )
    .bind(key)
    .bind(tenant)
    .bind(Millis::of(now))
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}
