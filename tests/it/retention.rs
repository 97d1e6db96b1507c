//! Retention: outages close once over; contact data goes `retention.days` later; counts stay.

use crate::helpers::*;
use absage::config::ChannelPolicy;
use absage::domain::outage::Scope;
use chrono::Duration;

#[tokio::test]
async fn contact_data_is_deleted_some_days_after_the_outage_closed_and_the_counts_remain() {
    let rows = vec![
        Row::new("A", "2030-01-07 09:00"),
        Row::new("B", "2030-01-07 10:00"),
        Row::new("LATER", "2030-02-01 10:00"),
    ];
    let t = TestApp::with_rows(ChannelPolicy::Both, &rows).await;
    let id = t
        .declare("2030-01-07 08:00", "2030-01-07 12:00", Scope::default())
        .await
        .id
        .unwrap();
    t.drain(&t.dispatcher()).await;

    // During the outage nothing closes.
    let (closed, _) = t.app.retention().await.unwrap().unwrap();
    assert_eq!(closed, 0);
    t.clock.set(t.local("2030-01-07 12:00"));
    let (closed, purged) = t.app.retention().await.unwrap().unwrap();
    assert_eq!(
        (closed, purged.runs),
        (1, 0),
        "closed when the window is over, nothing purged yet"
    );

    t.clock.advance(Duration::days(30) - Duration::minutes(1));
    assert_eq!(
        t.app.retention().await.unwrap().unwrap().1.runs,
        0,
        "not before 30 days"
    );
    t.clock.advance(Duration::minutes(1));
    let (_, purged) = t.app.retention().await.unwrap().unwrap();
    assert_eq!(
        (purged.runs, purged.notifications, purged.bookings),
        (1, 4, 2)
    );

    let ns = t.notifications().await;
    assert_eq!(ns.len(), 4, "the rows stay for the record");
    assert!(
        ns.iter()
            .all(|n| n.recipient.is_empty() && n.body_text.is_none() && n.state == "sent")
    );
    let (_, report) = absage::reports::report(&t.app.ctx, id).await.unwrap();
    assert_eq!(report.len(), 2);
    assert!(
        report
            .iter()
            .all(|r| r.email.as_deref() == Some("sent") && r.booking.name.is_empty())
    );
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    let later: (String, Option<String>) =
        sqlx::query_as("select name, email from bookings where booking_key = 'LATER'")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    assert_eq!(
        later.1.as_deref(),
        Some("later@example.org"),
        "a future appointment keeps its data"
    );
    drop(conn);
    // Running again changes nothing.
    assert_eq!(
        t.app.retention().await.unwrap().unwrap().1,
        absage::store::retention::Purged::default()
    );
}
