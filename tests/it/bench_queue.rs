//! The queue's own overhead (the speed issue): N notifications drained through the real store
//! and dispatcher (`Dispatcher::run`, as the daemon runs it) with a transport that accepts every
//! message at once, so what is measured is claiming, leasing and recording. On SQLite, or on
//! PostgreSQL with `ABSAGE_TEST_POSTGRES`; by 1 or more instances, each with its own pool (as
//! separate processes would be) draining one queue. A benchmark, not a test: ignored in the
//! suite; `scripts/bench queue` runs it in release and reports messages per second.

use crate::helpers::*;
use absage::config::ChannelPolicy;
use absage::dispatch::Dispatcher;
use absage::dispatch::destinations::{Deliver, Destinations, Prepared};
use absage::dispatch::outcome::{SendFailure, Sent};
use absage::domain::notification::Channel;
use absage::domain::outage::Scope;
use absage::store::Store;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Accepts every message at once, counting them.
#[derive(Default)]
struct Accept(AtomicU64);

impl Deliver for Accept {
    fn deliver<'a>(
        &'a self,
        _message: &'a Prepared,
    ) -> futures::future::BoxFuture<'a, Result<Sent, SendFailure>> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Box::pin(async { Ok(Sent { provider_id: None }) })
    }
}

pub(crate) fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `n` bookings with an email and no mobile, spread over one day: one message each.
fn calendar(n: usize) -> Vec<Row> {
    (0..n)
        .map(|i| {
            let minute = i % 600;
            let start = format!("2030-01-08 {:02}:{:02}", 8 + minute / 60, minute % 60);
            Row::new(&format!("Q{i:07}"), &start).phone("")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: scripts/bench queue (release)"]
async fn queue_overhead_messages_per_second() {
    let n: usize = env_or("BENCH_QUEUE_N", 20_000);
    let rounds: String = env_or("BENCH_QUEUE_INSTANCES", "1".to_owned());
    let backend = match std::env::var("ABSAGE_TEST_POSTGRES") {
        Ok(_) => "postgresql",
        Err(_) => "sqlite",
    };
    for instances in rounds
        .split_whitespace()
        .map(|k| k.parse::<usize>().unwrap())
    {
        let t = TestApp::with_rows(ChannelPolicy::Both, &calendar(n)).await;
        let impact = t
            .declare("2030-01-08 00:00", "2030-01-09 00:00", Scope::default())
            .await;
        assert_eq!(impact.per_channel.get("email"), Some(&(n as i64)));
        let settings = &t.app.ctx.settings;
        let url = settings.database.url.expose().to_owned();
        let mut counters = Vec::new();
        let mut dispatchers = Vec::new();
        for _ in 0..instances {
            let store = Store::connect(&url, settings.database.max_connections)
                .await
                .unwrap();
            let accept = Arc::new(Accept::default());
            let destinations = Destinations::from_settings(settings, &store)
                .unwrap()
                .with_given(Channel::Email, "accept", accept.clone());
            counters.push(accept);
            dispatchers.push(Dispatcher::new(
                store,
                settings.queue.clone(),
                &settings.tenants,
                t.app.ctx.templates.clone(),
                destinations,
                t.clock.as_clock(),
                Arc::default(),
            ));
        }
        let started = std::time::Instant::now();
        let runs: Vec<_> = dispatchers
            .into_iter()
            .map(|d| {
                tokio::spawn(async move {
                    d.run(tokio_util::sync::CancellationToken::new(), true)
                        .await
                })
            })
            .collect();
        for r in runs {
            r.await.unwrap().unwrap();
        }
        let took = started.elapsed().as_secs_f64();
        let shares: Vec<u64> = counters
            .iter()
            .map(|c| c.0.load(Ordering::Relaxed))
            .collect();
        let total: u64 = shares.iter().sum();
        assert_eq!(total, n as u64, "every message once");
        println!(
            "queue {backend}: {n} messages, {instances} instance(s): {took:.3} s = {:.0} msg/s; \
             per instance {shares:?}",
            n as f64 / took
        );
    }
}

/// The yardstick between smtp-source and the daemon: absage's own SMTP client alone — the
/// MIME message built per send (`build_message`) and sent through `SmtpRelay` (lettre's
/// connection, absage's pool) over BENCH_SESSIONS connections — with no queue and no database.
/// `scripts/bench email` runs it against the same smtp-sink (port in BENCH_SINK_PORT).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: scripts/bench email (release)"]
async fn relay_alone_messages_per_second() {
    use absage::config::{SmtpRelayConfig, TlsMode};
    use absage::dispatch::email::{OutgoingEmail, SmtpRelay, build_message};
    let n: usize = env_or("BENCH_EMAIL_N", 20_000);
    let sessions: usize = env_or("BENCH_SESSIONS", 20);
    let port: u16 = env_or("BENCH_SINK_PORT", 0);
    assert_ne!(port, 0, "BENCH_SINK_PORT names the smtp-sink");
    let relay = Arc::new(
        SmtpRelay::new(SmtpRelayConfig {
            name: "sink".into(),
            host: "127.0.0.1".into(),
            port,
            tls: TlsMode::None,
            username: None,
            password: None,
            concurrency: sessions,
            timeout_secs: 30,
            hello_name: Some("absage.test".into()),
            danger_accept_invalid_certs: false,
        })
        .unwrap(),
    );
    // A message like the shipped German cancellation: about 500 bytes of text, 1.9 kB of HTML,
    // with umlauts (quoted-printable).
    let text = "Guten Tag Person 1,\n\nIhr Termin am Montag, 7. Januar 2030 um 09:00 Uhr \
                (Zulassung, Straßenverkehrsamt Soest) fällt aus: IT-Ausfall.\n"
        .repeat(4);
    let html = format!("<html><body><p>{}</p></body></html>", text.repeat(4));
    let started = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let (relay, text, html) = (relay.clone(), text.clone(), html.clone());
        tasks.spawn(async move {
            let (envelope, bytes) = build_message(&OutgoingEmail {
                message_id: format!("n{i}.bench@absage.test"),
                return_path: None,
                from: "Kreis Soest <termine@kreis-soest.example>".parse().unwrap(),
                reply_to: None,
                to: format!("person{i}@example.org").parse().unwrap(),
                subject: "Ihr Termin am 07.01.2030 um 09:00 fällt aus".into(),
                text,
                html: Some(html),
            })
            .unwrap();
            relay.send(&envelope, &bytes).await.is_ok()
        });
    }
    let mut sent = 0;
    while let Some(ok) = tasks.join_next().await {
        sent += usize::from(ok.unwrap());
    }
    let took = started.elapsed().as_secs_f64();
    assert_eq!(sent, n, "every message accepted");
    println!(
        "relay alone: {n} messages, {sessions} sessions: {took:.3} s = {:.0} msg/s",
        n as f64 / took
    );
}

/// The SMS yardstick between `ab -k` and the daemon: absage's gateway client alone (reqwest,
/// the Kannel request absage makes) over BENCH_SMS_CONCURRENCY connections, no queue and no
/// database. `scripts/bench sms` runs it against the same Kannel (sendsms URL in
/// BENCH_KANNEL_URL) with the text the daemon sends (BENCH_SMS_TEXT).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: scripts/bench sms (release)"]
async fn gateway_alone_messages_per_second() {
    let SmsBench {
        n,
        concurrency,
        text,
        gateway,
    } = SmsBench::from_env();
    let started = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let (gateway, text) = (gateway.clone(), text.clone());
        tasks.spawn(async move { gateway.send(&sms(i as i64, text)).await.is_ok() });
    }
    let mut sent = 0;
    while let Some(ok) = tasks.join_next().await {
        sent += usize::from(ok.unwrap());
    }
    let took = started.elapsed().as_secs_f64();
    assert_eq!(sent, n, "every SMS accepted");
    println!(
        "gateway alone: {n} SMS, {concurrency} connections: {took:.3} s = {:.0} SMS/s",
        n as f64 / took
    );
}

/// The SMS bound: the daemon's work in the simplest program that does all of it. It claims
/// 500 at a time from a durable queue (one SQLite table, WAL and `synchronous = full` as
/// absage's store, through sqlx's own SQLite driver, not its `Any` layer), sends each through
/// absage's Kannel client, and records what went out in one statement per group of finished
/// sends as the daemon groups them, so that nothing sent is sent again after a crash. No
/// leases, tenants, texts, failover, retries or expiry. `scripts/bench sms` runs it beside
/// `ab -k` and the daemon.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: scripts/bench sms (release)"]
async fn durable_queue_minimal_messages_per_second() {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    let SmsBench {
        n,
        concurrency,
        text,
        gateway,
    } = SmsBench::from_env();
    let n = n as i64;
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteConnectOptions::new()
        .filename(dir.path().join("queue.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    sqlx::query(
        "create table outbox (id integer primary key, to_e164 text not null, \
         body text not null, state text not null default 'queued', sent_at integer)",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "with recursive s(i) as (select 0 union all select i + 1 from s where i + 1 < $1) \
         insert into outbox (to_e164, body) select printf('+49171%07d', i), $2 from s",
    )
    .bind(n)
    .bind(&text)
    .execute(&pool)
    .await
    .unwrap();

    let started = std::time::Instant::now();
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<i64>();
    let recorder = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut recorded = 0;
            let mut group = Vec::new();
            // As the daemon: a group waits up to 5 ms for up to 64 outcomes (one fsync each).
            while let Some(first) = done_rx.recv().await {
                group.push(first);
                let until = tokio::time::Instant::now() + std::time::Duration::from_millis(5);
                while group.len() < 64 {
                    match tokio::time::timeout_at(until, done_rx.recv()).await {
                        Ok(Some(id)) => group.push(id),
                        Ok(None) | Err(_) => break,
                    }
                }
                let at = chrono::Utc::now().timestamp_millis();
                let ids = serde_json::to_string(&group).unwrap();
                let r = sqlx::query(
                    "update outbox set state = 'sent', sent_at = $1 \
                     where id in (select value from json_each($2))",
                )
                .bind(at)
                .bind(ids)
                .execute(&pool)
                .await
                .unwrap();
                recorded += r.rows_affected();
                group.clear();
            }
            recorded
        })
    };
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "update outbox set state = 'sending' where id in \
             (select id from outbox where state = 'queued' order by id limit 500) \
             returning id, to_e164, body",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        if rows.is_empty() {
            break;
        }
        for (id, to, body) in rows {
            let (gateway, done) = (gateway.clone(), done_tx.clone());
            tasks.spawn(async move {
                let mut m = sms(id, body);
                m.to_e164 = to;
                if gateway.send(&m).await.is_ok() {
                    let _ = done.send(id);
                }
            });
        }
        // The next claim while half a batch is still out, as the daemon claims ahead.
        while tasks.len() > 250 && tasks.join_next().await.is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    drop(done_tx);
    let recorded = recorder.await.unwrap();
    let took = started.elapsed().as_secs_f64();
    assert_eq!(recorded, n as u64, "every SMS accepted and recorded");
    println!(
        "durable queue, minimal: {n} SMS, {concurrency} connections: {took:.3} s = {:.0} SMS/s",
        n as f64 / took
    );
}

/// What the SMS benchmarks send, from `scripts/bench sms`: BENCH_SMS_N messages of
/// BENCH_SMS_TEXT over BENCH_SMS_CONCURRENCY connections, through absage's client of the Kannel
/// at BENCH_KANNEL_URL (with the benchmark's user and password).
struct SmsBench {
    n: usize,
    concurrency: usize,
    text: String,
    gateway: Arc<absage::dispatch::sms::SmsGateway>,
}

impl SmsBench {
    fn from_env() -> SmsBench {
        use absage::config::{KannelConfig, SmsGatewayConfig};
        let concurrency: usize = env_or("BENCH_SMS_CONCURRENCY", 16);
        let url: String = env_or("BENCH_KANNEL_URL", String::new());
        assert!(!url.is_empty(), "BENCH_KANNEL_URL names Kannel's sendsms");
        let gateway =
            absage::dispatch::sms::SmsGateway::new(SmsGatewayConfig::Kannel(KannelConfig {
                name: "kannel".into(),
                url,
                username: "tester".into(),
                password: absage::secret::Secret::new("foobar"),
                smsc: None,
                concurrency,
                timeout_secs: 30,
            }));
        SmsBench {
            n: env_or("BENCH_SMS_N", 5_000),
            concurrency,
            text: env_or("BENCH_SMS_TEXT", "Ihr Termin fällt aus.".to_owned()),
            gateway: Arc::new(gateway.unwrap()),
        }
    }
}

/// An SMS of the benchmark: `text` to a made-up mobile number, from the county's sender id.
fn sms(id: i64, text: String) -> absage::dispatch::sms::SmsMessage {
    absage::dispatch::sms::SmsMessage {
        id,
        to_e164: format!("+49171{id:07}"),
        from: "KreisSoest".into(),
        ucs2: false,
        text,
        dlr_url: None,
        dlr_ref: None,
        validity_minutes: Some(600),
    }
}
