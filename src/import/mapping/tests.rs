//! Tests of the mapping: every rule of reading a row, through a lookup row source.

use super::*;
use crate::domain::booking::BookingStatus;
use chrono::{DateTime, TimeZone, Utc};
use std::borrow::Cow;
use std::collections::HashMap;

/// A row as a header → value lookup, the way a JSON source would see it.
struct Lookup<'a> {
    fields: &'a FieldMapping,
    values: HashMap<&'a str, &'a str>,
}

impl RowSource for Lookup<'_> {
    fn text(&self, field: Field) -> Result<Option<Cow<'_, str>>, String> {
        self.text_nth(field, 0)
    }

    fn text_nth(&self, field: Field, nth: usize) -> Result<Option<Cow<'_, str>>, String> {
        let Some(header) = self.fields.headers(field).get(nth) else {
            return Ok(None);
        };
        Ok(Some(Cow::Borrowed(
            self.values.get(header.as_str()).copied().unwrap_or(""),
        )))
    }
}

fn german_fields() -> FieldMapping {
    let some = |s: &str| Some(s.to_string());
    FieldMapping {
        key: "Termin-Nr".into(),
        date: "Datum".into(),
        time: some("Uhrzeit"),
        end: some("Ende"),
        duration: some("Dauer"),
        service: "Dienstleistung".into(),
        location: Some("Standort".into()),
        name: "Name".into(),
        email: Some("E-Mail".into()),
        phone: Some("Telefon".into()),
        language: some("Sprache"),
        status: some("Status"),
    }
}

fn berlin() -> ParseContext {
    ParseContext {
        tz: chrono_tz::Europe::Berlin,
        default_language: None,
        limits: Default::default(),
    }
}

fn parse_with(
    fields: &FieldMapping,
    ctx: &ParseContext,
    values: &[(&str, &str)],
) -> Result<ParsedRow, RowError> {
    let parser = RowParser::new(fields, &Formats::default(), ctx).expect("valid formats");
    let base = [
        ("Termin-Nr", "T-1"),
        ("Datum", "02.03.2026"),
        ("Uhrzeit", "10:30"),
    ];
    let mut map: HashMap<&str, &str> = base.into_iter().collect();
    map.extend(values.iter().copied());
    parser.parse(
        17,
        &Lookup {
            fields,
            values: map,
        },
    )
}

fn parse(values: &[(&str, &str)]) -> Result<ParsedRow, RowError> {
    parse_with(&german_fields(), &berlin(), values)
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .expect("valid")
}

/// Found by the `csv` and `mapping` fuzz targets (now seeds in fuzz/corpus): `%Y` takes a signed
/// year, and adding a length to the last representable time overflowed chrono.
#[test]
fn a_start_at_the_edge_of_time_is_not_a_panic() {
    let mut fields = german_fields();
    fields.end = None;
    let far = [("Datum", "+262142-12-31"), ("Uhrzeit", "23:00")];
    // A length past the end of time costs the length only.
    let row = parse_with(&fields, &berlin(), &[far[0], far[1], ("Dauer", "120")])
        .expect("the default length still fits");
    assert!(
        row.warnings[0].to_string().contains("past any date"),
        "{:?}",
        row.warnings
    );
    let huge = parse_with(&fields, &berlin(), &[("Dauer", "9223372036854775807")])
        .expect("a duration beyond chrono's range costs the length only");
    assert!(
        matches!(huge.warnings[0].kind, WarningKind::EndGuessed { .. }),
        "{huge:?}"
    );
    fields.duration = None;
    let utc_ctx = ParseContext {
        tz: chrono_tz::UTC,
        default_language: None,
        limits: Default::default(),
    };
    let last = [("Datum", "+262142-12-31"), ("Uhrzeit", "23:59")];
    let err = parse_with(&fields, &utc_ctx, &last).expect_err("no default end either");
    assert_eq!(err.field, "Datum");
}

#[test]
fn a_german_date_and_separate_time_are_read_in_the_tenants_zone() {
    let row = parse(&[("Name", "Erika"), ("Dienstleistung", "Zulassung")]).expect("valid");
    assert_eq!(row.record.starts_at, utc(2026, 3, 2, 9, 30));
    assert_eq!(
        row.record.ends_at,
        utc(2026, 3, 2, 9, 45),
        "default 15 minutes"
    );
    assert_eq!(row.record.key, "T-1");
    assert_eq!(row.record.service, "Zulassung");
    assert_eq!(row.record.location, "");
    assert!(row.warnings.is_empty());
}

#[test]
fn an_end_time_wins_over_duration_and_default() {
    let row = parse(&[("Ende", "11:10"), ("Dauer", "5")]).expect("valid");
    assert_eq!(row.record.ends_at, utc(2026, 3, 2, 10, 10));
    let row = parse(&[("Dauer", "20 min")]).expect("valid");
    assert_eq!(row.record.ends_at, utc(2026, 3, 2, 9, 50));
}

/// The citizen relies on the start: an end that cannot be used costs the booking its
/// length only (the default), with a warning naming line, field and reason.
#[test]
fn an_unusable_end_takes_the_default_length_and_warns() {
    let row = parse(&[("Ende", "10:00")]).expect("the start is known");
    assert_eq!(row.record.ends_at, utc(2026, 3, 2, 9, 45));
    let w = &row.warnings[0];
    assert_eq!((w.line, w.target), (17, Field::End));
    let said = w.to_string();
    assert!(
        said.contains("2026-03-02 10:00")
            && said.contains("10:30")
            && said.contains("default length of 15 minutes"),
        "{said}"
    );
    for (field, text) in [
        ("Dauer", "0"),
        ("Dauer", "-15"),
        ("Dauer", "abends"),
        ("Ende", "bald"),
    ] {
        let row = parse(&[(field, text)]).expect("the start is known");
        assert_eq!(row.record.ends_at, utc(2026, 3, 2, 9, 45), "{field} {text}");
        assert!(
            matches!(row.warnings[0].kind, WarningKind::EndGuessed { .. }),
            "{field} {text}: {:?}",
            row.warnings
        );
    }
}

#[test]
fn one_iso_column_holds_date_and_time() {
    let fields = FieldMapping {
        time: None,
        ..german_fields()
    };
    let row = parse_with(&fields, &berlin(), &[("Datum", "2026-07-01T08:00:00")]);
    assert_eq!(row.expect("valid").record.starts_at, utc(2026, 7, 1, 6, 0));
    let row = parse_with(
        &fields,
        &berlin(),
        &[("Datum", "2026-07-01T08:00:00+00:00")],
    );
    assert_eq!(
        row.expect("valid").record.starts_at,
        utc(2026, 7, 1, 8, 0),
        "offset wins"
    );
    let row = parse_with(
        &fields,
        &berlin(),
        &[("Datum", "01.07.2026 08:00"), ("Ende", "2026-07-01 09:00")],
    );
    assert_eq!(row.expect("valid").record.ends_at, utc(2026, 7, 1, 7, 0));
}

#[test]
fn two_digit_years_are_this_century_and_four_digit_years_still_read() {
    let row = parse(&[("Datum", "08.01.30")]).expect("valid");
    assert_eq!(chrono::Datelike::year(&row.record.starts_at), 2030);
    let row = parse(&[("Datum", "08.01.2030")]).expect("valid");
    assert_eq!(chrono::Datelike::year(&row.record.starts_at), 2030);
}

#[test]
fn a_bad_date_is_reported_with_line_field_value_and_format() {
    let err = parse(&[("Datum", "31.02.2026")]).expect_err("no such day");
    assert_eq!(
        err.to_string(),
        r#"line 17, field "Datum" (date): "31.02.2026" is not a date in any of the formats %d.%m.%y, %d.%m.%Y, %Y-%m-%d"#
    );
    let err = parse(&[("Uhrzeit", "25:00")]).expect_err("no such time");
    assert_eq!(err.target, Some(Field::Time));
}

#[test]
fn a_row_without_key_is_rejected() {
    let err = parse(&[("Termin-Nr", "  ")]).expect_err("no key");
    assert_eq!(
        (err.field.as_str(), err.target),
        ("Termin-Nr", Some(Field::Key))
    );
}

#[test]
fn bad_contact_data_costs_the_channel_not_the_booking_and_is_never_echoed() {
    let row = parse(&[
        ("E-Mail", "erika.mustermann-at-example.org"),
        ("Telefon", "0171 1234567"),
    ])
    .expect("imported");
    let r = row.record;
    assert_eq!(r.email, None);
    let problem = r.email_problem.expect("email problem");
    assert!(problem.starts_with("email address unusable"), "{problem}");
    assert!(!problem.contains("mustermann"), "{problem}");
    assert!(r.phone.expect("the SMS still goes out").mobile);
    let row = parse(&[("Telefon", "0171 12345678901234")]).expect("imported");
    let problem = row.record.phone_problem.expect("phone problem");
    assert!(!problem.contains("12345"), "{problem}");
    assert_eq!(row.record.phone, None);
    // Kept as typed for the people who phone.
    assert_eq!(row.record.other_phones, ["0171 12345678901234"]);
}

#[test]
fn placeholders_are_no_contact_data_and_no_problem() {
    for nothing in ["keine Angabe", "n/a", "-", "k.A.", "---"] {
        let row = parse(&[("E-Mail", nothing), ("Telefon", nothing)]).expect("imported");
        let r = row.record;
        assert_eq!((r.email, r.phone), (None, None), "{nothing}");
        assert_eq!(
            (r.email_problem, r.phone_problem),
            (None, None),
            "{nothing}"
        );
    }
}

#[test]
fn several_columns_per_field_join_names_and_pick_the_first_mobile() {
    let fields = FieldMapping {
        name: ["Vorname", "Nachname"].into(),
        phone: Some(["Mobil", "Telefon"].into()),
        email: Some(["E-Mail", "E-Mail 2"].into()),
        service: ["Dienstleistung", "Weitere"].into(),
        ..german_fields()
    };
    let row = parse_with(
        &fields,
        &berlin(),
        &[
            ("Vorname", "Erika"),
            ("Nachname", "Rand"),
            // A landline typed into the mobile column must not hide the real mobile.
            ("Mobil", "02921 123456"),
            ("Telefon", "0171 1234567 (abends)"),
            ("E-Mail", "erika@"),
            ("E-Mail 2", "erika@example.org"),
            ("Dienstleistung", "Kfz-Zulassung"),
            ("Weitere", "Personalausweis"),
        ],
    )
    .expect("imported");
    let r = row.record;
    assert_eq!(r.name, "Erika Rand");
    let phone = r.phone.expect("a mobile");
    assert_eq!(phone.e164.as_deref(), Some("+491711234567"));
    assert!(phone.mobile);
    assert_eq!(r.other_phones, ["02921 123456"]);
    assert_eq!(
        r.email.expect("second column").as_str(),
        "erika@example.org"
    );
    assert_eq!(r.email_problem, None, "a usable address was found");
    assert_eq!(r.service, "Kfz-Zulassung\nPersonalausweis");
}

#[test]
fn a_list_separator_splits_services_and_line_breaks_never_reach_a_value() {
    let formats = Formats {
        list_separator: Some(",".into()),
        ignored_values: vec!["Entwurf".into()],
        ..Formats::default()
    };
    let parser = RowParser::new(&german_fields(), &formats, &berlin()).expect("valid");
    let values: HashMap<&str, &str> = [
        ("Termin-Nr", "T-1"),
        ("Datum", "02.03.2026"),
        ("Uhrzeit", "10:30"),
        (
            "Dienstleistung",
            "Kfz-Zulassung, Personalausweis beantragen,",
        ),
        ("Name", "Erika\r\nMustermann"),
        ("Status", "entwurf"),
    ]
    .into_iter()
    .collect();
    let fields = german_fields();
    let row = parser
        .parse(
            2,
            &Lookup {
                fields: &fields,
                values,
            },
        )
        .expect("imported");
    assert_eq!(
        row.record.service,
        "Kfz-Zulassung\nPersonalausweis beantragen"
    );
    assert_eq!(row.record.name, "Erika Mustermann");
    assert_eq!(row.record.status, BookingStatus::Ignored);
}

#[test]
fn contact_data_is_parsed() {
    let row = parse(&[
        ("E-Mail", "Erika@Example.org"),
        ("Telefon", "'+49 (0)171 1234567"),
    ]);
    let record = row.expect("valid").record;
    assert_eq!(record.email.expect("email").as_str(), "Erika@example.org");
    let phone = record.phone.expect("phone");
    assert_eq!(
        (phone.e164.as_deref(), phone.mobile),
        (Some("+491711234567"), true)
    );
}

#[test]
fn an_unknown_language_is_a_warning_and_no_language() {
    let row = parse(&[("Sprache", "Klingonisch")]).expect("imported anyway");
    assert_eq!(row.record.language, None);
    assert_eq!(row.warnings.len(), 1);
    assert!(matches!(
        row.warnings[0].kind,
        WarningKind::UnknownLanguage { .. }
    ));
    let row = parse(&[("Sprache", "Türkisch")]).expect("valid");
    assert_eq!(row.record.language.expect("known").code(), "tr");
}

#[test]
fn an_empty_language_takes_the_default_of_the_context() {
    let ctx = ParseContext {
        default_language: Language::parse("de").ok(),
        ..berlin()
    };
    let row = parse_with(&german_fields(), &ctx, &[]).expect("valid");
    assert_eq!(row.record.language.expect("default").code(), "de");
    assert_eq!(parse(&[]).expect("valid").record.language, None);
}

#[test]
fn cancelled_status_values_are_recognised_in_any_case() {
    for value in ["storniert", "ABGESAGT", " Cancelled "] {
        let row = parse(&[("Status", value)]).expect("valid");
        assert_eq!(row.record.status, BookingStatus::Cancelled, "{value}");
    }
    for value in ["", "bestätigt", "offen"] {
        let row = parse(&[("Status", value)]).expect("valid");
        assert_eq!(row.record.status, BookingStatus::Active, "{value}");
    }
}

#[test]
fn dst_oddities_are_resolved_and_warned_about() {
    let row = parse(&[("Datum", "29.03.2026"), ("Uhrzeit", "02:30")]).expect("valid");
    assert_eq!(row.record.starts_at, utc(2026, 3, 29, 1, 30));
    assert_eq!(row.warnings[0].kind, WarningKind::SkippedLocalTime);
    assert_eq!(row.warnings[0].field, "Uhrzeit");
    let row = parse(&[("Datum", "25.10.2026"), ("Uhrzeit", "02:30")]).expect("valid");
    assert_eq!(row.record.starts_at, utc(2026, 10, 25, 0, 30));
    assert_eq!(row.warnings[0].kind, WarningKind::RepeatedLocalTime);
}

#[test]
fn the_config_shape_deserialises_from_toml() {
    let text = r#"
            [fields]
            key = "Termin-Nr"
            date = "Datum"
            time = "Uhrzeit"
            service = "Dienstleistung"
            name = "Name"
            email = "E-Mail"
            [formats]
            date = ["%d.%m.%Y"]
            default_duration_minutes = 20
            phone_region = "at"
        "#;
    #[derive(Deserialize)]
    struct Source {
        fields: FieldMapping,
        formats: Formats,
    }
    let source: Source = toml::from_str(text).expect("valid config");
    assert_eq!(source.fields.header(Field::Email), Some("E-Mail"));
    assert_eq!(source.fields.location, None);
    assert_eq!(source.formats.date, ["%d.%m.%Y"]);
    assert_eq!(source.formats.time, Formats::default().time);
    assert_eq!(source.formats.phone_region, country::Id::AT);
    let typo = toml::from_str::<FieldMapping>("key='k'\ndate='d'\nservice='s'\nname='n'\nmail='m'");
    assert!(typo.expect_err("unknown key").to_string().contains("mail"));
}

#[test]
fn bad_formats_are_refused_naming_the_key() {
    let formats = Formats {
        time: vec!["%H:%Q".into()],
        ..Formats::default()
    };
    let err = RowParser::new(&german_fields(), &formats, &berlin()).expect_err("bad format");
    assert!(err.contains("formats.time"), "{err}");
    let formats = Formats {
        default_duration_minutes: 0,
        ..Formats::default()
    };
    assert!(RowParser::new(&german_fields(), &formats, &berlin()).is_err());
}

/// Found by attacking the release build with dates and times as German offices and
/// spreadsheets write them: each of these rows was rejected, a citizen at a closed door.
#[test]
fn dates_and_times_as_offices_write_them_are_read() {
    let at = |h, m| utc(2030, 1, 7, h, m);
    for (date, time, want) in [
        ("7.1.2030", "9:00", at(8, 0)),
        ("07.01.2030 00:00:00", "09:00", at(8, 0)),
        ("07.01.2030", "09:00:00", at(8, 0)),
        ("2030-01-07", "9.00", at(8, 0)),
        ("2030-01-07", "9,30", at(8, 30)),
        ("07.01.2030", "09:00 Uhr", at(8, 0)),
        ("07.01.2030", "9 Uhr", at(8, 0)),
        ("07.01.30", "0930", at(8, 30)),
        ("Mo, 07.01.2030", "09:00", at(8, 0)),
        ("Montag, 07.01.2030", "14:15", at(13, 15)),
        ("07.01.2030", "1899-12-30 09:00:00", at(8, 0)),
        ("2030-01-07T00:00:00", "10:00", at(9, 0)),
    ] {
        let row = parse(&[("Datum", date), ("Uhrzeit", time), ("Ende", "")]);
        let row = row.unwrap_or_else(|e| panic!("{date:?} {time:?}: {e}"));
        assert_eq!(row.record.starts_at, want, "{date:?} {time:?}");
    }
    for (date, time) in [
        ("07/01/2030", "09:00"),
        ("07.01.2030", "25:00"),
        ("07.01.2030", "12345"),
    ] {
        assert!(
            parse(&[("Datum", date), ("Uhrzeit", time)]).is_err(),
            "{date:?} {time:?}"
        );
    }
}
