//! The configuration's tests: loading, environment overrides, secrets, validation messages.

use super::validate::valid_sms_sender;
use super::*;
use figment::Jail;

const MINIMAL: &str = r#"
[[tenants]]
id = "soest"
name = "Kreis Soest"
time_zone = "Europe/Berlin"
hotline = "02921 30-0"
email_from = "Kreis Soest <termine@kreis-soest.example>"
sms_sender = "KreisSoest"
"#;

fn load(jail: &Jail, text: &str) -> anyhow::Result<Settings> {
    jail.create_file("absage.toml", text).unwrap();
    Settings::load(Some(Path::new("absage.toml")))
}

#[test]
fn sms_senders_are_short_names_or_phone_numbers() {
    assert!(valid_sms_sender("KreisSoest"));
    assert!(valid_sms_sender("+4929213000"));
    assert!(!valid_sms_sender("Kreisverwaltung Soest"));
    assert!(!valid_sms_sender(""));
    assert!(!valid_sms_sender("Kreis/Soest"));
}

#[test]
fn the_shipped_example_config_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/absage.toml");
    let s = Settings::load(Some(&path)).unwrap();
    assert_eq!(s.tenants[0].time_zone, chrono_tz::Europe::Berlin);
    assert_eq!(s.sources[0].csv.delimiter, ';');
}

#[test]
fn the_commented_sms_country_keys_of_the_example_config_are_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/absage.toml");
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace("# sms_price_per_country =", "sms_price_per_country =")
        .replace("# sms_countries =", "sms_countries =");
    Jail::expect_with(|jail| {
        let s = load(jail, &text).unwrap();
        let t = &s.tenants[0];
        assert_eq!(t.sms_segment_price(Some("SY")), Some(0.25));
        assert_eq!(t.sms_countries.as_deref().map(<[String]>::len), Some(3));
        Ok(())
    });
}

#[test]
fn sms_countries_bar_other_countries_and_prices_follow_the_country() {
    Jail::expect_with(|jail| {
        let s = load(jail, MINIMAL).unwrap();
        let t = &s.tenants[0];
        assert_eq!(t.sms_countries, None, "absent: every country");
        assert_eq!(t.sms_barred_country("+963944567890"), None);

        let text = MINIMAL.replace(
            "sms_sender",
            "sms_countries = [\"DE\", \"ua\"]\nsms_price_per_segment = 0.08\nsms_sender",
        );
        let s = load(
            jail,
            &format!("{text}[tenants.sms_price_per_country]\nSY = 0.3\n"),
        )
        .unwrap();
        let t = &s.tenants[0];
        assert_eq!(t.sms_barred_country("+491711234567"), None);
        assert_eq!(t.sms_barred_country("+380671234567"), None, "any case");
        assert_eq!(t.sms_barred_country("+963944567890").as_deref(), Some("SY"));
        assert_eq!(t.sms_barred_country("+905321234567").as_deref(), Some("TR"));
        assert_eq!(
            t.sms_barred_country("+882345678901").as_deref(),
            Some(UNKNOWN_COUNTRY)
        );
        assert_eq!(t.sms_segment_price(Some("SY")), Some(0.3));
        assert_eq!(t.sms_segment_price(Some("DE")), Some(0.08));
        assert_eq!(t.sms_segment_price(None), Some(0.08));

        let none = MINIMAL.replace("sms_sender", "sms_countries = []\nsms_sender");
        let s = load(jail, &none).unwrap();
        assert!(s.tenants[0].sms_barred_country("+491711234567").is_some());
        Ok(())
    });
}

#[test]
fn environment_variables_override_the_file() {
    Jail::expect_with(|jail| {
        jail.set_env("ABSAGE_DATABASE__URL", "sqlite:///tmp/other.db");
        jail.set_env("ABSAGE_QUEUE__LEASE_SECS", "7");
        jail.set_env("ABSAGE_UNRELATED", "not configuration");
        let s = load(jail, MINIMAL).unwrap();
        assert_eq!(s.database.url.expose(), "sqlite:///tmp/other.db");
        assert_eq!(s.queue.lease_secs, 7);
        Ok(())
    });
}

#[test]
fn secrets_can_come_from_files_and_are_never_printed() {
    Jail::expect_with(|jail| {
        jail.create_file("db-url", "sqlite://secret.db\n").unwrap();
        let s = load(
            jail,
            &format!("[database]\nurl_file = \"db-url\"\n{MINIMAL}"),
        )
        .unwrap();
        assert_eq!(s.database.url.expose(), "sqlite://secret.db");
        let printed = s.redacted_toml().unwrap();
        assert!(!printed.contains("secret.db"), "{printed}");
        Ok(())
    });
}

#[test]
fn credentials_in_urls_and_gateway_templates_are_never_printed() {
    let text = format!(
        r#"{MINIMAL}
[[sources]]
name = "web"
tenant = "soest"
kind = "csv"
[sources.http]
url = "https://kim:pa55word@termine.example/export.csv?token=t0ken&format=csv"
[sources.fields]
key = "key"
date = "d"
service = "s"
name = "n"
[sms]
transport = "network"
[[sms.gateways]]
kind = "kannel"
name = "kannel"
url = "http://127.0.0.1:13013/cgi-bin/sendsms?password=kannelpw"
username = "absage"
password = "kannelpw2"
[[sms.gateways]]
kind = "http"
name = "provider"
url = "https://api.sms.example/send?access_token=acce55"
[sms.gateways.query]
api_key = "k3y"
to = "{{to}}"
[sms.gateways.body.json]
signature = "s1gn"
text = "{{text}}"
"#
    );
    Jail::expect_with(|jail| {
        let printed = load(jail, &text).unwrap().redacted_toml().unwrap();
        for secret in [
            "pa55word", "t0ken", "kannelpw", "acce55", "k3y", "s1gn", "kim",
        ] {
            assert!(!printed.contains(secret), "{secret} in:\n{printed}");
        }
        for kept in [
            "https://***@termine.example/export.csv?token=***&format=csv",
            "to = \"{to}\"",
            "key = \"key\"",
            "username = \"absage\"",
        ] {
            assert!(printed.contains(kept), "{kept} missing in:\n{printed}");
        }
        let database = printed.find("[database]").unwrap();
        assert!(
            database < printed.find("[[tenants]]").unwrap(),
            "in the order of the settings:\n{printed}"
        );
        Ok(())
    });
}

#[test]
fn errors_name_the_key_and_the_problem() {
    Jail::expect_with(|jail| {
        let bad_zone = MINIMAL.replace("Europe/Berlin", "Europe/Berln");
        let e = format!("{:#}", load(jail, &bad_zone).unwrap_err());
        assert!(
            e.contains("tenants[0].time_zone") && e.contains("Europe/Berln"),
            "{e}"
        );

        let e = format!(
            "{:#}",
            load(
                jail,
                &format!("{MINIMAL}\n[queue]\nlease_secs = \"soon\"\n")
            )
            .unwrap_err()
        );
        assert!(e.contains("queue.lease_secs"), "{e}");

        let e = format!(
            "{:#}",
            load(jail, &format!("{MINIMAL}\n[queue]\nleese_secs = 3\n")).unwrap_err()
        );
        assert!(e.contains("leese_secs"), "{e}");

        let source = "\n[[sources]]\nname = \"x\"\ntenant = \"nowhere\"\nkind = \"csv\"\npath = \"x.csv\"\nschedule = \"every minute\"\n[sources.fields]\nkey = \"k\"\ndate = \"d\"\nservice = \"s\"\nname = \"n\"\n";
        let e = format!(
            "{:#}",
            load(jail, &format!("{MINIMAL}{source}")).unwrap_err()
        );
        assert!(
            e.contains("sources[0].tenant") && e.contains("sources[0].schedule"),
            "{e}"
        );

        let e = format!(
            "{:#}",
            load(
                jail,
                &format!("{MINIMAL}\n[email]\ntransport = \"network\"\n")
            )
            .unwrap_err()
        );
        assert!(e.contains("email.relays"), "{e}");

        let bad_countries = MINIMAL.replace(
            "sms_sender",
            "sms_countries = [\"DE\", \"ua\", \"XY\"]\nsms_sender",
        );
        let e = format!("{:#}", load(jail, &bad_countries).unwrap_err());
        assert!(
            e.contains("tenants[0].sms_countries[2]")
                && e.contains("\"XY\"")
                && !e.contains("sms_countries[1]"),
            "{e}"
        );
        let bad_price = format!("{MINIMAL}[tenants.sms_price_per_country]\nSYR = 0.3\n");
        let e = format!("{:#}", load(jail, &bad_price).unwrap_err());
        assert!(e.contains("tenants[0].sms_price_per_country.SYR"), "{e}");

        let e = format!(
            "{:#}",
            load(jail, &format!("{MINIMAL}\n[http]\nlisten = \"8080\"\n")).unwrap_err()
        );
        assert!(e.contains("http.listen") && e.contains("\"8080\""), "{e}");
        for good in [
            "",
            "0.0.0.0:8080",
            "[::1]:80",
            "localhost:8080",
            "absage.kreis:80",
        ] {
            let text = format!("{MINIMAL}\n[http]\nlisten = \"{good}\"\n");
            assert!(load(jail, &text).is_ok(), "{good}");
        }
        let hung = format!(
            "{MINIMAL}\n[queue]\nlease_secs = 40\n[email]\ntransport = \"network\"\n\
             [[email.relays]]\nname = \"a\"\nhost = \"h\"\nport = 25\ntimeout_secs = 30\n"
        );
        let e = format!("{:#}", load(jail, &hung).unwrap_err());
        assert!(
            e.contains("email.relays[0].timeout_secs") && e.contains("queue.lease_secs"),
            "{e}"
        );
        assert!(
            load(
                jail,
                &hung.replace("timeout_secs = 30", "timeout_secs = 29")
            )
            .is_ok()
        );

        let bad_link =
            MINIMAL.replace("sms_sender", "rebook_url = \"termine.example\"\nsms_sender");
        let e = format!("{:#}", load(jail, &bad_link).unwrap_err());
        assert!(e.contains("tenants[0].rebook_url"), "{e}");
        Ok(())
    });
}
