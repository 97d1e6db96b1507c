//! The database refuses writes for a while in the middle of a run (issue 11, finding 3): sends
//! that went out are recorded once it takes writes again, none is sent twice, the dispatcher
//! recovers without a restart, and `/readyz` says when it is stuck.

use crate::helpers::*;
use crate::queue::relay_config;
use crate::support::peers::{SinkMode, SmtpSink};
use absage::config::ChannelPolicy;
use absage::domain::outage::Scope;
use chrono::Duration;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Makes the test's database refuse writes the way the real code meets it. SQLite: the
/// database file and its WAL become immutable (`chattr +i`, needs root), so every write fails
/// with an I/O error, commits included. PostgreSQL: the database becomes read-only for new
/// sessions and its sessions are cut, as in a failover to a standby; at the end the sessions
/// are cut again (the new primary). Ended on drop, so a failing test leaves no immutable files.
pub(crate) enum WriteFault {
    Sqlite(Vec<PathBuf>),
    Postgres { admin: String, db: String },
}

impl WriteFault {
    pub(crate) fn of(t: &TestApp) -> WriteFault {
        let url = t.app.ctx.settings.database.url.expose().to_owned();
        match url.strip_prefix("sqlite://") {
            Some(rest) => {
                let file = rest.split('?').next().unwrap();
                WriteFault::Sqlite(vec![
                    PathBuf::from(file),
                    PathBuf::from(format!("{file}-wal")),
                ])
            }
            None => WriteFault::Postgres {
                admin: std::env::var("ABSAGE_TEST_POSTGRES").expect("the admin URL"),
                db: url.rsplit('/').next().unwrap().to_owned(),
            },
        }
    }

    pub(crate) async fn start(&self) {
        match self {
            WriteFault::Sqlite(files) => chattr("+i", files),
            WriteFault::Postgres { admin, db } => {
                pg(
                    admin,
                    &format!("alter database {db} set default_transaction_read_only = on"),
                )
                .await;
                pg(admin, &cut_sessions(db)).await;
            }
        }
    }

    pub(crate) async fn end(&self) {
        match self {
            WriteFault::Sqlite(files) => chattr("-i", files),
            WriteFault::Postgres { admin, db } => {
                pg(
                    admin,
                    &format!("alter database {db} reset default_transaction_read_only"),
                )
                .await;
                pg(admin, &cut_sessions(db)).await;
            }
        }
    }
}

impl Drop for WriteFault {
    fn drop(&mut self) {
        if let WriteFault::Sqlite(files) = self {
            for f in files.iter() {
                let _ = std::process::Command::new("chattr")
                    .arg("-i")
                    .arg(f)
                    .status();
            }
        }
    }
}

fn chattr(flag: &str, files: &[PathBuf]) {
    for f in files {
        let out = std::process::Command::new("chattr")
            .arg(flag)
            .arg(f)
            .output()
            .expect("chattr (e2fsprogs) must be installed");
        assert!(
            out.status.success(),
            "chattr {flag} {} (needs root and a file system with the immutable flag): {}",
            f.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn cut_sessions(db: &str) -> String {
    format!(
        "select pg_terminate_backend(pid) from pg_stat_activity \
         where datname = '{db}' and pid <> pg_backend_pid()"
    )
}

async fn pg(admin: &str, sql: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Files smtp-sink has written so far (one per accepted message).
fn dumped(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().starts_with("msg."))
        })
        .count()
}

async fn readyz(base: &str) -> (u16, String) {
    absage::tls::install();
    let r = reqwest::get(format!("{base}/readyz")).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_the_database_could_not_record_are_recorded_once_it_is_back_none_twice_and_readyz_tells()
 {
    const N: usize = 200;
    let sink = SmtpSink::start(SinkMode::Accept);
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    s.email.transport = absage::config::Transport::Network;
    s.email.relays = vec![relay_config("sink", sink.addr.port())];
    // 100 a second: one step claims all N and sends for two seconds, recording as it goes.
    s.queue.rate_limits.insert("sink".into(), 100.0);
    s.queue.stall_secs = 60;
    let t = TestApp::start(dir, s).await;
    let rows: Vec<Row> = (0..N)
        .map(|i| {
            Row::new(
                &format!("F{i:03}"),
                &format!("2030-01-07 {:02}:{:02}", 8 + i / 60, i % 60),
            )
            .phone("")
        })
        .collect();
    t.write_export(&rows);
    t.import().await;
    t.declare("2030-01-07 08:00", "2030-01-07 12:00", Scope::default())
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let stop = tokio_util::sync::CancellationToken::new();
    let router = absage::http::router(t.app.http_state());
    tokio::spawn(absage::http::serve(listener, router, stop.clone()));

    // The fault starts while the step sends: once a fifth of the mail has arrived.
    let fault = std::sync::Arc::new(WriteFault::of(&t));
    let started = {
        let (fault, dump) = (fault.clone(), sink.dump_dir().to_path_buf());
        tokio::spawn(async move {
            while dumped(&dump) < N / 5 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            fault.start().await;
        })
    };
    let d = t.dispatcher();
    let failed = d.step().await;
    started.await.unwrap();
    let error = format!("{:#}", failed.expect_err("the step met the fault"));
    assert!(error.contains("could not be recorded"), "{error}");
    // On SQLite every claimed message went out; on PostgreSQL the rate limit's slots live in
    // the database, so the sends after the fault waited (no slot, no send).
    assert!(
        sink.messages().len() > N / 5,
        "sends went on during the fault"
    );
    assert_eq!(readyz(&base).await.0, 200, "a short failure is no stall");

    // Still refused a minute later: the dispatcher is stuck and says so.
    t.clock.advance(Duration::seconds(61));
    let (status, body) = readyz(&base).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("not yet recorded"), "{body}");

    // The database takes writes again: the same dispatcher records what went out.
    fault.end().await;
    t.clock.advance(Duration::seconds(1));
    d.step().await.expect("recovers without a restart");
    assert_eq!(readyz(&base).await, (200, "ready\n".to_owned()));

    // Long after every lease has run out, nothing is sent again.
    t.clock.advance(Duration::seconds(600));
    t.drain(&d).await;
    let mut per_id: HashMap<String, usize> = HashMap::new();
    for m in sink.messages() {
        *per_id.entry(m.message_id.unwrap()).or_default() += 1;
    }
    assert_eq!(per_id.len(), N, "every message arrived");
    assert!(per_id.values().all(|n| *n == 1), "sent twice: {per_id:?}");
    let ns = t.notifications().await;
    assert_eq!(
        count(&ns, |n| n.state == "sent" && n.attempts == 1),
        N,
        "{:?}",
        ns.iter().filter(|n| n.state != "sent").collect::<Vec<_>>()
    );
    stop.cancel();
}

/// The daemon's HTTP address, from its log.
fn listen_address(log: &Path) -> String {
    crate::support::peers::wait_until(
        "the daemon's HTTP address in its log",
        std::time::Duration::from_secs(30),
        || {
            let text = std::fs::read_to_string(log).ok()?;
            let line = text.lines().find(|l| l.contains("serving /healthz"))?;
            let at = line.find("address=")? + "address=".len();
            Some(line[at..].split_whitespace().next()?.to_owned())
        },
    )
}

/// The report's reproduction against the real binary: a 3-second write fault while a large
/// queue drains through smtp-sink. SQLite only (the daemon's own configuration); the in-process
/// test above covers PostgreSQL.
#[test]
fn a_running_daemon_rides_out_three_seconds_of_an_immutable_database_and_sends_each_message_once() {
    use crate::process::{absage, declare_all, spawn_named, write_config, write_export};
    use crate::support::peers::{http_get, wait_until};
    const N: usize = 2000;
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(SinkMode::Accept);
    let config = write_config(dir.path(), sink.addr.port(), 400);
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("[queue]\n", "[queue]\nstall_secs = 1\n"),
    )
    .unwrap();
    write_export(dir.path(), N);
    absage(&config, &["import"]);
    declare_all(&config);
    let _run = spawn_named(&config, dir.path(), "run", &[]);
    let log = dir.path().join("run.log");
    let base = format!("http://{}", listen_address(&log));
    wait_until(
        "a quarter of the mail at the sink",
        std::time::Duration::from_secs(60),
        || (sink.messages().len() >= N / 4).then_some(()),
    );

    let db = dir.path().join("absage.db");
    let files = vec![db.clone(), PathBuf::from(format!("{}-wal", db.display()))];
    let fault = WriteFault::Sqlite(files.clone()); // ends the fault when dropped
    chattr("+i", &files);
    let frozen_at = std::time::Instant::now();
    let mut unready = 0;
    while frozen_at.elapsed() < std::time::Duration::from_secs(3) {
        if http_get(&format!("{base}/readyz")).0 == 503 {
            unready += 1;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let during = sink.messages().len();
    drop(fault); // chattr -i
    assert!(unready > 0, "/readyz never said the dispatcher was stuck");
    assert!(
        during < N,
        "the fault must hit mid-run ({during} of {N} already sent)"
    );

    wait_until(
        "every message at the sink",
        std::time::Duration::from_secs(120),
        || (sink.messages().len() >= N).then_some(()),
    );
    wait_until(
        "/readyz to be ready again",
        std::time::Duration::from_secs(30),
        || (http_get(&format!("{base}/readyz")).0 == 200).then_some(()),
    );
    let out = absage(&config, &["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let open: i64 = status["queue"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["state"] != "sent")
        .map(|q| q["count"].as_i64().unwrap())
        .sum();
    assert_eq!(open, 0, "every send is recorded: {}", status["queue"]);

    let mut per_id: HashMap<String, usize> = HashMap::new();
    for m in sink.messages() {
        *per_id.entry(m.message_id.unwrap()).or_default() += 1;
    }
    assert_eq!(per_id.len(), N, "every message arrived");
    let twice: Vec<_> = per_id.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent twice: {twice:?}");
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        !log.contains("non-zero transaction depth"),
        "a wedged connection was reused"
    );
    let errors = log.matches("dispatch step failed").count();
    assert!(
        errors < 40,
        "{errors} error lines for a 3-second fault: no backoff"
    );
}
