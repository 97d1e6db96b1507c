//! Helpers shared by the integration tests: real peers started per test.

pub mod browser;
pub mod mariadb;
pub mod peers;
pub mod postgres;

/// Starts a database server with its script (`scripts/postgres`, `scripts/mariadb`: `start DIR
/// PORT`) in a fresh folder `/tmp/absage-{tag}-…` on a free port. A start that fails (another
/// process took the port first, a machine too busy for the server to come up in time) is
/// tried again on a new port, three times in all.
pub fn start_server(script: &std::path::Path, tag: &str) -> (std::path::PathBuf, u16) {
    let mut failures = Vec::new();
    for _ in 0..3 {
        // A short path: the server's socket path must stay under 108 bytes.
        let dir =
            std::path::PathBuf::from(format!("/tmp/absage-{tag}-{:08x}", rand::random::<u32>()));
        let port = peers::free_port();
        let out = std::process::Command::new(script)
            .args(["start", &dir.to_string_lossy(), &port.to_string()])
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
        if out.status.success() {
            return (dir, port);
        }
        failures.push(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    panic!(
        "{} start failed three times (run scripts/install-peers): {failures:#?}",
        script.display()
    );
}
