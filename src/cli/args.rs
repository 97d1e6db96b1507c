//! The top of the command line: the global options and one variant per command. The arguments
//! of each command are defined with the code that runs it.

use super::admin::AdminCommand;
use super::config::ConfigCommand;
use super::db::DbCommand;
use super::declare::BatchArgs;
use super::import::ImportArgs;
use super::outage::OutageCommand;
use super::preview::TemplatesCommand;
use super::report::{BouncesArgs, ImportsArgs, ReportArgs, SuppressionsArgs};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

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
    Import(ImportArgs),
    /// Declare, list and show outages.
    #[command(subcommand)]
    Outage(OutageCommand),
    /// Send cancellations for a manual selection of bookings (or preview with --dry-run).
    Batch(BatchArgs),
    /// Sources and their last import, active outages, queue, destination health.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// The import history, newest first: counts, duration and outcome of every import.
    Imports(ImportsArgs),
    /// One row per affected booking of an outage or batch: what was sent and its state.
    Report(ReportArgs),
    /// The citizens of an outage or batch that no channel reached, to phone them.
    Calllist(ReportArgs),
    /// Bookings absage cancelled, for the booking system to suppress its reminders.
    Suppressions(SuppressionsArgs),
    /// Email addresses not mailed any more (hard bounces, complaints) and the latest returned
    /// mail, with what waits for a person to read.
    Bounces(BouncesArgs),
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
    Admin(AdminCommand),
}

impl Command {
    /// Whether the command only reads the database.
    pub fn reads_only(&self) -> bool {
        matches!(
            self,
            Command::Status { .. }
                | Command::Imports(_)
                | Command::Report(_)
                | Command::Calllist(_)
                | Command::Suppressions(_)
                | Command::Bounces(super::report::BouncesArgs { action: None, .. })
                | Command::Outage(OutageCommand::List { .. } | OutageCommand::Show { .. })
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn command(args: &[&str]) -> Command {
        Cli::try_parse_from([&["absage"], args].concat())
            .unwrap()
            .command
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn only_reading_commands_open_the_database_without_migrating() {
        for reading in [
            &["status"][..],
            &["imports", "--limit", "3"],
            &["report", "1"],
            &["calllist", "1", "--format", "csv"],
            &["suppressions"],
            &["bounces", "--tenant", "soest"],
            &["outage", "list"],
            &["outage", "show", "1"],
        ] {
            assert!(command(reading).reads_only(), "{reading:?}");
        }
        for changing in [
            &["db", "migrate"][..],
            &["import"],
            &["outage", "retract", "1", "--reason", "x", "--dry-run"],
            &["batch", "--reason", "x"],
            &["admin", "list"],
            &["bounces", "lift", "--tenant", "soest", "a@example.org"],
        ] {
            assert!(!command(changing).reads_only(), "{changing:?}");
        }
    }
}
