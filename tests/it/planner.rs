//! The deadline planner (issue 14): the preview names the bookings whose message would leave
//! too late for the rate limits and the queue, the declaration puts them on the call list at
//! once, and its estimate of when the last message leaves holds against a real run through
//! smtp-sink and Kannel under rate limits (within 20 %).

use crate::helpers::*;
use crate::peers_sms::kannel_gateway;
use crate::queue::relay_config;
use crate::support::peers::{Kannel, SinkMode, SmtpSink, wait_until};
use absage::config::ChannelPolicy;
use absage::domain::outage::Scope;
use absage::lifecycle::planner::RateBasis;

#[tokio::test]
async fn whom_the_queue_cannot_reach_in_time_is_named_and_on_the_call_list_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    // One email every 100 seconds; the office wants messages 5 minutes before the appointment.
    s.queue.rate_limits.insert("outbox-email".into(), 0.01);
    s.tenants[0].fallback_lead_minutes = 5;
    let t = TestApp::start(dir, s).await;
    // 20 email-only appointments at 06:30, now is 06:00: by 06:25, 16 emails can leave (at 0,
    // 100, …, 1500 s); two more before 06:30, inside the lead; the last two not at all.
    let rows: Vec<Row> = (0..20)
        .map(|i| Row::new(&format!("K{i:02}"), "2030-01-07 06:30").phone(""))
        .collect();
    t.write_export(&rows);
    t.import().await;
    let window = ("2030-01-07 06:00", "2030-01-07 07:00");
    let preview = t
        .try_declare(window.0, window.1, Scope::default(), true)
        .await
        .unwrap();
    let schedule = preview.schedule.clone().expect("a preview has a schedule");
    assert_eq!(schedule.late.len(), 4, "{schedule:?}");
    let never: Vec<bool> = schedule.late.iter().map(|l| l.earliest.is_none()).collect();
    assert_eq!(never, [false, false, true, true]);
    let email = &schedule.channels["email"];
    assert_eq!(email.messages, 20);
    assert!(
        matches!(email.basis, RateBasis::RateLimit { .. }),
        "{email:?}"
    );
    assert_eq!(
        email.last_leaves_at,
        Some(t.clock.now() + chrono::Duration::seconds(17 * 100)),
        "the 18th, at 100 s each; the last two would expire"
    );

    let declared = t.declare(window.0, window.1, Scope::default()).await;
    let id = declared.id.unwrap();
    let late: Vec<String> = declared
        .schedule
        .unwrap()
        .late
        .into_iter()
        .map(|l| l.booking_key)
        .collect();
    assert_eq!(
        late,
        schedule
            .late
            .iter()
            .map(|l| l.booking_key.clone())
            .collect::<Vec<_>>()
    );
    // Before anything is sent, they are on the call list with the reason.
    let calls = absage::reports::call_list(&t.app.ctx, id).await.unwrap();
    let keys: Vec<String> = calls.iter().map(|c| c.booking_key.clone()).collect();
    assert_eq!(keys, late);
    assert!(calls[0].why.contains("too late"), "{}", calls[0].why);
    // The messages still go out as they can; one that arrives takes its citizen off the list.
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    sqlx::query(
        "update notifications set state = 'sent', sent_at = $1 \
         where booking_id = (select id from bookings where booking_key = $2)",
    )
    .bind(t.clock.now().timestamp_millis())
    .bind(&late[0])
    .execute(&mut *conn)
    .await
    .unwrap();
    drop(conn);
    let calls = absage::reports::call_list(&t.app.ctx, id).await.unwrap();
    assert_eq!(calls.len(), 3);
}

/// The estimate against a real run: 150 emails at 50/s through smtp-sink and 90 SMS at 30/s
/// through Kannel (each about 3 s). The last message of each channel must arrive within 20 %
/// of the estimated time after the declaration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_estimate_holds_against_smtp_sink_and_kannel_under_rate_limits() {
    absage::tls::install();
    let sink = SmtpSink::start(SinkMode::Accept);
    let kannel = Kannel::start();
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    s.email.transport = absage::config::Transport::Network;
    s.email.relays = vec![relay_config("sink", sink.addr.port())];
    s.sms.transport = absage::config::Transport::Network;
    s.sms.gateways = vec![kannel_gateway(&kannel)];
    let gateway = s.sms.gateways[0].name().to_owned();
    s.queue.rate_limits.insert("sink".into(), 50.0);
    s.queue.rate_limits.insert(gateway, 30.0);
    let t = TestApp::start(dir, s).await;
    let rows: Vec<Row> = (0..150)
        .map(|i| {
            let row = Row::new(
                &format!("P{i:03}"),
                &format!("2030-01-07 {:02}:{:02}", 9 + i / 60, i % 60),
            );
            if i < 90 { row } else { row.phone("") }
        })
        .collect();
    t.write_export(&rows);
    t.import().await;
    let impact = t
        .declare("2030-01-07 08:00", "2030-01-07 12:00", Scope::default())
        .await;
    let schedule = impact.schedule.unwrap();
    let estimate = |channel: &str| {
        let lane = &schedule.channels[channel];
        (lane.last_leaves_at.unwrap() - t.clock.now()).num_milliseconds() as f64 / 1000.0
    };
    let (email_est, sms_est) = (estimate("email"), estimate("sms"));
    assert!((email_est - 149.0 / 50.0).abs() < 0.01, "{email_est}");
    // The limit counts SMS segments: the last SMS leaves when all before it took theirs.
    let sms = &schedule.channels["sms"];
    let per_sms = sms.slots / 90;
    assert_eq!(
        sms.slots,
        90 * per_sms,
        "every SMS of the run has the same length"
    );
    let sms_before_last = (sms.slots - per_sms) as f64 / 30.0;
    assert!(
        (sms_est - sms_before_last).abs() < 0.01,
        "{sms_est} vs {sms_before_last}"
    );

    let started = std::time::SystemTime::now();
    t.drain(&t.dispatcher()).await;
    let last_email = *sink.arrivals().last().unwrap();
    let sms_arrived = wait_until(
        "90 SMS at fakesmsc",
        std::time::Duration::from_secs(30),
        || (kannel.received().len() >= 90).then(std::time::SystemTime::now),
    );
    let measured = |at: std::time::SystemTime| at.duration_since(started).unwrap().as_secs_f64();
    let (email_run, sms_run) = (measured(last_email), measured(sms_arrived));
    assert_eq!(sink.messages().len(), 150);
    for (what, est, run) in [("email", email_est, email_run), ("SMS", sms_est, sms_run)] {
        let error = (run - est).abs() / est;
        println!(
            "{what}: estimated {est:.2} s, measured {run:.2} s, error {:.0} %",
            error * 100.0
        );
        assert!(
            error <= 0.2,
            "{what}: estimated {est:.2} s, measured {run:.2} s"
        );
    }
}

/// Without a rate limit, a relay's connections set the pace: three at a time against a relay
/// that takes a second per message. A first run measures the send time; the estimate of the
/// second uses it, and must hold within 20 % of the measured finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_rate_limit_the_estimate_uses_the_connections_and_the_measured_send_time() {
    absage::tls::install();
    let sink = SmtpSink::start(SinkMode::SlowData);
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    s.email.transport = absage::config::Transport::Network;
    let mut relay = relay_config("slow", sink.addr.port());
    relay.concurrency = 3;
    s.email.relays = vec![relay];
    let t = TestApp::start(dir, s).await;
    let rows: Vec<Row> = (0..33)
        .map(|i| Row::new(&format!("S{i:02}"), &format!("2030-01-07 09:{i:02}")).phone(""))
        .collect();
    t.write_export(&rows);
    t.import().await;
    // Nothing measured yet: the assumption, and a finish far too early.
    let first = t
        .declare("2030-01-07 09:00", "2030-01-07 09:03", Scope::default())
        .await;
    let lane = &first.schedule.unwrap().channels["email"];
    assert!(matches!(lane.basis, RateBasis::Assumed { .. }), "{lane:?}");
    t.drain(&t.dispatcher()).await;
    assert_eq!(sink.messages().len(), 3);

    let impact = t
        .declare("2030-01-07 09:03", "2030-01-07 10:00", Scope::default())
        .await;
    let lane = impact.schedule.unwrap().channels["email"].clone();
    let RateBasis::Connections {
        concurrency,
        send_ms,
        ..
    } = lane.basis
    else {
        panic!("the measured send time is used: {lane:?}");
    };
    assert_eq!(concurrency, 3);
    assert!((900.0..2000.0).contains(&send_ms), "{send_ms} ms per send");
    let est = (lane.last_leaves_at.unwrap() - t.clock.now()).num_milliseconds() as f64 / 1000.0;
    let started = std::time::SystemTime::now();
    t.drain(&t.dispatcher()).await;
    assert_eq!(sink.messages().len(), 33);
    // The last of 30 starts after nine rounds of three and arrives a send time later.
    let last = sink
        .arrivals()
        .last()
        .unwrap()
        .duration_since(started)
        .unwrap();
    let run = last.as_secs_f64() - send_ms / 1000.0;
    let error = (run - est).abs() / est;
    println!(
        "estimated {est:.2} s, measured {run:.2} s, error {:.0} %",
        error * 100.0
    );
    assert!(error <= 0.2, "estimated {est:.2} s, measured {run:.2} s");
}

/// The county's relay is down when the outage is declared (the story of October 2023): the
/// citizens who have only an email address cannot be told in time by anyone but a person, so
/// they are on the call list at once; those with a phone get their SMS and are not.
#[tokio::test]
async fn with_the_relay_down_the_email_only_citizens_are_on_the_call_list_at_once() {
    absage::tls::install();
    let sink = SmtpSink::start(SinkMode::RejectConnect);
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::EmailFirst);
    s.email.transport = absage::config::Transport::Network;
    s.email.relays = vec![relay_config("county", sink.addr.port())];
    s.tenants[0].fallback_lead_minutes = 30;
    let t = TestApp::start(dir, s).await;
    let rows = vec![
        Row::new("E1", "2030-01-07 06:10").phone(""),
        Row::new("E2", "2030-01-07 06:20").phone(""),
        Row::new("E3", "2030-01-07 06:30").phone(""),
        Row::new("P1", "2030-01-07 09:00"),
        Row::new("M1", "2030-01-07 09:30").phone(""),
        Row::new("M2", "2030-01-07 09:40").phone(""),
    ];
    t.write_export(&rows);
    t.import().await;
    // A first outage finds the relay down (three refused connections in a row).
    let first = t
        .declare("2030-01-07 06:00", "2030-01-07 07:00", Scope::default())
        .await;
    let lane = &first.schedule.unwrap().channels["email"];
    assert!(matches!(lane.basis, RateBasis::Assumed { .. }), "{lane:?}");
    t.drain(&t.dispatcher()).await;
    assert!(sink.messages().is_empty());

    let impact = t
        .declare("2030-01-07 08:00", "2030-01-07 10:00", Scope::default())
        .await;
    let schedule = impact.schedule.unwrap();
    assert_eq!(schedule.channels["email"].basis, RateBasis::Down);
    assert_eq!(schedule.channels["email"].last_leaves_at, None);
    let late: Vec<&str> = schedule
        .late
        .iter()
        .map(|l| l.booking_key.as_str())
        .collect();
    assert_eq!(late, ["M1", "M2"], "P1 has its SMS fallback");
    let calls = absage::reports::call_list(&t.app.ctx, impact.id.unwrap())
        .await
        .unwrap();
    let keys: Vec<&str> = calls.iter().map(|c| c.booking_key.as_str()).collect();
    assert_eq!(keys, ["M1", "M2"]);
    assert!(
        calls[0].why.contains("servers are down"),
        "{}",
        calls[0].why
    );
}

/// Bookings an amendment (or an import) brings into an outage are planned too: behind the
/// outage's own messages still waiting, those too late are on the call list at once.
#[tokio::test]
async fn an_amendment_that_adds_bookings_puts_those_too_late_on_the_call_list_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    s.queue.rate_limits.insert("outbox-email".into(), 0.01);
    s.tenants[0].fallback_lead_minutes = 5;
    let t = TestApp::start(dir, s).await;
    // Five at Soest, twenty at Lippstadt, all at 06:30; one email per 100 s.
    let rows: Vec<Row> = (0..25)
        .map(|i| {
            let row = Row::new(&format!("K{i:02}"), "2030-01-07 06:30").phone("");
            if i < 5 {
                row
            } else {
                row.location("Lippstadt")
            }
        })
        .collect();
    t.write_export(&rows);
    t.import().await;
    let soest = Scope {
        locations: vec!["Soest".into()],
        ..Scope::default()
    };
    let declared = t
        .declare("2030-01-07 06:00", "2030-01-07 07:00", soest)
        .await;
    let id = declared.id.unwrap();
    assert!(declared.schedule.unwrap().late.is_empty());
    t.clock.advance(chrono::Duration::seconds(1));
    let change = absage::lifecycle::Amendment {
        locations: Some(Vec::new()),
        ..Default::default()
    };
    let act = absage::lifecycle::declare::Act {
        by: "test",
        now: t.clock.now(),
        dry_run: false,
    };
    let amended = absage::lifecycle::declare::amend(&t.app.ctx, id, &change, act)
        .await
        .unwrap();
    assert_eq!(amended.stats.added, 20);
    // By 06:25 fifteen leave (0, 100, …, 1,400 s): Soest's five, then ten of Lippstadt.
    let calls = absage::reports::call_list(&t.app.ctx, id).await.unwrap();
    assert_eq!(calls.len(), 10, "{calls:?}");
    assert!(calls.iter().all(|c| c.location == "Lippstadt"));
    assert!(calls[0].why.contains("too late"), "{}", calls[0].why);
}
