//! Once-only jobs: one instance at a time holds a job's lease; a dead instance's lease runs out.

use crate::helpers::*;
use absage::config::ChannelPolicy;
use absage::store::leases;

#[tokio::test]
async fn only_one_instance_holds_a_job_until_its_lease_runs_out_or_is_released() {
    let t = TestApp::with_rows(ChannelPolicy::Both, &[]).await;
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    let job = "import:soest:termine";
    assert!(
        leases::acquire(&mut conn, job, "a", 1_000, 2_000)
            .await
            .unwrap()
    );
    assert!(
        !leases::acquire(&mut conn, job, "b", 1_500, 2_500)
            .await
            .unwrap(),
        "a holds it"
    );
    assert!(
        leases::acquire(&mut conn, job, "a", 1_500, 3_000)
            .await
            .unwrap(),
        "a renews"
    );
    assert!(
        !leases::acquire(&mut conn, job, "b", 2_999, 4_000)
            .await
            .unwrap()
    );
    assert!(
        leases::acquire(&mut conn, job, "b", 3_000, 4_000)
            .await
            .unwrap(),
        "a's lease ran out"
    );
    leases::release(&mut conn, job, "a").await.unwrap();
    assert!(
        !leases::acquire(&mut conn, job, "a", 3_100, 5_000)
            .await
            .unwrap(),
        "only the holder releases"
    );
    leases::release(&mut conn, job, "b").await.unwrap();
    assert!(
        leases::acquire(&mut conn, job, "a", 3_100, 5_000)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn instances_count_each_other_by_heartbeat_and_forget_the_silent_ones() {
    let t = TestApp::with_rows(ChannelPolicy::Both, &[]).await;
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    assert_eq!(
        leases::heartbeat(&mut conn, "a", 1_000, 4_000)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        leases::heartbeat(&mut conn, "b", 2_000, 5_000)
            .await
            .unwrap(),
        2,
        "b sees a"
    );
    assert_eq!(
        leases::heartbeat(&mut conn, "a", 3_000, 6_000)
            .await
            .unwrap(),
        2,
        "a renews without counting itself twice"
    );
    assert_eq!(
        leases::heartbeat(&mut conn, "b", 6_000, 9_000)
            .await
            .unwrap(),
        1,
        "a fell silent: its heartbeat ran out"
    );
    leases::leave(&mut conn, "b").await.unwrap();
    assert_eq!(
        leases::heartbeat(&mut conn, "c", 6_100, 9_100)
            .await
            .unwrap(),
        1,
        "b left cleanly"
    );
    assert!(
        leases::acquire(&mut conn, "retention", "c", 6_100, 9_100)
            .await
            .unwrap(),
        "job leases are not instances"
    );
    assert_eq!(
        leases::heartbeat(&mut conn, "c", 6_200, 9_200)
            .await
            .unwrap(),
        1
    );
}
