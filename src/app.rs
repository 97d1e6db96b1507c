//! Building the application (open the store, load templates, set up destinations) apart from
//! running it, so that tests boot the real thing; and the daemon: scheduled imports plus the
//! dispatcher, until the shutdown token fires.

use crate::config::{Settings, SourceSettings};
use crate::ctx::Ctx;
use crate::dispatch::destinations::Destinations;
use crate::dispatch::{Clock, Dispatcher, system_clock};
use crate::import::{self, ImportOptions};
use crate::messages::TemplateSet;
use crate::store::{Store, imports, leases, retention};
use anyhow::Context;
use chrono::{DateTime, Utc};
use std::str::FromStr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Everything a running absage holds.
pub struct App {
    /// The store, settings, templates and clock the service layer works with.
    pub ctx: Ctx,
    /// This process, as owner of leases.
    pub instance: String,
    /// Whether the dispatcher moves, for `/readyz`.
    pub progress: Arc<crate::dispatch::progress::Progress>,
}

impl App {
    /// Opens the database (applying migrations) and loads the templates.
    pub async fn build(settings: Settings) -> anyhow::Result<App> {
        Self::build_with_clock(settings, system_clock()).await
    }

    /// Opens the database as it is, without migrating it (for commands that only read): an
    /// error says so when a migration is missing.
    pub async fn open(settings: Settings) -> anyhow::Result<App> {
        Self::assemble(settings, system_clock(), false).await
    }

    pub async fn build_with_clock(settings: Settings, clock: Clock) -> anyhow::Result<App> {
        Self::assemble(settings, clock, true).await
    }

    async fn assemble(settings: Settings, clock: Clock, migrate: bool) -> anyhow::Result<App> {
        crate::tls::install();
        let store = Store::connect(
            settings.database.url.expose(),
            settings.database.max_connections,
        )
        .await?;
        if migrate {
            store.migrate().await?;
        } else {
            store.ready().await.context(
                "the database is not ready for this version of absage: run `absage db migrate` \
                 (or start the daemon, which migrates)",
            )?;
        }
        let templates = load_templates(&settings)?;
        use crate::config::Transport;
        if settings.email.transport == Transport::File || settings.sms.transport == Transport::File
        {
            // The outbox holds the messages, names and addresses included: for absage's user.
            let dir = &settings.outbox.dir;
            crate::private_files::private_dir(dir)
                .with_context(|| format!("outbox.dir: cannot create {}", dir.display()))?;
        }
        Ok(App {
            ctx: Ctx {
                settings: Arc::new(settings),
                store,
                templates: Arc::new(templates),
                clock,
            },
            instance: format!(
                "{}-{}-{:08x}",
                std::env::var("HOSTNAME").unwrap_or_else(|_| "absage".into()),
                std::process::id(),
                rand::random::<u32>()
            ),
            progress: Arc::default(),
        })
    }

    /// A dispatcher over this application's destinations.
    pub fn dispatcher(&self) -> anyhow::Result<Dispatcher> {
        Ok(Dispatcher::new(
            self.ctx.store.clone(),
            self.ctx.settings.queue.clone(),
            &self.ctx.settings.tenants,
            Destinations::from_settings(&self.ctx.settings, &self.ctx.store)?,
            self.ctx.clock.clone(),
            self.progress.clone(),
        ))
    }

    /// The listener's limits: `[http]`, with the connection cap lowered to what the limit of
    /// open files allows after the database and relays (raising the soft limit first).
    fn http_limits(&self) -> crate::http::server::Limits {
        let mut limits = crate::http::server::Limits::from_settings(&self.ctx.settings.http);
        if let Some(open_files) = crate::http::server::raise_open_files_limit() {
            let fitting = crate::http::server::fitting_connections(&self.ctx.settings, open_files);
            if fitting < limits.max_connections {
                tracing::warn!(
                    open_files,
                    configured = limits.max_connections,
                    max_connections = fitting,
                    "http.max_connections lowered to keep file descriptors for the database and relays; raise LimitNOFILE"
                );
                limits.max_connections = fitting;
            }
        }
        limits
    }

    /// Imports one source now, unless another run imports it right now ([`import::Busy`]).
    /// `opts.by` says who runs it; this process when empty.
    pub async fn import(
        &self,
        source: &SourceSettings,
        opts: &ImportOptions,
        progress: &(dyn Fn(u64) + Sync),
    ) -> anyhow::Result<import::ImportReport> {
        let tenant = self.ctx.settings.tenant(&source.tenant).with_context(|| {
            format!(
                "source {} names unknown tenant {}",
                source.name, source.tenant
            )
        })?;
        let mut opts = opts.clone();
        if opts.by.is_empty() {
            opts.by.clone_from(&self.instance);
        }
        import::run(
            &self.ctx.store,
            tenant,
            &self.ctx.templates,
            source,
            &opts,
            &*self.ctx.clock,
            progress,
        )
        .await
    }

    /// Marks failed the imports left `running` by processes that stopped (their source's lease
    /// ran out); the daemon does it at start. Returns how many.
    pub async fn fail_orphaned_imports(&self) -> anyhow::Result<u64> {
        let now = crate::domain::to_millis(self.ctx.now());
        let mut conn = self.ctx.store.conn().await?;
        let failed = imports::fail_orphans(&mut conn, now, import::lease::INTERRUPTED).await?;
        if failed > 0 {
            tracing::warn!(
                failed,
                "imports left running by a stopped process marked failed"
            );
        }
        Ok(failed)
    }

    /// Runs the scheduled imports and the dispatcher until `shutdown` fires (or, with
    /// `exit_when_idle`, until no notification is pending).
    pub async fn run_until_stopped(
        self,
        shutdown: CancellationToken,
        exit_when_idle: bool,
    ) -> anyhow::Result<()> {
        let app = Arc::new(self);
        app.fail_orphaned_imports().await?;
        let dispatcher = app.dispatcher()?;
        let tracker = TaskTracker::new();
        let scheduler_token = shutdown.child_token();
        if !app.ctx.settings.http.listen.is_empty() {
            let listener = tokio::net::TcpListener::bind(&app.ctx.settings.http.listen)
                .await
                .with_context(|| {
                    format!(
                        "http.listen: cannot listen on {}",
                        app.ctx.settings.http.listen
                    )
                })?;
            let limits = app.http_limits();
            tracing::info!(
                address = %listener.local_addr()?,
                max_connections = limits.max_connections,
                "serving /healthz, /readyz and /metrics"
            );
            let router = crate::http::router(crate::http::State::of(&app));
            let token = scheduler_token.clone();
            tracker.spawn(async move {
                if let Err(e) = crate::http::server::serve(listener, router, limits, token).await {
                    tracing::error!(error = %e, "the HTTP listener failed");
                }
            });
        }
        {
            let url = app.ctx.settings.database.url.expose().to_owned();
            let (wake, token) = (dispatcher.waker(), scheduler_token.clone());
            tracker.spawn(async move { Store::listen_for_work(&url, wake, token).await });
        }
        {
            let app = app.clone();
            let token = scheduler_token.clone();
            tracker.spawn(async move { app.schedule_imports(token).await });
        }
        for source in app
            .ctx
            .settings
            .sources
            .iter()
            .filter(|s| s.watch_secs.is_some())
        {
            let (app, source) = (app.clone(), source.clone());
            let token = scheduler_token.clone();
            tracker.spawn(async move { app.watch(&source, token).await });
        }
        {
            let app = app.clone();
            let token = scheduler_token.clone();
            tracker.spawn(async move { app.maintain(token).await });
        }
        tracing::info!(
            sources = app.ctx.settings.sources.len(),
            tenants = app.ctx.settings.tenants.len(),
            "absage running"
        );
        let result = dispatcher.run(shutdown.clone(), exit_when_idle).await;
        scheduler_token.cancel();
        tracker.close();
        let grace = std::time::Duration::from_secs(app.ctx.settings.queue.shutdown_grace_secs);
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            tracing::warn!("shutdown: an import was still running; it is rolled back");
        }
        app.ctx.store.close().await;
        result
    }

    /// Imports each scheduled source on its cron schedule, and once at start when it has never
    /// been imported successfully.
    async fn schedule_imports(&self, shutdown: CancellationToken) {
        let scheduled: Vec<Scheduled> = self
            .ctx
            .settings
            .sources
            .iter()
            .filter_map(|s| {
                let expr = s.schedule.as_deref()?;
                let tz = self.ctx.settings.tenant(&s.tenant)?.time_zone;
                cron::Schedule::from_str(expr).ok().map(|c| (s, c, tz))
            })
            .collect();
        if scheduled.is_empty() {
            return;
        }
        for (source, _, _) in &scheduled {
            let never = match self.ctx.store.conn().await {
                Ok(mut conn) => imports::last_applied(&mut conn, &source.tenant, &source.name)
                    .await
                    .ok()
                    .flatten()
                    .is_none(),
                Err(_) => false,
            };
            if never {
                self.scheduled_import(source, "schedule").await;
            }
        }
        loop {
            let now = self.ctx.now();
            let Some((when, due)) = next_due(&scheduled, now) else {
                return;
            };
            let wait = (when - now).to_std().unwrap_or_default();
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = shutdown.cancelled() => return,
            }
            for source in due {
                if shutdown.is_cancelled() {
                    return;
                }
                self.scheduled_import(source, "schedule").await;
            }
        }
    }

    /// Looks at a watched source's folder every `watch_secs` and imports a new export once it
    /// has stopped changing (see [`import::watch`]).
    async fn watch(&self, source: &SourceSettings, shutdown: CancellationToken) {
        let every = std::time::Duration::from_secs(source.watch_secs.unwrap_or(60).max(1));
        let mut watch = import::watch::Watch::default();
        tracing::info!(source = %source.name, every_secs = every.as_secs(), "watching for new exports");
        loop {
            let seen = import::watch::Seen::newest(&source.path);
            let last = match self.ctx.store.conn().await {
                Ok(mut conn) => imports::latest_of(&mut conn, &source.tenant, &source.name)
                    .await
                    .map_err(anyhow::Error::from),
                Err(e) => Err(e),
            };
            match last {
                Ok(last) => {
                    let last = last.map(|(file, started)| import::watch::LastImport {
                        file,
                        started: std::time::SystemTime::from(crate::domain::from_millis(started)),
                    });
                    if watch.look(seen, last.as_ref()) {
                        tracing::info!(source = %source.name, "a new export arrived");
                        self.scheduled_import(source, "watch").await;
                    }
                }
                Err(e) => {
                    tracing::warn!(source = %source.name, error = %format!("{e:#}"), "cannot look up the last import; watching on")
                }
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }

    /// Closes finished runs and purges old contact data every `retention.interval_minutes`.
    async fn maintain(&self, shutdown: CancellationToken) {
        let every = std::time::Duration::from_secs(
            u64::from(self.ctx.settings.retention.interval_minutes.max(1)) * 60,
        );
        loop {
            if let Err(e) = self.retention().await {
                tracing::error!(error = %format!("{e:#}"), "retention failed; trying again later");
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }

    /// Closes runs that are over and deletes contact data `retention.days` after; on one
    /// instance at a time. Returns None when another instance holds the job.
    pub async fn retention(&self) -> anyhow::Result<Option<(u64, retention::Purged)>> {
        let now = crate::domain::to_millis(self.ctx.now());
        let mut tx = self.ctx.store.begin().await?;
        if !leases::acquire(
            &mut tx,
            "retention",
            &self.instance,
            now,
            now + 10 * 60 * 1000,
        )
        .await?
        {
            return Ok(None);
        }
        let closed = retention::close_finished(&mut tx, now).await?;
        let cutoff = now - i64::from(self.ctx.settings.retention.days) * 24 * 3600 * 1000;
        let purged = retention::purge(&mut tx, cutoff, now).await?;
        leases::release(&mut tx, "retention", &self.instance).await?;
        tx.commit().await?;
        if closed > 0 || purged != retention::Purged::default() {
            tracing::info!(
                closed,
                purged_runs = purged.runs,
                purged_notifications = purged.notifications,
                purged_bookings = purged.bookings,
                "retention"
            );
        }
        Ok(Some((closed, purged)))
    }

    /// Imports a source on schedule or when its watched folder has a new export (`by`) —
    /// unless another instance, or this one's schedule or watch, imports it right now (the
    /// source's lease, see [`import::lease`]).
    async fn scheduled_import(&self, source: &SourceSettings, by: &str) {
        let opts = ImportOptions {
            by: format!("{}/{by}", self.instance),
            ..ImportOptions::default()
        };
        match self.import(source, &opts, &|_| {}).await {
            Ok(r) => {
                tracing::info!(source = %r.source, outcome = ?r.outcome, read = r.counts.rows_read, new = r.counts.rows_new, updated = r.counts.rows_updated, removed = r.counts.rows_removed, rejected = r.counts.rows_rejected, message = r.message.as_deref().unwrap_or(""), "scheduled import")
            }
            Err(e) if e.is::<import::Busy>() => {
                tracing::debug!(source = %source.name, "another run imports this source right now");
            }
            Err(e) => {
                tracing::error!(source = %source.name, error = %format!("{e:#}"), "scheduled import failed")
            }
        }
    }
}

/// The shared templates and every tenant's own, checked at once.
pub fn load_templates(settings: &Settings) -> anyhow::Result<TemplateSet> {
    let overrides = settings
        .tenants
        .iter()
        .filter_map(|t| t.templates_dir.as_deref().map(|d| (t.id.as_str(), d)));
    TemplateSet::load(&settings.templates.dir, overrides)
}

/// A source with its cron schedule, read in its tenant's time zone ("0 0 6 * * *" is 06:00 local).
pub type Scheduled<'a> = (&'a SourceSettings, cron::Schedule, chrono_tz::Tz);

/// The next time any schedule fires after `now`, and the sources due then.
pub fn next_due<'a>(
    scheduled: &[Scheduled<'a>],
    now: DateTime<Utc>,
) -> Option<(DateTime<Utc>, Vec<&'a SourceSettings>)> {
    let times: Vec<(DateTime<Utc>, &SourceSettings)> = scheduled
        .iter()
        .filter_map(|(s, c, tz)| {
            let next = c.after(&now.with_timezone(tz)).next()?;
            Some((next.with_timezone(&Utc), *s))
        })
        .collect();
    let first = times.iter().map(|(t, _)| *t).min()?;
    Some((
        first,
        times
            .into_iter()
            .filter(|(t, _)| *t == first)
            .map(|(_, s)| s)
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn source(name: &str) -> SourceSettings {
        toml::from_str(&format!(
            "name = \"{name}\"\ntenant = \"t\"\nkind = \"csv\"\npath = \"x.csv\"\n[fields]\nkey = \"k\"\ndate = \"d\"\nservice = \"s\"\nname = \"n\"\n"
        ))
        .unwrap()
    }

    #[test]
    fn schedules_are_read_in_the_tenants_time_zone() {
        let a = source("a");
        let six_am = cron::Schedule::from_str("0 0 6 * * *").unwrap();
        let scheduled = vec![(&a, six_am, chrono_tz::Europe::Berlin)];
        let now = Utc.with_ymd_and_hms(2030, 1, 7, 0, 0, 0).unwrap();
        let (when, _) = next_due(&scheduled, now).unwrap();
        assert_eq!(
            when,
            Utc.with_ymd_and_hms(2030, 1, 7, 5, 0, 0).unwrap(),
            "06:00 CET"
        );
    }

    #[test]
    fn the_next_scheduled_import_is_the_earliest_fire_time_of_any_source() {
        let (a, b) = (source("a"), source("b"));
        let every_10 = cron::Schedule::from_str("0 */10 * * * *").unwrap();
        let hourly = cron::Schedule::from_str("0 0 * * * *").unwrap();
        let berlin = chrono_tz::Europe::Berlin;
        let scheduled = vec![(&a, every_10, berlin), (&b, hourly, berlin)];
        let now = Utc.with_ymd_and_hms(2030, 1, 7, 8, 51, 0).unwrap();
        let (when, due) = next_due(&scheduled, now).unwrap();
        assert_eq!(when, Utc.with_ymd_and_hms(2030, 1, 7, 9, 0, 0).unwrap());
        assert_eq!(
            due.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        let (when, due) = next_due(&scheduled, when).unwrap();
        assert_eq!(when, Utc.with_ymd_and_hms(2030, 1, 7, 9, 10, 0).unwrap());
        assert_eq!(due.len(), 1);
    }
}
