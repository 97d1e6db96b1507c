use super::*;
use crate::domain::notification::Role;

fn at(minute: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_900_000_000, 0).unwrap() + Duration::minutes(minute)
}

fn n(
    channel: Channel,
    state: State,
    sent: Option<i64>,
    delivery: Option<&str>,
) -> ReportNotification {
    ReportNotification {
        id: 1,
        booking_id: 1,
        kind: Kind::Cancellation,
        channel,
        role: Role::Primary,
        state,
        attempts: 1,
        destination: Some("relay-1".into()),
        sent_at: sent.map(at),
        last_error: None,
        language: "de".into(),
        delivery_state: delivery.map(str::to_owned),
        finished_at: sent.map(at),
        delivery_at: delivery.map(|_| at(sent.unwrap_or(0) + 2)),
    }
}

const QUIET: Rules = Rules {
    quiet: Duration::minutes(15),
    sms_reports: true,
    bounces_read: true,
};

#[test]
fn an_email_counts_once_the_quiet_period_passed_without_a_bounce() {
    let email = [n(Channel::Email, State::Sent, Some(0), None)];
    assert_eq!(reach(&email, false, QUIET, at(14)), Reach::Unknown);
    assert_eq!(reach(&email, false, QUIET, at(15)), Reach::Informed);
    let bounced = [n(Channel::Email, State::Sent, Some(0), Some("bounced"))];
    assert_eq!(reach(&bounced, false, QUIET, at(60)), Reach::NotReached);
    let delayed = [n(Channel::Email, State::Sent, Some(0), Some("delayed"))];
    assert_eq!(reach(&delayed, false, QUIET, at(5)), Reach::Unknown);
    assert_eq!(reach(&delayed, false, QUIET, at(20)), Reach::Informed);
    let complained = [n(Channel::Email, State::Sent, Some(0), Some("complained"))];
    assert_eq!(reach(&complained, false, QUIET, at(1)), Reach::Informed);
}

#[test]
fn an_sms_counts_when_delivered_or_without_reports_after_the_quiet_period() {
    let submitted = [n(Channel::Sms, State::Sent, Some(0), Some("submitted"))];
    assert_eq!(reach(&submitted, false, QUIET, at(600)), Reach::Unknown);
    let delivered = [n(Channel::Sms, State::Sent, Some(0), Some("delivered"))];
    assert_eq!(reach(&delivered, false, QUIET, at(1)), Reach::Informed);
    let failed = [n(Channel::Sms, State::Sent, Some(0), Some("undelivered"))];
    assert_eq!(reach(&failed, false, QUIET, at(600)), Reach::NotReached);
    let no_reports = Rules {
        sms_reports: false,
        ..QUIET
    };
    let sent = [n(Channel::Sms, State::Sent, Some(0), None)];
    assert_eq!(reach(&sent, false, no_reports, at(14)), Reach::Unknown);
    assert_eq!(reach(&sent, false, no_reports, at(15)), Reach::Informed);
}

#[test]
fn nothing_open_and_nothing_arrived_is_not_reached_unless_phoned() {
    let ns = [
        n(Channel::Email, State::Expired, None, None),
        n(Channel::Sms, State::Failed, None, None),
    ];
    assert_eq!(reach(&ns, false, QUIET, at(0)), Reach::NotReached);
    assert_eq!(reach(&[], false, QUIET, at(0)), Reach::NotReached);
    assert_eq!(reach(&ns, true, QUIET, at(0)), Reach::Informed);
    let queued = [n(Channel::Sms, State::Queued, None, None)];
    assert_eq!(reach(&queued, false, QUIET, at(0)), Reach::Unknown);
    // One channel bounced, the other is still on its way.
    let mixed = [
        n(Channel::Email, State::Sent, Some(0), Some("bounced")),
        n(Channel::Sms, State::Queued, None, None),
    ];
    assert_eq!(reach(&mixed, false, QUIET, at(30)), Reach::Unknown);
    // A retraction is no evidence about the cancellation.
    let mut stands = n(Channel::Email, State::Sent, Some(0), None);
    stands.kind = Kind::Retraction;
    assert_eq!(reach(&[stands], false, QUIET, at(60)), Reach::NotReached);
}

#[test]
fn the_history_lists_each_piece_of_evidence_in_order() {
    let ns = [
        n(Channel::Email, State::Sent, Some(0), Some("bounced")),
        n(Channel::Sms, State::Sent, Some(1), Some("delivered")),
    ];
    let bounce = Returned {
        id: 1,
        received_at: at(5),
        via: "smtp".into(),
        notification_id: Some(1),
        tenant_id: Some("soest".into()),
        kind: "hard".into(),
        status: Some("5.1.1".into()),
        diagnostic: None,
        reason: Some("email not delivered: the email address does not exist (5.1.1)".into()),
        size: 1,
    };
    let h = history(
        &ns,
        &[&bounce],
        Some(("anna", at(40))),
        QUIET,
        at(60),
        chrono_tz::UTC,
    );
    let what: Vec<&str> = h.iter().map(|e| e.what.as_str()).collect();
    assert_eq!(
        what,
        [
            "cancellation email handed to relay-1",
            "cancellation SMS handed to relay-1",
            "cancellation SMS: the gateway reports delivered",
            "email not delivered: the email address does not exist (5.1.1)",
            "phoned by anna",
        ]
    );
    assert_eq!(h[0].at, "2030-03-17 17:46");
}

#[test]
fn the_history_says_when_no_bounce_could_have_been_seen() {
    let email = [n(Channel::Email, State::Sent, Some(0), None)];
    let quiet = |rules| {
        history(&email, &[], None, rules, at(60), chrono_tz::UTC)
            .into_iter()
            .map(|e| e.what)
            .find(|w| w.contains("no bounce"))
            .unwrap()
    };
    assert_eq!(
        quiet(QUIET),
        "cancellation email: no bounce or failure report since"
    );
    let unread = Rules {
        bounces_read: false,
        ..QUIET
    };
    assert!(
        quiet(unread).contains("[bounces] is not set up"),
        "{}",
        quiet(unread)
    );
    // Still informed: the office sees the weaker evidence, and `absage config check` warns.
    assert_eq!(reach(&email, false, unread, at(60)), Reach::Informed);
}
