//! The real `absage` binary against the faults and attacks of issue 11: what `config check`
//! prints, CSV that office staff open in Excel, file modes under a permissive umask, and
//! idle connections against the listener while a declaration is sent.

use crate::process::{Daemon, absage, declare_all, write_config, write_export};
use crate::support::peers::{free_port, wait_until};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_absage");

/// The test config with the SMTP relay replaced by the file outbox (nothing to start).
fn outbox_config(dir: &Path) -> std::path::PathBuf {
    let config = write_config(dir, free_port(), 1000);
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replace("transport = \"network\"", "transport = \"file\"");
    std::fs::write(&config, text).unwrap();
    config
}

#[test]
fn config_check_prints_no_credential_of_any_url() {
    let dir = tempfile::tempdir().unwrap();
    let config = outbox_config(dir.path());
    let mut text = std::fs::read_to_string(&config).unwrap();
    text = text.replace(
        &format!("path = \"{}/export.csv\"\n", dir.path().display()),
        "[sources.http]\nurl = \"https://kim:Pa55word@termine.example/export.csv?token=T0ken&format=csv\"\n",
    );
    text.push_str(
        r#"
[sms]
transport = "network"
[[sms.gateways]]
kind = "kannel"
name = "kannel"
url = "http://127.0.0.1:13013/cgi-bin/sendsms?password=KannelPw"
username = "absage"
password = "KannelPw2"
timeout_secs = 2
[[sms.gateways]]
kind = "http"
name = "provider"
url = "https://api.sms.example/send?access_token=Acce55"
timeout_secs = 2
[sms.gateways.query]
api_key = "K3y"
to = "{to}"
"#,
    );
    std::fs::write(&config, text).unwrap();
    let out = absage(&config, &["config", "check"]);
    let printed = String::from_utf8_lossy(&out.stdout);
    for secret in ["Pa55word", "T0ken", "KannelPw", "Acce55", "K3y", "kim:"] {
        assert!(!printed.contains(secret), "{secret} printed:\n{printed}");
    }
    assert!(
        printed.contains("https://***@termine.example/export.csv?token=***&format=csv"),
        "{printed}"
    );
    // Neither bounces nor SMS delivery reports are set up: "informed" rests on silence.
    let warned = String::from_utf8_lossy(&out.stderr);
    assert!(warned.contains("returned mail is not read"), "{warned}");
    assert!(
        warned.contains("SMS delivery reports are not set up"),
        "{warned}"
    );
}

/// `absage calllist|report ID --format csv` for an outage over one citizen whose export cells
/// look like formulas.
#[test]
fn command_line_csv_neutralises_cells_that_would_start_a_formula() {
    let dir = tempfile::tempdir().unwrap();
    let config = outbox_config(dir.path());
    let day = (chrono::Utc::now() + chrono::Duration::days(2))
        .with_timezone(&chrono_tz::Europe::Berlin)
        .date_naive();
    std::fs::write(
        dir.path().join("export.csv"),
        format!(
            "key,start,service,name,email\n\
             K1,{day} 09:00,=1+2,@Müller,\n\
             K2,{day} 10:00,Zulassung,\"=HYPERLINK(\"\"http://evil.example\"\")\",\n"
        ),
    )
    .unwrap();
    absage(&config, &["import"]);
    declare_all(&config);
    let calllist = absage(&config, &["calllist", "1", "--format", "csv"]);
    let calllist = String::from_utf8_lossy(&calllist.stdout);
    assert!(calllist.contains(",'@Müller,"), "{calllist}");
    assert!(
        calllist.contains(",\"'=HYPERLINK(\"\"http://evil.example\"\")\","),
        "{calllist}"
    );
    assert!(calllist.contains(",'=1+2,"), "{calllist}");
    let report = absage(&config, &["report", "1", "--format", "csv"]);
    let report = String::from_utf8_lossy(&report.stdout);
    assert!(report.contains(",'=1+2,"), "{report}");
}

/// Runs `absage --config CONFIG ARGS` through `sh`, after `setup` (`umask 000`, `ulimit -n
/// 256`): the conditions a service manager may leave it in.
fn absage_under(setup: &str, config: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("{setup} && exec \"$0\" \"$@\""))
        .arg(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "info");
    cmd
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn files_in(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

#[test]
fn the_database_its_wal_backups_and_the_outbox_are_private_whatever_the_umask() {
    const N: usize = 5;
    let dir = tempfile::tempdir().unwrap();
    let config = outbox_config(dir.path());
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "/absage.db\"",
        "/data/absage.db\"", // a folder absage creates itself
    );
    std::fs::write(&config, text).unwrap();
    write_export(dir.path(), N);
    let permissive = "umask 000";
    let probe = dir.path().join("probe");
    let made = Command::new("sh")
        .arg("-c")
        .arg(format!("{permissive} && touch {}", probe.display()))
        .status()
        .unwrap();
    assert!(made.success());
    assert_eq!(mode(&probe), 0o666, "the umask of the test is permissive");

    let import = absage_under(permissive, &config, &["import"])
        .output()
        .unwrap();
    assert!(import.status.success(), "{import:?}");
    declare_all(&config);
    let log = std::fs::File::create(dir.path().join("run.log")).unwrap();
    let _run = Daemon(
        absage_under(permissive, &config, &["run"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let outbox = dir.path().join("outbox/email");
    wait_until("every email in the outbox", Duration::from_secs(60), || {
        (files_in(&outbox).len() >= N).then_some(())
    });
    let data = dir.path().join("data");
    assert_eq!(mode(&data), 0o700, "the database folder");
    for file in ["absage.db", "absage.db-wal", "absage.db-shm"] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
    assert_eq!(mode(&dir.path().join("outbox")), 0o700);
    for message in files_in(&outbox) {
        assert_eq!(mode(&message), 0o600, "{}", message.display());
    }
    let backup = dir.path().join("backup.db");
    let out = absage_under(
        permissive,
        &config,
        &["db", "backup", &backup.to_string_lossy()],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(mode(&backup), 0o600, "the backup");
    assert!(
        std::fs::metadata(&backup).unwrap().len() > 0,
        "the backup was written into the private file"
    );
}

/// A request's headers, cut off before their end: the server waits for the rest.
const HALF_SENT: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: absage\r\nX-Slow: ";

#[test]
fn half_sent_requests_beyond_the_open_files_limit_neither_stop_the_sending_nor_the_listener() {
    const N: usize = 300;
    const SLOW: usize = 400; // more than the process may open files (256)
    let dir = tempfile::tempdir().unwrap();
    let config = outbox_config(dir.path());
    let port = free_port();
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "listen = \"127.0.0.1:0\"\n",
        &format!(
            "listen = \"127.0.0.1:{port}\"\nmax_connections = 5000\n\
             header_timeout_secs = 1\nbody_timeout_secs = 1\n"
        ),
    );
    std::fs::write(&config, text).unwrap();
    write_export(dir.path(), N);
    absage(&config, &["import"]);
    let log = dir.path().join("run.log");
    let _run = Daemon(
        absage_under("ulimit -n 256", &config, &["run"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let addr = format!("127.0.0.1:{port}");
    let base = format!("http://{addr}");
    wait_until("the listener", Duration::from_secs(30), || {
        std::net::TcpStream::connect(&addr).ok()
    });

    let mut slow: Vec<std::net::TcpStream> = (0..SLOW)
        .map(|_| {
            let to = addr.parse().unwrap();
            let mut s = std::net::TcpStream::connect_timeout(&to, Duration::from_secs(10))
                .expect("the kernel queues connections beyond the cap");
            std::io::Write::write_all(&mut s, HALF_SENT).unwrap();
            s
        })
        .collect();
    declare_all(&config);
    let outbox = dir.path().join("outbox/email");
    wait_until(
        "every email sent while the connections hang",
        Duration::from_secs(90),
        || (files_in(&outbox).len() >= N).then_some(()),
    );

    // A fresh request is answered once the idle ones have had their time.
    let (status, body) = crate::support::peers::http_get(&format!("{base}/healthz"));
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    // And the server hung up on every half-sent request, trickling or not.
    for s in &mut slow {
        let _ = std::io::Write::write_all(s, b"x");
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut buf = [0u8; 256];
        match std::io::Read::read(s, &mut buf) {
            Ok(_) => {} // closed, or a 408 before closing
            Err(e) => assert!(
                !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "a half-sent request still holds its connection: {e}"
            ),
        }
    }
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(!log.contains("Too many open files"), "{log}");
    assert!(
        log.contains("max_connections"),
        "the cap was lowered: {log}"
    );
}
