//! Files with personal data (the SQLite database and its WAL, backups, the outbox) are created
//! readable by absage's user only, whatever umask it was started with: the process sets its
//! umask to 077 at start ([`private_umask`]), and the paths absage creates itself get their
//! mode explicitly, also when absage is used as a library.

use std::io;
use std::path::Path;

/// Makes every file the process creates from now on private (umask 077).
#[cfg(unix)]
pub fn private_umask() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

#[cfg(not(unix))]
pub fn private_umask() {}

/// Creates `dir` and its missing parents; `dir` itself ends up 0700 (also when it existed
/// with looser rights: it is absage's own).
pub fn private_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        match std::fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {}
            Err(e) => return Err(e),
        }
        tighten(dir, 0o700)
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)
}

/// Creates `path`, which must not exist yet, as an empty file readable by this user only.
pub fn private_new_file(path: &Path) -> io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Takes the group's and others' rights away from `path` if it has any (`mode` is what it
/// gets then: 0600 for a file, 0700 for a folder). A missing path is fine.
pub fn tighten(path: &Path, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::metadata(path) {
            Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            }
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(())
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn private_paths_are_for_the_owner_only_and_loose_ones_are_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = dir.path().join("data/outbox");
        private_dir(&outbox).unwrap();
        assert_eq!(mode(&outbox), 0o700);
        std::fs::set_permissions(&outbox, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&outbox).unwrap();
        assert_eq!(mode(&outbox), 0o700, "an existing folder is tightened");
        let file = outbox.join("backup.db");
        private_new_file(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        assert!(
            private_new_file(&file).is_err(),
            "never over an existing file"
        );
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        tighten(&file, 0o600).unwrap();
        assert_eq!(mode(&file), 0o600);
        tighten(&dir.path().join("missing"), 0o600).unwrap();
    }
}
