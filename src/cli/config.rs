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
    for warning in check.warnings.iter().chain(&evidence_warnings(settings)) {
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

/// Where "informed" rests on silence nobody could break: returned mail not read, SMS delivery
/// reports not set up.
fn evidence_warnings(settings: &Settings) -> Vec<String> {
    let rules = crate::reports::Rules::of(settings);
    let quiet = settings.bounces.quiet_minutes;
    let mut out = Vec::new();
    if !rules.bounces_read {
        out.push(format!(
            "returned mail is not read ([bounces] needs a domain, a secret and listen, maildir \
             or imap): an email counts as informed {quiet} minutes after the relay took it, \
             though a bounce would not be seen"
        ));
    }
    if !rules.sms_reports {
        out.push(format!(
            "SMS delivery reports are not set up (http.webhooks): an SMS counts as informed \
             {quiet} minutes after the gateway took it, though a failure would not be seen"
        ));
    }
    out
}
