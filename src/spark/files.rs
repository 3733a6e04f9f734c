//! Files from the laptop for a Spark application (the application itself, `--jars`,
//! `--py-files`, `--files`): on a minik cluster each is copied once into the node, under a
//! directory named by its content hash, and the driver pod mounts that directory; the
//! driver then serves them to its executors the way Spark does in client mode. A re-run of
//! the same file costs a hash, not a copy.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::error::Hinted;
use crate::runtime::Runtime;

/// Where staged files live in the node (on its /var volume, so they survive restarts) and in
/// the driver pod.
pub const NODE_FILES: &str = "/var/lib/minik/spark-files";

/// Where a path argument points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A URI Spark reads itself: local:// in the image, https://, s3a://, …
    Uri(String),
    /// A file on this machine.
    Host(PathBuf),
}

/// Finds out where `arg` (named `what` in errors, e.g. "--jars") points; a host path must
/// be a readable file.
pub fn locate(what: &str, arg: &str) -> Result<Source> {
    if arg.contains("://") {
        return Ok(Source::Uri(arg.to_string()));
    }
    let path = PathBuf::from(arg);
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => Ok(Source::Host(path)),
        Ok(_) => Err(Hinted::new(
            format!("{what} {arg} is not a file"),
            "pass a file on this machine, local:///path inside the image, or a URL",
        )
        .into()),
        Err(e) => Err(Hinted::new(
            format!("{what} {arg} is not a file on this machine"),
            "pass a file on this machine, local:///path inside the image, or a URL",
        )
        .caused_by(e)
        .into()),
    }
}

/// The Main-Class of a JAR's manifest, if it names one.
pub fn main_class(jar: &Path) -> Result<Option<String>> {
    let file =
        std::fs::File::open(jar).with_context(|| format!("cannot open {}", jar.display()))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| {
        Hinted::new(
            format!("{} is not a JAR", jar.display()),
            "pass a JAR built by your build tool (a zip file)",
        )
        .caused_by(e)
    })?;
    let mut manifest = String::new();
    match zip.by_name("META-INF/MANIFEST.MF") {
        Ok(mut f) => {
            f.read_to_string(&mut manifest)
                .with_context(|| format!("cannot read the manifest of {}", jar.display()))?;
        }
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => {
            return Err(anyhow::Error::new(e)
                .context(format!("cannot read the manifest of {}", jar.display())))
        }
    }
    Ok(manifest.lines().find_map(|l| {
        l.strip_prefix("Main-Class:")
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
    }))
}

/// A Java properties file as spark-submit reads `--properties-file`: `key=value`,
/// `key: value` or `key value`; `#` and `!` start comments.
pub fn read_properties(path: &Path) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read properties file {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with('!') {
            continue;
        }
        let split = l
            .find(|c: char| c == '=' || c == ':' || c.is_whitespace())
            .with_context(|| {
                format!("{} line {}: {l:?} is not KEY=VALUE", path.display(), i + 1)
            })?;
        let (k, v) = l.split_at(split);
        let v = v[1..].trim_start_matches(['=', ':']).trim();
        out.push((k.trim().to_string(), v.to_string()));
    }
    Ok(out)
}

/// Copies host files into a minik node.
pub struct Stager<'a> {
    pub rt: &'a Runtime,
    pub container: String,
}

impl Stager<'_> {
    /// The file's path in the node (and in the driver); true when it was copied now, false
    /// when the same content was already there.
    pub async fn stage(&self, path: &Path) -> Result<(String, bool)> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| !n.contains(['\'', '\n']))
            .with_context(|| format!("{} has no usable file name", path.display()))?
            .to_string();
        let hash = hash_file(path)?;
        let dir = format!("{NODE_FILES}/{hash}");
        let target = format!("{dir}/{name}");
        let there = self
            .rt
            .exec(&self.container, &["test", "-f", &target], None)
            .await?;
        if there.exit_code == 0 {
            return Ok((target, false));
        }
        // Written under a temporary name and renamed: an interrupted copy never looks done.
        let script =
            format!("mkdir -p '{dir}' && cat > '{dir}/.partial' && mv '{dir}/.partial' '{target}'");
        let file = tokio::fs::File::open(path)
            .await
            .with_context(|| format!("cannot open {}", path.display()))?;
        self.rt
            .exec_ok_with_input(
                &self.container,
                &["sh", "-c", &script],
                Some(Box::new(file)),
            )
            .await
            .with_context(|| format!("cannot copy {} into the node", path.display()))?;
        Ok((target, true))
    }
}

/// The first 16 hex digits of the file's SHA-256, read in chunks.
fn hash_file(path: &Path) -> Result<String> {
    let mut f =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(&h.finalize()[..8]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_uris_or_host_files() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.jar");
        std::fs::write(&f, "x").unwrap();
        assert_eq!(
            locate("--jars", "local:///opt/x.jar").unwrap(),
            Source::Uri("local:///opt/x.jar".into())
        );
        assert_eq!(
            locate("--jars", f.to_str().unwrap()).unwrap(),
            Source::Host(f.clone())
        );
        let e = crate::error::render(&locate("--files", "/no/such.csv").unwrap_err());
        assert!(
            e.contains("--files /no/such.csv is not a file on this machine")
                && e.contains("hint: "),
            "{e}"
        );
        let e = crate::error::render(&locate("--files", dir.path().to_str().unwrap()).unwrap_err());
        assert!(e.contains("is not a file"), "{e}");
    }

    #[test]
    fn main_class_comes_from_the_manifest() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let write_jar = |name: &str, manifest: Option<&str>| {
            let p = dir.path().join(name);
            let mut z = zip::ZipWriter::new(std::fs::File::create(&p).unwrap());
            let opts = zip::write::SimpleFileOptions::default();
            if let Some(m) = manifest {
                z.start_file("META-INF/MANIFEST.MF", opts).unwrap();
                z.write_all(m.as_bytes()).unwrap();
            }
            z.start_file("a/B.class", opts).unwrap();
            z.write_all(b"\xca\xfe").unwrap();
            z.finish().unwrap();
            p
        };
        let with = write_jar(
            "with.jar",
            Some("Manifest-Version: 1.0\r\nMain-Class: org.x.Pi\r\n"),
        );
        assert_eq!(main_class(&with).unwrap().as_deref(), Some("org.x.Pi"));
        let without = write_jar("without.jar", Some("Manifest-Version: 1.0\r\n"));
        assert_eq!(main_class(&without).unwrap(), None);
        let bare = write_jar("bare.jar", None);
        assert_eq!(main_class(&bare).unwrap(), None);
        let not = dir.path().join("not.jar");
        std::fs::write(&not, "text").unwrap();
        assert!(crate::error::render(&main_class(&not).unwrap_err()).contains("is not a JAR"));
    }

    #[test]
    fn properties_files_read_like_spark_submit() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("spark.conf");
        std::fs::write(
            &p,
            "# comment\n! also\nspark.a=1\nspark.b: two words\nspark.c   3\n\n",
        )
        .unwrap();
        assert_eq!(
            read_properties(&p).unwrap(),
            vec![
                ("spark.a".to_string(), "1".to_string()),
                ("spark.b".to_string(), "two words".to_string()),
                ("spark.c".to_string(), "3".to_string()),
            ]
        );
        std::fs::write(&p, "lonely\n").unwrap();
        assert!(read_properties(&p).is_err());
    }
}
