//! Values for the printers' tests: settings with one tenant, an outage, an impact, and what a
//! printer wrote.

use crate::config::Settings;
use crate::domain::names::{NameCount, Names};
use crate::lifecycle::{Conservation, Impact, MatchStats, Sample, SmsCost, SmsCountry};
use crate::store::outages::OutageRow;

/// Settings with the one tenant `soest` in Europe/Berlin.
pub fn settings() -> Settings {
    let tenant = "id = \"soest\"\nname = \"Kreis Soest\"\ntime_zone = \"Europe/Berlin\"\n\
         hotline = \"02921 30-0\"\nemail_from = \"termine@kreis-soest.example\"\n\
         sms_sender = \"KreisSoest\"\n";
    Settings {
        tenants: vec![toml::from_str(tenant).unwrap()],
        ..Settings::default()
    }
}

/// What a printer wrote.
pub fn written(print: impl FnOnce(&mut Vec<u8>) -> anyhow::Result<()>) -> String {
    let mut out = Vec::new();
    print(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// An outage of `soest` from 2030-03-04 08:00 to 18:00 Berlin time.
pub fn outage(id: i64) -> OutageRow {
    OutageRow {
        id,
        tenant_id: "soest".into(),
        kind: crate::domain::outage::RunKind::Outage,
        window_from: Some(crate::domain::from_millis(1_898_838_000_000)),
        window_to: Some(crate::domain::from_millis(1_898_874_000_000)),
        services_json: "[]".into(),
        locations_json: "[\"Soest\"]".into(),
        keys_json: None,
        reason: "IT-Ausfall".into(),
        state: crate::domain::outage::RunState::Active,
        created_at: crate::domain::from_millis(1_796_414_354_253),
        created_by: "cli:kim".into(),
        retract_reason: None,
        updated_at: None,
        closed_at: None,
        purged_at: None,
    }
}

/// An impact with something in every part: two channels and languages, SMS in Turkish to
/// Syria, one booking whose SMS is too long, a cancellation and a retraction sample.
pub fn impact(id: Option<i64>) -> Impact {
    let sample = |kind: &str, subject: Option<&str>, text: &str| Sample {
        kind: kind.into(),
        channel: if subject.is_some() { "email" } else { "sms" }.into(),
        language: "de".into(),
        subject: subject.map(Into::into),
        text: text.into(),
    };
    let name = |name: &str, bookings| NameCount {
        name: name.into(),
        bookings,
    };
    Impact {
        id,
        stats: MatchStats {
            affected: 5,
            added: 5,
            withdrawn: 1,
            queued: 4,
            cancelled: 2,
            retractions: 1,
            sms_too_long: 1,
            sms_skipped: vec!["K9".into()],
            ..MatchStats::default()
        },
        per_channel: [("email".into(), 2), ("sms".into(), 2)].into(),
        per_language: [("de".into(), 3), ("tr".into(), 1)].into(),
        sms: [(
            "tr".into(),
            SmsCost {
                messages: 1,
                segments: 3,
                cost: Some(0.225),
                encodings: [("UCS-2".into(), 1)].into(),
                short: 1,
            },
        )]
        .into(),
        sms_per_country: [(
            "SY".into(),
            SmsCountry {
                messages: 1,
                segments: 3,
                cost: None,
                skipped: 2,
            },
        )]
        .into(),
        samples: vec![
            sample("cancellation", Some("Ihr Termin fällt aus"), "Guten Tag"),
            sample("retraction", None, "Ihr Termin bleibt"),
        ],
        conservation: Conservation {
            affected: 5,
            with_message: 3,
            call_list: 2,
            covered_elsewhere: 0,
        },
        names: Names {
            services: vec![name("Zulassung", 3), name("Führerschein", 2)],
            locations: vec![],
        },
        schedule: None,
    }
}
