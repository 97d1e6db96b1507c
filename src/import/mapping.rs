//! The field mapping of a source, and turning one exported row into a [`BookingRecord`].
//!
//! Every source kind (CSV now, others later) finds the text of each mapped column its own
//! way and hands it over through [`RowSource`]; the rules for reading dates, times,
//! durations, addresses, numbers, languages and statuses live here once.
//!
//! Rules, in short: a row is rejected only when no booking can be made of it: no key, a date
//! or time that does not parse, an end that is not after its start. Everything else costs at
//! most a channel, never the booking: an unusable email address or phone number is a *contact
//! problem* of that field (the booking is imported without that channel, the problem is kept
//! with it and counted, and a booking left with no channel goes on the call list with the
//! reason). An unknown language is only a warning: messages use the tenant's default.
//! A field may read several columns (`name = ["Vorname", "Nachname"]`, `phone = ["Mobil",
//! "Telefon"]`): names are joined, the first mobile number gets the SMS and the other numbers
//! stay for the call list, the first usable email address is taken; services and locations may
//! hold several values (several columns, or one split at `formats.list_separator`).
//! Errors never repeat the value of a personal-data field (name, email, phone).

use std::borrow::Cow;
use std::fmt;

use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc};
use chrono_tz::Tz;
use phonenumber::country;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::domain::booking::{BookingRecord, BookingStatus, LIST_SEPARATOR};
use crate::domain::email::EmailAddress;
use crate::domain::language::Language;
use crate::domain::localtime::{LocalResolution, resolve_local_detailed};
use crate::domain::phone::Phone;

/// Header names in the export for each booking field (`[sources.fields]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldMapping {
    pub key: String,
    /// A date, or a full date-time when `time` is not mapped.
    pub date: String,
    #[serde(default)]
    pub time: Option<String>,
    /// End time (time only: same day as the start) or end date-time.
    #[serde(default)]
    pub end: Option<String>,
    /// Length in minutes, used when there is no end.
    #[serde(default)]
    pub duration: Option<String>,
    pub service: Headers,
    #[serde(default)]
    pub location: Option<Headers>,
    pub name: Headers,
    #[serde(default)]
    pub email: Option<Headers>,
    #[serde(default)]
    pub phone: Option<Headers>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
}

impl Default for FieldMapping {
    /// Only the required fields, under their English names.
    fn default() -> Self {
        FieldMapping {
            key: "key".into(),
            date: "date".into(),
            time: None,
            end: None,
            duration: None,
            service: "service".into(),
            location: None,
            name: "name".into(),
            email: None,
            phone: None,
            language: None,
            status: None,
        }
    }
}

impl FieldMapping {
    /// The (first) header mapped to `field`, if any.
    pub fn header(&self, field: Field) -> Option<&str> {
        self.headers(field).first().map(String::as_str)
    }

    /// Every header mapped to `field`, in the order given; empty when it is not mapped.
    pub fn headers(&self, field: Field) -> &[String] {
        fn one(h: &Option<String>) -> &[String] {
            h.as_ref().map_or(&[][..], std::slice::from_ref)
        }
        fn many(h: &Option<Headers>) -> &[String] {
            h.as_ref().map_or(&[][..], Headers::list)
        }
        match field {
            Field::Key => std::slice::from_ref(&self.key),
            Field::Date => std::slice::from_ref(&self.date),
            Field::Time => one(&self.time),
            Field::End => one(&self.end),
            Field::Duration => one(&self.duration),
            Field::Service => self.service.list(),
            Field::Location => many(&self.location),
            Field::Name => self.name.list(),
            Field::Email => many(&self.email),
            Field::Phone => many(&self.phone),
            Field::Language => one(&self.language),
            Field::Status => one(&self.status),
        }
    }

    /// Refuses a field mapped to an empty list of columns; the error names the config key.
    pub fn check(&self) -> Result<(), String> {
        match Field::ALL
            .into_iter()
            .find(|f| self.headers(*f).iter().any(|h| h.trim().is_empty()))
        {
            Some(field) => Err(format!("fields.{}: a column name is empty", field.as_str())),
            None => match [Field::Service, Field::Name]
                .into_iter()
                .find(|f| self.headers(*f).is_empty())
            {
                Some(field) => Err(format!(
                    "fields.{}: give at least one column",
                    field.as_str()
                )),
                None => Ok(()),
            },
        }
    }
}

/// The columns of a field: one (`name = "Name"`) or several read together
/// (`name = ["Vorname", "Nachname"]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Headers {
    One(String),
    Many(Vec<String>),
}

impl Headers {
    pub fn list(&self) -> &[String] {
        match self {
            Headers::One(one) => std::slice::from_ref(one),
            Headers::Many(many) => many,
        }
    }
}

impl From<&str> for Headers {
    fn from(header: &str) -> Self {
        Headers::One(header.to_string())
    }
}

impl From<String> for Headers {
    fn from(header: String) -> Self {
        Headers::One(header)
    }
}

impl<const N: usize> From<[&str; N]> for Headers {
    fn from(headers: [&str; N]) -> Self {
        Headers::Many(headers.iter().map(|h| h.to_string()).collect())
    }
}

/// How values are written in the export (`[sources.formats]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Formats {
    /// chrono formats for dates, tried in order.
    pub date: Vec<String>,
    pub time: Vec<String>,
    /// Formats for a date-time in one column; RFC 3339 with an offset is always accepted too.
    pub datetime: Vec<String>,
    /// Length of a booking without an end or duration.
    pub default_duration_minutes: u32,
    /// Status values meaning "cancelled" (compared case-insensitively); anything else is active.
    pub cancelled_values: Vec<String>,
    /// Status values of rows that are not appointments a citizen relies on (drafts, blocked
    /// slots): imported like cancelled bookings, never notified, counted as ignored.
    pub ignored_values: Vec<String>,
    /// Splits one service or location cell into several values (`","` for `A, B`).
    pub list_separator: Option<String>,
    /// Country whose numbering plan national phone numbers belong to.
    #[serde(serialize_with = "region_to_str", deserialize_with = "region_from_str")]
    pub phone_region: country::Id,
}

impl Default for Formats {
    fn default() -> Self {
        let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        Formats {
            // Two-digit years first: the other way round chrono reads "08.01.30" as the year 30.
            date: strings(&["%d.%m.%y", "%d.%m.%Y", "%Y-%m-%d"]),
            time: strings(&["%H:%M", "%H:%M:%S"]),
            datetime: strings(&["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%d.%m.%Y %H:%M"]),
            default_duration_minutes: 15,
            cancelled_values: strings(&["storniert", "abgesagt", "cancelled", "canceled"]),
            ignored_values: Vec::new(),
            list_separator: None,
            phone_region: country::Id::DE,
        }
    }
}

fn region_to_str<S: Serializer>(id: &country::Id, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(id.as_ref())
}

fn region_from_str<'de, D: Deserializer<'de>>(deserializer: D) -> Result<country::Id, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.trim().to_ascii_uppercase().parse().map_err(|_| {
        serde::de::Error::custom(format!(
            "{text:?} is not a two-letter country code like \"DE\""
        ))
    })
}

/// What the export does not say but reading it needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseContext {
    /// The tenant's zone, in which the export's local times are read.
    pub tz: Tz,
    /// Language for rows whose language cell is empty or absent; `None` leaves them without.
    pub default_language: Option<Language>,
}

/// The booking fields a column can be mapped to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Key,
    Date,
    Time,
    End,
    Duration,
    Service,
    Location,
    Name,
    Email,
    Phone,
    Language,
    Status,
}

impl Field {
    pub const ALL: [Field; 12] = [
        Field::Key,
        Field::Date,
        Field::Time,
        Field::End,
        Field::Duration,
        Field::Service,
        Field::Location,
        Field::Name,
        Field::Email,
        Field::Phone,
        Field::Language,
        Field::Status,
    ];

    /// The name used in config and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Key => "key",
            Field::Date => "date",
            Field::Time => "time",
            Field::End => "end",
            Field::Duration => "duration",
            Field::Service => "service",
            Field::Location => "location",
            Field::Name => "name",
            Field::Email => "email",
            Field::Phone => "phone",
            Field::Language => "language",
            Field::Status => "status",
        }
    }
}

/// One rejected row: where, which column, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// Physical line in the file where the row starts (the header is line 1).
    pub line: u64,
    /// The column's header in the export; empty when the whole row is at fault.
    pub field: String,
    /// The booking field of that column; `None` when the whole row is at fault.
    pub target: Option<Field>,
    pub reason: String,
    /// The row's booking key when it could be read: a booking whose row is broken this time
    /// is kept as it was, not taken for removed.
    pub key: Option<String>,
    /// In a spreadsheet, the cell at fault as `Sheet!C17` (`line` is then the row number).
    pub cell: Option<String>,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.target {
            Some(target) => write!(
                f,
                "line {}, field {:?} ({}): {}",
                self.line,
                self.field,
                target.as_str(),
                self.reason
            ),
            None => write!(f, "line {}: {}", self.line, self.reason),
        }
    }
}

impl std::error::Error for RowError {}

/// Something in an imported row worth telling the operator; the row itself was imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowWarning {
    pub line: u64,
    pub field: String,
    pub target: Field,
    pub kind: WarningKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WarningKind {
    /// The language was not recognised; the booking has no language.
    UnknownLanguage { reason: String },
    /// The local time exists twice (clocks went back); the earlier instant was taken.
    RepeatedLocalTime,
    /// The local time does not exist (clocks went forward); it was moved forward by the gap.
    SkippedLocalTime,
    /// The end or duration could not be used; the default duration was taken.
    EndGuessed { reason: String },
}

impl fmt::Display for RowWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.kind {
            WarningKind::UnknownLanguage { reason } => {
                format!("{reason}; imported without a language")
            }
            WarningKind::RepeatedLocalTime => {
                "the time exists twice (clocks go back); the earlier one was taken".to_string()
            }
            WarningKind::SkippedLocalTime => {
                "the time does not exist (clocks go forward); moved forward by the gap".to_string()
            }
            WarningKind::EndGuessed { reason } => reason.clone(),
        };
        let (line, field, target) = (self.line, &self.field, self.target.as_str());
        write!(f, "line {line}, field {field:?} ({target}): {what}")
    }
}

/// A row's values as the source kind found them.
pub trait RowSource {
    /// The text of the (first) column mapped to `field`; `Ok(None)` if the field is not mapped.
    /// `Err` carries a reason when the cell cannot be read as text (bad encoding).
    fn text(&self, field: Field) -> Result<Option<Cow<'_, str>>, String>;

    /// The text of the `nth` column mapped to `field` (0 is the first), for fields mapped to
    /// several columns. Sources that map one column per field keep this default.
    fn text_nth(&self, field: Field, nth: usize) -> Result<Option<Cow<'_, str>>, String> {
        if nth == 0 { self.text(field) } else { Ok(None) }
    }
}

/// A row that became a booking, with anything unusual noticed on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedRow {
    /// Physical line in the file where the row starts.
    pub line: u64,
    pub record: BookingRecord,
    pub warnings: Vec<RowWarning>,
}

/// Formats compiled once: imports parse a date per row.
#[derive(Debug, Clone)]
struct CompiledFormats {
    list: Vec<(String, Vec<Item<'static>>)>,
}

impl CompiledFormats {
    fn new(kind: &str, formats: &[String]) -> Result<CompiledFormats, String> {
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

    fn parse<T>(&self, text: &str, read: impl Fn(&Parsed) -> Option<T>) -> Option<T> {
        self.list.iter().find_map(|(_, items)| {
            let mut parsed = Parsed::new();
            chrono::format::parse(&mut parsed, text, items.iter()).ok()?;
            read(&parsed)
        })
    }

    /// "in format X" or "in any of the formats X, Y".
    fn describe(&self) -> String {
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
    fields: FieldMapping,
    ctx: ParseContext,
    date: CompiledFormats,
    time: CompiledFormats,
    datetime: CompiledFormats,
    default_duration: TimeDelta,
    cancelled: Vec<String>,
    ignored: Vec<String>,
    list_separator: Option<String>,
    phone_region: country::Id,
}

/// A start or end as written: a local wall-clock time, or an instant with its own offset.
enum Written {
    Local(NaiveDateTime),
    Instant(DateTime<Utc>),
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

    fn start(
        &self,
        cells: &Cells<'_, impl RowSource>,
        warnings: &mut Vec<RowWarning>,
    ) -> Result<(DateTime<Utc>, NaiveDateTime), RowError> {
        let date_text = cells.required(Field::Date, "every booking needs a date")?;
        let written = if self.fields.time.is_some() {
            let date = self.date(cells, Field::Date, &date_text)?;
            let time_text = cells.required(Field::Time, "the time is missing")?;
            let time = self.time(cells, Field::Time, &time_text)?;
            Written::Local(date.and_time(time))
        } else {
            self.datetime(cells, Field::Date, &date_text)?
        };
        let at = self.instant(cells, Field::Date, written, warnings);
        Ok((at, at.with_timezone(&self.ctx.tz).naive_local()))
    }

    /// The end: an end column (a time on the start's day, or a date-time), else a duration
    /// column, else the default duration. An end that cannot be read, or does not come after
    /// the start, costs the booking only its length: the citizen relies on the start, so the
    /// default duration is taken and a warning names the cell.
    fn end(
        &self,
        cells: &Cells<'_, impl RowSource>,
        starts_at: DateTime<Utc>,
        start_local: NaiveDateTime,
        warnings: &mut Vec<RowWarning>,
    ) -> Result<DateTime<Utc>, RowError> {
        let default_end = || {
            // A start at the edge of time (a year like +262142 that `%Y` accepts) has no end.
            starts_at
                .checked_add_signed(self.default_duration)
                .ok_or_else(|| {
                    cells.error(
                        Field::Date,
                        "the start lies too far in the future to have an end".to_owned(),
                    )
                })
        };
        // A cell that cannot be read as text at all (a date in a spreadsheet's duration
        // column) is a problem with the end too, not with the booking.
        let read = |field| cells.optional(field).map_err(|e| e.reason);
        let (written, field) = match (read(Field::End), read(Field::Duration)) {
            (Err(reason), _) => (Err(reason), Field::End),
            (Ok(Some(text)), _) => (
                self.written_end(cells, &text, start_local, warnings),
                Field::End,
            ),
            (Ok(None), Err(reason)) => (Err(reason), Field::Duration),
            (Ok(None), Ok(Some(text))) => {
                let end = parse_minutes(&text)
                    .ok_or_else(|| format!("{} is not a number of minutes", quoted(&text)))
                    .and_then(|minutes| {
                        TimeDelta::try_minutes(minutes)
                            .and_then(|d| starts_at.checked_add_signed(d))
                            .ok_or_else(|| {
                                format!(
                                    "{} minutes after the start is past any date",
                                    quoted(&text)
                                )
                            })
                    });
                (end, Field::Duration)
            }
            (Ok(None), Ok(None)) => return default_end(),
        };
        let tz = self.ctx.tz;
        let show = |at: DateTime<Utc>| at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string();
        let problem = match written {
            Ok(ends_at) if ends_at > starts_at => return Ok(ends_at),
            Ok(ends_at) => format!(
                "the end {} is not after the start {}",
                show(ends_at),
                show(starts_at)
            ),
            Err(reason) => reason,
        };
        let minutes = self.default_duration.num_minutes();
        warnings.push(cells.warning(
            field,
            WarningKind::EndGuessed {
                reason: format!("{problem}; imported with the default length of {minutes} minutes"),
            },
        ));
        default_end()
    }

    /// An end cell: a time on the start's day, or a date-time.
    fn written_end(
        &self,
        cells: &Cells<'_, impl RowSource>,
        text: &str,
        start_local: NaiveDateTime,
        warnings: &mut Vec<RowWarning>,
    ) -> Result<DateTime<Utc>, String> {
        let written = match self.read_time(text) {
            Some(time) => Written::Local(start_local.date().and_time(time)),
            None => self.datetime(cells, Field::End, text).map_err(|_| {
                let (time, datetime) = (self.time.describe(), self.datetime.describe());
                format!(
                    "{} is not a time {time} nor a date-time {datetime}",
                    quoted(text)
                )
            })?,
        };
        Ok(self.instant(cells, Field::End, written, warnings))
    }

    fn date(
        &self,
        cells: &Cells<'_, impl RowSource>,
        field: Field,
        text: &str,
    ) -> Result<NaiveDate, RowError> {
        let read = |text: &str| self.date.parse(text, |p| p.to_naive_date().ok());
        read(text)
            .or_else(|| date_part(text).and_then(read))
            .ok_or_else(|| {
                cells.error(
                    field,
                    format!("{} is not a date {}", quoted(text), self.date.describe()),
                )
            })
    }

    /// A time in the configured formats, or as offices also write it (see [`time_text`]).
    fn read_time(&self, text: &str) -> Option<NaiveTime> {
        let read = |text: &str| self.time.parse(text, |p| p.to_naive_time().ok());
        read(text).or_else(|| time_text(text).and_then(|t| read(&t)))
    }

    fn time(
        &self,
        cells: &Cells<'_, impl RowSource>,
        field: Field,
        text: &str,
    ) -> Result<NaiveTime, RowError> {
        self.read_time(text).ok_or_else(|| {
            cells.error(
                field,
                format!("{} is not a time {}", quoted(text), self.time.describe()),
            )
        })
    }

    fn datetime(
        &self,
        cells: &Cells<'_, impl RowSource>,
        field: Field,
        text: &str,
    ) -> Result<Written, RowError> {
        if let Ok(at) = DateTime::parse_from_rfc3339(text) {
            return Ok(Written::Instant(at.with_timezone(&Utc)));
        }
        let local = self
            .datetime
            .parse(text, |p| p.to_naive_datetime_with_offset(0).ok());
        local.map(Written::Local).ok_or_else(|| {
            let formats = self.datetime.describe();
            cells.error(
                field,
                format!("{} is not a date-time {formats} or RFC 3339", quoted(text)),
            )
        })
    }

    fn instant(
        &self,
        cells: &Cells<'_, impl RowSource>,
        field: Field,
        written: Written,
        warnings: &mut Vec<RowWarning>,
    ) -> DateTime<Utc> {
        let local = match written {
            Written::Instant(at) => return at,
            Written::Local(local) => local,
        };
        let (at, how) = resolve_local_detailed(self.ctx.tz, local);
        let kind = match how {
            LocalResolution::Exact => return at,
            LocalResolution::Ambiguous => WarningKind::RepeatedLocalTime,
            LocalResolution::Shifted => WarningKind::SkippedLocalTime,
        };
        // The time column, when there is one, is where the odd time was written.
        let field = match (field, self.fields.time.is_some()) {
            (Field::Date, true) => Field::Time,
            _ => field,
        };
        warnings.push(cells.warning(field, kind));
        at
    }

    /// The first usable address among the email columns; when there is none but some column
    /// held text, the reason (for the call list) instead.
    fn email(
        &self,
        cells: &Cells<'_, impl RowSource>,
    ) -> Result<(Option<EmailAddress>, Option<String>), RowError> {
        let mut problem = None;
        for text in cells.all(Field::Email)? {
            if is_placeholder(&text) {
                continue;
            }
            match EmailAddress::parse(&text) {
                Ok(address) => return Ok((Some(address), None)),
                Err(why) => {
                    problem.get_or_insert(format!("email address unusable: it {why}"));
                }
            }
        }
        Ok((None, problem))
    }

    /// The numbers of the phone columns: the first mobile gets the SMS, every other number is
    /// kept as typed for the call list. A cell may hold two numbers or a note (`0171 123456
    /// (abends)`); text that is no number at all is kept too, so staff can read it.
    fn phones(&self, cells: &Cells<'_, impl RowSource>) -> Result<Phones, RowError> {
        let mut valid: Vec<Phone> = Vec::new();
        let mut unusable: Vec<(String, String)> = Vec::new();
        for text in cells.all(Field::Phone)? {
            let text = one_line(&text);
            if is_placeholder(&text) {
                continue;
            }
            match crate::domain::phone::parse_cell(&text, self.phone_region) {
                Ok(found) => valid.extend(found),
                Err(why) => unusable.push((text, why)),
            }
        }
        let mobile = valid.iter().position(|p| p.mobile);
        let chosen = mobile.or((!valid.is_empty()).then_some(0));
        let phone = chosen.map(|i| valid.remove(i));
        let mut others: Vec<String> = valid.into_iter().map(|p| p.raw).collect();
        others.extend(unusable.iter().map(|(text, _)| text.clone()));
        others.dedup();
        let problem = match (&phone, unusable.first()) {
            (Some(p), _) if p.mobile => None,
            (_, Some((_, why))) => Some(format!("phone number unusable: it {why}")),
            _ => None,
        };
        Ok(Phones {
            phone,
            problem,
            others,
        })
    }

    /// A field that may hold several values: each mapped column, split at the separator.
    fn list(&self, cells: &Cells<'_, impl RowSource>, field: Field) -> Result<String, RowError> {
        let mut items: Vec<String> = Vec::new();
        for text in cells.all(field)? {
            let text = one_line(&text);
            let parts: Vec<&str> = match &self.list_separator {
                Some(sep) => text.split(sep.as_str()).collect(),
                None => vec![text.as_str()],
            };
            for part in parts {
                let part = part.trim();
                if !part.is_empty() && !items.iter().any(|i| i == part) {
                    items.push(part.to_string());
                }
            }
        }
        Ok(items.join(&LIST_SEPARATOR.to_string()))
    }

    fn language(
        &self,
        cells: &Cells<'_, impl RowSource>,
        warnings: &mut Vec<RowWarning>,
    ) -> Result<Option<Language>, RowError> {
        let Some(text) = cells.optional(Field::Language)? else {
            return Ok(self.ctx.default_language.clone());
        };
        match Language::parse(&text) {
            Ok(language) => Ok(Some(language)),
            Err(reason) => {
                warnings
                    .push(cells.warning(Field::Language, WarningKind::UnknownLanguage { reason }));
                Ok(None)
            }
        }
    }

    fn status(&self, cells: &Cells<'_, impl RowSource>) -> Result<BookingStatus, RowError> {
        let Some(text) = cells.optional(Field::Status)? else {
            return Ok(BookingStatus::Active);
        };
        let text = text.to_lowercase();
        Ok(if self.cancelled.contains(&text) {
            BookingStatus::Cancelled
        } else if self.ignored.contains(&text) {
            BookingStatus::Ignored
        } else {
            BookingStatus::Active
        })
    }
}

/// What the phone columns of a row gave.
struct Phones {
    phone: Option<Phone>,
    problem: Option<String>,
    others: Vec<String>,
}

/// What offices type into a contact field when there is nothing to type.
fn is_placeholder(text: &str) -> bool {
    const NOTHING: [&str; 11] = [
        "",
        "na",
        "ka",
        "keine",
        "kein",
        "keineangabe",
        "unbekannt",
        "none",
        "null",
        "0",
        "nichtvorhanden",
    ];
    let squeezed: String = text
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '/' | '-' | '_' | '\u{a0}'))
        .flat_map(char::to_lowercase)
        .collect();
    NOTHING.contains(&squeezed.as_str())
}

/// A value on one line: line breaks and tabs inside a cell become spaces, so they can neither
/// split a value that is stored as a list nor reach a header of a message.
fn one_line(text: &str) -> String {
    if text.contains(['\r', '\n', '\t']) {
        text.split(['\r', '\n', '\t'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        text.trim().to_string()
    }
}

/// One row's cells, trimmed, with the line and mapping at hand for messages.
struct Cells<'a, R> {
    parser: &'a RowParser,
    row: &'a R,
    line: u64,
}

impl<R: RowSource> Cells<'_, R> {
    /// The trimmed text, `None` when unmapped or blank.
    fn optional(&self, field: Field) -> Result<Option<Cow<'_, str>>, RowError> {
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
    fn all(&self, field: Field) -> Result<Vec<String>, RowError> {
        let count = self.parser.fields.headers(field).len();
        let mut texts = Vec::new();
        for nth in 0..count {
            let text = self
                .row
                .text_nth(field, nth)
                .map_err(|why| self.error(field, why))?;
            if let Some(text) = text.map(clean).filter(|t| !t.trim().is_empty()) {
                texts.push(text.trim().to_string());
            }
        }
        Ok(texts)
    }

    fn required(&self, field: Field, why_needed: &str) -> Result<Cow<'_, str>, RowError> {
        self.optional(field)?
            .ok_or_else(|| self.error(field, format!("is empty; {why_needed}")))
    }

    fn header(&self, field: Field) -> String {
        self.parser
            .fields
            .header(field)
            .unwrap_or_default()
            .to_string()
    }

    fn error(&self, field: Field, reason: String) -> RowError {
        RowError {
            line: self.line,
            field: self.header(field),
            target: Some(field),
            reason,
            key: None,
            cell: None,
        }
    }

    fn warning(&self, field: Field, kind: WarningKind) -> RowWarning {
        RowWarning {
            line: self.line,
            field: self.header(field),
            target: field,
            kind,
        }
    }
}

/// A cell without the characters no one typed and no database should store: control
/// characters other than tab and line breaks (PostgreSQL refuses NUL in text), a byte order
/// mark or zero-width space in the middle of an export.
fn clean(text: Cow<'_, str>) -> Cow<'_, str> {
    let junk = |c: char| {
        (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{feff}' || c == '\u{200b}'
    };
    if text.contains(junk) {
        Cow::Owned(text.replace(junk, ""))
    } else {
        text
    }
}

/// The date of a cell that holds more than the date, as spreadsheets and people write it: with
/// a time after it (`07.01.2030 00:00:00`, a spreadsheet's date cell) or a weekday before it
/// (`Mo, 07.01.2030`). `None` when there is nothing to take off.
fn date_part(text: &str) -> Option<&str> {
    let whole = text.trim();
    let mut date = whole;
    if let Some((day, rest)) = date.split_once(',')
        && !day.trim().is_empty()
        && day.trim().chars().all(char::is_alphabetic)
    {
        date = rest.trim();
    }
    if let Some((day, time)) = date.split_once([' ', 'T'])
        && time.trim_start().starts_with(|c: char| c.is_ascii_digit())
        && time.contains(':')
    {
        date = day;
    }
    (date != whole).then_some(date)
}

/// A time as offices write it besides `HH:MM`: `9.00`, `9,00`, `9 Uhr`, `09:00 Uhr`, `0900`,
/// `9`, or after a date (`1899-12-30 09:00:00`: a spreadsheet's time cell exported as a
/// date-time). `None` when it reads no differently.
fn time_text(text: &str) -> Option<String> {
    let whole = text.trim();
    let mut time = whole.to_lowercase();
    if let Some(rest) = time.strip_suffix("uhr").or_else(|| time.strip_suffix('h')) {
        time = rest.trim().to_owned();
    }
    if let Some((_, after)) = time.rsplit_once([' ', 'T', 't'])
        && after.contains(':')
    {
        time = after.to_owned();
    }
    if !time.contains(':') && time.matches(['.', ',']).count() == 1 && time.len() <= 5 {
        time = time.replace(['.', ','], ":");
    }
    if time.bytes().all(|b| b.is_ascii_digit()) {
        time = match time.len() {
            1 | 2 => format!("{time}:00"),
            3 | 4 => format!("{}:{}", &time[..time.len() - 2], &time[time.len() - 2..]),
            _ => return None,
        };
    }
    (time != whole).then_some(time)
}

/// A value for a message, cut short so a misplaced long text cannot flood a report.
fn quoted(text: &str) -> String {
    const MAX: usize = 40;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}

/// Minutes as exports write them: `15`, `15 min`, `15 Minuten`.
fn parse_minutes(text: &str) -> Option<i64> {
    let digits = text
        .trim_end_matches(|c: char| c.is_alphabetic() || c == '.')
        .trim();
    digits.parse::<u32>().ok().map(i64::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
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
        let typo =
            toml::from_str::<FieldMapping>("key='k'\ndate='d'\nservice='s'\nname='n'\nmail='m'");
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
}
