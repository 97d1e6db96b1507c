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
        slots: 1,
    }
}

/// The SMS fallback of `booking`, due at minute `due`.
fn fallback_sms(booking: i64, due: i64, starts: i64) -> Planned {
    Planned {
        fallback: true,
        due: at(due),
        ..msg(booking, "sms", starts)
    }
}

fn lane(rate: f64) -> Lane {
    Lane {
        rate,
        basis: RateBasis::RateLimit {
            destination: "d".into(),
        },
        waiting: Vec::new(),
        quiet_hours_apply: false,
    }
}

fn waiting(ready: i64, deadline: i64) -> Waiting {
    Waiting {
        ready: at(ready),
        deadline: at(deadline),
        slots: 1,
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
    l.waiting = (0..20).map(|_| waiting(0, 20)).collect();
    l.waiting.extend((0..50).map(|_| waiting(0, 500)));
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
    ms.push(fallback_sms(2, 30, 60));
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

#[test]
fn an_sms_takes_one_slot_per_segment() {
    // 1 segment per minute; three SMS of 3 segments each: the third leaves at minute 6.
    let ms: Vec<Planned> = (0..3)
        .map(|b| Planned {
            slots: 3,
            ..msg(b, "sms", 600)
        })
        .collect();
    let lanes = HashMap::from([("sms", lane(1.0 / 60.0))]);
    let s = schedule(&ms, &lanes, &no_hold(), Duration::zero(), at(0));
    let sms = &s.channels["sms"];
    assert_eq!((sms.messages, sms.slots), (3, 9));
    assert_eq!(sms.last_leaves_at, Some(at(6)));
}

#[test]
fn a_message_waiting_for_its_retry_joins_the_queue_at_its_retry_time() {
    // Ten retries of earlier appointments, due at minute 5; one message per minute.
    let last = |run: i64| {
        let ms: Vec<Planned> = (0..run).map(|b| msg(b, "email", 100)).collect();
        let mut l = lane(1.0 / 60.0);
        l.waiting = (0..10).map(|_| waiting(5, 50)).collect();
        let lanes = HashMap::from([("email", l)]);
        let s = schedule(&ms, &lanes, &no_hold(), Duration::zero(), at(0));
        s.channels["email"].last_leaves_at
    };
    assert_eq!(last(2), Some(at(1)), "both before the retries are due");
    // Minutes 0-4 take five of the run's; 5-14 the retries; the last two at 15 and 16.
    assert_eq!(last(7), Some(at(16)));
}

#[test]
fn nothing_leaves_through_a_channel_whose_destinations_are_all_down() {
    let mut ms = vec![msg(1, "email", 60), msg(2, "email", 60)];
    ms.push(fallback_sms(2, 30, 60));
    let mut down = lane(0.0);
    down.basis = RateBasis::Down;
    let lanes = HashMap::from([("email", down), ("sms", lane(10.0))]);
    let s = schedule(&ms, &lanes, &no_hold(), Duration::minutes(30), at(0));
    // Booking 1 has email only: on the call list. Booking 2's SMS fallback saves it.
    let late: Vec<i64> = s.late.iter().map(|l| l.booking_id).collect();
    assert_eq!(late, [1]);
    assert_eq!(s.late[0].earliest, None);
    assert_eq!(s.down(), ["email"]);
    assert_eq!(s.channels["email"].last_leaves_at, None);
    assert!(
        s.late[0]
            .reason(chrono_tz::UTC, &s.down())
            .contains("email cannot be sent")
    );
}

fn facts(
    name: &str,
    limit: Option<f64>,
    concurrency: usize,
    send_ms: Option<u64>,
) -> DestinationFacts {
    DestinationFacts {
        name: name.into(),
        limit,
        concurrency,
        send_time: send_ms.map(std::time::Duration::from_millis),
        down: false,
    }
}

#[test]
fn the_rate_is_the_lower_of_the_limit_and_what_the_connections_carry() {
    // 4 connections at 100 ms: 40/s, below a limit of 50.
    let (rate, basis) = rate_of(&[facts("r", Some(50.0), 4, Some(100))]);
    assert!((rate - 40.0).abs() < 1e-9, "{rate}");
    assert!(matches!(
        basis,
        RateBasis::Connections { concurrency: 4, .. }
    ));
    // ... above a limit of 20.
    let (rate, basis) = rate_of(&[facts("r", Some(20.0), 4, Some(100))]);
    assert_eq!(
        (rate, basis),
        (
            20.0,
            RateBasis::RateLimit {
                destination: "r".into()
            }
        )
    );
    // Not measured yet: the limit, or the assumption.
    assert_eq!(rate_of(&[facts("r", Some(20.0), 4, None)]).0, 20.0);
    let (rate, basis) = rate_of(&[facts("r", None, 4, None)]);
    assert_eq!(rate, UNLIMITED_RATE);
    assert_eq!(
        basis,
        RateBasis::Assumed {
            destination: "r".into()
        }
    );
    // No limit, measured: the connections.
    assert!((rate_of(&[facts("r", None, 2, Some(500))]).0 - 4.0).abs() < 1e-9);
}

#[test]
fn a_down_destination_gives_way_to_the_next_and_none_up_means_down() {
    let mut first = facts("a", Some(5.0), 1, None);
    first.down = true;
    let second = facts("b", Some(7.0), 1, None);
    assert_eq!(
        rate_of(&[first.clone(), second]),
        (
            7.0,
            RateBasis::RateLimit {
                destination: "b".into()
            }
        )
    );
    assert_eq!(rate_of(&[first]), (0.0, RateBasis::Down));
    assert_eq!(rate_of(&[]), (0.0, RateBasis::Down));
}

proptest::proptest! {
    /// The ready messages come out earliest appointment first whatever order they became ready
    /// in: the same order as from a heap of all of them.
    #[test]
    fn ready_messages_are_taken_in_the_order_a_heap_gives(
        steps in proptest::collection::vec((0i64..50, proptest::bool::ANY), 0..300),
    ) {
        let mut ready = super::Ready::default();
        let mut heap = std::collections::BinaryHeap::new();
        for (n, (minute, take)) in steps.into_iter().enumerate() {
            let key = (at(minute), n, 1, Some(n));
            ready.push(key);
            heap.push(std::cmp::Reverse(key));
            if take {
                proptest::prop_assert_eq!(ready.pop(), heap.pop().map(|r| r.0));
            }
        }
        while let Some(std::cmp::Reverse(expected)) = heap.pop() {
            proptest::prop_assert_eq!(ready.pop(), Some(expected));
        }
        proptest::prop_assert!(ready.is_empty());
        proptest::prop_assert_eq!(ready.pop(), None);
    }
}
