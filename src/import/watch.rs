//! Watched folders: a source with `watch_secs` looks at its folder or glob that often and is
//! imported as soon as a new export has arrived and stopped changing. Polling, not inotify:
//! exports usually land on network shares (SMB, NFS), where change events do not arrive.
//!
//! "New" is judged against the source's latest import in the database (its file and start
//! time), so that of several instances only the first imports a file, and a file that was
//! refused is not tried again and again.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The newest export file of a source as seen at one look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub path: PathBuf,
    pub modified: SystemTime,
    pub len: u64,
}

impl Seen {
    /// The newest file at `path` (a file, folder or glob); None when there is none (yet).
    pub fn newest(path: &Path) -> Option<Seen> {
        let path = super::locate::newest(path).ok()?;
        let meta = std::fs::metadata(&path).ok()?;
        Some(Seen {
            modified: meta.modified().ok()?,
            len: meta.len(),
            path,
        })
    }
}

/// The source's latest import, as far as the watch needs it.
#[derive(Debug, Clone)]
pub struct LastImport {
    /// The file it read.
    pub file: String,
    pub started: SystemTime,
}

/// The state of one watched source between looks.
#[derive(Debug, Default)]
pub struct Watch {
    previous: Option<Seen>,
}

impl Watch {
    /// Records one look; true when the newest file is one the source has not imported yet and
    /// it is unchanged since the previous look (a file still being copied keeps growing).
    pub fn look(&mut self, now: Option<Seen>, last: Option<&LastImport>) -> bool {
        let previous = std::mem::replace(&mut self.previous, now.clone());
        let Some(now) = now else {
            return false;
        };
        let settled = previous.as_ref() == Some(&now);
        let new = match last {
            None => true,
            Some(l) => l.file != now.path.to_string_lossy() || now.modified > l.started,
        };
        settled && new
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn seen(path: &str, secs: u64, len: u64) -> Option<Seen> {
        Some(Seen {
            path: PathBuf::from(path),
            modified: SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
            len,
        })
    }

    fn imported(file: &str, secs: u64) -> LastImport {
        LastImport {
            file: file.into(),
            started: SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
        }
    }

    #[test]
    fn a_new_file_is_imported_once_it_has_stopped_changing() {
        let last = imported("/in/a.csv", 100);
        let mut w = Watch::default();
        assert!(!w.look(seen("/in/a.csv", 90, 10), Some(&last)));
        assert!(
            !w.look(seen("/in/b.csv", 200, 5), Some(&last)),
            "first sight of b: maybe still being copied"
        );
        assert!(
            !w.look(seen("/in/b.csv", 201, 8), Some(&last)),
            "b is still growing"
        );
        assert!(w.look(seen("/in/b.csv", 201, 8), Some(&last)), "b settled");
    }

    #[test]
    fn a_file_already_imported_is_not_imported_again() {
        let mut w = Watch::default();
        let last = imported("/in/b.csv", 300);
        w.look(seen("/in/b.csv", 201, 8), Some(&last));
        assert!(!w.look(seen("/in/b.csv", 201, 8), Some(&last)));
    }

    #[test]
    fn the_same_file_written_anew_counts_as_new() {
        let mut w = Watch::default();
        let last = imported("/in/termine.csv", 300);
        w.look(seen("/in/termine.csv", 400, 8), Some(&last));
        assert!(w.look(seen("/in/termine.csv", 400, 8), Some(&last)));
    }

    #[test]
    fn a_copied_file_with_an_old_time_stamp_is_new_by_its_name() {
        let mut w = Watch::default();
        let last = imported("/in/2026-11-26.csv", 300);
        w.look(seen("/in/2026-11-27.csv", 10, 8), Some(&last));
        assert!(w.look(seen("/in/2026-11-27.csv", 10, 8), Some(&last)));
    }

    #[test]
    fn an_empty_folder_and_a_never_imported_source() {
        let mut w = Watch::default();
        assert!(!w.look(None, None));
        assert!(!w.look(seen("/in/a.csv", 1, 1), None));
        assert!(w.look(seen("/in/a.csv", 1, 1), None));
    }
}
