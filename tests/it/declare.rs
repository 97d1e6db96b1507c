//! Declaring outages: which bookings are affected, idempotency, re-matching after imports.

use crate::helpers::*;
use absage::config::ChannelPolicy;
use absage::domain::outage::Scope;

fn calendar() -> Vec<Row> {
    vec![
        Row::new("A-ENDS-AT-START", "2030-01-07 07:45"), // ends 08:00: untouched
        Row::new("B-OVERLAPS-START", "2030-01-07 07:50"), // ends 08:05: affected
        Row::new("C-INSIDE", "2030-01-07 10:00"),
        Row::new("D-STARTS-BEFORE-END", "2030-01-07 11:59"),
        Row::new("E-STARTS-AT-END", "2030-01-07 12:00"), // untouched
        Row::new("F-OTHER-SERVICE", "2030-01-07 10:00").service("Führerschein"),
        Row::new("G-OTHER-PLACE", "2030-01-07 10:30").location("Lippstadt"),
    ]
}

fn keys(ns: &[Notif]) -> Vec<String> {
    let mut k: Vec<String> = ns.iter().map(|n| n.key.clone()).collect();
    k.sort();
    k.dedup();
    k
}

#[tokio::test]
async fn the_window_is_half_open_at_both_edges() {
    let t = TestApp::with_rows(ChannelPolicy::Both, &calendar()).await;
    let impact = t
        .declare("2030-01-07 08:00", "2030-01-07 12:00", Scope::default())
        .await;
    assert_eq!(impact.stats.affected, 5);
    let ns = t.notifications().await;
    assert_eq!(
        keys(&ns),
        [
            "B-OVERLAPS-START",
            "C-INSIDE",
            "D-STARTS-BEFORE-END",
            "F-OTHER-SERVICE",
            "G-OTHER-PLACE"
        ]
    );
    assert_eq!(ns.len(), 10, "one email and one SMS each");
}

#[tokio::test]
async fn scope_filters_by_service_and_location_case_insensitively() {
    let t = TestApp::with_rows(ChannelPolicy::Both, &calendar()).await;
    t.declare(
        "2030-01-07 08:00",
        "2030-01-07 12:00",
        scope(&["zulassung"], &["SOEST"]),
    )
    .await;
    assert_eq!(
        keys(&t.notifications().await),
        ["B-OVERLAPS-START", "C-INSIDE", "D-STARTS-BEFORE-END"]
    );
}

#[tokio::test]
async fn a_dry_run_previews_the_impact_and_changes_nothing() {
    let t = TestApp::with_rows(ChannelPolicy::Both, &calendar()).await;
    let preview = t
        .try_declare(
            "2030-01-07 08:00",
            "2030-01-07 12:00",
            Scope::default(),
            true,
        )
        .await
        .unwrap();
    assert_eq!(preview.id, None);
    assert_eq!(preview.stats.affected, 5);
    assert_eq!(preview.per_channel.get("email"), Some(&5));
    assert_eq!(preview.per_channel.get("sms"), Some(&5));
    let sms = preview
        .samples
        .iter()
        .find(|s| s.channel == "sms")
        .expect("an SMS sample");
    assert!(
        sms.text.contains("Zulassung") || sms.text.contains("Führerschein"),
        "{}",
        sms.text
    );
    assert!(t.notifications().await.is_empty());
}

#[tokio::test]
async fn messages_are_written_in_the_bookings_language_with_german_as_fallback() {
    let rows = vec![
        Row::new("EN", "2030-01-07 09:00").lang("en"),
        Row::new("DE", "2030-01-07 09:15").lang("de"),
        Row::new("TR", "2030-01-07 09:30").lang("tr"),
        Row::new("FR", "2030-01-07 09:45").lang("fr"),
    ];
    let t = TestApp::with_rows(ChannelPolicy::Both, &rows).await;
    t.declare("2030-01-07 08:00", "2030-01-07 12:00", Scope::default())
        .await;
    let sent = t.sent_emails().await;
    let lang = |k: &str| sent.iter().find(|n| n.key == k).unwrap();
    assert_eq!(lang("EN").language, "en");
    assert!(
        lang("EN").text.contains("Monday, 7 January 2030"),
        "{}",
        lang("EN").text
    );
    assert!(
        lang("EN").subject.contains("is cancelled"),
        "{}",
        lang("EN").subject
    );
    assert_eq!(lang("DE").language, "de");
    assert!(
        lang("DE").subject.contains("fällt aus"),
        "{}",
        lang("DE").subject
    );
    assert!(
        lang("DE").text.contains("Montag, 7. Januar 2030"),
        "{}",
        lang("DE").text
    );
    assert_eq!(lang("TR").language, "tr");
    assert!(lang("TR").text.contains("Ocak 2030"), "{}", lang("TR").text);
    assert_eq!(
        lang("FR").language,
        "de",
        "no French templates: the tenant's fallback"
    );
}

#[tokio::test]
async fn bookings_without_email_or_mobile_are_unreachable_and_on_the_call_list() {
    let rows = vec![
        Row::new("LANDLINE", "2030-01-07 09:00")
            .email("")
            .phone("02921 301234"),
        Row::new("NOTHING", "2030-01-07 09:15").email("").phone(""),
        Row::new("OK", "2030-01-07 09:30"),
    ];
    let t = TestApp::with_rows(ChannelPolicy::Both, &rows).await;
    let impact = t
        .declare("2030-01-07 08:00", "2030-01-07 12:00", Scope::default())
        .await;
    assert_eq!(impact.stats.unreachable, 2);
    let list = absage::reports::call_list(&t.app.ctx, impact.id.unwrap())
        .await
        .unwrap();
    let keys: Vec<&str> = list.iter().map(|e| e.booking_key.as_str()).collect();
    assert_eq!(keys, ["LANDLINE", "NOTHING"], "sorted by appointment time");
    assert_eq!(list[0].phone.as_deref(), Some("02921 301234"));
}

#[tokio::test]
async fn declaring_again_or_reimporting_never_queues_a_second_copy() {
    let t = TestApp::with_rows(ChannelPolicy::Both, &calendar()).await;
    let first = t
        .declare("2030-01-07 08:00", "2030-01-07 12:00", Scope::default())
        .await;
    let d = t.dispatcher();
    t.drain(&d).await;
    // The same bookings in another order: the same bytes again would not be read at all
    // (`import_unchanged`), and the outage is to be matched again here.
    let mut rows = calendar();
    rows.reverse();
    t.write_export(&rows);
    let report = t.import().await;
    assert_eq!(report.counts.rows_unchanged, 7);
    assert_eq!(
        report.rematched,
        vec![(
            first.id.unwrap(),
            absage::lifecycle::matching::MatchStats {
                affected: 5,
                ..Default::default()
            }
        )]
    );
    t.drain(&d).await;
    let ns = t.notifications().await;
    assert_eq!(ns.len(), 10);
    assert!(ns.iter().all(|n| n.state == "sent"), "{ns:?}");
}

#[tokio::test]
async fn after_an_import_new_bookings_get_notices_moved_ones_are_withdrawn_and_vanished_ones_wait_for_a_person()
 {
    let mut rows = calendar();
    let t = TestApp::with_rows(ChannelPolicy::Both, &rows).await;
    let id = t
        .declare("2030-01-07 08:00", "2030-01-07 12:00", Scope::default())
        .await
        .id
        .unwrap();
    rows.retain(|r| r.key != "C-INSIDE");
    rows.push(Row::new("H-NEW", "2030-01-07 11:00"));
    // G moves out of the window.
    for r in rows.iter_mut().filter(|r| r.key == "G-OTHER-PLACE") {
        r.start = "2030-01-07 13:00".into();
    }
    t.write_export(&rows);
    let report = t.import().await;
    let stats = &report.rematched[0].1;
    // C vanished from the export: that may be a cut-off file, so its cancellation stands
    // until a person confirms. G moved: an explicit change, withdrawn at once.
    assert_eq!(
        (
            stats.added,
            stats.withdrawn,
            stats.cancelled,
            stats.removal_pending
        ),
        (1, 1, 2, 1)
    );
    let ns = t.notifications().await;
    for n in &ns {
        let want = if n.key == "G-OTHER-PLACE" {
            "cancelled"
        } else {
            "queued"
        };
        assert_eq!(n.state, want, "{n:?}");
    }
    assert_eq!(count(&ns, |n| n.key == "H-NEW"), 2);
    // A second import (the same bookings in another order, so that it is read) does not
    // change that, and counts it again.
    rows.reverse();
    t.write_export(&rows);
    let again = t.import().await;
    assert_eq!(again.rematched[0].1.removal_pending, 1);

    let confirmed = absage::lifecycle::declare::confirm_removals(
        &t.app.ctx,
        id,
        absage::lifecycle::declare::Act {
            by: "test",
            now: t.clock.now(),
            dry_run: false,
        },
    )
    .await
    .expect("confirms");
    assert_eq!(
        (confirmed.stats.withdrawn, confirmed.stats.cancelled),
        (1, 2)
    );
    let ns = t.notifications().await;
    assert!(
        ns.iter()
            .filter(|n| n.key == "C-INSIDE")
            .all(|n| n.state == "cancelled")
    );
    assert_eq!(
        count(&ns, |n| n.key == "C-INSIDE"),
        2,
        "no \"appointment stands\" message: the appointment is gone"
    );
    assert!(confirmed.conservation.holds(), "{}", confirmed.conservation);
}

#[tokio::test]
async fn a_batch_by_booking_keys_notifies_exactly_those_bookings() {
    let t = TestApp::with_rows(ChannelPolicy::Both, &calendar()).await;
    let decl = absage::lifecycle::Declaration {
        tenant: "soest".into(),
        kind: absage::domain::outage::RunKind::Batch,
        selection: absage::domain::outage::Selection::Keys {
            keys: vec![
                "A-ENDS-AT-START".into(),
                "E-STARTS-AT-END".into(),
                "NO-SUCH-KEY".into(),
            ],
            scope: Scope::default(),
        },
        reason: "Die Sachbearbeiterin ist erkrankt".into(),
        created_by: "test".into(),
    };
    let impact = absage::lifecycle::declare::declare(&t.app.ctx, &decl, t.clock.now(), false)
        .await
        .unwrap();
    assert_eq!(impact.stats.affected, 2);
    assert_eq!(
        keys(&t.notifications().await),
        ["A-ENDS-AT-START", "E-STARTS-AT-END"]
    );
    // A batch is a one-off: a later import does not re-match it.
    let report = t.import().await;
    assert!(report.rematched.is_empty());
}

#[tokio::test]
async fn the_preview_counts_sms_segments_and_cost_per_language() {
    let rows = vec![
        Row::new("DE", "2030-01-07 09:00").lang("de"),
        Row::new("TR", "2030-01-07 09:15").lang("tr"),
        Row::new("UK", "2030-01-07 09:30").lang("uk"),
    ];
    let t = TestApp::with_rows(ChannelPolicy::Both, &rows).await;
    let preview = t
        .try_declare(
            "2030-01-07 08:00",
            "2030-01-07 12:00",
            Scope::default(),
            true,
        )
        .await
        .unwrap();
    let de = &preview.sms["de"];
    let tr = &preview.sms["tr"];
    assert_eq!(
        (de.messages, de.segments),
        (1, 2),
        "German stays GSM-7: two segments"
    );
    assert_eq!(de.encodings.get("GSM-7"), Some(&1), "{de:?}");
    assert_eq!(tr.messages, 1);
    // Cyrillic needs UCS-2; Turkish only when the text has ı, ş or ğ (not in "7 Ocak 2030").
    let uk = &preview.sms["uk"];
    assert_eq!(uk.encodings.get("UCS-2"), Some(&1), "{uk:?}");
    assert_eq!(
        (de.short, tr.short, uk.short),
        (0, 0, 0),
        "the full texts fit 4 parts"
    );
    assert!(tr.segments >= 2, "{tr:?}");
    let cost = tr.cost.unwrap();
    assert!((cost - 0.08 * tr.segments as f64).abs() < 1e-9, "{cost}");
}

#[tokio::test]
async fn a_reason_too_long_for_the_full_sms_sends_the_short_sms_and_the_full_email() {
    // An en dash from the calendar must not turn the German SMS into UCS-2 either.
    let office = "Bürgerbüro Hoher Weg 1–3";
    let rows = [Row::new("A", "2030-01-07 09:00").location(office)];
    let t = TestApp::with_rows(ChannelPolicy::Both, &rows).await;
    let reason = "Wegen eines schweren Ausfalls der gesamten Informationstechnik ".repeat(12);
    let decl = absage::lifecycle::Declaration {
        tenant: "soest".into(),
        kind: absage::domain::outage::RunKind::Outage,
        selection: absage::domain::outage::Selection::Window {
            window: absage::domain::outage::Window::new(
                t.local("2030-01-07 08:00"),
                t.local("2030-01-07 12:00"),
            )
            .unwrap(),
            scope: Scope::default(),
        },
        reason: reason.clone(),
        created_by: "test".into(),
    };
    let impact = absage::lifecycle::declare::declare(&t.app.ctx, &decl, t.clock.now(), false)
        .await
        .expect("a long reason never blocks a declaration");
    assert_eq!(impact.stats.sms_short.get("de"), Some(&1));
    assert_eq!(impact.stats.sms_too_long, 0);
    let de = &impact.sms["de"];
    assert_eq!((de.messages, de.short), (1, 1));
    assert_eq!(de.encodings.get("GSM-7"), Some(&1), "{de:?}");
    assert!(de.segments <= 4, "{de:?}");
    let ns = t.notifications().await;
    let sms = ns.iter().find(|n| n.channel == "sms").expect("short SMS");
    let sms = sms
        .body_text
        .as_deref()
        .expect("an SMS is written when queued");
    assert!(!sms.contains("Informationstechnik"), "{sms}");
    assert!(sms.contains("Hoher Weg 1-3"), "{sms}");
    assert!(sms.contains("fällt aus"), "{sms}");
    let sent = t.sent_emails().await;
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0].text.contains(reason.trim()),
        "the email keeps the reason"
    );
}

#[tokio::test]
async fn an_sms_too_long_even_when_short_is_skipped_and_the_citizen_gets_email_or_a_call() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::SmsFirst);
    // One part: a German short SMS fits, no Ukrainian one (UCS-2, 70 characters).
    s.tenants[0].max_sms_segments = 1;
    let t = TestApp::start(dir, s).await;
    t.write_export(&[
        Row::new("DE", "2030-01-07 09:00"),
        Row::new("UK-MAIL", "2030-01-07 09:15").lang("uk"),
        Row::new("UK-PHONE", "2030-01-07 09:30")
            .lang("uk")
            .email(""),
    ]);
    t.import().await;
    let impact = t
        .declare("2030-01-07 08:00", "2030-01-07 12:00", Scope::default())
        .await;
    let s = &impact.stats;
    assert_eq!(s.affected, 3);
    assert_eq!(s.sms_too_long, 2);
    assert_eq!(s.sms_skipped, ["UK-MAIL", "UK-PHONE"]);
    assert_eq!(s.sms_short.get("de"), Some(&1));
    assert_eq!(s.unreachable, 1, "UK-PHONE is left to the call list");
    let ns = t.notifications().await;
    let sent: Vec<(&str, &str)> = ns
        .iter()
        .map(|n| (n.key.as_str(), n.channel.as_str()))
        .collect();
    assert_eq!(sent, [("DE", "sms"), ("DE", "email"), ("UK-MAIL", "email")]);

    // Without its SMS, UK-MAIL's email is no late fallback: it goes now, like DE's SMS.
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    let roles: Vec<(String, String, String)> = sqlx::query_as(
        "select b.booking_key, n.channel, n.role from notifications n \
         join bookings b on b.id = n.booking_id order by n.id",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    let role = |key: &str, channel: &str| {
        roles
            .iter()
            .find(|(k, c, _)| k == key && c == channel)
            .map(|(_, _, r)| r.clone())
    };
    assert_eq!(role("DE", "email").as_deref(), Some("fallback"));
    assert_eq!(role("UK-MAIL", "email").as_deref(), Some("primary"));
    drop(conn);

    let calls = absage::reports::call_list(&t.app.ctx, impact.id.unwrap())
        .await
        .unwrap();
    let keys: Vec<(&str, &str)> = calls
        .iter()
        .map(|c| (c.booking_key.as_str(), c.why.as_str()))
        .collect();
    assert_eq!(
        keys,
        [(
            "UK-PHONE",
            "no email address; SMS over max_sms_segments even in its short form"
        )]
    );
}

#[tokio::test]
async fn foreign_mobiles_get_their_sms_when_the_tenant_does_not_restrict_countries() {
    let rows = vec![
        Row::new("UA", "2030-01-07 09:00").phone("+380 67 123 4567"),
        Row::new("SY", "2030-01-07 09:15").phone("00963 944 567 890"),
        Row::new("TR", "2030-01-07 09:30").phone("+90 532 123 45 67"),
        Row::new("PL", "2030-01-07 09:45").phone("+48 512 345 678"),
    ];
    let t = TestApp::with_rows(ChannelPolicy::Both, &rows).await;
    let impact = t
        .declare("2030-01-07 08:00", "2030-01-07 12:00", Scope::default())
        .await;
    let ns = t.notifications().await;
    let mut got: Vec<(String, String)> = ns
        .iter()
        .filter(|n| n.channel == "sms")
        .map(|n| (n.key.clone(), n.recipient.clone()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("PL".to_string(), "+48512345678".to_string()),
            ("SY".into(), "+963944567890".into()),
            ("TR".into(), "+905321234567".into()),
            ("UA".into(), "+380671234567".into()),
        ]
    );
    let countries: Vec<(&str, u64, u64)> = impact
        .sms_per_country
        .iter()
        .map(|(c, s)| (c.as_str(), s.messages, s.skipped))
        .collect();
    assert_eq!(
        countries,
        [("PL", 1, 0), ("SY", 1, 0), ("TR", 1, 0), ("UA", 1, 0)]
    );
    assert!(impact.conservation.holds(), "{}", impact.conservation);
}

#[tokio::test]
async fn a_mobile_outside_sms_countries_gets_no_sms_keeps_its_email_or_is_on_the_call_list() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::SmsFirst);
    s.tenants[0].sms_countries = Some(vec!["DE".into(), "UA".into()]);
    s.tenants[0].sms_price_per_country = [("UA".to_string(), 0.12), ("SY".to_string(), 0.3)]
        .into_iter()
        .collect();
    let t = TestApp::start(dir, s).await;
    t.write_export(&[
        Row::new("DE", "2030-01-07 09:00"),
        Row::new("UA", "2030-01-07 09:15")
            .phone("+380 67 123 4567")
            .email(""),
        Row::new("SY-MAIL", "2030-01-07 09:30").phone("+963 944 567 890"),
        Row::new("SY-PHONE", "2030-01-07 09:45")
            .phone("00963 933 123 456")
            .email(""),
    ]);
    t.import().await;

    // The preview counts per destination country, and nothing is kept.
    let preview = t
        .try_declare(
            "2030-01-07 08:00",
            "2030-01-07 12:00",
            Scope::default(),
            true,
        )
        .await
        .unwrap();
    let impact = t
        .declare("2030-01-07 08:00", "2030-01-07 12:00", Scope::default())
        .await;
    for i in [&preview, &impact] {
        assert_eq!(i.stats.affected, 4);
        assert_eq!(i.stats.unreachable, 1, "SY-PHONE has no channel left");
        assert_eq!(
            i.stats.sms_country_barred,
            [("SY".to_string(), 2)].into_iter().collect()
        );
        let c = &i.conservation;
        assert!(c.holds(), "{c}");
        assert_eq!((c.affected, c.with_message, c.call_list), (4, 3, 1));
        let countries: Vec<(&str, u64, u64)> = i
            .sms_per_country
            .iter()
            .map(|(c, s)| (c.as_str(), s.messages, s.skipped))
            .collect();
        assert_eq!(countries, [("DE", 1, 0), ("SY", 0, 2), ("UA", 1, 0)]);
        let (de, ua, sy) = (
            &i.sms_per_country["DE"],
            &i.sms_per_country["UA"],
            &i.sms_per_country["SY"],
        );
        let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-9);
        assert!(close(de.cost, 0.08 * de.segments as f64), "{de:?}");
        assert!(close(ua.cost, 0.12 * ua.segments as f64), "{ua:?}");
        assert_eq!((sy.segments, sy.cost), (0, None));
        // Both breakdowns price each SMS at its country's rate.
        let by_language: f64 = i.sms.values().filter_map(|s| s.cost).sum();
        assert!(close(
            Some(by_language),
            de.cost.unwrap() + ua.cost.unwrap()
        ));
        let json = serde_json::to_value(i).unwrap();
        assert_eq!(json["sms_per_country"]["SY"]["skipped"], 2, "{json}");
        assert_eq!(json["sms_country_barred"]["SY"], 2, "{json}");
    }
    assert_eq!(preview.id, None);

    let ns = t.notifications().await;
    let sent: Vec<(&str, &str)> = ns
        .iter()
        .map(|n| (n.key.as_str(), n.channel.as_str()))
        .collect();
    assert_eq!(
        sent,
        [
            ("DE", "sms"),
            ("DE", "email"),
            ("UA", "sms"),
            ("SY-MAIL", "email")
        ],
        "no SMS to Syria"
    );
    assert!(ns.iter().all(|n| !n.recipient.starts_with("+963")));

    let calls = absage::reports::call_list(&t.app.ctx, impact.id.unwrap())
        .await
        .unwrap();
    let why: Vec<(&str, &str)> = calls
        .iter()
        .map(|c| (c.booking_key.as_str(), c.why.as_str()))
        .collect();
    assert_eq!(
        why,
        [(
            "SY-PHONE",
            "no email address; mobile number in a country without SMS (SY; see sms_countries)"
        )]
    );
    assert_eq!(calls[0].phone.as_deref(), Some("00963 933 123 456"));
}

/// A calendar with every kind of reach: both channels, email only, SMS only, neither, and
/// several languages.
fn mixed_calendar() -> Vec<Row> {
    vec![
        Row::new("M-BOTH", "2030-01-07 09:00"),
        Row::new("M-EN", "2030-01-07 09:15").lang("en"),
        Row::new("M-TR-SMS", "2030-01-07 09:30")
            .lang("tr")
            .email(""),
        Row::new("M-MAIL", "2030-01-07 09:45").phone(""),
        Row::new("M-NONE", "2030-01-07 10:00").email("").phone(""),
        Row::new("M-LIPP", "2030-01-07 10:15").location("Lippstadt"),
    ]
}

#[tokio::test]
async fn the_preview_is_what_the_declaration_then_does_and_the_outbox_agrees() {
    let t = TestApp::with_rows(ChannelPolicy::Both, &mixed_calendar()).await;
    let (from, to) = ("2030-01-07 08:00", "2030-01-07 12:00");
    let preview = t
        .try_declare(from, to, Scope::default(), true)
        .await
        .unwrap();
    assert!(
        t.notifications().await.is_empty(),
        "a preview keeps nothing"
    );
    let declared = t.declare(from, to, Scope::default()).await;
    let id = declared.id.expect("stored");
    let mut as_declared = serde_json::to_value(&declared).unwrap();
    as_declared["id"] = serde_json::Value::Null;
    assert_eq!(serde_json::to_value(&preview).unwrap(), as_declared);
    assert_eq!(declared.conservation.affected, 6);
    assert_eq!(declared.conservation.call_list, 1, "M-NONE");
    // The impact is counted from the plan; the outbox as written must say the same.
    let notes = t.notifications().await;
    for channel in ["email", "sms"] {
        let written = notes.iter().filter(|n| n.channel == channel).count() as i64;
        assert_eq!(
            declared.per_channel.get(channel),
            Some(&written),
            "{channel}"
        );
    }
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    let row = absage::store::outages::get(&mut conn, id)
        .await
        .unwrap()
        .unwrap();
    let stored = absage::lifecycle::impact::conservation_of(&mut conn, &row, t.clock.now())
        .await
        .unwrap();
    assert_eq!(stored, declared.conservation);
    let languages: Vec<&String> = declared.per_language.keys().collect();
    assert_eq!(languages, ["de", "en", "tr"]);
}

#[tokio::test]
async fn a_preview_takes_no_write_lock_so_it_never_waits_for_an_import() {
    let t = TestApp::with_rows(ChannelPolicy::Both, &mixed_calendar()).await;
    // Another writer holds the database's write lock (SQLite: BEGIN IMMEDIATE), as a long
    // import or a large declaration would.
    let mut writer = t.app.ctx.store.begin().await.unwrap();
    absage::store::notify_work(&mut writer).await.unwrap();
    let preview = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        t.try_declare(
            "2030-01-07 08:00",
            "2030-01-07 12:00",
            Scope::default(),
            true,
        ),
    )
    .await
    .expect("the preview does not wait for the writer")
    .unwrap();
    assert_eq!(preview.conservation.affected, 6);
    writer.rollback().await.unwrap();
}

/// Pasted from a mail or a chat under stress: a NUL (which PostgreSQL refuses, failing the whole
/// declaration) and a right-to-left override (which would make the SMS read backwards). The
/// declaration goes through, and the citizens read the reason as it looks.
#[tokio::test]
async fn a_reason_with_pasted_control_characters_is_declared_without_them() {
    use absage::domain::outage::{RunKind, Selection, Window};
    let t = TestApp::with_rows(ChannelPolicy::Both, &calendar()).await;
    let decl = absage::lifecycle::Declaration {
        tenant: "soest".into(),
        kind: RunKind::Outage,
        selection: Selection::Window {
            window: Window::new(t.local("2030-01-07 08:00"), t.local("2030-01-07 12:00")).unwrap(),
            scope: Scope::default(),
        },
        reason: "IT-Ausfall\u{0} nach \u{202e}Angriff\u{feff}".into(),
        created_by: "test".into(),
    };
    let impact = absage::lifecycle::declare::declare(&t.app.ctx, &decl, t.clock.now(), false)
        .await
        .expect("declared");
    assert_eq!(impact.conservation.affected, 5);
    let sms = t.notifications().await;
    let sms = sms.iter().filter_map(|n| n.body_text.clone());
    let emails = t.sent_emails().await;
    let texts: Vec<String> = sms.chain(emails.into_iter().map(|e| e.text)).collect();
    assert!(texts.len() >= 5, "{}", texts.len());
    assert!(texts.iter().all(|t| t.contains("IT-Ausfall nach Angriff")));
    assert!(
        texts
            .iter()
            .all(|t| !t.contains(['\u{0}', '\u{202e}', '\u{feff}']))
    );
}

/// A declaration queues who gets which message; each email is written when it is sent, from
/// the booking as it is then (the speed issue: 100,000 rendered emails inside the declaration's
/// transaction were most of its time). Only the first email of the pass is written at once, as
/// the report's sample.
#[tokio::test]
async fn emails_are_written_when_sent_from_the_booking_as_it_is_then() {
    let mut rows = calendar();
    let t = TestApp::with_rows(ChannelPolicy::Both, &rows).await;
    let impact = t
        .declare("2030-01-07 08:00", "2030-01-07 12:00", Scope::default())
        .await;
    let ns = t.notifications().await;
    let emails = count(&ns, |n| n.channel == "email");
    assert_eq!(emails, 5);
    assert_eq!(
        count(&ns, |n| n.channel == "email" && n.body_text.is_some()),
        1,
        "only the sample is written at once"
    );
    assert!(
        count(&ns, |n| n.channel == "sms" && n.body_text.is_some()) == 5,
        "an SMS is written when queued: its length decides whether it goes"
    );
    let sample = impact
        .samples
        .iter()
        .find(|s| s.channel == "email")
        .expect("an email sample");
    assert!(sample.text.contains("IT-Ausfall"), "{}", sample.text);

    // Before anything goes out, the office moves every appointment to another room.
    for r in &mut rows {
        r.location = "Lippstadt Raum 2".into();
    }
    t.write_export(&rows);
    t.import().await;
    let sent = t.sent_emails().await;
    assert_eq!(sent.len(), emails);
    assert!(
        sent.iter().all(|e| e.text.contains("Lippstadt Raum 2")),
        "{:?}",
        sent.iter().map(|e| &e.text).collect::<Vec<_>>()
    );
}

/// A declaration reads its window page by page: across the pages' edges (here seven hundred
/// bookings end at each of thirty times, so every edge falls inside such a group), each
/// booking in scope is affected once, left to an earlier outage that already tells it, or on
/// the call list — never missed, never told twice.
#[tokio::test]
async fn a_window_of_several_pages_affects_each_booking_in_it_once() {
    let page = absage::store::bookings::WINDOW_PAGE as usize;
    let n = 2 * page + 1_000;
    let rows: Vec<Row> = (0..n)
        .map(|i| {
            let minutes = 9 * 60 + 15 * (i % 30);
            let start = format!("2030-01-07 {:02}:{:02}", minutes / 60, minutes % 60);
            let row = Row::new(&format!("K{i:05}"), &start);
            match i {
                _ if i % 10 == 3 => row.service("Führerschein"),
                _ if i % 13 == 0 => row.email("").phone(""),
                _ if i % 17 == 0 => row.email(""),
                _ => row,
            }
        })
        .collect();
    let t = TestApp::with_rows(ChannelPolicy::Both, &rows).await;
    // An earlier outage already tells those at 09:00 and 09:15.
    let earlier = t
        .declare(
            "2030-01-07 09:00",
            "2030-01-07 09:30",
            scope(&["Zulassung"], &[]),
        )
        .await;
    let impact = t
        .declare(
            "2030-01-07 08:00",
            "2030-01-07 18:00",
            scope(&["Zulassung"], &[]),
        )
        .await;

    let in_scope = |i: &usize| i % 10 != 3;
    let no_contact = |i: &usize| i.is_multiple_of(13);
    // Those the earlier one has on its call list are taken too: nobody else tells them.
    let told_before = |i: &usize| i % 30 < 2 && !no_contact(i);
    let earlier_affected = (0..n).filter(in_scope).filter(|i| i % 30 < 2).count() as u64;
    assert_eq!(earlier.stats.affected, earlier_affected);
    let covered = (0..n).filter(in_scope).filter(told_before).count() as u64;
    assert_eq!(impact.stats.covered_elsewhere, covered);
    let affected = (0..n).filter(in_scope).count() as u64 - covered;
    assert_eq!(impact.stats.affected, affected);
    assert!(impact.conservation.holds(), "{}", impact.conservation);
    let call_list = (0..n).filter(in_scope).filter(no_contact).count() as i64;
    assert_eq!(impact.conservation.call_list, call_list);

    let mut conn = t.app.ctx.store.conn().await.unwrap();
    let (targets, bookings): (i64, i64) = sqlx::query_as(
        "select count(*), count(distinct booking_id) from targets where outage_id = $1",
    )
    .bind(impact.id.unwrap())
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    assert_eq!((targets as u64, bookings as u64), (affected, affected));
    let keys: Vec<String> = sqlx::query_scalar(
        "select b.booking_key from targets t join bookings b on b.id = t.booking_id \
         where t.outage_id = $1 order by b.booking_key",
    )
    .bind(impact.id.unwrap())
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    let expected: Vec<String> = (0..n)
        .filter(in_scope)
        .filter(|i| !told_before(i))
        .map(|i| format!("K{i:05}"))
        .collect();
    let missed: Vec<&String> = expected
        .iter()
        .filter(|k| keys.binary_search(k).is_err())
        .collect();
    assert!(
        keys == expected,
        "{} targets, {} expected; missed {missed:.10?}",
        keys.len(),
        expected.len()
    );
    let ns = t.notifications().await;
    let mut told: Vec<(String, String)> = ns
        .iter()
        .map(|n| (n.key.clone(), n.channel.clone()))
        .collect();
    let all = told.len();
    told.sort();
    told.dedup();
    assert_eq!(told.len(), all, "no booking is told twice on a channel");
    let by_the_second = (0..n)
        .filter(in_scope)
        .filter(|i| !told_before(i) && !no_contact(i))
        .map(|i| if i % 17 == 0 { 1 } else { 2 })
        .sum::<usize>();
    let by_the_first = ns.len() - by_the_second;
    assert_eq!(impact.stats.queued as usize, by_the_second);
    assert_eq!(by_the_first as u64, earlier.stats.queued);
}
