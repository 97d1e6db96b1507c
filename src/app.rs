//! Building the application (open the store, load templates, bind the listener) apart from
//! running it, so that tests boot the real thing; and the daemon: the HTTP listener, the
//! background jobs ([`crate::jobs`]) and the dispatcher, until the shutdown token fires.

use crate::config::Settings;
use crate::ctx::Ctx;
use crate::dispatch::destinations::Destinations;
use crate::dispatch::{Clock, Dispatcher, system_clock};
use crate::import::{self, ImportOptions, SourceSettings};
use crate::jobs;
use crate::messages::TemplateSet;
use crate::store::Store;
use anyhow::Context;
use std::net::SocketAddr;
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
    /// The HTTP listener, once [bound](App::bind).
    listener: Option<tokio::net::TcpListener>,
    /// The bounce listener (`[bounces] listen`), once bound.
    bounce_listener: Option<tokio::net::TcpListener>,
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
        let (url, max) = (
            settings.database.url.expose(),
            settings.database.max_connections,
        );
        let store = match migrate {
            true => Store::connect(url, max).await?,
            false => Store::connect_read_only(url, max).await?,
        };
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
        let outbox = settings.email.transport == Transport::File
            || settings.sms.transport == Transport::File;
        if outbox && migrate {
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
            instance: crate::owner::this_process(),
            progress: Arc::default(),
            listener: None,
            bounce_listener: None,
        })
    }

    /// A dispatcher over this application's destinations.
    pub fn dispatcher(&self) -> anyhow::Result<Dispatcher> {
        Ok(Dispatcher::new(
            self.ctx.store.clone(),
            self.ctx.settings.queue.clone(),
            &self.ctx.settings.tenants,
            self.ctx.templates.clone(),
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
        jobs::imports::import_now(&self.ctx, &self.instance, source, opts, progress).await
    }

    /// Marks failed the imports left `running` by processes that stopped; returns how many.
    pub async fn fail_orphaned_imports(&self) -> anyhow::Result<u64> {
        jobs::imports::fail_orphaned(&self.ctx).await
    }

    /// One retention pass now (see [`jobs::retention`]); None when another instance holds it.
    pub async fn retention(&self) -> anyhow::Result<Option<jobs::retention::Done>> {
        jobs::retention::step(&self.ctx, &self.instance, self.ctx.now()).await
    }

    /// Binds `http.listen` and `bounces.listen` (port 0 picks a free one) unless bound already
    /// or switched off; returns the HTTP address. [`App::run_until_stopped`] serves on it.
    pub async fn bind(&mut self) -> anyhow::Result<Option<SocketAddr>> {
        let listen = &self.ctx.settings.http.listen;
        if self.listener.is_none() && !listen.is_empty() {
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("http.listen: cannot listen on {listen}"))?;
            self.listener = Some(listener);
        }
        if self.bounce_listener.is_none() {
            self.bounce_listener = crate::bounces::listener::bind(&self.ctx).await?;
        }
        Ok(self.http_addr())
    }

    /// Where the bounce listener listens, once bound.
    pub fn bounce_addr(&self) -> Option<SocketAddr> {
        self.bounce_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// What the HTTP handlers share: this application's context and dispatcher progress.
    pub fn http_state(&self) -> crate::http::State {
        crate::http::State::new(self.ctx.clone(), self.progress.clone())
    }

    /// Where the HTTP listener listens, once bound.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Runs the HTTP listener, the background jobs and the dispatcher until `shutdown` fires
    /// (or, with `exit_when_idle`, until no notification is pending).
    pub async fn run_until_stopped(
        mut self,
        shutdown: CancellationToken,
        exit_when_idle: bool,
    ) -> anyhow::Result<()> {
        self.bind().await?;
        self.fail_orphaned_imports().await?;
        let dispatcher = self.dispatcher()?;
        let tracker = TaskTracker::new();
        let jobs_token = shutdown.child_token();
        if let Some(listener) = self.listener.take() {
            let limits = self.http_limits();
            tracing::info!(
                address = %listener.local_addr()?,
                max_connections = limits.max_connections,
                "serving /healthz, /readyz and /metrics"
            );
            let router = crate::http::router(self.http_state());
            let token = jobs_token.clone();
            tracker.spawn(async move {
                if let Err(e) = crate::http::server::serve(listener, router, limits, token).await {
                    tracing::error!(error = %e, "the HTTP listener failed");
                }
            });
        }
        let (ctx, instance) = (&self.ctx, &self.instance);
        {
            let url = ctx.settings.database.url.expose().to_owned();
            let (wake, token) = (dispatcher.waker(), jobs_token.clone());
            let store = ctx.store.clone();
            tracker.spawn(async move { store.listen_for_work(&url, wake, token).await });
        }
        tracker.spawn(jobs::schedule::run(
            ctx.clone(),
            instance.clone(),
            jobs_token.clone(),
        ));
        for source in ctx
            .settings
            .sources
            .iter()
            .filter(|s| s.watch_secs.is_some())
        {
            tracker.spawn(jobs::watch::run(
                ctx.clone(),
                instance.clone(),
                source.clone(),
                jobs_token.clone(),
            ));
        }
        tracker.spawn(jobs::retention::run(
            ctx.clone(),
            instance.clone(),
            jobs_token.clone(),
        ));
        let bounces = &ctx.settings.bounces;
        if bounces.maildir.is_some() || bounces.imap.is_some() {
            tracker.spawn(jobs::bounces::run(
                ctx.clone(),
                instance.clone(),
                jobs_token.clone(),
            ));
        }
        if let Some(listener) = self.bounce_listener.take() {
            tracker.spawn(crate::bounces::listener::serve(
                ctx.clone(),
                listener,
                jobs_token.clone(),
            ));
        }
        tracing::info!(
            sources = ctx.settings.sources.len(),
            tenants = ctx.settings.tenants.len(),
            "absage running"
        );
        // The dispatcher runs as a task of the runtime rather than on the thread that waits for
        // the daemon to end: the sends it spawns then wake it where they run, instead of waking
        // that other thread once or twice for every message.
        let result = tokio::spawn(async move { dispatcher.run(shutdown, exit_when_idle).await })
            .await
            .unwrap_or_else(|e| Err(anyhow::anyhow!("the dispatcher stopped: {e}")));
        jobs_token.cancel();
        tracker.close();
        let grace = std::time::Duration::from_secs(ctx.settings.queue.shutdown_grace_secs);
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            tracing::warn!("shutdown: an import was still running; it is rolled back");
        }
        ctx.store.close().await;
        result
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
