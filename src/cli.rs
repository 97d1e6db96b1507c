//! The `absage` command line: parses arguments, calls the library, prints results. No logic.

mod admin;

use crate::app::App;
use crate::config::Settings;
use crate::import::{ImportOptions, Outcome};
use crate::lifecycle::{Impact, declare};
use crate::reports;
use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

#[derive(Parser, Debug)]
#[command(
    name = "absage",
    version,
    about = "Tells citizens their appointment is cancelled when the office's IT is down"
)]
pub struct Cli {
    /// Configuration file.
    #[arg(
        long,
        global = true,
        env = "ABSAGE_CONFIG",
        default_value = "config/absage.toml"
    )]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the daemon: scheduled imports and the dispatcher, until SIGTERM/SIGINT.
    Run {
        /// Exit once no notification is pending (for scripts and cron).
        #[arg(long)]
        exit_when_idle: bool,
    },
    /// Import a source's export now.
    Import {
        /// The source to import (default: the only one configured).
        #[arg(long)]
        source: Option<String>,
        /// Read this file instead of the source's configured path.
        file: Option<PathBuf>,
        /// Apply even if the export would remove more than the allowed share of bookings.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
    /// Declare, list and show outages.
    #[command(subcommand)]
    Outage(OutageCommand),
    /// Send cancellations for a manual selection of bookings (or preview with --dry-run).
    Batch {
        #[command(flatten)]
        select: SelectArgs,
        /// A file with one booking key per line.
        #[arg(long)]
        keys: Option<PathBuf>,
    },
    /// Sources and their last import, active outages, queue, destination health.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// The import history, newest first: counts, duration and outcome of every import.
    Imports {
        /// Only this source's imports.
        #[arg(long)]
        source: Option<String>,
        /// How many to show.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// One row per affected booking of an outage or batch: what was sent and its state.
    Report {
        id: i64,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// The citizens of an outage or batch that no channel reached, to phone them.
    Calllist {
        id: i64,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Bookings absage cancelled, for the booking system to suppress its reminders.
    Suppressions {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, value_enum, default_value_t = SuppressionFormat::Csv)]
        format: SuppressionFormat,
    },
    /// Configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Message templates.
    #[command(subcommand)]
    Templates(TemplatesCommand),
    /// Database maintenance.
    #[command(subcommand)]
    Db(DbCommand),
    /// Accounts of the admin API and web UI.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
}

impl Command {
    /// Whether the command only reads the database.
    pub fn reads_only(&self) -> bool {
        matches!(
            self,
            Command::Status { .. }
                | Command::Imports { .. }
                | Command::Report { .. }
                | Command::Calllist { .. }
                | Command::Suppressions { .. }
                | Command::Outage(OutageCommand::List { .. } | OutageCommand::Show { .. })
        )
    }
}

#[derive(Subcommand, Debug)]
pub enum OutageCommand {
    /// Declare an outage: every active booking inside the window gets its cancellation.
    Declare {
        #[command(flatten)]
        select: SelectArgs,
    },
    /// List outages and batches.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one outage with its queue counts.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Change an outage's window or scope and match it again: newly affected citizens are
    /// told, those no longer affected hear that their appointment stands.
    Amend {
        id: i64,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        /// Replace the services (repeatable).
        #[arg(long = "service")]
        services: Vec<String>,
        /// Replace the locations (repeatable).
        #[arg(long = "location")]
        locations: Vec<String>,
        /// Cover all services again.
        #[arg(long, conflicts_with = "services")]
        all_services: bool,
        /// Cover all locations again.
        #[arg(long, conflicts_with = "locations")]
        all_locations: bool,
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// Bookings that vanished from the export while the outage runs stay cancelled until a
    /// person confirms they are really gone; this confirms it for one outage.
    ConfirmRemovals {
        id: i64,
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// The outage was declared by mistake: cancel what is pending, tell everyone already told
    /// that their appointment stands.
    Retract {
        id: i64,
        /// Why, as citizens will read it.
        #[arg(long)]
        reason: String,
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Validate the configuration and templates, and print the effective config (secrets hidden).
    Check,
}

#[derive(Subcommand, Debug)]
pub enum TemplatesCommand {
    /// Render a message as a citizen would get it, with its SMS encoding, segments and cost.
    Preview {
        /// cancellation or retraction
        #[arg(long, default_value = "cancellation")]
        kind: String,
        /// email or sms
        #[arg(long)]
        channel: crate::messages::Channel,
        /// Language (e.g. de, en, tr, ar, de-x-simple).
        #[arg(long = "lang", default_value = "de")]
        language: String,
        /// Use this booking's data instead of sample values.
        #[arg(long)]
        booking: Option<String>,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        tenant: Option<String>,
        /// Show the HTML part of an email instead of its text.
        #[arg(long)]
        html: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum DbCommand {
    /// Apply pending migrations.
    Migrate,
    /// Copy the SQLite database to PATH while the daemon runs (for PostgreSQL use pg_dump).
    Backup { path: PathBuf },
    /// Close finished outages and delete contact data older than `retention.days` now (the
    /// daemon does this every `retention.interval_minutes`).
    Retention {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
pub struct SelectArgs {
    /// Start of the window: RFC 3339, or local time in the tenant's zone ("2026-11-02 08:00").
    #[arg(long)]
    from: Option<String>,
    /// End of the window (exclusive).
    #[arg(long)]
    to: Option<String>,
    /// Only these services (repeatable; default all).
    #[arg(long = "service")]
    services: Vec<String>,
    /// Only these locations (repeatable; default all).
    #[arg(long = "location")]
    locations: Vec<String>,
    /// The reason, as citizens will read it.
    #[arg(long)]
    reason: String,
    /// Tenant id (default: the only one configured).
    #[arg(long)]
    tenant: Option<String>,
    /// Show the impact and a sample message; change nothing.
    #[arg(long)]
    dry_run: bool,
    #[arg(long)]
    json: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SuppressionFormat {
    Csv,
    Json,
    Ics,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Csv,
    Json,
}

/// Runs a command. `shutdown` fires on SIGTERM/SIGINT.
pub async fn run(cli: Cli, shutdown: CancellationToken) -> anyhow::Result<()> {
    let settings = Settings::load(Some(&cli.config))
        .with_context(|| format!("loading configuration {}", cli.config.display()))?;
    crate::telemetry::init(&settings.log);
    if let Command::Config(ConfigCommand::Check) = &cli.command {
        let templates = crate::app::load_templates(&settings)?;
        let check = crate::preview::check_sms_templates(&settings, &templates);
        for warning in &check.warnings {
            eprintln!("warning: {warning}");
        }
        if !check.problems.is_empty() {
            bail!("invalid templates:\n  - {}", check.problems.join("\n  - "));
        }
        println!("# configuration is valid; effective values (secrets hidden):\n");
        print!("{}", settings.redacted_toml()?);
        return Ok(());
    }
    // Commands that only read open the database as it is: they never change its schema (an
    // older daemon may still be running on it) and say so when it is not migrated yet.
    let app = if cli.command.reads_only() {
        App::open(settings).await?
    } else {
        App::build(settings).await?
    };
    match cli.command {
        Command::Run { exit_when_idle } => app.run_until_stopped(shutdown, exit_when_idle).await,
        Command::Import {
            source,
            file,
            force,
            json,
        } => import(&app, source, file, force, json).await,
        Command::Outage(OutageCommand::Declare { select }) => declare(&app, select, None).await,
        Command::Batch { select, keys } => declare(&app, select, Some(keys)).await,
        Command::Outage(OutageCommand::List { json }) => outage_list(&app, json).await,
        Command::Outage(OutageCommand::Show { id, json }) => outage_show(&app, id, json).await,
        Command::Outage(OutageCommand::Amend {
            id,
            from,
            to,
            services,
            locations,
            all_services,
            all_locations,
            dry_run,
            json,
        }) => {
            let tz = outage_zone(&app, id).await?;
            let list = |v: Vec<String>, all: bool| match (v.is_empty(), all) {
                (_, true) => Some(Vec::new()),
                (true, false) => None,
                (false, false) => Some(v),
            };
            let change = declare::Amendment {
                from: from
                    .map(|f| crate::lifecycle::parse_instant(&f, tz))
                    .transpose()?,
                to: to
                    .map(|t| crate::lifecycle::parse_instant(&t, tz))
                    .transpose()?,
                services: list(services, all_services),
                locations: list(locations, all_locations),
            };
            let by = whoami();
            let act = declare::Act {
                by: &by,
                now: app.ctx.now(),
                dry_run,
            };
            let impact = declare::amend(&app.ctx, id, &change, act).await?;
            print_change(&impact, "amended", dry_run, json)
        }
        Command::Outage(OutageCommand::ConfirmRemovals { id, dry_run, json }) => {
            let by = whoami();
            let act = declare::Act {
                by: &by,
                now: app.ctx.now(),
                dry_run,
            };
            let impact = declare::confirm_removals(&app.ctx, id, act).await?;
            print_change(&impact, "confirmed the removals of", dry_run, json)
        }
        Command::Outage(OutageCommand::Retract {
            id,
            reason,
            dry_run,
            json,
        }) => {
            let by = whoami();
            let act = declare::Act {
                by: &by,
                now: app.ctx.now(),
                dry_run,
            };
            let impact = declare::retract(&app.ctx, id, &reason, act).await?;
            print_change(&impact, "retracted", dry_run, json)
        }
        Command::Status { json } => status(&app, json).await,
        Command::Imports {
            source,
            limit,
            json,
        } => import_history(&app, source, limit, json).await,
        Command::Report { id, format } => report(&app, id, format).await,
        Command::Calllist { id, format } => calllist(&app, id, format).await,
        Command::Templates(TemplatesCommand::Preview {
            kind,
            channel,
            language,
            booking,
            reason,
            tenant,
            html,
            json,
        }) => {
            let tenant = tenant_id(&app, tenant)?;
            let req = crate::preview::PreviewRequest {
                tenant: &tenant,
                kind: &kind,
                channel,
                language: &language,
                booking_key: booking.as_deref(),
                reason: reason.as_deref(),
            };
            let p = crate::preview::preview(&app.ctx, &req, app.ctx.now()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&p)?);
                return Ok(());
            }
            println!("language: {}", p.language);
            if let Some(subject) = &p.subject {
                println!("Subject: {subject}");
            }
            if let Some(sms) = &p.sms {
                let cost = sms
                    .cost
                    .map(|c| format!(", about {c:.2}"))
                    .unwrap_or_default();
                let variant = match p.sms_variant {
                    Some("short") => " (the short text: the full one is over max_sms_segments)",
                    Some("too_long") => " (over max_sms_segments even when short: not sent)",
                    _ => "",
                };
                println!(
                    "SMS: {}, {} units, {} segment(s){cost}{variant}",
                    sms.encoding, sms.units, sms.segments
                );
            }
            println!();
            match (html, &p.html) {
                (true, Some(h)) => println!("{h}"),
                _ => println!("{}", p.text),
            }
            Ok(())
        }
        Command::Suppressions { tenant, format } => {
            let mut conn = app.ctx.store.conn().await?;
            let list = crate::store::outages::suppressions(&mut conn, tenant.as_deref()).await?;
            match format {
                SuppressionFormat::Json => println!("{}", serde_json::to_string_pretty(&list)?),
                SuppressionFormat::Ics => print!("{}", reports::suppressions_ics(&list)),
                SuppressionFormat::Csv => reports::write_csv(std::io::stdout(), &list)?,
            }
            Ok(())
        }
        Command::Db(DbCommand::Backup { path }) => {
            if app.ctx.store.backend() != crate::store::Backend::Sqlite {
                bail!("absage db backup copies SQLite databases; back up PostgreSQL with pg_dump");
            }
            // Created empty and private first (VACUUM INTO fills an empty file), so that the
            // copy of everyone's data is never readable by others, whatever the umask.
            match crate::private_files::private_new_file(&path) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    bail!("{} exists already; choose a new file", path.display())
                }
                Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
            }
            let mut conn = app.ctx.store.conn().await?;
            if let Err(e) =
                crate::store::retention::backup_sqlite(&mut conn, &path.to_string_lossy()).await
            {
                let _ = std::fs::remove_file(&path);
                return Err(e.into());
            }
            println!("backed up to {}", path.display());
            Ok(())
        }
        Command::Db(DbCommand::Retention { json }) => {
            let Some((closed, purged)) = app.retention().await? else {
                println!("another instance is running the retention job just now");
                return Ok(());
            };
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "closed": closed, "purged": purged })
                );
            } else {
                println!(
                    "closed {closed} finished outages; deleted contact data of {} outages ({} messages, {} bookings)",
                    purged.runs, purged.notifications, purged.bookings
                );
            }
            Ok(())
        }
        Command::Admin(cmd) => admin::run(&app, cmd).await,
        Command::Db(DbCommand::Migrate) => {
            println!("database is up to date");
            Ok(())
        }
        Command::Config(_) => unreachable!("handled above"),
    }
}

async fn import(
    app: &App,
    source: Option<String>,
    file: Option<PathBuf>,
    force: bool,
    json: bool,
) -> anyhow::Result<()> {
    let source = match source {
        Some(name) => app
            .ctx
            .settings
            .source(&name)
            .with_context(|| format!("no source named {name:?} is configured"))?,
        None => match app.ctx.settings.sources.as_slice() {
            [only] => only,
            [] => bail!("no source is configured"),
            _ => bail!("several sources are configured: name one with --source"),
        },
    };
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new_spinner();
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {pos} rows read ({per_sec}) {elapsed}",
            )
            .expect("static template"),
        );
        b
    });
    let progress = |n: u64| {
        if let Some(b) = &bar {
            b.set_position(n);
        }
    };
    let report = app
        .import(
            source,
            &ImportOptions {
                file,
                force,
                by: whoami(),
            },
            &progress,
        )
        .await?;
    {
        let mut conn = app.ctx.store.conn().await?;
        let entry = crate::store::audit::Entry {
            tenant: Some(&source.tenant),
            actor: &whoami(),
            action: "import.trigger",
            subject: Some(format!("source {}", source.name)),
            details: serde_json::json!({
                "import": report.import_id, "read": report.counts.rows_read,
                "rejected": report.counts.rows_rejected, "force": force,
            }),
        };
        crate::store::audit::append(&mut conn, &entry, crate::domain::to_millis(app.ctx.now()))
            .await?;
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let applied = report.outcome == Outcome::Applied;
    if json {
        let mut value = serde_json::to_value(&report)?;
        value["conservation"] = report.counts.conservation(applied).into();
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        let c = &report.counts;
        println!(
            "import #{} of source {} ({}): {}",
            report.import_id,
            report.source,
            report.file.display(),
            match report.outcome {
                Outcome::Applied => "applied",
                Outcome::Refused => "REFUSED",
            }
        );
        println!("  {}", c.conservation(applied));
        println!(
            "  new {}, updated {}, unchanged {}, removed {}",
            c.rows_new, c.rows_updated, c.rows_unchanged, c.rows_removed
        );
        if let Some(m) = &report.message {
            println!("  {m}");
        }
        if let Some(summary) = report.contact.summary() {
            println!("  {summary}");
            for p in report.contact.first.iter().take(20) {
                println!(
                    "  contact problem: {} {}, field {}: {}",
                    report.position, p.line, p.field, p.reason
                );
            }
        }
        for w in report.first_warnings.iter().take(20) {
            println!("  warning: {w}");
        }
        for r in report.rejected.iter().take(50) {
            let field = match r.field.as_str() {
                "" => String::new(),
                name => format!(", field {name}"),
            };
            let place = r.place(report.position);
            println!("  rejected: {place}{field}: {}", r.reason);
        }
        if report.rejected.len() > 50 {
            println!(
                "  … and {} more rejected rows (see --json)",
                c.rows_rejected - 50
            );
        }
        for (id, s) in &report.rematched {
            println!(
                "  outage #{id} matched again: {} affected, {} added, {} withdrawn, {} queued, {} cancelled",
                s.affected, s.added, s.withdrawn, s.queued, s.cancelled
            );
            if s.removal_pending > 0 {
                println!(
                    "  outage #{id}: {} affected bookings are missing from this export; they stay \
                     cancelled until a person confirms (absage outage confirm-removals {id}, or \
                     import again with --force)",
                    s.removal_pending
                );
            }
        }
    }
    if report.outcome == Outcome::Refused {
        std::process::exit(2);
    }
    Ok(())
}

fn tenant_id(app: &App, tenant: Option<String>) -> anyhow::Result<String> {
    match tenant {
        Some(t) => Ok(t),
        None => match app.ctx.settings.tenants.as_slice() {
            [only] => Ok(only.id.clone()),
            [] => bail!("no tenant is configured"),
            _ => bail!("several tenants are configured: name one with --tenant"),
        },
    }
}

async fn declare(app: &App, a: SelectArgs, keys: Option<Option<PathBuf>>) -> anyhow::Result<()> {
    let tenant = tenant_id(app, a.tenant.clone())?;
    let keys = match keys {
        Some(Some(file)) => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading booking keys from {}", file.display()))?;
            let keys: Vec<String> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned)
                .collect();
            if keys.is_empty() {
                bail!("{} holds no booking keys", file.display());
            }
            Some(keys)
        }
        Some(None) => bail!("give --keys FILE"),
        None => None,
    };
    let request = crate::lifecycle::DeclareRequest {
        from: a.from.clone(),
        to: a.to.clone(),
        services: a.services.clone(),
        locations: a.locations.clone(),
        batch: keys.is_some(),
        keys,
        reason: a.reason.clone(),
    };
    let decl = request.parse(&app.ctx.settings, &tenant, &whoami())?;
    let impact = declare::declare(&app.ctx, &decl, app.ctx.now(), a.dry_run).await?;
    print_impact(&impact, a.dry_run, a.json)
}

/// The time zone of an outage's tenant, for reading the times given with it.
async fn outage_zone(app: &App, id: i64) -> anyhow::Result<chrono_tz::Tz> {
    let mut conn = app.ctx.store.conn().await?;
    let o = crate::store::outages::get(&mut conn, id)
        .await?
        .with_context(|| format!("there is no outage or batch {id}"))?;
    Ok(app
        .ctx
        .settings
        .tenant(&o.tenant_id)
        .map_or(chrono_tz::UTC, |t| t.time_zone))
}

fn print_change(i: &Impact, what: &str, dry_run: bool, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(i)?);
        return Ok(());
    }
    let s = &i.stats;
    let head = if dry_run {
        format!(
            "dry run (nothing changed): #{} would be {what}",
            i.id.unwrap_or_default()
        )
    } else {
        format!("#{} {what}", i.id.unwrap_or_default())
    };
    println!(
        "{head}: {} newly affected, {} no longer affected",
        s.added, s.withdrawn
    );
    if what != "retracted" {
        println!("  {}", i.conservation);
    }
    println!(
        "  cancellations queued: {}, pending ones cancelled: {}, \"appointment stands\" messages queued: {}",
        s.queued, s.cancelled, s.retractions
    );
    if dry_run {
        for sample in i.samples.iter().filter(|s| s.kind == "retraction") {
            println!(
                "\n--- sample {} {} ({}) ---\n{}",
                sample.kind, sample.channel, sample.language, sample.text
            );
        }
    }
    Ok(())
}

fn whoami() -> String {
    std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .map(|u| format!("cli:{u}"))
        .unwrap_or_else(|_| "cli".into())
}

fn print_impact(i: &Impact, dry_run: bool, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(i)?);
        return Ok(());
    }
    match i.id {
        Some(id) => println!(
            "declared #{id}: {} bookings affected, {} notifications queued",
            i.stats.affected, i.stats.queued
        ),
        None => println!(
            "dry run (nothing changed): {} bookings would be affected, {} notifications queued",
            i.stats.affected, i.stats.queued
        ),
    }
    println!("  {}", i.conservation);
    println!("  per channel:  {}", fmt_map(&i.per_channel));
    println!("  per language: {}", fmt_map(&i.per_language));
    print_names(&i.names);
    for (lang, c) in &i.sms {
        let cost = c
            .cost
            .map(|c| format!(", about {c:.2}"))
            .unwrap_or_default();
        let encodings: Vec<String> = c
            .encodings
            .iter()
            .map(|(e, n)| format!("{e} {n}"))
            .collect();
        let short = match c.short {
            0 => String::new(),
            n => format!(", {n} in the short form (full text over max_sms_segments)"),
        };
        println!(
            "  SMS {lang}: {} messages ({}), {} segments{cost}{short}",
            c.messages,
            encodings.join(", "),
            c.segments
        );
    }
    for (country, c) in &i.sms_per_country {
        let cost = c
            .cost
            .map(|c| format!(", about {c:.2}"))
            .unwrap_or_default();
        let skipped = match c.skipped {
            0 => String::new(),
            n => format!(", {n} booking(s) without SMS (not in sms_countries)"),
        };
        println!(
            "  SMS to {country}: {} messages, {} segments{cost}{skipped}",
            c.messages, c.segments
        );
    }
    if i.stats.sms_too_long > 0 {
        // By key, to look them up: their email still goes out; without one, the call list.
        println!(
            "  SMS not sent, too long even in the short form: {} booking(s): {}",
            i.stats.sms_too_long,
            i.stats.sms_skipped.join(", ")
        );
    }
    if dry_run {
        for s in &i.samples {
            println!("\n--- sample {} {} ({}) ---", s.kind, s.channel, s.language);
            if let Some(subj) = &s.subject {
                println!("Subject: {subj}\n");
            }
            println!("{}", s.text);
        }
    }
    Ok(())
}

fn print_names(names: &crate::domain::names::Names) {
    let list = |l: &[crate::domain::names::NameCount]| {
        l.iter()
            .map(|n| format!("{} {}", n.name, n.bookings))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !names.services.is_empty() {
        println!("  services:     {}", list(&names.services));
    }
    if !names.locations.is_empty() {
        println!("  locations:    {}", list(&names.locations));
    }
}

fn fmt_map(m: &std::collections::BTreeMap<String, i64>) -> String {
    if m.is_empty() {
        return "-".into();
    }
    m.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn outage_list(app: &App, json: bool) -> anyhow::Result<()> {
    let mut conn = app.ctx.store.conn().await?;
    let list = crate::store::outages::list(&mut conn, None).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    for o in list {
        println!(
            "#{:<5} {:<7} {:<9} {} {}  {}",
            o.id,
            o.kind,
            o.state,
            o.tenant_id,
            window_text(app, &o),
            o.reason
        );
    }
    Ok(())
}

fn window_text(app: &App, o: &crate::store::outages::OutageRow) -> String {
    let tz = app
        .ctx
        .settings
        .tenant(&o.tenant_id)
        .map_or(chrono_tz::UTC, |t| t.time_zone);
    let f = |ms: Option<i64>| {
        ms.map_or("-".into(), |m| {
            crate::domain::from_millis(m)
                .with_timezone(&tz)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
    };
    format!("[{} – {})", f(o.window_from), f(o.window_to))
}

async fn outage_show(app: &App, id: i64, json: bool) -> anyhow::Result<()> {
    let mut conn = app.ctx.store.conn().await?;
    let o = crate::store::outages::get(&mut conn, id)
        .await?
        .with_context(|| format!("there is no outage or batch {id}"))?;
    let counts = crate::store::notifications::counts(&mut conn, Some(id)).await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"outage": o, "queue": counts}))?
        );
        return Ok(());
    }
    println!(
        "#{} {} ({}) tenant {} {}",
        o.id,
        o.kind,
        o.state,
        o.tenant_id,
        window_text(app, &o)
    );
    println!("  reason:    {}", o.reason);
    println!("  services:  {}", o.services_json);
    println!("  locations: {}", o.locations_json);
    println!("  declared by {}", o.created_by);
    for c in counts {
        println!("  {:<6} {:<10} {}", c.channel, c.state, c.count);
    }
    Ok(())
}

async fn status(app: &App, json: bool) -> anyhow::Result<()> {
    let s = reports::status(&app.ctx, app.ctx.now()).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }
    println!("sources:");
    for src in &s.sources {
        let age = src.age_secs.map_or("never imported".to_string(), |a| {
            format!("last import {} ago", human_age(a))
        });
        let stale = if src.stale { "  STALE" } else { "" };
        println!(
            "  {:<20} tenant {:<10} {age} (last outcome: {}){stale}",
            src.source,
            src.tenant,
            src.last_outcome.as_deref().unwrap_or("-")
        );
        if let Some(c) = &src.last_counts {
            println!(
                "      read {}, new {}, updated {}, unchanged {}, removed {}, rejected {}",
                c.rows_read,
                c.rows_new,
                c.rows_updated,
                c.rows_unchanged,
                c.rows_removed,
                c.rows_rejected
            );
        }
        if let Some(m) = &src.last_message {
            println!("      {m}");
        }
    }
    println!("recent imports (all: absage imports):");
    print_imports(app, &s.recent_imports);
    println!("active outages: {}", s.active_outages.len());
    for o in &s.active_outages {
        println!(
            "  #{} {} {} {}",
            o.id,
            o.kind,
            window_text(app, o),
            o.reason
        );
    }
    println!("queue:");
    for q in &s.queue {
        println!("  {:<6} {:<10} {}", q.channel, q.state, q.count);
    }
    println!("destinations:");
    for d in &s.destinations {
        println!(
            "  {:<16} {:<6} {:<5} {}",
            d.name,
            d.channel,
            d.state,
            d.last_error.as_deref().unwrap_or("")
        );
    }
    Ok(())
}

async fn import_history(
    app: &App,
    source: Option<String>,
    limit: i64,
    json: bool,
) -> anyhow::Result<()> {
    let mut conn = app.ctx.store.conn().await?;
    let rows = crate::store::imports::history(&mut conn, source.as_deref(), limit).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print_imports(app, &rows);
    }
    Ok(())
}

/// One line per import: when (in its tenant's zone), source, outcome, duration and counts.
fn print_imports(app: &App, rows: &[crate::store::imports::ImportRow]) {
    if rows.is_empty() {
        println!("  none yet");
    }
    for r in rows {
        let tz = app
            .ctx
            .settings
            .tenant(&r.tenant_id)
            .map_or(chrono_tz::UTC, |t| t.time_zone);
        let started = crate::domain::from_millis(r.started_at)
            .with_timezone(&tz)
            .format("%Y-%m-%d %H:%M:%S");
        let took = r
            .duration_ms()
            .map_or("-".into(), |ms| format!("{:.1} s", ms as f64 / 1000.0));
        let c = &r.counts;
        println!(
            "  #{:<5} {started} {:<16} {:<8} {took:>8}  read {}, new {}, updated {}, unchanged {}, removed {}, rejected {}",
            r.id,
            r.source,
            r.outcome,
            c.rows_read,
            c.rows_new,
            c.rows_updated,
            c.rows_unchanged,
            c.rows_removed,
            c.rows_rejected
        );
        if let Some(m) = &r.message {
            println!("          {m}");
        }
    }
}

fn human_age(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86400),
    }
}

async fn report(app: &App, id: i64, format: Format) -> anyhow::Result<()> {
    let (_, rows) = reports::report(&app.ctx, id).await?;
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        Format::Csv => reports::write_csv(std::io::stdout(), &rows)?,
        Format::Text => {
            let dash = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
            for r in &rows {
                let stands = match (&r.retraction_email, &r.retraction_sms) {
                    (None, None) => String::new(),
                    (e, s) => format!("  stands: email {} sms {}", dash(e), dash(s)),
                };
                let left = if r.affected {
                    ""
                } else {
                    "  (no longer affected)"
                };
                println!(
                    "{:<12} {} {:<20} {:<20} email {:<9} sms {:<9} {:?}{stands}{left}",
                    r.booking_key,
                    r.starts_at,
                    r.service,
                    r.location,
                    dash(&r.email),
                    dash(&r.sms),
                    r.reach
                );
            }
        }
    }
    Ok(())
}

async fn calllist(app: &App, id: i64, format: Format) -> anyhow::Result<()> {
    let list = reports::call_list(&app.ctx, id).await?;
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&list)?),
        Format::Csv => reports::write_csv(std::io::stdout(), &list)?,
        Format::Text => {
            println!("call list for #{id}: {} citizens to phone", list.len());
            for e in &list {
                println!(
                    "{}  {:<28} {:<18} {} / {}  ({})",
                    e.starts_at,
                    e.name,
                    e.phone.as_deref().unwrap_or("no number"),
                    e.service,
                    e.location,
                    e.why
                );
            }
        }
    }
    Ok(())
}
