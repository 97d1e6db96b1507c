//! Once-only jobs: one instance at a time holds a job's lease; a dead instance's lease runs out.

use crate::helpers::*;
use absage::config::ChannelPolicy;
use absage::domain::outage::Scope;
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

/// Claims `email` notifications for `owner` at `at` under a lease of `lease_secs`; how many.
async fn claim_at(
    t: &TestApp,
    owner: &str,
    at: chrono::DateTime<chrono::Utc>,
    lease_secs: i64,
) -> usize {
    let mut tx = t.app.ctx.store.begin().await.unwrap();
    let claimed = absage::store::notifications::claim(
        &mut tx,
        t.app.ctx.store.backend(),
        "email",
        owner,
        at,
        at + chrono::Duration::seconds(lease_secs),
        100,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    claimed.len()
}

async fn beat(t: &TestApp, owner: &str, at: chrono::DateTime<chrono::Utc>) -> i64 {
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    let ttl = chrono::Duration::seconds(3);
    leases::heartbeat(&mut conn, owner, at, at + ttl)
        .await
        .unwrap()
}

/// After a database outage every heartbeat and every lease has run out. An instance that comes
/// back first must not take the claims of the others, whose sends went out and wait to be
/// recorded: only once an instance has been seen gone for a heartbeat's lifetime (3 s here)
/// are its claims free. Before, a PostgreSQL stopped for 3 s under two instances made 15 of
/// 2,000 emails go out twice.
#[tokio::test]
async fn after_a_database_outage_an_instance_takes_no_claims_of_another_that_can_still_beat() {
    let rows = [
        Row::new("A-0900", "2030-01-07 09:00"),
        Row::new("B-1000", "2030-01-07 10:00"),
        Row::new("C-1100", "2030-01-07 11:00"),
    ];
    let t = TestApp::with_rows(ChannelPolicy::Both, &rows).await;
    t.declare("2030-01-07 08:00", "2030-01-07 12:00", Scope::default())
        .await;
    let t0 = t.clock.now();
    let at = |secs: i64| t0 + chrono::Duration::seconds(secs);
    assert_eq!(beat(&t, "a", at(0)).await, 1);
    assert_eq!(claim_at(&t, "a", at(0), 60).await, 3, "a sends three");
    // The database was away from 1 s to 70 s: a's lease ran out at 60 s, its heartbeat at 3 s.
    assert_eq!(
        claim_at(&t, "b", at(70), 60).await,
        0,
        "a's heartbeat is on record"
    );
    assert_eq!(beat(&t, "b", at(70)).await, 1, "a is seen gone");
    assert_eq!(
        claim_at(&t, "b", at(72), 60).await,
        0,
        "a was seen gone 2 s ago: it may beat yet"
    );
    assert_eq!(beat(&t, "a", at(72)).await, 2, "a is back");
    assert_eq!(beat(&t, "b", at(74)).await, 2);
    assert_eq!(claim_at(&t, "b", at(74), 60).await, 0, "a is alive");
    // a falls silent for good.
    assert_eq!(
        beat(&t, "b", at(76)).await,
        1,
        "a's heartbeat ran out at 75 s"
    );
    assert_eq!(claim_at(&t, "b", at(78), 60).await, 0, "gone for 2 s");
    assert_eq!(beat(&t, "b", at(79)).await, 1);
    assert_eq!(
        claim_at(&t, "b", at(79), 60).await,
        3,
        "a was gone for a heartbeat's lifetime: its claims are b's"
    );
}

/// An instance that beats but lost track of a claim (the answer to its claim was lost) takes it
/// back itself a lease after it ran out; another instance takes it only five minutes after it
/// ran out, should its owner never claim again.
#[tokio::test]
async fn a_claim_its_live_owner_lost_track_of_is_not_stranded() {
    let t = TestApp::with_rows(
        ChannelPolicy::Both,
        &[Row::new("A-0900", "2030-01-07 09:00")],
    )
    .await;
    t.declare("2030-01-07 08:00", "2030-01-07 12:00", Scope::default())
        .await;
    let t0 = t.clock.now();
    let at = |secs: i64| t0 + chrono::Duration::seconds(secs);
    beat(&t, "a", at(0)).await;
    assert_eq!(claim_at(&t, "a", at(0), 4).await, 1, "the answer is lost");
    for s in (2..=312).step_by(2) {
        beat(&t, "a", at(s)).await;
    }
    assert_eq!(claim_at(&t, "a", at(7), 4).await, 0, "ran out 3 s ago");
    assert_eq!(claim_at(&t, "b", at(8), 4).await, 0, "a beats");
    assert_eq!(
        claim_at(&t, "a", at(8), 4).await,
        1,
        "a's own, a lease after"
    );
    // a loses track of it again (until 12 s) and claims no more.
    assert_eq!(claim_at(&t, "b", at(310), 4).await, 0, "ran out 298 s ago");
    assert_eq!(claim_at(&t, "b", at(312), 4).await, 1, "ran out 300 s ago");
}
