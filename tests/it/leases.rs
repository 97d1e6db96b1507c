//! Once-only jobs: one instance at a time holds a job's lease; a dead instance's lease runs out.

use crate::helpers::*;
use absage::config::ChannelPolicy;
use absage::store::leases;

/// An instant `n` milliseconds after the epoch.
fn ms(n: i64) -> chrono::DateTime<chrono::Utc> {
    absage::domain::from_millis(n)
}

#[tokio::test]
async fn only_one_instance_holds_a_job_until_its_lease_runs_out_or_is_released() {
    let t = TestApp::with_rows(ChannelPolicy::Both, &[]).await;
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    let job = "import:soest:termine";
    assert!(
        leases::acquire(&mut conn, job, "a", ms(1_000), ms(2_000))
            .await
            .unwrap()
    );
    assert!(
        !leases::acquire(&mut conn, job, "b", ms(1_500), ms(2_500))
            .await
            .unwrap(),
        "a holds it"
    );
    assert!(
        leases::acquire(&mut conn, job, "a", ms(1_500), ms(3_000))
            .await
            .unwrap(),
        "a renews"
    );
    assert!(
        !leases::acquire(&mut conn, job, "b", ms(2_999), ms(4_000))
            .await
            .unwrap()
    );
    assert!(
        leases::acquire(&mut conn, job, "b", ms(3_000), ms(4_000))
            .await
            .unwrap(),
        "a's lease ran out"
    );
    leases::release(&mut conn, job, "a").await.unwrap();
    assert!(
        !leases::acquire(&mut conn, job, "a", ms(3_100), ms(5_000))
            .await
            .unwrap(),
        "only the holder releases"
    );
    leases::release(&mut conn, job, "b").await.unwrap();
    assert!(
        leases::acquire(&mut conn, job, "a", ms(3_100), ms(5_000))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn instances_count_each_other_by_heartbeat_and_forget_the_silent_ones() {
    let t = TestApp::with_rows(ChannelPolicy::Both, &[]).await;
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    assert_eq!(
        leases::heartbeat(&mut conn, "a", ms(1_000), ms(4_000))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        leases::heartbeat(&mut conn, "b", ms(2_000), ms(5_000))
            .await
            .unwrap(),
        2,
        "b sees a"
    );
    assert_eq!(
        leases::heartbeat(&mut conn, "a", ms(3_000), ms(6_000))
            .await
            .unwrap(),
        2,
        "a renews without counting itself twice"
    );
    assert_eq!(
        leases::heartbeat(&mut conn, "b", ms(6_000), ms(9_000))
            .await
            .unwrap(),
        1,
        "a fell silent: its heartbeat ran out"
    );
    leases::leave(&mut conn, "b").await.unwrap();
    assert_eq!(
        leases::heartbeat(&mut conn, "c", ms(6_100), ms(9_100))
            .await
            .unwrap(),
        1,
        "b left cleanly"
    );
    assert!(
        leases::acquire(&mut conn, "retention", "c", ms(6_100), ms(9_100))
            .await
            .unwrap(),
        "job leases are not instances"
    );
    assert_eq!(
        leases::heartbeat(&mut conn, "c", ms(6_200), ms(9_200))
            .await
            .unwrap(),
        1
    );
}
