//! Writing the emails queued without a text: a declaration queues only who gets which message
//! (see `lifecycle::render`), and the dispatcher writes each email after claiming it, from its
//! booking as it is then and its run's reason, with the tenant's templates.

use crate::config::TenantSettings;
use crate::domain::notification::Kind;
use crate::messages::TemplateSet;
use crate::store::bookings::{self, BookingRow};
use crate::store::notifications::Claimed;
use crate::store::{Conn, outages};
use std::collections::HashMap;

/// What the claimed emails without a text are written from, read in the claim's transaction.
#[derive(Default)]
pub(super) struct Facts {
    bookings: HashMap<i64, BookingRow>,
    reasons: HashMap<i64, String>,
}

impl Facts {
    /// Reads the bookings and run reasons of the claimed notifications that have no text.
    pub(super) async fn read(conn: &mut Conn, claimed: &[Claimed]) -> sqlx::Result<Facts> {
        let unwritten: Vec<&Claimed> = claimed.iter().filter(|c| c.body_text.is_none()).collect();
        if unwritten.is_empty() {
            return Ok(Facts::default());
        }
        let mut booking_ids: Vec<i64> = unwritten.iter().map(|c| c.booking_id).collect();
        let mut outage_ids: Vec<i64> = unwritten.iter().map(|c| c.outage_id).collect();
        booking_ids.sort_unstable();
        booking_ids.dedup();
        outage_ids.sort_unstable();
        outage_ids.dedup();
        Ok(Facts {
            bookings: bookings::by_ids(conn, &booking_ids)
                .await?
                .into_iter()
                .map(|b| (b.id, b))
                .collect(),
            reasons: outages::reasons(conn, &outage_ids)
                .await?
                .into_iter()
                .collect(),
        })
    }

    /// Writes the text of each claimed notification that has none. One that cannot be written
    /// keeps none and gets the reason in `unwritable`: it fails for good when sent, and its
    /// fallback or the call list takes over.
    pub(super) fn write(
        &self,
        templates: &TemplateSet,
        tenants: &HashMap<String, TenantSettings>,
        claimed: &mut [Claimed],
    ) {
        for c in claimed.iter_mut().filter(|c| c.body_text.is_none()) {
            match self.text_of(templates, tenants, c) {
                Ok(r) => {
                    c.subject = r.subject;
                    c.body_text = Some(r.text);
                    c.body_html = r.html;
                }
                Err(e) => c.unwritable = Some(format!("{e:#}")),
            }
        }
    }

    fn text_of(
        &self,
        templates: &TemplateSet,
        tenants: &HashMap<String, TenantSettings>,
        c: &Claimed,
    ) -> anyhow::Result<crate::messages::Rendered> {
        // Only cancellations are queued without a text; a retraction carries the reason it
        // was given, which is stored with its text.
        anyhow::ensure!(
            c.kind == Kind::Cancellation,
            "a {} without a stored text cannot be written",
            c.kind.as_str()
        );
        let tenant = tenants
            .get(&c.tenant_id)
            .ok_or_else(|| anyhow::anyhow!("tenant {:?} is no longer configured", c.tenant_id))?;
        let booking = self
            .bookings
            .get(&c.booking_id)
            .ok_or_else(|| anyhow::anyhow!("booking {} is gone", c.booking_id))?;
        let reason = self
            .reasons
            .get(&c.outage_id)
            .ok_or_else(|| anyhow::anyhow!("run {} is gone", c.outage_id))?;
        let templates = templates.for_tenant(&tenant.id);
        crate::lifecycle::render::email(tenant, templates, booking, c.kind, reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::notification::{Channel, Role};
    use chrono::{TimeZone, Utc};

    fn tenants() -> HashMap<String, TenantSettings> {
        let tenant: TenantSettings = toml::from_str(
            "id = \"soest\"\nname = \"Kreis Soest\"\ntime_zone = \"Europe/Berlin\"\n\
             hotline = \"02921 30-0\"\nemail_from = \"termine@kreis-soest.example\"\n\
             sms_sender = \"KreisSoest\"\n",
        )
        .unwrap();
        HashMap::from([(tenant.id.clone(), tenant)])
    }

    fn shipped() -> TemplateSet {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/templates");
        TemplateSet::load(&dir, []).unwrap()
    }

    fn starts() -> chrono::DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 1, 7, 8, 30, 0).unwrap()
    }

    fn booking(id: i64, name: &str, location: &str) -> BookingRow {
        BookingRow {
            id,
            tenant_id: "soest".into(),
            source: "termine".into(),
            booking_key: format!("K{id}"),
            starts_at: starts(),
            ends_at: starts() + chrono::Duration::minutes(15),
            service: "Zulassung".into(),
            location: location.into(),
            name: name.into(),
            email: Some("a@example.org".into()),
            phone_raw: None,
            phone_e164: None,
            phone_mobile: 0,
            language: Some("de".into()),
            status: "active".into(),
            revision: 1,
            email_problem: None,
            phone_problem: None,
            phone_other: None,
        }
    }

    fn claimed(id: i64, booking_id: i64, kind: Kind, text: Option<&str>) -> Claimed {
        Claimed {
            id,
            tenant_id: "soest".into(),
            outage_id: 7,
            booking_id,
            channel: Channel::Email,
            kind,
            role: Role::Primary,
            recipient: "a@example.org".into(),
            subject: text.map(|_| "stored".to_owned()),
            body_text: text.map(str::to_owned),
            body_html: None,
            attempts: 0,
            deadline: starts(),
            claims: 1,
            unwritable: None,
            lease_until: starts(),
        }
    }

    #[test]
    fn an_email_without_text_is_written_from_its_booking_and_the_runs_reason() {
        let facts = Facts {
            bookings: HashMap::from([(1, booking(1, "Ada Muster", "Hoher Weg 1-3, Soest"))]),
            reasons: HashMap::from([(7, "IT-Ausfall nach Cyberangriff".to_owned())]),
        };
        let mut rows = [
            claimed(10, 1, Kind::Cancellation, None),
            claimed(11, 1, Kind::Cancellation, Some("kept as stored")),
        ];
        facts.write(&shipped(), &tenants(), &mut rows);
        let text = rows[0].body_text.as_deref().expect("written");
        assert!(text.contains("Hoher Weg 1-3, Soest"), "{text}");
        assert!(text.contains("IT-Ausfall nach Cyberangriff"), "{text}");
        assert!(text.contains("Ada Muster"), "{text}");
        assert!(rows[0].subject.as_deref().unwrap().contains("fällt aus"));
        assert!(rows[0].body_html.is_some(), "and its HTML part");
        assert_eq!(rows[0].unwritable, None);
        assert_eq!(rows[1].body_text.as_deref(), Some("kept as stored"));
    }

    #[test]
    fn what_cannot_be_written_is_named_and_left_without_text() {
        let facts = Facts {
            bookings: HashMap::from([(1, booking(1, "Ada Muster", "Soest"))]),
            reasons: HashMap::from([(7, "IT-Ausfall".to_owned())]),
        };
        let mut gone_tenant = claimed(12, 1, Kind::Cancellation, None);
        gone_tenant.tenant_id = "lippstadt".into();
        let mut rows = [
            claimed(10, 2, Kind::Cancellation, None),
            claimed(11, 1, Kind::Retraction, None),
            gone_tenant,
        ];
        facts.write(&shipped(), &tenants(), &mut rows);
        let reasons: Vec<&str> = rows
            .iter()
            .map(|c| c.unwritable.as_deref().expect("a reason"))
            .collect();
        assert!(reasons[0].contains("booking 2 is gone"), "{}", reasons[0]);
        assert!(reasons[1].contains("retraction"), "{}", reasons[1]);
        assert!(reasons[2].contains("lippstadt"), "{}", reasons[2]);
        assert!(rows.iter().all(|c| c.body_text.is_none()));
    }
}
