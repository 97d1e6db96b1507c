//! Several `absage run` processes against one PostgreSQL: they share the queue, nothing is sent
//! twice, nothing is stranded when one dies, and a database restart is survived.

use crate::process::{
    Daemon, absage, assert_no_personal_data_in_logs, declare_all, spawn_named, write_config,
    write_export,
};
use crate::support::peers::{Kannel, SinkMode, SmtpSink, wait_until};
use crate::support::postgres::Postgres;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A config for instances sharing `db`: email to the sink, SMS to Kannel when given.
fn config(dir: &Path, db: &str, sink: &SmtpSink, kannel: Option<&Kannel>, rate: u32) -> PathBuf {
    let path = write_config(dir, sink.addr.port(), rate);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text = text.replace(
        &format!("url = \"sqlite://{}/absage.db\"", dir.display()),
        &format!("url = \"{db}\""),
    );
    if let Some(k) = kannel {
        // A timeout below ¾ of the 4-second lease, as `config check` demands.
        text = text.replace(
            "email = \"email\"\n",
            "email = \"email\"\nphone = \"phone\"\n",
        );
        text.push_str(&format!(
            "[sms]\ntransport = \"network\"\n[[sms.gateways]]\nkind = \"kannel\"\nname = \"kannel\"\nurl = \"{}\"\nusername = \"{}\"\npassword = \"{}\"\ntimeout_secs = 2\n",
            k.sendsms_url, k.username, k.password
        ));
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// An export with email and mobile numbers: `n` bookings two days ahead.
fn export_with_phones(dir: &Path, n: usize) {
    write_export(dir, n);
    let text = std::fs::read_to_string(dir.join("export.csv")).unwrap();
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        if i == 0 {
            out.push_str(&format!("{line},phone\n"));
        } else {
            out.push_str(&format!("{line},0171 7{:06}\n", i - 1));
        }
    }
    std::fs::write(dir.join("export.csv"), out).unwrap();
}

/// How often each message arrived. A dump file smtp-sink is still writing has no headers yet:
/// it is counted once it is complete.
fn per_message_id(sink: &SmtpSink) -> HashMap<String, usize> {
    let ids = wait_until("complete dump files", Duration::from_secs(10), || {
        let ids: Option<Vec<String>> = sink.messages().into_iter().map(|m| m.message_id).collect();
        ids
    });
    let mut per_id = HashMap::new();
    for id in ids {
        *per_id.entry(id).or_insert(0) += 1;
    }
    per_id
}

/// The most of `times` that fall within any one second (a sliding window, not calendar seconds).
fn busiest_second(times: &[SystemTime]) -> usize {
    let mut start = 0;
    let mut most = 0;
    for (end, t) in times.iter().enumerate() {
        while t.duration_since(times[start]).unwrap_or_default() >= Duration::from_secs(1) {
            start += 1;
        }
        most = most.max(end - start + 1);
    }
    most
}

fn wait_all_exit(runs: &mut [Daemon]) {
    for run in runs.iter_mut() {
        let status = wait_until("an instance to finish", Duration::from_secs(120), || {
            run.0.try_wait().unwrap()
        });
        assert!(status.success(), "instance exited with {status:?}");
    }
}

#[test]
fn three_instances_share_one_queue_and_send_every_message_exactly_once() {
    const N: usize = 300;
    let pg = Postgres::start();
    let db = pg.database("absage");
    let (sink, kannel) = (SmtpSink::start(SinkMode::Accept), Kannel::start());
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &db, &sink, Some(&kannel), 200);
    export_with_phones(dir.path(), N);
    absage(&cfg, &["import"]);
    declare_all(&cfg);
    let mut runs: Vec<Daemon> = (0..3)
        .map(|i| {
            spawn_named(
                &cfg,
                dir.path(),
                &format!("instance-{i}"),
                &["--exit-when-idle"],
            )
        })
        .collect();
    wait_all_exit(&mut runs);
    let per_id = per_message_id(&sink);
    assert_eq!(per_id.len(), N);
    assert!(per_id.values().all(|n| *n == 1), "an email went out twice");
    let sms = wait_until("every SMS at fakesmsc", Duration::from_secs(30), || {
        let r = kannel.received();
        (r.len() >= N).then_some(r)
    });
    let mut per_to: HashMap<String, usize> = HashMap::new();
    for m in &sms {
        *per_to.entry(m.to.clone()).or_default() += 1;
    }
    assert_eq!(per_to.len(), N);
    assert!(per_to.values().all(|n| *n == 1), "an SMS went out twice");
    assert_no_personal_data_in_logs(dir.path());
}

#[test]
fn when_one_instance_is_killed_the_other_finishes_its_work_after_the_lease() {
    const N: usize = 600;
    let pg = Postgres::start();
    let db = pg.database("absage");
    let sink = SmtpSink::start(SinkMode::Accept);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &db, &sink, None, 100);
    write_export(dir.path(), N);
    absage(&cfg, &["import"]);
    declare_all(&cfg);
    let mut doomed = spawn_named(&cfg, dir.path(), "doomed", &[]);
    let mut survivor = spawn_named(&cfg, dir.path(), "survivor", &["--exit-when-idle"]);
    wait_until("a third of the mail", Duration::from_secs(60), || {
        (sink.messages().len() >= N / 3).then_some(())
    });
    doomed.0.kill().unwrap(); // SIGKILL
    doomed.0.wait().unwrap();
    let status = wait_until("the survivor to finish", Duration::from_secs(120), || {
        survivor.0.try_wait().unwrap()
    });
    assert!(status.success());
    let per_id = per_message_id(&sink);
    assert_eq!(per_id.len(), N, "nothing lost");
    let duplicates: usize = per_id.values().map(|n| n - 1).sum();
    eprintln!("kill -9 of one of two instances: {duplicates} duplicates");
    assert!(
        duplicates <= 50,
        "duplicates ({duplicates}) bounded by one claimed batch"
    );
}

/// Two instances send `n` emails through the sink; once a quarter is out, `fault` strikes the
/// database. Every email must arrive, and none twice.
fn two_instances_ride_out(n: usize, fault: impl FnOnce(&Postgres)) {
    let pg = Postgres::start();
    let db = pg.database("absage");
    let sink = SmtpSink::start(SinkMode::Accept);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &db, &sink, None, 100);
    write_export(dir.path(), n);
    absage(&cfg, &["import"]);
    declare_all(&cfg);
    let mut runs: Vec<Daemon> = (0..2)
        .map(|i| {
            spawn_named(
                &cfg,
                dir.path(),
                &format!("instance-{i}"),
                &["--exit-when-idle"],
            )
        })
        .collect();
    wait_until("some mail", Duration::from_secs(60), || {
        (sink.messages().len() >= n / 4).then_some(())
    });
    fault(&pg);
    wait_all_exit(&mut runs);
    let per_id = per_message_id(&sink);
    assert_eq!(per_id.len(), n, "nothing lost");
    let twice: Vec<&String> = per_id
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id)
        .collect();
    assert!(twice.is_empty(), "sent more than once: {twice:?}");
}

#[test]
fn instances_ride_out_a_database_restart_without_losing_or_repeating() {
    two_instances_ride_out(400, Postgres::restart);
}

/// PostgreSQL crashes and is away for longer than a lease (a failover): each instance has
/// sends out that it cannot record, and every lease and heartbeat runs out meanwhile. Whichever
/// instance reaches the database first must not take the other's claims while that one can
/// still come back and record them. Before, a crash of 3 s made 5–15 of 2,000 emails go out
/// twice.
#[test]
fn instances_ride_out_a_database_crash_longer_than_a_lease_without_sending_twice() {
    // The lease is 4 s, a heartbeat lives 3 s.
    two_instances_ride_out(1000, |pg| pg.crash_for(Duration::from_secs(6)));
}

#[test]
fn an_idle_instance_is_woken_at_once_by_a_declaration_from_another_process() {
    let pg = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    is_woken_at_once(dir.path(), &pg.database("absage"));
}

/// SQLite has no `NOTIFY`: the daemon watches the database's commits instead.
#[test]
fn an_idle_sqlite_daemon_is_woken_at_once_by_a_declaration_from_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/absage.db", dir.path().display());
    is_woken_at_once(dir.path(), &db);
}

/// An idle daemon on `db` sends what another process declared long before its next idle poll.
fn is_woken_at_once(dir: &Path, db: &str) {
    let sink = SmtpSink::start(SinkMode::Accept);
    let cfg = config(dir, db, &sink, None, 1000);
    // Without a wake-up the idle daemon would look again only after a minute.
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("idle_poll_ms = 100", "idle_poll_ms = 60000");
    std::fs::write(&cfg, text).unwrap();
    write_export(dir, 5);
    absage(&cfg, &["import"]);
    let _run = spawn_named(&cfg, dir, "idle", &[]);
    let log = dir.join("idle.log");
    wait_until("the daemon to listen", Duration::from_secs(30), || {
        std::fs::read_to_string(&log)
            .ok()
            .filter(|l| l.contains("listening for work"))
            .map(|_| ())
    });
    declare_all(&cfg);
    wait_until(
        "the five emails, well before the minute is up",
        Duration::from_secs(20),
        || (sink.messages().len() >= 5).then_some(()),
    );
}

#[test]
fn two_instances_share_a_relays_rate_limit_and_send_every_message_exactly_once() {
    const N: usize = 200;
    const RATE: u32 = 40; // for both instances together
    let pg = Postgres::start();
    let db = pg.database("absage");
    let sink = SmtpSink::start(SinkMode::Accept);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &db, &sink, None, RATE);
    write_export(dir.path(), N);
    absage(&cfg, &["import"]);
    let _runs: Vec<Daemon> = (0..2)
        .map(|i| spawn_named(&cfg, dir.path(), &format!("instance-{i}"), &[]))
        .collect();
    let started = std::time::Instant::now();
    declare_all(&cfg);
    wait_until("every email", Duration::from_secs(60), || {
        (sink.messages().len() >= N).then_some(())
    });
    let took = started.elapsed();
    // Shared: 200 at 40/s, evenly = 5 s. Each at the full rate: 2.5 s. A slow machine only
    // makes it longer.
    assert!(
        took >= Duration::from_secs(4),
        "{N} emails in {took:?}: faster than the shared limit of {RATE}/s allows"
    );
    let per_id = per_message_id(&sink);
    assert_eq!(per_id.len(), N, "nothing lost");
    assert!(
        per_id.values().all(|n| *n == 1),
        "two instances: every email exactly once"
    );
}

#[test]
fn three_instances_started_at_once_hold_a_shared_rate_limit_from_the_first_second_and_after_a_kill_9()
 {
    const RATE: usize = 150; // for the three together
    const ALLOWED: usize = RATE * 11 / 10;
    const N: usize = 5 * RATE;
    let pg = Postgres::start();
    let db = pg.database("absage");
    let sink = SmtpSink::start(SinkMode::Accept);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &db, &sink, None, RATE as u32);
    write_export(dir.path(), N);
    absage(&cfg, &["import"]);
    // The backlog is there before any instance starts, so all three take from it at once.
    declare_all(&cfg);
    let mut doomed = spawn_named(&cfg, dir.path(), "doomed", &[]);
    let mut survivors: Vec<Daemon> = (0..2)
        .map(|i| {
            spawn_named(
                &cfg,
                dir.path(),
                &format!("survivor-{i}"),
                &["--exit-when-idle"],
            )
        })
        .collect();
    wait_until(
        "two seconds' worth of mail",
        Duration::from_secs(60),
        || (sink.arrivals().len() >= 2 * RATE).then_some(()),
    );
    doomed.0.kill().unwrap(); // SIGKILL
    doomed.0.wait().unwrap();
    let killed_at = SystemTime::now();
    wait_all_exit(&mut survivors);
    assert_eq!(per_message_id(&sink).len(), N, "nothing lost");

    let arrivals = sink.arrivals();
    let after_kill: Vec<SystemTime> = arrivals
        .iter()
        .copied()
        .filter(|t| *t >= killed_at)
        .collect();
    let (whole, after) = (busiest_second(&arrivals), busiest_second(&after_kill));
    let took = arrivals[arrivals.len() - 1]
        .duration_since(arrivals[0])
        .unwrap_or_default();
    eprintln!(
        "3 instances under {RATE}/s: {} messages in {took:?}; busiest second {whole}, \
         busiest second after the kill -9 {after}",
        arrivals.len()
    );
    assert!(
        whole <= ALLOWED,
        "{whole} messages within one second: the shared limit of {RATE}/s did not hold"
    );
    assert!(
        after <= ALLOWED,
        "{after} messages within one second after the kill -9"
    );
    assert!(
        whole >= RATE * 2 / 3,
        "at most {whole} messages in a second: the limit is to be used, not only respected"
    );
}
