//! The real `absage` binary against the faults and attacks of issue 11: what `config check`
//! prints, CSV that office staff open in Excel, file modes under a permissive umask, and
//! idle connections against the listener while a declaration is sent.

use crate::process::{absage, declare_all, write_config};
use crate::support::peers::free_port;
use std::path::Path;

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
timeout_secs = 1
[[sms.gateways]]
kind = "http"
name = "provider"
url = "https://api.sms.example/send?access_token=Acce55"
timeout_secs = 1
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
