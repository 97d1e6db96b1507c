//! `absage templates preview`: a message as a citizen would get it.

use super::print;
use crate::app::App;
use crate::preview::PreviewRequest;
use clap::{Args, Subcommand};

#[derive(Subcommand, Debug)]
pub enum TemplatesCommand {
    /// Render a message as a citizen would get it, with its SMS encoding, segments and cost.
    Preview(PreviewArgs),
}

#[derive(Args, Debug)]
pub struct PreviewArgs {
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
}

pub async fn run(app: &App, cmd: TemplatesCommand) -> anyhow::Result<()> {
    match cmd {
        TemplatesCommand::Preview(args) => preview(app, args).await,
    }
}

async fn preview(app: &App, a: PreviewArgs) -> anyhow::Result<()> {
    let tenant = super::tenant_id(&app.ctx.settings, a.tenant)?;
    let req = PreviewRequest {
        tenant: &tenant,
        kind: &a.kind,
        channel: a.channel,
        language: &a.language,
        booking_key: a.booking.as_deref(),
        reason: a.reason.as_deref(),
    };
    let p = crate::preview::preview(&app.ctx, &req, app.ctx.now()).await?;
    print::preview::preview(&mut std::io::stdout(), &p, a.html, a.json)
}
