//! Importing exports: bad rows, refusals, encodings, DST — through the real import path.

use crate::helpers::*;
use absage::config::ChannelPolicy;
use absage::import::Outcome;

async fn bookings(t: &TestApp) -> Vec<(String, i64, String)> {
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    sqlx::query_as("select booking_key, starts_at, status from bookings order by booking_key")
        .fetch_all(&mut *conn)
        .await
        .unwrap()
}

fn rows(n: usize) -> Vec<Row> {
    (0..n)
        .map(|i| {
            Row::new(
                &format!("K{i:04}"),
                &format!("2030-01-{:02} 09:00", 8 + i % 20),
            )
        })
        .collect()
}

#[tokio::test]
async fn bad_rows_are_reported_with_line_and_field_and_the_rest_imports() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path(), ChannelPolicy::Both);
    let t = TestApp::start(dir, s).await;
    let mut text = csv_text(&rows(3));
    text.push_str("K9001,31.02.2030 09:00,15,Zulassung,Soest,X,x@example.org,0171 1234567,de\n");
    text.push_str(",2030-01-09 09:00,15,Zulassung,Soest,Y,y@example.org,0171 1234568,de\n");
    text.push_str("K9003,2030-01-09 09:00,15,Zulassung,Soest,Z,not-an-address,0171 1234569,de\n");
    std::fs::write(t.dir.path().join("export.csv"), text).unwrap();
    let r = t.import().await;
    assert_eq!(r.outcome, Outcome::Applied);
    assert_eq!(
        (
            r.counts.rows_read,
            r.counts.rows_new,
            r.counts.rows_rejected
        ),
        (6, 4, 2)
    );
    let lines: Vec<(u64, &str)> = r
        .rejected
        .iter()
        .map(|e| (e.line, e.field.as_str()))
        .collect();
    assert_eq!(lines, [(5, "start"), (6, "key")]);
    // The unusable address costs K9003 its email, not its booking (the SMS still goes).
    assert_eq!(
        (r.contact.email, r.contact.phone, r.contact.no_channel),
        (1, 0, 0)
    );
    let problem = &r.contact.first[0];
    assert_eq!((problem.line, problem.field.as_str()), (7, "email"));
    assert!(
        !problem.reason.contains("not-an-address"),
        "personal data must not be echoed: {}",
        problem.reason
    );
    assert_eq!(
        r.counts.conservation(true),
        "read 6 = imported 4 + rejected 2"
    );
    assert_eq!(bookings(&t).await.len(), 4);
}

#[tokio::test]
async fn a_truncated_export_is_refused_whole_and_changes_nothing() {
    let t = TestApp::with_rows(ChannelPolicy::Both, &rows(20)).await;
    let before = bookings(&t).await;
    t.write_export(&rows(20)[..5]);
    let r = t.import().await;
    assert_eq!(r.outcome, Outcome::Refused);
    assert!(
        r.message.as_deref().unwrap().contains("remove 15 of 20"),
        "{:?}",
        r.message
    );
    assert_eq!(bookings(&t).await, before);
    let forced = t.import_forced().await;
    assert_eq!(
        (forced.outcome, forced.counts.rows_removed),
        (Outcome::Applied, 15)
    );
    assert_eq!(
        bookings(&t).await.iter().filter(|b| b.2 == "gone").count(),
        15
    );
}

#[tokio::test]
async fn every_import_is_kept_in_the_history_with_its_counts_duration_and_outcome() {
    let t = TestApp::with_rows(ChannelPolicy::Both, &rows(20)).await;
    t.clock.advance(chrono::Duration::minutes(5));
    t.write_export(&rows(20)[..5]);
    t.import().await; // refused: it would remove 15 of 20
    t.clock.advance(chrono::Duration::minutes(5));
    let mut changed = rows(21);
    changed[0] = changed[0].clone().service("Führerschein");
    changed[1] = Row::new("K0001", "not a date");
    t.write_export(&changed);
    t.import().await;

    let mut conn = t.app.ctx.store.conn().await.unwrap();
    let all = absage::store::imports::history(&mut conn, None, 10)
        .await
        .unwrap();
    let seen: Vec<(&str, [i64; 6])> = all
        .iter()
        .map(|r| {
            let c = &r.counts;
            (
                r.outcome.as_str(),
                [
                    c.rows_read,
                    c.rows_new,
                    c.rows_updated,
                    c.rows_unchanged,
                    c.rows_removed,
                    c.rows_rejected,
                ],
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("applied", [21, 1, 1, 18, 0, 1]),
            // What the refused file held, though none of it was applied.
            ("refused", [5, 0, 0, 5, 0, 0]),
            ("applied", [20, 20, 0, 0, 0, 0]),
        ],
        "newest first; read, new, updated, unchanged, removed, rejected"
    );
    assert!(
        all[1]
            .message
            .as_deref()
            .unwrap()
            .contains("remove 15 of 20")
    );
    assert!(all.iter().all(|r| r.duration_ms().is_some_and(|d| d >= 0)));
    assert_eq!(
        all[0].started_at - all[2].started_at,
        chrono::Duration::minutes(10),
        "each import is stamped with its own time"
    );
    let none = absage::store::imports::history(&mut conn, Some("elsewhere"), 10)
        .await
        .unwrap();
    assert!(none.is_empty(), "filtered by source");

    let status = absage::reports::status(&t.app.ctx, t.clock.now())
        .await
        .unwrap();
    let ids: Vec<i64> = status.recent_imports.iter().map(|r| r.id).collect();
    let want: Vec<i64> = all.iter().map(|r| r.id).collect();
    assert_eq!(ids, want, "status lists the recent imports");
}

#[tokio::test]
async fn a_file_without_the_mapped_columns_is_refused_with_one_message() {
    let t = TestApp::with_rows(ChannelPolicy::Both, &rows(3)).await;
    std::fs::write(
        t.dir.path().join("export.csv"),
        "key;start;minutes\nK1;2030-01-08 09:00;15\n",
    )
    .unwrap();
    let r = t.import().await;
    assert_eq!(r.outcome, Outcome::Refused);
    let m = r.message.unwrap();
    assert!(m.contains("export.csv") && m.contains("service"), "{m}");
    assert_eq!(bookings(&t).await.len(), 3);
}

#[tokio::test]
async fn a_windows_1252_export_with_separate_date_and_time_columns_is_read_right() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    let src = &mut s.sources[0];
    src.csv.delimiter = ';';
    src.csv.encoding = absage::import::csv::Encoding::Windows1252;
    src.fields.date = "Datum".into();
    src.fields.time = Some("Uhrzeit".into());
    src.fields.duration = None;
    src.fields.service = "Dienstleistung".into();
    src.fields.key = "Nr".into();
    src.fields.name = "Name".into();
    src.fields.location = None;
    src.fields.email = None;
    src.fields.phone = Some("Telefon".into());
    src.fields.language = None;
    let t = TestApp::start(dir, s).await;
    let mut bytes = b"Nr;Datum;Uhrzeit;Dienstleistung;Name;Telefon\r\n".to_vec();
    bytes.extend_from_slice(
        b"1;07.01.2030;09:30;F\xfchrerschein;J\xfcrgen M\xfcller;+49 (0)171 2345678\r\n",
    );
    bytes.extend_from_slice(b"2;31.03.2030;02:30;Zulassung;Gap;0171 2345679\r\n"); // DST gap in Berlin
    bytes.extend_from_slice(b"3;27.10.2030;02:30;Zulassung;Repeat;0171 2345670\r\n"); // DST repeat
    std::fs::write(t.dir.path().join("export.csv"), bytes).unwrap();
    let r = t.import().await;
    assert_eq!(r.counts.rows_new, 3, "{:?}", r.rejected);
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    let got: Vec<(String, String, i64, Option<String>)> = sqlx::query_as(
        "select service, name, starts_at, phone_e164 from bookings order by booking_key",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    assert_eq!(got[0].0, "Führerschein");
    assert_eq!(got[0].1, "Jürgen Müller");
    assert_eq!(got[0].2, t.local("2030-01-07 09:30").timestamp_millis());
    assert_eq!(got[0].3.as_deref(), Some("+491712345678"));
    // 02:30 does not exist on 31 March 2030: moved forward by the gap, to 03:30 CEST = 01:30 UTC.
    assert_eq!(
        got[1].2,
        chrono::DateTime::parse_from_rfc3339("2030-03-31T01:30:00Z")
            .unwrap()
            .timestamp_millis()
    );
    // 02:30 exists twice on 27 October 2030: the first (CEST) is taken = 00:30 UTC.
    assert_eq!(
        got[2].2,
        chrono::DateTime::parse_from_rfc3339("2030-10-27T00:30:00Z")
            .unwrap()
            .timestamp_millis()
    );
}

#[tokio::test]
async fn a_booking_whose_row_is_broken_this_time_is_kept_and_keeps_its_notice() {
    let rows = rows(4);
    let t = TestApp::with_rows(ChannelPolicy::Both, &rows).await;
    t.declare(
        "2030-01-08 00:00",
        "2030-01-31 00:00",
        absage::domain::outage::Scope::default(),
    )
    .await;
    let mut broken = rows.clone();
    broken[1].phone = "12".into(); // not a phone number: the earlier good one is kept
    let mut text = csv_text(&broken);
    text.push_str("K0002,2030-01-10 09:00,15,Zulassung,Soest,X,x@example.org\n"); // too few fields
    let text = text.replace(
        "K0002,2030-01-10 09:00,15,Zulassung,Soest,Bürger K0002",
        "DROPPED",
    );
    std::fs::write(t.dir.path().join("export.csv"), text).unwrap();
    let r = t.import().await;
    assert_eq!(r.outcome, Outcome::Applied);
    assert_eq!(
        (
            r.counts.rows_rejected,
            r.counts.rows_removed,
            r.contact.phone
        ),
        (2, 0, 1),
        "{:?}",
        r.rejected
    );
    assert!(bookings(&t).await.iter().all(|b| b.2 == "active"));
    let ns = t.notifications().await;
    assert_eq!(count(&ns, |n| n.state == "queued"), 8, "{ns:?}");
}

#[tokio::test]
async fn a_json_export_with_nested_records_imports_through_the_same_path() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    let src = &mut s.sources[0];
    src.kind = absage::import::SourceKind::Json;
    src.path = dir.path().join("export.json");
    src.json = toml::from_str("records_path = \"data.appointments\"").unwrap();
    src.fields.key = "id".into();
    src.fields.date = "start".into();
    src.fields.duration = Some("minutes".into());
    src.fields.service = "service.name".into();
    src.fields.location = Some("service.office".into());
    src.fields.name = "customer.name".into();
    src.fields.email = Some("customer.email".into());
    src.fields.phone = Some("customer.phones.0".into());
    src.fields.language = Some("customer.lang".into());
    let t = TestApp::start(dir, s).await;
    let json = r#"{"data": {"generated": "2030-01-06", "appointments": [
        {"id": 1, "start": "2030-01-07 09:00", "minutes": 20,
         "service": {"name": "Zulassung", "office": "Soest"},
         "customer": {"name": "Jürgen Müller", "email": "j@example.org", "phones": ["0171 2345678"], "lang": "de"}},
        {"id": 2, "start": "2030-01-07 25:00", "minutes": 20,
         "service": {"name": "Zulassung", "office": "Soest"}, "customer": {"name": "X"}},
        {"id": 3, "start": "2030-01-07 10:00", "minutes": 20,
         "service": {"name": "Führerschein", "office": "Lippstadt"},
         "customer": {"name": "Ayşe", "phones": [4917612345678], "lang": "Türkisch"}}
    ]}}"#;
    std::fs::write(t.dir.path().join("export.json"), json).unwrap();
    let r = t.import().await;
    assert_eq!(
        (r.outcome, r.counts.rows_new, r.counts.rows_rejected),
        (Outcome::Applied, 2, 1),
        "{:?}",
        r.rejected
    );
    assert_eq!(
        (r.rejected[0].line, r.rejected[0].field.as_str()),
        (2, "start"),
        "record 2, field start"
    );
    t.declare(
        "2030-01-07 08:00",
        "2030-01-07 12:00",
        absage::domain::outage::Scope::default(),
    )
    .await;
    let ns = t.notifications().await;
    assert_eq!(count(&ns, |n| n.key == "1"), 2);
    let three: Vec<&Notif> = ns.iter().filter(|n| n.key == "3").collect();
    assert_eq!(
        (
            three.len(),
            three[0].channel.as_str(),
            three[0].language.as_str()
        ),
        (1, "sms", "tr")
    );
}

#[tokio::test]
async fn an_icalendar_export_imports_with_zones_attendees_and_cancellations() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    let src = &mut s.sources[0];
    src.kind = absage::import::SourceKind::Ics;
    src.path = dir.path().join("termine.ics");
    src.fields = toml::from_str(
        "key = \"UID\"\ndate = \"DTSTART\"\nservice = \"SUMMARY\"\nlocation = \"LOCATION\"\n\
         name = \"ATTENDEE;CN\"\nemail = \"ATTENDEE\"\nphone = \"DESCRIPTION:Telefon\"\n",
    )
    .unwrap();
    let t = TestApp::start(dir, s).await;
    let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n\
BEGIN:VEVENT\r\nUID:a-1\r\nDTSTAMP:20300101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20300107T090000\r\n\
DTEND;TZID=Europe/Berlin:20300107T091500\r\nSUMMARY:Zulassung\r\nLOCATION:Soest\r\n\
ORGANIZER:mailto:termine@kreis-soest.example\r\n\
ATTENDEE;CN=Jürgen Müller;ROLE=REQ-PARTICIPANT:mailto:j@example.org\r\n\
DESCRIPTION:Telefon: 0171 2345678\\nBitte Ausweis mitbringen\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:a-2\r\nDTSTAMP:20300101T000000Z\r\nDTSTART:20300107T090000Z\r\nDURATION:PT30M\r\n\
SUMMARY:Zulassung\r\nLOCATION:Soest\r\nSTATUS:CANCELLED\r\nATTENDEE;CN=X:mailto:x@example.org\r\nEND:VEVENT\r\n\
END:VCALENDAR\r\n";
    std::fs::write(t.dir.path().join("termine.ics"), ics).unwrap();
    let r = t.import().await;
    assert_eq!(
        (r.outcome, r.counts.rows_new, r.counts.rows_rejected),
        (Outcome::Applied, 2, 0),
        "{:?}",
        r.rejected
    );
    t.declare(
        "2030-01-07 08:00",
        "2030-01-07 12:00",
        absage::domain::outage::Scope::default(),
    )
    .await;
    let ns = t.notifications().await;
    let mut got: Vec<(String, String, String)> = ns
        .iter()
        .map(|n| (n.key.clone(), n.channel.clone(), n.recipient.clone()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("a-1".into(), "email".into(), "j@example.org".into()),
            ("a-1".into(), "sms".into(), "+491712345678".into())
        ],
        "the cancelled event gets nothing"
    );
    let one = ns.iter().find(|n| n.channel == "email").unwrap();
    assert_eq!(one.deadline, t.local("2030-01-07 09:00").timestamp_millis());
}

/// The columns of tests/fixtures/termine.ods.
const FIXTURE_FIELDS: &str = "key = \"Termin-Nr\"\ndate = \"Datum\"\ntime = \"Uhrzeit\"\n\
    service = \"Dienstleistung\"\nname = \"Name\"\nphone = \"Telefon\"\n";

#[tokio::test]
async fn an_ods_spreadsheet_imports_through_the_same_path_with_bad_cells_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/termine.ods");
    s.sources[0].kind = absage::import::SourceKind::Spreadsheet;
    s.sources[0].path = fixture;
    s.sources[0].fields = toml::from_str(FIXTURE_FIELDS).unwrap();
    s.sources[0].sheet = toml::from_str("sheet = \"Termine\"").unwrap();
    let t = TestApp::start(dir, s).await;
    let r = t.import().await;
    assert_eq!(r.outcome, Outcome::Applied, "{:?}", r.message);
    assert_eq!(
        (r.counts.rows_new, r.counts.rows_rejected),
        (3, 1),
        "{:?}",
        r.rejected
    );
    assert_eq!((r.position, r.rejected[0].line), ("row", 5));
    assert_eq!(
        r.rejected[0].cell.as_deref(),
        Some("Termine!B5"),
        "{:?}",
        r.rejected
    );
}

#[tokio::test]
async fn status_shows_each_sources_last_import_and_flags_it_when_stale() {
    let t = TestApp::with_rows(ChannelPolicy::Both, &rows(3)).await;
    let status = absage::reports::status(&t.app.ctx, t.clock.now())
        .await
        .unwrap();
    let s = &status.sources[0];
    assert_eq!(
        (
            s.stale,
            s.age_secs,
            s.last_counts.as_ref().map(|c| c.rows_new)
        ),
        (false, Some(0), Some(3))
    );
    let later = t.clock.now() + chrono::Duration::minutes(61);
    let status = absage::reports::status(&t.app.ctx, later).await.unwrap();
    assert!(
        status.sources[0].stale,
        "older than stale_after_minutes = 60"
    );
}

#[tokio::test]
async fn a_query_against_a_database_export_imports_like_a_file() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    // An exported SQLite database — or, on the PostgreSQL round, a live PostgreSQL database.
    let url = test_database_url(format!(
        "sqlite://{}/export.db?mode=rwc",
        dir.path().display()
    ))
    .await;
    sqlx::any::install_default_drivers();
    let mut db = sqlx::AnyConnection::connect(&url).await.unwrap();
    for stmt in [
        "create table termine (id bigint, beginn text, leistung text, name text, mail text, tel text)",
        "insert into termine values (1, '2030-01-07 09:00', 'Zulassung', 'Jürgen Müller', 'j@example.org', '0171 2345678')",
        "insert into termine values (2, '2030-01-07 25:00', 'Zulassung', 'X', null, null)",
        "insert into termine values (3, '2030-01-07 10:00', 'Führerschein', 'Erika', 'e@example.org', null)",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(stmt))
            .execute(&mut db)
            .await
            .unwrap();
    }
    db.close().await.unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    let src = &mut s.sources[0];
    src.kind = absage::import::SourceKind::Sql;
    src.sql.url = absage::secret::Secret::new(url.replace("?mode=rwc", ""));
    src.sql.query = "select id, beginn, leistung, name, mail, tel from termine order by id".into();
    src.fields = toml::from_str("key = \"id\"\ndate = \"beginn\"\nservice = \"leistung\"\nname = \"name\"\nemail = \"mail\"\nphone = \"tel\"\n").unwrap();
    let t = TestApp::start(dir, s).await;
    let r = t.import().await;
    assert_eq!(
        (r.outcome, r.counts.rows_new, r.counts.rows_rejected),
        (Outcome::Applied, 2, 1),
        "{:?}",
        r.rejected
    );
    assert_eq!(
        (r.rejected[0].line, r.rejected[0].field.as_str()),
        (2, "beginn"),
        "row 2 of the query"
    );
    let got = bookings(&t).await;
    assert_eq!(
        got.iter().map(|b| b.0.as_str()).collect::<Vec<_>>(),
        ["1", "3"]
    );

    // A query lacking a mapped column is refused as a whole, naming it.
    let mut bad = t.app.ctx.settings.sources[0].clone();
    bad.sql.query = "select id, beginn, name from termine".into();
    let r = t
        .app
        .import(&bad, &Default::default(), &|_| {})
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::Refused);
    assert!(
        r.message.as_deref().unwrap().contains("leistung"),
        "{:?}",
        r.message
    );
}

#[tokio::test]
async fn an_export_behind_a_url_is_fetched_with_its_token_and_a_refusal_names_the_status() {
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    // The booking system's export endpoint is a third-party service: a mock stands in for it.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/export.csv"))
        .and(header("Authorization", "Bearer geheim"))
        .respond_with(ResponseTemplate::new(200).set_body_string(csv_text(&rows(4))))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    s.sources[0].http = toml::from_str(&format!(
        "url = \"{}/export.csv?token=x\"\nauth_header = \"Authorization\"\ntoken = \"Bearer geheim\"\ntimeout_secs = 5\n",
        server.uri()
    ))
    .unwrap();
    let t = TestApp::start(dir, s).await;
    let r = t.import().await;
    assert_eq!(
        (r.outcome, r.counts.rows_new),
        (Outcome::Applied, 4),
        "{:?}",
        r.message
    );

    let mut wrong = t.app.ctx.settings.sources[0].clone();
    wrong.http.token = Some(absage::secret::Secret::new("Bearer falsch"));
    let r = t
        .app
        .import(&wrong, &Default::default(), &|_| {})
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::Refused);
    let m = r.message.unwrap();
    assert!(
        m.contains("404") && !m.contains("token=x") && !m.contains("falsch"),
        "{m}"
    );
    assert_eq!(bookings(&t).await.len(), 4, "nothing changed");
}

/// A full import skips looking for missing bookings when the source held none that were not
/// gone: one that held only a cancelled booking still has it marked gone when the next export
/// lacks it, and bookings already gone stay gone.
#[tokio::test]
async fn a_source_holding_only_cancelled_bookings_still_loses_the_missing_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    s.sources[0].fields.status = Some("status".into());
    let t = TestApp::start(dir, s).await;
    let header = "key,start,minutes,service,location,name,email,phone,language,status\n";
    let row = |key: &str, status: &str| {
        format!(
            "{key},2030-01-09 11:00,15,Zulassung,Soest,Bürger {key},{key}@example.org,,de,{status}\n"
        )
    };
    let export = |text: String| std::fs::write(t.dir.path().join("export.csv"), text).unwrap();
    let removed = |r: absage::import::ImportReport| (r.outcome, r.counts.rows_removed);

    export(format!("{header}{}", row("K0001", "storniert")));
    assert_eq!(removed(t.import().await), (Outcome::Applied, 0));
    export(format!("{header}{}", row("K0002", "")));
    assert_eq!(removed(t.import().await), (Outcome::Applied, 1));
    let statuses = |b: Vec<(String, i64, String)>| -> Vec<(String, String)> {
        b.into_iter()
            .map(|(key, _, status)| (key, status))
            .collect()
    };
    assert_eq!(
        statuses(bookings(&t).await),
        [
            ("K0001".into(), "gone".into()),
            ("K0002".into(), "active".into())
        ]
    );

    // Now the source holds one active booking; the next export is the first one again.
    export(format!("{header}{}", row("K0003", "")));
    assert_eq!(removed(t.import_forced().await), (Outcome::Applied, 1));
    assert_eq!(
        statuses(bookings(&t).await),
        [
            ("K0001".into(), "gone".into()),
            ("K0002".into(), "gone".into()),
            ("K0003".into(), "active".into())
        ]
    );
}

/// The first import of a source looks up only the keys it wrote itself (`chunk::Written`):
/// the store held nothing of the source. A source whose bookings are all gone still holds
/// them: an export that brings them back updates them, it does not insert them again.
#[tokio::test]
async fn bookings_that_are_all_gone_come_back_updated_not_new() {
    let t = TestApp::with_rows(ChannelPolicy::Both, &rows(3)).await;
    t.write_export(&rows(0));
    let r = t.import_forced().await;
    assert_eq!(
        (r.outcome, r.counts.rows_removed),
        (Outcome::Applied, 3),
        "{:?}",
        r.message
    );
    t.write_export(&rows(3));
    let r = t.import().await;
    assert_eq!(
        (r.outcome, r.counts.rows_new, r.counts.rows_updated),
        (Outcome::Applied, 0, 3),
        "{:?}",
        r.message
    );
    let b = bookings(&t).await;
    assert_eq!(b.len(), 3);
    assert!(b.iter().all(|b| b.2 == "active"), "{b:?}");
}

#[tokio::test]
async fn an_incremental_export_updates_and_cancels_but_never_removes() {
    let t = TestApp::with_rows(ChannelPolicy::Both, &rows(10)).await;
    t.declare(
        "2030-01-08 00:00",
        "2030-01-31 00:00",
        absage::domain::outage::Scope::default(),
    )
    .await;
    let mut incremental = t.app.ctx.settings.sources[0].clone();
    incremental.mode = absage::import::ImportMode::Incremental;
    incremental.fields.status = Some("status".into());
    let mut text =
        String::from("key,start,minutes,service,location,name,email,phone,language,status\n");
    text.push_str("K0001,2030-01-09 11:00,15,Zulassung,Soest,Bürger K0001,k0001@example.org,0171 1111111,de,\n");
    text.push_str("K0002,2030-01-10 09:00,15,Zulassung,Soest,Bürger K0002,k0002@example.org,0171 2222222,de,storniert\n");
    text.push_str("K0100,2030-01-12 09:00,15,Zulassung,Soest,Neu,neu@example.org,,de,\n");
    std::fs::write(t.dir.path().join("export.csv"), text).unwrap();
    let r = t
        .app
        .import(&incremental, &Default::default(), &|_| {})
        .await
        .unwrap();
    assert_eq!(
        (
            r.outcome,
            r.counts.rows_new,
            r.counts.rows_updated,
            r.counts.rows_removed
        ),
        (Outcome::Applied, 1, 2, 0)
    );
    let b = bookings(&t).await;
    assert_eq!(b.len(), 11);
    assert_eq!(
        b.iter().filter(|b| b.2 == "active").count(),
        10,
        "K0002 cancelled, nothing removed"
    );
    let ns = t.notifications().await;
    assert!(
        ns.iter()
            .filter(|n| n.key == "K0002")
            .all(|n| n.state == "cancelled")
    );
    assert_eq!(
        count(&ns, |n| n.key == "K0100"),
        1,
        "the new booking gets its notice (email only)"
    );
}

/// Found by attacking the release build: an export joined with its services lists a booking
/// once per service, and some systems reuse a number for a family's bookings. The first row
/// won and every other was "rejected": the second service was unknown to the scope, and the
/// second citizen was never told. Now the same person's rows join one booking (also across
/// the importer's chunks of rows), and another person under the same key is a booking
/// of their own.
#[tokio::test]
async fn a_key_repeated_for_another_service_or_another_citizen_loses_nobody() {
    let day = |i: usize| format!("2030-01-08 {:02}:{:02}", 8 + (i / 60) % 9, i % 60);
    let mut rows: Vec<Row> = (0..1200)
        .map(|i| Row::new(&format!("F{i:04}"), &day(i)))
        .collect();
    // The same appointment again for another service: next to it, and 1,100 rows later.
    rows.insert(1, rows[0].clone().service("Führerschein"));
    let later = rows.iter().find(|r| r.key == "F0005").unwrap().clone();
    rows.push(later.service("Führerschein"));
    // Another citizen under the same number, with their own contact data.
    rows.push(
        Row::new("F0007", &day(7))
            .email("geschwister@example.org")
            .phone("0171 9999999"),
    );
    let t = TestApp::with_rows(ChannelPolicy::Both, &[]).await;
    t.write_export(&rows);
    let r = t.import().await;
    assert_eq!(
        r.counts.conservation(true),
        "read 1203 = imported 1203 (of which 2 merged: another service of the same booking) \
         + rejected 0"
    );
    assert!(
        r.first_warnings
            .iter()
            .any(|w| w.contains("another citizen")),
        "{:?}",
        r.first_warnings
    );
    let impact = t
        .declare(
            "2030-01-08 07:00",
            "2030-01-08 18:00",
            scope(&["Führerschein"], &[]),
        )
        .await;
    assert_eq!(
        impact.conservation.affected, 2,
        "both bookings that also hold the second service"
    );
    let told: Vec<String> = t
        .notifications()
        .await
        .into_iter()
        .filter(|n| n.channel == "email")
        .map(|n| n.key)
        .collect();
    assert_eq!(told, ["F0000", "F0005"]);
    let impact = t
        .declare(
            "2030-01-08 07:00",
            "2030-01-08 18:00",
            scope(&["Zulassung"], &[]),
        )
        .await;
    let c = &impact.conservation;
    assert_eq!(
        c.affected + c.covered_elsewhere as i64,
        1201,
        "1,200 numbers and the second citizen under F0007: {c}"
    );
    let siblings = t
        .notifications()
        .await
        .into_iter()
        .filter(|n| n.key.starts_with("F0007"))
        .map(|n| n.recipient)
        .collect::<std::collections::BTreeSet<_>>();
    assert!(
        siblings.contains("geschwister@example.org") && siblings.contains("f0007@example.org"),
        "{siblings:?}"
    );
    reimport_changes_nothing(&t, 2).await;
}

/// The next import of the same file writes nothing new or changed; `merged` rows join
/// bookings again, as the first time.
async fn reimport_changes_nothing(t: &TestApp, merged: i64) {
    let r = t.import().await;
    assert_eq!(
        (
            r.counts.rows_new,
            r.counts.rows_updated,
            r.counts.rows_merged
        ),
        (0, 0, merged),
        "{}",
        r.counts.conservation(true)
    );
}

/// A chunk is decided and bound while the chunk before it is written (`chunk.rs`), so a
/// lookup of a key that write holds must wait for it. Repeats of every kind right at the chunk
/// boundaries (rows 1,000 and 2,000): the same appointment for another service; another
/// citizen under a number of an earlier chunk and, in the next chunk, that citizen's second
/// service (a lookup of `KEY#person` only); a key whose first row is broken.
#[tokio::test]
async fn repeated_keys_right_across_chunk_boundaries_lose_nobody() {
    let day = |i: usize| format!("2030-01-08 {:02}:{:02}", 8 + (i / 60) % 9, i % 60);
    let mut rows: Vec<Row> = (0..2400)
        .map(|i| Row::new(&format!("F{i:04}"), &day(i)))
        .collect();
    rows[1000] = rows[999].clone().service("Führerschein");
    rows[1998] = Row::new("F0500", &day(500))
        .email("geschwister@example.org")
        .phone("0171 9999999");
    rows[1999] = Row::new("F1999", "kaputt");
    rows[2000] = rows[1998].clone().service("Führerschein");
    rows[2001] = Row::new("F1999", &day(1999));
    let t = TestApp::with_rows(ChannelPolicy::Both, &[]).await;
    t.write_export(&rows);
    let r = t.import().await;
    assert_eq!(
        r.counts.conservation(true),
        "read 2400 = imported 2399 (of which 2 merged: another service of the same booking) \
         + rejected 1"
    );
    let stored = || async {
        let mut conn = t.app.ctx.store.conn().await.unwrap();
        sqlx::query_as::<_, (String, String, Option<String>)>(
            "select booking_key, service, email from bookings \
             where booking_key in ('F0500', 'F0999') or booking_key like 'F0500#%' \
             or booking_key like 'F1999%' order by booking_key",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap()
    };
    let got = stored().await;
    let summary: Vec<(&str, &str, &str)> = got
        .iter()
        .map(|(key, service, email)| {
            let key = key.split_once('#').map_or(key.as_str(), |(k, _)| k);
            (key, service.as_str(), email.as_deref().unwrap_or(""))
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("F0500", "Zulassung", "f0500@example.org"),
            (
                "F0500",
                "Zulassung\nFührerschein",
                "geschwister@example.org"
            ),
            ("F0999", "Zulassung\nFührerschein", "f0999@example.org"),
            ("F1999", "Zulassung", "f1999@example.org"),
        ],
        "{got:?}"
    );
    reimport_changes_nothing(&t, 2).await;
    assert_eq!(stored().await, got);
}

/// Bookings written before the store kept each booking's person (an upgrade) have none. An
/// import that finds them unchanged records it, so that a later row of the same key, in a
/// later chunk of the same export, still joins its booking instead of becoming another citizen.
#[tokio::test]
async fn a_repeated_key_joins_a_booking_written_before_its_person_was_kept() {
    let day = |i: usize| format!("2030-01-08 {:02}:{:02}", 8 + (i / 60) % 9, i % 60);
    let mut rows: Vec<Row> = (0..1200)
        .map(|i| Row::new(&format!("F{i:04}"), &day(i)))
        .collect();
    let t = TestApp::with_rows(ChannelPolicy::Both, &rows).await;
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    sqlx::query("update bookings set person = null")
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    // The same appointment again for another service, more than a chunk later.
    let first = rows[0].clone();
    rows.push(first.service("Führerschein"));
    t.write_export(&rows);
    let r = t.import().await;
    assert_eq!(
        (
            r.counts.rows_new,
            r.counts.rows_unchanged,
            r.counts.rows_merged
        ),
        (0, 1200, 1),
        "{}",
        r.counts.conservation(true)
    );
    assert!(r.first_warnings.is_empty(), "{:?}", r.first_warnings);
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    let (service, unknown): (String, i64) = sqlx::query_as(
        "select (select service from bookings where booking_key = 'F0000'), \
         (select count(*) from bookings where person is null)",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    assert_eq!((service.as_str(), unknown), ("Zulassung\nFührerschein", 0));
}
