//! A real Postfix of the test's own on loopback (its own config, queue and data folders), as
//! the county's relay in front of `smtp-sink`: it relays absage's emails, and writes the
//! bounces and delay notices itself when a sink refuses (550) or defers (450) a recipient.
//! Retries and lifetimes are seconds instead of days, so a deferred message gives up within a
//! test. Bounces go where the county would route them: to absage's listener
//! (`transport_maps`), or into a Maildir (`virtual` delivery).

use super::{Daemon, accepts, binary, wait_ready};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use tempfile::TempDir;

/// Where Postfix sends what.
pub struct Routes {
    /// Everything not routed otherwise (`relayhost`).
    pub relayhost: SocketAddr,
    /// Domain → the SMTP server mail for it goes to (`transport_maps`).
    pub transports: Vec<(String, SocketAddr)>,
    /// A domain Postfix itself delivers into a Maildir (`<dir>/mail/box/`), any local part.
    pub maildir_domain: Option<String>,
}

/// A running Postfix; stopped on drop.
pub struct Postfix {
    pub addr: SocketAddr,
    dir: TempDir,
    daemon: Option<Daemon>,
}

const MASTER_CF: &str = "\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
";

impl Postfix {
    pub fn start(routes: &Routes) -> Postfix {
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start(routes, super::free_port()) {
                Ok(p) => return p,
                Err(log) => last = log,
            }
        }
        panic!("postfix did not start: {last}");
    }

    fn try_start(routes: &Routes, port: u16) -> Result<Postfix, String> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir for postfix");
        let d = dir.path();
        // Postfix's processes run as `postfix` and must reach their folders.
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        for sub in [
            "etc",
            "queue",
            "data",
            "mail/box/new",
            "mail/box/cur",
            "mail/box/tmp",
        ] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        chown(&d.join("data"), "postfix");
        // `virtual` delivers as nobody (below); absage, reading, may be anyone.
        chown(&d.join("mail"), "nobody");
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        std::fs::write(
            d.join("etc/master.cf"),
            format!("{addr} inet n - n - - smtpd\n{MASTER_CF}"),
        )
        .unwrap();
        let transports: Vec<String> = routes
            .transports
            .iter()
            .map(|(domain, at)| format!("{domain}=smtp:[{}]:{}", at.ip(), at.port()))
            .collect();
        let mut main = format!(
            "compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = relay.absage.test
mydomain = absage.test
myorigin = $myhostname
mydestination =
mynetworks = 127.0.0.0/8
relayhost = [{relay_ip}]:{relay_port}
transport_maps = inline:{{ {transports} }}
smtp_host_lookup = native
smtp_dns_support_level = disabled
maillog_file_prefixes = /tmp, /var, {d}
maillog_file = {d}/maillog
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
delay_warning_time = 1s
maximal_queue_lifetime = 6s
bounce_queue_lifetime = 6s
smtpd_relay_restrictions = permit_mynetworks, reject
biff = no
alias_maps =
alias_database =
local_recipient_maps =
recipient_delimiter = +
",
            d = d.display(),
            relay_ip = routes.relayhost.ip(),
            relay_port = routes.relayhost.port(),
            transports = transports.join(", "),
        );
        if let Some(domain) = &routes.maildir_domain {
            main.push_str(&format!(
                "virtual_mailbox_domains = {domain}
virtual_mailbox_base = {d}/mail
virtual_mailbox_maps = inline:{{ bounce@{domain}=box/ }}
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
virtual_minimum_uid = 100
",
                d = d.display()
            ));
        }
        std::fs::write(d.join("etc/main.cf"), main).unwrap();
        let mut command = Command::new(binary("postfix", None, &["/usr/sbin"]));
        command.arg("-c").arg(d.join("etc")).arg("start-fg");
        let mut daemon = Daemon::spawn(command, &d.join("postfix.log"));
        let maillog = d.join("maillog");
        let result = wait_ready("postfix to accept connections", &mut [&mut daemon], || {
            accepts(addr)
        });
        let postfix = Postfix {
            addr,
            dir,
            daemon: Some(daemon),
        };
        result.map_err(|e| {
            format!(
                "{e}\nmaillog:\n{}",
                std::fs::read_to_string(&maillog).unwrap_or_default()
            )
        })?;
        Ok(postfix)
    }

    /// The Maildir `virtual` delivers the `maildir_domain` into.
    pub fn maildir(&self) -> PathBuf {
        self.dir.path().join("mail/box")
    }

    /// Postfix's log so far (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = Command::new(binary("postfix", None, &["/usr/sbin"]))
            .arg("-c")
            .arg(self.dir.path().join("etc"))
            .arg("abort")
            .output();
        if let Some(mut daemon) = self.daemon.take() {
            daemon.kill();
        }
    }
}

fn chown(path: &Path, user: &str) {
    let status = Command::new("chown")
        .arg("-R")
        .arg(user)
        .arg(path)
        .status()
        .expect("chown");
    assert!(status.success(), "chown {user} {}", path.display());
}
