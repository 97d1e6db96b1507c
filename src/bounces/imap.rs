//! Reading an IMAP mailbox that the county's mail server delivers the bounce domain to
//! (Dovecot, Exchange, …), for counties whose bounces must land in a mail server's mailbox.
//!
//! One pass: log in, take every message not yet deleted nor flagged — fetched whole without
//! marking it seen, kept and applied like any returned mail — mark each taken one `\Deleted`
//! and expunge them at the end. A message larger than `max_message_kib` is flagged for a person
//! and skipped from then on; one that could not be taken (the database refused) stays for the
//! next pass. One instance reads at a time (a lease), so none is taken twice.

use super::intake;
use super::maildir::Pass;
use crate::config::{ImapSettings, TlsMode};
use crate::ctx::Ctx;
use futures::TryStreamExt;
use lettre::transport::smtp::client::{AsyncTokioStream, TlsParameters};
use std::time::Duration;

/// Longest wait for the server on any step.
const TIMEOUT: Duration = Duration::from_secs(60);

type Stream = Box<dyn AsyncTokioStream>;
type Session = async_imap::Session<Stream>;

/// Takes every message waiting in the mailbox.
pub async fn read_once(ctx: &Ctx, cfg: &ImapSettings) -> anyhow::Result<Pass> {
    let mut session = tokio::time::timeout(TIMEOUT, login(cfg))
        .await
        .map_err(|_| {
            anyhow::anyhow!("{}:{}: no answer within {TIMEOUT:?}", cfg.host, cfg.port)
        })??;
    let pass = tokio::time::timeout(TIMEOUT * 10, take_all(ctx, &mut session))
        .await
        .map_err(|_| anyhow::anyhow!("{}: the pass took too long", cfg.host));
    let _ = tokio::time::timeout(TIMEOUT, session.logout()).await;
    pass?
}

async fn login(cfg: &ImapSettings) -> anyhow::Result<Session> {
    let where_ = format!("{}:{}", cfg.host, cfg.port);
    let tcp = tokio::net::TcpStream::connect((cfg.host.as_str(), cfg.port))
        .await
        .map_err(|e| anyhow::anyhow!("{where_}: connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let tls =
        || TlsParameters::new(cfg.host.clone()).map_err(|e| anyhow::anyhow!("{where_}: TLS: {e}"));
    let client = match cfg.tls {
        TlsMode::Tls => {
            let stream = crate::dispatch::email::implicit_tls(tcp, tls()?)
                .await
                .map_err(|e| anyhow::anyhow!("{where_}: {e}"))?;
            greeted(async_imap::Client::new(stream), &where_).await?
        }
        TlsMode::Starttls => {
            let mut plain =
                greeted(async_imap::Client::new(Box::new(tcp) as Stream), &where_).await?;
            plain
                .run_command_and_check_ok("STARTTLS", None)
                .await
                .map_err(|e| anyhow::anyhow!("{where_}: STARTTLS: {e}"))?;
            let tcp = plain.into_inner();
            // Only a plain TCP stream was wrapped: hand it to TLS as such.
            let stream = crate::dispatch::email::upgrade_tls(tcp, tls()?)
                .await
                .map_err(|e| anyhow::anyhow!("{where_}: {e}"))?;
            // No greeting after STARTTLS.
            async_imap::Client::new(stream)
        }
        TlsMode::None => greeted(async_imap::Client::new(Box::new(tcp) as Stream), &where_).await?,
    };
    let mut session = client
        .login(&cfg.username, cfg.password.expose())
        .await
        .map_err(|(e, _)| anyhow::anyhow!("{where_}: login as {}: {e}", cfg.username))?;
    session
        .select(&cfg.mailbox)
        .await
        .map_err(|e| anyhow::anyhow!("{where_}: mailbox {:?}: {e}", cfg.mailbox))?;
    Ok(session)
}

async fn greeted(
    mut client: async_imap::Client<Stream>,
    where_: &str,
) -> anyhow::Result<async_imap::Client<Stream>> {
    // A server that is no IMAP server (a port mixed up) fails the parser: say so, not how.
    client
        .read_response()
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData | std::io::ErrorKind::Other => {
                anyhow::anyhow!("{where_}: does not greet like an IMAP server")
            }
            _ => anyhow::anyhow!("{where_}: greeting: {e}"),
        })?
        .ok_or_else(|| anyhow::anyhow!("{where_}: closed before its greeting"))?;
    Ok(client)
}

async fn take_all(ctx: &Ctx, session: &mut Session) -> anyhow::Result<Pass> {
    let mut pass = Pass::default();
    let mut uids: Vec<u32> = session
        .uid_search("UNDELETED UNFLAGGED")
        .await?
        .into_iter()
        .collect();
    uids.sort_unstable();
    let max = ctx.settings.bounces.max_message_bytes();
    for uid in uids {
        let set = uid.to_string();
        let size: Option<u32> = session
            .uid_fetch(&set, "RFC822.SIZE")
            .await?
            .try_collect::<Vec<_>>()
            .await?
            .first()
            .and_then(|f| f.size);
        if size.is_some_and(|s| s as usize > max) {
            flag(session, &set, "\\Flagged").await?;
            let size = size.unwrap_or_default() as usize;
            intake::too_large(ctx, "imap", size, Some("flagged in the mailbox")).await?;
            pass.too_large += 1;
            continue;
        }
        let fetched: Vec<_> = session
            .uid_fetch(&set, "BODY.PEEK[]")
            .await?
            .try_collect()
            .await?;
        let Some(raw) = fetched.first().and_then(|f| f.body()).map(<[u8]>::to_vec) else {
            continue;
        };
        match intake::take(ctx, &raw, &[], "imap").await {
            Ok(_) => {
                flag(session, &set, "\\Deleted").await?;
                pass.taken += 1;
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "imap: could not take a message; it waits for the next pass");
                pass.failed += 1;
            }
        }
    }
    if pass.taken > 0 {
        session.expunge().await?.try_collect::<Vec<_>>().await?;
    }
    Ok(pass)
}

async fn flag(session: &mut Session, set: &str, flag: &str) -> anyhow::Result<()> {
    session
        .uid_store(set, format!("+FLAGS.SILENT ({flag})"))
        .await?
        .try_collect::<Vec<_>>()
        .await?;
    Ok(())
}
