//! Kannel (bearerbox + smsbox) with `fakesmsc` as the SMS centre, all on free loopback
//! ports with their own config in a temp dir.

use super::fakesmsc_log::{self, FakeSms};
use super::{
    Daemon, START_TIMEOUT, accepts, binary, http_get, try_http_get, wait_ready, wait_until,
};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use tempfile::TempDir;

const SMSC_ID: &str = "FAKE";
const ADMIN_PASSWORD: &str = "bar";

/// A running Kannel whose SMS centre is `fakesmsc`; every process is killed on drop.
pub struct Kannel {
    /// `http://127.0.0.1:PORT/cgi-bin/sendsms`
    pub sendsms_url: String,
    pub username: String,
    pub password: String,
    /// `http://127.0.0.1:PORT` (bearerbox's admin interface)
    pub admin_url: String,
    pub admin_password: String,
    admin: SocketAddr,
    smsc_port: u16,
    // Declared before `dir`, so the processes die before their files go.
    fakesmsc: Option<Daemon>,
    smsbox: Daemon,
    bearerbox: Daemon,
    dir: TempDir,
}

/// The ports of one Kannel instance.
struct Ports {
    admin: u16,
    smsbox: u16,
    sendsms: u16,
    smsc: u16,
}

impl Kannel {
    /// Starts bearerbox, smsbox and fakesmsc and waits until the SMS centre is online.
    pub fn start() -> Kannel {
        let mut last_error = String::new();
        // A port picked by `free_port` may be taken before Kannel binds it: try again.
        for _ in 0..3 {
            match Self::try_start() {
                Ok(kannel) => return kannel,
                Err(error) => last_error = error,
            }
        }
        panic!("Kannel did not start: {last_error}");
    }

    /// The SMS that reached the fake SMS centre so far, oldest first.
    pub fn received(&self) -> Vec<FakeSms> {
        let bytes = std::fs::read(self.fakesmsc_log()).unwrap_or_default();
        fakesmsc_log::parse(&String::from_utf8_lossy(&bytes))
    }

    /// Bearerbox's `status.txt`.
    pub fn status(&self) -> String {
        status(self.admin).unwrap_or_else(|e| panic!("Kannel status: {e}"))
    }

    /// Takes the SMS centre link down: sendsms then answers `403 Not routable`.
    pub fn stop_smsc(&self) {
        self.admin_command("stop-smsc");
        let dead = format!("{SMSC_ID}:{} (dead", self.smsc_port);
        wait_until("the Kannel SMSC link to go down", START_TIMEOUT, || {
            self.status().contains(&dead).then_some(())
        });
    }

    /// Brings the SMS centre link back (fakesmsc exits when its link stops, so it is
    /// started anew) and waits until it is online.
    pub fn start_smsc(&mut self) {
        if let Some(mut old) = self.fakesmsc.take() {
            old.kill();
        }
        self.admin_command("start-smsc");
        self.fakesmsc = Some(self.connect_fakesmsc().unwrap_or_else(|e| panic!("{e}")));
    }

    /// Kills all three processes: the gateway then refuses connections.
    pub fn stop(&mut self) {
        if let Some(fakesmsc) = self.fakesmsc.as_mut() {
            fakesmsc.kill();
        }
        self.smsbox.kill();
        self.bearerbox.kill();
    }

    /// Where the config and the logs of all three processes are (for debugging a test).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn try_start() -> Result<Kannel, String> {
        let dir = tempfile::tempdir().expect("temp dir for Kannel");
        let ports = Ports::pick();
        let conf = dir.path().join("kannel.conf");
        std::fs::write(&conf, config(&ports, dir.path())).expect("write kannel.conf");

        let mut bearerbox = Daemon::spawn(kannel_box("bearerbox", &conf), &log(&dir, "bearerbox"));
        let (admin, boxes) = (local(ports.admin), local(ports.smsbox));
        wait_ready("bearerbox's ports", &mut [&mut bearerbox], || {
            accepts(admin) && accepts(boxes)
        })?;
        let mut smsbox = Daemon::spawn(kannel_box("smsbox", &conf), &log(&dir, "smsbox"));
        let sendsms = local(ports.sendsms);
        wait_ready(
            "smsbox's sendsms port",
            &mut [&mut bearerbox, &mut smsbox],
            || accepts(sendsms),
        )?;
        let mut kannel = Kannel {
            sendsms_url: format!("http://{sendsms}/cgi-bin/sendsms"),
            username: "tester".to_string(),
            password: "foobar".to_string(),
            admin_url: format!("http://{admin}"),
            admin_password: ADMIN_PASSWORD.to_string(),
            admin,
            smsc_port: ports.smsc,
            fakesmsc: None,
            smsbox,
            bearerbox,
            dir,
        };
        kannel.fakesmsc = Some(kannel.connect_fakesmsc()?);
        Ok(kannel)
    }

    /// Starts fakesmsc and waits for bearerbox to report the link online; restarts it if it
    /// gave up because bearerbox was not listening yet. Never probe the SMSC port with a
    /// plain TCP connect: the fake SMSC takes its first client as the phone.
    fn connect_fakesmsc(&mut self) -> Result<Daemon, String> {
        let online = format!("{SMSC_ID}:{} (online", self.smsc_port);
        let program = binary(
            "fakesmsc",
            Some("ABSAGE_FAKESMSC"),
            &["/usr/lib/kannel/test"],
        );
        let (admin, log) = (self.admin, self.fakesmsc_log());
        // smsbox opens its HTTP port before it has connected to bearerbox: wait for both.
        let ready = || status(admin).is_ok_and(|s| s.contains(&online) && s.contains("smsbox:"));
        let mut last_error = String::new();
        for _ in 0..3 {
            let mut command = Command::new(&program);
            let port = self.smsc_port.to_string();
            // `-m 0` with a dummy message makes it print what it receives.
            let args = [
                "-H",
                "127.0.0.1",
                "-r",
                &port,
                "-m",
                "0",
                "100 200 text unused",
            ];
            command.args(args);
            let mut fakesmsc = Daemon::spawn(command, &log);
            let watched = &mut [&mut self.bearerbox, &mut self.smsbox, &mut fakesmsc];
            match wait_ready("the fake SMSC and smsbox to be online", watched, ready) {
                Ok(()) => return Ok(fakesmsc),
                Err(error) => last_error = error,
            }
        }
        Err(last_error)
    }

    fn admin_command(&self, command: &str) {
        let url = format!(
            "{}/{command}?smsc={SMSC_ID}&password={}",
            self.admin_url, self.admin_password
        );
        let (status, body) = http_get(&url);
        assert_eq!(status, 200, "Kannel {command} failed: {body}");
    }

    fn fakesmsc_log(&self) -> PathBuf {
        log(&self.dir, "fakesmsc")
    }
}

impl Ports {
    /// Four distinct free ports.
    fn pick() -> Ports {
        let mut ports: Vec<u16> = Vec::new();
        while ports.len() < 4 {
            let port = super::free_port();
            if !ports.contains(&port) {
                ports.push(port);
            }
        }
        Ports {
            admin: ports[0],
            smsbox: ports[1],
            sendsms: ports[2],
            smsc: ports[3],
        }
    }
}

/// Bearerbox's `status.txt` (status-password = admin password here).
fn status(admin: SocketAddr) -> std::io::Result<String> {
    let url = format!("http://{admin}/status.txt?password={ADMIN_PASSWORD}");
    try_http_get(&url).map(|(_, body)| body)
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

fn log(dir: &TempDir, name: &str) -> PathBuf {
    dir.path().join(format!("{name}.out"))
}

fn kannel_box(name: &str, conf: &Path) -> Command {
    let mut command = Command::new(binary(name, None, &["/usr/sbin"]));
    command.arg("-v").arg("2").arg(conf);
    command
}

/// A loopback-only config (the recipe in PEERS.md) with this instance's ports and files.
fn config(ports: &Ports, dir: &Path) -> String {
    let run = dir.display();
    let Ports {
        admin,
        smsbox,
        sendsms,
        smsc,
    } = ports;
    format!(
        r#"group = core
admin-port = {admin}
admin-interface = 127.0.0.1
admin-password = {ADMIN_PASSWORD}
status-password = {ADMIN_PASSWORD}
admin-allow-ip = "127.0.0.1"
smsbox-port = {smsbox}
smsbox-interface = 127.0.0.1
box-allow-ip = "127.0.0.1"
log-file = "{run}/bearerbox.log"
log-level = 2
access-log = "{run}/bearerbox-access.log"
dlr-storage = internal

group = smsc
smsc = fake
smsc-id = {SMSC_ID}
port = {smsc}
our-host = 127.0.0.1
connect-allow-ip = "127.0.0.1"

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {smsbox}
sendsms-port = {sendsms}
sendsms-interface = 127.0.0.1
log-file = "{run}/smsbox.log"
log-level = 2
access-log = "{run}/smsbox-access.log"

group = sendsms-user
username = tester
password = foobar
user-allow-ip = "127.0.0.1"
concatenation = true
max-messages = 10

group = sms-service
keyword = default
text = "No service"
catch-all = true
"#
    )
}
