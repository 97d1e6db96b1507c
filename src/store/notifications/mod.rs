//! The outbox (table `notifications`), by purpose:
//!
//! - [`enqueue`]: what the outage lifecycle writes — enqueue, cancel what is no longer needed
//! - [`outbox`]: what the dispatcher does — claim with a lease, record outcomes, expire
//! - [`delivery`]: delivery reports and a failed delivery moving the citizen on
//! - [`reads`]: counts, a run's notifications, breakdowns and samples

pub mod delivery;
pub mod enqueue;
pub mod outbox;
pub mod reads;

pub use delivery::*;
pub use enqueue::*;
pub use outbox::*;
pub use reads::*;

/// A queued primary notification of run `run` (its booking and outage) for `tenant`, due at
/// `now`, without a text; tests change what they need.
#[cfg(test)]
pub(crate) fn queued_notification(
    tenant: &str,
    run: i64,
    channel: &'static str,
    kind: &'static str,
    now: chrono::DateTime<chrono::Utc>,
) -> NewNotification {
    NewNotification {
        tenant_id: tenant.into(),
        outage_id: run,
        booking_id: run,
        channel,
        kind,
        role: "primary",
        recipient: format!("{tenant}-{channel}-{kind}"),
        language: "de".into(),
        subject: None,
        body_text: None,
        body_html: None,
        next_attempt_at: now,
        deadline: now,
    }
}

/// A fresh SQLite store with, for each `(tenant, id)`, a booking and a run of that id.
#[cfg(test)]
pub(crate) async fn store_with_runs(
    runs: &[(&str, i64)],
) -> (tempfile::TempDir, crate::store::Store) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/a.db", dir.path().display());
    let store = crate::store::Store::connect(&url, 1).await.unwrap();
    store.migrate().await.unwrap();
    let mut conn = store.conn().await.unwrap();
    for (tenant, id) in runs {
        sqlx::query(
            "insert into bookings (id, tenant_id, source, booking_key, starts_at, ends_at, \
             service, location, name, status, content_hash, last_import_id, updated_at) \
             values ($1, $2, 's', $2, 0, 1, 'x', 'y', 'z', 'active', 'h', 1, 0)",
        )
        .bind(id)
        .bind(tenant)
        .execute(&mut *conn)
        .await
        .unwrap();
        sqlx::query(
            "insert into outages (id, tenant_id, kind, services_json, locations_json, \
             reason, state, created_at, created_by) \
             values ($1, $2, 'outage', '[]', '[]', 'r', 'active', 0, 'me')",
        )
        .bind(id)
        .bind(tenant)
        .execute(&mut *conn)
        .await
        .unwrap();
    }
    (dir, store)
}
