//! SQL sources: an exported SQLite database file, or a live PostgreSQL or MySQL/MariaDB
//! database, read with a configured query over a read-only connection. The query's columns are mapped like CSV
//! headers; give them as text (`to_char(…)`, `strftime(…)`, `cast(… as text)`) where the
//! database would return dates or other types — numbers and text are read as they are.
//!
//! ```toml
//! [sources.sql]
//! url = "sqlite:///srv/exports/termine.db"      # or postgres://…, mysql://…, mariadb://…
//! query = "select id, datum, uhrzeit, leistung, name, email, telefon from termine"
//! ```
//!
//! The query runs on the runtime, in a task of its own, and hands its rows over a bounded
//! channel to the import's reading thread, which takes them one at a time like a file's rows
//! ([`SqlRecords`]). A row's position is its number in the result.

use super::mapping::{
    Field, FieldMapping, Formats, ParseContext, ParsedRow, RowError, RowParser, RowSource,
};
use super::read::{Columns, FormatError, ReadReport, ReadRows, Records};
use crate::secret::Secret;
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyConnectOptions;
use sqlx::{Column, ConnectOptions, Connection, Row, ValueRef};
use std::borrow::Cow;
use std::str::FromStr;
use tokio::sync::{mpsc, oneshot};

/// Rows the query may run ahead of the import.
const ROWS_IN_FLIGHT: usize = 1000;

/// `[sources.sql]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SqlOptions {
    /// `sqlite://PATH` (opened read-only), `postgres://…` or `mysql://…`/`mariadb://…` (read-only
    /// sessions). May hold a password, hence a secret; `url_file` reads it from a file.
    pub url: Secret,
    /// The query whose columns are mapped by `[sources.fields]`.
    pub query: String,
}

/// The rows of a source's query, one at a time.
pub type SqlRecords = Records<SqlRows>;

/// Reading a query's rows as the query task hands them over ([`SqlRecords`] hands them out).
pub struct SqlRows {
    rows: mpsc::Receiver<Result<ParsedRow, RowError>>,
    /// How the query ended, until that is known: why it stopped early, if it did.
    ended: Option<oneshot::Receiver<Result<Option<String>, FormatError>>>,
    /// The first row, received while opening.
    first: Option<Result<ParsedRow, RowError>>,
    report: ReadReport,
}

/// Runs the source's query (`name` stands for it in messages) and waits for its first row or
/// its end: a query that fails, or whose columns lack mapped fields, is refused whole. Blocks,
/// so call it on a thread that is not a runtime's worker but has entered the runtime (which
/// runs the query): a blocking thread of the runtime, or the import's reader.
pub fn open(
    name: &str,
    opts: &SqlOptions,
    fields: &FieldMapping,
    formats: &Formats,
    ctx: &ParseContext,
) -> Result<SqlRecords, FormatError> {
    let (row_tx, rows) = mpsc::channel(ROWS_IN_FLIGHT);
    let (end_tx, ended) = oneshot::channel();
    let (name, opts) = (name.to_owned(), opts.clone());
    let (fields, formats, ctx) = (fields.clone(), formats.clone(), ctx.clone());
    tokio::runtime::Handle::current().spawn(async move {
        let _ = end_tx.send(read(&name, &opts, &fields, &formats, &ctx, row_tx).await);
    });
    let mut reader = SqlRows {
        rows,
        ended: Some(ended),
        first: None,
        report: ReadReport::default(),
    };
    reader.first = reader.rows.blocking_recv();
    if reader.first.is_none() {
        reader.end()?;
    }
    Ok(Records::new(reader))
}

impl ReadRows for SqlRows {
    type Report = ReadReport;

    fn read_row(&mut self) -> Option<Result<ParsedRow, RowError>> {
        let Some(row) = self.first.take().or_else(|| self.rows.blocking_recv()) else {
            if let Err(refusal) = self.end() {
                self.report.aborted = Some(refusal.to_string());
            }
            return None;
        };
        self.report.rows += 1;
        Some(self.report.noted(row))
    }

    fn report(&self) -> &ReadReport {
        &self.report
    }
}

impl SqlRows {
    /// Once the rows ran out: how the query ended, a refusal, or why it stopped early (then
    /// reading is aborted).
    fn end(&mut self) -> Result<(), FormatError> {
        let Some(ended) = self.ended.take() else {
            return Ok(());
        };
        match ended.blocking_recv() {
            Ok(Ok(None)) => {}
            Ok(Ok(Some(why))) => self.report.aborted = Some(why),
            Ok(Err(refusal)) => return Err(refusal),
            Err(_) => self.report.aborted = Some("the query stopped unexpectedly".into()),
        }
        Ok(())
    }
}

/// One result row, as text by column.
struct SqlRow<'a> {
    values: &'a [Option<String>],
    columns: &'a Columns,
}

impl RowSource for SqlRow<'_> {
    fn text(&self, field: Field) -> Result<Option<Cow<'_, str>>, String> {
        self.text_nth(field, 0)
    }

    fn text_nth(&self, field: Field, nth: usize) -> Result<Option<Cow<'_, str>>, String> {
        let Some(index) = self.columns.nth(field, nth) else {
            return Ok(None);
        };
        Ok(Some(Cow::Borrowed(
            self.values
                .get(index)
                .and_then(|v| v.as_deref())
                .unwrap_or(""),
        )))
    }
}

/// A value of any column as text; `None` for NULL.
fn text_of(row: &sqlx::any::AnyRow, i: usize) -> Result<Option<String>, String> {
    let raw = row.try_get_raw(i).map_err(|e| e.to_string())?;
    if raw.is_null() {
        return Ok(None);
    }
    if let Ok(s) = row.try_get::<String, _>(i) {
        return Ok(Some(s));
    }
    if let Ok(n) = row.try_get::<i64, _>(i) {
        return Ok(Some(n.to_string()));
    }
    if let Ok(f) = row.try_get::<f64, _>(i) {
        return Ok(Some(f.to_string()));
    }
    Err(format!(
        "column {:?} has a type absage cannot read; cast it to text in the query",
        row.columns()[i].name()
    ))
}

/// Runs the query and sends each row, parsed, to `rows` (stopping when nobody listens). Returns
/// why reading stopped early, if it did. A query that fails, or whose columns lack mapped
/// fields, is refused as a whole.
async fn read(
    name: &str,
    opts: &SqlOptions,
    fields: &FieldMapping,
    formats: &Formats,
    ctx: &ParseContext,
    rows: mpsc::Sender<Result<ParsedRow, RowError>>,
) -> Result<Option<String>, FormatError> {
    let config = |reason: String| FormatError::Config {
        file: name.to_owned(),
        reason,
    };
    let parser = RowParser::new(fields, formats, ctx).map_err(config)?;
    sqlx::any::install_default_drivers();
    let url = read_only_url(opts.url.expose());
    let options = AnyConnectOptions::from_str(&url)
        .map_err(|e| config(format!("sql.url is not valid: {e}")))?;
    let mut conn = options.connect().await.map_err(|e| {
        config(format!(
            "cannot connect: {}",
            crate::dispatch::outcome::mask_personal_data(&e.to_string())
        ))
    })?;
    let read_only = match conn.backend_name() {
        "PostgreSQL" => Some("set session characteristics as transaction read only"),
        "MySQL" => Some("set session transaction read only"),
        _ => None, // SQLite: opened with mode=ro
    };
    if let Some(statement) = read_only {
        sqlx::query(statement)
            .execute(&mut conn)
            .await
            .map_err(|e| config(format!("cannot make the session read-only: {e}")))?;
    }
    let mut tx = conn.begin().await.map_err(|e| config(e.to_string()))?;
    let mut results = sqlx::query(sqlx::AssertSqlSafe(opts.query.clone())).fetch(&mut *tx);
    let mut columns: Option<Columns> = None;
    let mut number = 0u64;
    loop {
        let row = match results.try_next().await {
            Ok(Some(row)) => row,
            Ok(None) => return Ok(None),
            Err(e) if number == 0 => return Err(config(format!("the query failed: {e}"))),
            Err(e) => return Ok(Some(format!("reading stopped after row {number}: {e}"))),
        };
        number += 1;
        let columns = match &columns {
            Some(c) => c,
            None => {
                let names: Vec<String> =
                    row.columns().iter().map(|c| c.name().to_owned()).collect();
                let resolved = Columns::resolve(fields, &names).map_err(|missing| {
                    let hint = "the query's column names are matched like CSV headers";
                    let columns = names.len();
                    FormatError::missing_columns(
                        name,
                        fields,
                        missing,
                        names.clone(),
                        columns,
                        Some(hint.into()),
                    )
                })?;
                columns.insert(resolved)
            }
        };
        let values: Result<Vec<Option<String>>, String> =
            (0..row.columns().len()).map(|i| text_of(&row, i)).collect();
        let item = match values {
            Ok(values) => parser.parse(
                number,
                &SqlRow {
                    values: &values,
                    columns,
                },
            ),
            Err(reason) => Err(RowError::whole(number, reason)),
        };
        if rows.send(item).await.is_err() {
            return Ok(None);
        }
    }
}

/// SQLite files are opened read-only, so a mistaken configuration can never change an export.
fn read_only_url(url: &str) -> String {
    if !url.starts_with("sqlite:") || url.contains("mode=") {
        return url.to_owned();
    }
    if url.contains('?') {
        format!("{url}&mode=ro")
    } else {
        format!("{url}?mode=ro")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_exports_are_opened_read_only() {
        assert_eq!(
            read_only_url("sqlite:///x/t.db"),
            "sqlite:///x/t.db?mode=ro"
        );
        assert_eq!(
            read_only_url("sqlite:///x/t.db?cache=shared"),
            "sqlite:///x/t.db?cache=shared&mode=ro"
        );
        assert_eq!(read_only_url("postgres://r@h/db"), "postgres://r@h/db");
    }
}
