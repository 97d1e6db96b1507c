//! The shipped source presets (`config/sources/*.toml`): each parses as the `[[sources]]` block
//! an operator pastes into absage.toml, and imports an export shaped like the real system's,
//! awkward cases included.

use crate::helpers::*;
use crate::support::postgres::Postgres;
use absage::config::{ChannelPolicy, SourceSettings};
use absage::import::Outcome;
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
    let mut conn = t.app.store.conn().await.unwrap();
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
