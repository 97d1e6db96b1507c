//! No citizen lost, as a property: whatever an office types into the fields of an export —
//! typos, placeholders, notes, control characters, text from another column, nothing at all —
//! a row whose key and start are intact is imported, and every such booking inside the outage
//! is told or on the call list with a reason. A later export, corrupted the same way, cut off
//! or missing rows, never takes an affected booking out of the outage. Rows whose key or start
//! is broken are rejected naming the line the operator finds them on; nothing else is lost.
//!
//! The cases are generated (proptest): the corruptions below are drawn from what exports
//! really hold, mixed with arbitrary text.

use crate::helpers::*;
use absage::config::ChannelPolicy;
use absage::domain::outage::Scope;
use absage::import::mapping::FieldMapping;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::collections::BTreeSet;

const HEADER: &str =
    "Nr;Datum;Uhrzeit;Dauer;Leistung;Ort;Vorname;Nachname;E-Mail;Mobil;Telefon;Sprache;Status";
const COLUMNS: usize = 13;
const KEY: usize = 0;
const DATE: usize = 1;
const TIME: usize = 2;
/// The columns a corruption may touch without costing the booking: everything but key, date,
/// time and status.
const CONTACT_LIKE: [usize; 8] = [3, 5, 6, 7, 8, 9, 10, 11];

/// What offices and upstream systems really put into cells.
const REAL_JUNK: &[&str] = &[
    "",
    " ",
    "keine Angabe",
    "n/a",
    "N/A",
    "k.A.",
    "-",
    "--",
    "NULL",
    "null",
    "#NV",
    "0",
    "?",
    "a@",
    "a@@b.de",
    "@example.org",
    "max mustermann@example.org",
    "jürgen@müller.de",
    "x@example.org; y@example.org",
    "mailto:X@Example.org",
    "<x@example.org>",
    "Max Mustermann <max@example.org>",
    "0171 / 123 45 67 (abends)",
    "0171-1234567, 02921 30-0",
    "02921 30-0",
    "+49 (0)171 5551234",
    "0049 171 5551234",
    "'+491715551234",
    "1.71555E+10",
    "+380 67 123 4567",
    "+963 93 123 4567",
    "tel: 0171 5551234",
    "0171 5551234 oder 0160 7654321",
    "12",
    "=HYPERLINK(\"x\")",
    "\u{feff}",
    "\u{a0}",
    "Ay\nşe",
    "Zeile\r\nzwei",
    "\"",
    "\"\"",
    ";",
    "Müller-Lüdenscheidt; Erika",
    "Hoher Weg 1–3",
    "„Kreishaus“",
    "…",
    "🙂",
    "xx",
    "Deutsch",
    "ua",
    "ar-SY",
    "\t",
    "\u{0}",
    "\u{7}",
    "60 min",
    "-15",
    "0",
    "99999999999",
    "1,5",
];

/// Keys and starts no booking can be made of: the row must be rejected, naming its line.
const BROKEN_KEY: &[&str] = &["", " ", "\u{a0}"];
const BROKEN_DATE: &[&str] = &["", "31.02.2030", "32.01.2030", "morgen", "??", "2030-13-07"];
const BROKEN_TIME: &[&str] = &["", "25:61", "abc", "9 Uhr 70"];

#[derive(Debug, Clone)]
struct Mess {
    /// Per column: a replacement for the clean cell, if any.
    cells: Vec<Option<String>>,
    /// Ways the row loses what a booking needs (key, date or time), if any.
    broken: Option<(usize, String)>,
    /// Whether the service is written differently (case, blanks, a second service).
    service_variant: u8,
    /// 1: the row comes again for another service (an export joined with its services);
    /// 2: the key comes again for another citizen (a family under one number); else once.
    repeat: u8,
}

fn junk() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(REAL_JUNK).prop_map(str::to_owned),
        1 => proptest::collection::vec(any::<char>(), 0..24)
            .prop_map(|cs| cs.into_iter().collect::<String>()),
        1 => "[ -~äöüß–„“…]{0,40}",
        1 => proptest::sample::select(REAL_JUNK).prop_flat_map(|j| {
            "[ a-z0-9@.]{0,8}".prop_map(move |s| format!("{j}{s}"))
        }),
    ]
}

fn mess() -> impl Strategy<Value = Mess> {
    let cells = proptest::collection::vec(proptest::option::weighted(0.35, junk()), COLUMNS);
    let broken = proptest::option::weighted(
        0.12,
        prop_oneof![
            proptest::sample::select(BROKEN_KEY).prop_map(|v| (KEY, v.to_owned())),
            proptest::sample::select(BROKEN_DATE).prop_map(|v| (DATE, v.to_owned())),
            proptest::sample::select(BROKEN_TIME).prop_map(|v| (TIME, v.to_owned())),
        ],
    );
    (cells, broken, 0u8..5, 0u8..8).prop_map(|(mut cells, broken, service_variant, repeat)| {
        for (i, c) in cells.iter_mut().enumerate() {
            if !CONTACT_LIKE.contains(&i) {
                *c = None;
            }
        }
        Mess {
            cells,
            broken,
            service_variant,
            repeat,
        }
    })
}

/// One export: the clean rows with their mess applied: the text, the physical lines each
/// clean row's rows start on, and how many bookings each must become in the outage.
struct Export {
    text: String,
    lines: Vec<Vec<u64>>,
    bookings: Vec<usize>,
    rows: usize,
}

impl Export {
    fn intact(&self, i: usize) -> bool {
        self.bookings[i] > 0
    }
}

fn quote(cell: &str) -> String {
    format!("\"{}\"", cell.replace('"', "\"\""))
}

fn export(messes: &[Mess], present: &[bool]) -> Export {
    let mut text = format!("{HEADER}\r\n");
    let mut line = 2u64;
    let mut out = Export {
        text: String::new(),
        lines: Vec::new(),
        bookings: Vec::new(),
        rows: 0,
    };
    for (i, m) in messes.iter().enumerate() {
        out.lines.push(Vec::new());
        out.bookings.push(0);
        if !present[i] {
            continue;
        }
        let service = match m.service_variant {
            0 => "Kfz-Zulassung",
            1 => " KFZ-ZULASSUNG ",
            2 => "Führerschein, Kfz-Zulassung",
            3 => "kfz-zulassung,Personalausweis",
            _ => "Kfz-Zulassung ",
        };
        let clean = [
            format!("T-{i:03}"),
            "07.01.2030".to_owned(),
            format!("{:02}:{:02}", 8 + i % 9, (i * 7) % 60),
            "15".to_owned(),
            service.to_owned(),
            "Soest".to_owned(),
            "Erika".to_owned(),
            format!("Rand{i}"),
            format!("buerger{i}@example.org"),
            format!("0171 55{:05}", 10_000 + i),
            format!("02921 3{i:03}"),
            "de".to_owned(),
            "gebucht".to_owned(),
        ];
        let mut cells: Vec<String> = clean
            .iter()
            .zip(&m.cells)
            .map(|(c, j)| j.clone().unwrap_or_else(|| c.clone()))
            .collect();
        if let Some((col, value)) = &m.broken {
            cells[*col] = value.clone();
        }
        let mut rows = vec![cells.clone()];
        match m.repeat {
            1 => {
                let mut again = cells.clone();
                again[4] = "Führerschein".into();
                rows.push(again);
            }
            2 => {
                let mut sibling = cells.clone();
                sibling[6] = "Geschwister".into();
                sibling[8] = format!("geschwister{i}@example.org");
                sibling[9] = format!("0160 9{i:06}");
                sibling[10] = String::new();
                rows.push(sibling);
            }
            _ => {}
        }
        if m.broken.is_none() {
            out.bookings[i] = if m.repeat == 2 { 2 } else { 1 };
        }
        for cells in rows {
            let row = cells.iter().map(|c| quote(c)).collect::<Vec<_>>().join(";");
            out.lines[i].push(line);
            out.rows += 1;
            // A quoted line break is a line the operator's editor shows: `\r\n`, `\r` and `\n`
            // are one each.
            line += 1 + row.replace("\r\n", "\n").matches(['\r', '\n']).count() as u64;
            text.push_str(&row);
            text.push_str("\r\n");
        }
    }
    out.text = text;
    out
}

/// How many of the outage's affected bookings each clean row (`T-007`, `T-007#…`) became.
fn per_row(keys: &BTreeSet<String>) -> std::collections::BTreeMap<String, usize> {
    let mut map = std::collections::BTreeMap::new();
    for k in keys {
        let base = k.split('#').next().unwrap_or(k).to_owned();
        *map.entry(base).or_insert(0) += 1;
    }
    map
}

fn fields() -> FieldMapping {
    FieldMapping {
        key: "Nr".into(),
        date: "Datum".into(),
        time: Some("Uhrzeit".into()),
        end: None,
        duration: Some("Dauer".into()),
        service: "Leistung".into(),
        location: Some("Ort".into()),
        name: ["Vorname", "Nachname"].into(),
        email: Some("E-Mail".into()),
        phone: Some(["Mobil", "Telefon"].into()),
        language: Some("Sprache".into()),
        status: Some("Status".into()),
    }
}

async fn app() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    let source = &mut s.sources[0];
    source.csv.delimiter = ';';
    source.fields = fields();
    source.formats.list_separator = Some(",".into());
    TestApp::start(dir, s).await
}

/// The keys of the outage's affected bookings, those with a live message and those on the
/// call list (with their reasons).
async fn reach(t: &TestApp, outage: i64) -> (BTreeSet<String>, BTreeSet<String>, Vec<String>) {
    let ns = t.notifications().await;
    let told: BTreeSet<String> = ns
        .iter()
        .filter(|n| ["queued", "sending", "sent"].contains(&n.state.as_str()))
        .map(|n| n.key.clone())
        .collect();
    let list = absage::reports::call_list(&t.app.ctx, outage)
        .await
        .unwrap();
    let reasons = list
        .iter()
        .filter(|e| e.why.trim().is_empty())
        .map(|e| e.booking_key.clone())
        .collect();
    let called = list.into_iter().map(|e| e.booking_key).collect();
    (told, called, reasons)
}

async fn one_case(messes: Vec<Mess>, later: Vec<(Mess, bool)>, cut: Option<f64>) {
    let t = app().await;
    let all = vec![true; messes.len()];
    let first = export(&messes, &all);
    std::fs::write(t.dir.path().join("export.csv"), &first.text).unwrap();
    let report = t.import().await;
    let c = &report.counts;
    assert_eq!(c.rows_read, first.rows as i64, "every row is read");
    assert_eq!(
        c.rows_read,
        c.imported() + c.rows_rejected,
        "{}",
        c.conservation(true)
    );
    let rejected_lines: BTreeSet<u64> = report.rejected.iter().map(|r| r.line).collect();
    let broken_lines: BTreeSet<u64> = (0..messes.len())
        .filter(|i| !first.intact(*i))
        .flat_map(|i| first.lines[i].clone())
        .collect();
    assert!(
        rejected_lines.is_subset(&broken_lines),
        "rows with their key and start were rejected: lines {:?}: {:?}",
        rejected_lines.difference(&broken_lines).collect::<Vec<_>>(),
        report.rejected
    );
    // Reading the same export again changes no booking (the import is a fixpoint), so an
    // import that skips an export read before loses nothing (`import_unchanged`).
    let once = crate::import_unchanged::decided(&t).await;
    let again = t.import_forced().await;
    assert_eq!(
        (
            again.counts.rows_new,
            again.counts.rows_updated,
            again.counts.rows_removed
        ),
        (0, 0, 0),
        "a second reading of the same export"
    );
    assert_eq!(crate::import_unchanged::decided(&t).await, once);

    let impact = t
        .declare(
            "2030-01-07 07:00",
            "2030-01-07 18:00",
            Scope {
                services: vec!["kfz-zulassung".into()],
                locations: vec![],
            },
        )
        .await;
    let outage = impact.id.expect("declared");
    assert!(impact.conservation.holds(), "{}", impact.conservation);
    let wanted: std::collections::BTreeMap<String, usize> = (0..messes.len())
        .filter(|i| first.intact(*i))
        .map(|i| (format!("T-{i:03}"), first.bookings[i]))
        .collect();
    assert_eq!(
        impact.conservation.affected,
        wanted.values().sum::<usize>() as i64,
        "{}",
        impact.conservation
    );
    let (told, called, no_reason) = reach(&t, outage).await;
    assert!(
        no_reason.is_empty(),
        "on the call list without a reason: {no_reason:?}"
    );
    let reached: BTreeSet<String> = told.union(&called).cloned().collect();
    assert_eq!(per_row(&reached), wanted, "told ∪ call list = affected");
    for n in t.notifications().await {
        match n.channel.as_str() {
            "email" => assert_eq!(n.recipient.matches('@').count(), 1, "{}", n.recipient),
            _ => assert!(
                n.recipient.starts_with('+')
                    && n.recipient[1..].bytes().all(|b| b.is_ascii_digit()),
                "{}",
                n.recipient
            ),
        }
    }
    t.drain(&t.dispatcher()).await;

    // The next export during the outage: messed up again, some rows gone, perhaps cut off.
    let again: Vec<Mess> = later.iter().map(|(m, _)| m.clone()).collect();
    let present: Vec<bool> = later.iter().map(|(_, p)| *p).collect();
    let second = export(&again, &present);
    let mut text = second.text.into_bytes();
    if let Some(share) = cut {
        text.truncate(((text.len() as f64) * share) as usize);
    }
    std::fs::write(t.dir.path().join("export.csv"), &text).unwrap();
    let source = t.app.ctx.settings.sources[0].clone();
    // Refused (cut off, too many removed) or applied: either way nobody affected drops out.
    let _ = t.app.import(&source, &Default::default(), &|_| {}).await;
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    let (affected, with_message, call_list) =
        absage::store::outages::reach_counts(&mut conn, outage)
            .await
            .unwrap();
    drop(conn);
    assert_eq!(
        affected,
        with_message + call_list,
        "conservation after the second import"
    );
    let (told, called, no_reason) = reach(&t, outage).await;
    assert!(
        no_reason.is_empty(),
        "on the call list without a reason: {no_reason:?}"
    );
    let reached = per_row(&told.union(&called).cloned().collect());
    // Nothing in the second export says an appointment was cancelled or moved: a row with a
    // broken key or start is no news about it, a row gone from the export stays affected until
    // a person confirms.
    let dropped: Vec<_> = wanted
        .iter()
        .filter(|(k, n)| reached.get(*k).copied().unwrap_or(0) < **n)
        .collect();
    assert!(
        dropped.is_empty(),
        "dropped out of the outage: {dropped:?} of {reached:?}"
    );
}

fn case() -> impl Strategy<Value = (Vec<Mess>, Vec<(Mess, bool)>, Option<f64>)> {
    (6usize..24).prop_flat_map(|n| {
        (
            proptest::collection::vec(mess(), n),
            proptest::collection::vec((mess(), proptest::bool::weighted(0.85)), n),
            proptest::option::weighted(0.3, 0.05f64..0.99),
        )
    })
}

#[test]
fn random_corruption_never_makes_an_affected_booking_vanish() {
    let cases = std::env::var("ABSAGE_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let result = runner.run(&case(), |(messes, later, cut)| {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt.block_on(one_case(messes, later, cut))
        }));
        outcome.map_err(|e| {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            TestCaseError::fail(msg)
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
