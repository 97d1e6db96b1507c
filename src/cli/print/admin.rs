//! `absage admin list`: the accounts of the admin API and web UI.

use super::json;
use crate::store::accounts::AccountRow;
use std::io::Write;

/// One line per account: name, tenant, role.
pub fn accounts(out: &mut impl Write, all: &[AccountRow], as_json: bool) -> anyhow::Result<()> {
    if as_json {
        return json(out, &all);
    }
    for a in all {
        writeln!(out, "{:<32} tenant {:<12} {}", a.name, a.tenant_id, a.role)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::print::fixtures::written;

    #[test]
    fn accounts_are_listed_aligned_without_secrets() {
        let olga = AccountRow {
            id: 1,
            name: "olga".into(),
            tenant_id: "soest".into(),
            role: "operator".into(),
            created_at: crate::domain::from_millis(1_796_414_355_793),
        };
        let text = written(|out| accounts(out, std::slice::from_ref(&olga), false));
        assert_eq!(
            text,
            "olga                             tenant soest        operator\n"
        );
        let json = written(|out| accounts(out, &[olga], true));
        assert!(json.contains("\"role\": \"operator\""), "{json}");
    }
}
