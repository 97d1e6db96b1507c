//! The embedded default channel: messages are written as files into a folder instead of
//! being sent (`<dir>/email/<id>.eml`, `<dir>/sms/<id>.txt`), for trying absage out and for
//! handing messages to another system. Files appear whole (temp file, fsync, rename), and
//! writing the same notification again replaces its file.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use lettre::address::Envelope;

use super::outcome::{SendFailure, Sent};
use super::sms::SmsMessage;

/// A folder that receives messages instead of a relay or gateway.
#[derive(Clone, Debug)]
pub struct FileOutbox {
    dir: PathBuf,
}

impl FileOutbox {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes the message as `<dir>/email/<id>.eml`, preceded by its envelope as
    /// `X-Envelope-From`/`X-Envelope-To` header lines.
    pub async fn send_email(
        &self,
        id: i64,
        envelope: &Envelope,
        bytes: &[u8],
    ) -> Result<Sent, SendFailure> {
        let mut content = Vec::with_capacity(bytes.len() + 128);
        if let Some(from) = envelope.from() {
            content.extend_from_slice(format!("X-Envelope-From: <{from}>\r\n").as_bytes());
        }
        for to in envelope.to() {
            content.extend_from_slice(format!("X-Envelope-To: <{to}>\r\n").as_bytes());
        }
        content.extend_from_slice(bytes);
        self.write("email", &format!("{id}.eml"), content).await
    }

    /// Writes `<dir>/sms/<id>.txt`: `To:`, `From:`, `Encoding:` lines, a blank line, the text.
    pub async fn send_sms(&self, id: i64, m: &SmsMessage) -> Result<Sent, SendFailure> {
        let encoding = if m.ucs2 { "UCS-2" } else { "GSM-7" };
        let content = format!(
            "To: {}\nFrom: {}\nEncoding: {encoding}\n\n{}",
            m.to_e164, m.from, m.text
        );
        self.write("sms", &format!("{id}.txt"), content.into_bytes())
            .await
    }

    async fn write(&self, kind: &str, name: &str, content: Vec<u8>) -> Result<Sent, SendFailure> {
        let folder = self.dir.join(kind);
        let name = name.to_owned();
        tokio::task::spawn_blocking(move || write_atomically(&folder, &name, &content))
            .await
            .map_err(|e| SendFailure::destination(format!("outbox writer failed: {e}")))?
            .map_err(|e| SendFailure::destination(format!("outbox {kind}: {e}")))?;
        Ok(Sent::default())
    }
}

/// Temp file in the same folder, fsync, rename over the final name, fsync the folder:
/// a reader sees the old file or the new one, never a part, also after a crash.
fn write_atomically(folder: &Path, name: &str, content: &[u8]) -> std::io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    std::fs::create_dir_all(folder)?;
    // Unique per process and per write, so concurrent writers never share a temp file.
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp = folder.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
    let result = (|| {
        // Private whatever the umask: the files hold citizens' names and addresses.
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        file.write_all(content)?;
        file.sync_all()?;
        std::fs::rename(&temp, folder.join(name))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result?;
    std::fs::File::open(folder)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sms(text: &str, ucs2: bool) -> SmsMessage {
        SmsMessage {
            id: 7,
            to_e164: "+4917612345678".into(),
            from: "KreisSoest".into(),
            text: text.into(),
            ucs2,
            dlr_url: None,
            dlr_ref: None,
            validity_minutes: None,
        }
    }

    #[tokio::test]
    async fn an_sms_is_written_with_its_header_lines() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = FileOutbox::new(dir.path());
        outbox
            .send_sms(7, &sms("Termin fällt aus", true))
            .await
            .unwrap();
        let written = std::fs::read_to_string(dir.path().join("sms/7.txt")).unwrap();
        assert_eq!(
            written,
            "To: +4917612345678\nFrom: KreisSoest\nEncoding: UCS-2\n\nTermin fällt aus"
        );
    }

    #[tokio::test]
    async fn writing_the_same_notification_again_replaces_its_file_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = FileOutbox::new(dir.path());
        let envelope = Envelope::new(
            Some("absage@kreis.test".parse().unwrap()),
            vec!["b@example.test".parse().unwrap()],
        )
        .unwrap();
        outbox.send_email(3, &envelope, b"first").await.unwrap();
        outbox
            .send_email(3, &envelope, b"Subject: x\r\n\r\nsecond")
            .await
            .unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path().join("email"))
            .unwrap()
            .collect();
        assert_eq!(files.len(), 1);
        let written = std::fs::read_to_string(dir.path().join("email/3.eml")).unwrap();
        assert_eq!(
            written,
            "X-Envelope-From: <absage@kreis.test>\r\nX-Envelope-To: <b@example.test>\r\nSubject: x\r\n\r\nsecond"
        );
    }

    #[tokio::test]
    async fn an_unwritable_outbox_is_a_destination_failure() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("not-a-folder");
        std::fs::write(&blocker, "").unwrap();
        let outbox = FileOutbox::new(&blocker);
        let failure = outbox.send_sms(1, &sms("x", false)).await.unwrap_err();
        assert!(
            matches!(failure, SendFailure::Destination(_)),
            "{failure:?}"
        );
    }
}
