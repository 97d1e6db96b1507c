//! All SQL lives here. One store API over SQLite (the embedded default) and PostgreSQL, through
//! sqlx's `Any` driver: instants are integer milliseconds, placeholders are `$n` (both dialects
//! accept them), and the few statements that must differ ask [`Backend`].
//!
//! Functions take an executor (`&mut AnyConnection`, usually a transaction) so that callers
//! compose transactions; none of them does network I/O other than the database.

pub mod accounts;
pub mod alert_runs;
pub mod approvals;
pub mod audit;
pub mod bookings;
pub mod calls;
pub mod destinations;
pub mod imports;
pub mod leases;
pub mod notifications;
pub mod outages;
pub mod queue_admin;
pub mod rate_budget;
pub mod retention;
pub mod returned;
pub mod sessions;

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, SqlSafeStr, Transaction};
use std::str::FromStr;
use std::time::Duration;

pub type Tx = Transaction<'static, sqlx::Any>;
pub type Conn = sqlx::AnyConnection;

/// Which SQL dialect is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// An instant as the database keeps it: milliseconds since the Unix epoch (an integer column),
/// so that SQLite and PostgreSQL store and compare it alike. Rows read it as `DateTime<Utc>`
/// (`#[sqlx(try_from = "Millis")]`); statements bind [`Millis::of`].
#[derive(Debug, Clone, Copy, sqlx::Type)]
#[sqlx(transparent)]
pub struct Millis(i64);

impl Millis {
    pub fn of(t: DateTime<Utc>) -> i64 {
        t.timestamp_millis()
    }
}

impl From<Millis> for DateTime<Utc> {
    fn from(m: Millis) -> Self {
        crate::domain::from_millis(m.0)
    }
}

/// [`Millis`] that may be absent (a nullable column).
#[derive(Debug, Clone, Copy, sqlx::Type)]
#[sqlx(transparent)]
pub struct MaybeMillis(Option<i64>);

impl From<MaybeMillis> for Option<DateTime<Utc>> {
    fn from(m: MaybeMillis) -> Self {
        m.0.map(crate::domain::from_millis)
    }
}

/// The database handle shared by every part of the process.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Opens the database named by `url`: `sqlite://PATH` (the file and its folder are created
    /// if needed) or `postgres://…`. SQLite runs in WAL mode with `synchronous=FULL`: a
    /// committed notification survives a power cut, which is the point of the outbox.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Store> {
        Self::open(url, max_connections, Access::ReadWrite).await
    }

    /// Opens the database only to read it (`status`, `report`, …): SQLite read-only, nothing
    /// created, rights left alone, so that a copy of the database, a read-only file or a
    /// read-only mount can be inspected.
    pub async fn connect_read_only(url: &str, max_connections: u32) -> anyhow::Result<Store> {
        Self::open(url, max_connections, Access::ReadOnly).await
    }

    async fn open(url: &str, max_connections: u32, access: Access) -> anyhow::Result<Store> {
        sqlx::any::install_default_drivers();
        let (backend, url) = if url.starts_with("sqlite:") {
            let url = match access {
                Access::ReadWrite => sqlite_url_with_create(url)?,
                Access::ReadOnly => sqlite_url_read_only(url)?,
            };
            (Backend::Sqlite, url)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            (Backend::Postgres, url.to_owned())
        } else {
            anyhow::bail!(
                "database.url: unsupported scheme (use sqlite://PATH or postgres://…): {}",
                redact_url(url)
            );
        };
        let options = AnyConnectOptions::from_str(&url)
            .with_context(|| format!("database.url {} is not valid", redact_url(&url)))?;
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite && access == Access::ReadWrite {
                        use sqlx::Executor;
                        conn.execute(sqlx::AssertSqlSafe(format!(
                            "pragma journal_mode = wal; pragma synchronous = full; \
                             pragma busy_timeout = {BUSY_TIMEOUT_MS}; pragma foreign_keys = on;"
                        )))
                        .await?;
                        refuse_read_only(conn).await?;
                    } else if backend == Backend::Sqlite {
                        use sqlx::Executor;
                        conn.execute(sqlx::AssertSqlSafe(format!(
                            "pragma busy_timeout = {BUSY_TIMEOUT_MS}"
                        )))
                        .await?;
                    }
                    Ok(())
                })
            })
            .after_release(move |conn, _meta| {
                Box::pin(async move {
                    use sqlx::Connection;
                    // A transaction that failed may not have ended cleanly: when SQLite itself
                    // rolled back a failed COMMIT (an I/O error: disk full, file read-only) the
                    // driver's ROLLBACK fails too and the connection keeps counting an open
                    // transaction, so every later BEGIN on it fails ("begin_with at non-zero
                    // transaction depth"). Such a connection is closed, not reused; the pool
                    // opens a fresh one. On SQLite the rollback runs on the connection's worker,
                    // so wait for it (a statement queues behind it) before looking. The
                    // settings of a bulk write ([`Store::begin_bulk`]) end with it here.
                    if backend == Backend::Sqlite {
                        use sqlx::Executor;
                        conn.execute(SQLITE_POOLED).await?;
                    }
                    let clean = !conn.is_in_transaction();
                    if !clean {
                        tracing::warn!(
                            "discarding a database connection whose transaction did not end"
                        );
                    }
                    Ok(clean)
                })
            })
            .connect_with(options)
            .await
            .with_context(|| format!("cannot open database {}", redact_url(&url)))?;
        Ok(Store { pool, backend })
    }

    /// Applies every migration not yet applied.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&self.pool)
            .await
            .context("applying database migrations")
    }

    /// Whether the database answers and every migration is applied.
    pub async fn ready(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        let newest = migrator.iter().map(|m| m.version).max().unwrap_or(0);
        let applied: Option<i64> =
            sqlx::query_scalar("select max(version) from _sqlx_migrations where success = true")
                .fetch_one(&self.pool)
                .await
                .context("the database does not answer")?;
        if applied.unwrap_or(0) < newest {
            anyhow::bail!("migrations are pending (applied {applied:?}, newest {newest})");
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Starts a transaction that will write. SQLite takes the write lock at once (`BEGIN
    /// IMMEDIATE`), so a transaction never fails half-way because another writer came first.
    pub async fn begin(&self) -> anyhow::Result<Tx> {
        match self.backend {
            Backend::Sqlite => self.begin_tuned("").await,
            Backend::Postgres => self.pool.begin().await.map_err(begin_failed),
        }
    }

    /// Starts a transaction for a bulk write (an import of many bookings). On SQLite its
    /// connection gets a page cache of [`BULK_CACHE_KIB`]: with the default one a large write
    /// keeps spilling index pages to the WAL and reading them back. It is set back when the
    /// connection returns to the pool.
    pub async fn begin_bulk(&self) -> anyhow::Result<Tx> {
        self.begin_tuned(&format!("pragma cache_size = -{BULK_CACHE_KIB}"))
            .await
    }

    /// Starts the transaction of a declaration: a bulk write ([`Store::begin_bulk`]) whose
    /// statement journal stays in memory. Each of its multi-row statements journals every page
    /// it changes first; in a temporary file that was a tenth of the time of a declaration
    /// over 100,000 bookings (the speed issue). (An import's larger statements gained nothing
    /// from it and took 6 MiB more.) Its commit returns without copying the log into the
    /// database file (a checkpoint; a declaration over 100,000 bookings waited 55 ms for it):
    /// the next ordinary commit does that, in this process or another (the daemon's next
    /// recorded send), or the last connection when it closes. (An import's commit still does
    /// it itself: a million rows' log is a second of copying, which the daemon's next recorded
    /// send would wait for.)
    pub async fn begin_declaration(&self) -> anyhow::Result<Tx> {
        self.begin_tuned(&format!(
            "pragma cache_size = -{BULK_CACHE_KIB}; pragma temp_store = memory; \
             pragma wal_autocheckpoint = 0"
        ))
        .await
    }

    /// Starts the transaction of a dispatcher's claim. On SQLite its commit leaves copying the
    /// log into the database file (a checkpoint) to the next ordinary commit, the recording of
    /// outcomes, which runs beside the sends: after a large declaration from another process
    /// the daemon's first claim would otherwise copy that declaration's log (55 ms for 100,000
    /// messages) before the first message goes out.
    pub async fn begin_claim(&self) -> anyhow::Result<Tx> {
        self.begin_tuned("pragma wal_autocheckpoint = 0").await
    }

    /// A write transaction whose SQLite connection runs `pragmas` first; the pool sets them
    /// back ([`SQLITE_POOLED`]).
    ///
    /// While another writer holds the database, SQLite's own wait sleeps longer and longer,
    /// 100 ms at a time after the first quarter of a second: a claim queued behind a
    /// declaration of 100,000 began up to 100 ms after that had committed, and the first
    /// message waited for it (the speed issue). So each try waits [`LOCK_STEP_MS`] at most
    /// (in sleeps of 1, 2, 5, 10, 15 and 17 ms), and the next one follows at once, until
    /// [`BUSY_TIMEOUT_MS`] have passed.
    async fn begin_tuned(&self, pragmas: &str) -> anyhow::Result<Tx> {
        if self.backend != Backend::Sqlite {
            return self.pool.begin().await.map_err(begin_failed);
        }
        let deadline = tokio::time::Instant::now() + Duration::from_millis(BUSY_TIMEOUT_MS.into());
        loop {
            let tx = async {
                use sqlx::Executor;
                let mut conn = self.pool.acquire().await?;
                conn.execute(sqlx::AssertSqlSafe(format!(
                    "pragma busy_timeout = {LOCK_STEP_MS}; {pragmas}"
                )))
                .await?;
                // A connection that did not get the lock returns to the pool, which sets its
                // wait back ([`SQLITE_POOLED`]); one that got it, here.
                let mut tx =
                    Transaction::begin(conn, Some("BEGIN IMMEDIATE".into_sql_str())).await?;
                tx.execute(sqlx::AssertSqlSafe(format!(
                    "pragma busy_timeout = {BUSY_TIMEOUT_MS}"
                )))
                .await?;
                Ok(tx)
            };
            match tx.await {
                Err(e) if is_busy(&e) && tokio::time::Instant::now() < deadline => {}
                tx => return tx.map_err(begin_failed),
            }
        }
    }

    /// A connection for reads and single statements.
    pub async fn conn(&self) -> anyhow::Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        self.pool
            .acquire()
            .await
            .context("acquiring a database connection")
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Why a write transaction could not start, in words an operator can act on: SQLite's "database
/// is locked" there means another writer held the database for the whole busy timeout.
fn begin_failed(e: sqlx::Error) -> anyhow::Error {
    let busy = matches!(&e, sqlx::Error::Database(d) if d.code().as_deref() == Some("5"));
    let e = anyhow::Error::new(e);
    if busy {
        return e.context(format!(
            "starting a database transaction: another process kept the database locked for \
             {} s (a long import, a backup, a second daemon on the same file?); nothing was \
             written, try again",
            BUSY_TIMEOUT_MS / 1000
        ));
    }
    e.context("starting a database transaction")
}

/// How long a SQLite connection waits for another writer before it gives up.
const BUSY_TIMEOUT_MS: u32 = 30_000;

/// How long one try of a write transaction waits for another writer ([`Store::begin_tuned`]).
/// While another process held the database for 10 s, an idle daemon spent 230–240 ms of CPU
/// with tries of 50 ms, 0.9–1.0 s with tries of 5 ms, and 100 ms in SQLite's own wait; the first
/// email after a declaration of 100,000 left 9–21 ms after it committed (48–90 ms before).
const LOCK_STEP_MS: u32 = 50;

/// The page cache of a bulk write's SQLite connection, in KiB ([`Store::begin_bulk`]): room for
/// the index pages a large import keeps touching (the booking times arrive in no order), within
/// the import's memory budget (64 MiB). For 1,000,000 bookings SQLite alone writes them in 4.3 s
/// with 20 MiB, 4.5 s with 18 MiB and 5.6 s with 16 MiB, the rest of the time spilling index
/// pages to the log and reading them back (BENCHMARKS.md, run 12). Other connections keep
/// SQLite's default of 2,000 KiB.
pub const BULK_CACHE_KIB: u32 = 20 * 1024;

/// What every SQLite connection is set back to when it returns to the pool.
const SQLITE_POOLED: &str = "pragma cache_size = -2000; pragma temp_store = default; \
     pragma wal_autocheckpoint = 1000; pragma busy_timeout = 30000";

/// The channel on which PostgreSQL instances tell each other that work was queued.
pub const WORK_CHANNEL: &str = "absage_work";

/// Makes the transaction just begun on `conn` see one snapshot in all its statements, as a
/// declaration that reads its window page by page needs ([`bookings::WindowPages`]): on
/// PostgreSQL `repeatable read` (read committed gives each statement its own); a SQLite
/// transaction sees one state anyway. Only for a transaction that writes no row another one
/// may change meanwhile: a declaration inserts its own rows.
pub async fn one_snapshot(conn: &mut Conn) -> sqlx::Result<()> {
    if conn.backend_name() == "PostgreSQL" {
        sqlx::query("set transaction isolation level repeatable read")
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Tells other instances, when the transaction commits, that notifications were queued
/// (PostgreSQL `NOTIFY`; on SQLite the daemon watches the commits, and this does nothing).
pub async fn notify_work(conn: &mut Conn) -> sqlx::Result<()> {
    if conn.backend_name() == "PostgreSQL" {
        sqlx::query("select pg_notify($1, '')")
            .bind(WORK_CHANNEL)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// How often an idle SQLite daemon asks whether another connection committed
/// ([`Store::listen_for_work`]).
const COMMIT_WATCH: Duration = Duration::from_millis(20);

type Wake = std::sync::Arc<tokio::sync::watch::Sender<u64>>;

impl Store {
    /// Wakes `wake` whenever work may have been queued by another process, so that it is
    /// claimed at once instead of at the next idle poll (200 ms by default); reconnects after a
    /// failure. PostgreSQL: `LISTEN` for the `NOTIFY` of [`notify_work`]. SQLite, which has no
    /// `NOTIFY`: whenever another connection committed — another process (a declaration from
    /// the command line) or this one's pool (the API, the UI) — seen by asking `pragma
    /// data_version` every [`COMMIT_WATCH`] on a connection of its own (a few microseconds).
    pub async fn listen_for_work(
        &self,
        url: &str,
        wake: Wake,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        loop {
            let listening = async {
                match self.backend {
                    Backend::Postgres => listen_postgres(url, &wake).await,
                    Backend::Sqlite => self.watch_commits(&wake).await,
                }
            };
            tokio::select! {
                Err(e) = listening => {
                    tracing::warn!(error = %e, "listening for queued work failed; polling until it works again");
                }
                () = shutdown.cancelled() => return,
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(2)) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }

    async fn watch_commits(&self, wake: &Wake) -> sqlx::Result<std::convert::Infallible> {
        use sqlx::ConnectOptions;
        let mut conn = self.pool.connect_options().connect().await?;
        let version = || sqlx::query_scalar::<_, i64>("pragma data_version");
        let mut seen = version().fetch_one(&mut conn).await?;
        tracing::info!("listening for work queued by other processes (database commits)");
        loop {
            tokio::time::sleep(COMMIT_WATCH).await;
            let now = version().fetch_one(&mut conn).await?;
            if now != seen {
                seen = now;
                wake.send_modify(|n| *n = n.wrapping_add(1));
            }
        }
    }
}

async fn listen_postgres(url: &str, wake: &Wake) -> sqlx::Result<std::convert::Infallible> {
    let mut l = sqlx::postgres::PgListener::connect(url).await?;
    l.listen(WORK_CHANNEL).await?;
    tracing::info!("listening for work queued by other processes");
    loop {
        l.recv().await?;
        wake.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// Fails for a SQLite connection that cannot write. SQLite opens a file it may not write
/// (read-only, immutable, a full disk's remount) read-only without a word, and such a
/// connection stays read-only after the file is writable again: in the pool it would fail
/// every write for good. Refused here, the pool tries again with a fresh connection later.
/// The probe writes nothing (a write transaction that sets the user version to itself, rolled
/// back) and does not wait for the write lock: when another connection holds it, the probe
/// cannot tell and lets the connection be (a fault that makes files unwritable fails that
/// writer soon enough).
async fn refuse_read_only(conn: &mut Conn) -> sqlx::Result<()> {
    use sqlx::Executor;
    let version: i64 = sqlx::query_scalar("pragma user_version")
        .fetch_one(&mut *conn)
        .await?;
    conn.execute("pragma busy_timeout = 0").await?;
    let probe = conn
        .execute(sqlx::AssertSqlSafe(format!(
            "begin immediate; pragma user_version = {version}; rollback"
        )))
        .await;
    if probe.is_err() {
        // The probe may have stopped inside its transaction.
        let _ = conn.execute("rollback").await;
    }
    conn.execute(sqlx::AssertSqlSafe(format!(
        "pragma busy_timeout = {BUSY_TIMEOUT_MS}"
    )))
    .await?;
    match probe {
        Err(e) if !is_busy(&e) => Err(e),
        _ => Ok(()),
    }
}

/// SQLITE_BUSY or SQLITE_LOCKED, with any extended code.
fn is_busy(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|c| matches!(c & 0xff, 5 | 6))
}

/// Adds `mode=rwc` to a SQLite URL and creates its folder, so that the first start works.
/// Whether a store may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    ReadWrite,
    ReadOnly,
}

/// A SQLite URL opened read-only. A WAL database whose shared-memory file cannot be created
/// (a read-only folder) is read as immutable: nobody can write it there either.
fn sqlite_url_read_only(url: &str) -> anyhow::Result<String> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (file, _) = path.split_once('?').unwrap_or((path, ""));
    if !std::path::Path::new(file).exists() {
        anyhow::bail!(
            "there is no database at {file}: run `absage db migrate` (or start the daemon, \
             which creates it)"
        );
    }
    let dir = std::path::Path::new(file)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let shm = std::path::PathBuf::from(format!("{file}-shm"));
    let writable = |p: &std::path::Path| {
        std::fs::metadata(p).is_ok_and(|m| !m.permissions().readonly())
            && rustix::fs::access(p, rustix::fs::Access::WRITE_OK).is_ok()
    };
    Ok(if writable(&shm) || (!shm.exists() && writable(dir)) {
        format!("sqlite://{file}?mode=ro")
    } else {
        format!("sqlite://{file}?mode=ro&immutable=1")
    })
}

fn sqlite_url_with_create(url: &str) -> anyhow::Result<String> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (file, query) = path.split_once('?').unwrap_or((path, ""));
    if file != ":memory:" && !query.contains("mode=ro") {
        create_private_database(std::path::Path::new(file))?;
    }
    Ok(if query.contains("mode=") {
        url.to_owned()
    } else if query.is_empty() {
        format!("sqlite://{file}?mode=rwc")
    } else {
        format!("sqlite://{file}?{query}&mode=rwc")
    })
}

/// Creates the database file (and its folder) readable by absage's user only, before SQLite
/// would create it with the umask's rights; SQLite gives the WAL and shared-memory files the
/// database's rights. An existing database with looser rights is tightened.
fn create_private_database(file: &std::path::Path) -> anyhow::Result<()> {
    use crate::private_files::{private_dir, private_new_file, tighten};
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        private_dir(dir)
            .with_context(|| format!("creating the database folder {}", dir.display()))?;
    }
    match private_new_file(file) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(e).with_context(|| format!("creating the database {}", file.display()));
        }
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut path = file.as_os_str().to_owned();
        path.push(suffix);
        tighten(std::path::Path::new(&path), 0o600)
            .with_context(|| format!("making {} private", file.display()))?;
    }
    Ok(())
}

/// A database URL with its password replaced, fit for messages and logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Bind placeholders for statements built at run time (multi-row inserts, `IN` lists), in the
/// order they appear in the text; bind the values in that same order. SQLite gets anonymous `?`:
/// sqlx looks numbered parameters up by name, which costs time quadratic in their number and
/// made a 1,000-row insert take a second. PostgreSQL gets `$n`.
#[derive(Clone)]
pub(crate) struct Params {
    sqlite: bool,
    next: usize,
}

impl Params {
    pub(crate) fn new(conn: &Conn) -> Params {
        Params {
            sqlite: conn.backend_name() == "SQLite",
            next: 1,
        }
    }

    /// SQLite's placeholders, for a statement bound before it meets its connection.
    pub(crate) fn sqlite() -> Params {
        Params {
            sqlite: true,
            next: 1,
        }
    }

    /// One placeholder.
    pub(crate) fn one(&mut self) -> String {
        let n = self.next;
        self.next += 1;
        if self.sqlite {
            "?".to_owned()
        } else {
            format!("${n}")
        }
    }

    /// `n` placeholders separated by commas.
    pub(crate) fn list(&mut self, n: usize) -> String {
        let mut out = String::with_capacity(n * 4);
        self.push_list(&mut out, n);
        out
    }

    /// `rows` parenthesised tuples of `cols` placeholders, for a multi-row `values` clause.
    pub(crate) fn rows(&mut self, rows: usize, cols: usize) -> String {
        // Built for every chunk of an import: one buffer, no string per placeholder.
        let mut out = String::with_capacity(rows * (cols * 4 + 4));
        for row in 0..rows {
            if row > 0 {
                out.push_str(", ");
            }
            out.push('(');
            self.push_list(&mut out, cols);
            out.push(')');
        }
        out
    }

    fn push_list(&mut self, out: &mut String, n: usize) {
        use std::fmt::Write;
        for i in 0..n {
            if i > 0 {
                out.push_str(", ");
            }
            if self.sqlite {
                out.push('?');
            } else {
                let _ = write!(out, "${}", self.next);
            }
            self.next += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A migrated SQLite store of `connections` in a fresh folder, and its URL.
    async fn sqlite(connections: u32) -> (tempfile::TempDir, Store, String) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/a.db", dir.path().display());
        let store = Store::connect(&url, connections).await.unwrap();
        store.migrate().await.unwrap();
        (dir, store, url)
    }

    #[test]
    fn passwords_in_database_urls_are_redacted() {
        assert_eq!(
            redact_url("postgres://absage:geheim@db:5432/absage"),
            "postgres://absage:***@db:5432/absage"
        );
        assert_eq!(redact_url("sqlite://data/a.db"), "sqlite://data/a.db");
    }

    #[tokio::test]
    async fn a_new_connection_does_not_wait_for_a_writer_that_holds_the_lock() {
        let (_dir, store, _) = sqlite(2).await;
        let tx = store.begin().await.unwrap(); // holds the write lock, on the first connection
        let second = tokio::time::timeout(Duration::from_secs(5), store.conn()).await;
        assert!(
            matches!(second, Ok(Ok(_))),
            "the writability probe waited or failed"
        );
        drop(second);
        tx.commit().await.unwrap();
    }

    /// A writer queued behind another tries again every [`LOCK_STEP_MS`] until it begins, and
    /// no connection keeps that short wait: inside the transaction and back in the pool, each
    /// waits the whole [`BUSY_TIMEOUT_MS`] again.
    #[tokio::test]
    async fn a_writer_behind_another_begins_once_it_commits_and_then_waits_as_long_as_ever() {
        let (_dir, store, _) = sqlite(2).await;
        async fn busy_timeout(conn: &mut Conn) -> i64 {
            let q = sqlx::query_scalar("pragma busy_timeout");
            q.fetch_one(&mut *conn).await.unwrap()
        }
        let holding = store.begin().await.unwrap();
        let waiting = tokio::spawn({
            let store = store.clone();
            async move {
                let mut tx = store.begin_claim().await.unwrap();
                let waits = busy_timeout(&mut tx).await;
                tx.commit().await.unwrap();
                waits
            }
        });
        // Held over several tries of the waiter.
        tokio::time::sleep(Duration::from_millis((4 * LOCK_STEP_MS).into())).await;
        assert!(
            !waiting.is_finished(),
            "began while another writer held the lock"
        );
        holding.commit().await.unwrap();
        assert_eq!(waiting.await.unwrap(), i64::from(BUSY_TIMEOUT_MS));
        let (mut a, mut b) = (store.conn().await.unwrap(), store.conn().await.unwrap());
        assert_eq!(busy_timeout(&mut a).await, i64::from(BUSY_TIMEOUT_MS));
        assert_eq!(busy_timeout(&mut b).await, i64::from(BUSY_TIMEOUT_MS));
        // A try that did not get the lock leaves its connection to the pool's reset.
        assert!(SQLITE_POOLED.contains(&format!("busy_timeout = {BUSY_TIMEOUT_MS}")));
    }

    #[tokio::test]
    async fn a_declaration_has_a_large_cache_and_its_journal_in_memory_only_while_it_runs() {
        let (_dir, store, _) = sqlite(1).await;
        async fn settings(conn: &mut Conn) -> (i64, i64) {
            let cache = sqlx::query_scalar("pragma cache_size");
            let temp = sqlx::query_scalar("pragma temp_store");
            let cache: i64 = cache.fetch_one(&mut *conn).await.unwrap();
            (cache, temp.fetch_one(&mut *conn).await.unwrap())
        }
        let mut tx = store.begin_declaration().await.unwrap();
        // temp_store 2: memory.
        assert_eq!(settings(&mut tx).await, (-i64::from(BULK_CACHE_KIB), 2));
        tx.commit().await.unwrap();
        // The pool's only connection, back to the defaults (temp_store 0: the build's default).
        let mut conn = store.conn().await.unwrap();
        assert_eq!(settings(&mut conn).await, (-2000, 0));
    }

    /// A declaration's commit returns without copying its pages into the database file (that
    /// was 55 ms of one over 100,000 bookings); the next ordinary commit copies them.
    /// 8 MB into a new table: twice what makes a commit checkpoint by itself (1,000 pages).
    async fn fill_eight_megabytes(tx: &mut Tx) {
        sqlx::query(
            "create table filler as with recursive n(i) as (select 1 union all \
             select i + 1 from n where i < 2000) select i, randomblob(4000) as b from n",
        )
        .execute(&mut **tx)
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn a_declarations_commit_leaves_the_log_to_the_next_commit() {
        let (dir, store, _) = sqlite(1).await;
        let file = dir.path().join("a.db");
        let mut tx = store.begin_declaration().await.unwrap();
        fill_eight_megabytes(&mut tx).await;
        tx.commit().await.unwrap();
        let before = std::fs::metadata(&file).unwrap().len();
        assert!(
            before < 1 << 20,
            "the commit wrote {before} bytes into the database file"
        );
        let mut tx = store.begin().await.unwrap();
        sqlx::query("delete from filler where i = 1")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(std::fs::metadata(&file).unwrap().len() > 8 << 20);
    }

    #[tokio::test]
    async fn a_claims_commit_leaves_the_log_to_the_next_commit() {
        let (dir, store, _) = sqlite(1).await;
        let file = dir.path().join("a.db");
        let mut tx = store.begin_declaration().await.unwrap();
        fill_eight_megabytes(&mut tx).await;
        tx.commit().await.unwrap();
        let write = |i: i64| sqlx::query("delete from filler where i = $1").bind(i);
        let mut tx = store.begin_claim().await.unwrap();
        write(1).execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
        let after_claim = std::fs::metadata(&file).unwrap().len();
        assert!(
            after_claim < 1 << 20,
            "the claim's commit wrote {after_claim} bytes into the database file"
        );
        let mut tx = store.begin().await.unwrap();
        write(2).execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
        assert!(std::fs::metadata(&file).unwrap().len() > 8 << 20);
    }

    #[tokio::test]
    async fn a_write_blocked_by_another_writer_says_so_and_that_nothing_was_written() {
        use sqlx::{Connection, Executor};
        let (_dir, store, url) = sqlite(1).await;
        let _holding = store.begin().await.unwrap();
        // The error SQLite gives after the busy timeout, without waiting 30 s for it.
        let mut other = sqlx::AnyConnection::connect(&url).await.unwrap();
        other.execute("pragma busy_timeout = 0").await.unwrap();
        let e = other.execute("begin immediate").await.unwrap_err();
        let message = format!("{:#}", begin_failed(e));
        assert!(
            message.contains("another process kept the database locked for 30 s")
                && message.contains("nothing was written, try again"),
            "{message}"
        );
        let other = sqlx::Error::Protocol("connection reset".into());
        let message = format!("{:#}", begin_failed(other));
        assert!(
            message.starts_with("starting a database transaction: "),
            "{message}"
        );
        assert!(!message.contains("locked"), "{message}");
    }

    #[test]
    fn placeholders_are_anonymous_on_sqlite_and_numbered_on_postgres() {
        let mut sqlite = Params {
            sqlite: true,
            next: 1,
        };
        assert_eq!(sqlite.rows(2, 2), "(?, ?), (?, ?)");
        let mut pg = Params {
            sqlite: false,
            next: 1,
        };
        assert_eq!(pg.one(), "$1");
        assert_eq!(pg.rows(2, 2), "($2, $3), ($4, $5)");
    }
}
