//! The queue on the embedded default (file outbox): ordering, expiry, fallback, idempotency.

use crate::helpers::*;
use absage::config::ChannelPolicy;
use absage::domain::notification::Channel;
use absage::domain::outage::Scope;
use chrono::Duration;

#[tokio::test]
async fn a_declaration_puts_one_message_per_citizen_and_channel_in_the_outbox() {
    let rows = vec![
        Row::new("A", "2030-01-07 09:00"),
        Row::new("B", "2030-01-07 09:30").lang("en"),
        Row::new("C", "2030-01-07 10:00").phone(""),
    ];
    let t = TestApp::with_rows(ChannelPolicy::Both, &rows).await;
    t.declare("2030-01-07 08:00", "2030-01-07 12:00", Scope::default())
        .await;
    t.drain(&t.dispatcher()).await;
    let outbox = t.dir.path().join("outbox");
    let emails: Vec<_> = std::fs::read_dir(outbox.join("email")).unwrap().collect();
    let sms: Vec<_> = std::fs::read_dir(outbox.join("sms")).unwrap().collect();
    assert_eq!((emails.len(), sms.len()), (3, 2));
    let all_email: String = emails
        .into_iter()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(all_email.contains("To: b@example.org"), "{all_email}");
    assert!(all_email.contains("Message-ID: <absage."), "{all_email}");
}

#[tokio::test]
async fn the_earliest_appointments_are_sent_first() {
    let rows: Vec<Row> = (0..12)
        .rev()
        .map(|i| {
            Row::new(
                &format!("K{i:02}"),
                &format!("2030-01-07 {:02}:{:02}", 8 + i / 4, (i % 4) * 15),
            )
            .phone("")
        })
        .collect();
    let t = declared_in_batches_of(&rows, 1).await;
    let d = t.dispatcher();
    for _ in 0..12 {
        t.clock.advance(Duration::seconds(1));
        assert_eq!(d.step().await.unwrap().sent, 1);
    }
    let mut ns = t.notifications().await;
    ns.sort_by_key(|n| n.sent_at);
    let order: Vec<&str> = ns.iter().map(|n| n.key.as_str()).collect();
    let want: Vec<String> = (0..12).map(|i| format!("K{i:02}")).collect();
    assert_eq!(order, want);
}

#[tokio::test]
async fn notices_for_appointments_that_have_started_expire_instead_of_sending() {
    let rows = vec![
        Row::new("SOON", "2030-01-07 09:00"),
        Row::new("LATER", "2030-01-07 11:00"),
    ];
    let t = TestApp::with_rows(ChannelPolicy::Both, &rows).await;
    let impact = t
        .declare("2030-01-07 08:00", "2030-01-07 12:00", Scope::default())
        .await;
    t.clock.set(t.local("2030-01-07 09:00"));
    t.drain(&t.dispatcher()).await;
    let ns = t.notifications().await;
    for n in &ns {
        let want = if n.key == "SOON" { "expired" } else { "sent" };
        assert_eq!(n.state, want, "{n:?}");
    }
    assert!(
        !t.dir
            .path()
            .join("outbox/email")
            .read_dir()
            .unwrap()
            .any(|e| {
                std::fs::read_to_string(e.unwrap().path())
                    .unwrap()
                    .contains("soon@example.org")
            })
    );
    let calls = absage::reports::call_list(&t.app.ctx, impact.id.unwrap())
        .await
        .unwrap();
    assert_eq!(
        calls
            .iter()
            .map(|c| c.booking_key.as_str())
            .collect::<Vec<_>>(),
        ["SOON"]
    );
}

#[tokio::test]
async fn a_declaration_for_an_appointment_already_started_queues_nothing_for_it() {
    let rows = vec![
        Row::new("PAST", "2030-01-07 05:30").minutes(60),
        Row::new("FUTURE", "2030-01-07 09:00"),
    ];
    let t = TestApp::with_rows(ChannelPolicy::Both, &rows).await;
    t.declare("2030-01-07 05:00", "2030-01-07 12:00", Scope::default())
        .await;
    assert!(t.notifications().await.iter().all(|n| n.key == "FUTURE"));
}

#[tokio::test]
async fn under_email_first_the_sms_waits_and_is_dropped_once_the_email_went_out() {
    let rows = vec![
        Row::new("A", "2030-01-07 14:00"),
        Row::new("NOMAIL", "2030-01-07 14:00").email(""),
    ];
    let t = TestApp::with_rows(ChannelPolicy::EmailFirst, &rows).await;
    t.declare("2030-01-07 08:00", "2030-01-07 18:00", Scope::default())
        .await;
    t.drain(&t.dispatcher()).await;
    let ns = t.notifications().await;
    let state = |k: &str, ch: &str| {
        ns.iter()
            .find(|n| n.key == k && n.channel == ch)
            .map(|n| n.state.clone())
    };
    assert_eq!(state("A", "email").as_deref(), Some("sent"));
    assert_eq!(state("A", "sms").as_deref(), Some("cancelled"));
    assert_eq!(
        state("NOMAIL", "sms").as_deref(),
        Some("sent"),
        "no email: SMS is the primary"
    );
}

#[tokio::test]
async fn under_email_first_the_sms_goes_when_the_email_is_not_out_by_the_lead_time() {
    let rows = vec![Row::new("A", "2030-01-07 14:00")];
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::EmailFirst);
    s.email.transport = absage::config::Transport::Network;
    s.email.relays = vec![relay_config("dead", crate::support::peers::free_port())];
    let t = TestApp::start(dir, s).await;
    t.write_export(&rows);
    t.import().await;
    t.declare("2030-01-07 08:00", "2030-01-07 18:00", Scope::default())
        .await;
    let d = t.dispatcher();
    t.drain(&d).await;
    assert_eq!(count(&t.notifications().await, |n| n.state == "sent"), 0);
    // The tenant's lead is 60 minutes: at 13:00 the SMS goes although the email is still stuck.
    t.clock.set(t.local("2030-01-07 13:00"));
    t.drain(&d).await;
    let ns = t.notifications().await;
    let sms = ns.iter().find(|n| n.channel == "sms").unwrap();
    let email = ns.iter().find(|n| n.channel == "email").unwrap();
    assert_eq!(
        (sms.state.as_str(), email.state.as_str()),
        ("sent", "queued")
    );
    assert_eq!(email.attempts, 0, "a relay that is down costs no attempts");
}

pub fn relay_config(name: &str, port: u16) -> absage::config::SmtpRelayConfig {
    toml::from_str(&format!(
        "name = \"{name}\"\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\ntimeout_secs = 5\n"
    ))
    .unwrap()
}

#[tokio::test]
async fn a_citizen_nobody_reached_stays_on_the_call_list_after_later_imports() {
    let rows = vec![
        Row::new("SOON", "2030-01-07 09:00"),
        Row::new("LATER", "2030-01-07 11:00"),
    ];
    let t = TestApp::with_rows(ChannelPolicy::Both, &rows).await;
    let impact = t
        .declare("2030-01-07 08:00", "2030-01-07 12:00", Scope::default())
        .await;
    t.clock.set(t.local("2030-01-07 09:05"));
    t.drain(&t.dispatcher()).await;
    // Read again (the same bookings in another order: the same bytes would not be read).
    t.write_export(&[rows[1].clone(), rows[0].clone()]);
    let report = t.import().await;
    assert_eq!(report.rematched[0].1.withdrawn, 0);
    let calls = absage::reports::call_list(&t.app.ctx, impact.id.unwrap())
        .await
        .unwrap();
    assert_eq!(
        calls
            .iter()
            .map(|c| c.booking_key.as_str())
            .collect::<Vec<_>>(),
        ["SOON"]
    );
}

#[tokio::test]
async fn an_sms_that_was_not_needed_does_not_come_back_when_the_booking_returns() {
    let rows = vec![
        Row::new("A", "2030-01-07 14:00"),
        Row::new("B", "2030-01-07 15:00"),
    ];
    let t = TestApp::with_rows(ChannelPolicy::EmailFirst, &rows).await;
    t.declare("2030-01-07 08:00", "2030-01-07 18:00", Scope::default())
        .await;
    let d = t.dispatcher();
    t.drain(&d).await;
    // A drops out of one export (forced past the safeguard) and comes back in the next.
    t.write_export(&rows[1..]);
    t.import_forced().await;
    t.write_export(&rows);
    t.import().await;
    t.drain(&d).await;
    let ns = t.notifications().await;
    let a: Vec<(&str, &str)> = ns
        .iter()
        .filter(|n| n.key == "A")
        .map(|n| (n.channel.as_str(), n.state.as_str()))
        .collect();
    assert_eq!(a, [("email", "sent"), ("sms", "cancelled")]);
}

#[tokio::test]
async fn a_corrected_address_gets_the_notice_and_a_removed_one_gets_nothing() {
    let rows = vec![
        Row::new("A", "2030-01-07 14:00").phone(""),
        Row::new("B", "2030-01-07 15:00"),
    ];
    let t = TestApp::with_rows(ChannelPolicy::Both, &rows).await;
    t.declare("2030-01-07 08:00", "2030-01-07 18:00", Scope::default())
        .await;
    let mut fixed = rows.clone();
    fixed[0].email = "a.corrected@example.org".into();
    fixed[1].email = String::new();
    t.write_export(&fixed);
    t.import().await;
    t.drain(&t.dispatcher()).await;
    let ns = t.notifications().await;
    let a = ns.iter().find(|n| n.key == "A").unwrap();
    assert_eq!(
        (a.state.as_str(), a.recipient.as_str()),
        ("sent", "a.corrected@example.org")
    );
    let b: Vec<(&str, &str)> = ns
        .iter()
        .filter(|n| n.key == "B")
        .map(|n| (n.channel.as_str(), n.state.as_str()))
        .collect();
    assert_eq!(b, [("email", "cancelled"), ("sms", "sent")]);
}

#[tokio::test]
async fn sms_wait_for_the_end_of_quiet_hours_unless_the_appointment_is_too_close() {
    let rows = vec![
        Row::new("EARLY", "2030-01-08 07:30").email(""),
        Row::new("NOON", "2030-01-08 12:00").email(""),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    s.tenants[0].quiet_hours = Some("21:00-07:00".parse().unwrap());
    let t = TestApp::start(dir, s).await;
    t.write_export(&rows);
    t.import().await;
    t.clock.set(t.local("2030-01-07 22:00"));
    t.declare("2030-01-08 07:00", "2030-01-08 18:00", Scope::default())
        .await;
    let d = t.dispatcher();
    t.drain(&d).await;
    let state = |ns: &[Notif], k: &str| {
        ns.iter()
            .find(|n| n.key == k)
            .map(|n| (n.state.clone(), n.attempts))
            .unwrap()
    };
    let ns = t.notifications().await;
    assert_eq!(
        state(&ns, "EARLY"),
        ("sent".into(), 1),
        "07:30 is too close to wait for 07:00"
    );
    assert_eq!(
        state(&ns, "NOON"),
        ("queued".into(), 0),
        "waits, no attempt spent"
    );
    t.clock.set(t.local("2030-01-08 06:59"));
    assert_eq!(d.step().await.unwrap().claimed, 0);
    t.clock.set(t.local("2030-01-08 07:00"));
    t.drain(&d).await;
    assert_eq!(state(&t.notifications().await, "NOON"), ("sent".into(), 1));
}

/// During an upgrade, instances of two versions share one queue. A message of a kind this
/// version does not know (written by the newer one) is left to that version; it must not stop
/// this one from sending everything else of its channel.
#[tokio::test]
async fn a_message_of_an_unknown_kind_is_left_alone_and_the_rest_is_sent() {
    let rows = vec![
        Row::new("A", "2030-01-07 09:00"),
        Row::new("B", "2030-01-07 09:30"),
    ];
    let t = TestApp::with_rows(ChannelPolicy::Both, &rows).await;
    t.declare("2030-01-07 08:00", "2030-01-07 12:00", Scope::default())
        .await;
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    sqlx::query(
        "update notifications set kind = 'reminder' where channel = 'email' \
         and booking_id = (select id from bookings where booking_key = 'A')",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    drop(conn);
    t.drain(&t.dispatcher()).await;
    let states: Vec<(String, String, String)> = t
        .notifications()
        .await
        .into_iter()
        .map(|n| (n.key, n.channel, n.state))
        .collect();
    let sent = states.iter().filter(|(_, _, s)| s == "sent").count();
    assert_eq!(sent, 3, "every message this version knows: {states:?}");
    assert!(
        states.contains(&("A".into(), "email".into(), "queued".into())),
        "the unknown one waits for the version that knows it: {states:?}"
    );
}

/// A round claims the next batch while the last one is still going out, so the relay never
/// waits for a batch to drain (the speed issue); it stops after eight batches, so expiry, probes
/// and shutdown come round. Each message is claimed and sent once.
#[tokio::test]
async fn a_round_claims_the_next_batch_before_the_last_has_drained() {
    let t = declared_in_batches_of(&forty_emails(), 4).await;
    let d = t.dispatcher();
    let first = d.step().await.unwrap();
    assert_eq!(
        (first.claimed, first.sent),
        (32, 32),
        "eight batches of four"
    );
    let second = d.step().await.unwrap();
    assert_eq!((second.claimed, second.sent), (8, 8));
    let ns = t.notifications().await;
    assert!(ns.iter().all(|n| n.state == "sent" && n.attempts == 1));
}

/// The daemon's loop starts the next round while the last sends of a round are still out:
/// a peer that holds its last answers back until more requests come (Kannel did, 40 ms at
/// every round's end) no longer stalls the sending. Here the last two sends of the first round
/// (eight batches of four) are answered only once a send of the next round has begun; without
/// the overlap they wait in vain. Each message is still claimed and sent once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_round_starts_while_the_last_sends_of_a_round_are_out() {
    use absage::dispatch::destinations::{Deliver, Destinations, Prepared};
    use absage::dispatch::outcome::{SendFailure, Sent};
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Holds the 31st and 32nd send until the 33rd begins, for at most ten seconds.
    #[derive(Default)]
    struct HoldsTheLast {
        calls: AtomicU64,
        more: tokio::sync::Notify,
        in_vain: AtomicU64,
    }
    impl Deliver for HoldsTheLast {
        fn deliver<'a>(
            &'a self,
            _message: &'a Prepared,
        ) -> futures::future::BoxFuture<'a, Result<Sent, SendFailure>> {
            Box::pin(async move {
                let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
                if call > 32 {
                    self.more.notify_waiters();
                } else if call > 30 {
                    let more = self.more.notified();
                    tokio::pin!(more);
                    more.as_mut().enable();
                    if self.calls.load(Ordering::SeqCst) <= 32 {
                        let waited = tokio::time::timeout(std::time::Duration::from_secs(10), more);
                        if waited.await.is_err() {
                            self.in_vain.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
                Ok(Sent { provider_id: None })
            })
        }
    }

    let t = declared_in_batches_of(&forty_emails(), 4).await;
    let (settings, store) = (&t.app.ctx.settings, &t.app.ctx.store);
    let held = std::sync::Arc::new(HoldsTheLast::default());
    let destinations = Destinations::from_settings(settings, store)
        .unwrap()
        .with_given(Channel::Email, "held", held.clone());
    let d = absage::dispatch::Dispatcher::new(
        store.clone(),
        settings.queue.clone(),
        &settings.tenants,
        t.app.ctx.templates.clone(),
        destinations,
        t.clock.as_clock(),
        std::sync::Arc::default(),
    );
    d.run(tokio_util::sync::CancellationToken::new(), true)
        .await
        .unwrap();
    assert_eq!(
        held.in_vain.load(Ordering::SeqCst),
        0,
        "the last sends of the first round waited for a next round that did not start"
    );
    assert_eq!(held.calls.load(Ordering::SeqCst), 40);
    let ns = t.notifications().await;
    assert!(ns.iter().all(|n| n.state == "sent" && n.attempts == 1));
}

/// Forty bookings with an email and no mobile, 08:00–11:25 on 7 January 2030.
fn forty_emails() -> Vec<Row> {
    (0..40)
        .map(|i| {
            Row::new(
                &format!("K{i:02}"),
                &format!("2030-01-07 {:02}:{:02}", 8 + i / 12, (i % 12) * 5),
            )
            .phone("")
        })
        .collect()
}

/// An app whose queue claims `batch_size` at a time, with `rows` imported and one outage over
/// 07:00–12:00 on 7 January 2030 declared.
async fn declared_in_batches_of(rows: &[Row], batch_size: u32) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    s.queue.batch_size = batch_size;
    let t = TestApp::start(dir, s).await;
    t.write_export(rows);
    t.import().await;
    t.declare("2030-01-07 07:00", "2030-01-07 12:00", Scope::default())
        .await;
    t
}
