//! Cached, resumable, verified downloads: the file is written to `<name>.partial` while its
//! SHA-512 is computed from the same bytes, resumed with an HTTP Range request after an
//! interruption, verified against the published checksum, then renamed into place. TLS is
//! always verified.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use futures_util::StreamExt;
use sha2::{Digest, Sha512};
use tokio::io::AsyncWriteExt;

use crate::error::Hinted;
use crate::ui::Ui;

/// Something to download, and where its checksum is published.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub file_name: String,
    pub url: String,
    pub checksum_url: String,
}

pub struct Downloader {
    client: reqwest::Client,
    cache_dir: PathBuf,
    offline: bool,
}

/// How many times a transient failure is retried (each retry resumes the partial file).
const ATTEMPTS: u32 = 4;

impl Downloader {
    pub fn new(cache_dir: PathBuf, offline: bool) -> Result<Downloader> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .read_timeout(Duration::from_secs(60))
            .user_agent(concat!("minik/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(Downloader {
            client,
            cache_dir,
            offline,
        })
    }

    /// The user's download cache: `$XDG_CACHE_HOME/minik/downloads` (or ~/.cache/…).
    pub fn default_cache_dir() -> Result<PathBuf> {
        Ok(dirs::cache_dir()
            .context("cannot find the cache directory (set HOME)")?
            .join("minik")
            .join("downloads"))
    }

    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    pub fn cached_path(&self, a: &Artifact) -> PathBuf {
        self.cache_dir.join(&a.file_name)
    }

    /// Returns the verified file, from the cache or downloaded.
    pub async fn fetch(&self, ui: &Ui, a: &Artifact) -> Result<PathBuf> {
        let target = self.cached_path(a);
        if target.is_file() {
            ui.detail(format!("using cached {}", target.display()));
            return Ok(target);
        }
        if self.offline {
            return Err(Hinted::new(
                format!("{} is not in the download cache ({})", a.file_name, self.cache_dir.display()),
                "run once without --offline where the download works, or pass --tarball with a local copy",
            )
            .into());
        }
        tokio::fs::create_dir_all(&self.cache_dir)
            .await
            .with_context(|| format!("cannot create {}", self.cache_dir.display()))?;
        let expected = self.checksum(a).await?;
        let partial = partial_path(&target);
        let actual = self.download_with_retries(ui, a, &partial).await?;
        if actual != expected {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(Hinted::new(
                format!("checksum mismatch for {}: expected sha512 {expected}, got {actual}", a.url),
                "the download was corrupted or the mirror serves a different file; the partial file was deleted, so run again (or pick another --mirror)",
            )
            .into());
        }
        tokio::fs::rename(&partial, &target)
            .await
            .with_context(|| format!("cannot move the download to {}", target.display()))?;
        Ok(target)
    }

    /// The published SHA-512, lowercase hex.
    async fn checksum(&self, a: &Artifact) -> Result<String> {
        let text = self
            .get_text(&a.checksum_url)
            .await
            .with_context(|| format!("cannot fetch the checksum {}", a.checksum_url))?;
        parse_sha512(&text, &a.file_name)
            .with_context(|| format!("cannot read the checksum file {}", a.checksum_url))
    }

    async fn get_text(&self, url: &str) -> Result<String> {
        let resp = self.client.get(url).send().await?.error_for_status()?;
        Ok(resp.text().await?)
    }

    async fn download_with_retries(&self, ui: &Ui, a: &Artifact, partial: &Path) -> Result<String> {
        let bar = ui.bytes(a.file_name.clone(), None);
        let mut attempt = 1;
        loop {
            match self.download_once(a, partial, &bar).await {
                Ok(digest) => {
                    bar.finish();
                    return Ok(digest);
                }
                Err(e) if attempt < ATTEMPTS && is_transient(&e) => {
                    ui.detail(format!("download interrupted ({e:#}); resuming"));
                    tokio::time::sleep(Duration::from_millis(500 * 2u64.pow(attempt - 1))).await;
                    attempt += 1;
                }
                Err(e) => {
                    bar.finish();
                    return Err(e.context(format!("cannot download {}", a.url)));
                }
            }
        }
    }

    /// One request: resumes from the partial file's length when it has one. Returns the
    /// SHA-512 of the whole file.
    async fn download_once(
        &self,
        a: &Artifact,
        partial: &Path,
        bar: &crate::ui::Bytes,
    ) -> Result<String> {
        let mut hasher = Sha512::new();
        let have = match tokio::fs::metadata(partial).await {
            Ok(m) => m.len(),
            Err(_) => 0,
        };
        let mut req = self.client.get(&a.url);
        if have > 0 {
            req = req.header(reqwest::header::RANGE, format!("bytes={have}-"));
        }
        let resp = req.send().await?;
        let status = resp.status();
        let resuming = have > 0 && status == reqwest::StatusCode::PARTIAL_CONTENT;
        if status == reqwest::StatusCode::RANGE_NOT_SATISFIABLE {
            // The partial file is not a prefix of what the server has: start over.
            tokio::fs::remove_file(partial).await.ok();
            return Err(Transient("the server refused to resume; starting over".into()).into());
        }
        let resp = resp.error_for_status()?;
        let mut file = if resuming {
            // Hash what is already there: the digest covers the whole file, one pass.
            let existing = tokio::fs::read(partial)
                .await
                .with_context(|| format!("cannot read {}", partial.display()))?;
            hasher.update(&existing);
            tokio::fs::OpenOptions::new()
                .append(true)
                .open(partial)
                .await
        } else {
            tokio::fs::File::create(partial).await
        }
        .with_context(|| format!("cannot write {}", partial.display()))?;
        let start = if resuming { have } else { 0 };
        if let Some(len) = resp.content_length() {
            bar.set_length(start + len);
        }
        bar.set_position(start);
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            hasher.update(&chunk);
            file.write_all(&chunk)
                .await
                .with_context(|| format!("cannot write {}", partial.display()))?;
            bar.inc(chunk.len() as u64);
        }
        file.flush().await?;
        Ok(hex::encode(hasher.finalize()))
    }
}

fn partial_path(target: &Path) -> PathBuf {
    let mut name = target.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// A failure worth retrying that is not a reqwest error.
#[derive(Debug)]
struct Transient(String);

impl std::fmt::Display for Transient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Transient {}

/// Only errors known to be transient are retried: timeouts, broken connections, bodies cut
/// short, 5xx and 429 answers. A 404 or a TLS failure is final.
fn is_transient(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        if c.downcast_ref::<Transient>().is_some() {
            return true;
        }
        if let Some(r) = c.downcast_ref::<reqwest::Error>() {
            if let Some(s) = r.status() {
                return s.is_server_error() || s == reqwest::StatusCode::TOO_MANY_REQUESTS;
            }
            return r.is_timeout()
                || r.is_body()
                || r.is_decode()
                || (r.is_connect() && !is_tls(r))
                || r.is_request();
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::BrokenPipe
            );
        }
        false
    })
}

fn is_tls(e: &reqwest::Error) -> bool {
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        let text = s.to_string().to_lowercase();
        if text.contains("certificate") || text.contains("tls") {
            return true;
        }
        src = s.source();
    }
    false
}

/// Reads a SHA-512 from a checksum file in either format Spark has published:
/// `shasum -a 512` (`<hex>  <file>`) or `gpg --print-md SHA512` (`<file>: 1C8B 2C1A …`,
/// upper case, grouped, wrapped over lines).
pub fn parse_sha512(text: &str, file_name: &str) -> Result<String> {
    let t = text.trim();
    let candidate: String = match t.split_once(':') {
        // gpg form: everything after "<file>:".
        Some((name, rest)) if !name.trim().chars().all(|c| c.is_ascii_hexdigit()) => {
            rest.chars().filter(|c| !c.is_whitespace()).collect()
        }
        _ => {
            // shasum form, possibly several lines: pick the one naming our file, else the first.
            let line = t
                .lines()
                .find(|l| {
                    l.split_whitespace()
                        .nth(1)
                        .map(|n| n.trim_start_matches('*'))
                        == Some(file_name)
                })
                .or_else(|| t.lines().next())
                .unwrap_or("");
            line.split_whitespace().next().unwrap_or("").to_string()
        }
    };
    let hex = candidate.to_ascii_lowercase();
    if hex.len() != 128 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        anyhow::bail!("no SHA-512 digest found for {file_name}");
    }
    Ok(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "b7c9df025f02d54ffc9ada1db2e3339dcb424ea31092fc8d13ada5cc01e6d5eb930508fea6ca5c40893b4112de12767cfcdfa1f34d70cfa7a68ea1c4ac51a4c8";

    #[test]
    fn shasum_format() {
        let text = format!("{HEX}  spark-3.5.1-bin-hadoop3.tgz\n");
        assert_eq!(
            parse_sha512(&text, "spark-3.5.1-bin-hadoop3.tgz").unwrap(),
            HEX
        );
        let binary_mode = format!("{HEX} *spark-3.5.1-bin-hadoop3.tgz\n");
        assert_eq!(
            parse_sha512(&binary_mode, "spark-3.5.1-bin-hadoop3.tgz").unwrap(),
            HEX
        );
    }

    #[test]
    fn gpg_print_md_format() {
        let upper = HEX.to_ascii_uppercase();
        let groups: Vec<String> = upper
            .as_bytes()
            .chunks(8)
            .map(|c| String::from_utf8(c.to_vec()).unwrap())
            .collect();
        let text = format!(
            "spark-2.4.8-bin-hadoop2.7.tgz: {} {} {} {}\n {}\n                                {}\n",
            groups[0..2].join(" "),
            groups[2..4].join(" "),
            groups[4..6].join(" "),
            groups[6..8].join(" "),
            groups[8..12].join(" "),
            groups[12..16].join(" ")
        );
        assert_eq!(
            parse_sha512(&text, "spark-2.4.8-bin-hadoop2.7.tgz").unwrap(),
            HEX
        );
    }

    #[test]
    fn garbage_is_refused() {
        assert!(parse_sha512("<html>not found</html>", "x.tgz").is_err());
        assert!(parse_sha512(&format!("{}  x.tgz", &HEX[..64]), "x.tgz").is_err());
        assert!(parse_sha512("", "x.tgz").is_err());
    }

    #[test]
    fn partial_files_sit_next_to_the_target() {
        assert_eq!(
            partial_path(Path::new("/c/spark.tgz")),
            PathBuf::from("/c/spark.tgz.partial")
        );
    }

    #[test]
    fn only_transient_errors_are_retried() {
        let reset = anyhow::Error::new(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "reset",
        ));
        assert!(is_transient(&reset));
        assert!(is_transient(&anyhow::Error::new(Transient("x".into()))));
        assert!(!is_transient(&anyhow::anyhow!("checksum mismatch")));
        let denied = anyhow::Error::new(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "no",
        ));
        assert!(!is_transient(&denied));
    }
}
