//! `TestApp`: the real application on a temporary SQLite file, with a clock the test moves.

use absage::app::App;
use absage::config::{ChannelPolicy, Settings, TenantSettings};
use absage::dispatch::{Clock, Dispatcher, StepOutcome};
use absage::domain::outage::{RunKind, Scope, Selection, Window};
use absage::import::{
    ImportMode, ImportOptions, ImportReport, SourceKind, SourceSettings,
    csv::CsvOptions,
    mapping::{FieldMapping, Formats},
};
use absage::lifecycle::{Declaration, Impact, declare};
use absage::secret::Secret;
use chrono::{DateTime, Duration, TimeZone, Utc};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Monday 7 January 2030, 06:00 Berlin time: the tests' "now" unless they move it.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 7, 5, 0, 0).unwrap()
}

/// A clock the test sets and advances.
#[derive(Clone)]
pub struct TestClock(Arc<Mutex<DateTime<Utc>>>);

impl TestClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Arc::new(Mutex::new(at)))
    }
    pub fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap() = at;
    }
    pub fn advance(&self, by: Duration) {
        let mut g = self.0.lock().unwrap();
        *g += by;
    }
    pub fn as_clock(&self) -> Clock {
        let inner = self.0.clone();
        Arc::new(move || *inner.lock().unwrap())
    }
}

/// One row of a test export.
#[derive(Clone, Debug)]
pub struct Row {
    pub key: String,
    /// Local Berlin time, "2030-01-07 09:00".
    pub start: String,
    pub minutes: u32,
    pub service: String,
    pub location: String,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub language: String,
}

impl Row {
    pub fn new(key: &str, start: &str) -> Row {
        let n: u64 = key.bytes().map(u64::from).sum::<u64>() * 7919 % 10_000_000;
        Row {
            key: key.into(),
            start: start.into(),
            minutes: 15,
            service: "Zulassung".into(),
            location: "Soest".into(),
            name: format!("Bürger {key}"),
            email: format!("{}@example.org", key.to_lowercase()),
            phone: format!("0171 {n:07}"),
            language: "de".into(),
        }
    }
    pub fn service(mut self, s: &str) -> Row {
        self.service = s.into();
        self
    }
    pub fn location(mut self, s: &str) -> Row {
        self.location = s.into();
        self
    }
    pub fn minutes(mut self, m: u32) -> Row {
        self.minutes = m;
        self
    }
    pub fn email(mut self, e: &str) -> Row {
        self.email = e.into();
        self
    }
    pub fn phone(mut self, p: &str) -> Row {
        self.phone = p.into();
        self
    }
    pub fn lang(mut self, l: &str) -> Row {
        self.language = l.into();
        self
    }
}

pub const HEADER: &str = "key,start,minutes,service,location,name,email,phone,language";

pub fn csv_text(rows: &[Row]) -> String {
    let mut s = String::from(HEADER);
    s.push('\n');
    for r in rows {
        s.push_str(&format!(
            "{},{},{},{},{},{},{},{},{}\n",
            r.key, r.start, r.minutes, r.service, r.location, r.name, r.email, r.phone, r.language
        ));
    }
    s
}

pub fn tenant(policy: ChannelPolicy) -> TenantSettings {
    TenantSettings {
        id: "soest".into(),
        name: "Kreis Soest".into(),
        time_zone: "Europe/Berlin".parse().unwrap(),
        default_language: "de".into(),
        fallback_languages: vec!["de".into()],
        hotline: "02921 30-0".into(),
        email_from: "Kreis Soest <termine@kreis-soest.example>".into(),
        reply_to: None,
        sms_sender: "KreisSoest".into(),
        channel_policy: policy,
        fallback_lead_minutes: 60,
        quiet_hours: None,
        quiet_hours_urgent_minutes: 120,
        bilingual: false,
        max_sms_segments: 4,
        sms_price_per_segment: Some(0.08),
        sms_price_per_country: Default::default(),
        sms_countries: None,
        currency: "EUR".into(),
        templates_dir: None,
        rebook_url: None,
        approval_threshold: None,
        approval_window_minutes: 24 * 60,
    }
}

/// Settings for a test: SQLite and outbox in `dir`, one tenant, one CSV source `export.csv`.
pub fn settings(dir: &std::path::Path, policy: ChannelPolicy) -> Settings {
    let mut s = Settings::default();
    s.database.url = Secret::new(format!("sqlite://{}/absage.db", dir.display()));
    s.outbox.dir = dir.join("outbox");
    s.templates.dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/templates");
    s.tenants = vec![tenant(policy)];
    s.sources = vec![SourceSettings {
        name: "termine".into(),
        tenant: "soest".into(),
        kind: SourceKind::Csv,
        path: dir.join("export.csv"),
        schedule: None,
        mode: ImportMode::Full,
        max_removal_share: 0.5,
        watch_secs: None,
        stale_after_minutes: Some(60),
        csv: CsvOptions::default(),
        json: Default::default(),
        ics: Default::default(),
        sheet: Default::default(),
        sql: Default::default(),
        http: Default::default(),
        limits: Default::default(),
        fields: FieldMapping {
            key: "key".into(),
            date: "start".into(),
            time: None,
            end: None,
            duration: Some("minutes".into()),
            service: "service".into(),
            location: Some("location".into()),
            name: "name".into(),
            email: Some("email".into()),
            phone: Some("phone".into()),
            language: Some("language".into()),
            status: None,
        },
        formats: Formats::default(),
    }];
    s.queue.retry_delays_secs = vec![30, 60];
    s.queue.retry_jitter = 0.0;
    s.queue.probe_interval_secs = 30;
    s.queue.down_after_failures = 2;
    // A handed-over message is evidence at once, as before evidence was asked for; the tests
    // of the quiet period set their own.
    s.bounces.quiet_minutes = 0;
    s
}

/// The application under test.
pub struct TestApp {
    pub dir: tempfile::TempDir,
    pub app: App,
    pub clock: TestClock,
}

/// When `ABSAGE_TEST_POSTGRES` holds an admin URL (`scripts/test` sets it for its second round),
/// every test gets a fresh PostgreSQL database instead of its SQLite file.
pub async fn test_database_url(sqlite: String) -> String {
    let Ok(admin) = std::env::var("ABSAGE_TEST_POSTGRES") else {
        return sqlite;
    };
    use sqlx::Connection;
    let name = format!("absage_test_{:016x}", rand::random::<u64>());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("connect to the test PostgreSQL");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("create database {name}")))
        .execute(&mut conn)
        .await
        .expect("create a test database");
    let (base, _) = admin
        .rsplit_once('/')
        .expect("an admin URL ending in /DATABASE");
    format!("{base}/{name}")
}

impl TestApp {
    /// Adds an account of the admin API and the web UI (`password` for the UI's login).
    pub async fn add_account(
        &self,
        name: &str,
        tenant: &str,
        role: absage::domain::account::Role,
        password: Option<&str>,
    ) {
        let new = absage::accounts::NewAccount {
            name,
            tenant,
            role,
            password,
        };
        let (ctx, now) = (&self.app.ctx, self.clock.now());
        absage::accounts::add(&ctx.store, &ctx.settings, &new, "test", now)
            .await
            .expect("account added");
    }

    /// Serves this application's router on a free loopback port until the token is cancelled;
    /// returns its base URL.
    pub async fn serve_http(&self) -> (String, tokio_util::sync::CancellationToken) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = absage::http::router(self.app.http_state());
        let stop = tokio_util::sync::CancellationToken::new();
        tokio::spawn(absage::http::serve(listener, router, stop.clone()));
        (base, stop)
    }

    pub async fn start(dir: tempfile::TempDir, mut settings: Settings) -> TestApp {
        let url = test_database_url(settings.database.url.expose().to_owned()).await;
        settings.database.url = Secret::new(url);
        let clock = TestClock::new(t0());
        let app = App::build_with_clock(settings, clock.as_clock())
            .await
            .expect("app builds");
        TestApp { dir, app, clock }
    }

    /// A default app (file outbox) with the given rows imported.
    pub async fn with_rows(policy: ChannelPolicy, rows: &[Row]) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let s = settings(dir.path(), policy);
        let t = TestApp::start(dir, s).await;
        t.write_export(rows);
        let r = t.import().await;
        assert_eq!(r.counts.rows_rejected, 0, "{:?}", r.rejected);
        t
    }

    pub fn write_export(&self, rows: &[Row]) {
        std::fs::write(self.dir.path().join("export.csv"), csv_text(rows)).unwrap();
    }

    pub async fn import(&self) -> ImportReport {
        self.import_with(ImportOptions::default()).await
    }

    /// `absage import --force`: read in full, past the removal safeguard and whether or not
    /// the export was read before.
    pub async fn import_forced(&self) -> ImportReport {
        self.import_with(ImportOptions {
            force: true,
            ..Default::default()
        })
        .await
    }

    pub async fn import_with(&self, opts: ImportOptions) -> ImportReport {
        let source = self.app.ctx.settings.sources[0].clone();
        let report = self
            .app
            .import(&source, &opts, &|_| {})
            .await
            .expect("import runs");
        let c = &report.counts;
        assert_eq!(
            c.rows_read,
            c.imported() + c.rows_rejected,
            "{}",
            c.conservation(report.outcome == absage::import::Outcome::Applied)
        );
        report
    }

    pub fn local(&self, s: &str) -> DateTime<Utc> {
        absage::lifecycle::parse_instant(s, "Europe/Berlin".parse().unwrap()).unwrap()
    }

    pub async fn declare(&self, from: &str, to: &str, scope: Scope) -> Impact {
        self.try_declare(from, to, scope, false)
            .await
            .expect("declares")
    }

    pub async fn try_declare(
        &self,
        from: &str,
        to: &str,
        scope: Scope,
        dry_run: bool,
    ) -> anyhow::Result<Impact> {
        let decl = Declaration {
            tenant: "soest".into(),
            kind: RunKind::Outage,
            selection: Selection::Window {
                window: Window::new(self.local(from), self.local(to)).unwrap(),
                scope,
            },
            reason: "IT-Ausfall nach Cyberangriff".into(),
            created_by: "test".into(),
        };
        let impact = declare::declare(&self.app.ctx, &decl, self.clock.now(), dry_run).await?;
        assert!(impact.conservation.holds(), "{}", impact.conservation);
        Ok(impact)
    }

    pub fn dispatcher(&self) -> Dispatcher {
        self.app.dispatcher().expect("dispatcher")
    }

    /// Steps until a step finds nothing to do; returns every step's outcome.
    pub async fn drain(&self, d: &Dispatcher) -> Vec<StepOutcome> {
        let mut steps = Vec::new();
        for _ in 0..10_000 {
            let o = d.step().await.expect("step");
            let idle = o.idle();
            steps.push(o);
            if idle {
                return steps;
            }
        }
        panic!("the queue did not drain in 10,000 steps");
    }

    /// Drains the queue into the file outbox and reads back every email there, by booking key
    /// and in queue order: the text the citizen gets, written when it was sent.
    pub async fn sent_emails(&self) -> Vec<SentEmail> {
        self.drain(&self.dispatcher()).await;
        let dir = self.app.ctx.settings.outbox.dir.join("email");
        let mut conn = self.app.ctx.store.conn().await.unwrap();
        let sent: Vec<(i64, String, String)> = sqlx::query_as(
            "select n.id, b.booking_key, n.language from notifications n \
             join bookings b on b.id = n.booking_id \
             where n.channel = 'email' and n.state = 'sent' order by n.id",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        sent.into_iter()
            .map(|(id, key, language)| {
                let raw = std::fs::read(dir.join(format!("{id}.eml"))).expect("the email file");
                let email = mail_parser::MessageParser::default()
                    .parse(&raw)
                    .expect("a readable email");
                SentEmail {
                    key,
                    language,
                    subject: email.subject().unwrap_or_default().to_owned(),
                    text: email.body_text(0).unwrap_or_default().into_owned(),
                }
            })
            .collect()
    }

    /// Every notification with its booking key, in queue order.
    pub async fn notifications(&self) -> Vec<Notif> {
        let mut conn = self.app.ctx.store.conn().await.unwrap();
        sqlx::query_as::<_, Notif>(
            "select b.booking_key as key, n.channel, n.state, n.attempts, n.recipient, \
             n.deadline, n.sent_at, n.language, n.body_text from notifications n \
             join bookings b on b.id = n.booking_id order by n.id",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap()
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Notif {
    pub key: String,
    pub channel: String,
    pub state: String,
    pub attempts: i64,
    pub recipient: String,
    pub deadline: i64,
    pub sent_at: Option<i64>,
    pub language: String,
    /// The stored text: an SMS's, or none for an email (written when sent; see
    /// [`TestApp::sent_emails`]).
    pub body_text: Option<String>,
}

/// An email as the file outbox holds it, read back as a mail program would.
#[derive(Debug, Clone)]
pub struct SentEmail {
    pub key: String,
    pub language: String,
    pub subject: String,
    pub text: String,
}

pub fn count(ns: &[Notif], f: impl Fn(&Notif) -> bool) -> usize {
    ns.iter().filter(|n| f(n)).count()
}

pub fn scope(services: &[&str], locations: &[&str]) -> Scope {
    Scope {
        services: services.iter().map(|s| s.to_string()).collect(),
        locations: locations.iter().map(|s| s.to_string()).collect(),
    }
}

/// A booking's own report (its page reads only its messages) is the row the whole report has
/// for it, for every booking the outage ever targeted.
pub async fn assert_each_booking_reports_alone_as_in_the_whole(t: &TestApp, outage: i64) {
    let (_, rows) = absage::reports::report(&t.app.ctx, outage).await.unwrap();
    assert!(!rows.is_empty());
    for row in &rows {
        let alone = absage::reports::report_of_booking(&t.app.ctx, outage, &row.booking_key)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{} has no report of its own", row.booking_key));
        assert_eq!(format!("{alone:?}"), format!("{row:?}"));
    }
    let none = absage::reports::report_of_booking(&t.app.ctx, outage, "NO-SUCH-KEY").await;
    assert!(none.unwrap().is_none());
}

/// A process that runs on this machine (`sleep 60`, to kill when the test wants it gone) and
/// the name it would hold leases by ([`absage::owner::this_process`]'s form).
pub fn a_process_on_this_machine(prefix: &str) -> (std::process::Child, String) {
    let me = absage::owner::this_process();
    let place = me
        .rsplit_once('@')
        .expect("this machine names boot and namespace")
        .1
        .to_string();
    let running = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let name = format!("{prefix}host-{}-00c0ffee@{place}", running.id());
    (running, name)
}
