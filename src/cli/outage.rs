//! `absage outage …`: amend, confirm removals, retract, list, show; `declare` is in
//! [`super::declare`]. The changes go through [`crate::lifecycle`], the reads through
//! [`crate::reports`].

use super::declare::{self, SelectArgs};
use super::print::{self, change::Change, change::changed};
use crate::app::App;
use crate::lifecycle::{self, Act, Amendment, parse_instant};
use crate::reports;
use chrono_tz::Tz;
use clap::{Args, Subcommand};

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
    Amend(AmendArgs),
    /// Bookings that vanished from the export while the outage runs stay cancelled until a
    /// person confirms they are really gone; this confirms it for one outage.
    ConfirmRemovals(ConfirmArgs),
    /// The outage was declared by mistake: cancel what is pending, tell everyone already told
    /// that their appointment stands.
    Retract(RetractArgs),
}

#[derive(Args, Debug)]
pub struct AmendArgs {
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
}

#[derive(Args, Debug)]
pub struct ConfirmArgs {
    id: i64,
    #[arg(long)]
    dry_run: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct RetractArgs {
    id: i64,
    /// Why, as citizens will read it.
    #[arg(long)]
    reason: String,
    #[arg(long)]
    dry_run: bool,
    #[arg(long)]
    json: bool,
}

pub async fn run(app: &App, cmd: OutageCommand) -> anyhow::Result<()> {
    match cmd {
        OutageCommand::Declare { select } => declare::outage(app, select).await,
        OutageCommand::List { json } => list(app, json).await,
        OutageCommand::Show { id, json } => show(app, id, json).await,
        OutageCommand::Amend(args) => amend(app, args).await,
        OutageCommand::ConfirmRemovals(args) => confirm_removals(app, args).await,
        OutageCommand::Retract(args) => retract(app, args).await,
    }
}

async fn amend(app: &App, a: AmendArgs) -> anyhow::Result<()> {
    let outage = reports::outage(&app.ctx, a.id).await?;
    let change = a.amendment(app.ctx.settings.zone_of(&outage.tenant_id))?;
    let by = super::whoami();
    let impact =
        lifecycle::declare::amend(&app.ctx, a.id, &change, act(app, &by, a.dry_run)).await?;
    changed(
        &mut std::io::stdout(),
        &impact,
        Change::Amended,
        a.dry_run,
        a.json,
    )
}

impl AmendArgs {
    /// The change asked for, its times read in the outage's zone `tz`.
    fn amendment(&self, tz: Tz) -> anyhow::Result<Amendment> {
        let list = |v: &[String], all: bool| match (v.is_empty(), all) {
            (_, true) => Some(Vec::new()),
            (true, false) => None,
            (false, false) => Some(v.to_vec()),
        };
        let at = |t: &Option<String>| t.as_deref().map(|t| parse_instant(t, tz)).transpose();
        Ok(Amendment {
            from: at(&self.from)?,
            to: at(&self.to)?,
            services: list(&self.services, self.all_services),
            locations: list(&self.locations, self.all_locations),
        })
    }
}

async fn confirm_removals(app: &App, a: ConfirmArgs) -> anyhow::Result<()> {
    let by = super::whoami();
    let impact =
        lifecycle::declare::confirm_removals(&app.ctx, a.id, act(app, &by, a.dry_run)).await?;
    changed(
        &mut std::io::stdout(),
        &impact,
        Change::ConfirmedRemovals,
        a.dry_run,
        a.json,
    )
}

async fn retract(app: &App, a: RetractArgs) -> anyhow::Result<()> {
    let by = super::whoami();
    let impact =
        lifecycle::declare::retract(&app.ctx, a.id, &a.reason, act(app, &by, a.dry_run)).await?;
    changed(
        &mut std::io::stdout(),
        &impact,
        Change::Retracted,
        a.dry_run,
        a.json,
    )
}

/// A change by `by`, now.
fn act<'a>(app: &App, by: &'a str, dry_run: bool) -> Act<'a> {
    Act {
        by,
        now: app.ctx.now(),
        dry_run,
    }
}

async fn list(app: &App, json: bool) -> anyhow::Result<()> {
    let list = reports::outage_list(&app.ctx).await?;
    print::outage::list(&mut std::io::stdout(), &list, &app.ctx.settings, json)
}

async fn show(app: &App, id: i64, json: bool) -> anyhow::Result<()> {
    let outage = reports::outage_queue(&app.ctx, id).await?;
    print::outage::show(&mut std::io::stdout(), &outage, &app.ctx.settings, json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn amend_args(args: &[&str]) -> AmendArgs {
        let cli =
            super::super::Cli::try_parse_from([&["absage", "outage", "amend", "3"], args].concat())
                .unwrap();
        match cli.command {
            super::super::Command::Outage(OutageCommand::Amend(a)) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_amendment_changes_only_what_is_given_and_reads_times_in_the_outages_zone() {
        let tz = chrono_tz::Europe::Berlin;
        let a = amend_args(&["--to", "2030-03-04 11:30", "--service", "Zulassung"]);
        let change = a.amendment(tz).unwrap();
        assert_eq!(change.from, None);
        assert_eq!(change.to.unwrap().to_rfc3339(), "2030-03-04T10:30:00+00:00");
        assert_eq!(change.services, Some(vec!["Zulassung".to_owned()]));
        assert_eq!(change.locations, None, "kept");
        let all = amend_args(&["--all-services", "--all-locations"])
            .amendment(tz)
            .unwrap();
        assert_eq!((all.services, all.locations), (Some(vec![]), Some(vec![])));
        assert!(amend_args(&["--from", "soon"]).amendment(tz).is_err());
    }
}
