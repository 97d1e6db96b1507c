//! `absage outage declare` and `absage batch`: a window, or the bookings named in a file, get
//! their cancellations; with `--dry-run` the impact and sample messages, nothing changed.

use super::print;
use crate::app::App;
use crate::lifecycle::{DeclareRequest, declare};
use anyhow::{Context, bail};
use clap::Args;
use std::path::{Path, PathBuf};

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

#[derive(Args, Debug)]
pub struct BatchArgs {
    #[command(flatten)]
    select: SelectArgs,
    /// A file with one booking key per line.
    #[arg(long)]
    keys: Option<PathBuf>,
}

/// `absage outage declare`: the bookings of a window.
pub async fn outage(app: &App, select: SelectArgs) -> anyhow::Result<()> {
    let tenant = super::tenant_id(&app.ctx.settings, select.tenant.clone())?;
    submit(app, &tenant, select, None).await
}

/// `absage batch`: the bookings named in a file instead of a window.
pub async fn batch(app: &App, args: BatchArgs) -> anyhow::Result<()> {
    let tenant = super::tenant_id(&app.ctx.settings, args.select.tenant.clone())?;
    let file = args.keys.context("give --keys FILE")?;
    let keys = read_keys(&file)?;
    submit(app, &tenant, args.select, Some(keys)).await
}

/// Declares an outage, or with `keys` a batch, or previews it with `--dry-run`.
async fn submit(
    app: &App,
    tenant: &str,
    a: SelectArgs,
    keys: Option<Vec<String>>,
) -> anyhow::Result<()> {
    let request = DeclareRequest {
        from: a.from,
        to: a.to,
        services: a.services,
        locations: a.locations,
        batch: keys.is_some(),
        keys,
        reason: a.reason,
    };
    let decl = request.parse(&app.ctx.settings, tenant, &super::whoami())?;
    let impact = declare::declare(&app.ctx, &decl, app.ctx.now(), a.dry_run).await?;
    print::impact::declared(&mut std::io::stdout(), &impact, a.dry_run, a.json)
}

/// The booking keys of a file, one a line; blank lines and `#` comments left out.
fn read_keys(file: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(file)
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
    Ok(keys)
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_gives_its_keys_without_blank_lines_and_comments() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys.txt");
        std::fs::write(&file, "K1\n  K2  \n\n# later\nK5\n").unwrap();
        assert_eq!(read_keys(&file).unwrap(), ["K1", "K2", "K5"]);
        std::fs::write(&file, "# none\n\n").unwrap();
        let e = read_keys(&file).unwrap_err().to_string();
        assert!(e.ends_with("keys.txt holds no booking keys"), "{e}");
        let e = read_keys(&dir.path().join("missing")).unwrap_err();
        assert!(
            e.to_string().starts_with("reading booking keys from "),
            "{e}"
        );
    }
}
