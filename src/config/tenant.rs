//! `[[tenants]]`: each office's zone, languages, senders, channels and SMS costs.

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::domain::quiet::QuietHours;

/// Which channels a tenant uses and in what order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ChannelPolicy {
    /// Email and SMS, each wherever the booking has the address.
    #[default]
    Both,
    /// Email; SMS only when email fails for good, is missing, or has not gone out by
    /// `fallback_lead_minutes` before the appointment.
    EmailFirst,
    /// The mirror image of `email_first`.
    SmsFirst,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSettings {
    pub id: String,
    pub name: String,
    /// IANA zone in which exports are read and messages are written.
    #[serde(with = "tz_serde")]
    pub time_zone: Tz,
    #[serde(default = "default_language")]
    pub default_language: String,
    /// Languages tried, in order, when no template exists in the booking's language.
    #[serde(default)]
    pub fallback_languages: Vec<String>,
    pub hotline: String,
    /// `Name <address>` that citizens see as the sender.
    pub email_from: String,
    #[serde(default)]
    pub reply_to: Option<String>,
    /// Alphanumeric sender id (max. 11 characters) or a number.
    pub sms_sender: String,
    #[serde(default)]
    pub channel_policy: ChannelPolicy,
    #[serde(default = "default_fallback_lead")]
    pub fallback_lead_minutes: i64,
    /// No SMS in these local hours (`"21:00-07:00"`), unless the appointment is closer than
    /// `quiet_hours_urgent_minutes` after they end.
    #[serde(default)]
    pub quiet_hours: Option<QuietHours>,
    #[serde(default = "default_quiet_urgent")]
    pub quiet_hours_urgent_minutes: i64,
    /// Emails in another language than German also carry the German text, so that family or
    /// staff can read it too.
    #[serde(default)]
    pub bilingual: bool,
    /// An SMS longer than this many segments is sent in its short form (no reason, service or
    /// link); if that is still longer, the booking gets no SMS (its email and the call list
    /// still apply). Never truncated at the gateway, never a reason to refuse a declaration.
    #[serde(default = "default_max_segments")]
    pub max_sms_segments: usize,
    /// What one SMS segment costs (for the impact preview), in `currency`.
    #[serde(default)]
    pub sms_price_per_segment: Option<f64>,
    /// What one SMS segment costs to mobiles of a country (ISO 3166 alpha-2 → price, `{ SY =
    /// 0.25 }`), in `currency`; countries not named cost `sms_price_per_segment`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sms_price_per_country: BTreeMap<String, f64>,
    /// SMS only to mobiles of these countries (ISO 3166 alpha-2, `["DE", "AT", "UA"]`); absent:
    /// every country. A booking whose mobile is elsewhere gets no SMS: its email still goes
    /// out, and without one it is on the call list ("mobile number in a country without SMS").
    #[serde(default)]
    pub sms_countries: Option<Vec<String>>,
    #[serde(default = "default_currency")]
    pub currency: String,
    /// A complete template folder of the tenant's own, instead of the shared `templates.dir`.
    #[serde(default)]
    pub templates_dir: Option<PathBuf>,
    /// Where citizens book a new appointment; cancellations point there when set.
    #[serde(default)]
    pub rebook_url: Option<String>,
    /// Four-eyes rule for the API and web UI: an action that would take one account above
    /// this many bookings within `approval_window_minutes` waits until a different approver
    /// approves it. Counted: the bookings a declaration or batch affects, an amendment adds or
    /// takes out, a retraction or confirmed removal takes out. None: never waits.
    #[serde(default)]
    pub approval_threshold: Option<u64>,
    /// The window in which one account's actions add up for `approval_threshold`.
    #[serde(default = "default_approval_window")]
    pub approval_window_minutes: u64,
}

fn default_approval_window() -> u64 {
    24 * 60
}

fn default_max_segments() -> usize {
    4
}

fn default_currency() -> String {
    "EUR".into()
}

fn default_quiet_urgent() -> i64 {
    120
}

fn default_language() -> String {
    "de".into()
}
fn default_fallback_lead() -> i64 {
    12 * 60
}

impl TenantSettings {
    /// The language chain for templates: the tenant's fallbacks, then its default.
    pub fn language_chain(&self) -> Vec<String> {
        let mut chain = self.fallback_languages.clone();
        if !chain.contains(&self.default_language) {
            chain.push(self.default_language.clone());
        }
        chain
    }

    /// The country of the mobile `e164` when `sms_countries` leaves it out, so that it gets no
    /// SMS; `None` when an SMS may go there. A number of no known country (`+882…`) is outside
    /// every allow-list and reported as `"unknown"`.
    pub fn sms_barred_country(&self, e164: &str) -> Option<String> {
        let allowed = self.sms_countries.as_ref()?;
        let country = crate::domain::phone::region_code(e164);
        match country {
            Some(c) if allowed.iter().any(|a| a.trim().eq_ignore_ascii_case(&c)) => None,
            Some(c) => Some(c),
            None => Some(UNKNOWN_COUNTRY.to_owned()),
        }
    }

    /// What one SMS segment to a mobile of `country` costs: its `sms_price_per_country`, else
    /// `sms_price_per_segment`.
    pub fn sms_segment_price(&self, country: Option<&str>) -> Option<f64> {
        country
            .and_then(|c| {
                self.sms_price_per_country
                    .iter()
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case(c))
            })
            .map(|(_, p)| *p)
            .or(self.sms_price_per_segment)
    }
}

/// How previews and call lists name the country of a number libphonenumber cannot place.
pub const UNKNOWN_COUNTRY: &str = "unknown";

mod tz_serde {
    use chrono_tz::Tz;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(tz.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Tz, D::Error> {
        let name = String::deserialize(d)?;
        name.parse::<Tz>().map_err(|_| {
            serde::de::Error::custom(format!(
                "{name:?} is not an IANA time zone (e.g. \"Europe/Berlin\")"
            ))
        })
    }
}
