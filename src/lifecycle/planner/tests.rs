use super::*;

fn at(minute: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_900_000_000, 0).unwrap() + Duration::minutes(minute)
}

fn msg(booking: i64, channel: &'static str, starts: i64) -> Planned {
    Planned {
        booking,
        channel,
        fallback: false,
        due: at(0),
        starts_at: at(starts),
    }
}

fn lane(rate: f64) -> Lane {
    Lane {
        rate,
        limited: true,
        waiting: Vec::new(),
        quiet_hours_apply: false,
    }
}

fn no_hold() -> Hold {
    Hold {
        quiet: None,
        zone: chrono_tz::UTC,
        urgent: Duration::zero(),
    }
}

#[test]
fn messages_leave_at_the_rate_earliest_appointment_first() {
    // 1 email per minute (1/60 per second); three bookings, appointments 120, 30, 60 minutes out.
    let ms = [
        msg(1, "email", 120),
        msg(2, "email", 30),
        msg(3, "email", 60),
    ];
    let lanes = HashMap::from([("email", lane(1.0 / 60.0))]);
    let s = schedule(&ms, &lanes, &no_hold(), Duration::minutes(0), at(0));
    let email = &s.channels["email"];
    assert_eq!(email.messages, 3);
    assert_eq!(email.last_leaves_at, Some(at(2)));
    assert!(s.late.is_empty(), "{s:?}");
}

#[test]
fn a_booking_whose_message_would_leave_inside_the_lead_is_late() {
    // 1 per minute, 10 bookings all at minute 15, lead 10: minutes 0..=5 are in time.
    let ms: Vec<Planned> = (0..10).map(|b| msg(b, "email", 15)).collect();
    let lanes = HashMap::from([("email", lane(1.0 / 60.0))]);
    let s = schedule(&ms, &lanes, &no_hold(), Duration::minutes(10), at(0));
    assert_eq!(s.late.len(), 4, "{s:?}");
    assert!(s.late.iter().all(|l| l.starts_at == at(15)));
    // Those would still leave before the appointment, just not with the lead.
    assert_eq!(s.late[0].earliest, Some(at(6)));
}

#[test]
fn the_queue_already_waiting_goes_first_when_its_appointments_are_earlier() {
    let ms = [msg(1, "email", 30)];
    let mut l = lane(1.0 / 60.0);
    l.waiting = (0..20).map(|_| at(20)).collect();
    l.waiting.extend((0..50).map(|_| at(500)));
    let lanes = HashMap::from([("email", l)]);
    let s = schedule(&ms, &lanes, &no_hold(), Duration::minutes(5), at(0));
    let email = &s.channels["email"];
    assert_eq!(email.waiting_ahead, 20);
    assert_eq!(email.last_leaves_at, Some(at(20)));
    assert!(s.late.is_empty());
}

#[test]
fn a_fallback_saves_a_booking_whose_primary_is_too_slow() {
    // Email crawls (1 per hour); the SMS fallback at the lead time is quick.
    let mut ms: Vec<Planned> = (0..3).map(|b| msg(b, "email", 60)).collect();
    ms.push(Planned {
        booking: 2,
        channel: "sms",
        fallback: true,
        due: at(30),
        starts_at: at(60),
    });
    let lanes = HashMap::from([("email", lane(1.0 / 3600.0)), ("sms", lane(10.0))]);
    let s = schedule(&ms, &lanes, &no_hold(), Duration::minutes(30), at(0));
    let late: Vec<i64> = s.late.iter().map(|l| l.booking_id).collect();
    // Booking 0 goes at minute 0; 1 and 2 would wait an hour; 2 has its SMS at minute 30.
    assert_eq!(late, [1]);
    assert_eq!(s.channels["sms"].last_leaves_at, Some(at(30)));
    assert_eq!(
        s.late[0].earliest, None,
        "not before the appointment at all"
    );
}

#[test]
fn quiet_hours_hold_sms_back_unless_urgent() {
    let hold = Hold {
        quiet: Some("00:00-23:59".parse().unwrap()),
        zone: chrono_tz::UTC,
        urgent: Duration::minutes(120),
    };
    let ms = [msg(1, "sms", 60), msg(2, "sms", 6000)];
    let mut l = lane(1.0);
    l.quiet_hours_apply = true;
    let lanes = HashMap::from([("sms", l)]);
    let s = schedule(&ms, &lanes, &hold, Duration::minutes(0), at(0));
    // The urgent one goes now; the other waits for the end of the quiet hours.
    assert!(s.late.is_empty(), "{s:?}");
    assert!(s.channels["sms"].last_leaves_at.unwrap() > at(60));
}
