//! The template sets in use: the shared one, and a complete set of its own for each tenant
//! that configures `templates_dir` (copy the shared folder and edit it; no rebuild needed).

use super::Templates;
use anyhow::Context;
use std::collections::HashMap;
use std::path::Path;

pub struct TemplateSet {
    shared: Templates,
    tenants: HashMap<String, Templates>,
}

impl TemplateSet {
    /// Loads the shared set from `shared` and each `(tenant id, folder)` override; any broken
    /// template fails here, naming its file and line.
    pub fn load<'a>(
        shared: &Path,
        overrides: impl IntoIterator<Item = (&'a str, &'a Path)>,
    ) -> anyhow::Result<TemplateSet> {
        let shared = Templates::load(shared)
            .with_context(|| format!("templates in {}", shared.display()))?;
        let mut tenants = HashMap::new();
        for (tenant, dir) in overrides {
            let set = Templates::load(dir)
                .with_context(|| format!("templates of tenant {tenant} in {}", dir.display()))?;
            tenants.insert(tenant.to_owned(), set);
        }
        Ok(TemplateSet { shared, tenants })
    }

    /// The templates a tenant's messages are written with.
    pub fn for_tenant(&self, tenant: &str) -> &Templates {
        self.tenants.get(tenant).unwrap_or(&self.shared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_with_its_own_folder_uses_it_and_the_others_use_the_shared_one() {
        let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/templates");
        let own = tempfile::tempdir().unwrap();
        copy_dir(&shared, own.path());
        let sms = own.path().join("cancellation/de/sms.txt.j2");
        let text = std::fs::read_to_string(&sms).unwrap();
        std::fs::write(&sms, format!("HAMM {text}")).unwrap();
        let set = TemplateSet::load(&shared, [("hamm", own.path())]).unwrap();
        assert!(!std::ptr::eq(
            set.for_tenant("hamm"),
            set.for_tenant("soest")
        ));
        assert!(std::ptr::eq(
            set.for_tenant("soest"),
            set.for_tenant("unna")
        ));
    }

    #[test]
    fn a_broken_tenant_template_names_the_tenant() {
        let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/templates");
        let own = tempfile::tempdir().unwrap();
        copy_dir(&shared, own.path());
        std::fs::write(own.path().join("cancellation/de/sms.txt.j2"), "{{ office").unwrap();
        let err = TemplateSet::load(&shared, [("hamm", own.path())])
            .err()
            .unwrap();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("tenant hamm") && msg.contains("sms.txt.j2"),
            "{msg}"
        );
    }

    fn copy_dir(from: &Path, to: &Path) {
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                std::fs::create_dir_all(&target).unwrap();
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
}
