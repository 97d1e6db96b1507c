//! `absage admin …`: the accounts of the admin API and web UI.

use crate::accounts::{self, NewAccount};
use crate::app::App;
use crate::domain::account::Role;
use clap::{Subcommand, ValueEnum};
use std::io::Read;

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
    let actor = super::whoami();
    let now = app.ctx.now();
    match cmd {
        AdminCommand::Add {
            name,
            tenant,
            role,
            password_stdin,
        } => {
            let tenant = super::tenant_id(app, tenant)?;
            let password = if password_stdin {
                let mut text = String::new();
                std::io::stdin().read_to_string(&mut text)?;
                let text = text.trim_end_matches(['\r', '\n']).to_owned();
                anyhow::ensure!(
                    text.chars().count() >= 12,
                    "the password needs at least 12 characters"
                );
                Some(text)
            } else {
                None
            };
            let new = NewAccount {
                name: &name,
                tenant: &tenant,
                role: role.into(),
                password: password.as_deref(),
            };
            accounts::add(&app.ctx.store, &app.ctx.settings, &new, &actor, now).await?;
            println!(
                "account {name} added to tenant {tenant} as {}",
                Role::from(role).as_str()
            );
        }
        AdminCommand::List { json } => {
            let mut conn = app.ctx.store.conn().await?;
            let all = crate::store::accounts::list(&mut conn).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                for a in all {
                    println!("{:<32} tenant {:<12} {}", a.name, a.tenant_id, a.role);
                }
            }
        }
        AdminCommand::Remove { name } => {
            accounts::remove(&app.ctx.store, &name, &actor, now).await?;
            println!("account {name} removed");
        }
        AdminCommand::Token { name } => {
            let token = accounts::issue_token(&app.ctx.store, &name, &actor, now).await?;
            eprintln!("API token for {name} (shown once; send it as `Authorization: Bearer …`):");
            println!("{token}");
        }
    }
    Ok(())
}
