//! `minik image build spark`: resolve the Apache Spark distribution for a version, download
//! it (cached, resumable, verified), stream it into a build context with minik's
//! `images/spark/` files, build the base image (and the PySpark variant), tag, load.
//!
//! (Over 500 lines with its tests, about 200 of them; the code alone is under 500.)

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::archive;
use crate::download::{Artifact, Downloader};
use crate::error::Hinted;
use crate::runtime::Runtime;
use crate::ui::Ui;

/// minik's own Spark image files, compiled in so that the binary is self-contained.
const DOCKERFILE: &str = include_str!("../../images/spark/Dockerfile");
const PYTHON_DOCKERFILE: &str = include_str!("../../images/spark/python.Dockerfile");
const ENTRYPOINT: &str = include_str!("../../images/spark/entrypoint.sh");
const DECOM: &str = include_str!("../../images/spark/decom.sh");

/// The Spark release built when no version is given.
pub const DEFAULT_VERSION: &str = "4.0.1";

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct SparkBuild {
    pub version: String,
    pub scala: String,
    pub java: u32,
    pub python: bool,
    /// A local path or URL of the distribution tarball, instead of resolving it.
    pub tarball: Option<String>,
    /// Base URL of a mirror laid out like Apache's (`<mirror>/spark-<v>/<file>`).
    pub mirror: Option<String>,
    pub base_image: Option<String>,
    pub tag: Option<String>,
    pub offline: bool,
}

impl SparkBuild {
    /// `spark-3.5.1-bin-hadoop3.tgz`, `spark-3.5.1-bin-hadoop3-scala2.13.tgz`, …
    pub fn file_name(&self) -> Result<String> {
        let major: u32 = self
            .version
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .ok_or_else(|| bad_version(&self.version))?;
        if self.version.split('.').count() != 3
            || !self.version.split('.').all(|p| p.parse::<u32>().is_ok())
        {
            return Err(bad_version(&self.version));
        }
        match (major, self.scala.as_str()) {
            (3, "2.12") => Ok(format!("spark-{}-bin-hadoop3.tgz", self.version)),
            (3, "2.13") => Ok(format!("spark-{}-bin-hadoop3-scala2.13.tgz", self.version)),
            (m, "2.13") if m >= 4 => Ok(format!("spark-{}-bin-hadoop3.tgz", self.version)),
            (m, s) if m >= 4 => Err(Hinted::new(
                format!(
                    "Spark {} is built for Scala 2.13 only, not {s}",
                    self.version
                ),
                "drop --scala or pass --scala 2.13",
            )
            .into()),
            (_, s) => Err(Hinted::new(
                format!(
                    "minik builds Spark 3.x and newer (asked: {} with Scala {s})",
                    self.version
                ),
                "pick a 3.x or 4.x release",
            )
            .into()),
        }
    }

    /// Where to get it, in order of preference.
    pub fn artifacts(&self) -> Result<Vec<Artifact>> {
        let file = self.file_name()?;
        let v = &self.version;
        let at = |base: &str, sums: &str| Artifact {
            file_name: file.clone(),
            url: format!("{}/spark-{v}/{file}", base.trim_end_matches('/')),
            checksum_url: format!("{}/spark-{v}/{file}.sha512", sums.trim_end_matches('/')),
        };
        Ok(match &self.mirror {
            Some(m) => vec![at(m, m)],
            // Current releases live on the CDN (checksums on downloads.apache.org, never on
            // mirrors); older ones only on the archive.
            None => vec![
                at(
                    "https://dlcdn.apache.org/spark",
                    "https://downloads.apache.org/spark",
                ),
                at(
                    "https://archive.apache.org/dist/spark",
                    "https://archive.apache.org/dist/spark",
                ),
            ],
        })
    }

    pub fn base_image(&self) -> String {
        self.base_image
            .clone()
            .unwrap_or_else(|| format!("eclipse-temurin:{}-jre", self.java))
    }

    /// Explicit tags, never `latest`, so that `imagePullPolicy: IfNotPresent` works.
    pub fn tags(&self) -> (String, String) {
        let base = self
            .tag
            .clone()
            .unwrap_or_else(|| default_tag(&self.version, self.java));
        let py = match base.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => format!("{repo}-py:{tag}"),
            _ => format!("{base}-py:{}-java{}", self.version, self.java),
        };
        (base, py)
    }
}

/// The tag `minik image build spark` gives a build without --tag.
pub fn default_tag(version: &str, java: u32) -> String {
    format!("minik/spark:{version}-java{java}")
}

/// The image `spark submit` uses without --image: what a plain `minik image build spark`
/// makes.
pub fn default_image() -> String {
    default_tag(DEFAULT_VERSION, 17)
}

/// The Scala version of a Spark release's default distribution: 2.13 for 4.x (its only
/// one), 2.12 before.
pub fn default_scala(version: &str) -> &'static str {
    let major: u32 = version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if major >= 4 {
        "2.13"
    } else {
        "2.12"
    }
}

fn bad_version(v: &str) -> anyhow::Error {
    Hinted::new(
        format!("invalid Spark version {v:?}"),
        "write it as MAJOR.MINOR.PATCH, e.g. 3.5.1",
    )
    .into()
}

/// Gets the distribution tarball: a local path as is, otherwise downloaded into the cache.
async fn distribution(ui: &Ui, opts: &SparkBuild, downloader: &Downloader) -> Result<PathBuf> {
    if let Some(t) = &opts.tarball {
        if !t.contains("://") {
            let p = PathBuf::from(t);
            anyhow::ensure!(p.is_file(), "--tarball {t}: no such file");
            return Ok(p);
        }
        let file_name = t.rsplit('/').next().unwrap_or("spark.tgz").to_string();
        let a = Artifact {
            file_name,
            url: t.clone(),
            checksum_url: format!("{t}.sha512"),
        };
        return downloader.fetch(ui, &a).await;
    }
    let candidates = opts.artifacts()?;
    // Any source's verified copy will do (offline, the CDN's may be missing but the archive's
    // there); each is cached under its own URL.
    if let Some(p) = candidates.iter().find_map(|a| downloader.cached(a)) {
        ui.detail(format!("using cached {}", p.display()));
        return Ok(p);
    }
    let mut last = None;
    for a in &candidates {
        match downloader.fetch(ui, a).await {
            Ok(p) => return Ok(p),
            // Not on this site (e.g. an old release gone from the CDN): try the next.
            Err(e) if is_not_found(&e) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    let file = opts.file_name()?;
    Err(Hinted::new(
        format!("{file} was not found at {}", candidates.iter().map(|a| a.url.as_str()).collect::<Vec<_>>().join(" nor ")),
        "check --spark-version (and --scala); a --mirror must be laid out like Apache's: <mirror>/spark-<version>/<file> with <file>.sha512 beside it",
    )
    .caused_by(format!("{:#}", last.expect("at least one candidate")))
    .into())
}

fn is_not_found(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<reqwest::Error>().and_then(|r| r.status())
            == Some(reqwest::StatusCode::NOT_FOUND)
    })
}

/// What goes from the distribution into the image.
fn keep(path: &Path) -> bool {
    let first = path
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_default();
    matches!(
        first.as_str(),
        "bin"
            | "sbin"
            | "jars"
            | "python"
            | "examples"
            | "data"
            | "licenses"
            | "RELEASE"
            | "LICENSE"
            | "NOTICE"
    )
}

/// Builds the images; returns their tags (base first).
pub async fn build(rt: &Runtime, ui: &Ui, opts: &SparkBuild) -> Result<Vec<String>> {
    let downloader = Downloader::new(Downloader::default_cache_dir()?, opts.offline)?;
    let step = ui.step(format!("Getting Spark {}", opts.version));
    let tarball = match distribution(ui, opts, &downloader).await {
        Ok(t) => t,
        Err(e) => {
            step.fail();
            return Err(e);
        }
    };
    step.done_with(tarball.display().to_string());

    let (base_tag, py_tag) = opts.tags();
    let build_args = HashMap::from([("BASE_IMAGE".to_string(), opts.base_image())]);
    let step = ui.step(format!("Building {base_tag}"));
    let files: [(&str, &str, u32); 3] = [
        ("Dockerfile", DOCKERFILE, 0o644),
        ("entrypoint.sh", ENTRYPOINT, 0o755),
        ("decom.sh", DECOM, 0o755),
    ];
    let tarball_for_context = tarball.clone();
    let size = std::fs::metadata(&tarball).map(|m| m.len()).ok();
    let bar = ui.bytes("unpacking into the build context", size);
    let counter = bar.clone();
    let (context, filled) = context_stream(move |b| {
        for (name, text, mode) in files {
            append_file(b, name, text, mode)?;
        }
        archive::repack_tgz(
            &tarball_for_context,
            "spark",
            keep,
            &["bin/spark-submit", "jars/"],
            b,
            |read| counter.set_position(read),
        )?;
        Ok(())
    });
    let built = rt
        .build_image(context, "Dockerfile", &build_args, |line| {
            step.progress(line)
        })
        .await;
    bar.finish();
    let filled = filled.await.context("the build context writer panicked")?;
    let id = match build_outcome(built, filled) {
        Ok(id) => id,
        Err((e, refused)) => {
            step.fail();
            // Only an archive that minik refused is dropped from the cache, so that the next
            // run downloads it afresh; an engine failure says nothing about the file.
            if refused && tarball.starts_with(downloader.cache_dir()) {
                let _ = std::fs::remove_file(&tarball);
            }
            return Err(e.context(format!("cannot build {base_tag}")));
        }
    };
    // Tag only after the whole context went through: a refused or truncated archive must
    // leave no tagged image behind.
    rt.tag_image(&id, &base_tag).await?;
    step.done();
    let mut tags = vec![base_tag.clone()];

    if opts.python {
        let step = ui.step(format!("Building {py_tag}"));
        let args = HashMap::from([("BASE_IMAGE".to_string(), base_tag.clone())]);
        let (context, _) =
            context_stream(|b| append_file(b, "Dockerfile", PYTHON_DOCKERFILE, 0o644));
        match rt
            .build_image(context, "Dockerfile", &args, |line| step.progress(line))
            .await
        {
            Ok(id) => {
                rt.tag_image(&id, &py_tag).await?;
                step.done();
                tags.push(py_tag);
            }
            Err(e) => {
                step.fail();
                return Err(e.context(format!("cannot build {py_tag}")));
            }
        }
    }
    Ok(tags)
}

/// The build's result from the engine's answer and the context writer's: the error to
/// report, and whether the archive was refused (a truncated, corrupt or unsafe tarball).
/// When the engine stops reading the context (disk full, daemon restart, timeout), the
/// writer fails with a broken pipe: the engine's error is the one that explains.
fn build_outcome(
    built: Result<String>,
    filled: Result<()>,
) -> std::result::Result<String, (anyhow::Error, bool)> {
    match (built, filled) {
        (Ok(id), Ok(())) => Ok(id),
        // The archive's checks report with a hint (see archive::repack_tgz); writing into a
        // closed context does not.
        (_, Err(e)) if e.chain().any(|c| c.is::<Hinted>()) => Err((e, true)),
        (Err(e), _) => Err((e, false)),
        (Ok(_), Err(e)) => Err((e, false)),
    }
}

fn append_file<W: std::io::Write>(
    b: &mut tar::Builder<W>,
    name: &str,
    text: &str,
    mode: u32,
) -> Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(text.len() as u64);
    h.set_mode(mode);
    h.set_cksum();
    b.append_data(&mut h, name, text.as_bytes())
        .context("cannot write the build context")?;
    Ok(())
}

/// A build context produced by `fill` on a blocking thread and streamed to the engine as it
/// is written: nothing of it touches the disk. An error in `fill` ends the stream with an
/// error, which fails the build; the handle returns that error itself.
#[allow(clippy::type_complexity)]
fn context_stream(
    fill: impl FnOnce(&mut tar::Builder<ChannelWriter>) -> Result<()> + Send + 'static,
) -> (
    impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static,
    tokio::task::JoinHandle<Result<()>>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(16);
    let handle = tokio::task::spawn_blocking(move || {
        let mut builder = tar::Builder::new(ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        });
        let result = fill(&mut builder).and_then(|()| {
            let mut w = builder
                .into_inner()
                .context("cannot finish the build context")?;
            w.flush_chunk()?;
            Ok(())
        });
        if let Err(e) = &result {
            let _ = tx.blocking_send(Err(std::io::Error::other(format!("{e:#}"))));
        }
        result
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    (stream, handle)
}

const CHUNK: usize = 256 * 1024;

struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<std::io::Result<bytes::Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn flush_chunk(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = bytes::Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the engine stopped reading the build context",
            )
        })
    }
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush_chunk()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(version: &str, scala: &str) -> SparkBuild {
        SparkBuild {
            version: version.into(),
            scala: scala.into(),
            java: 17,
            python: false,
            tarball: None,
            mirror: None,
            base_image: None,
            tag: None,
            offline: false,
        }
    }

    #[test]
    fn file_names_follow_apache() {
        assert_eq!(
            opts("3.5.1", "2.12").file_name().unwrap(),
            "spark-3.5.1-bin-hadoop3.tgz"
        );
        assert_eq!(
            opts("3.5.1", "2.13").file_name().unwrap(),
            "spark-3.5.1-bin-hadoop3-scala2.13.tgz"
        );
        assert_eq!(
            opts("4.0.1", "2.13").file_name().unwrap(),
            "spark-4.0.1-bin-hadoop3.tgz"
        );
        assert!(
            crate::error::render(&opts("4.0.1", "2.12").file_name().unwrap_err())
                .contains("Scala 2.13 only")
        );
        assert!(opts("2.4.8", "2.12").file_name().is_err());
        assert!(
            crate::error::render(&opts("3.5", "2.12").file_name().unwrap_err())
                .contains("invalid Spark version")
        );
    }

    #[test]
    fn urls_cdn_then_archive_or_mirror() {
        let a = opts("3.5.1", "2.12").artifacts().unwrap();
        assert_eq!(
            a[0].url,
            "https://dlcdn.apache.org/spark/spark-3.5.1/spark-3.5.1-bin-hadoop3.tgz"
        );
        assert_eq!(
            a[0].checksum_url,
            "https://downloads.apache.org/spark/spark-3.5.1/spark-3.5.1-bin-hadoop3.tgz.sha512"
        );
        assert_eq!(
            a[1].url,
            "https://archive.apache.org/dist/spark/spark-3.5.1/spark-3.5.1-bin-hadoop3.tgz"
        );
        let mut m = opts("3.5.9", "2.12");
        m.mirror = Some("http://127.0.0.1:8000/".into());
        let a = m.artifacts().unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(
            a[0].url,
            "http://127.0.0.1:8000/spark-3.5.9/spark-3.5.9-bin-hadoop3.tgz"
        );
        assert_eq!(
            a[0].checksum_url,
            "http://127.0.0.1:8000/spark-3.5.9/spark-3.5.9-bin-hadoop3.tgz.sha512"
        );
    }

    #[test]
    fn tags_are_explicit() {
        let o = opts("3.5.9", "2.12");
        assert_eq!(
            o.tags(),
            (
                "minik/spark:3.5.9-java17".into(),
                "minik/spark-py:3.5.9-java17".into()
            )
        );
        let mut t = o.clone();
        t.tag = Some("registry.local:5000/team/spark:v1".into());
        assert_eq!(t.tags().1, "registry.local:5000/team/spark-py:v1");
        assert_eq!(o.base_image(), "eclipse-temurin:17-jre");
    }

    #[test]
    fn only_runtime_parts_of_the_distribution_go_in() {
        assert!(keep(Path::new("jars/spark-core.jar")));
        assert!(keep(Path::new("RELEASE")));
        assert!(!keep(Path::new("R/lib")));
        assert!(!keep(Path::new("yarn/x.jar")));
    }

    /// A gzip'd distribution holding one kept file of `size` zero bytes.
    fn distribution_tgz(dir: &Path, size: u64) -> PathBuf {
        use std::io::Read;
        let path = dir.join("spark.tgz");
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&path).unwrap(),
            flate2::Compression::fast(),
        );
        let mut b = tar::Builder::new(gz);
        let mut h = tar::Header::new_gnu();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(
            &mut h,
            "spark-x/jars/big.jar",
            std::io::repeat(0).take(size),
        )
        .unwrap();
        b.into_inner().unwrap().finish().unwrap();
        path
    }

    /// Streams `tarball` into a context as `build` does; returns the writer's result after
    /// the engine read `chunks` chunks (all when None) and went away.
    async fn fill_with_engine_reading(tarball: PathBuf, chunks: Option<usize>) -> Result<()> {
        use futures_util::StreamExt;
        let (context, filled) = context_stream(move |b| {
            archive::repack_tgz(&tarball, "spark", keep, &["jars/"], b, |_| {})?;
            Ok(())
        });
        let mut context = Box::pin(context);
        let mut read = 0;
        while chunks.is_none_or(|n| read < n) {
            if context.next().await.is_none() {
                break;
            }
            read += 1;
        }
        drop(context);
        filled.await.unwrap()
    }

    #[tokio::test]
    async fn an_engine_failure_is_reported_and_keeps_the_archive() {
        let dir = tempfile::tempdir().unwrap();
        // Larger than the context channel holds, so that the writer is still at work.
        let tarball = distribution_tgz(dir.path(), 8 << 20);
        let filled = fill_with_engine_reading(tarball, Some(1)).await;
        assert!(filled.is_err(), "the writer sees the engine go");
        let engine = Err(anyhow::anyhow!(
            "write /var/lib/docker/tmp/context: no space left on device"
        ));
        let (e, refused) = build_outcome(engine, filled).unwrap_err();
        assert!(!refused, "the archive is fine: {e:#}");
        assert!(
            format!("{e:#}").contains("no space left on device"),
            "{e:#}"
        );
    }

    #[tokio::test]
    async fn a_refused_archive_is_reported_and_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let tarball = distribution_tgz(dir.path(), 1 << 20);
        let bytes = std::fs::read(&tarball).unwrap();
        std::fs::write(&tarball, &bytes[..bytes.len() / 2]).unwrap();
        let filled = fill_with_engine_reading(tarball, None).await;
        let engine = Err(anyhow::anyhow!("error reading the build context"));
        let (e, refused) = build_outcome(engine, filled).unwrap_err();
        assert!(refused);
        assert!(
            format!("{e:#}").contains("is truncated or corrupt"),
            "{e:#}"
        );

        let ok = distribution_tgz(dir.path(), 1000);
        let filled = fill_with_engine_reading(ok, None).await;
        assert_eq!(
            build_outcome(Ok("sha256:1".into()), filled).unwrap(),
            "sha256:1"
        );
    }

    #[test]
    fn embedded_files_are_ours() {
        assert!(DOCKERFILE.contains("ARG BASE_IMAGE"));
        assert!(ENTRYPOINT.contains("KubernetesExecutorBackend"));
        assert!(DECOM.contains("SIGPWR"));
        assert!(PYTHON_DOCKERFILE.contains("PYSPARK_PYTHON"));
    }
}
