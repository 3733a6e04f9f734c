//! Cached, resumable, verified downloads: one locked cache entry per source URL, written to
//! `<name>.partial`, resumed with an HTTP Range request after an interruption, checked
//! against the published SHA-512 as it lies on disk, then renamed into place. TLS is always
//! verified.
//!
//! (Over 500 lines: about half is the tests against a real HTTP server; the code is
//! about 450.)

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use futures_util::StreamExt;
use sha2::{Digest, Sha256, Sha512};
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
    /// The pause before the first retry; it doubles after each.
    retry_delay: Duration,
}

/// How many times a request is tried when its failures are transient (each retry of the
/// tarball resumes the partial file).
const ATTEMPTS: u32 = 4;

impl Downloader {
    pub fn new(cache_dir: PathBuf, offline: bool) -> Result<Downloader> {
        // reqwest is built without a bundled crypto provider so that only ring (which kube
        // uses) is compiled in; installing it fails harmlessly when it is already installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .read_timeout(Duration::from_secs(60))
            .user_agent(concat!("minik/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                crate::error::Hinted::new(
                    "cannot set up the HTTP client",
                    "downloads verify TLS against the system's CA certificates: install them (Debian/Ubuntu: ca-certificates)",
                )
                .caused_by(e)
            })?;
        Ok(Downloader {
            client,
            cache_dir,
            offline,
            retry_delay: Duration::from_millis(500),
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

    /// `<cache>/<key>/<file>`, the key a hash of the URL: a file verified against one
    /// source never stands in for the same name from another (a mirror, a --tarball URL).
    pub fn cached_path(&self, a: &Artifact) -> PathBuf {
        let key = hex::encode(&Sha256::digest(a.url.as_bytes())[..8]);
        self.cache_dir.join(key).join(&a.file_name)
    }

    /// The verified file, when this artifact is in the cache already.
    pub fn cached(&self, a: &Artifact) -> Option<PathBuf> {
        let p = self.cached_path(a);
        p.is_file().then_some(p)
    }

    /// A verified `file_name` cached under any source's key.
    fn cached_from_another_source(&self, file_name: &str) -> Option<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(&self.cache_dir)
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.path().join(file_name))
            .filter(|p| p.is_file())
            .collect();
        found.sort();
        found.into_iter().next()
    }

    /// Returns the verified file, from the cache or downloaded.
    pub async fn fetch(&self, ui: &Ui, a: &Artifact) -> Result<PathBuf> {
        if let Some(target) = self.cached(a) {
            ui.detail(format!("using cached {}", target.display()));
            return Ok(target);
        }
        if self.offline {
            // A copy from another source is not used: nothing offline can check it against
            // this source's checksum. Say that it is there and how to get at it.
            let hint = match self.cached_from_another_source(&a.file_name) {
                Some(other) => format!(
                    "a copy downloaded from another source is in {}: pass the same --mirror (or --tarball) as when it was downloaded",
                    other.display()
                ),
                None => "run once without --offline where the download works, or pass --tarball with a local copy".to_string(),
            };
            return Err(Hinted::new(
                format!(
                    "{} from {} is not in the download cache ({})",
                    a.file_name,
                    a.url,
                    self.cache_dir.display()
                ),
                hint,
            )
            .into());
        }
        let target = self.cached_path(a);
        let dir = target.parent().expect("a cache entry has a directory");
        tokio::fs::create_dir_all(dir)
            .await
            .with_context(|| format!("cannot create {}", dir.display()))?;
        // Held until the file is in place or given up: two builds of one version would
        // otherwise write the same partial file.
        let _lock = lock(ui, &lock_path(&target)).await?;
        if let Some(target) = self.cached(a) {
            ui.detail(format!("using {} (downloaded meanwhile)", target.display()));
            return Ok(target);
        }
        let expected = self
            .with_retries(ui, &a.checksum_url, || self.checksum(a))
            .await?;
        let partial = partial_path(&target);
        let bar = ui.bytes(a.file_name.clone(), None);
        let got = self
            .with_retries(ui, &a.url, || {
                self.download_once(a, &partial, &expected, &bar)
            })
            .await;
        bar.finish();
        got.with_context(|| format!("cannot download {}", a.url))?;
        tokio::fs::rename(&partial, &target)
            .await
            .with_context(|| format!("cannot move the download to {}", target.display()))?;
        Ok(target)
    }

    /// Runs `attempt` until it succeeds, fails for good, or ATTEMPTS are spent.
    async fn with_retries<T, F: Future<Output = Result<T>>>(
        &self,
        ui: &Ui,
        url: &str,
        mut attempt: impl FnMut() -> F,
    ) -> Result<T> {
        let mut delay = self.retry_delay;
        let mut n = 1;
        loop {
            match attempt().await {
                Err(e) if n < ATTEMPTS && is_transient(&e) => {
                    ui.detail(format!("{url}: {e:#}; trying again"));
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    n += 1;
                }
                done => return done,
            }
        }
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

    /// One request, resuming from the partial file's length when it has one; then the whole
    /// file on disk is checked against `expected`.
    async fn download_once(
        &self,
        a: &Artifact,
        partial: &Path,
        expected: &str,
        bar: &crate::ui::Bytes,
    ) -> Result<()> {
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
        if status == reqwest::StatusCode::RANGE_NOT_SATISFIABLE {
            // The partial file is not a prefix of what the server has: start over.
            tokio::fs::remove_file(partial).await.ok();
            return Err(Transient("the server refused to resume; starting over".into()).into());
        }
        let resp = resp.error_for_status()?;
        let start = if status == reqwest::StatusCode::PARTIAL_CONTENT {
            let start = range_start(&resp);
            if start != Some(have) {
                // Appending a range that starts elsewhere would corrupt the file.
                tokio::fs::remove_file(partial).await.ok();
                let got = resp
                    .headers()
                    .get(reqwest::header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("none");
                return Err(Transient(format!(
                    "asked to resume at byte {have}, the server sent content-range {got}; starting over"
                ))
                .into());
            }
            have
        } else {
            0
        };
        let declared = resp.content_length();
        // A body with neither a length nor chunked framing ends when the connection closes:
        // a cut connection looks like a complete file.
        let delimited = declared.is_some()
            || resp.version() >= reqwest::Version::HTTP_2
            || resp
                .headers()
                .get(reqwest::header::TRANSFER_ENCODING)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        let mut file = if start > 0 {
            tokio::fs::OpenOptions::new()
                .append(true)
                .open(partial)
                .await
        } else {
            tokio::fs::File::create(partial).await
        }
        .with_context(|| format!("cannot write {}", partial.display()))?;
        if let Some(len) = declared {
            bar.set_length(start + len);
        }
        bar.set_position(start);
        let mut received = 0u64;
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            file.write_all(&chunk)
                .await
                .with_context(|| format!("cannot write {}", partial.display()))?;
            received += chunk.len() as u64;
            bar.inc(chunk.len() as u64);
        }
        file.flush()
            .await
            .with_context(|| format!("cannot write {}", partial.display()))?;
        drop(file);
        if let Some(len) = declared.filter(|&len| received < len) {
            return Err(Transient(format!(
                "the reply was truncated after {received} of {len} bytes"
            ))
            .into());
        }
        // Hash what is on disk, not what went by: that is what gets renamed into the cache.
        let actual = sha512_file(partial).await?;
        if actual == expected {
            return Ok(());
        }
        if !delimited {
            // Most likely cut short: keep it, the next attempt resumes (or starts over when
            // the server refuses the range).
            return Err(Transient(format!(
                "the reply had no length and ended at byte {}, not matching the checksum: probably truncated",
                start + received
            ))
            .into());
        }
        let _ = tokio::fs::remove_file(partial).await;
        Err(Hinted::new(
            format!("checksum mismatch for {}: expected sha512 {expected}, got {actual}", a.url),
            "the download was corrupted or the mirror serves a different file; the partial file was deleted, so run again (or pick another --mirror)",
        )
        .into())
    }
}

/// Takes the exclusive lock on `path`, waiting (and saying so) while another process or
/// task holds it. The OS releases it when the file is dropped or the process ends.
async fn lock(ui: &Ui, path: &Path) -> Result<std::fs::File> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("cannot create lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => return Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => ui.detail(format!(
            "waiting for another download holding {}",
            path.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
    let locked = tokio::task::spawn_blocking(move || file.lock().map(|()| file))
        .await
        .context("the lock waiter panicked")?;
    locked.with_context(|| format!("cannot lock {}", path.display()))
}

/// The SHA-512 of a file, read in chunks.
async fn sha512_file(path: &Path) -> Result<String> {
    let p = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&p)?;
        let mut hasher = Sha512::new();
        std::io::copy(
            &mut std::io::BufReader::with_capacity(1 << 20, file),
            &mut hasher,
        )?;
        Ok::<_, std::io::Error>(hex::encode(hasher.finalize()))
    })
    .await
    .context("the hashing task panicked")?
    .with_context(|| format!("cannot read {}", path.display()))
}

/// The first byte of a 206 reply, from `Content-Range: bytes <first>-<last>/<size>`.
fn range_start(resp: &reqwest::Response) -> Option<u64> {
    let v = resp.headers().get(reqwest::header::CONTENT_RANGE)?;
    v.to_str()
        .ok()?
        .strip_prefix("bytes ")?
        .split_once('-')?
        .0
        .trim()
        .parse()
        .ok()
}

fn partial_path(target: &Path) -> PathBuf {
    let mut name = target.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

fn lock_path(target: &Path) -> PathBuf {
    let mut name = target.as_os_str().to_owned();
    name.push(".lock");
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

/// Only errors known to be transient are retried: timeouts, refused or broken connections,
/// bodies cut short, 5xx, 408 and 429 answers. Other 4xx answers and TLS failures (a bad
/// certificate, a server that does not speak TLS) are final.
fn is_transient(e: &anyhow::Error) -> bool {
    if e.chain().any(is_tls) {
        return false;
    }
    e.chain().any(|c| {
        if c.downcast_ref::<Transient>().is_some() {
            return true;
        }
        if let Some(r) = c.downcast_ref::<reqwest::Error>() {
            if let Some(s) = r.status() {
                return s.is_server_error()
                    || s == reqwest::StatusCode::TOO_MANY_REQUESTS
                    || s == reqwest::StatusCode::REQUEST_TIMEOUT;
            }
            // A request error that is not TLS (excluded above) is a connection closed or
            // reset before the answer came.
            return r.is_timeout()
                || r.is_connect()
                || r.is_body()
                || r.is_decode()
                || r.is_request();
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::BrokenPipe
            );
        }
        false
    })
}

/// Whether a rustls error is in `e` or below it. An io::Error's `source()` skips the error
/// it wraps (tokio-rustls wraps rustls errors that way), so that one is looked into too.
fn is_tls(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(c) = cur {
        if c.is::<rustls::Error>() {
            return true;
        }
        if let Some(inner) = c
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            if is_tls(inner) {
                return true;
            }
        }
        cur = c.source();
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
        // A certificate rejected during the handshake, as tokio-rustls reports it.
        let expired = anyhow::Error::new(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::Expired),
        ));
        assert!(is_tls(expired.chain().next().unwrap()));
        assert!(!is_transient(&expired));
    }
}

/// Real downloads from a hand-written HTTP/1.1 server on 127.0.0.1, one request per
/// connection, so that the cases a library server would smooth over (no length, a wrong
/// range, a peer that does not speak TLS) can be produced.
#[cfg(test)]
mod served {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// One request as the handler sees it.
    struct Req {
        path: String,
        range: Option<u64>,
        /// How many requests for this path came before.
        nth: usize,
    }

    /// The reply: pieces written with a short pause between them, then the connection closes.
    type Handler = dyn Fn(&Req) -> Vec<Vec<u8>> + Send + Sync;

    struct Server {
        port: u16,
        /// "GET <path> range=<n|->", or "TLS" for a TLS ClientHello, one per connection.
        log: Arc<Mutex<Vec<String>>>,
    }

    impl Server {
        async fn start(handler: impl Fn(&Req) -> Vec<Vec<u8>> + Send + Sync + 'static) -> Server {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let log = Arc::new(Mutex::new(Vec::new()));
            let handler: Arc<Handler> = Arc::new(handler);
            let counts = Arc::new(Mutex::new(HashMap::<String, usize>::new()));
            let server_log = log.clone();
            tokio::spawn(async move {
                loop {
                    let (mut conn, _) = listener.accept().await.unwrap();
                    let (handler, log, counts) =
                        (handler.clone(), server_log.clone(), counts.clone());
                    tokio::spawn(async move {
                        let mut buf = Vec::new();
                        let mut chunk = [0u8; 4096];
                        loop {
                            let n = conn.read(&mut chunk).await.unwrap_or(0);
                            buf.extend_from_slice(&chunk[..n]);
                            if n == 0
                                || buf.first() == Some(&0x16)
                                || buf.windows(4).any(|w| w == b"\r\n\r\n")
                            {
                                break;
                            }
                        }
                        if buf.first() == Some(&0x16) {
                            // A TLS ClientHello on a plain port: answer in HTTP, as servers do.
                            log.lock().unwrap().push("TLS".into());
                            let _ = conn.write_all(b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n").await;
                            return;
                        }
                        let head = String::from_utf8_lossy(&buf).into_owned();
                        let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                        let range = head.lines().find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("range").then(|| {
                                v.trim()
                                    .trim_start_matches("bytes=")
                                    .trim_end_matches('-')
                                    .parse()
                                    .unwrap()
                            })
                        });
                        let nth = {
                            let mut c = counts.lock().unwrap();
                            let n = c.entry(path.clone()).or_default();
                            *n += 1;
                            *n - 1
                        };
                        log.lock().unwrap().push(format!(
                            "GET {path} range={}",
                            range.map_or("-".into(), |r: u64| r.to_string())
                        ));
                        let pieces = handler(&Req { path, range, nth });
                        for p in pieces {
                            if conn.write_all(&p).await.is_err() {
                                return;
                            }
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        let _ = conn.shutdown().await;
                    });
                }
            });
            Server { port, log }
        }

        fn url(&self, path: &str) -> String {
            format!("http://127.0.0.1:{}{path}", self.port)
        }

        fn log(&self) -> Vec<String> {
            self.log.lock().unwrap().clone()
        }

        fn count(&self, prefix: &str) -> usize {
            self.log().iter().filter(|l| l.starts_with(prefix)).count()
        }
    }

    /// A reply head; `length` adds Content-Length.
    fn head(status: &str, length: Option<usize>, extra: &str) -> Vec<u8> {
        let mut h = format!("HTTP/1.1 {status}\r\nconnection: close\r\n{extra}");
        if let Some(n) = length {
            h.push_str(&format!("content-length: {n}\r\n"));
        }
        h.push_str("\r\n");
        h.into_bytes()
    }

    /// `body` as a 200 with its length, in pieces of `piece` bytes.
    fn ok(body: &[u8], piece: usize) -> Vec<Vec<u8>> {
        let mut out = vec![head("200 OK", Some(body.len()), "")];
        out.extend(body.chunks(piece).map(|c| c.to_vec()));
        out
    }

    /// The rest of `body` from `from`, as a well-formed 206.
    fn rest(body: &[u8], from: usize) -> Vec<Vec<u8>> {
        let range = format!(
            "content-range: bytes {from}-{}/{}\r\n",
            body.len() - 1,
            body.len()
        );
        vec![
            head("206 Partial Content", Some(body.len() - from), &range),
            body[from..].to_vec(),
        ]
    }

    fn sha512_reply(body: &[u8], name: &str) -> Vec<Vec<u8>> {
        let text = format!("{}  {name}\n", hex::encode(Sha512::digest(body)));
        ok(text.as_bytes(), 4096)
    }

    /// Test data that is not all one byte, so that misplaced ranges change the hash.
    fn data(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
            .collect()
    }

    fn artifact(s: &Server, dir: &str) -> Artifact {
        Artifact {
            file_name: "x.tgz".into(),
            url: s.url(&format!("/{dir}/x.tgz")),
            checksum_url: s.url(&format!("/{dir}/x.tgz.sha512")),
        }
    }

    fn downloader(cache: &Path) -> Downloader {
        let mut d = Downloader::new(cache.to_path_buf(), false).unwrap();
        d.retry_delay = Duration::from_millis(10);
        d
    }

    fn ui() -> Ui {
        Ui::new(crate::ui::Level::Quiet)
    }

    /// Every file in the cache, relative, sorted; lock files aside.
    fn cache_files(cache: &Path) -> Vec<String> {
        let mut out = Vec::new();
        for d in std::fs::read_dir(cache).unwrap() {
            let d = d.unwrap().path();
            for f in std::fs::read_dir(&d).unwrap() {
                let name = f.unwrap().file_name().to_string_lossy().into_owned();
                if !name.ends_with(".lock") {
                    out.push(name);
                }
            }
        }
        out.sort();
        out
    }

    #[tokio::test]
    async fn a_reply_without_length_that_ends_early_is_resumed() {
        let body = data(40_000, 1);
        let b = body.clone();
        let s = Server::start(move |r| match (r.path.as_str(), r.range) {
            ("/a/x.tgz.sha512", _) => sha512_reply(&b, "x.tgz"),
            // No Content-Length: the body ends when the connection closes, here too early.
            ("/a/x.tgz", None) => vec![head("200 OK", None, ""), b[..15_000].to_vec()],
            ("/a/x.tgz", Some(from)) => rest(&b, from as usize),
            _ => vec![head("404 Not Found", Some(0), "")],
        })
        .await;
        let cache = tempfile::tempdir().unwrap();
        let got = downloader(cache.path())
            .fetch(&ui(), &artifact(&s, "a"))
            .await
            .unwrap();
        assert_eq!(std::fs::read(&got).unwrap(), body);
        assert!(
            s.log().contains(&"GET /a/x.tgz range=15000".to_string()),
            "{:?}",
            s.log()
        );
        assert_eq!(cache_files(cache.path()), ["x.tgz"]);
    }

    #[tokio::test]
    async fn a_short_body_never_enters_the_cache() {
        let body = data(40_000, 2);
        let b = body.clone();
        let s = Server::start(move |r| match r.path.as_str() {
            "/a/x.tgz.sha512" => sha512_reply(&b, "x.tgz"),
            // Cut short every time, ranges ignored.
            _ => vec![head("200 OK", None, ""), b[..10_000].to_vec()],
        })
        .await;
        let cache = tempfile::tempdir().unwrap();
        let d = downloader(cache.path());
        let a = artifact(&s, "a");
        let e = d.fetch(&ui(), &a).await.unwrap_err();
        let text = format!("{e:#}");
        assert!(text.contains("probably truncated"), "{text}");
        assert!(
            text.contains(&format!("cannot download {}", a.url)),
            "{text}"
        );
        assert!(!d.cached_path(&a).exists());
        assert_eq!(s.count("GET /a/x.tgz range"), ATTEMPTS as usize);
    }

    #[tokio::test]
    async fn a_range_reply_that_starts_elsewhere_restarts_the_download() {
        let body = data(40_000, 3);
        let b = body.clone();
        let s = Server::start(move |r| match (r.path.as_str(), r.range) {
            ("/a/x.tgz.sha512", _) => sha512_reply(&b, "x.tgz"),
            ("/a/x.tgz", None) => ok(&b, 8192),
            // A 206 that sends the whole file, however the request asked.
            ("/a/x.tgz", Some(_)) => rest(&b, 0),
            _ => vec![head("404 Not Found", Some(0), "")],
        })
        .await;
        let cache = tempfile::tempdir().unwrap();
        let d = downloader(cache.path());
        let a = artifact(&s, "a");
        let target = d.cached_path(&a);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(partial_path(&target), &body[..12_000]).unwrap();
        let got = d.fetch(&ui(), &a).await.unwrap();
        assert_eq!(std::fs::read(&got).unwrap(), body);
        assert_eq!(
            s.log()[1..],
            ["GET /a/x.tgz range=12000", "GET /a/x.tgz range=-"]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_downloads_of_one_file_share_it_safely() {
        let body = data(200_000, 4);
        let b = body.clone();
        let s = Server::start(move |r| match r.path.as_str() {
            "/a/x.tgz.sha512" => sha512_reply(&b, "x.tgz"),
            // Slow enough (40 pieces, 5 ms apart) for the two to overlap.
            "/a/x.tgz" => ok(&b, 5_000),
            _ => vec![head("404 Not Found", Some(0), "")],
        })
        .await;
        let cache = tempfile::tempdir().unwrap();
        let (d1, d2) = (downloader(cache.path()), downloader(cache.path()));
        let a = artifact(&s, "a");
        let (ui1, ui2) = (ui(), ui());
        let (r1, r2) = tokio::join!(d1.fetch(&ui1, &a), d2.fetch(&ui2, &a));
        for r in [r1, r2] {
            let p = r.unwrap();
            assert_eq!(std::fs::read(&p).unwrap(), body);
        }
        assert_eq!(cache_files(cache.path()), ["x.tgz"]);
        assert_eq!(s.count("GET /a/x.tgz range"), 1, "{:?}", s.log());
    }

    #[tokio::test]
    async fn a_file_cached_from_another_url_is_not_used() {
        let (one, two) = (data(20_000, 5), data(20_000, 6));
        let (b1, b2) = (one.clone(), two.clone());
        let s = Server::start(move |r| match r.path.as_str() {
            "/one/x.tgz.sha512" => sha512_reply(&b1, "x.tgz"),
            "/one/x.tgz" => ok(&b1, 8192),
            "/two/x.tgz.sha512" => sha512_reply(&b2, "x.tgz"),
            "/two/x.tgz" => ok(&b2, 8192),
            _ => vec![head("404 Not Found", Some(0), "")],
        })
        .await;
        let cache = tempfile::tempdir().unwrap();
        let d = downloader(cache.path());
        let first = d.fetch(&ui(), &artifact(&s, "one")).await.unwrap();
        assert_eq!(std::fs::read(&first).unwrap(), one);

        let offline = Downloader::new(cache.path().to_path_buf(), true).unwrap();
        let e = offline
            .fetch(&ui(), &artifact(&s, "two"))
            .await
            .unwrap_err();
        let e = crate::error::render(&e);
        assert!(
            e.contains("x.tgz from ") && e.contains("is not in the download cache"),
            "{e}"
        );
        assert!(
            e.contains("a copy downloaded from another source is in"),
            "{e}"
        );

        let second = d.fetch(&ui(), &artifact(&s, "two")).await.unwrap();
        assert_eq!(std::fs::read(&second).unwrap(), two);
        assert_eq!(
            std::fs::read(&first).unwrap(),
            one,
            "each source keeps its own file"
        );
        assert_eq!(s.count("GET /two/x.tgz range"), 1);
        // Fetched again from the first source: served from the cache, no request.
        d.fetch(&ui(), &artifact(&s, "one")).await.unwrap();
        assert_eq!(s.count("GET /one/x.tgz range"), 1);
    }

    #[tokio::test]
    async fn a_tls_failure_is_final() {
        let body = data(1_000, 7);
        let b = body.clone();
        let s = Server::start(move |r| match r.path.as_str() {
            "/a/x.tgz.sha512" => sha512_reply(&b, "x.tgz"),
            _ => ok(&b, 8192),
        })
        .await;
        let cache = tempfile::tempdir().unwrap();
        let mut a = artifact(&s, "a");
        // https:// to a port that speaks plain HTTP: the handshake fails.
        a.url = a.url.replace("http://", "https://");
        let e = downloader(cache.path()).fetch(&ui(), &a).await.unwrap_err();
        assert!(!is_transient(&e), "{e:#}");
        assert_eq!(s.count("TLS"), 1, "retried: {:?}", s.log());
        assert!(format!("{e:#}").contains(&format!("cannot download {}", a.url)));
    }

    #[tokio::test]
    async fn the_checksum_fetch_is_retried_and_a_404_is_not() {
        let body = data(1_000, 8);
        let b = body.clone();
        let s = Server::start(move |r| match (r.path.as_str(), r.nth) {
            ("/a/x.tgz.sha512", 0) => vec![head("503 Service Unavailable", Some(0), "")],
            ("/a/x.tgz.sha512", _) => sha512_reply(&b, "x.tgz"),
            ("/a/x.tgz", _) => ok(&b, 8192),
            _ => vec![head("404 Not Found", Some(0), "")],
        })
        .await;
        let cache = tempfile::tempdir().unwrap();
        let d = downloader(cache.path());
        let got = d.fetch(&ui(), &artifact(&s, "a")).await.unwrap();
        assert_eq!(std::fs::read(&got).unwrap(), body);
        assert_eq!(s.count("GET /a/x.tgz.sha512"), 2);

        let e = d.fetch(&ui(), &artifact(&s, "gone")).await.unwrap_err();
        assert!(!is_transient(&e));
        assert_eq!(s.count("GET /gone/"), 1);
    }

    #[tokio::test]
    async fn a_wrong_file_is_a_checksum_mismatch_and_is_deleted() {
        let body = data(10_000, 9);
        let b = body.clone();
        let s = Server::start(move |r| match r.path.as_str() {
            "/a/x.tgz.sha512" => sha512_reply(b"something else", "x.tgz"),
            _ => ok(&b, 8192),
        })
        .await;
        let cache = tempfile::tempdir().unwrap();
        let e = downloader(cache.path())
            .fetch(&ui(), &artifact(&s, "a"))
            .await
            .unwrap_err();
        let text = crate::error::render(&e);
        assert!(
            text.contains("checksum mismatch for http://127.0.0.1:"),
            "{text}"
        );
        assert!(cache_files(cache.path()).is_empty());
        assert_eq!(
            s.count("GET /a/x.tgz range"),
            1,
            "a mismatch is not retried"
        );
    }
}
