//! A throwaway PostgreSQL cluster per test, started with `scripts/postgres` on a free port and
//! stopped (its folder removed) when dropped.

use std::path::PathBuf;
use std::process::Command;

pub struct Postgres {
    dir: PathBuf,
    port: u16,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/postgres")
}

impl Postgres {
    pub fn start() -> Postgres {
        let (dir, port) = super::start_server(&script(), "pg");
        Postgres { dir, port }
    }

    /// A new, empty database on this cluster, as a URL.
    pub fn database(&self, name: &str) -> String {
        let out = Command::new("runuser")
            .args([
                "-u",
                "postgres",
                "--",
                "/usr/lib/postgresql/15/bin/psql",
                "-q",
            ])
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-c"])
            .arg(format!("create database {name}"))
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Kills the server (an immediate shutdown: what a crash or a failover does to the clients)
    /// and starts it again after `down`.
    pub fn crash_for(&self, down: std::time::Duration) {
        let status = Command::new(script())
            .arg("crash")
            .arg(&self.dir)
            .arg(self.port.to_string())
            .arg(down.as_secs_f64().to_string())
            .status()
            .expect("run scripts/postgres crash");
        assert!(status.success(), "scripts/postgres crash failed");
    }

    /// Restarts the server (connections are cut, as when the database host reboots).
    pub fn restart(&self) {
        let status = Command::new("runuser")
            .args(["-u", "postgres", "--", "/usr/lib/postgresql/15/bin/pg_ctl"])
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "fast", "-w", "restart"])
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run pg_ctl");
        assert!(status.success(), "pg_ctl restart failed");
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .args(["stop", &self.dir.to_string_lossy()])
            .status();
    }
}
