//! Outages that change their mind: amend and retract, who gets what, and nobody anything twice.

use crate::helpers::*;
use crate::queue::relay_config;
use crate::support::peers::{Kannel, SinkMode, SmtpSink, wait_until};
use absage::config::ChannelPolicy;
use absage::domain::outage::Scope;
use absage::lifecycle::{Amendment, Impact, declare};
use std::collections::HashMap;

fn calendar() -> Vec<Row> {
    vec![
        Row::new("A-0900", "2030-01-07 09:00"),
        Row::new("B-1000", "2030-01-07 10:00"),
        Row::new("C-1100", "2030-01-07 11:00"),
        Row::new("D-1300", "2030-01-07 13:00"),
    ]
}

async fn amend(t: &TestApp, id: i64, change: Amendment) -> Impact {
    declare::amend(
        &t.app.ctx,
        id,
        &change,
        declare::Act {
            by: "test",
            now: t.clock.now(),
            dry_run: false,
        },
    )
    .await
    .expect("amends")
}

async fn retract(t: &TestApp, id: i64) -> anyhow::Result<Impact> {
    declare::retract(
        &t.app.ctx,
        id,
        "Der Ausfall war ein Fehlalarm",
        declare::Act {
            by: "test",
            now: t.clock.now(),
            dry_run: false,
        },
    )
    .await
}

/// (booking key, kind, channel) → state, from the database.
async fn states(t: &TestApp) -> HashMap<(String, String, String), String> {
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "select b.booking_key, n.kind, n.channel, n.state from notifications n \
         join bookings b on b.id = n.booking_id",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(k, kind, ch, st)| ((k, kind, ch), st))
        .collect()
}

fn st<'a>(
    s: &'a HashMap<(String, String, String), String>,
    key: &str,
    kind: &str,
) -> Option<&'a str> {
    s.get(&(key.to_string(), kind.to_string(), "email".to_string()))
        .map(String::as_str)
}

#[tokio::test]
async fn amending_tells_the_newly_affected_and_tells_the_others_their_appointment_stands() {
    let t = TestApp::with_rows(ChannelPolicy::Both, &calendar()).await;
    let id = t
        .declare("2030-01-07 08:00", "2030-01-07 10:30", Scope::default())
        .await
        .id
        .unwrap();
    let d = t.dispatcher();
    t.drain(&d).await; // A and B are told
    // The outage turns out to last longer, and the morning is fine after all.
    let change = Amendment {
        from: Some(t.local("2030-01-07 09:30")),
        to: Some(t.local("2030-01-07 12:00")),
        ..Amendment::default()
    };
    let impact = amend(&t, id, change.clone()).await;
    assert_eq!(
        (
            impact.stats.added,
            impact.stats.withdrawn,
            impact.stats.retractions
        ),
        (1, 1, 2)
    );
    t.drain(&d).await;
    let s = states(&t).await;
    assert_eq!(st(&s, "A-0900", "cancellation"), Some("sent"));
    assert_eq!(
        st(&s, "A-0900", "retraction"),
        Some("sent"),
        "A: the appointment stands"
    );
    assert_eq!(st(&s, "B-1000", "retraction"), None, "B is still affected");
    assert_eq!(
        st(&s, "C-1100", "cancellation"),
        Some("sent"),
        "C is newly affected"
    );
    assert_eq!(st(&s, "D-1300", "cancellation"), None);
    let (_, report) = absage::reports::report(&t.app.ctx, id).await.unwrap();
    let a = report
        .iter()
        .find(|r| r.booking_key == "A-0900")
        .expect("A stays in the report");
    assert_eq!(
        (
            a.affected,
            a.email.as_deref(),
            a.retraction_email.as_deref()
        ),
        (false, Some("sent"), Some("sent"))
    );
    let calls = absage::reports::call_list(&t.app.ctx, id).await.unwrap();
    assert!(calls.is_empty(), "A is not someone to phone");
    // The same amendment again changes nothing and sends nothing.
    let again = amend(&t, id, change).await;
    assert_eq!(
        (
            again.stats.added,
            again.stats.withdrawn,
            again.stats.retractions,
            again.stats.queued
        ),
        (0, 0, 0, 0)
    );
    assert_eq!(t.drain(&d).await.iter().map(|o| o.sent).sum::<u64>(), 0);
}

#[tokio::test]
async fn a_booking_no_longer_affected_before_it_was_told_just_gets_nothing() {
    let mut rows = calendar();
    // The calendar knows the service the outage is narrowed to (an unknown one is refused).
    rows.push(Row {
        service: "Führerschein".into(),
        ..Row::new("E-1400", "2030-01-07 14:00")
    });
    let t = TestApp::with_rows(ChannelPolicy::Both, &rows).await;
    let id = t
        .declare("2030-01-07 08:00", "2030-01-07 12:00", Scope::default())
        .await
        .id
        .unwrap();
    let impact = amend(
        &t,
        id,
        Amendment {
            services: Some(vec!["Führerschein".into()]),
            ..Amendment::default()
        },
    )
    .await;
    assert_eq!(
        (
            impact.stats.withdrawn,
            impact.stats.cancelled,
            impact.stats.retractions
        ),
        (3, 6, 0)
    );
    t.drain(&t.dispatcher()).await;
    assert!(states(&t).await.values().all(|s| s == "cancelled"));
}

#[tokio::test]
async fn amending_to_a_service_the_calendar_does_not_know_is_refused_with_the_closest_name() {
    let t = TestApp::with_rows(ChannelPolicy::Both, &calendar()).await;
    let id = t
        .declare("2030-01-07 08:00", "2030-01-07 12:00", Scope::default())
        .await
        .id
        .unwrap();
    let err = declare::amend(
        &t.app.ctx,
        id,
        &Amendment {
            services: Some(vec!["Zulasung".into()]),
            ..Amendment::default()
        },
        declare::Act {
            by: "test",
            now: t.clock.now(),
            dry_run: false,
        },
    )
    .await
    .expect_err("a typo must not narrow the outage to nobody");
    assert!(
        err.to_string().contains("did you mean \"Zulassung\"?"),
        "{err}"
    );
    assert!(
        states(&t).await.values().all(|s| s == "queued"),
        "nothing changed"
    );
}

#[tokio::test]
async fn retracting_cancels_what_is_pending_and_tells_everyone_already_told() {
    let t = TestApp::with_rows(ChannelPolicy::Both, &calendar()).await;
    let id = t
        .declare("2030-01-07 08:00", "2030-01-07 12:00", Scope::default())
        .await
        .id
        .unwrap();
    let d = t.dispatcher();
    // The emails went out before the retraction, the SMS not yet.
    d.step_channel(absage::domain::notification::Channel::Email)
        .await
        .unwrap();
    let impact = retract(&t, id).await.unwrap();
    assert_eq!((impact.stats.cancelled, impact.stats.retractions), (3, 3));
    t.drain(&d).await;
    let s = states(&t).await;
    for k in ["A-0900", "B-1000", "C-1100"] {
        assert_eq!(st(&s, k, "retraction"), Some("sent"), "{k}");
        assert_eq!(
            s.get(&(k.into(), "cancellation".into(), "sms".into()))
                .map(String::as_str),
            Some("cancelled")
        );
    }
    let calls = absage::reports::call_list(&t.app.ctx, id).await.unwrap();
    assert!(
        calls.is_empty(),
        "nobody is phoned about a retracted outage"
    );
    let err = retract(&t, id).await.unwrap_err().to_string();
    assert!(err.contains("retracted"), "{err}");
    assert_eq!(
        t.drain(&d).await.iter().map(|o| o.sent).sum::<u64>(),
        0,
        "nothing twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amend_and_retract_over_the_wire_reach_everyone_once_per_message() {
    let sink = SmtpSink::start(SinkMode::Accept);
    let kannel = Kannel::start();
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    s.email.transport = absage::config::Transport::Network;
    s.email.relays = vec![relay_config("sink", sink.addr.port())];
    s.sms.transport = absage::config::Transport::Network;
    s.sms.gateways = vec![toml::from_str(&format!(
        "kind = \"kannel\"\nname = \"kannel\"\nurl = \"{}\"\nusername = \"{}\"\npassword = \"{}\"\n",
        kannel.sendsms_url, kannel.username, kannel.password
    ))
    .unwrap()];
    let t = TestApp::start(dir, s).await;
    t.write_export(&calendar());
    t.import().await;
    let d = t.dispatcher();
    let id = t
        .declare("2030-01-07 08:00", "2030-01-07 10:30", Scope::default())
        .await
        .id
        .unwrap();
    t.drain(&d).await;
    amend(
        &t,
        id,
        Amendment {
            to: Some(t.local("2030-01-07 12:00")),
            ..Amendment::default()
        },
    )
    .await;
    t.drain(&d).await;
    amend(
        &t,
        id,
        Amendment {
            to: Some(t.local("2030-01-07 12:00")),
            ..Amendment::default()
        },
    )
    .await;
    retract(&t, id).await.unwrap();
    t.drain(&d).await;
    // A, B, C: a cancellation and a retraction each, on both channels.
    let mail = sink.messages();
    let mut per_id: HashMap<String, usize> = HashMap::new();
    for m in &mail {
        *per_id.entry(m.message_id.clone().unwrap()).or_default() += 1;
    }
    assert_eq!(mail.len(), 6);
    assert!(per_id.values().all(|n| *n == 1));
    for k in ["a-0900", "b-1000", "c-1100"] {
        assert_eq!(
            mail.iter()
                .filter(|m| m.rcpt_to == [format!("{k}@example.org")])
                .count(),
            2,
            "{k}"
        );
    }
    let sms = wait_until("6 SMS", std::time::Duration::from_secs(20), || {
        let r = kannel.received();
        (r.len() >= 6).then_some(r)
    });
    assert_eq!(sms.len(), 6);
    let mut per_to: HashMap<String, usize> = HashMap::new();
    for m in &sms {
        *per_to.entry(m.to.clone()).or_default() += 1;
    }
    assert!(per_to.values().all(|n| *n == 2), "{per_to:?}");
}

#[tokio::test]
async fn the_suppression_list_holds_what_is_cancelled_and_drops_what_was_retracted() {
    let t = TestApp::with_rows(ChannelPolicy::Both, &calendar()).await;
    let id = t
        .declare("2030-01-07 08:00", "2030-01-07 10:30", Scope::default())
        .await
        .id
        .unwrap();
    let list = |t: &TestApp| {
        let store = t.app.ctx.store.clone();
        async move {
            let mut conn = store.conn().await.unwrap();
            absage::store::outages::suppressions(&mut conn, Some("soest"))
                .await
                .unwrap()
        }
    };
    let keys: Vec<String> = list(&t).await.into_iter().map(|s| s.booking_key).collect();
    assert_eq!(keys, ["A-0900", "B-1000"]);
    retract(&t, id).await.unwrap();
    assert!(list(&t).await.is_empty());
}

#[tokio::test]
async fn retracting_while_cancellations_are_in_flight_still_tells_those_citizens_it_stands() {
    let t = TestApp::with_rows(ChannelPolicy::Both, &calendar()).await;
    let id = t
        .declare("2030-01-07 08:00", "2030-01-07 12:00", Scope::default())
        .await
        .id
        .unwrap();
    // Another process has claimed the emails and is sending them right now.
    let mut tx = t.app.ctx.store.begin().await.unwrap();
    let now = t.clock.now();
    let claimed = absage::store::notifications::claim(
        &mut tx,
        t.app.ctx.store.backend(),
        "email",
        "other",
        now,
        now + chrono::Duration::minutes(2),
        100,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(claimed.len(), 3);
    let impact = retract(&t, id).await.unwrap();
    assert_eq!(impact.stats.retractions, 3, "one per email in flight");
    // The other process dies; its lease runs out: the cancellations must never go out now.
    t.clock.advance(chrono::Duration::minutes(5));
    t.drain(&t.dispatcher()).await;
    let s = states(&t).await;
    for k in ["A-0900", "B-1000", "C-1100"] {
        assert_eq!(st(&s, k, "cancellation"), Some("cancelled"), "{k}");
        assert_eq!(st(&s, k, "retraction"), Some("sent"), "{k}");
    }
}

#[tokio::test]
async fn a_booking_amended_out_and_back_in_before_anything_went_out_gets_no_stands_message() {
    let t = TestApp::with_rows(ChannelPolicy::Both, &calendar()).await;
    let id = t
        .declare("2030-01-07 08:00", "2030-01-07 10:30", Scope::default())
        .await
        .id
        .unwrap();
    t.drain(&t.dispatcher()).await;
    amend(
        &t,
        id,
        Amendment {
            from: Some(t.local("2030-01-07 09:30")),
            ..Amendment::default()
        },
    )
    .await;
    let back = amend(
        &t,
        id,
        Amendment {
            from: Some(t.local("2030-01-07 08:00")),
            ..Amendment::default()
        },
    )
    .await;
    assert_eq!(
        back.stats.cancelled, 2,
        "the queued 'stands' of A (email, SMS) is cancelled"
    );
    t.drain(&t.dispatcher()).await;
    let s = states(&t).await;
    assert_eq!(st(&s, "A-0900", "cancellation"), Some("sent"));
    assert_eq!(
        st(&s, "A-0900", "retraction"),
        Some("cancelled"),
        "A's appointment does not stand"
    );
}

#[tokio::test]
async fn declaring_an_overlapping_outage_again_tells_nobody_twice() {
    let t = TestApp::with_rows(ChannelPolicy::Both, &calendar()).await;
    t.declare("2030-01-07 08:00", "2030-01-07 12:00", Scope::default())
        .await;
    let again = t
        .declare("2030-01-07 08:00", "2030-01-07 14:00", Scope::default())
        .await;
    assert_eq!(
        (again.stats.covered_elsewhere, again.stats.queued),
        (3, 2),
        "only D-1300 is new"
    );
    t.drain(&t.dispatcher()).await;
    let s = states(&t).await;
    assert_eq!(
        s.values().filter(|v| *v == "sent").count(),
        8,
        "four citizens, two channels, once"
    );
}

/// A citizen nobody could message was phoned about the cancellation; then the outage no longer
/// applies to them. Today nothing would tell them, and they would stay home: they get a new
/// task on the call list, once per change, marked done separately from the first call. A
/// citizen who was messaged instead hears it by message, and one not phoned needs no call.
#[tokio::test]
async fn a_citizen_phoned_about_a_cancellation_that_no_longer_applies_gets_a_new_call() {
    let caller = absage::accounts::Caller {
        name: "anna".into(),
        tenant: "soest".into(),
        role: absage::domain::account::Role::Operator,
    };
    let rows = [
        Row::new("EARLY", "2030-01-07 09:00").email("").phone(""),
        Row::new("LATE", "2030-01-07 11:00").email("").phone(""),
        Row::new("UNCALLED", "2030-01-07 11:30").email("").phone(""),
        Row::new("MAILED", "2030-01-07 09:30"),
    ];
    let t = TestApp::with_rows(ChannelPolicy::Both, &rows).await;
    let id = t
        .declare("2030-01-07 08:00", "2030-01-07 12:00", Scope::default())
        .await
        .id
        .unwrap();
    t.drain(&t.dispatcher()).await;
    let calls = absage::reports::call_list(&t.app.ctx, id).await.unwrap();
    let keys: Vec<&str> = calls.iter().map(|c| c.booking_key.as_str()).collect();
    assert_eq!(keys, ["EARLY", "LATE", "UNCALLED"]);
    for c in calls.iter().filter(|c| c.booking_key != "UNCALLED") {
        absage::follow_up::mark_called(&t.app.ctx, &caller, id, c.booking_id)
            .await
            .unwrap();
    }
    let task_of = |calls: &[absage::reports::CallListEntry], key: &str| {
        calls
            .iter()
            .find(|c| c.booking_key == key)
            .map(|c| (c.task, c.called_by.clone()))
    };
    use absage::reports::CallTask::{AppointmentStands, Cancellation};

    // The morning is fine after all: EARLY (phoned) needs a call back, MAILED gets a message.
    let change = Amendment {
        from: Some(t.local("2030-01-07 10:00")),
        ..Amendment::default()
    };
    amend(&t, id, change).await;
    t.drain(&t.dispatcher()).await;
    let calls = absage::reports::call_list(&t.app.ctx, id).await.unwrap();
    assert_eq!(task_of(&calls, "EARLY"), Some((AppointmentStands, None)));
    assert!(
        calls[0].why.contains("takes place") && calls[0].why.contains("2030-01-07 09:00"),
        "{calls:?}"
    );
    assert_eq!(
        task_of(&calls, "LATE"),
        Some((Cancellation, Some("anna".into())))
    );
    assert_eq!(
        task_of(&calls, "MAILED"),
        None,
        "told by message that it stands"
    );
    let s = states(&t).await;
    assert_eq!(st(&s, "MAILED", "retraction"), Some("sent"));

    // The call back is noted on its own task.
    let early = calls.iter().find(|c| c.booking_key == "EARLY").unwrap();
    absage::follow_up::mark_called(&t.app.ctx, &caller, id, early.booking_id)
        .await
        .unwrap();
    let calls = absage::reports::call_list(&t.app.ctx, id).await.unwrap();
    assert_eq!(
        task_of(&calls, "EARLY"),
        Some((AppointmentStands, Some("anna".into())))
    );

    // Then the whole outage is withdrawn: LATE, phoned, needs a call back too; UNCALLED was
    // never told anything and needs none.
    retract(&t, id).await.unwrap();
    let calls = absage::reports::call_list(&t.app.ctx, id).await.unwrap();
    let keys: Vec<&str> = calls.iter().map(|c| c.booking_key.as_str()).collect();
    assert_eq!(keys, ["EARLY", "LATE"]);
    assert_eq!(task_of(&calls, "LATE"), Some((AppointmentStands, None)));

    // Once the appointment has passed, there is nothing left to tell.
    t.clock.set(t.local("2030-01-07 11:05"));
    let calls = absage::reports::call_list(&t.app.ctx, id).await.unwrap();
    assert!(calls.is_empty(), "{calls:?}");
}
