//! The [`RowParser`]: one source's mapping and formats, prepared once, turning each row into a
//! booking; the cells of one row as it reads them ([`Cells`]).

use crate::domain::text::clean;
use std::borrow::Cow;

use chrono::TimeDelta;
use chrono::format::{Item, Parsed, StrftimeItems};
use phonenumber::country;

use super::values::one_line;
use super::{
    Field, FieldMapping, Formats, ParseContext, ParsedRow, RowError, RowSource, RowWarning,
    WarningKind,
};
use crate::domain::booking::BookingRecord;

/// Formats compiled once: imports parse a date per row.
#[derive(Debug, Clone)]
pub(super) struct CompiledFormats {
    list: Vec<(String, Vec<Item<'static>>)>,
}

impl CompiledFormats {
    pub(super) fn new(kind: &str, formats: &[String]) -> Result<CompiledFormats, String> {
        if formats.is_empty() {
            return Err(format!("formats.{kind} is empty: give at least one format"));
        }
        let list = formats
            .iter()
            .map(|text| {
                let items = StrftimeItems::new(text).parse_to_owned().map_err(|_| {
                    format!("formats.{kind}: {text:?} is not a valid chrono format")
                })?;
                Ok((text.clone(), items))
            })
            .collect::<Result<_, String>>()?;
        Ok(CompiledFormats { list })
    }

    pub(super) fn parse<T>(&self, text: &str, read: impl Fn(&Parsed) -> Option<T>) -> Option<T> {
        self.list.iter().find_map(|(_, items)| {
            let mut parsed = Parsed::new();
            chrono::format::parse(&mut parsed, text, items.iter()).ok()?;
            read(&parsed)
        })
    }

    /// "in format X" or "in any of the formats X, Y".
    pub(super) fn describe(&self) -> String {
        let names: Vec<&str> = self.list.iter().map(|(text, _)| text.as_str()).collect();
        match names.as_slice() {
            [one] => format!("in format {one}"),
            many => format!("in any of the formats {}", many.join(", ")),
        }
    }
}

/// Turns rows into bookings by one source's mapping and formats.
#[derive(Debug, Clone)]
pub struct RowParser {
    pub(super) fields: FieldMapping,
    pub(super) ctx: ParseContext,
    pub(super) date: CompiledFormats,
    pub(super) time: CompiledFormats,
    pub(super) datetime: CompiledFormats,
    pub(super) default_duration: TimeDelta,
    pub(super) cancelled: Vec<String>,
    pub(super) ignored: Vec<String>,
    pub(super) list_separator: Option<String>,
    pub(super) phone_region: country::Id,
}

impl RowParser {
    /// Checks the formats and prepares them; the error names the config key at fault.
    pub fn new(
        fields: &FieldMapping,
        formats: &Formats,
        ctx: &ParseContext,
    ) -> Result<RowParser, String> {
        if formats.default_duration_minutes == 0 {
            return Err("formats.default_duration_minutes must be at least 1".to_string());
        }
        fields.check()?;
        let lowered = |values: &[String]| -> Vec<String> {
            values.iter().map(|v| v.trim().to_lowercase()).collect()
        };
        Ok(RowParser {
            fields: fields.clone(),
            ctx: ctx.clone(),
            date: CompiledFormats::new("date", &formats.date)?,
            time: CompiledFormats::new("time", &formats.time)?,
            datetime: CompiledFormats::new("datetime", &formats.datetime)?,
            default_duration: TimeDelta::minutes(i64::from(formats.default_duration_minutes)),
            cancelled: lowered(&formats.cancelled_values),
            ignored: lowered(&formats.ignored_values),
            list_separator: formats
                .list_separator
                .clone()
                .filter(|sep| !sep.trim().is_empty() || sep.contains('\t')),
            phone_region: formats.phone_region,
        })
    }

    /// The mapping this parser reads by.
    pub fn fields(&self) -> &FieldMapping {
        &self.fields
    }

    /// Reads one row; `line` is where it starts in the file, for messages.
    pub fn parse(&self, line: u64, row: &impl RowSource) -> Result<ParsedRow, RowError> {
        let cells = Cells {
            parser: self,
            row,
            line,
        };
        let key = cells
            .required(Field::Key, "every booking needs a key")?
            .into_owned();
        self.parse_keyed(&cells, &key, line).map_err(|e| RowError {
            key: Some(key.clone()),
            ..e
        })
    }

    fn parse_keyed(
        &self,
        cells: &Cells<'_, impl RowSource>,
        key: &str,
        line: u64,
    ) -> Result<ParsedRow, RowError> {
        let mut warnings = Vec::new();
        let (starts_at, start_local) = self.start(cells, &mut warnings)?;
        let ends_at = self.end(cells, starts_at, start_local, &mut warnings)?;
        let (email, email_problem) = self.email(cells)?;
        let phones = self.phones(cells)?;
        let record = BookingRecord {
            key: key.to_owned(),
            starts_at,
            ends_at,
            service: self.list(cells, Field::Service)?,
            location: self.list(cells, Field::Location)?,
            name: cells
                .all(Field::Name)?
                .iter()
                .map(|text| one_line(text))
                .collect::<Vec<_>>()
                .join(" "),
            email,
            phone: phones.phone,
            language: self.language(cells, &mut warnings)?,
            status: self.status(cells)?,
            email_problem,
            phone_problem: phones.problem,
            other_phones: phones.others,
        };
        Ok(ParsedRow {
            line,
            record,
            warnings,
        })
    }
}

/// One row's cells, trimmed, with the line and mapping at hand for messages.
pub(super) struct Cells<'a, R> {
    pub(super) parser: &'a RowParser,
    pub(super) row: &'a R,
    pub(super) line: u64,
}

impl<R: RowSource> Cells<'_, R> {
    /// The trimmed text, `None` when unmapped or blank.
    pub(super) fn optional(&self, field: Field) -> Result<Option<Cow<'_, str>>, RowError> {
        let text = self.row.text(field).map_err(|why| self.error(field, why))?;
        Ok(text.map(clean).and_then(|text| {
            let trimmed = text.trim();
            match text {
                _ if trimmed.is_empty() => None,
                Cow::Borrowed(b) => Some(Cow::Borrowed(b.trim())),
                Cow::Owned(_) => Some(Cow::Owned(trimmed.to_string())),
            }
        }))
    }

    /// The trimmed, non-blank texts of every column mapped to `field`, in mapping order.
    pub(super) fn all(&self, field: Field) -> Result<Vec<Cow<'_, str>>, RowError> {
        let count = self.parser.fields.headers(field).len();
        let mut texts = Vec::with_capacity(count);
        for nth in 0..count {
            let text = self
                .row
                .text_nth(field, nth)
                .map_err(|why| self.error(field, why))?;
            if let Some(text) = text.map(clean).filter(|t| !t.trim().is_empty()) {
                texts.push(match text {
                    Cow::Borrowed(text) => Cow::Borrowed(text.trim()),
                    Cow::Owned(text) => Cow::Owned(text.trim().to_string()),
                });
            }
        }
        Ok(texts)
    }

    pub(super) fn required(
        &self,
        field: Field,
        why_needed: &str,
    ) -> Result<Cow<'_, str>, RowError> {
        self.optional(field)?
            .ok_or_else(|| self.error(field, format!("is empty; {why_needed}")))
    }

    pub(super) fn header(&self, field: Field) -> String {
        self.parser
            .fields
            .header(field)
            .unwrap_or_default()
            .to_string()
    }

    pub(super) fn error(&self, field: Field, reason: String) -> RowError {
        RowError {
            line: self.line,
            field: self.header(field),
            target: Some(field),
            reason,
            key: None,
            cell: None,
        }
    }

    pub(super) fn warning(&self, field: Field, kind: WarningKind) -> RowWarning {
        RowWarning {
            line: self.line,
            field: self.header(field),
            target: field,
            kind,
        }
    }
}
