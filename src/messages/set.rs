//! The template sets in use: the shared one, and a complete set of its own for each tenant
//! that configures `templates_dir` (copy the shared folder and edit it; no rebuild needed).
//!
//! The shared folder needs a short SMS (`sms.short.txt.j2`) beside every `sms.txt.j2`. A
//! tenant's folder made before short SMS existed may lack them: it borrows the shared folder's
//! short SMS of the same language, so its citizens still get an SMS when the full one is too
//! long. A language the shared folder lacks has no short SMS (`config check` warns).

use super::Channel;
use super::Templates;
use super::sms_choice::short_name;
use anyhow::{Context, bail};
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
        let dir = shared;
        let shared = Templates::load(dir)
            .and_then(|t| t.require_short_sms(dir).map(|()| t))
            .with_context(|| format!("templates in {}", dir.display()))?;
        let mut tenants = HashMap::new();
        for (tenant, dir) in overrides {
            let what = || format!("templates of tenant {tenant} in {}", dir.display());
            let mut set = Templates::load(dir).with_context(what)?;
            set.borrow_short_sms(&shared).with_context(what)?;
            tenants.insert(tenant.to_owned(), set);
        }
        Ok(TemplateSet { shared, tenants })
    }

    /// The templates a tenant's messages are written with.
    pub fn for_tenant(&self, tenant: &str) -> &Templates {
        self.tenants.get(tenant).unwrap_or(&self.shared)
    }

    /// Every tenant id with a folder of its own and the `kind/lang` SMS templates in it that
    /// have no short SMS, own or borrowed: a too long full SMS in them is not sent.
    pub fn without_short_sms(&self) -> Vec<(&str, String)> {
        let mut missing: Vec<(&str, String)> = Vec::new();
        for (tenant, set) in &self.tenants {
            for (kind, lang) in set.sms_languages() {
                if !set.has_short_sms(&kind, &lang) {
                    missing.push((tenant, format!("{kind}/{lang}")));
                }
            }
        }
        missing.sort();
        missing
    }
}

impl Templates {
    /// Every (kind, language folder) with SMS templates.
    fn sms_languages(&self) -> Vec<(String, String)> {
        self.available
            .iter()
            .filter(|(_, channel, _)| *channel == Channel::Sms)
            .flat_map(|(kind, _, langs)| langs.iter().map(move |l| (kind.clone(), l.clone())))
            .collect()
    }

    /// Refuses a folder where some `sms.txt.j2` has no `sms.short.txt.j2` beside it.
    fn require_short_sms(&self, dir: &Path) -> anyhow::Result<()> {
        let missing: Vec<String> = self
            .sms_languages()
            .into_iter()
            .filter(|(kind, lang)| !self.has_short_sms(kind, lang))
            .map(|(kind, lang)| dir.join(short_name(&kind, &lang)).display().to_string())
            .collect();
        if !missing.is_empty() {
            bail!(
                "missing short SMS templates (sent when the full SMS is longer than \
                 max_sms_segments; copy them from absage's config/templates): {}",
                missing.join(", ")
            );
        }
        Ok(())
    }

    /// Takes the short SMS of `shared` for each language of this set that has none.
    fn borrow_short_sms(&mut self, shared: &Templates) -> anyhow::Result<()> {
        for (kind, lang) in self.sms_languages() {
            if self.has_short_sms(&kind, &lang) {
                continue;
            }
            let name = short_name(&kind, &lang);
            if let Ok(template) = shared.env.get_template(&name) {
                let source = template.source().to_owned();
                self.env.add_template_owned(name, source)?;
            }
        }
        Ok(())
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

    #[test]
    fn a_tenant_folder_without_short_sms_borrows_the_shared_ones_of_its_languages() {
        let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/templates");
        let own = tempfile::tempdir().unwrap();
        copy_dir(&shared, own.path());
        std::fs::remove_file(own.path().join("cancellation/tr/sms.short.txt.j2")).unwrap();
        // A language of its own that the shared folder does not have.
        let fr = own.path().join("cancellation/fr");
        std::fs::create_dir_all(&fr).unwrap();
        std::fs::copy(
            own.path().join("cancellation/en/sms.txt.j2"),
            fr.join("sms.txt.j2"),
        )
        .unwrap();
        let set = TemplateSet::load(&shared, [("hamm", own.path())]).unwrap();
        assert!(set.for_tenant("hamm").has_short_sms("cancellation", "tr"));
        assert!(!set.for_tenant("hamm").has_short_sms("cancellation", "fr"));
        assert_eq!(
            set.without_short_sms(),
            [("hamm", "cancellation/fr".to_owned())]
        );
    }

    #[test]
    fn the_shared_folder_must_have_a_short_sms_beside_every_sms() {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/templates");
        let shared = tempfile::tempdir().unwrap();
        copy_dir(&shipped, shared.path());
        std::fs::remove_file(shared.path().join("retraction/uk/sms.short.txt.j2")).unwrap();
        let err = TemplateSet::load(shared.path(), []).err().unwrap();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("missing short SMS") && msg.contains("retraction/uk/sms.short.txt.j2"),
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
