//! `absage import`: one source's export now, with a spinner on a terminal. A refused export
//! exits with status 2 after its report, so that scripts notice.

use super::print;
use crate::app::App;
use crate::config::Settings;
use crate::import::{ImportOptions, Outcome, SourceSettings};
use anyhow::{Context, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// The exit status of an import that was refused (nothing applied).
const REFUSED: u8 = 2;

#[derive(Args, Debug)]
pub struct ImportArgs {
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
}

pub async fn run(app: &App, a: ImportArgs) -> anyhow::Result<ExitCode> {
    let source = source(&app.ctx.settings, a.source.as_deref())?;
    let bar = std::io::stderr().is_terminal().then(spinner);
    let progress = |n: u64| {
        if let Some(b) = &bar {
            b.set_position(n);
        }
    };
    let opts = ImportOptions {
        file: a.file,
        force: a.force,
        by: super::whoami(),
    };
    let report = crate::ops::import(&app.ctx, &app.instance, source, &opts, &progress).await?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    print::import::report(&mut std::io::stdout(), &report, a.json)?;
    Ok(match report.outcome {
        Outcome::Applied => ExitCode::SUCCESS,
        Outcome::Refused => ExitCode::from(REFUSED),
    })
}

/// The source named with `--source`, else the only one configured.
fn source<'a>(settings: &'a Settings, name: Option<&str>) -> anyhow::Result<&'a SourceSettings> {
    match name {
        Some(name) => settings
            .source(name)
            .with_context(|| format!("no source named {name:?} is configured")),
        None => match settings.sources.as_slice() {
            [only] => Ok(only),
            [] => bail!("no source is configured"),
            _ => bail!("several sources are configured: name one with --source"),
        },
    }
}

/// Rows read so far, their rate and the time taken.
fn spinner() -> ProgressBar {
    let b = ProgressBar::new_spinner();
    b.set_style(
        ProgressStyle::with_template("{spinner} {pos} rows read ({per_sec}) {elapsed}")
            .expect("static template"),
    );
    b
}
