//! `absage db …`: migrate (done by opening the database), backup, retention now.

use super::print;
use crate::app::App;
use clap::Subcommand;
use std::io::Write;
use std::path::{Path, PathBuf};

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

pub async fn run(app: &App, cmd: DbCommand) -> anyhow::Result<()> {
    match cmd {
        // The database was migrated when the command opened it.
        DbCommand::Migrate => Ok(writeln!(std::io::stdout(), "database is up to date")?),
        DbCommand::Backup { path } => backup(app, &path).await,
        DbCommand::Retention { json } => retention(app, json).await,
    }
}

async fn backup(app: &App, path: &Path) -> anyhow::Result<()> {
    crate::ops::backup_sqlite(&app.ctx, path).await?;
    writeln!(std::io::stdout(), "backed up to {}", path.display())?;
    Ok(())
}

async fn retention(app: &App, json: bool) -> anyhow::Result<()> {
    let done = app.retention().await?;
    print::db::retention(&mut std::io::stdout(), done.as_ref(), json)
}
