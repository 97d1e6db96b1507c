//! A relay that refuses every message alike (issue 11, finding 4): `554 5.7.1 Relay access
//! denied` to MAIL FROM is the relay's failure, not the messages'. The backlog goes to the
//! healthy second relay, no message fails or spends an attempt, and the refusing relay is
//! marked down and probed until it takes mail again.

use crate::helpers::*;
use crate::queue::relay_config;
use crate::support::peers::{SinkMode, SmtpSink};
use absage::config::ChannelPolicy;
use absage::domain::outage::Scope;
use chrono::Duration;
use std::collections::HashMap;

async fn destination_of(t: &TestApp, name: &str) -> absage::store::destinations::DestinationRow {
    absage::reports::status(&t.app.ctx, t.clock.now())
        .await
        .unwrap()
        .destinations
        .into_iter()
        .find(|d| d.name == name)
        .unwrap_or_else(|| panic!("no destination {name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_refusing_our_sender_is_failed_over_marked_down_and_probed_and_no_message_fails() {
    const N: usize = 60;
    let mut refusing = SmtpSink::start(SinkMode::RefuseSender);
    let healthy = SmtpSink::start(SinkMode::Accept);
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::EmailFirst);
    s.email.transport = absage::config::Transport::Network;
    s.email.relays = vec![
        relay_config("first", refusing.addr.port()),
        relay_config("second", healthy.addr.port()),
    ];
    let t = TestApp::start(dir, s).await;
    let rows: Vec<Row> = (0..N)
        .map(|i| {
            Row::new(
                &format!("R{i:02}"),
                &format!("2030-01-07 {:02}:{:02}", 8 + i / 12, (i % 12) * 5),
            )
        })
        .collect();
    t.write_export(&rows);
    t.import().await;
    t.declare("2030-01-07 08:00", "2030-01-07 14:00", Scope::default())
        .await;
    let d = t.dispatcher();
    t.drain(&d).await;

    let ns = t.notifications().await;
    let emails: Vec<&Notif> = ns.iter().filter(|n| n.channel == "email").collect();
    assert_eq!(emails.len(), N);
    assert!(
        emails.iter().all(|n| n.state == "sent" && n.attempts == 1),
        "{emails:?}"
    );
    assert_eq!(
        count(&ns, |n| n.channel == "sms" && n.state != "cancelled"),
        0,
        "no SMS fallback went out: no email failed"
    );
    let by_relay: Vec<(Option<String>, i64)> = {
        let mut conn = t.app.ctx.store.conn().await.unwrap();
        sqlx::query_as(
            "select destination, count(*) from notifications where channel = 'email' \
             group by destination",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap()
    };
    assert_eq!(by_relay, [(Some("second".to_owned()), N as i64)]);
    assert!(refusing.messages().is_empty());
    let mut per_id: HashMap<String, usize> = HashMap::new();
    for m in healthy.messages() {
        *per_id.entry(m.message_id.unwrap()).or_default() += 1;
    }
    assert_eq!(per_id.len(), N);
    assert!(per_id.values().all(|n| *n == 1), "{per_id:?}");

    let first = destination_of(&t, "first").await;
    assert_eq!(first.state, "down");
    let why = first.last_error.unwrap_or_default();
    assert!(
        why.contains("MAIL FROM") && why.contains("Relay access denied"),
        "{why}"
    );

    // The probe replays the refused sender: still refused, still down.
    t.clock.advance(Duration::seconds(30));
    let o = d.step().await.unwrap();
    assert_eq!((o.probed, o.recovered), (1, 0));
    assert_eq!(destination_of(&t, "first").await.state, "down");

    // The relay's operator fixes it: the next probe brings it back.
    let dump = refusing.dump_dir().to_path_buf();
    refusing.stop();
    let _fixed = SmtpSink::start_on(refusing.addr.port(), &dump, SinkMode::Accept);
    t.clock.advance(Duration::seconds(30));
    let o = d.step().await.unwrap();
    assert_eq!((o.probed, o.recovered), (1, 1));
    assert_eq!(destination_of(&t, "first").await.state, "up");
}
