//! The shared send budget of rate-limited destinations: reservations follow each other, from
//! whichever instance they come, and time nobody reserved is not saved up.

use crate::helpers::*;
use absage::config::ChannelPolicy;
use absage::store::rate_budget;

#[tokio::test]
async fn reservations_follow_each_other_and_idle_time_is_not_saved_up() {
    let t = TestApp::with_rows(ChannelPolicy::Both, &[]).await;
    let reserve = |destination: &'static str, now_us: i64| {
        let store = t.app.ctx.store.clone();
        async move {
            let mut conn = store.conn().await.unwrap();
            rate_budget::reserve(&mut conn, destination, now_us, 50_000)
                .await
                .unwrap()
        }
    };
    assert_eq!(reserve("relay-1", 1_000_000).await, 1_050_000, "from now");
    assert_eq!(
        reserve("relay-1", 1_010_000).await,
        1_100_000,
        "after the reservation before, which reaches further than now"
    );
    assert_eq!(
        reserve("kannel", 1_010_000).await,
        1_060_000,
        "each destination has its own budget"
    );
    assert_eq!(
        reserve("relay-1", 5_000_000).await,
        5_050_000,
        "an idle spell is not saved up: the next reservation starts now"
    );
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    let rows: i64 = sqlx::query_scalar("select count(*) from rate_budget")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(rows, 2);
}

#[tokio::test]
async fn concurrent_reservations_never_overlap() {
    let t = TestApp::with_rows(ChannelPolicy::Both, &[]).await;
    const SPAN: i64 = 6_667;
    let instances: Vec<_> = (0..3)
        .map(|_| {
            let store = t.app.ctx.store.clone();
            tokio::spawn(async move {
                let mut ends = Vec::new();
                for _ in 0..50 {
                    let mut conn = store.conn().await.unwrap();
                    ends.push(
                        rate_budget::reserve(&mut conn, "relay-1", 0, SPAN)
                            .await
                            .unwrap(),
                    );
                }
                ends
            })
        })
        .collect();
    let mut ends = Vec::new();
    for i in instances {
        ends.extend(i.await.unwrap());
    }
    ends.sort();
    let back_to_back: Vec<i64> = (1..=150).map(|k| k * SPAN).collect();
    assert_eq!(
        ends, back_to_back,
        "each slot handed out once, none skipped"
    );
}
