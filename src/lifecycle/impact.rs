//! What a run amounts to: counts per channel, language and country, SMS costs, samples, and
//! the conservation line (affected = with a message + call list).

use super::matching::{self, MatchStats};
use crate::config::TenantSettings;
use crate::domain::names::Names;
use crate::domain::notification::{Channel, Kind};
use crate::store::bookings::BookingRow;
use crate::store::notifications::{self, NewNotification};
use crate::store::{Conn, outages};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// A sample of what citizens will receive.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Sample {
    pub kind: String,
    pub channel: String,
    pub language: String,
    pub subject: Option<String>,
    pub text: String,
}

/// The impact of a declaration (or its preview).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Impact {
    /// None for a dry run.
    pub id: Option<i64>,
    #[serde(flatten)]
    pub stats: MatchStats,
    pub per_channel: BTreeMap<String, i64>,
    pub per_language: BTreeMap<String, i64>,
    /// SMS per language: how many, how many segments, what they cost, in which encoding, and
    /// how many in their short form.
    pub sms: BTreeMap<String, SmsCost>,
    /// SMS per destination country (ISO 3166 alpha-2 of the mobile number, `"unknown"` for
    /// numbers of no country): how many, how many segments, what they cost at the country's
    /// price, and how many bookings got none because the tenant's `sms_countries` leaves the
    /// country out.
    pub sms_per_country: BTreeMap<String, SmsCountry>,
    pub samples: Vec<Sample>,
    /// Every affected booking is told or on the call list: the counts that prove it.
    pub conservation: Conservation,
    /// The services and locations of the affected bookings, with counts.
    pub names: Names,
    /// When the messages of a new run would leave, and whose would leave too late (see
    /// [`super::planner`]); absent for changes to a run.
    pub schedule: Option<super::planner::Schedule>,
}

/// The conservation rule of a run: bookings affected = bookings with at least one message
/// queued (or already sent) + bookings on the call list. Nothing else exists.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Conservation {
    pub affected: i64,
    pub with_message: i64,
    pub call_list: i64,
    /// Bookings in the window that another active outage already tells (not counted above).
    pub covered_elsewhere: u64,
}

impl Conservation {
    pub fn holds(&self) -> bool {
        self.affected == self.with_message + self.call_list
    }
}

impl std::fmt::Display for Conservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "affected {} = with a message {} + no channel (call list) {}",
            self.affected, self.with_message, self.call_list
        )?;
        if self.covered_elsewhere > 0 {
            write!(
                f,
                " ({} more are told by another active outage)",
                self.covered_elsewhere
            )?;
        }
        if !self.holds() {
            write!(f, " — COUNTS DO NOT ADD UP, please report this")?;
        }
        Ok(())
    }
}

/// What a run's SMS in one language amount to.
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct SmsCost {
    pub messages: u64,
    pub segments: u64,
    pub cost: Option<f64>,
    /// Messages per encoding ("GSM-7", "UCS-2"): one character outside the GSM alphabet, say in
    /// a name, makes a German SMS UCS-2 and costs more parts.
    pub encodings: BTreeMap<String, u64>,
    /// Messages queued in this pass in their short form, because the full text was longer
    /// than the tenant's `max_sms_segments`.
    pub short: u64,
}

/// What a run's SMS to one country amount to.
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct SmsCountry {
    pub messages: u64,
    pub segments: u64,
    /// At the tenant's `sms_price_per_country` for the country, else `sms_price_per_segment`.
    pub cost: Option<f64>,
    /// Bookings with a mobile of this country that got no SMS in this pass: the country is not
    /// in the tenant's `sms_countries`. Their email still goes out; without one, the call list.
    pub skipped: u64,
}

/// The conservation line of a stored run as it stands now: affected = with a message + call
/// list, and, for an active run, how many bookings of its selection another active run
/// already tells (matching leaves those to it).
pub async fn conservation_of(
    conn: &mut Conn,
    run: &outages::OutageRow,
    now: DateTime<Utc>,
) -> anyhow::Result<Conservation> {
    let (affected, with_message, call_list) = outages::reach_counts(conn, run.id).await?;
    let covered_elsewhere = if run.state == crate::domain::outage::RunState::Active {
        let selection = matching::selection_of(run)?;
        let targeted: std::collections::HashSet<i64> = outages::target_states(conn, run.id, None)
            .await?
            .into_iter()
            .map(|(booking, _)| booking)
            .collect();
        let untargeted: Vec<i64> = matching::select(conn, &run.tenant_id, &selection)
            .await?
            .into_iter()
            .filter(|b| b.starts_at > now && !targeted.contains(&b.id))
            .map(|b| b.id)
            .collect();
        if untargeted.is_empty() {
            0
        } else {
            notifications::already_cancelled_elsewhere(conn, run.id, &untargeted)
                .await?
                .len() as u64
        }
    } else {
        0
    };
    Ok(Conservation {
        affected,
        with_message,
        call_list,
        covered_elsewhere,
    })
}

/// What a run amounts to right now (inside the caller's transaction), read back from the
/// outbox: for amendments, confirmed removals and retractions, whose outcome depends on what
/// was queued and sent before.
pub(super) async fn impact(
    conn: &mut Conn,
    tenant: &TenantSettings,
    id: i64,
    stats: MatchStats,
) -> anyhow::Result<Impact> {
    let mut b = Breakdown::default();
    for (channel, language, n) in notifications::breakdown(conn, id).await? {
        *b.per_channel.entry(channel).or_insert(0) += n;
        *b.per_language.entry(language).or_insert(0) += n;
    }
    for (language, recipient, text) in notifications::sms_texts(conn, id).await? {
        b.sms(tenant, language, &recipient, &text);
    }
    for (kind, channel, language, subject, text) in notifications::samples(conn, id).await? {
        let sample = Sample {
            kind,
            channel,
            language,
            subject,
            text,
        };
        b.samples
            .insert((sample.kind.clone(), sample.channel.clone()), sample);
    }
    let (affected, with_message, call_list) = outages::reach_counts(conn, id).await?;
    let reach = Conservation {
        affected,
        with_message,
        call_list,
        covered_elsewhere: stats.covered_elsewhere,
    };
    let names = Names::count(&outages::affected_names(conn, id).await?);
    Ok(b.into_impact(Some(id), stats, reach, names))
}

/// The impact of a new run counted while matching renders its messages ([`super::matching`]
/// feeds it each affected booking with what it queues): the report built from the plan, for
/// a declaration and its preview alike, without reading the outbox back.
#[derive(Default)]
pub struct Tally {
    breakdown: Breakdown,
    affected: i64,
    with_message: i64,
    names: BTreeMap<(String, String), i64>,
    /// The cancellations queued, for the deadline planner.
    pub planned: Vec<super::planner::Planned>,
}

impl Tally {
    /// One affected booking and the messages queued for it (none: the call list).
    pub fn booking(&mut self, tenant: &TenantSettings, b: &BookingRow, queued: &[NewNotification]) {
        self.affected += 1;
        if queued.iter().any(|n| n.kind == Kind::Cancellation.as_str()) {
            self.with_message += 1;
        }
        *self
            .names
            .entry((b.service.clone(), b.location.clone()))
            .or_default() += 1;
        let d = &mut self.breakdown;
        for n in queued {
            *d.per_channel.entry(n.channel.to_owned()).or_insert(0) += 1;
            *d.per_language.entry(n.language.clone()).or_insert(0) += 1;
            // An SMS is always written when queued; an email only as the first of its pass.
            let segments = match &n.body_text {
                Some(text) if n.channel == Channel::Sms.as_str() => {
                    d.sms(tenant, n.language.clone(), &n.recipient, text)
                }
                _ => 1,
            };
            if n.kind == Kind::Cancellation.as_str() {
                self.planned.push(super::planner::Planned {
                    booking: b.id,
                    channel: n.channel,
                    fallback: n.role == crate::domain::notification::Role::Fallback.as_str(),
                    due: n.next_attempt_at,
                    starts_at: n.deadline,
                    slots: u32::try_from(segments).unwrap_or(u32::MAX),
                });
            }
            let Some(text) = &n.body_text else { continue };
            // One sample per kind and channel: the first, not a copy of every text.
            d.samples
                .entry((n.kind.to_owned(), n.channel.to_owned()))
                .or_insert_with(|| Sample {
                    kind: n.kind.to_owned(),
                    channel: n.channel.to_owned(),
                    language: n.language.clone(),
                    subject: n.subject.clone(),
                    text: text.clone(),
                });
        }
    }

    /// The impact of run `id` (None: a preview) once matching is done.
    pub fn into_impact(self, id: Option<i64>, stats: MatchStats) -> Impact {
        let reach = Conservation {
            affected: self.affected,
            with_message: self.with_message,
            call_list: self.affected - self.with_message,
            covered_elsewhere: stats.covered_elsewhere,
        };
        let names: Vec<(String, String, i64)> = self
            .names
            .into_iter()
            .map(|((service, location), n)| (service, location, n))
            .collect();
        self.breakdown
            .into_impact(id, stats, reach, Names::count(&names))
    }
}

/// A run's messages, counted: per channel and language, SMS costs, one sample per kind and
/// channel.
#[derive(Default)]
struct Breakdown {
    per_channel: BTreeMap<String, i64>,
    per_language: BTreeMap<String, i64>,
    sms: BTreeMap<String, SmsCost>,
    sms_per_country: BTreeMap<String, SmsCountry>,
    samples: BTreeMap<(String, String), Sample>,
}

impl Breakdown {
    /// One SMS: its segments and cost per language and per destination country.
    /// Returns its segments.
    fn sms(
        &mut self,
        tenant: &TenantSettings,
        language: String,
        recipient: &str,
        text: &str,
    ) -> u64 {
        let facts = crate::preview::SmsFacts::of(text, tenant);
        let segments = facts.segments as u64;
        let country = crate::domain::phone::region_code(recipient);
        // The country's price, so that both breakdowns add up to the same total.
        let cost = tenant
            .sms_segment_price(country.as_deref())
            .map(|p| p * segments as f64);
        let entry = self.sms.entry(language).or_default();
        entry.messages += 1;
        entry.segments += segments;
        *entry.encodings.entry(facts.encoding.into()).or_default() += 1;
        if let Some(c) = cost {
            *entry.cost.get_or_insert(0.0) += c;
        }
        let label = country.unwrap_or_else(|| crate::config::UNKNOWN_COUNTRY.to_owned());
        let entry = self.sms_per_country.entry(label).or_default();
        entry.messages += 1;
        entry.segments += segments;
        if let Some(c) = cost {
            *entry.cost.get_or_insert(0.0) += c;
        }
        segments
    }

    fn into_impact(
        mut self,
        id: Option<i64>,
        stats: MatchStats,
        conservation: Conservation,
        names: Names,
    ) -> Impact {
        for (language, n) in &stats.sms_short {
            self.sms.entry(language.clone()).or_default().short = *n;
        }
        for (country, n) in &stats.sms_country_barred {
            self.sms_per_country
                .entry(country.clone())
                .or_default()
                .skipped = *n;
        }
        Impact {
            id,
            stats,
            per_channel: self.per_channel,
            per_language: self.per_language,
            sms: self.sms,
            sms_per_country: self.sms_per_country,
            samples: self.samples.into_values().collect(),
            conservation,
            names,
            schedule: None,
        }
    }
}
