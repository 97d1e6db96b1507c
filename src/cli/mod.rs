//! The `absage` command line, a thin edge: each command parses its arguments, calls one service
//! of the library and hands the result to `print`. No SQL, no rules.
//!
//! - `args`: the global options and the list of commands
//! - `declare`: `outage declare` and `batch`
//! - `outage`: `outage amend`, `retract`, `confirm-removals`, `list`, `show`
//! - `import`: `import`, with its exit status
//! - `report`: `status`, `imports`, `report`, `calllist`, `suppressions`, `bounces`
//! - `db`: `db migrate`, `db backup`, `db retention`
//! - `admin`: accounts of the admin API and web UI
//! - `preview`, `config`: `templates preview`, `config check`
//! - `print`: what each command writes, as text or JSON, unit-tested

mod admin;
mod args;
mod config;
mod db;
mod declare;
mod import;
mod outage;
mod preview;
mod print;
mod report;

pub use args::{Cli, Command};

use crate::app::App;
use crate::config::Settings;
use anyhow::{Context, bail};
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

/// Runs a command and returns the process's exit status. `shutdown` fires on SIGTERM/SIGINT.
pub async fn run(cli: Cli, shutdown: CancellationToken) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(Some(&cli.config))
        .with_context(|| format!("loading configuration {}", cli.config.display()))?;
    crate::telemetry::init(&settings.log);
    if let Command::Config(cmd) = &cli.command {
        config::run(&settings, cmd)?;
        return Ok(ExitCode::SUCCESS);
    }
    // Commands that only read open the database as it is: they never change its schema (an
    // older daemon may still be running on it) and say so when it is not migrated yet.
    let app = if cli.command.reads_only() {
        App::open(settings).await?
    } else {
        App::build(settings).await?
    };
    // Closed before exit, so that SQLite checkpoints its write-ahead log and removes it: the
    // database is one file again, to copy or to read elsewhere.
    let store = app.ctx.store.clone();
    let done = match cli.command {
        // The daemon stops by itself on the signal, finishing what is in flight.
        command @ Command::Run { .. } => dispatch(app, command, shutdown).await,
        // Any other command stops where it is (Ctrl-C on an import that hangs on its download,
        // a declaration started by mistake): its open transaction is rolled back, and what it
        // had committed stays. An import's run is taken over and shown failed by the next one.
        command => tokio::select! {
            done = dispatch(app, command, shutdown.clone()) => done,
            () = shutdown.cancelled() => Err(anyhow::anyhow!(
                "interrupted by a signal: what the command had not yet committed was not written"
            )),
        },
    };
    store.close().await;
    done
}

/// Hands a command to its group. Only `import` has an exit status to tell beyond success.
async fn dispatch(
    app: App,
    command: Command,
    shutdown: CancellationToken,
) -> anyhow::Result<ExitCode> {
    let done = match command {
        Command::Import(args) => return import::run(&app, args).await,
        Command::Run { exit_when_idle } => app.run_until_stopped(shutdown, exit_when_idle).await,
        Command::Outage(cmd) => outage::run(&app, cmd).await,
        Command::Batch(args) => declare::batch(&app, args).await,
        Command::Status { json } => report::status(&app, json).await,
        Command::Imports(args) => report::imports(&app, args).await,
        Command::Report(args) => report::report(&app, args).await,
        Command::Calllist(args) => report::call_list(&app, args).await,
        Command::Suppressions(args) => report::suppressions(&app, args).await,
        Command::Bounces(args) => report::bounces(&app, args).await,
        Command::Templates(cmd) => preview::run(&app, cmd).await,
        Command::Db(cmd) => db::run(&app, cmd).await,
        Command::Admin(cmd) => admin::run(&app, cmd).await,
        Command::Config(_) => unreachable!("run handles it before opening the database"),
    };
    done.map(|()| ExitCode::SUCCESS)
}

/// Who runs the command, for the audit log: `cli:<user>` (the one behind sudo), else `cli`.
fn whoami() -> String {
    std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .map(|u| format!("cli:{u}"))
        .unwrap_or_else(|_| "cli".into())
}

/// The tenant a command is for: the one named with `--tenant`, else the only one configured.
fn tenant_id(settings: &Settings, tenant: Option<String>) -> anyhow::Result<String> {
    match tenant {
        Some(t) => Ok(t),
        None => match settings.tenants.as_slice() {
            [only] => Ok(only.id.clone()),
            [] => bail!("no tenant is configured"),
            _ => bail!("several tenants are configured: name one with --tenant"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenants(ids: &[&str]) -> Settings {
        let tenant = |id: &str| {
            toml::from_str(&format!(
                "id = \"{id}\"\nname = \"{id}\"\ntime_zone = \"Europe/Berlin\"\n\
                 hotline = \"1\"\nemail_from = \"a@b.example\"\nsms_sender = \"X\"\n"
            ))
            .unwrap()
        };
        Settings {
            tenants: ids.iter().map(|id| tenant(id)).collect(),
            ..Settings::default()
        }
    }

    #[test]
    fn without_tenant_a_command_is_for_the_only_one_configured() {
        let one = tenants(&["soest"]);
        assert_eq!(tenant_id(&one, None).unwrap(), "soest");
        assert_eq!(tenant_id(&one, Some("hamm".into())).unwrap(), "hamm");
        let e = tenant_id(&tenants(&["soest", "hamm"]), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "several tenants are configured: name one with --tenant"
        );
        let e = tenant_id(&tenants(&[]), None).unwrap_err();
        assert_eq!(e.to_string(), "no tenant is configured");
    }
}
