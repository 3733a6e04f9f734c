//! Streaming a distribution tarball (`.tgz`) into a Docker build context, without unpacking
//! anything to disk. The archive may be hostile (its checksum comes from the same mirror), so
//! every entry is checked and written under a fresh header: whatever reads the context (Docker,
//! in Go) must see exactly the entries checked here.
//!
//! (Over 500 lines: most of it is the hostile-archive tests; the code is about 350.)

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};

use crate::error::Hinted;

const TAMPERED: &str =
    "the archive is not a Spark distribution or was tampered with; check where it came from";

/// Why an archive is refused.
fn unsafe_entry(archive: &Path, entry: &Path, why: &str) -> anyhow::Error {
    Hinted::new(
        format!(
            "refusing {}: entry {} {why}",
            archive.display(),
            entry.display()
        ),
        TAMPERED,
    )
    .into()
}

/// The path without its `.` components; None when it is absolute or has a `..`.
fn normalize(p: &Path) -> Option<PathBuf> {
    p.components()
        .filter(|c| *c != Component::CurDir)
        .map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect()
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

/// Whether a symlink target climbs only before it descends (`../../a/b`). A `..` after a name
/// climbs out of wherever that name leads, and the name may be a symlink (declared before or
/// after this one): lexical checks would no longer say where the link ends.
fn climbs_first(target: &Path) -> bool {
    let mut named = false;
    target.components().all(|c| match c {
        Component::Normal(_) => {
            named = true;
            true
        }
        Component::ParentDir => !named,
        _ => true,
    })
}

/// The symlink among `links` that `path` lies below, if any.
fn below_symlink<'a>(links: &HashSet<PathBuf>, path: &'a Path) -> Option<&'a Path> {
    path.ancestors().skip(1).find(|a| links.contains(*a))
}

/// Copies the entries of the gzip'd tar `archive` into `out` under `new_root/`, dropping the
/// archive's single top-level directory. `keep` decides, by path below that directory, which
/// entries go in; `required` names what must be in the result (a trailing `/` for a
/// directory). `progress` gets the compressed bytes read so far.
pub fn repack_tgz<W: Write>(
    archive: &Path,
    new_root: &str,
    keep: impl Fn(&Path) -> bool,
    required: &[&str],
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
    // Paths below the top directory, as they stand in the context so far. Symlinks are
    // never forgotten: extractors differ on whether a later entry replaces one or goes
    // through it, so nothing may go below a path that was once a symlink.
    let mut symlinks = HashSet::new();
    let mut files = HashSet::new();
    let mut dirs = HashSet::new();
    let mut written = 0u64;
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
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            // Archive-wide defaults (git archive's commit id): tar does not apply them and
            // the context does not carry them.
            continue;
        }
        let raw = entry.path().map_err(corrupt)?.into_owned();
        let refuse = |why: &str| unsafe_entry(archive, &raw, why);
        if kind.is_pax_local_extensions() || kind.is_gnu_longname() || kind.is_gnu_longlink() {
            // tar applies these only from ustar or GNU headers; Go and Python apply them from
            // any header, to the next entry: the archive reads differently to them.
            return Err(refuse("is an extension header in an old-style tar header"));
        }
        let Some(path) = normalize(&raw) else {
            return Err(refuse("has an absolute path or a `..` component"));
        };
        let regular = kind.is_file() || kind == tar::EntryType::Continuous;
        // Go and Python read no data after a directory or link header: they would parse
        // those bytes as more entries, which nothing here has checked.
        if !regular && entry.size() != 0 {
            return Err(refuse(&format!(
                "is not a regular file yet carries {} bytes of data",
                entry.size()
            )));
        }
        let mut comps = path.components();
        let Some(first) = comps.next() else {
            if kind.is_dir() {
                continue; // `./`
            }
            return Err(refuse("has an empty path"));
        };
        let first = PathBuf::from(first.as_os_str());
        let rest: PathBuf = comps.collect();
        match &top {
            None => top = Some(first.clone()),
            Some(t) if *t != first => {
                return Err(refuse(
                    "is outside the archive's single top-level directory",
                ))
            }
            _ => {}
        }
        if rest.as_os_str().is_empty() {
            continue;
        }
        if let Some(link) = below_symlink(&symlinks, &rest) {
            return Err(refuse(&format!(
                "is below the symlink {}",
                first.join(link).display()
            )));
        }
        let target = entry
            .link_name()
            .map_err(corrupt)?
            .map(|t| t.into_owned())
            .unwrap_or_default();
        let outside = || refuse(&format!("links to {} outside the tree", target.display()));
        // Symlinks resolve from the link's directory; hard links name a path in the archive.
        let link_target = if kind.is_symlink() {
            if !climbs_first(&target) {
                return Err(refuse(&format!(
                    "links to {}, with `..` after a name",
                    target.display()
                )));
            }
            resolve_within(rest.parent().unwrap_or(Path::new("")), &target).ok_or_else(outside)?;
            symlinks.insert(rest.clone());
            normalize(&target).unwrap_or_default()
        } else if kind.is_hard_link() {
            let inside = resolve_within(Path::new(""), &target).and_then(|p| {
                let mut c = p.components();
                (c.next().map(|f| f.as_os_str()) == Some(first.as_os_str()))
                    .then(|| c.collect::<PathBuf>())
            });
            inside.ok_or_else(outside)?
        } else if !(regular || kind.is_dir()) {
            return Err(refuse("is a device, fifo or other special file"));
        } else {
            PathBuf::new()
        };
        if !keep(&rest) {
            continue;
        }

        let new_path = Path::new(new_root).join(&rest);
        let mut header = tar::Header::new_gnu();
        header.set_mtime(entry.header().mtime().unwrap_or(0));
        header.set_uid(0);
        header.set_gid(0);
        header.set_size(0);
        files.remove(&rest);
        dirs.remove(&rest);
        if kind.is_dir() {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o755);
            out.append_data(&mut header, &new_path, std::io::empty())
                .context("cannot write the build context")?;
            dirs.insert(rest.clone());
        } else if kind.is_symlink() {
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_mode(0o777);
            let text = if link_target.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                link_target
            };
            out.append_link(&mut header, &new_path, text)
                .context("cannot write the build context")?;
        } else if kind.is_hard_link() {
            // A hard link to a symlink is that symlink's text read from another directory,
            // and one to a later entry links nothing: only files written before are allowed.
            if !files.contains(&link_target) || below_symlink(&symlinks, &link_target).is_some() {
                return Err(refuse(&format!(
                    "is a hard link to {}, which is not a file written before it",
                    target.display()
                )));
            }
            header.set_entry_type(tar::EntryType::Link);
            header.set_mode(0o644);
            out.append_link(
                &mut header,
                &new_path,
                Path::new(new_root).join(link_target),
            )
            .context("cannot write the build context")?;
            files.insert(rest.clone());
        } else {
            let executable = entry.header().mode().map_err(corrupt)? & 0o111 != 0;
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(if executable { 0o755 } else { 0o644 });
            let size = entry.size();
            header.set_size(size);
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
            files.insert(rest.clone());
            written += 1;
        }
        dirs.extend(
            rest.ancestors()
                .skip(1)
                .filter(|a| !a.as_os_str().is_empty())
                .map(Path::to_path_buf),
        );
    }
    if top.is_none() {
        return Err(corrupt(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the archive has no entries",
        )));
    }
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|r| match r.strip_suffix('/') {
            Some(dir) => !dirs.contains(Path::new(dir)),
            None => !files.contains(Path::new(r)),
        })
        .collect();
    if !missing.is_empty() {
        return Err(Hinted::new(
            format!(
                "refusing {}: the distribution lacks {}",
                archive.display(),
                missing.join(" and ")
            ),
            TAMPERED,
        )
        .into());
    }
    Ok(written)
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
    use tar::EntryType;

    /// One entry written as is: raw name bytes (so `..` and `./` get through), the given type
    /// and a size matching `data`. Callers tweak the header before it is written.
    fn raw(name: &str, kind: EntryType, data: &[u8]) -> (tar::Header, Vec<u8>) {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_mode(0o644);
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        (h, data.to_vec())
    }

    fn link(name: &str, kind: EntryType, target: &str) -> (tar::Header, Vec<u8>) {
        let (mut h, d) = raw(name, kind, b"");
        h.set_link_name(target).unwrap();
        (h, d)
    }

    /// A pax extension record, `<len> <key>=<value>\n`, the length counting itself.
    fn pax(key: &str, value: &str) -> Vec<u8> {
        let body = format!(" {key}={value}\n");
        let mut len = body.len() + 1;
        while format!("{len}{body}").len() != len {
            len += 1;
        }
        format!("{len}{body}").into_bytes()
    }

    fn write_tgz(dir: &Path, entries: Vec<(tar::Header, Vec<u8>)>) -> PathBuf {
        let path = dir.join("t.tgz");
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&path).unwrap(),
            flate2::Compression::fast(),
        );
        let mut b = tar::Builder::new(gz);
        for (mut h, data) in entries {
            h.set_cksum();
            b.append(&h, &data[..]).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap();
        path
    }

    /// A .tgz from (path, kind, data/link) triples, written with raw headers so that unsafe
    /// entries can be made.
    fn tgz(dir: &Path, entries: &[(&str, char, &str)]) -> PathBuf {
        let entries = entries
            .iter()
            .map(|(name, kind, data)| match kind {
                'f' => raw(name, EntryType::Regular, data.as_bytes()),
                'd' => raw(name, EntryType::Directory, b""),
                'l' => link(name, EntryType::Symlink, data),
                'h' => link(name, EntryType::Link, data),
                'c' => raw(name, EntryType::Char, b""),
                _ => unreachable!(),
            })
            .collect();
        write_tgz(dir, entries)
    }

    /// The smallest tree that passes as a Spark distribution, under `top`.
    fn minimal(top: &str) -> Vec<(tar::Header, Vec<u8>)> {
        vec![
            raw(&format!("{top}/"), EntryType::Directory, b""),
            raw(
                &format!("{top}/bin/spark-submit"),
                EntryType::Regular,
                b"#!/bin/sh\n",
            ),
            raw(&format!("{top}/jars/"), EntryType::Directory, b""),
        ]
    }

    fn repack_bytes(archive: &Path) -> Result<Vec<u8>> {
        let mut b = tar::Builder::new(Vec::new());
        repack_tgz(
            archive,
            "spark",
            |p| !p.starts_with("R"),
            &["bin/spark-submit", "jars/"],
            &mut b,
            |_| {},
        )?;
        Ok(b.into_inner().unwrap())
    }

    fn names(context: &[u8]) -> Vec<String> {
        tar::Archive::new(context)
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect()
    }

    fn repack(archive: &Path) -> Result<Vec<String>> {
        Ok(names(&repack_bytes(archive)?))
    }

    fn refusal(archive: &Path) -> String {
        let e = match repack_bytes(archive) {
            Ok(context) => panic!("accepted, giving {:?}", names(&context)),
            Err(e) => e,
        };
        let text = crate::error::render(&e);
        assert!(text.contains("hint: "), "{text}");
        text
    }

    /// The entry names as Python's tarfile and Go's archive/tar read them: only regular files
    /// carry data, directories, links and devices are a header alone, and GNU long names
    /// apply to the next entry whatever the header's format.
    fn header_only_names(context: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        let mut long = None;
        let mut pos = 0;
        while pos + 512 <= context.len() && context[pos..pos + 512].iter().any(|b| *b != 0) {
            let h = tar::Header::from_byte_slice(&context[pos..pos + 512]);
            pos += 512;
            let size = h.entry_size().unwrap() as usize;
            let data = &context[pos..pos + size];
            let padded = size.div_ceil(512) * 512;
            match h.entry_type() {
                EntryType::GNULongName => {
                    long = Some(
                        String::from_utf8_lossy(data)
                            .trim_end_matches('\0')
                            .to_string(),
                    );
                    pos += padded;
                }
                EntryType::GNULongLink => pos += padded,
                EntryType::XHeader | EntryType::XGlobalHeader => {
                    panic!("the context carries a pax header")
                }
                kind => {
                    let name = long
                        .take()
                        .unwrap_or_else(|| h.path().unwrap().display().to_string());
                    out.push(name.trim_end_matches('/').to_string());
                    if kind == EntryType::Regular || kind == EntryType::Continuous {
                        pos += padded;
                    }
                }
            }
        }
        out
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
            let text = refusal(&a);
            assert!(text.contains(why), "{entries:?}: {text}");
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

    /// A directory's data is entries to Go's and Python's readers: here, a Dockerfile that
    /// would replace minik's at the root of the build context.
    #[test]
    fn refuses_directories_and_links_that_carry_data() {
        let d = tempfile::tempdir().unwrap();
        let mut smuggled = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(9);
        h.set_mode(0o644);
        smuggled
            .append_data(&mut h, "Dockerfile", &b"FROM evil"[..])
            .unwrap();
        let smuggled = smuggled.into_inner().unwrap();
        for (kind, target) in [
            (EntryType::Directory, None),
            (EntryType::Symlink, Some("../bin")),
            (EntryType::Link, Some("spark-x/bin/spark-submit")),
        ] {
            let mut entries = minimal("spark-x");
            let (mut h, data) = raw("spark-x/jars/x/", kind, &smuggled);
            if let Some(t) = target {
                h.set_link_name(t).unwrap();
            }
            entries.push((h, data));
            let a = write_tgz(d.path(), entries);
            let text = refusal(&a);
            assert!(text.contains("spark-x/jars/x"), "{kind:?}: {text}");
            assert!(text.contains("bytes of data"), "{kind:?}: {text}");
        }
    }

    /// Headers are written afresh: no size on directories and links, no setuid, setgid or
    /// sticky bit, no owner; a reader that treats directories and links as header-only sees
    /// exactly the entries tar does.
    #[test]
    fn writes_fresh_headers_that_every_reader_agrees_on() {
        let d = tempfile::tempdir().unwrap();
        let mut entries = minimal("spark-x");
        entries[0].0.set_mode(0o1777);
        entries[1].0.set_mode(0o4755);
        entries[1].0.set_uid(1000);
        entries[1].0.set_gid(1000);
        let (mut h, data) = raw("spark-x/jars/a.jar", EntryType::Regular, b"PK");
        h.set_mode(0o2640);
        entries.push((h, data));
        entries[2].0.set_mode(0o3775);
        entries.push(link("spark-x/jars/b.jar", EntryType::Symlink, "a.jar"));
        let context = repack_bytes(&write_tgz(d.path(), entries)).unwrap();

        let mut seen = Vec::new();
        for e in tar::Archive::new(&context[..]).entries().unwrap() {
            let e = e.unwrap();
            let h = e.header();
            let kind = h.entry_type();
            assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
            if !kind.is_file() {
                assert_eq!(h.size().unwrap(), 0, "{kind:?}");
            }
            let mode = if kind.is_symlink() {
                None
            } else {
                Some(h.mode().unwrap())
            };
            seen.push((e.path().unwrap().display().to_string(), mode));
        }
        assert_eq!(
            seen,
            [
                ("spark/bin/spark-submit".to_string(), Some(0o755)),
                ("spark/jars".to_string(), Some(0o755)),
                ("spark/jars/a.jar".to_string(), Some(0o644)),
                ("spark/jars/b.jar".to_string(), None),
            ]
        );
        assert_eq!(header_only_names(&context), names(&context));
    }

    /// Extension headers that tar does not apply (an old-style header carrying a pax or GNU
    /// type) would be applied by Go and Python to the next entry, e.g. renaming it to
    /// `Dockerfile`: they are refused, never copied.
    #[test]
    fn refuses_extension_headers_tar_does_not_apply() {
        let d = tempfile::tempdir().unwrap();
        for (kind, data) in [
            (EntryType::XHeader, pax("path", "Dockerfile")),
            (EntryType::GNULongName, b"Dockerfile\0".to_vec()),
            (EntryType::GNULongLink, b"/etc/shadow\0".to_vec()),
        ] {
            let mut entries = minimal("spark-x");
            let mut h = tar::Header::new_old();
            let name = "spark-x/jars/ext";
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_mode(0o644);
            h.set_entry_type(kind);
            h.set_size(data.len() as u64);
            entries.push((h, data));
            entries.push(raw("spark-x/jars/a.jar", EntryType::Regular, b"PK"));
            let text = refusal(&write_tgz(d.path(), entries));
            assert!(text.contains("spark-x/jars/ext"), "{kind:?}: {text}");
            assert!(text.contains("extension header"), "{kind:?}: {text}");
        }
    }

    /// Long names given by pax or GNU headers are honoured, and no extension header of the
    /// input reaches the context.
    #[test]
    fn honours_pax_and_gnu_long_names() {
        let d = tempfile::tempdir().unwrap();
        let long = format!("jars/{}.jar", "l".repeat(120));
        let mut entries = minimal("spark-x");
        let record = pax("path", &format!("spark-x/{long}"));
        let mut x = tar::Header::new_ustar();
        x.set_path("spark-x/jars/PaxHeader").unwrap();
        x.set_entry_type(EntryType::XHeader);
        x.set_size(record.len() as u64);
        entries.push((x, record));
        entries.push(raw("spark-x/jars/short.jar", EntryType::Regular, b"PK"));
        let gnu_long = format!("spark-x/jars/{}.jar", "g".repeat(120));
        entries.push((
            {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(EntryType::GNULongName);
                h.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
                h.set_size(gnu_long.len() as u64);
                h
            },
            gnu_long.clone().into_bytes(),
        ));
        entries.push(raw("spark-x/jars/cut.jar", EntryType::Regular, b"PK"));
        let context = repack_bytes(&write_tgz(d.path(), entries)).unwrap();
        let expected = [
            "spark/bin/spark-submit".to_string(),
            "spark/jars".to_string(),
            format!("spark/{long}"),
            format!("spark/jars/{}.jar", "g".repeat(120)),
        ];
        assert_eq!(names(&context), expected);
        assert_eq!(header_only_names(&context), expected);
    }

    /// `jars/d -> ..` and `jars/e -> d/..` each look fine alone; together `jars/e` is the
    /// context root and `jars/e/Dockerfile` replaces minik's.
    #[test]
    fn refuses_symlink_chains() {
        let d = tempfile::tempdir().unwrap();
        for (entries, why) in [
            (
                vec![
                    ("spark-x/jars/d", 'l', ".."),
                    ("spark-x/jars/e", 'l', "d/.."),
                    ("spark-x/jars/e/Dockerfile", 'f', "FROM evil"),
                ],
                "`..` after a name",
            ),
            (
                vec![
                    ("spark-x/jars/e", 'l', "d/.."),
                    ("spark-x/jars/d", 'l', ".."),
                ],
                "`..` after a name",
            ),
            (
                vec![
                    ("spark-x/jars/d", 'l', "../bin"),
                    ("spark-x/jars/d/x", 'f', "x"),
                ],
                "is below the symlink spark-x/jars/d",
            ),
            (
                vec![
                    ("spark-x/jars/d", 'l', ".."),
                    ("spark-x/jars/d/sub/", 'd', ""),
                ],
                "is below the symlink spark-x/jars/d",
            ),
        ] {
            let mut all = vec![
                ("spark-x/bin/spark-submit", 'f', "#!/bin/sh\n"),
                ("spark-x/jars/", 'd', ""),
            ];
            all.extend(entries.iter().copied());
            let text = refusal(&tgz(d.path(), &all));
            assert!(text.contains(why), "{entries:?}: {text}");
        }
    }

    #[test]
    fn writes_hard_links_to_their_normalized_target() {
        let d = tempfile::tempdir().unwrap();
        let a = tgz(
            d.path(),
            &[
                ("spark-x/bin/spark-submit", 'f', "#!/bin/sh\n"),
                ("spark-x/jars/a", 'h', "spark-x/jars/../bin/spark-submit"),
                ("spark-x/jars/b", 'h', "./spark-x/bin/./spark-submit"),
            ],
        );
        let context = repack_bytes(&a).unwrap();
        let links: Vec<_> = tar::Archive::new(&context[..])
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let target = e.link_name().unwrap().map(|t| t.display().to_string());
                (e.path().unwrap().display().to_string(), target)
            })
            .collect();
        assert_eq!(
            links,
            [
                ("spark/bin/spark-submit".to_string(), None),
                (
                    "spark/jars/a".to_string(),
                    Some("spark/bin/spark-submit".to_string())
                ),
                (
                    "spark/jars/b".to_string(),
                    Some("spark/bin/spark-submit".to_string())
                ),
            ]
        );
    }

    /// A hard link to a symlink is a copy of the symlink's text read from another
    /// directory: only links to files written before are allowed.
    #[test]
    fn refuses_hard_links_to_anything_but_earlier_files() {
        let d = tempfile::tempdir().unwrap();
        for entries in [
            vec![
                ("spark-x/jars/a/b/c", 'l', "../../.."),
                ("spark-x/jars/h", 'h', "spark-x/jars/a/b/c"),
            ],
            vec![
                ("spark-x/jars/h", 'h', "spark-x/jars/later"),
                ("spark-x/jars/later", 'f', "x"),
            ],
            vec![("spark-x/jars/h", 'h', "spark-x/jars")],
        ] {
            let mut all = vec![
                ("spark-x/bin/spark-submit", 'f', "#!/bin/sh\n"),
                ("spark-x/jars/", 'd', ""),
            ];
            all.extend(entries.iter().copied());
            let text = refusal(&tgz(d.path(), &all));
            assert!(text.contains("spark-x/jars/h"), "{entries:?}: {text}");
            assert!(text.contains("not a file written before it"), "{text}");
        }
    }

    #[test]
    fn accepts_a_leading_dot_slash() {
        let d = tempfile::tempdir().unwrap();
        let a = tgz(
            d.path(),
            &[
                ("./", 'd', ""),
                ("./spark-x/", 'd', ""),
                ("./spark-x/bin/spark-submit", 'f', "#!/bin/sh\n"),
                ("./spark-x/jars/", 'd', ""),
                ("./spark-x/jars/a.jar", 'f', "PK"),
            ],
        );
        assert_eq!(
            repack(&a).unwrap(),
            ["spark/bin/spark-submit", "spark/jars", "spark/jars/a.jar"]
        );
    }

    /// git archive writes `pax_global_header`, GNU tar `$TMPDIR/GlobalHead.<pid>.<n>`.
    #[test]
    fn ignores_pax_global_headers() {
        let d = tempfile::tempdir().unwrap();
        for name in ["pax_global_header", "/tmp/GlobalHead.42.1"] {
            let record = pax("comment", "0123456789abcdef");
            let mut g = tar::Header::new_ustar();
            g.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            g.set_entry_type(EntryType::XGlobalHeader);
            g.set_size(record.len() as u64);
            let mut entries = vec![(g, record)];
            entries.extend(minimal("spark-x"));
            entries.push(raw("spark-x/jars/a.jar", EntryType::Regular, b"PK"));
            let context = repack_bytes(&write_tgz(d.path(), entries)).unwrap();
            assert_eq!(
                names(&context),
                ["spark/bin/spark-submit", "spark/jars", "spark/jars/a.jar"],
                "{name}"
            );
        }
    }

    #[test]
    fn refuses_incomplete_distributions() {
        let d = tempfile::tempdir().unwrap();
        for (entries, missing) in [
            (
                vec![("spark-x/jars/a.jar", 'f', "PK")],
                "lacks bin/spark-submit",
            ),
            (
                vec![("spark-x/bin/spark-submit", 'f', "#!/bin/sh\n")],
                "lacks jars/",
            ),
            (
                vec![
                    ("spark-x/bin/spark-submit/", 'd', ""),
                    ("spark-x/R/jars/", 'd', ""),
                ],
                "lacks bin/spark-submit and jars/",
            ),
        ] {
            let text = refusal(&tgz(d.path(), &entries));
            assert!(text.contains(missing), "{entries:?}: {text}");
        }
    }
}
