//! Commands that only read work on a database file nobody may write: a copy handed to the
//! office head, a read-only mount, a backup. Nothing is created or changed beside it.

use crate::process::{write_config, write_export};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_absage");

/// Runs the binary; as root, as `nobody` (root may write any file).
fn absage_as_reader(config: &Path, args: &[&str]) -> Output {
    let mut cmd = if rustix::process::geteuid().is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN]);
        c
    } else {
        Command::new(BIN)
    };
    cmd.arg("--config").arg(config).args(args);
    cmd.output().expect("the binary runs")
}

fn absage(config: &Path, args: &[&str]) -> Output {
    let out = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("the binary runs");
    assert!(out.status.success(), "{args:?}: {}", text(&out));
    out
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn status_report_and_call_list_read_a_database_file_that_is_read_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let config = write_config(dir, 9, 100);
    write_export(dir, 3);
    absage(&config, &["import"]);
    let day = (chrono::Utc::now() + chrono::Duration::days(2))
        .with_timezone(&chrono_tz::Europe::Berlin)
        .date_naive();
    let (from, to) = (format!("{day} 00:00"), format!("{day} 23:59"));
    let args = [
        "outage", "declare", "--from", &from, "--to", &to, "--reason", "IT down",
    ];
    absage(&config, &args);
    // Read-only: the file, and the folder (no journal or lock file can be created).
    let db = dir.join("absage.db");
    let before = std::fs::read(&db).unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o444)).unwrap();
    let status = absage_as_reader(&config, &["status"]);
    let report = absage_as_reader(&config, &["report", "1"]);
    let calls = absage_as_reader(&config, &["calllist", "1"]);
    // A command that writes says why it cannot.
    let import = absage_as_reader(&config, &["import"]);
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(status.status.success(), "{}", text(&status));
    assert!(text(&status).contains("#1 outage"), "{}", text(&status));
    assert!(report.status.success(), "{}", text(&report));
    assert_eq!(
        text(&report).matches("K0000").count(),
        3,
        "every affected booking: {}",
        text(&report)
    );
    assert!(calls.status.success(), "{}", text(&calls));
    assert!(!import.status.success());
    assert!(text(&import).contains("absage.db"), "{}", text(&import));
    assert_eq!(std::fs::read(&db).unwrap(), before, "the file is unchanged");
    let beside: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("absage.db"))
        .collect();
    assert_eq!(beside, ["absage.db"], "no journal or lock file beside it");
}
