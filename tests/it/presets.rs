//! The shipped source presets (`config/sources/*.toml`): each parses as the `[[sources]]` block
//! an operator pastes into absage.toml, and imports an export shaped like the real system's,
//! awkward cases included.

use crate::helpers::*;
use crate::support::mariadb::MariaDb;
use crate::support::postgres::Postgres;
use absage::config::ChannelPolicy;
use absage::import::Outcome;
use absage::import::SourceSettings;
use absage::secret::Secret;
use chrono::DateTime;
use std::path::Path;

/// The one `[[sources]]` entry of a preset file.
fn preset(file: &str) -> SourceSettings {
    #[derive(serde::Deserialize)]
    struct Fragment {
        sources: Vec<SourceSettings>,
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config/sources")
        .join(file);
    let text = std::fs::read_to_string(&path).expect("the preset file exists");
    let mut fragment: Fragment = toml::from_str(&text).expect("the preset parses");
    assert_eq!(fragment.sources.len(), 1, "{file} holds one source");
    fragment.sources.remove(0)
}

/// What a test checks of an imported booking.
#[derive(Debug, sqlx::FromRow)]
struct Imported {
    booking_key: String,
    starts_at: i64,
    ends_at: i64,
    service: String,
    name: String,
    email: Option<String>,
    phone_e164: Option<String>,
    language: Option<String>,
    status: String,
}

async fn imported(t: &TestApp) -> Vec<Imported> {
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    sqlx::query_as(
        "select booking_key, starts_at, ends_at, service, name, email, phone_e164, language, \
         status from bookings order by booking_key",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap()
}

fn utc_ms(rfc3339: &str) -> i64 {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_millis()
}

#[tokio::test]
async fn the_generic_german_preset_reads_a_windows_1252_office_export() {
    let dir = tempfile::tempdir().unwrap();
    let mut source = preset("generic-german-office.toml");
    assert_eq!(
        (source.csv.delimiter, source.fields.time.as_deref()),
        (';', Some("Uhrzeit"))
    );
    source.tenant = "soest".into();
    source.path = dir.path().join("termine.csv");
    let text = "Termin-Nr;Datum;Uhrzeit;Dauer;Dienstleistung;Standort;Name;E-Mail;Telefon;Sprache;Status\r\n\
        1001;08.01.2030;08:30;15;Kfz-Zulassung;Bürgerbüro Soest;Jürgen Müller;juergen@example.org;'+491711234567;Deutsch;\r\n\
        1002;08.01.2030;09:00;20 min;Führerschein;Bürgerbüro Lippstadt;Gül Öztürk;;+49 (0)171 2345678;Türkisch;\r\n\
        1003;08.01.30;10:15;15;Personalausweis;Bürgerbüro Soest;Zoë Weiß;zoe@example.org;0171/3456789;de;Storniert\r\n\
        1004;08.01.2030;11:00;;Wohnsitz;Bürgerbüro Soest;\"Müller; Hans\";;0049 171 4567890;;\r\n";
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(text);
    assert!(!unmappable, "the fixture is plain Windows-1252");
    std::fs::write(&source.path, &bytes).unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    s.sources[0] = source;
    let t = TestApp::start(dir, s).await;

    let r = t.import().await;
    assert_eq!(
        (r.outcome, r.counts.rows_new, r.counts.rows_rejected),
        (Outcome::Applied, 4, 0),
        "{:?}",
        r.rejected
    );
    let got = imported(&t).await;
    let keys: Vec<&str> = got.iter().map(|b| b.booking_key.as_str()).collect();
    assert_eq!(keys, ["1001", "1002", "1003", "1004"]);
    let phones: Vec<Option<&str>> = got.iter().map(|b| b.phone_e164.as_deref()).collect();
    assert_eq!(
        phones,
        [
            Some("+491711234567"),
            Some("+491712345678"),
            Some("+491713456789"),
            Some("+491714567890")
        ],
        "Excel's apostrophe, (0), slash and 0049 all normalise"
    );
    assert_eq!(
        (got[0].starts_at, got[0].ends_at),
        (
            utc_ms("2030-01-08T07:30:00Z"),
            utc_ms("2030-01-08T07:45:00Z")
        )
    );
    assert_eq!(got[0].service, "Kfz-Zulassung");
    assert_eq!(got[0].language.as_deref(), Some("de"), "Deutsch");
    assert_eq!(got[1].name, "Gül Öztürk", "decoded from Windows-1252");
    assert_eq!(got[1].email, None);
    assert_eq!(got[1].language.as_deref(), Some("tr"), "Türkisch");
    assert_eq!(got[1].ends_at - got[1].starts_at, 20 * 60_000, "20 min");
    assert_eq!(
        (got[2].starts_at, got[2].status.as_str()),
        (utc_ms("2030-01-08T09:15:00Z"), "cancelled"),
        "a two-digit year is 2030, and Storniert is cancelled"
    );
    assert_eq!(
        got[3].name, "Müller; Hans",
        "a quoted delimiter stays in the name"
    );
    assert_eq!(
        got[3].ends_at - got[3].starts_at,
        15 * 60_000,
        "empty Dauer: default"
    );
    assert_eq!(got[3].status, "active");
}

#[tokio::test]
async fn the_calcom_preset_imports_citizens_only_from_a_calcom_database() {
    use sqlx::Connection;
    let pg = Postgres::start();
    let url = pg.database("calcom");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/calcom.sql");
    let schema = std::fs::read_to_string(fixture).unwrap();
    let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(schema))
        .execute(&mut db)
        .await
        .expect("the fixture loads");
    db.close().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut source = preset("calcom.toml");
    source.tenant = "soest".into();
    source.sql.url = Secret::new(url);
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    s.sources[0] = source;
    let t = TestApp::start(dir, s).await;

    let r = t.import().await;
    assert_eq!(
        (r.outcome, r.counts.rows_rejected),
        (Outcome::Applied, 0),
        "{:?} {:?}",
        r.message,
        r.rejected
    );
    let got = imported(&t).await;
    let keys: Vec<&str> = got.iter().map(|b| b.booking_key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "bk-cancelled",
            "bk-host",
            "bk-normal",
            "bk-pending",
            "bk-phone",
            "bk-phone-legacy",
            "bk-rejected",
            "bk-two",
            "bk-two/72"
        ],
        "no staff, nothing long past, one booking per citizen"
    );
    let by_key = |key: &str| got.iter().find(|b| b.booking_key == key).unwrap();

    let normal = by_key("bk-normal");
    assert_eq!(
        (normal.starts_at, normal.ends_at),
        (
            utc_ms("2030-01-08T08:00:00Z"),
            utc_ms("2030-01-08T08:15:00Z")
        ),
        "Cal.com's times are UTC"
    );
    assert_eq!(
        normal.service, "Zulassung",
        "the event type, not the long title"
    );
    assert_eq!(normal.email.as_deref(), Some("erika@example.org"));
    assert_eq!(
        normal.phone_e164.as_deref(),
        Some("+4917112345671"),
        "the phone from the booking form"
    );

    let host = by_key("bk-host");
    assert_eq!(host.name, "Ayşe Yılmaz", "the citizen, not a host");
    assert_eq!(host.language.as_deref(), Some("tr"));
    let names: Vec<&str> = got.iter().map(|b| b.name.as_str()).collect();
    assert!(
        !names.contains(&"Anna Amt") && !names.contains(&"Bernd Behörde"),
        "staff are never citizens: {names:?}"
    );

    for key in ["bk-phone", "bk-phone-legacy"] {
        let phone_only = by_key(key);
        assert_eq!(
            phone_only.email, None,
            "{key}: the placeholder is no address"
        );
    }
    assert_eq!(
        by_key("bk-phone").phone_e164.as_deref(),
        Some("+4917198765432")
    );
    assert_eq!(
        by_key("bk-phone-legacy").phone_e164.as_deref(),
        Some("+4917155555555"),
        "the number recovered from the placeholder"
    );

    for (key, status) in [
        ("bk-cancelled", "cancelled"),
        ("bk-rejected", "cancelled"),
        ("bk-pending", "active"),
        ("bk-normal", "active"),
    ] {
        assert_eq!(by_key(key).status, status, "{key}");
    }

    let (first, second) = (by_key("bk-two"), by_key("bk-two/72"));
    assert_eq!(
        (first.name.as_str(), second.name.as_str()),
        ("Max Muster", "Moritz Muster")
    );
    assert_eq!(
        (first.phone_e164.as_deref(), second.phone_e164.as_deref()),
        (Some("+4917111111111"), None),
        "the booker's SMS-reminder number is not the guest's"
    );
    assert_eq!(second.email.as_deref(), Some("moritz@example.org"));
}

/// Loads a fixture (or any SQL script) into the MariaDB database at `url`.
async fn load_mysql(url: &str, sql: String) {
    use sqlx::Connection;
    let mut db = sqlx::MySqlConnection::connect(url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut db)
        .await
        .expect("the SQL loads");
    db.close().await.unwrap();
}

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

/// Booking key → location, which `Imported` does not carry.
async fn locations(t: &TestApp) -> Vec<(String, String)> {
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    sqlx::query_as("select booking_key, location from bookings order by booking_key")
        .fetch_all(&mut *conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_easyappointments_preset_imports_customers_in_utc_from_a_mariadb_database() {
    let db = MariaDb::start();
    let url = db.database("easyappointments");
    load_mysql(&url, fixture("easyappointments.sql")).await;

    let dir = tempfile::tempdir().unwrap();
    let mut source = preset("easyappointments.toml");
    source.tenant = "soest".into();
    source.sql.url = Secret::new(url);
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    s.sources[0] = source;
    let t = TestApp::start(dir, s).await;

    let r = t.import().await;
    assert_eq!(
        (r.outcome, r.counts.rows_new, r.counts.rows_rejected),
        (Outcome::Applied, 6, 0),
        "{:?} {:?}",
        r.message,
        r.rejected
    );
    let got = imported(&t).await;
    let keys: Vec<&str> = got.iter().map(|b| b.booking_key.as_str()).collect();
    assert_eq!(
        keys,
        ["101", "102", "103", "104", "105", "106"],
        "no unavailability (107), no staff as customer (108), nothing long past (109)"
    );
    let by_key = |key: &str| got.iter().find(|b| b.booking_key == key).unwrap();

    for (key, start, end, why) in [
        (
            "101",
            "2030-01-08T07:30:00Z",
            "2030-01-08T07:45:00Z",
            "Berlin provider in winter: UTC+1",
        ),
        (
            "102",
            "2030-01-08T09:00:00Z",
            "2030-01-08T09:20:00Z",
            "provider zone UTC: unchanged",
        ),
        (
            "103",
            "2030-01-08T10:00:00Z",
            "2030-01-08T10:15:00Z",
            "empty provider zone: read as UTC",
        ),
        (
            "104",
            "2030-03-31T01:30:00Z",
            "2030-03-31T01:45:00Z",
            "03:30 on the night clocks go forward is already UTC+2",
        ),
        (
            "105",
            "2030-07-02T08:00:00Z",
            "2030-07-02T08:30:00Z",
            "Berlin summer time: UTC+2",
        ),
        (
            "106",
            "2030-01-09T10:00:00Z",
            "2030-01-09T10:15:00Z",
            "Berlin provider in winter, second day",
        ),
    ] {
        let b = by_key(key);
        assert_eq!(
            (b.starts_at, b.ends_at),
            (utc_ms(start), utc_ms(end)),
            "{key}: {why}"
        );
    }

    let names: Vec<&str> = got.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Jürgen Müller",
            "Gül Öztürk",
            "Weiß",
            "Hans",
            "Maria Rossi",
            "Jürgen Müller"
        ],
        "first and last name joined; an empty or missing part leaves no stray space"
    );
    assert!(
        !names.contains(&"Sabine Sekretariat"),
        "a secretary booked as customer is staff, not a citizen"
    );
    assert_eq!(
        (
            by_key("101").service.as_str(),
            by_key("102").service.as_str()
        ),
        ("Kfz-Zulassung", "Führerschein"),
        "the service name"
    );

    let contact: Vec<(Option<&str>, Option<&str>)> = got
        .iter()
        .map(|b| (b.email.as_deref(), b.phone_e164.as_deref()))
        .collect();
    assert_eq!(
        contact,
        [
            (Some("juergen@example.org"), Some("+491711234567")),
            (None, Some("+491712345678")),
            (Some("zoe@example.org"), Some("+491713456789")),
            (None, None),
            (Some("maria@example.org"), None),
            (Some("juergen@example.org"), Some("+491711234567")),
        ],
        "mobile before phone (101), phone only (102), mobile only and a padded address (103), \
         neither (104), an empty email is no address (102)"
    );

    let languages: Vec<Option<&str>> = got.iter().map(|b| b.language.as_deref()).collect();
    assert_eq!(
        languages,
        [
            Some("de"),
            Some("tr"),
            Some("en"),
            None,
            Some("it"),
            Some("de")
        ],
        "E!A's language names (german, turkish, english, italian); empty: none (the tenant's \
         default applies when sending)"
    );

    for (key, status, why) in [
        ("101", "active", "Booked"),
        ("102", "active", "Confirmed"),
        ("103", "active", "empty status (the column default)"),
        ("104", "active", "Rescheduled"),
        ("105", "cancelled", "Cancelled, E!A's default option"),
        ("106", "cancelled", "Storniert, an office's renamed option"),
    ] {
        assert_eq!(by_key(key).status, status, "{key}: {why}");
    }

    let places = locations(&t).await;
    let place = |key: &str| {
        places
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, l)| l.as_str())
            .unwrap()
    };
    assert_eq!(
        (place("101"), place("102"), place("105")),
        ("Bürgerbüro Soest", "Bürgerbüro Lippstadt", ""),
        "the service's location when the appointment has none; the appointment's own wins"
    );
}

#[tokio::test]
async fn the_zms_preset_imports_main_appointments_with_their_length_from_a_mariadb_database() {
    let db = MariaDb::start();
    let url = db.database("zmsbo");
    load_mysql(&url, fixture("zms.sql")).await;

    let dir = tempfile::tempdir().unwrap();
    let mut source = preset("zms.toml");
    assert_eq!(
        source.fields.time.as_deref(),
        Some("uhrzeit"),
        "local date and time columns"
    );
    source.tenant = "soest".into();
    source.sql.url = Secret::new(url.clone());
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    s.sources[0] = source;
    let t = TestApp::start(dir, s).await;

    let r = t.import().await;
    assert_eq!(
        (r.outcome, r.counts.rows_new, r.counts.rows_rejected),
        (Outcome::Applied, 7, 0),
        "{:?} {:?}",
        r.message,
        r.rejected
    );
    let got = imported(&t).await;
    let keys: Vec<&str> = got.iter().map(|b| b.booking_key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "100001-203001080900",
            "100004-203001081400",
            "100005-203001081000",
            "100006-203001081030",
            "100007-203001081040",
            "100011-203001081120",
            "100012-203001081130"
        ],
        "no follow-up slots (100002, 100003), dereferenced (100008), walk-in (100009), \
         reservation (100010) or long-past (100013) rows"
    );
    let by_key = |key: &str| got.iter().find(|b| b.booking_key == key).unwrap();

    for (key, start, end, why) in [
        (
            "100001-203001080900",
            "2030-01-08T08:00:00Z",
            "2030-01-08T08:30:00Z",
            "Berlin time; two follow-up slots: 3 x 10 minutes",
        ),
        (
            "100004-203001081400",
            "2030-01-08T13:00:00Z",
            "2030-01-08T13:15:00Z",
            "the afternoon availability's 15-minute Timeslot",
        ),
        (
            "100005-203001081000",
            "2030-01-08T09:00:00Z",
            "2030-01-08T09:10:00Z",
            "no matching availability: 10 minutes",
        ),
        (
            "100011-203001081120",
            "2030-01-08T10:20:00Z",
            "2030-01-08T10:30:00Z",
            "preconfirmed, one 10-minute slot",
        ),
    ] {
        let b = by_key(key);
        assert_eq!(
            (b.starts_at, b.ends_at),
            (utc_ms(start), utc_ms(end)),
            "{key}: {why}"
        );
    }

    let services = &by_key("100001-203001080900").service;
    assert_eq!(
        absage::domain::booking::list_items(services).collect::<Vec<_>>(),
        ["Personalausweis beantragen", "Reisepass beantragen"],
        "several services as a list, each once, sorted; a request of another source is not joined"
    );
    let one_of_them = absage::domain::outage::Scope {
        services: vec!["reisepass beantragen".into()],
        locations: vec![],
    };
    assert!(
        one_of_them.matches(services, ""),
        "an outage scoped to one of the services finds the booking"
    );
    assert_eq!(by_key("100007-203001081040").service, "");

    for (key, status, why) in [
        ("100001-203001080900", "active", "confirmed"),
        (
            "100006-203001081030",
            "cancelled",
            "(abgesagt), status unchanged",
        ),
        (
            "100007-203001081040",
            "cancelled",
            "older ZMS: StandortID 0 and status deleted",
        ),
        (
            "100011-203001081120",
            "active",
            "preconfirmed: the citizen believes they have an appointment",
        ),
    ] {
        assert_eq!(by_key(key).status, status, "{key}: {why}");
    }
    assert_eq!(
        by_key("100006-203001081030").name,
        "",
        "the placeholder name (abgesagt) is not a name"
    );

    assert_eq!(
        by_key("100004-203001081400").phone_e164.as_deref(),
        Some("+491712222222"),
        "telefonnummer_fuer_rueckfragen before Telefonnummer"
    );
    assert_eq!(
        by_key("100001-203001080900").phone_e164.as_deref(),
        Some("+491711111111"),
        "Telefonnummer when there is no call-back number"
    );
    let b = by_key("100005-203001081000");
    assert_eq!(
        (b.name.as_str(), b.email.as_deref(), b.phone_e164.as_deref()),
        ("Zoë Weiß", Some("zoe@example.org"), None),
        "a padded address is trimmed; empty phone fields are no number"
    );
    assert_eq!(
        by_key("100004-203001081400").email,
        None,
        "an empty EMail is no address"
    );
    assert!(
        got.iter().all(|b| b.language.is_none()),
        "ZMS keeps no language: none is imported (the tenant's default applies when sending)"
    );

    let places = locations(&t).await;
    let place = |key: &str| {
        places
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, l)| l.as_str())
            .unwrap()
    };
    assert_eq!(
        (place("100001-203001080900"), place("100005-203001081000")),
        ("Bürgeramt Mitte", "Bürgeramt Nord"),
        "the scope's name"
    );

    // ZMS deletes process 100012 and hands its id to the next booking, on another day.
    load_mysql(&url, fixture_recycle()).await;
    let r = t.import().await;
    assert_eq!(
        (
            r.outcome,
            r.counts.rows_new,
            r.counts.rows_removed,
            r.counts.rows_rejected
        ),
        (Outcome::Applied, 1, 1, 0),
        "{:?} {:?}",
        r.message,
        r.rejected
    );
    let got = imported(&t).await;
    let by_key = |key: &str| got.iter().find(|b| b.booking_key == key).unwrap();
    assert_eq!(
        by_key("100012-203001081130").status,
        "gone",
        "the old booking under the recycled id is gone, not continued"
    );
    let new = by_key("100012-203001090800");
    assert_eq!(
        (new.name.as_str(), new.status.as_str(), new.starts_at),
        ("Erika Neu", "active", utc_ms("2030-01-09T07:00:00Z")),
        "the recycled id is a new booking under a new key"
    );
}

/// What ZMS does when it recycles a process id: the old row is deleted (cron, or the citizen's
/// booking ran out) and a new booking takes the free id.
fn fixture_recycle() -> String {
    "delete from buergeranliegen where BuergerID = 100012;
     delete from buerger where BuergerID = 100012;
     insert into buerger (BuergerID, StandortID, Datum, Uhrzeit, Name, Telefonnummer, EMail,
                          vorlaeufigeBuchung, hatFolgetermine, absagecode, bestaetigt, status)
         values (100012, 101, '2030-01-09', '08:00:00', 'Erika Neu', '', 'erika@example.org',
                 0, 0, 'kl12', 1, 'confirmed');
     insert into buergeranliegen (BuergerID, AnliegenID, source) values (100012, 121151, 'dldb');"
        .to_string()
}
