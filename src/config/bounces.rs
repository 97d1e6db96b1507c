//! `[bounces]`: how bounces and complaints come back to absage. With a `domain`, every email
//! leaves with its own signed return path (`bounce+<notification>.<signature>@<domain>`), and
//! absage reads what comes back to it through its own SMTP listener (`listen`) and/or a
//! Maildir folder (`maildir`) that the county's mail server delivers the bounce domain to.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use super::TlsMode;
use crate::secret::Secret;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BounceSettings {
    /// The domain of the return paths (`bounces.absage.kreis-soest.de`); empty: emails leave
    /// with the tenant's sender as return path and bounces are not read.
    pub domain: String,
    /// Signs each return path so a forged bounce cannot fail someone else's message; at least
    /// 16 characters (`secret_file` reads it from a file).
    pub secret: Secret,
    /// Address of absage's own SMTP listener for the bounce domain (`127.0.0.1:2526`);
    /// empty: none. `absage run` serves it.
    pub listen: String,
    /// A Maildir folder (with `new/`) that absage reads and empties; empty: none.
    pub maildir: Option<PathBuf>,
    /// An IMAP mailbox that absage reads and empties (`[bounces.imap]`); none by default.
    pub imap: Option<ImapSettings>,
    /// How often the Maildir is read.
    pub poll_secs: u64,
    /// Largest bounce taken, in KiB; larger messages are refused (listener) or kept unread.
    pub max_message_kib: usize,
    /// Connections the listener serves at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// Messages the listener takes per minute from one address; more get a 450 (try later).
    /// The county's relay is one address: after a mass outage its bounces come all at once,
    /// and each held back delays a citizen's escalation.
    pub messages_per_minute: u32,
    /// Seconds the listener waits for the next command before it hangs up.
    pub idle_timeout_secs: u64,
    /// Minutes a handed-over email (or an SMS where no delivery reports come back) must go
    /// without a bounce or failure report before its citizen counts as informed.
    pub quiet_minutes: u32,
    /// Days an address that hard-bounced or complained stays off a tenant's mailings; then it
    /// is deleted (personal data) and mailed again. `absage bounces lift` ends it earlier.
    pub suppress_days: u32,
}

impl Default for BounceSettings {
    fn default() -> Self {
        Self {
            domain: String::new(),
            secret: Secret::default(),
            listen: String::new(),
            maildir: None,
            imap: None,
            poll_secs: 30,
            max_message_kib: 2048,
            max_connections: 32,
            messages_per_minute: 6000,
            idle_timeout_secs: 60,
            quiet_minutes: 15,
            suppress_days: 365,
        }
    }
}

/// `[bounces.imap]`: the mailbox the county's mail server delivers the bounce domain to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapSettings {
    pub host: String,
    #[serde(default = "default_imap_port")]
    pub port: u16,
    /// `tls` (implicit, port 993; the default), `starttls` (port 143), or `none` (loopback).
    #[serde(default = "default_imap_tls")]
    pub tls: TlsMode,
    pub username: String,
    /// `password_file` reads it from a file.
    pub password: Secret,
    #[serde(default = "default_mailbox")]
    pub mailbox: String,
}

fn default_imap_port() -> u16 {
    993
}

fn default_imap_tls() -> TlsMode {
    TlsMode::Tls
}

fn default_mailbox() -> String {
    "INBOX".into()
}

impl BounceSettings {
    /// The domain and secret of the return paths, when bounces are configured.
    pub fn return_paths(&self) -> Option<(&str, &str)> {
        (!self.domain.is_empty() && !self.secret.expose().is_empty())
            .then(|| (self.domain.as_str(), self.secret.expose()))
    }

    pub fn max_message_bytes(&self) -> usize {
        self.max_message_kib.saturating_mul(1024)
    }

    /// Problems with these settings, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let configured = !self.domain.is_empty()
            || !self.secret.expose().is_empty()
            || !self.listen.is_empty()
            || self.maildir.is_some()
            || self.imap.is_some();
        if !configured {
            return problems;
        }
        if self.domain.is_empty()
            || self.domain.contains(['@', ' ', '/'])
            || !self.domain.contains('.')
        {
            problems.push(format!(
                "bounces.domain: {:?} is not a mail domain like \"bounces.absage.kreis-soest.de\"",
                self.domain
            ));
        }
        if self.secret.expose().chars().count() < 16 {
            problems.push("bounces.secret: needs at least 16 characters".into());
        }
        if !self.listen.is_empty() && self.listen.parse::<std::net::SocketAddr>().is_err() {
            problems.push(format!(
                "bounces.listen: {:?} is not an address like \"127.0.0.1:2526\"",
                self.listen
            ));
        }
        if let Some(imap) = &self.imap
            && (imap.host.trim().is_empty() || imap.username.trim().is_empty())
        {
            problems.push("bounces.imap: needs `host`, `username` and `password`".into());
        }
        if self.poll_secs == 0 {
            problems.push("bounces.poll_secs: must be at least 1".into());
        }
        if self.max_message_kib < 64 {
            problems.push("bounces.max_message_kib: must be at least 64".into());
        }
        if self.max_connections == 0 || self.messages_per_minute == 0 {
            problems.push(
                "bounces.max_connections and bounces.messages_per_minute: must be at least 1"
                    .into(),
            );
        }
        if self.idle_timeout_secs == 0 {
            problems.push("bounces.idle_timeout_secs: must be at least 1".into());
        }
        problems
    }
}
