//! Once-only jobs: one instance at a time holds a job's lease; a dead instance's lease runs out.

use crate::helpers::*;
use absage::config::ChannelPolicy;
use absage::store::leases;

#[tokio::test]
async fn only_one_instance_holds_a_job_until_its_lease_runs_out_or_is_released() {
    let t = TestApp::with_rows(ChannelPolicy::Both, &[]).await;
    let mut conn = t.app.store.conn().await.unwrap();
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
