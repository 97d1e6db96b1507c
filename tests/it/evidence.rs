//! Evidence per citizen (issue 14): informed, not reached or unknown, with each piece of
//! evidence and its time, the same in the report, the call list and the metrics' gauge of
//! citizens not informed within 24 hours.

use crate::helpers::*;
use absage::config::ChannelPolicy;
use absage::domain::outage::Scope;
use absage::reports::Reach;
use chrono::Duration;

async fn app(quiet: u32, rows: &[Row]) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    s.bounces.quiet_minutes = quiet;
    // Returned mail is read (a Maildir): "no bounce" means something.
    s.bounces.domain = "bounces.kreis-soest.example".into();
    s.bounces.secret = absage::secret::Secret::new("a-secret-of-32-characters-or-so!");
    s.bounces.maildir = Some(dir.path().join("bounces"));
    let t = TestApp::start(dir, s).await;
    t.write_export(rows);
    t.import().await;
    t
}

async fn rows_of(t: &TestApp, outage: i64) -> Vec<absage::reports::ReportRow> {
    absage::reports::report(&t.app.ctx, outage).await.unwrap().1
}

/// The gauge's count for the outage (the metrics' statement), at the test clock's now.
async fn gauge(t: &TestApp, outage: i64) -> i64 {
    let now = t.clock.now();
    let rules = absage::reports::Rules::of(&t.app.ctx.settings);
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    absage::store::outages::not_informed_by(
        &mut conn,
        now,
        now + Duration::hours(24),
        now - rules.quiet,
        rules.sms_reports,
    )
    .await
    .unwrap()
    .into_iter()
    .find(|(o, _, _)| *o == outage)
    .map_or(0, |(_, _, n)| n)
}

/// The same count from the report's rows (the rule as the UI and API apply it).
fn counted(rows: &[absage::reports::ReportRow], now: chrono::DateTime<chrono::Utc>) -> i64 {
    rows.iter()
        .filter(|r| {
            r.affected
                && r.reach != Reach::Informed
                && r.booking.starts_at > now
                && r.booking.starts_at <= now + Duration::hours(24)
        })
        .count() as i64
}

#[tokio::test]
async fn a_handed_over_email_is_unknown_until_the_quiet_period_passes() {
    let t = app(15, &[Row::new("MAIL", "2030-01-07 09:00").phone("")]).await;
    let impact = t
        .declare("2030-01-07 08:00", "2030-01-07 12:00", Scope::default())
        .await;
    let id = impact.id.unwrap();
    t.drain(&t.dispatcher()).await;
    let rows = rows_of(&t, id).await;
    assert_eq!(
        rows[0].reach,
        Reach::Unknown,
        "handed over, no evidence yet"
    );
    assert_eq!(gauge(&t, id).await, 1);
    let what: Vec<&str> = rows[0].evidence.iter().map(|e| e.what.as_str()).collect();
    assert_eq!(what, ["cancellation email handed to outbox-email"]);
    assert!(
        absage::reports::call_list(&t.app.ctx, id)
            .await
            .unwrap()
            .is_empty()
    );

    t.clock.advance(Duration::minutes(15));
    let rows = rows_of(&t, id).await;
    assert_eq!(rows[0].reach, Reach::Informed);
    assert_eq!(gauge(&t, id).await, 0);
    assert_eq!(
        rows[0].evidence.last().unwrap().what,
        "cancellation email: no bounce or failure report since"
    );
    assert_eq!(rows[0].evidence.last().unwrap().at, "2030-01-07 06:15");
}

/// Across a run with every kind of citizen, at several moments, the metrics' statement and the
/// report agree on who is not informed within 24 hours; phoning a citizen informs them and
/// keeps them on the call list, marked done.
#[tokio::test]
async fn the_gauge_and_the_report_agree_on_who_is_not_informed() {
    let rows = vec![
        Row::new("EMAIL", "2030-01-07 09:00").phone(""),
        Row::new("SMS", "2030-01-07 10:00").email(""),
        Row::new("BOTH", "2030-01-07 11:00"),
        Row::new("NONE", "2030-01-07 11:30").email("").phone(""),
        Row::new("LATE", "2030-01-07 06:30").phone(""),
        Row::new("TOMORROW", "2030-01-08 10:00").phone(""),
        Row::new("NEXTWEEK", "2030-01-14 10:00").phone(""),
    ];
    let t = app(20, &rows).await;
    let impact = t
        .declare("2030-01-07 06:00", "2030-01-15 12:00", Scope::default())
        .await;
    let id = impact.id.unwrap();
    let d = t.dispatcher();
    for step in 0..6 {
        let now = t.clock.now();
        let report = rows_of(&t, id).await;
        assert_eq!(gauge(&t, id).await, counted(&report, now), "step {step}");
        if step == 0 {
            // Nothing sent yet: every appointment within 24 hours (not TOMORROW at 10:00, 28
            // hours ahead, nor NEXTWEEK).
            assert_eq!(counted(&report, now), 5, "{report:#?}");
        }
        if step == 1 {
            t.drain(&d).await;
        }
        if step == 3 {
            let none = report.iter().find(|r| r.booking_key == "NONE").unwrap();
            let caller = absage::accounts::Caller {
                name: "staff".into(),
                tenant: "soest".into(),
                role: absage::domain::account::Role::Operator,
            };
            absage::follow_up::mark_called(&t.app.ctx, &caller, id, none.booking.id)
                .await
                .unwrap();
        }
        t.clock.advance(Duration::minutes(12));
    }
    // A call, a late reason, sent and unsendable messages: each booking's own page says what
    // the whole report says of it.
    assert_each_booking_reports_alone_as_in_the_whole(&t, id).await;
    let report = rows_of(&t, id).await;
    let reach = |key: &str| report.iter().find(|r| r.booking_key == key).unwrap().reach;
    assert_eq!(reach("NONE"), Reach::Informed, "phoned");
    assert_eq!(reach("EMAIL"), Reach::Informed);
    let calls = absage::reports::call_list(&t.app.ctx, id).await.unwrap();
    let none = calls.iter().find(|c| c.booking_key == "NONE").unwrap();
    assert_eq!(
        none.called_by.as_deref(),
        Some("staff"),
        "on the list, marked done"
    );
}
