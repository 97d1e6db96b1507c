//! `absage admin …`: the accounts of the admin API and web UI.

use super::print;
use crate::accounts::{self, NewAccount};
use crate::app::App;
use crate::domain::account::Role;
use clap::{Subcommand, ValueEnum};
use std::io::{Read, Write};

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Add an account to a tenant.
    Add {
        name: String,
        /// Tenant id (default: the only one configured).
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Read a password for the web UI from standard input (without it the account uses API
        /// tokens only).
        #[arg(long)]
        password_stdin: bool,
    },
    /// List the accounts.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove an account and its tokens.
    Remove { name: String },
    /// Issue a new API token for an account; it is shown once.
    Token { name: String },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum RoleArg {
    Viewer,
    Operator,
    Approver,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Viewer => Role::Viewer,
            RoleArg::Operator => Role::Operator,
            RoleArg::Approver => Role::Approver,
        }
    }
}

pub async fn run(app: &App, cmd: AdminCommand) -> anyhow::Result<()> {
    match cmd {
        AdminCommand::Add {
            name,
            tenant,
            role,
            password_stdin,
        } => add(app, &name, tenant, role, password_stdin).await,
        AdminCommand::List { json } => list(app, json).await,
        AdminCommand::Remove { name } => remove(app, &name).await,
        AdminCommand::Token { name } => token(app, &name).await,
    }
}

async fn add(
    app: &App,
    name: &str,
    tenant: Option<String>,
    role: RoleArg,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let tenant = super::tenant_id(&app.ctx.settings, tenant)?;
    let password = password_stdin.then(read_password).transpose()?;
    let new = NewAccount {
        name,
        tenant: &tenant,
        role: role.into(),
        password: password.as_deref(),
    };
    let (actor, now) = (super::whoami(), app.ctx.now());
    accounts::add(&app.ctx.store, &app.ctx.settings, &new, &actor, now).await?;
    let role = Role::from(role).as_str();
    writeln!(
        std::io::stdout(),
        "account {name} added to tenant {tenant} as {role}"
    )?;
    Ok(())
}

/// A password for the web UI from standard input, without its line break.
fn read_password() -> anyhow::Result<String> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text)?;
    let text = text.trim_end_matches(['\r', '\n']).to_owned();
    anyhow::ensure!(
        text.chars().count() >= 12,
        "the password needs at least 12 characters"
    );
    Ok(text)
}

async fn list(app: &App, json: bool) -> anyhow::Result<()> {
    let all = accounts::list(&app.ctx.store).await?;
    print::admin::accounts(&mut std::io::stdout(), &all, json)
}

async fn remove(app: &App, name: &str) -> anyhow::Result<()> {
    accounts::remove(&app.ctx.store, name, &super::whoami(), app.ctx.now()).await?;
    writeln!(std::io::stdout(), "account {name} removed")?;
    Ok(())
}

async fn token(app: &App, name: &str) -> anyhow::Result<()> {
    let token =
        accounts::issue_token(&app.ctx.store, name, &super::whoami(), app.ctx.now()).await?;
    eprintln!("API token for {name} (shown once; send it as `Authorization: Bearer …`):");
    writeln!(std::io::stdout(), "{token}")?;
    Ok(())
}
