//! Refusing a JSON export whole: the refusals of every reader, and those only JSON has (not
//! JSON at all, records not where configured, a first record without the mapped paths). The
//! messages name the file and never repeat a value from it.

use crate::import::mapping::Field;
use crate::import::read::FormatError;

/// A whole export refused; the message names the file and never repeats a value from it.
#[derive(Debug, thiserror::Error)]
pub enum JsonFormatError {
    /// Refusals every reader makes alike: unreadable, over a limit, configured wrong.
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("{file}: is empty, there is not a single record")]
    Empty { file: String },
    #[error("{file}: is not {expected}: {reason}{}", hint_suffix(.hint))]
    NotJson {
        file: String,
        /// "JSON", "NDJSON (one object per line)".
        expected: &'static str,
        /// What is wrong, with line and column.
        reason: String,
        hint: Option<String>,
    },
    /// `records_path` leads nowhere, or not to an array.
    #[error("{file}: {reason}")]
    NoRecords { file: String, reason: String },
    #[error("{file}: {}", missing_message(.position, .missing, .keys, *.not_object))]
    MissingPaths {
        file: String,
        /// "line 1" or "record 1".
        position: String,
        /// Every mapped path, with its booking field: the first record has none of them.
        missing: Vec<(String, Field)>,
        /// The first record's keys (names, not values).
        keys: Vec<String>,
        /// What the first record is, when not an object: "a list".
        not_object: Option<&'static str>,
    },
    /// The file ends inside its first record: cut off, or still being written.
    #[error("{file}: {reason}")]
    CutOff { file: String, reason: String },
}

fn hint_suffix(hint: &Option<String>) -> String {
    hint.as_ref().map(|h| format!("; {h}")).unwrap_or_default()
}

fn missing_message(
    position: &str,
    missing: &[(String, Field)],
    keys: &[String],
    not_object: Option<&str>,
) -> String {
    let missing: Vec<String> = missing
        .iter()
        .map(|(path, field)| format!("{path:?} ({})", field.as_str()))
        .collect();
    let found = match not_object {
        Some(what) => format!("it is {what}, not an object"),
        None if keys.is_empty() => "it is an empty object".to_string(),
        None => format!("its keys are {}", list_keys(keys)),
    };
    format!(
        "the first record ({position}) has none of the mapped paths {}; {found}",
        missing.join(", ")
    )
}

/// Keys for a message, quoted and cut short.
pub(super) fn list_keys(keys: &[String]) -> String {
    let shown: Vec<String> = keys.iter().map(|k| format!("{:?}", cut(k))).collect();
    shown.join(", ")
}

/// A key for a message, cut short: keys are names, but a file may abuse them.
fn cut(text: &str) -> &str {
    text.char_indices()
        .nth(40)
        .map_or(text, |(at, _)| &text[..at])
}
