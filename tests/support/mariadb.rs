//! A throwaway MariaDB server per test, started with `scripts/mariadb` on a free port (with the
//! time zone tables loaded and the account absage/absage) and stopped, its folder removed, when
//! dropped.

use std::path::PathBuf;
use std::process::Command;

pub struct MariaDb {
    dir: PathBuf,
    port: u16,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/mariadb")
}

impl MariaDb {
    pub fn start() -> MariaDb {
        let (dir, port) = super::start_server(&script(), "my");
        MariaDb { dir, port }
    }

    /// A new, empty database on this server, as a URL.
    pub fn database(&self, name: &str) -> String {
        let out = Command::new("mariadb")
            .args(["--no-defaults", "-uabsage", "-pabsage", "-h127.0.0.1"])
            .args(["-P", &self.port.to_string(), "-e"])
            .arg(format!(
                "create database `{name}` character set utf8mb4 collate utf8mb4_unicode_ci"
            ))
            .output()
            .expect("run mariadb");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        format!("mysql://absage:absage@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .args(["stop", &self.dir.to_string_lossy()])
            .status();
    }
}
