//! The bound of the CSV import (the speed issue): the simplest program that does an import's
//! work. It reads the export with the `csv` crate on a thread of its own, parses each row with
//! absage's own parsers (the start in the tenant's time zone, the email address, the phone
//! number, which libphonenumber's metadata classifies), hashes it as absage does, and writes
//! the bookings into absage's table (its indexes and unique key) through sqlx's own SQLite
//! driver, 500 rows per statement, each bound while the one before is written, in one
//! transaction with the import's page cache (20 MiB), `synchronous = full` and the write-ahead
//! log.
//!
//! It leaves out what an import does beyond that: the source's field mapping and formats,
//! placeholders and text cleaning, rows of one key merged or told apart, the bookings stored
//! before (new, changed, unchanged, removed), the report and its examples, the checks of a cut
//! export. A benchmark, not a test: ignored in the suite; `scripts/bench import` runs it in
//! release next to `absage import` of the same file.

use crate::bench_queue::env_or;
use absage::domain::booking::{BookingRecord, BookingStatus};
use absage::domain::email::EmailAddress;
use absage::domain::phone::Phone;
use chrono::TimeZone;
use sqlx::Connection;

/// A row as written: the record, its content hash and its person.
struct Parsed {
    record: BookingRecord,
    hash: String,
    person: String,
}

/// The bench's export: `key,start,service,location,name,email,phone`, the start in Berlin's
/// local time. `None` for a row that is not a booking.
fn parse(row: &csv::StringRecord) -> Option<Parsed> {
    let local = chrono::NaiveDateTime::parse_from_str(row.get(1)?.trim(), "%Y-%m-%d %H:%M").ok()?;
    let starts_at = chrono_tz::Europe::Berlin
        .from_local_datetime(&local)
        .earliest()?
        .to_utc();
    let text = |i: usize| row.get(i).unwrap_or_default().trim();
    let record = BookingRecord {
        key: text(0).to_owned(),
        starts_at,
        ends_at: starts_at + chrono::TimeDelta::minutes(15),
        service: text(2).to_owned(),
        location: text(3).to_owned(),
        name: text(4).to_owned(),
        email: EmailAddress::parse(text(5)).ok(),
        phone: Phone::parse(text(6), phonenumber::country::Id::DE).ok(),
        language: None,
        status: BookingStatus::Active,
        email_problem: None,
        phone_problem: None,
        other_phones: Vec::new(),
    };
    Some(Parsed {
        hash: record.content_hash(),
        person: record.person(),
        record,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: scripts/bench import (release)"]
async fn csv_import_minimal_rows_per_second() {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    let export: String = env_or("BENCH_IMPORT_CSV", String::new());
    let db: String = env_or("BENCH_IMPORT_DB", String::new());
    assert!(
        !export.is_empty() && !db.is_empty(),
        "BENCH_IMPORT_CSV names the export, BENCH_IMPORT_DB a migrated absage database"
    );
    let options = SqliteConnectOptions::new()
        .filename(&db)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .pragma("cache_size", "-20480");
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();

    let started = std::time::Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Parsed>>(10);
    let reader = std::thread::spawn(move || {
        let mut csv = csv::Reader::from_path(&export).unwrap();
        let (mut chunk, mut refused) = (Vec::with_capacity(500), 0u64);
        for row in csv.records() {
            match parse(&row.unwrap()) {
                Some(parsed) => chunk.push(parsed),
                None => refused += 1,
            }
            if chunk.len() == 500 {
                tx.blocking_send(std::mem::replace(&mut chunk, Vec::with_capacity(500)))
                    .unwrap();
            }
        }
        if !chunk.is_empty() {
            tx.blocking_send(chunk).unwrap();
        }
        refused
    });

    sqlx::raw_sql("begin immediate")
        .execute(&mut conn)
        .await
        .unwrap();
    // Each statement is bound while the database's thread writes the one before.
    let (mut written, mut pending) = (0u64, None);
    loop {
        let current = pending.take();
        let writing = async {
            match current {
                Some(statement) => {
                    let q: sqlx::query::Query<'_, sqlx::Sqlite, _> = statement;
                    q.execute(&mut conn).await.unwrap().rows_affected()
                }
                None => 0,
            }
        };
        let binding = async {
            let rows = rx.recv().await?;
            let values =
                vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; rows.len()];
            let sql = format!(
                "insert into bookings (tenant_id, source, booking_key, starts_at, ends_at, \
                 service, location, name, email, phone_raw, phone_e164, phone_mobile, status, \
                 content_hash, last_import_id, updated_at, email_problem, phone_problem, person) \
                 values {}",
                values.join(", ")
            );
            let now = chrono::Utc::now().timestamp_millis();
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for Parsed {
                record: r,
                hash,
                person,
            } in rows
            {
                let mobile = i64::from(r.phone.as_ref().is_some_and(|p| p.mobile));
                let (raw, e164) = r.phone.map(|p| (p.raw, p.e164)).unzip();
                q = q
                    .bind("soest")
                    .bind("termine")
                    .bind(r.key)
                    .bind(r.starts_at.timestamp_millis())
                    .bind(r.ends_at.timestamp_millis())
                    .bind(r.service)
                    .bind(r.location)
                    .bind(r.name)
                    .bind(r.email.map(|e| e.as_str().to_owned()))
                    .bind(raw)
                    .bind(e164.flatten())
                    .bind(mobile)
                    .bind(r.status.as_str())
                    .bind(hash)
                    .bind(1_i64)
                    .bind(now)
                    .bind(r.email_problem)
                    .bind(r.phone_problem)
                    .bind(person);
            }
            Some(q)
        };
        let (n, next) = tokio::join!(biased; writing, binding);
        written += n;
        match next {
            Some(q) => pending = Some(q),
            None => break,
        }
    }
    sqlx::raw_sql("commit").execute(&mut conn).await.unwrap();
    // Closed, as absage closes its database when it is done: the last checkpoint is counted.
    conn.close().await.unwrap();
    let took = started.elapsed().as_secs_f64();
    let refused = reader.join().unwrap();
    let stored: i64 = {
        let mut conn = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        sqlx::query_scalar("select count(*) from bookings")
            .fetch_one(&mut conn)
            .await
            .unwrap()
    };
    assert_eq!(stored as u64, written, "every row read is stored");
    assert_eq!(refused, 0, "the bench's export has no bad row");
    println!(
        "csv import, minimal: {written} bookings in {took:.3} s = {:.0} rows/s",
        written as f64 / took
    );
}
