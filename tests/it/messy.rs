//! No citizen lost: an export shaped like what offices really produce — typos in one contact
//! field, a landline in the mobile column, notes next to numbers, several services in one
//! booking, dashes and curly quotes, foreign mobiles, drafts and cancellations — runs end to end
//! through the real smtp-sink and Kannel. Every affected booking either reached a peer on a
//! usable channel or is on the call list with a reason. Nothing else.

use crate::helpers::*;
use crate::queue::relay_config;
use crate::support::peers::{Kannel, SinkMode, SmtpSink, wait_until};
use absage::config::ChannelPolicy;
use absage::domain::outage::Scope;
use absage::import::mapping::FieldMapping;
use std::collections::{BTreeMap, BTreeSet};

/// What the test wrote into one row, and so what it expects absage to make of it.
pub(crate) struct Case {
    key: String,
    /// The address the email must go to, when the row holds a usable one.
    email: Option<String>,
    /// The E.164 number the SMS must go to, when one of the phone columns holds a mobile.
    mobile: Option<String>,
    /// Whether the row is a booking inside the outage's scope that a citizen relies on.
    affected: bool,
}

const HEADER: &str = "Termin-Nr;Datum;Uhrzeit;Dienstleistung;Standort;Vorname;Nachname;E-Mail;\
                      Mobil;Telefon;Status";

/// The corpus: each row combines an email variant, a phone variant, services, an address and a
/// status from the lists below, so every kind of mess meets every other.
pub(crate) fn corpus() -> (String, Vec<Case>) {
    // (cell, usable address?) — {i} is the row number, so each recipient is unique.
    let emails: [(&str, bool); 9] = [
        ("buerger{i}@example.org", true),
        ("buerger{i}@", false),
        ("buerger{i}@@example.org", false),
        ("buerger {i}@example .org", false),
        ("keine Angabe", false),
        ("", false),
        ("n/a", false),
        ("mailto:Buerger{i}@Example.org", true),
        ("buerger{i}@example.org; zweite@example.org", false),
    ];
    // (mobile column, phone column, the E.164 mobile expected to get the SMS)
    let phones: [(&str, &str, Option<&str>); 9] = [
        ("0171 55{n}", "", Some("+4917155{n}")),
        ("02921 3{n}", "0171 55{n}", Some("+4917155{n}")),
        ("0171 / 55 {n} (abends)", "", Some("+4917155{n}")),
        ("keine Angabe", "02921 3{n}", None),
        ("", "", None),
        ("+380 67 12{n}", "", Some("+3806712{n}")),
        ("0171 55{n}, 02921 3{n}", "", Some("+4917155{n}")),
        ("12", "", None),
        ("'+49 (0)171 55{n}", "", Some("+4917155{n}")),
    ];
    let services = [
        "Kfz-Zulassung",
        "Personalausweis beantragen, Kfz-Zulassung",
        "Führerschein",
        " kfz-zulassung ",
    ];
    let places = ["Hoher Weg 1–3", "„Kreishaus“ Soest", "Markt 5 … Eingang B"];
    // (status, counts as an appointment)
    let statuses = [
        ("gebucht", true),
        ("storniert", false),
        ("Entwurf", false),
        ("", true),
    ];
    let mut text = format!("{HEADER}\r\n");
    let mut cases = Vec::new();
    for i in 0..72usize {
        let key = format!("T-{i:03}");
        let n = format!("{:05}", 10_000 + i);
        let (email, email_ok) = emails[i % emails.len()];
        let (mobile, phone, sms) = phones[(i / 2) % phones.len()];
        let service = services[(i / 3) % services.len()];
        let place = places[i % places.len()];
        let (status, counts) = statuses[(i / 5) % statuses.len()];
        let hour = 8 + (i % 8);
        let email = email.replace("{i}", &i.to_string());
        // One name column holds a quoted line break, as a pasted address would.
        let first = if i % 11 == 0 { "\"Ay\nşe\"" } else { "Erika" };
        text.push_str(&format!(
            "{key};07.01.2030;{hour:02}:{:02};{service};{place};{first};Rand;\"{email}\";{};{};{status}\r\n",
            (i * 7) % 60,
            mobile.replace("{n}", &n),
            phone.replace("{n}", &n),
        ));
        let expected_email = email_ok.then(|| {
            let address = email.trim_start_matches("mailto:");
            let (user, domain) = address.split_once('@').expect("usable ones have one @");
            format!("{user}@{}", domain.to_lowercase())
        });
        cases.push(Case {
            key,
            email: expected_email,
            mobile: sms.map(|m| m.replace("{n}", &n)),
            affected: counts && service.to_lowercase().contains("kfz-zulassung"),
        });
    }
    // Rows no booking can be made of: no key, a date that does not exist.
    text.push_str(
        ";07.01.2030;09:00;Kfz-Zulassung;Soest;Max;Ohne;max@example.org;0171 5599999;;\r\n",
    );
    text.push_str("T-BAD;31.02.2027;09:00;Kfz-Zulassung;Soest;Max;Falsch;x@example.org;;;\r\n");
    (text, cases)
}

pub(crate) fn messy_fields() -> FieldMapping {
    FieldMapping {
        key: "Termin-Nr".into(),
        date: "Datum".into(),
        time: Some("Uhrzeit".into()),
        end: None,
        duration: None,
        service: "Dienstleistung".into(),
        location: Some("Standort".into()),
        name: ["Vorname", "Nachname"].into(),
        email: Some("E-Mail".into()),
        phone: Some(["Mobil", "Telefon"].into()),
        language: None,
        status: Some("Status".into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_affected_citizen_of_a_messy_export_is_told_or_on_the_call_list() {
    let sink = SmtpSink::start(SinkMode::Accept);
    let kannel = Kannel::start();
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    s.email.transport = absage::config::Transport::Network;
    s.email.relays = vec![relay_config("sink", sink.addr.port())];
    s.sms.transport = absage::config::Transport::Network;
    s.sms.gateways = vec![crate::peers_sms::kannel_gateway(&kannel)];
    let source = &mut s.sources[0];
    source.csv.delimiter = ';';
    source.fields = messy_fields();
    source.formats.list_separator = Some(",".into());
    source.formats.ignored_values = vec!["Entwurf".into()];
    let t = TestApp::start(dir, s).await;
    let (text, cases) = corpus();
    std::fs::write(t.dir.path().join("export.csv"), text).unwrap();

    let report = t.import().await;
    let c = &report.counts;
    assert_eq!(c.rows_read, 74, "{:?}", report.rejected);
    assert_eq!(
        (c.imported(), c.rows_rejected),
        (72, 2),
        "{:?}",
        report.rejected
    );
    let drafts = (0..72).filter(|i| (i / 5) % 4 == 2).count();
    assert_eq!(
        c.conservation(true),
        format!("read 74 = imported 72 (of which {drafts} ignored: no appointment) + rejected 2")
    );
    // The broken rows are named by the line an operator finds them on: the header is line 1,
    // and the quoted line breaks in names push later rows down.
    let quoted_breaks = cases
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 11 == 0)
        .count() as u64;
    let lines: Vec<u64> = report.rejected.iter().map(|r| r.line).collect();
    assert_eq!(lines, [74 + quoted_breaks, 75 + quoted_breaks]);
    assert!(
        report.contact.email > 0 && report.contact.phone > 0,
        "{:?}",
        report.contact
    );

    // A reason of 85 characters: SMS get shorter or are left out, they never block the emails.
    let reason = "Ausfall der IT nach einem Cyberangriff auf den kommunalen Dienstleister – bitte nicht kommen";
    let decl = absage::lifecycle::Declaration {
        tenant: "soest".into(),
        kind: absage::domain::outage::RunKind::Outage,
        selection: absage::domain::outage::Selection::Window {
            window: absage::domain::outage::Window::new(
                t.local("2030-01-07 07:00"),
                t.local("2030-01-07 18:00"),
            )
            .unwrap(),
            scope: Scope {
                services: vec!["KFZ-Zulassung".into()],
                locations: vec![],
            },
        },
        reason: reason.into(),
        created_by: "test".into(),
    };
    let impact = absage::lifecycle::declare::declare(&t.app.ctx, &decl, t.clock.now(), false)
        .await
        .expect("a declaration is never refused for its SMS");
    let affected: Vec<&Case> = cases.iter().filter(|c| c.affected).collect();
    assert_eq!(
        impact.conservation.affected,
        affected.len() as i64,
        "{}",
        impact.conservation
    );
    assert!(impact.conservation.holds(), "{}", impact.conservation);

    t.drain(&t.dispatcher()).await;
    let outage = impact.id.expect("declared");
    let calllist = absage::reports::call_list(&t.app.ctx, outage)
        .await
        .unwrap();
    let on_list: BTreeMap<&str, &str> = calllist
        .iter()
        .map(|e| (e.booking_key.as_str(), e.why.as_str()))
        .collect();
    let emails_expected = affected.iter().filter(|c| c.email.is_some()).count();
    let sms_expected = affected.iter().filter(|c| c.mobile.is_some()).count();
    let mails = wait_until(
        "the emails at smtp-sink",
        std::time::Duration::from_secs(20),
        || {
            let m = sink.messages();
            (m.len() >= emails_expected).then_some(m)
        },
    );
    let ns = t.notifications().await;
    let sms_states: Vec<String> = ns
        .iter()
        .filter(|n| n.channel == "sms" && n.state != "sent")
        .map(|n| format!("{} {} {}", n.key, n.state, n.recipient))
        .collect();
    assert!(sms_states.is_empty(), "SMS not sent: {sms_states:?}");
    let queued_sms: BTreeSet<String> = ns
        .iter()
        .filter(|n| n.channel == "sms")
        .map(|n| n.recipient.clone())
        .collect();
    let wanted_sms: BTreeSet<String> = affected.iter().filter_map(|c| c.mobile.clone()).collect();
    assert_eq!(queued_sms, wanted_sms, "one SMS per affected mobile");
    let texts = wait_until(
        "the SMS at fakesmsc",
        std::time::Duration::from_secs(30),
        || {
            let r = kannel.received();
            (r.len() >= sms_expected).then_some(r)
        },
    );
    let mailed: BTreeSet<String> = mails.iter().flat_map(|m| m.rcpt_to.clone()).collect();
    let texted: BTreeSet<String> = texts.iter().map(|m| m.to.clone()).collect();
    assert_eq!(
        mails.len(),
        emails_expected,
        "one email per usable address, no more"
    );
    assert_eq!(texts.len(), sms_expected, "one SMS per mobile, no more");

    let mut lost = Vec::new();
    for case in &affected {
        let told_by_email = case.email.as_ref().is_some_and(|e| mailed.contains(e));
        let told_by_sms = case.mobile.as_ref().is_some_and(|m| texted.contains(m));
        // What the row held must have been used: a typo in one field costs only that channel.
        assert_eq!(told_by_email, case.email.is_some(), "{}: email", case.key);
        assert_eq!(told_by_sms, case.mobile.is_some(), "{}: SMS", case.key);
        match on_list.get(case.key.as_str()) {
            Some(why) => assert!(!why.is_empty(), "{}: a reason", case.key),
            None if told_by_email || told_by_sms => {}
            None => lost.push(case.key.clone()),
        }
    }
    assert!(
        lost.is_empty(),
        "neither told nor on the call list: {lost:?}"
    );
    // Nobody outside the outage heard anything.
    let outside: Vec<&Case> = cases.iter().filter(|c| !c.affected).collect();
    for case in outside {
        assert!(
            !case.email.as_ref().is_some_and(|e| mailed.contains(e)),
            "{}",
            case.key
        );
    }
    // Those on the list have nothing else: landline only, nothing usable.
    for entry in &calllist {
        let case = affected
            .iter()
            .find(|c| c.key == entry.booking_key)
            .expect("affected");
        assert!(
            case.email.is_none() && case.mobile.is_none(),
            "{}: {}",
            case.key,
            entry.why
        );
    }
    assert!(
        !calllist.is_empty(),
        "the corpus has citizens with no usable channel"
    );
}
