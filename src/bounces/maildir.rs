//! Reading a Maildir folder that the county's mail server delivers the bounce domain to
//! (Postfix `virtual_mailbox_maps`, Dovecot LMTP, procmail …).
//!
//! Each message in `new/` is claimed by renaming it into `cur/` (atomic: of several absage
//! instances one wins), taken, then deleted — the database keeps what is needed, and the
//! message itself where a person must read it. A message that could not be taken (the
//! database is down) goes back to `new/` for the next pass; one left in `cur/` by a process
//! that died is taken again after [`STALE`]. A message larger than `max_message_kib` stays in
//! `cur/` flagged (`:2,F`) for a person, and is listed as `too_large`.

use super::intake;
use crate::ctx::Ctx;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A claimed message older than this was left by a process that died.
pub const STALE: Duration = Duration::from_secs(300);
const CLAIMED: &str = ":2,S";
const FLAGGED: &str = ":2,F";

/// What one pass (over a Maildir or an IMAP mailbox) did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub taken: u64,
    pub too_large: u64,
    /// Not taken this time (the database refused); left for the next pass.
    pub failed: u64,
}

impl std::ops::Add for Pass {
    type Output = Pass;

    fn add(self, o: Pass) -> Pass {
        Pass {
            taken: self.taken + o.taken,
            too_large: self.too_large + o.too_large,
            failed: self.failed + o.failed,
        }
    }
}

/// Takes every message waiting in `dir`.
pub async fn read_once(ctx: &Ctx, dir: &Path) -> anyhow::Result<Pass> {
    let (new, cur) = (dir.join("new"), dir.join("cur"));
    tokio::fs::create_dir_all(&cur).await?;
    let mut pass = Pass::default();
    let mut claimed = Vec::new();
    for name in names(&new).await? {
        let to = cur.join(format!("{name}{CLAIMED}"));
        // Another instance may have claimed it first: then it is gone here.
        if tokio::fs::rename(new.join(&name), &to).await.is_ok() {
            // The claim's time, so that no other instance takes it for a leftover.
            if let Ok(file) = std::fs::File::options().append(true).open(&to) {
                let _ = file.set_modified(SystemTime::now());
            }
            claimed.push(to);
        }
    }
    for name in names(&cur).await? {
        let path = cur.join(&name);
        if name.ends_with(CLAIMED) && is_stale(&path).await && !claimed.contains(&path) {
            claimed.push(path);
        }
    }
    let max = ctx.settings.bounces.max_message_bytes();
    for path in claimed {
        let size = tokio::fs::metadata(&path).await?.len();
        if size > max as u64 {
            keep_for_a_person(ctx, &path, size).await?;
            pass.too_large += 1;
            continue;
        }
        let raw = tokio::fs::read(&path).await?;
        match intake::take(ctx, &raw, &[], "maildir").await {
            Ok(_) => {
                tokio::fs::remove_file(&path).await?;
                pass.taken += 1;
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "maildir: could not take a message; it waits for the next pass");
                if let Some(name) = unclaimed_name(&path) {
                    let _ = tokio::fs::rename(&path, new.join(name)).await;
                }
                pass.failed += 1;
            }
        }
    }
    Ok(pass)
}

/// Records the message as too large and flags it (`:2,F`) where it lies.
async fn keep_for_a_person(ctx: &Ctx, path: &Path, size: u64) -> anyhow::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    intake::too_large(ctx, "maildir", size as usize, name.as_deref()).await?;
    if let Some(name) = unclaimed_name(path) {
        tokio::fs::rename(path, path.with_file_name(format!("{name}{FLAGGED}"))).await?;
    }
    Ok(())
}

fn unclaimed_name(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_string_lossy();
    Some(name.strip_suffix(CLAIMED).unwrap_or(&name).to_owned())
}

async fn is_stale(path: &PathBuf) -> bool {
    let modified = match tokio::fs::metadata(path).await.and_then(|m| m.modified()) {
        Ok(m) => m,
        Err(_) => return false,
    };
    SystemTime::now()
        .duration_since(modified)
        .is_ok_and(|age| age > STALE)
}

/// File names in a folder, sorted (Maildir names start with the delivery time); none when
/// the folder does not exist yet. Dot files are not messages.
async fn names(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut entries = match tokio::fs::read_dir(dir).await {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(anyhow::anyhow!("{}: {e}", dir.display())),
    };
    let mut names = Vec::new();
    while let Some(entry) = entries.next_entry().await? {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') && entry.file_type().await?.is_file() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}
