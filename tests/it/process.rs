//! The real `absage` binary as an operator runs it: kill -9 in the middle of a run, SIGTERM.

use crate::support::peers::{SinkMode, SmtpSink, wait_until};
use chrono::{Duration, Utc};
use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_absage");

/// A config for the binary: SQLite in `dir`, email to the sink (rate-limited so that a run takes
/// a few seconds), SMS to the outbox, short leases.
pub(crate) fn write_config(dir: &Path, sink_port: u16, rate: u32) -> std::path::PathBuf {
    let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/templates");
    let cfg = format!(
        r#"
[database]
url = "sqlite://{dir}/absage.db"
[templates]
dir = "{templates}"
[outbox]
dir = "{dir}/outbox"
[[tenants]]
id = "soest"
name = "Kreis Soest"
time_zone = "Europe/Berlin"
hotline = "02921 30-0"
email_from = "Kreis Soest <termine@kreis-soest.example>"
sms_sender = "KreisSoest"
[[sources]]
name = "termine"
tenant = "soest"
kind = "csv"
path = "{dir}/export.csv"
[sources.fields]
key = "key"
date = "start"
service = "service"
name = "name"
email = "email"
[email]
transport = "network"
[[email.relays]]
name = "sink"
host = "127.0.0.1"
port = {sink_port}
tls = "none"
concurrency = 4
timeout_secs = 2
[http]
listen = "127.0.0.1:0"
[queue]
lease_secs = 4
batch_size = 50
idle_poll_ms = 100
[queue.rate_limits]
sink = {rate}
"#,
        dir = dir.display(),
        templates = templates.display()
    );
    let path = dir.join("absage.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

pub(crate) fn write_export(dir: &Path, n: usize) {
    let day = (Utc::now() + Duration::days(2))
        .with_timezone(&chrono_tz::Europe::Berlin)
        .date_naive();
    let mut s = String::from("key,start,service,name,email\n");
    for i in 0..n {
        s.push_str(&format!(
            "K{i:05},{day} {:02}:{:02},Zulassung,Person {i},p{i}@example.org\n",
            8 + (i / 60) % 10,
            i % 60
        ));
    }
    std::fs::write(dir.join("export.csv"), s).unwrap();
}

pub(crate) fn absage(config: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "absage {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A running `absage run`; killed when dropped, so a failing test leaves no daemon behind.
pub(crate) struct Daemon(pub(crate) Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl std::ops::Deref for Daemon {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Daemon {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

pub(crate) fn spawn_run(config: &Path, dir: &Path, args: &[&str]) -> Daemon {
    spawn_named(config, dir, &format!("run-{}", args.len()), args)
}

/// Starts `absage run` logging to `dir/<name>.log`.
pub(crate) fn spawn_named(config: &Path, dir: &Path, name: &str, args: &[&str]) -> Daemon {
    let child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .arg("run")
        .args(args)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(format!("{name}.log"))).unwrap())
        .spawn()
        .unwrap();
    Daemon(child)
}

pub(crate) fn declare_all(config: &Path) {
    let from = (Utc::now() + Duration::days(1)).to_rfc3339();
    let to = (Utc::now() + Duration::days(4)).to_rfc3339();
    absage(
        config,
        &[
            "outage",
            "declare",
            "--from",
            &from,
            "--to",
            &to,
            "--reason",
            "IT-Ausfall",
        ],
    );
}

#[test]
fn after_kill_9_a_restart_delivers_everything_and_duplicates_stay_within_what_was_in_flight() {
    const N: usize = 600;
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(SinkMode::Accept);
    let config = write_config(dir.path(), sink.addr.port(), 200);
    write_export(dir.path(), N);
    absage(&config, &["import"]);
    declare_all(&config);

    let mut run = spawn_run(&config, dir.path(), &[]);
    wait_until(
        "a third of the mail at the sink",
        std::time::Duration::from_secs(60),
        || (sink.messages().len() >= N / 3).then_some(()),
    );
    run.kill().unwrap(); // SIGKILL
    run.wait().unwrap();
    let at_kill = sink.messages().len();
    assert!(
        at_kill < N,
        "the run must be interrupted mid-way ({at_kill} of {N} already sent)"
    );

    let duplicates = restart_until_idle(&config, dir.path(), &sink, N, 90);
    eprintln!("kill -9 after {at_kill} of {N}: {duplicates} duplicates");
    assert!(
        duplicates <= 50,
        "duplicates ({duplicates}) are bounded by one claimed batch (50)"
    );
    let out = absage(&config, &["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sent: i64 = status["queue"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["state"] == "sent")
        .map(|q| q["count"].as_i64().unwrap())
        .sum();
    assert_eq!(sent, N as i64);
    assert_no_personal_data_in_logs(dir.path());
}

/// With the default lease of two minutes (here ten), a daemon restarted after kill -9 on the same
/// machine sends what the killed one had claimed — the earliest appointments — at once: the
/// holder is gone, so its lease guards nothing. Before, the restarted run left those messages
/// untouched until the lease ran out, and `--exit-when-idle` waited for it.
#[test]
fn after_kill_9_a_restart_takes_back_the_claims_of_the_killed_process_without_waiting_for_its_lease()
 {
    const N: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(SinkMode::Accept);
    let config = write_config(dir.path(), sink.addr.port(), 100);
    let long = std::fs::read_to_string(&config)
        .unwrap()
        .replace("lease_secs = 4", "lease_secs = 600");
    std::fs::write(&config, long).unwrap();
    write_export(dir.path(), N);
    absage(&config, &["import"]);
    declare_all(&config);

    let mut run = spawn_run(&config, dir.path(), &[]);
    wait_until(
        "some mail at the sink",
        std::time::Duration::from_secs(60),
        || (sink.messages().len() >= 30).then_some(()),
    );
    run.kill().unwrap(); // SIGKILL
    run.wait().unwrap();
    let at_kill = sink.messages().len();
    assert!(at_kill < N, "interrupted mid-way ({at_kill} of {N})");

    // Far less than the lease: a run that waited for it would not be done.
    let duplicates = restart_until_idle(&config, dir.path(), &sink, N, 120);
    assert!(
        duplicates <= 50,
        "duplicates ({duplicates}) are bounded by one claimed batch (50)"
    );
    // Nor did it count the killed one among the instances sharing the rate limit.
    let log = std::fs::read_to_string(dir.path().join("run-1.log")).unwrap();
    let counted: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("instances running"))
        .filter_map(|l| l.rsplit("instances=").next())
        .collect();
    assert_eq!(counted, ["1"], "{log}");
    assert_no_personal_data_in_logs(dir.path());
}

/// Runs `absage run --exit-when-idle` again after a kill, within `secs`; every one of the `n`
/// messages must have arrived at the sink. Returns how many arrived more than once.
fn restart_until_idle(config: &Path, dir: &Path, sink: &SmtpSink, n: usize, secs: u64) -> usize {
    let mut again = spawn_run(config, dir, &["--exit-when-idle"]);
    let status = wait_until(
        "the restarted run to finish",
        std::time::Duration::from_secs(secs),
        || again.try_wait().unwrap(),
    );
    assert!(status.success());
    let per_id = arrivals_per_message(sink);
    assert_eq!(per_id.len(), n, "every message arrived");
    per_id.values().map(|n| n - 1).sum()
}

/// How often each message arrived at the sink, once every dump file is complete.
fn arrivals_per_message(sink: &SmtpSink) -> HashMap<String, usize> {
    let ids = wait_until(
        "complete dump files",
        std::time::Duration::from_secs(10),
        || {
            let ids: Option<Vec<String>> =
                sink.messages().into_iter().map(|m| m.message_id).collect();
            ids
        },
    );
    let mut per_id = HashMap::new();
    for id in ids {
        *per_id.entry(id).or_insert(0) += 1;
    }
    per_id
}

/// The kill -9 series: the sending process is killed again and again at varying points (after
/// 20 to 80 more messages each time), then a last run drains the queue. Nothing is lost, and
/// duplicates stay within what each kill had in flight (one claimed batch). The number of
/// cycles is `ABSAGE_KILL_CYCLES` (default 6).
#[test]
fn kill_9_again_and_again_loses_nothing_and_duplicates_stay_within_each_batch_in_flight() {
    const N: usize = 600;
    const BATCH: usize = 50;
    let cycles: usize = std::env::var("ABSAGE_KILL_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(SinkMode::Accept);
    let config = write_config(dir.path(), sink.addr.port(), 300);
    write_export(dir.path(), N);
    absage(&config, &["import"]);
    declare_all(&config);
    let mut killed_at = Vec::new();
    for cycle in 0..cycles {
        let before = sink.messages().len();
        if before >= N {
            break;
        }
        let more = 20 + (cycle * 37) % 61;
        let mut run = spawn_run(&config, dir.path(), &[]);
        wait_until(
            "more mail at the sink",
            std::time::Duration::from_secs(60),
            || (sink.messages().len() >= (before + more).min(N)).then_some(()),
        );
        run.kill().unwrap(); // SIGKILL
        run.wait().unwrap();
        killed_at.push(sink.messages().len());
    }
    let mut last = spawn_run(&config, dir.path(), &["--exit-when-idle"]);
    let status = wait_until(
        "the last run to finish",
        std::time::Duration::from_secs(90),
        || last.try_wait().unwrap(),
    );
    assert!(status.success());
    let per_id = arrivals_per_message(&sink);
    let duplicates: usize = per_id.values().map(|n| n - 1).sum();
    eprintln!(
        "{} kills -9 at {killed_at:?} of {N}: lost {}, {duplicates} duplicates",
        killed_at.len(),
        N - per_id.len()
    );
    assert_eq!(per_id.len(), N, "every message arrived");
    assert!(
        duplicates <= BATCH * killed_at.len(),
        "duplicates ({duplicates}) are bounded by one claimed batch per kill"
    );
    assert_no_personal_data_in_logs(dir.path());
}

#[test]
fn sigterm_stops_claiming_finishes_what_is_in_flight_and_exits_cleanly() {
    const N: usize = 400;
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(SinkMode::Accept);
    let config = write_config(dir.path(), sink.addr.port(), 100);
    write_export(dir.path(), N);
    absage(&config, &["import"]);
    declare_all(&config);
    let mut run = spawn_run(&config, dir.path(), &[]);
    wait_until(
        "some mail at the sink",
        std::time::Duration::from_secs(60),
        || (sink.messages().len() >= 50).then_some(()),
    );
    Command::new("kill")
        .arg("-TERM")
        .arg(run.id().to_string())
        .status()
        .unwrap();
    let status = wait_until(
        "the run to exit",
        std::time::Duration::from_secs(30),
        || run.try_wait().unwrap(),
    );
    assert!(status.success(), "exit status {status:?}");
    let out = absage(&config, &["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sending = status["queue"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["state"] == "sending")
        .count();
    assert_eq!(sending, 0, "nothing is left claimed: {status}");
    let sent: i64 = status["queue"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["state"] == "sent")
        .map(|q| q["count"].as_i64().unwrap())
        .sum();
    assert_eq!(
        sent as usize,
        sink.messages().len(),
        "every message at the sink is recorded as sent"
    );
    assert!((sent as usize) < N, "it stopped before the end");
    assert_no_personal_data_in_logs(dir.path());
}

/// The daemon's logs (at info level) name no citizen and no address.
pub(crate) fn assert_no_personal_data_in_logs(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "log") {
            let log = std::fs::read_to_string(&path).unwrap();
            assert!(
                !log.is_empty(),
                "{} is empty: is logging on?",
                path.display()
            );
            assert!(
                !log.contains("@example.org") && !log.contains("Person "),
                "personal data in {}:\n{log}",
                path.display()
            );
        }
    }
}

/// A "relay" that accepts connections and never answers, like a host behind a firewall that
/// drops packets: the worst case for a sender.
fn silent_relay() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    port
}

#[test]
fn a_relay_that_never_answers_does_not_hold_up_the_sms() {
    const N: usize = 30;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), silent_relay(), 1000);
    // The relay's own timeout (2 s, below ¾ of the 4-second lease) gives up on it.
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "email = \"email\"\n",
        "email = \"email\"\nphone = \"phone\"\n",
    );
    std::fs::write(&config, text).unwrap();
    let day = (Utc::now() + Duration::days(2))
        .with_timezone(&chrono_tz::Europe::Berlin)
        .date_naive();
    let mut csv = String::from("key,start,service,name,email,phone\n");
    for i in 0..N {
        csv.push_str(&format!(
            "K{i:03},{day} 09:{i:02},Zulassung,Person {i},p{i}@example.org,0171 55{i:05}\n"
        ));
    }
    std::fs::write(dir.path().join("export.csv"), csv).unwrap();
    absage(&config, &["import"]);
    declare_all(&config);
    let mut run = spawn_run(&config, dir.path(), &[]);
    let sms_dir = dir.path().join("outbox/sms");
    let sent = wait_until(
        "every SMS in the outbox",
        std::time::Duration::from_secs(30),
        || {
            let n = std::fs::read_dir(&sms_dir).map(|d| d.count()).unwrap_or(0);
            (n >= N).then_some(n)
        },
    );
    assert_eq!(sent, N);
    run.kill().unwrap();
    run.wait().unwrap();
}

#[test]
fn a_backup_of_the_running_database_is_a_complete_copy() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(SinkMode::Accept);
    let config = write_config(dir.path(), sink.addr.port(), 100);
    write_export(dir.path(), 25);
    absage(&config, &["import"]);
    let mut run = spawn_run(&config, dir.path(), &[]);
    let backup = dir.path().join("backup.db");
    absage(&config, &["db", "backup", &backup.to_string_lossy()]);
    run.0.kill().unwrap();
    let out = Command::new("sqlite3")
        .arg(&backup)
        .arg("select count(*) from bookings")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "25");
    let again = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .args(["db", "backup", &backup.to_string_lossy()])
        .output()
        .unwrap();
    assert!(
        !again.status.success(),
        "an existing backup is never overwritten"
    );
}

#[test]
fn a_watched_folder_imports_each_new_export_once_it_has_arrived() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(SinkMode::Accept);
    let config = write_config(dir.path(), sink.addr.port(), 100);
    let inbox = dir.path().join("in");
    std::fs::create_dir(&inbox).unwrap();
    let text = std::fs::read_to_string(&config).unwrap().replace(
        &format!("path = \"{}/export.csv\"", dir.path().display()),
        &format!("path = \"{}\"\nwatch_secs = 1", inbox.display()),
    );
    std::fs::write(&config, text).unwrap();
    let _run = spawn_run(&config, dir.path(), &[]);
    let sql = |q: &str| {
        let out = Command::new("sqlite3")
            .arg("-cmd")
            .arg(".timeout 5000")
            .arg(dir.path().join("absage.db"))
            .arg(q)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    // A file arrives the way exports do: written elsewhere, then moved in.
    let arrive = |name: &str, rows: usize| {
        write_export(dir.path(), rows);
        std::fs::rename(dir.path().join("export.csv"), inbox.join(name)).unwrap();
    };
    arrive("2026-11-27-0800.csv", 10);
    wait_until(
        "the first export",
        std::time::Duration::from_secs(30),
        || (sql("select count(*) from bookings where status = 'active'") == "10").then_some(()),
    );
    arrive("2026-11-27-0900.csv", 15);
    wait_until(
        "the second export",
        std::time::Duration::from_secs(30),
        || (sql("select count(*) from bookings where status = 'active'") == "15").then_some(()),
    );
    assert_eq!(
        sql("select count(*) || ' ' || group_concat(substr(location, -19), ' ') from imports"),
        "2 2026-11-27-0800.csv 2026-11-27-0900.csv",
        "each file imported once, and the history names the file"
    );
}

#[test]
fn command_line_actions_are_in_the_audit_log_with_who_ran_them() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(SinkMode::Accept);
    let config = write_config(dir.path(), sink.addr.port(), 100);
    write_export(dir.path(), 3);
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("import")
        .env("USER", "kim")
        .env_remove("SUDO_USER")
        .output()
        .unwrap();
    assert!(out.status.success());
    declare_all(&config);
    let log = Command::new("sqlite3")
        .arg(dir.path().join("absage.db"))
        .arg("select actor || ' ' || action from audit_log order by id")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&log.stdout);
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines[0], "cli:kim import.trigger", "{log}");
    assert!(lines[1].ends_with(" outage.declare"), "{log}");
}

/// Commands that only read never change the database's schema (an older daemon may still run
/// on it): on a database not migrated yet they say so, and change nothing.
#[test]
fn reading_commands_do_not_migrate_and_say_when_the_database_is_behind() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), 25, 100);
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .args(["status"])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(!out.status.success(), "status on an empty database");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("absage db migrate"), "{said}");
    absage(&config, &["db", "migrate"]);
    let out = absage(&config, &["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(status["queue"].is_array(), "{status}");
}

/// Ctrl-C (or SIGTERM) stops a command other than `run` where it is: here an import whose
/// export server accepted the connection and never answers. It used to go on until the
/// download timed out, whatever the operator pressed; the next import is not kept waiting.
#[test]
fn ctrl_c_stops_an_import_that_hangs_on_its_download() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), silent_relay(), 100);
    write_export(dir.path(), 10);
    let (accepted, connected) = std::sync::mpsc::channel();
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in server.incoming().flatten() {
            held.push(stream);
            let _ = accepted.send(());
        }
    });
    let hanging = dir.path().join("hanging.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &hanging,
        format!("{text}\n[sources.http]\nurl = \"http://127.0.0.1:{port}/export.csv\"\n"),
    )
    .unwrap();
    let mut import = Command::new(BIN)
        .arg("--config")
        .arg(&hanging)
        .arg("import")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    connected
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the import asks for its export");
    Command::new("kill")
        .arg("-INT")
        .arg(import.id().to_string())
        .status()
        .unwrap();
    let status = wait_until(
        "the import to stop",
        std::time::Duration::from_secs(10),
        || import.try_wait().unwrap(),
    );
    let mut stderr = String::new();
    std::io::Read::read_to_string(import.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    // The interrupted run's lease does not hold up the next import of the source.
    let out = absage(&config, &["import", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["outcome"], "applied", "{report}");
}
