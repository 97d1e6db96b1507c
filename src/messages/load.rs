//! Loading templates from `config/templates/<kind>/<lang>/` and checking them before use.
//!
//! Checks: folder names are lower-case language tags, file names are known, a language has all
//! files of a channel or none (a short SMS only beside a full one), German exists for every kind
//! and channel, and every template renders with sample data (strict variables), alone and as
//! part of a bilingual email.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context as _, bail};
use chrono::{TimeZone as _, Utc};

use super::filters::environment;
use super::{
    Channel, EMAIL_FILES, LAST_RESORT, MessageContext, RenderError, SHORT_SMS_FILE, SMS_FILE,
    Templates,
};

impl Templates {
    /// Loads and compiles every template under `dir`; a syntax error names the file and line.
    ///
    /// Each template is then rendered once with sample data, with and without the optional
    /// values, so a misspelt variable fails here rather than when an outage is declared.
    pub fn load(dir: &Path) -> anyhow::Result<Templates> {
        let mut templates = Templates {
            env: environment(),
            available: Vec::new(),
        };
        for kind in subdirs(dir)? {
            for lang in subdirs(&dir.join(&kind))? {
                templates.load_language(dir, &kind, &lang)?;
            }
        }
        templates.check(dir)?;
        Ok(templates)
    }

    /// Compiles the templates of one language and records which channels it serves.
    fn load_language(&mut self, dir: &Path, kind: &str, lang: &str) -> anyhow::Result<()> {
        let folder = dir.join(kind).join(lang);
        if !is_language_code(lang) {
            bail!(
                "{}: folder name must be a lower-case language tag like \"de\" or \"de-x-simple\"",
                folder.display()
            );
        }
        for entry in std::fs::read_dir(&folder).with_context(|| folder.display().to_string())? {
            let path = entry?.path();
            let file = path
                .file_name()
                .and_then(|f| f.to_str())
                .unwrap_or_default();
            if !file.ends_with(".j2") {
                continue;
            }
            if !EMAIL_FILES.contains(&file) && file != SMS_FILE && file != SHORT_SMS_FILE {
                bail!(
                    "{}: unknown template file; expected {}, {SMS_FILE} or {SHORT_SMS_FILE}",
                    path.display(),
                    EMAIL_FILES.join(", ")
                );
            }
            let source = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            self.env
                .add_template_owned(format!("{kind}/{lang}/{file}"), source)
                .map_err(|e| located(dir, &e))?;
        }
        for channel in Channel::ALL {
            let present = |f: &&&str| folder.join(f).is_file();
            match super::files_of(channel).iter().filter(present).count() {
                0 => {}
                n if n == super::files_of(channel).len() => self.add_available(kind, channel, lang),
                _ => bail!(
                    "{}: incomplete {channel} templates; need all of {}",
                    folder.display(),
                    super::files_of(channel).join(", ")
                ),
            }
        }
        if folder.join(SHORT_SMS_FILE).is_file() && !folder.join(SMS_FILE).is_file() {
            bail!(
                "{}: {SHORT_SMS_FILE} is only sent in place of a too long {SMS_FILE}; add that too",
                folder.display()
            );
        }
        Ok(())
    }

    fn add_available(&mut self, kind: &str, channel: Channel, lang: &str) {
        let pos = self
            .available
            .iter()
            .position(|(k, c, _)| k == kind && *c == channel);
        let langs = match pos {
            Some(i) => &mut self.available[i].2,
            None => {
                self.available.push((kind.to_owned(), channel, Vec::new()));
                &mut self.available.last_mut().expect("just pushed").2
            }
        };
        langs.push(lang.to_owned());
        langs.sort();
    }

    /// German must exist for every kind and channel (it is the last resort), and every
    /// template must render with sample data.
    fn check(&self, dir: &Path) -> anyhow::Result<()> {
        let kinds = self.available.iter().map(|(k, _, _)| k.as_str());
        for kind in kinds.collect::<BTreeSet<_>>() {
            for channel in Channel::ALL {
                if !self.langs(kind, channel).iter().any(|l| l == LAST_RESORT) {
                    bail!(
                        "{}: missing German {channel} templates for {kind:?}; German is the \
                         last resort of every message",
                        dir.join(kind).join(LAST_RESORT).display()
                    );
                }
            }
        }
        for (kind, channel, langs) in &self.available {
            for lang in langs {
                for sample in samples(kind, *channel) {
                    let located = |e| match e {
                        RenderError::Template { source, .. } => located(dir, &source),
                        other => other.into(),
                    };
                    self.render_in(&sample, lang).map_err(located)?;
                    if *channel == Channel::Sms {
                        self.render_short_sms(&sample, lang).map_err(located)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// A template error as "<file>:<line>: <what>", the form editors jump to.
fn located(dir: &Path, err: &minijinja::Error) -> anyhow::Error {
    let file = err
        .name()
        .map_or_else(|| dir.to_path_buf(), |n| dir.join(n));
    let what = match err.detail() {
        Some(detail) => format!("{}: {detail}", err.kind()),
        None => err.kind().to_string(),
    };
    anyhow::anyhow!("{}:{}: {what}", file.display(), err.line().unwrap_or(0))
}

/// Names of the visible subfolders of `dir`, sorted so errors come in a stable order.
fn subdirs(dir: &Path) -> anyhow::Result<Vec<String>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("reading templates in {}", dir.display()))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type()?.is_dir() && !name.starts_with('.') {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// A lower-case BCP 47 shape: a primary subtag of 2 or 3 letters ("de", "fa"), optionally
/// followed by subtags of 1 to 8 letters or digits ("de-x-simple", "pt-br").
fn is_language_code(lang: &str) -> bool {
    let mut subtags = lang.split('-');
    let primary = subtags.next().unwrap_or_default();
    let letters = |s: &str| s.bytes().all(|b| b.is_ascii_lowercase());
    let alnum = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    (2..=3).contains(&primary.len())
        && letters(primary)
        && subtags.all(|s| (1..=8).contains(&s.len()) && alnum(s))
}

/// One context with every optional value filled (including a rebooking link) and one with
/// none, to reach both branches of every `{% if %}`.
fn samples(kind: &str, channel: Channel) -> [MessageContext<'_>; 2] {
    let full = MessageContext {
        kind,
        channel,
        language: None,
        fallback_languages: &[],
        tenant_name: "Kreis Beispiel",
        office: "Bürgerbüro Mitte",
        service: "Personalausweis",
        starts_at: Utc
            .with_ymd_and_hms(2026, 11, 2, 8, 30, 0)
            .single()
            .unwrap_or_default(),
        tz: chrono_tz::Europe::Berlin,
        reason: "IT-Störung",
        hotline: "0123 456-0",
        citizen_name: Some("Erika Mustermann"),
        rebook_url: Some("https://termine.example.de/neu?dienst=1&ort=2"),
        bilingual: true,
    };
    let bare = MessageContext {
        office: "",
        reason: "",
        citizen_name: None,
        rebook_url: None,
        bilingual: false,
        ..full
    };
    [full, bare]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A template folder with only German `cancellation` templates, given as (file, source).
    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let de = dir.path().join("cancellation/de");
        std::fs::create_dir_all(&de).unwrap();
        let defaults = [
            ("email.subject.j2", "Termin {{ date }}"),
            ("email.txt.j2", "{{ reason }}"),
            ("email.html.j2", "<p>{{ reason }}</p>"),
            ("sms.txt.j2", "{{ service }}"),
        ];
        for (file, source) in defaults {
            let source = files
                .iter()
                .find(|(f, _)| *f == file)
                .map_or(source, |f| f.1);
            std::fs::write(de.join(file), source).unwrap();
        }
        dir
    }

    #[test]
    fn a_misspelt_variable_fails_at_load() {
        let dir = folder(&[("email.txt.j2", "Hallo\n{{ resaon }}")]);
        let err = format!("{:#}", Templates::load(dir.path()).unwrap_err());
        assert!(err.contains("cancellation/de/email.txt.j2:2:"), "{err}");
        assert!(err.contains("undefined"), "{err}");
    }

    #[test]
    fn a_misspelt_variable_in_the_branch_without_a_name_fails_at_load() {
        let source = "{% if name %}Hallo {{ name }}{% else %}Hallo {{ nmae }}{% endif %}";
        let dir = folder(&[("email.html.j2", source)]);
        let err = format!("{:#}", Templates::load(dir.path()).unwrap_err());
        assert!(err.contains("cancellation/de/email.html.j2:1:"), "{err}");
    }

    #[test]
    fn a_misspelt_variable_in_either_branch_of_the_rebooking_link_fails_at_load() {
        for source in [
            "{% if rebook %}{{ rebok }}{% else %}später{% endif %}",
            "{% if rebook %}{{ rebook }}{% else %}{{ hotlien }}{% endif %}",
        ] {
            let dir = folder(&[("sms.txt.j2", source)]);
            let err = format!("{:#}", Templates::load(dir.path()).unwrap_err());
            assert!(err.contains("cancellation/de/sms.txt.j2:1:"), "{err}");
        }
    }

    #[test]
    fn a_broken_template_names_its_file_and_line() {
        let dir = folder(&[("sms.txt.j2", "Hallo\n\n{% if office %}{{ office }}")]);
        let err = format!("{:#}", Templates::load(dir.path()).unwrap_err());
        assert!(err.contains("cancellation/de/sms.txt.j2:3:"), "{err}");
        assert!(err.contains("syntax error"), "{err}");
    }

    #[test]
    fn missing_german_or_partial_email_templates_are_refused() {
        let dir = folder(&[]);
        std::fs::rename(
            dir.path().join("cancellation/de"),
            dir.path().join("cancellation/en"),
        )
        .unwrap();
        let err = format!("{:#}", Templates::load(dir.path()).unwrap_err());
        assert!(err.contains("missing German"), "{err}");

        let dir = folder(&[]);
        std::fs::remove_file(dir.path().join("cancellation/de/email.html.j2")).unwrap();
        let err = format!("{:#}", Templates::load(dir.path()).unwrap_err());
        assert!(err.contains("incomplete email templates"), "{err}");
    }

    #[test]
    fn a_short_sms_is_optional_checked_at_load_and_needs_the_full_one() {
        let dir = folder(&[]);
        let t = Templates::load(dir.path()).unwrap();
        assert!(!t.has_short_sms("cancellation", "de"));

        let short = dir.path().join("cancellation/de/sms.short.txt.j2");
        std::fs::write(&short, "{{ date }} {{ hotline }}").unwrap();
        assert!(
            Templates::load(dir.path())
                .unwrap()
                .has_short_sms("cancellation", "de")
        );

        std::fs::write(&short, "{% if rebook %}{{ rebok }}{% endif %}").unwrap();
        let err = format!("{:#}", Templates::load(dir.path()).unwrap_err());
        assert!(err.contains("cancellation/de/sms.short.txt.j2:1:"), "{err}");

        std::fs::write(&short, "{{ date }}").unwrap();
        std::fs::remove_file(dir.path().join("cancellation/de/sms.txt.j2")).unwrap();
        let err = format!("{:#}", Templates::load(dir.path()).unwrap_err());
        assert!(err.contains("add that too"), "{err}");
    }

    #[test]
    fn a_misnamed_template_file_is_refused() {
        let dir = folder(&[]);
        std::fs::write(dir.path().join("cancellation/de/email.text.j2"), "x").unwrap();
        let err = format!("{:#}", Templates::load(dir.path()).unwrap_err());
        assert!(
            err.contains("email.text.j2: unknown template file"),
            "{err}"
        );
    }

    #[test]
    fn folder_names_must_be_lower_case_language_tags() {
        for good in ["de", "fa", "de-x-simple", "pt-br", "zh-hans"] {
            assert!(is_language_code(good), "{good}");
        }
        for bad in [
            "",
            "d",
            "deut",
            "DE",
            "de_AT",
            "de-",
            "de--x",
            "de-x-toolongsubtag",
            "1d",
        ] {
            assert!(!is_language_code(bad), "{bad}");
        }
        let dir = folder(&[]);
        std::fs::create_dir_all(dir.path().join("cancellation/de_Simple")).unwrap();
        let err = format!("{:#}", Templates::load(dir.path()).unwrap_err());
        assert!(err.contains("lower-case language tag"), "{err}");
    }

    #[test]
    fn the_subject_is_always_one_line() {
        let dir = folder(&[("email.subject.j2", "Termin\n{{ service }}\n")]);
        let t = Templates::load(dir.path()).unwrap();
        let ctx = MessageContext {
            service: "Zulassung\r\nBcc: everyone@example.org",
            ..samples("cancellation", Channel::Email)[0]
        };
        let subject = t.render(&ctx).unwrap().subject.unwrap();
        // Imported values never hold line breaks; a list separator in a value is shown as a list.
        assert_eq!(subject, "Termin Zulassung, Bcc: everyone@example.org");
    }
}
