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

/// A lease whose holder's process is gone from this machine is taken over before it runs out
/// (the IMAP bounce reader's, an import's); one whose process runs, or that was taken on
/// another machine, is not.
#[tokio::test]
async fn a_lease_of_a_process_gone_from_this_machine_is_taken_over_and_no_other() {
    let t = TestApp::with_rows(ChannelPolicy::Both, &[]).await;
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    let me = absage::owner::this_process();
    let (mut running, holder) = a_process_on_this_machine("");
    let job = "bounces-imap";
    assert!(
        leases::acquire(&mut conn, job, &holder, ms(1_000), ms(600_000))
            .await
            .unwrap()
    );
    let take = absage::owner::take_lease;
    let until = ms(63_000);
    assert!(
        !take(&mut conn, job, &me, ms(2_000), until).await.unwrap(),
        "its process runs"
    );
    running.kill().unwrap();
    running.wait().unwrap();
    assert!(
        take(&mut conn, job, &me, ms(3_000), until).await.unwrap(),
        "its process is gone"
    );
    let (owner, _) = leases::holder(&mut conn, job).await.unwrap().unwrap();
    assert_eq!(owner, me);

    // Taken on another machine (another boot): waited for until it runs out.
    let elsewhere = holder.replace('@', "@x");
    let other = "retention-like";
    assert!(
        leases::acquire(&mut conn, other, &elsewhere, ms(1_000), ms(600_000))
            .await
            .unwrap()
    );
    assert!(!take(&mut conn, other, &me, ms(3_000), until).await.unwrap());
}
