//! One JSON record seen as a row: mapped paths, values as text, Unix times.

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat};
use serde_json::{Number, Value};

use super::Epoch;
use crate::import::mapping::{Field, FieldMapping, RowSource};

/// A JSON type in words, for messages that must not show the value.
pub(super) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "true or false",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A mapped path: keys and list indices.
#[derive(Debug, Clone)]
struct JsonPath {
    text: String,
    segments: Vec<String>,
}

impl JsonPath {
    fn parse(text: &str) -> Result<JsonPath, String> {
        let text = text.trim();
        let dotted = text.replace('[', ".").replace(']', "");
        let segments: Vec<String> = dotted.split('.').map(str::to_string).collect();
        if segments.iter().any(String::is_empty) {
            return Err(format!(
                "{text:?} is not a path like \"customer.email\" or \"services.0.name\""
            ));
        }
        Ok(JsonPath {
            text: text.to_string(),
            segments,
        })
    }

    fn resolve<'v>(&self, record: &'v Value) -> Option<&'v Value> {
        let nested = self
            .segments
            .iter()
            .try_fold(record, |value, key| match value {
                Value::Object(map) => map.get(key),
                Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            });
        // A flat export may use dots inside its keys ("Termin.Nr").
        nested.or_else(|| match self.segments.len() {
            1 => None,
            _ => record.get(&self.text),
        })
    }
}

/// The path of each mapped field.
#[derive(Debug, Clone)]
pub(super) struct Paths([Vec<JsonPath>; Field::ALL.len()]);

impl Paths {
    pub(super) fn compile(fields: &FieldMapping) -> Result<Paths, String> {
        let mut paths: [Vec<JsonPath>; Field::ALL.len()] = Default::default();
        for field in Field::ALL {
            for text in fields.headers(field) {
                let path = JsonPath::parse(text)
                    .map_err(|why| format!("fields.{}: {why}", field.as_str()))?;
                paths[field as usize].push(path);
            }
        }
        Ok(Paths(paths))
    }

    fn get(&self, field: Field, nth: usize) -> Option<&JsonPath> {
        self.0[field as usize].get(nth)
    }

    pub(super) fn any_in(&self, record: &Value) -> bool {
        self.0.iter().flatten().any(|p| p.resolve(record).is_some())
    }

    pub(super) fn listed(&self) -> Vec<(String, Field)> {
        Field::ALL
            .into_iter()
            .flat_map(|f| self.0[f as usize].iter().map(move |p| (p.text.clone(), f)))
            .collect()
    }
}

/// One record seen through the paths.
pub(super) struct JsonRow<'r> {
    pub(super) value: &'r Value,
    pub(super) paths: &'r Paths,
    pub(super) epoch: Option<Epoch>,
}

impl RowSource for JsonRow<'_> {
    fn text(&self, field: Field) -> Result<Option<Cow<'_, str>>, String> {
        self.text_nth(field, 0)
    }

    fn text_nth(&self, field: Field, nth: usize) -> Result<Option<Cow<'_, str>>, String> {
        let Some(path) = self.paths.get(field, nth) else {
            return Ok(None);
        };
        let time_mapped = self.paths.get(Field::Time, 0).is_some();
        let instant = match field {
            Field::Date => !time_mapped,
            Field::End => true,
            _ => false,
        };
        let epoch = self.epoch.filter(|_| instant);
        let text = match (path.resolve(self.value), epoch) {
            (None | Some(Value::Null), _) => Cow::Borrowed(""),
            (Some(Value::Number(n)), Some(epoch)) => Cow::Owned(epoch.instant(n)?),
            (Some(Value::String(s)), Some(epoch)) => match s.trim().parse::<Number>() {
                Ok(n) => Cow::Owned(epoch.instant(&n)?),
                Err(_) => Cow::Borrowed(s.as_str()),
            },
            (Some(Value::String(s)), None) => Cow::Borrowed(s.as_str()),
            (Some(Value::Number(n)), None) => Cow::Owned(n.to_string()),
            (Some(Value::Bool(b)), _) => Cow::Borrowed(if *b { "true" } else { "false" }),
            (Some(other), _) => {
                return Err(format!(
                    "is {}, not a single value: map a path into it, like \"customer.email\" \
                     or \"services.0.name\"",
                    kind(other)
                ));
            }
        };
        Ok(Some(text))
    }
}

/// Instants outside 2000–2200 are taken for a unit mix-up rather than imported.
const PLAUSIBLE_MS: std::ops::Range<f64> = 946_684_800_000.0..7_258_118_400_000.0;

impl Epoch {
    /// The Unix time as RFC 3339 in UTC, which the row parser reads as an instant.
    fn instant(self, number: &Number) -> Result<String, String> {
        let scale = |epoch: Epoch| match epoch {
            Epoch::Seconds => 1000.0,
            Epoch::Milliseconds => 1.0,
        };
        let value = number.as_f64().unwrap_or(f64::NAN);
        let millis = value * scale(self);
        if !PLAUSIBLE_MS.contains(&millis) {
            let other = match self {
                Epoch::Seconds => Epoch::Milliseconds,
                Epoch::Milliseconds => Epoch::Seconds,
            };
            let hint = match PLAUSIBLE_MS.contains(&(value * scale(other))) {
                true => format!("; is json.epoch \"{}\"?", other.unit()),
                false => String::new(),
            };
            return Err(format!(
                "{number} is not a Unix time in {} between 2000 and 2200{hint}",
                self.unit()
            ));
        }
        let at = DateTime::from_timestamp_millis(millis.round() as i64)
            .ok_or_else(|| format!("{number} is out of range"))?;
        Ok(at.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    fn unit(self) -> &'static str {
        match self {
            Epoch::Seconds => "seconds",
            Epoch::Milliseconds => "milliseconds",
        }
    }
}
