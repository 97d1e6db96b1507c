//! A real Dovecot of the test's own on loopback, serving one Maildir (the one Postfix
//! delivers the bounce domain to) as the INBOX of any user with the password
//! [`Dovecot::PASSWORD`]:
//! the IMAP mailbox a county's bounces may land in. Stopped on drop.

use super::{Daemon, accepts, binary, wait_ready};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;
use tempfile::TempDir;

pub struct Dovecot {
    pub addr: SocketAddr,
    dir: TempDir,
    daemon: Option<Daemon>,
}

impl Dovecot {
    pub const PASSWORD: &str = "geheim";

    /// Serves `maildir` (owned by `nobody`, as Postfix's `virtual` delivers it).
    pub fn start(maildir: &Path) -> Dovecot {
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start(maildir, super::free_port()) {
                Ok(d) => return d,
                Err(log) => last = log,
            }
        }
        panic!("dovecot did not start: {last}");
    }

    fn try_start(maildir: &Path, port: u16) -> Result<Dovecot, String> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir for dovecot");
        let d = dir.path();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        for sub in ["run", "state"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let conf = d.join("dovecot.conf");
        std::fs::write(
            &conf,
            format!(
                "base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = maildir:{maildir}
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={maildir}
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
",
                d = d.display(),
                maildir = maildir.display(),
                password = Self::PASSWORD,
            ),
        )
        .unwrap();
        let mut command = Command::new(binary("dovecot", None, &["/usr/sbin"]));
        command.arg("-F").arg("-c").arg(&conf);
        let mut daemon = Daemon::spawn(command, &d.join("out.log"));
        let ready = wait_ready("dovecot to accept connections", &mut [&mut daemon], || {
            accepts(addr)
        });
        let dovecot = Dovecot {
            addr,
            dir,
            daemon: Some(daemon),
        };
        ready.map_err(|e| {
            let log = std::fs::read_to_string(dovecot.dir.path().join("dovecot.log"));
            format!("{e}\n{}", log.unwrap_or_default())
        })?;
        Ok(dovecot)
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = Command::new(binary("dovecot", None, &["/usr/sbin"]))
            .arg("-c")
            .arg(self.dir.path().join("dovecot.conf"))
            .arg("stop")
            .output();
        if let Some(mut daemon) = self.daemon.take() {
            daemon.kill();
        }
    }
}
