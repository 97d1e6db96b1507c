//! The reading commands: `status`, `imports`, `report`, `calllist`, `suppressions`, `bounces`.
//! They open
//! the database without migrating it.

use super::print;
use crate::app::App;
use crate::reports;
use clap::{Args, ValueEnum};

#[derive(Args, Debug)]
pub struct ImportsArgs {
    /// Only this source's imports.
    #[arg(long)]
    source: Option<String>,
    /// How many to show.
    #[arg(long, default_value_t = 50)]
    limit: i64,
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    id: i64,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Args, Debug)]
pub struct SuppressionsArgs {
    #[arg(long)]
    tenant: Option<String>,
    #[arg(long, value_enum, default_value_t = SuppressionFormat::Csv)]
    format: SuppressionFormat,
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BouncesArgs {
    #[command(subcommand)]
    pub action: Option<BouncesAction>,
    /// Only this tenant's (else all, including returned mail of no tenant).
    #[arg(long)]
    tenant: Option<String>,
    /// How many returned messages to show.
    #[arg(long, default_value_t = 50)]
    limit: i64,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Subcommand, Debug)]
pub enum BouncesAction {
    /// Mails an address again in the tenant's outages: ends its suppression after a hard bounce
    /// or complaint (the citizen fixed their mailbox, or asked for mail again). Audited.
    Lift {
        #[arg(long)]
        tenant: String,
        address: String,
    },
}

/// How `report` and `calllist` write their rows.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Csv,
    Json,
}

/// How `suppressions` writes its list.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SuppressionFormat {
    Csv,
    Json,
    Ics,
}

pub async fn status(app: &App, json: bool) -> anyhow::Result<()> {
    let status = reports::status(&app.ctx, app.ctx.now()).await?;
    print::status::status(&mut std::io::stdout(), &status, &app.ctx.settings, json)
}

pub async fn imports(app: &App, a: ImportsArgs) -> anyhow::Result<()> {
    let rows = reports::import_history(&app.ctx, a.source.as_deref(), a.limit).await?;
    print::status::history(&mut std::io::stdout(), &rows, &app.ctx.settings, a.json)
}

pub async fn report(app: &App, a: ReportArgs) -> anyhow::Result<()> {
    let (_, rows) = reports::report(&app.ctx, a.id).await?;
    print::report::rows(&mut std::io::stdout(), &rows, a.format)
}

pub async fn call_list(app: &App, a: ReportArgs) -> anyhow::Result<()> {
    let list = reports::call_list(&app.ctx, a.id).await?;
    print::report::call_list(&mut std::io::stdout(), a.id, &list, a.format)
}

pub async fn suppressions(app: &App, a: SuppressionsArgs) -> anyhow::Result<()> {
    let list = reports::suppressions(&app.ctx, a.tenant.as_deref()).await?;
    print::report::suppressions(&mut std::io::stdout(), &list, a.format)
}

pub async fn bounces(app: &App, a: BouncesArgs) -> anyhow::Result<()> {
    use crate::store::returned;
    if let Some(BouncesAction::Lift { tenant, address }) = a.action {
        let lifted =
            crate::follow_up::lift_suppression(&app.ctx, &tenant, &address, &super::whoami())
                .await?;
        anyhow::ensure!(
            lifted,
            "{tenant} does not suppress that address (addresses are compared in lower case)"
        );
        println!("{tenant} mails the address again");
        return Ok(());
    }
    let mut conn = app.ctx.store.conn().await?;
    let suppressed = returned::suppressions(&mut conn, a.tenant.as_deref()).await?;
    let latest = returned::latest(&mut conn, a.tenant.as_deref(), a.limit).await?;
    print::bounces::bounces(&mut std::io::stdout(), &suppressed, &latest, a.json)
}
