//! Copying SQLite's write-ahead log into the database file, beside the writers: no commit does it
//! by itself (`wal_autocheckpoint = 0`, [`crate::store::Store`]), so neither a declaration nor a
//! recorded send waits for it; the daemon does it every [`INTERVAL`]. The log grows by what a
//! second writes meanwhile.

use crate::store::Store;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the log is copied.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// Checkpoints every [`INTERVAL`] until `shutdown`. A failure is logged once until one works
/// again (a full disk would otherwise fill the log with it); the writes themselves go on.
pub async fn run(store: Store, shutdown: CancellationToken) {
    let mut failing = false;
    while super::pause(INTERVAL, &shutdown).await {
        match store.checkpoint().await {
            Ok(_) if failing => {
                tracing::info!("the database's write-ahead log is checkpointed again");
                failing = false;
            }
            Ok(_) => {}
            Err(e) if !failing => {
                tracing::warn!(error = %format!("{e:#}"), "could not checkpoint the database's write-ahead log; it grows until a checkpoint works");
                failing = true;
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::store::Store;
    use tokio_util::sync::CancellationToken;

    /// What a commit left in the log reaches the database file within a few intervals, and the
    /// loop ends on shutdown.
    #[tokio::test]
    async fn the_daemon_copies_the_log_into_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.db");
        let store = Store::connect(&format!("sqlite://{}", file.display()), 2)
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let shutdown = CancellationToken::new();
        let job = tokio::spawn(super::run(store.clone(), shutdown.clone()));
        let mut tx = store.begin().await.unwrap();
        sqlx::query(
            "create table filler as with recursive n(i) as (select 1 union all \
             select i + 1 from n where i < 2000) select i, randomblob(4000) as b from n",
        )
        .execute(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let deadline = tokio::time::Instant::now() + super::INTERVAL * 10;
        while std::fs::metadata(&file).unwrap().len() < 8 << 20 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the log was not checkpointed"
            );
            tokio::time::sleep(super::INTERVAL / 10).await;
        }
        shutdown.cancel();
        tokio::time::timeout(super::INTERVAL * 2, job)
            .await
            .expect("the job ends on shutdown")
            .unwrap();
    }
}
