//! Managing accounts (`absage admin …`) and finding the account behind a request. Every change
//! is written to the audit log in the same transaction.

use crate::config::Settings;
use crate::domain::account::{self, Role};
use crate::store::accounts::{self as store, AccountRow};
use crate::store::{Store, audit};
use anyhow::{Context, bail};
use chrono::{DateTime, Utc};

/// Who is calling: an account, its tenant and role.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    pub tenant: String,
    pub role: Role,
}

impl TryFrom<AccountRow> for Caller {
    type Error = anyhow::Error;
    fn try_from(a: AccountRow) -> anyhow::Result<Caller> {
        Ok(Caller {
            role: Role::parse(&a.role).map_err(anyhow::Error::msg)?,
            name: a.name,
            tenant: a.tenant_id,
        })
    }
}

/// A new account.
pub struct NewAccount<'a> {
    pub name: &'a str,
    pub tenant: &'a str,
    pub role: Role,
    /// For the web UI; an account without one uses API tokens only.
    pub password: Option<&'a str>,
}

/// Adds an account to a configured tenant.
pub async fn add(
    db: &Store,
    settings: &Settings,
    new: &NewAccount<'_>,
    actor: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let NewAccount {
        name,
        tenant,
        role,
        password,
    } = *new;
    account::check_name(name).map_err(anyhow::Error::msg)?;
    if settings.tenant(tenant).is_none() {
        bail!("no tenant with id {tenant:?} is configured");
    }
    let hash = password.map(account::hash_password).transpose()?;
    let mut tx = db.begin().await?;
    if store::by_name(&mut tx, name).await?.is_some() {
        bail!("an account named {name:?} exists already");
    }
    store::insert(&mut tx, name, tenant, role.as_str(), hash.as_deref(), now).await?;
    audit::append(
        &mut tx,
        &audit::Entry {
            tenant: Some(tenant),
            actor,
            action: "account.add",
            subject: Some(name.to_owned()),
            details: serde_json::json!({ "role": role.as_str(), "password": hash.is_some() }),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Removes an account and its tokens.
pub async fn remove(db: &Store, name: &str, actor: &str, now: DateTime<Utc>) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    let account = store::by_name(&mut tx, name)
        .await?
        .with_context(|| format!("no account named {name:?}"))?;
    store::remove(&mut tx, name).await?;
    audit::append(
        &mut tx,
        &audit::Entry {
            tenant: Some(&account.tenant_id),
            actor,
            action: "account.remove",
            subject: Some(name.to_owned()),
            details: serde_json::json!({}),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Issues a new API token for an account; the token is returned once and stored only hashed.
pub async fn issue_token(
    db: &Store,
    name: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let mut tx = db.begin().await?;
    let account = store::by_name(&mut tx, name)
        .await?
        .with_context(|| format!("no account named {name:?}"))?;
    let (token, hash) = account::new_token();
    store::add_token(&mut tx, account.id, &hash, now).await?;
    audit::append(
        &mut tx,
        &audit::Entry {
            tenant: Some(&account.tenant_id),
            actor,
            action: "account.token",
            subject: Some(name.to_owned()),
            details: serde_json::json!({}),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

/// Every account (no secrets), by tenant and name.
pub async fn list(db: &Store) -> anyhow::Result<Vec<AccountRow>> {
    let mut conn = db.conn().await?;
    Ok(store::list(&mut conn).await?)
}

/// The caller behind an API token, if the token is known.
pub async fn by_token(
    db: &Store,
    token: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<Caller>> {
    let mut conn = db.conn().await?;
    let found = store::by_token(&mut conn, &account::token_hash(token), now).await?;
    found.map(Caller::try_from).transpose()
}

/// How long a web UI session lasts.
pub const SESSION_HOURS: i64 = 12;

/// A new session for `name` if `password` is right: (cookie token, CSRF token). The same
/// answer for an unknown name and a wrong password, and the hash is checked either way.
pub async fn login(
    db: &Store,
    name: &str,
    password: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<(String, String)>> {
    let mut conn = db.conn().await?;
    let stored = store::password_hash(&mut conn, name).await?;
    drop(conn);
    let ok = verify_off_the_runtime(password, stored).await?;
    let mut conn = db.conn().await?;
    let Some(account) = store::by_name(&mut conn, name).await?.filter(|_| ok) else {
        return Ok(None);
    };
    let (token, hash) = account::new_token();
    let (csrf, _) = account::new_token();
    crate::store::sessions::create(
        &mut conn,
        &hash,
        account.id,
        &csrf,
        now,
        now + chrono::Duration::hours(SESSION_HOURS),
    )
    .await?;
    audit::append(
        &mut conn,
        &audit::Entry {
            tenant: Some(&account.tenant_id),
            actor: &account.name,
            action: "login",
            subject: None,
            details: serde_json::json!({}),
        },
        now,
    )
    .await?;
    Ok(Some((token, csrf)))
}

/// Password checks running at once: argon2 takes tens of milliseconds of CPU each, so they
/// run on tokio's blocking threads, never more than this many, and the async workers (health,
/// webhooks, the dispatcher) keep their cores.
fn hashing_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        tokio::sync::Semaphore::new((cores / 2).max(1))
    });
    &SLOTS
}

/// Whether `password` matches `stored` (None: no such account, checked against a dummy hash
/// so that an unknown name takes as long as a wrong password).
async fn verify_off_the_runtime(password: &str, stored: Option<String>) -> anyhow::Result<bool> {
    static DUMMY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        account::hash_password("no account has this password").unwrap_or_default()
    });
    let _slot = hashing_slots()
        .acquire()
        .await
        .context("the password check is closed")?;
    let password = password.to_owned();
    let ok = tokio::task::spawn_blocking(move || {
        account::verify_password(&password, stored.as_deref().unwrap_or(&DUMMY)) && stored.is_some()
    })
    .await
    .context("the password check failed")?;
    Ok(ok)
}

/// The caller and CSRF token of a live session.
pub async fn session(
    db: &Store,
    token: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<(Caller, String)>> {
    let mut conn = db.conn().await?;
    let found = crate::store::sessions::get(&mut conn, &account::token_hash(token), now).await?;
    found
        .map(|(a, csrf)| Caller::try_from(a).map(|c| (c, csrf)))
        .transpose()
}

/// Ends a session.
pub async fn logout(db: &Store, token: &str, now: DateTime<Utc>) -> anyhow::Result<()> {
    let mut conn = db.conn().await?;
    crate::store::sessions::end(&mut conn, &account::token_hash(token), now).await?;
    Ok(())
}
