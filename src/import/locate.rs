//! Where an export is: a file, the newest file matching a glob (`exports/termine-*.csv`) or in a
//! folder, or an HTTP(S) URL downloaded (with an auth header and a timeout) to a temporary file.
//! Every kind of reader then reads a local file.

use crate::secret::Secret;
use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `[sources.http]`: fetch the export from a URL instead of `path`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSource {
    /// `https://…`; empty: the source is a file.
    pub url: String,
    /// A header sent with the request, e.g. `Authorization`.
    pub auth_header: Option<String>,
    /// Its value, e.g. `Bearer …`; a secret (`token_file` reads it from a file).
    pub token: Option<Secret>,
    pub timeout_secs: Option<u64>,
}

/// A local file to read, and the temporary download it came from (removed when dropped).
pub struct Located {
    pub path: PathBuf,
    _download: Option<tempfile::TempPath>,
}

/// Finds the file to read for a source.
pub async fn locate(path: &Path, http: &HttpSource) -> anyhow::Result<Located> {
    if !http.url.is_empty() {
        let download = download(http).await?;
        return Ok(Located {
            path: download.to_path_buf(),
            _download: Some(download),
        });
    }
    Ok(Located {
        path: newest(path)?,
        _download: None,
    })
}

/// The path itself, or the newest file of a folder or glob (by modification time).
pub fn newest(path: &Path) -> anyhow::Result<PathBuf> {
    let text = path.to_string_lossy();
    let candidates: Vec<PathBuf> = if path.is_dir() {
        std::fs::read_dir(path)
            .with_context(|| format!("{}: cannot list the folder", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect()
    } else if text.contains(['*', '?', '[']) {
        glob::glob(&text)
            .with_context(|| format!("{text}: not a valid pattern"))?
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .collect()
    } else {
        return Ok(path.to_owned());
    };
    candidates
        .into_iter()
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        .max()
        .map(|(_, p)| p)
        .with_context(|| format!("{text}: no export file found there"))
}

async fn download(http: &HttpSource) -> anyhow::Result<tempfile::TempPath> {
    crate::tls::install();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(http.timeout_secs.unwrap_or(120)))
        .build()?;
    let mut request = client.get(&http.url);
    if let (Some(name), Some(value)) = (&http.auth_header, &http.token) {
        request = request.header(name.as_str(), value.expose());
    }
    let shown = redact(&http.url);
    // reqwest's errors carry the whole URL, token and all: drop it from every message.
    let mut response = request
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{shown}: cannot fetch the export: {}", e.without_url()))?;
    if !response.status().is_success() {
        bail!("{shown}: the server answered {}", response.status());
    }
    let file =
        tempfile::NamedTempFile::new().context("creating a temporary file for the export")?;
    let (std_file, path) = file.into_parts();
    let mut out = tokio::fs::File::from_std(std_file);
    use tokio::io::AsyncWriteExt;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| anyhow::anyhow!("{shown}: the download broke off: {}", e.without_url()))?
    {
        out.write_all(&chunk).await?;
    }
    out.flush().await?;
    Ok(path)
}

/// The URL without user info or query (which may hold tokens), for messages and the history.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_password(None);
            let _ = u.set_username("");
            u.set_query(None);
            u.to_string()
        }
        Err(_) => "the configured URL".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_or_a_pattern_means_its_newest_file() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("termine-1.csv");
        let new = dir.path().join("termine-2.csv");
        std::fs::write(&old, "a").unwrap();
        std::fs::write(&new, "b").unwrap();
        let past = std::time::SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(past)
            .unwrap();
        assert_eq!(newest(dir.path()).unwrap(), new);
        assert_eq!(newest(&dir.path().join("termine-*.csv")).unwrap(), new);
        assert_eq!(newest(&old).unwrap(), old, "a plain path is itself");
        let err = newest(&dir.path().join("nichts-*.csv"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no export file"), "{err}");
    }

    #[test]
    fn tokens_in_urls_are_not_repeated_in_messages() {
        assert_eq!(
            redact("https://u:pw@host/export.csv?token=abc"),
            "https://host/export.csv"
        );
    }
}
