//! `absage config check`: the configuration and templates validated, without a database.

use crate::config::Settings;
use anyhow::bail;
use clap::Subcommand;
use std::io::Write;

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Validate the configuration and templates, and print the effective config (secrets hidden).
    Check,
}

pub fn run(settings: &Settings, cmd: &ConfigCommand) -> anyhow::Result<()> {
    match cmd {
        ConfigCommand::Check => check(settings),
    }
}

/// Warnings on stderr; problems fail the command; else the effective values on stdout.
fn check(settings: &Settings) -> anyhow::Result<()> {
    let templates = crate::app::load_templates(settings)?;
    let check = crate::preview::check_sms_templates(settings, &templates);
    for warning in &check.warnings {
        eprintln!("warning: {warning}");
    }
    if !check.problems.is_empty() {
        bail!("invalid templates:\n  - {}", check.problems.join("\n  - "));
    }
    let mut out = std::io::stdout();
    writeln!(
        out,
        "# configuration is valid; effective values (secrets hidden):\n"
    )?;
    write!(out, "{}", settings.redacted_toml()?)?;
    Ok(())
}
