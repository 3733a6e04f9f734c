//! Streaming a distribution tarball (`.tgz`) into a Docker build context: every entry is
//! checked (no absolute paths, no `..`, no link leaving the tree, no device files) and moved
//! under a new top-level directory, without unpacking anything to disk.

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};

use crate::error::Hinted;

/// Why an archive is refused.
fn unsafe_entry(archive: &Path, entry: &Path, why: &str) -> anyhow::Error {
    Hinted::new(
        format!(
            "refusing {}: entry {} {why}",
            archive.display(),
            entry.display()
        ),
        "the archive is not a Spark distribution or was tampered with; check where it came from",
    )
    .into()
}

/// Checks a relative path: no root, no prefix, no `..`.
fn is_safe_relative(p: &Path) -> bool {
    !p.as_os_str().is_empty()
        && p.components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// Normalizes `base/link` lexically; None when it climbs above the root.
fn resolve_within(dir: &Path, target: &Path) -> Option<PathBuf> {
    if target.is_absolute() {
        return None;
    }
    let mut out: Vec<&std::ffi::OsStr> = Vec::new();
    for c in dir.components().chain(target.components()) {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop()?;
            }
            _ => return None,
        }
    }
    Some(out.iter().collect())
}

/// Copies the entries of the gzip'd tar `archive` into `out` under `new_root/`, dropping the
/// archive's single top-level directory. `keep` decides, by path below that directory,
/// which entries go in. `progress` gets the compressed bytes read so far.
pub fn repack_tgz<W: Write>(
    archive: &Path,
    new_root: &str,
    keep: impl Fn(&Path) -> bool,
    out: &mut tar::Builder<W>,
    mut progress: impl FnMut(u64),
) -> Result<u64> {
    let file = std::fs::File::open(archive)
        .with_context(|| format!("cannot open {}", archive.display()))?;
    let counted = CountingReader {
        inner: file,
        count: 0,
        report: &mut progress,
    };
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(counted));
    let mut top: Option<PathBuf> = None;
    let mut files = 0u64;
    let corrupt = |e: std::io::Error| {
        anyhow::Error::new(
            Hinted::new(
                format!("{} is truncated or corrupt", archive.display()),
                "delete it and download it again (minik image build re-downloads what is missing)",
            )
            .caused_by(e),
        )
    };
    for entry in tar.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let path = entry.path().map_err(corrupt)?.into_owned();
        if !is_safe_relative(&path) {
            return Err(unsafe_entry(
                archive,
                &path,
                "has an absolute path or a `..` component",
            ));
        }
        let mut comps = path.components();
        let first = PathBuf::from(comps.next().expect("non-empty").as_os_str());
        let rest: PathBuf = comps.collect();
        match &top {
            None => top = Some(first.clone()),
            Some(t) if *t != first => {
                return Err(unsafe_entry(
                    archive,
                    &path,
                    "is outside the archive's single top-level directory",
                ))
            }
            _ => {}
        }
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            let target = entry
                .link_name()
                .map_err(corrupt)?
                .map(|t| t.into_owned())
                .unwrap_or_default();
            // Symlinks resolve from the link's directory; hard links name a path in the archive.
            let inside = if kind.is_symlink() {
                resolve_within(rest.parent().unwrap_or(Path::new("")), &target)
            } else {
                resolve_within(Path::new(""), &target).and_then(|p| {
                    let mut c = p.components();
                    (c.next().map(|f| f.as_os_str()) == Some(first.as_os_str()))
                        .then(|| c.collect::<PathBuf>())
                })
            };
            if inside.is_none() {
                return Err(unsafe_entry(
                    archive,
                    &path,
                    &format!("links to {} outside the tree", target.display()),
                ));
            }
        } else if !(kind.is_file()
            || kind.is_dir()
            || kind == tar::EntryType::Continuous
            || kind.is_pax_global_extensions()
            || kind.is_pax_local_extensions()
            || kind.is_gnu_longname()
            || kind.is_gnu_longlink())
        {
            return Err(unsafe_entry(
                archive,
                &path,
                "is a device, fifo or other special file",
            ));
        }
        if rest.as_os_str().is_empty() || !keep(&rest) {
            // Skipped entries must still be read through: the stream is sequential.
            std::io::copy(&mut entry, &mut std::io::sink()).map_err(corrupt)?;
            continue;
        }
        let new_path = Path::new(new_root).join(&rest);
        let mut header = entry.header().clone();
        if kind.is_hard_link() {
            // Hard link targets are archive paths: move them under the new root too.
            let target = entry
                .link_name()
                .map_err(corrupt)?
                .map(|t| t.into_owned())
                .unwrap_or_default();
            let stripped: PathBuf = target.components().skip(1).collect();
            out.append_link(&mut header, &new_path, Path::new(new_root).join(stripped))
                .context("cannot write the build context")?;
        } else if kind.is_symlink() {
            let target = entry
                .link_name()
                .map_err(corrupt)?
                .map(|t| t.into_owned())
                .unwrap_or_default();
            out.append_link(&mut header, &new_path, target)
                .context("cannot write the build context")?;
        } else {
            let size = header.size().map_err(corrupt)?;
            out.append_data(
                &mut header,
                &new_path,
                Exact {
                    inner: &mut entry,
                    remaining: size,
                },
            )
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::UnexpectedEof
                    || e.kind() == std::io::ErrorKind::InvalidData
                    || e.kind() == std::io::ErrorKind::InvalidInput
                {
                    corrupt(e)
                } else {
                    anyhow::Error::new(e).context("cannot write the build context")
                }
            })?;
            files += 1;
        }
    }
    if top.is_none() {
        return Err(corrupt(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the archive has no entries",
        )));
    }
    Ok(files)
}

/// Passes an entry's bytes through, turning a short entry into an error: tar::Builder
/// would otherwise pad it silently and the build context would lie.
struct Exact<'a, R: Read> {
    inner: &'a mut R,
    remaining: u64,
}

impl<R: Read> Read for Exact<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let want = buf.len().min(self.remaining as usize);
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "entry shorter than its header says",
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

struct CountingReader<'a, R, F: FnMut(u64)> {
    inner: R,
    count: u64,
    report: &'a mut F,
}

impl<R: Read, F: FnMut(u64)> Read for CountingReader<'_, R, F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        (self.report)(self.count);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A .tgz from (path, kind, data/link) triples, written with raw headers so that unsafe
    /// entries can be made.
    fn tgz(dir: &Path, entries: &[(&str, char, &str)]) -> PathBuf {
        let path = dir.join("t.tgz");
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&path).unwrap(),
            flate2::Compression::fast(),
        );
        let mut b = tar::Builder::new(gz);
        for (name, kind, data) in entries {
            let mut h = tar::Header::new_gnu();
            // set_path refuses `..`: write the name bytes directly, as an attacker would.
            let raw = &mut h.as_old_mut().name;
            raw[..name.len()].copy_from_slice(name.as_bytes());
            h.set_mode(0o644);
            match kind {
                'f' => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(data.len() as u64);
                    h.set_cksum();
                    b.append(&h, data.as_bytes()).unwrap();
                }
                'd' => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    h.set_cksum();
                    b.append(&h, &[][..]).unwrap();
                }
                'l' | 'h' => {
                    h.set_entry_type(if *kind == 'l' {
                        tar::EntryType::Symlink
                    } else {
                        tar::EntryType::Link
                    });
                    h.set_size(0);
                    h.set_link_name(data).unwrap();
                    h.set_cksum();
                    b.append(&h, &[][..]).unwrap();
                }
                'c' => {
                    h.set_entry_type(tar::EntryType::Char);
                    h.set_size(0);
                    h.set_cksum();
                    b.append(&h, &[][..]).unwrap();
                }
                _ => unreachable!(),
            }
        }
        b.into_inner().unwrap().finish().unwrap();
        path
    }

    fn repack(archive: &Path) -> Result<Vec<String>> {
        let mut b = tar::Builder::new(Vec::new());
        repack_tgz(archive, "spark", |p| !p.starts_with("R"), &mut b, |_| {})?;
        let bytes = b.into_inner().unwrap();
        let mut a = tar::Archive::new(&bytes[..]);
        Ok(a.entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect())
    }

    #[test]
    fn repacks_under_the_new_root_and_filters() {
        let d = tempfile::tempdir().unwrap();
        let a = tgz(
            d.path(),
            &[
                ("spark-3.5.9-bin-hadoop3/", 'd', ""),
                (
                    "spark-3.5.9-bin-hadoop3/bin/spark-submit",
                    'f',
                    "#!/bin/sh\n",
                ),
                ("spark-3.5.9-bin-hadoop3/R/lib/x", 'f', "r"),
                (
                    "spark-3.5.9-bin-hadoop3/jars/link.jar",
                    'l',
                    "../jars/real.jar",
                ),
                (
                    "spark-3.5.9-bin-hadoop3/jars/hard.jar",
                    'h',
                    "spark-3.5.9-bin-hadoop3/bin/spark-submit",
                ),
            ],
        );
        assert_eq!(
            repack(&a).unwrap(),
            [
                "spark/bin/spark-submit",
                "spark/jars/link.jar",
                "spark/jars/hard.jar"
            ]
        );
    }

    #[test]
    fn refuses_traversal_absolute_and_escaping_links() {
        let d = tempfile::tempdir().unwrap();
        for (entries, why) in [
            (vec![("spark/../../etc/passwd", 'f', "x")], "`..` component"),
            (vec![("/etc/passwd", 'f', "x")], "absolute path"),
            (
                vec![
                    ("spark/", 'd', ""),
                    ("spark/jars/evil", 'l', "../../../etc/shadow"),
                ],
                "outside the tree",
            ),
            (
                vec![("spark/", 'd', ""), ("spark/jars/evil", 'l', "/etc/shadow")],
                "outside the tree",
            ),
            (
                vec![("spark/", 'd', ""), ("spark/jars/evil", 'h', "etc/shadow")],
                "outside the tree",
            ),
            (
                vec![("spark/", 'd', ""), ("other/file", 'f', "x")],
                "single top-level directory",
            ),
            (
                vec![("spark/", 'd', ""), ("spark/dev/tty", 'c', "")],
                "special file",
            ),
        ] {
            let a = tgz(d.path(), &entries);
            let e = repack(&a).unwrap_err();
            let text = crate::error::render(&e);
            assert!(text.contains(why), "{entries:?}: {text}");
            assert!(text.contains("hint: "), "{text}");
        }
    }

    #[test]
    fn truncated_archives_are_reported_as_such() {
        let d = tempfile::tempdir().unwrap();
        let big: String = (0..200_000)
            .map(|i| char::from(b'a' + (i * 7 % 26) as u8))
            .collect();
        let a = tgz(
            d.path(),
            &[("spark/", 'd', ""), ("spark/jars/big.jar", 'f', &big)],
        );
        let bytes = std::fs::read(&a).unwrap();
        std::fs::write(&a, &bytes[..bytes.len() / 2]).unwrap();
        let text = crate::error::render(&repack(&a).unwrap_err());
        assert!(text.contains("is truncated or corrupt"), "{text}");
    }

    #[test]
    fn link_resolution_stays_lexical() {
        assert_eq!(
            resolve_within(Path::new("jars"), Path::new("../bin/x")),
            Some(PathBuf::from("bin/x"))
        );
        assert_eq!(
            resolve_within(Path::new("jars"), Path::new("../../x")),
            None
        );
        assert_eq!(resolve_within(Path::new(""), Path::new("/abs")), None);
    }
}
