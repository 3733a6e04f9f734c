//! `minik image build spark` and `minik image load`, against a real HTTP server on
//! 127.0.0.1, the real Docker engine and the fixture cluster.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

/// A minik invocation with its own download cache (XDG_CACHE_HOME).
fn minik_with_cache(c: &TestCluster, cache: &Path, args: &[&str]) -> std::process::Output {
    c.minik_cmd(args)
        .env("XDG_CACHE_HOME", cache)
        .output()
        .unwrap()
}

/// `minik image build spark` of a test version on the local JRE base, tagged `tag`, not
/// loaded; `extra` adds flags.
fn build_spark(
    c: &TestCluster,
    cache: &Path,
    version: &str,
    tag: &str,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec![
        "image",
        "build",
        "spark",
        "--spark-version",
        version,
        "--base-image",
        "minik-fixture/jre:17",
        "--tag",
        tag,
        "--no-load",
    ];
    args.extend_from_slice(extra);
    minik_with_cache(c, cache, &args)
}

/// The files in the download cache (one directory per source URL), lock files aside.
fn downloads(cache: &Path) -> Vec<String> {
    cached_files(cache)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

fn cached_files(cache: &Path) -> Vec<PathBuf> {
    let dir = cache.join("minik").join("downloads");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).into_iter().flatten())
        .map(|f| f.unwrap().path())
        .filter(|p| p.extension().is_none_or(|e| e != "lock"))
        .collect();
    files.sort();
    files
}

/// A mirror tree `<root>/spark-<v>/<file>` + `.sha512` for a given tarball.
fn mirror_with(root: &Path, version: &str, tgz: &Path, sha512_text: Option<String>) {
    let dir = root.join(format!("spark-{version}"));
    std::fs::create_dir_all(&dir).unwrap();
    let name = format!("spark-{version}-bin-hadoop3.tgz");
    std::fs::copy(tgz, dir.join(&name)).unwrap();
    let text = sha512_text.unwrap_or_else(|| {
        let out = Command::new("sha512sum")
            .arg(dir.join(&name))
            .output()
            .unwrap();
        format!(
            "{}  {name}\n",
            text(&out.stdout).split_whitespace().next().unwrap()
        )
    });
    std::fs::write(dir.join(format!("{name}.sha512")), text).unwrap();
}

/// A small distribution-shaped tarball; `extra` entries are written raw (to make bad ones).
fn synthetic_tgz(
    dir: &Path,
    version: &str,
    extra: &[(&str, char, &str)],
    payload: usize,
) -> PathBuf {
    let path = dir.join(format!("synthetic-{}.tgz", extra.len()));
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::fast(),
    );
    let mut b = tar::Builder::new(gz);
    let root = format!("spark-{version}-bin-hadoop3");
    let mut add = |name: &str, kind: char, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_mode(if name.contains("/bin/") { 0o755 } else { 0o644 });
        match kind {
            'f' => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(data.len() as u64);
            }
            'd' => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
            }
            _ => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                h.set_link_name(std::str::from_utf8(data).unwrap()).unwrap();
            }
        }
        h.set_cksum();
        b.append(&h, if kind == 'f' { data } else { &[][..] })
            .unwrap();
    };
    add(&format!("{root}/"), 'd', b"");
    add(
        &format!("{root}/bin/spark-submit"),
        'f',
        b"#!/bin/sh\necho synthetic spark-submit\n",
    );
    // Incompressible bytes, so that a cut transfer is really partial.
    let mut state = 0x2545F4914F6CDD1Du64;
    let noise: Vec<u8> = (0..payload)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    add(&format!("{root}/jars/payload.jar"), 'f', &noise);
    for (name, kind, data) in extra {
        add(&name.replace("ROOT", &root), *kind, data.as_bytes());
    }
    b.into_inner().unwrap().finish().unwrap().flush().unwrap();
    path
}

#[test]
fn spark_image_from_a_mirror_runs_pi_and_pyspark_and_loads_into_the_cluster() {
    let node_image = node_image();
    let (dist, version) = spark_dist();
    // Lay the assembled distribution out as a mirror.
    let mirror = tempfile::tempdir().unwrap();
    let name = format!("spark-{version}-bin-hadoop3.tgz");
    std::fs::create_dir_all(mirror.path().join(format!("spark-{version}"))).unwrap();
    for f in [name.clone(), format!("{name}.sha512")] {
        // The server refuses links that leave its root; a hard link costs no copy.
        let to = mirror.path().join(format!("spark-{version}")).join(&f);
        std::fs::hard_link(dist.join(&f), &to)
            .or_else(|_| std::fs::copy(dist.join(&f), &to).map(|_| ()))
            .unwrap();
    }
    let server = HttpServer::start(mirror.path(), None);
    let cache = tempfile::tempdir().unwrap();
    let c = TestCluster::new("it-spark-img");
    let tag = format!("minik/spark:{version}-java17");
    let py_tag = format!("minik/spark-py:{version}-java17");
    let _ = docker(&["rmi", "-f", &tag, &py_tag]);

    let out = minik_with_cache(
        &c,
        cache.path(),
        &[
            "image",
            "build",
            "spark",
            "--spark-version",
            &version,
            "--mirror",
            &server.url(),
            "--base-image",
            "minik-fixture/jre:17",
            "--python",
            "-p",
            &c.profile,
        ],
    );
    let err = text(&out.stderr);
    assert!(out.status.success(), "build failed:\n{err}");
    assert!(
        err.contains("no running cluster"),
        "without a cluster nothing is loaded:\n{err}"
    );
    assert_eq!(
        text(&out.stdout).lines().collect::<Vec<_>>(),
        [tag.as_str(), py_tag.as_str()]
    );
    assert_eq!(
        downloads(cache.path()),
        std::slice::from_ref(&name),
        "verified file cached, no partial left"
    );
    assert!(server
        .requests()
        .contains(&format!("GET /spark-{version}/{name}.sha512")));

    // What a container of the image prints (stdout, then stderr).
    let run = |image: &str, cmd: &[&str]| {
        let out = Command::new("docker")
            .args(["run", "--rm", image])
            .args(cmd)
            .output()
            .unwrap();
        format!("{}\n--- stderr:\n{}", text(&out.stdout), text(&out.stderr))
    };
    let v = run(&tag, &["/opt/spark/bin/spark-submit", "--version"]);
    assert!(v.contains(&format!("version {version}")), "{v}");
    let spark_submit = "/opt/spark/bin/spark-submit";
    let pi = run(
        &tag,
        &[
            spark_submit,
            "--master",
            "local[2]",
            "local:///opt/spark/examples/src/main/python/pi.py",
            "10",
        ],
    );
    assert!(
        pi.split("--- stderr:")
            .next()
            .unwrap()
            .contains("Pi is roughly 3.1"),
        "{pi}"
    );
    let script = "from pyspark.sql import SparkSession; s = SparkSession.builder.master('local[1]').getOrCreate(); print('rows', s.range(42).count())";
    let py = run(&py_tag, &["python3", "-c", script]);
    assert!(py.contains("rows 42"), "{py}");

    // Into the fixture cluster: a pod with IfNotPresent starts from it; a second load is skipped.
    c.minik_ok(&["start", "-p", &c.profile, "--image", &node_image]);
    let out = c.minik(&["image", "load", "-p", &c.profile, &tag]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&format!("{tag} loaded")),
        "{}",
        text(&out.stderr)
    );
    let pod = format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"spark-version"}},"spec":{{"restartPolicy":"Never","containers":[{{"name":"s","image":"{tag}","imagePullPolicy":"IfNotPresent","args":["/opt/spark/bin/spark-submit","--version"]}}]}}}}"#
    );
    let mut apply = Command::new(kubectl())
        .args(["--kubeconfig"])
        .arg(c.kubeconfig())
        .args(["apply", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    apply
        .stdin
        .take()
        .unwrap()
        .write_all(pod.as_bytes())
        .unwrap();
    assert!(apply.wait().unwrap().success());
    let mut phase = String::new();
    for _ in 0..120 {
        phase = c.kubectl_ok(&[
            "get",
            "pod",
            "spark-version",
            "-o",
            "jsonpath={.status.phase}",
        ]);
        if phase == "Succeeded" || phase == "Failed" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    assert_eq!(phase, "Succeeded");
    let logs = c.kubectl_ok(&["logs", "spark-version"]);
    assert!(logs.contains(&format!("version {version}")), "{logs}");

    let again = c.minik(&["image", "load", "-p", &c.profile, &tag]);
    assert!(again.status.success());
    assert!(
        text(&again.stderr).contains(&format!("{tag} already present")),
        "{}",
        text(&again.stderr)
    );
    let ls = c.minik_ok(&["image", "ls", "-p", &c.profile]);
    assert!(ls.contains(&format!("docker.io/{tag}")), "{ls}");
}

#[test]
fn interrupted_download_resumes_with_a_range_request() {
    let dir = tempfile::tempdir().unwrap();
    let tgz = synthetic_tgz(dir.path(), "9.9.1", &[], 6 << 20);
    let mirror = tempfile::tempdir().unwrap();
    mirror_with(mirror.path(), "9.9.1", &tgz, None);
    let server = HttpServer::start(mirror.path(), Some(2 << 20));
    let cache = tempfile::tempdir().unwrap();
    let c = TestCluster::new("it-resume");
    let tag = "minik-test/spark-resume:1";
    let url = server.url();
    let out = build_spark(
        &c,
        cache.path(),
        "9.9.1",
        tag,
        &["--scala", "2.13", "--mirror", &url],
    );
    let requests = server.requests();
    assert!(
        out.status.success(),
        "{}\nrequests:\n{requests}",
        text(&out.stderr)
    );
    assert!(
        requests.contains("range=bytes=2097152-"),
        "no resume seen:\n{requests}"
    );
    let cached = cached_files(cache.path());
    assert_eq!(
        std::fs::read(&cached[0]).unwrap(),
        std::fs::read(&tgz).unwrap()
    );
    assert_eq!(downloads(cache.path()), ["spark-9.9.1-bin-hadoop3.tgz"]);
    assert!(image_exists(tag));
    let _ = docker(&["rmi", "-f", tag]);

    // --offline now works from the cache for the same source; another source's copy is not
    // taken (nothing offline can check it), and the error says where it is.
    let out = build_spark(
        &c,
        cache.path(),
        "9.9.1",
        tag,
        &["--offline", "--mirror", &url],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = build_spark(&c, cache.path(), "9.9.1", tag, &["--offline"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("a copy downloaded from another source is in"),
        "{}",
        text(&out.stderr)
    );
    let _ = docker(&["rmi", "-f", tag]);
    let empty = tempfile::tempdir().unwrap();
    let out = build_spark(&c, empty.path(), "9.9.1", tag, &["--offline"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("spark-9.9.1-bin-hadoop3.tgz from ")
            && err.contains("is not in the download cache")
            && err.contains("hint: "),
        "{err}"
    );
    assert!(!image_exists(tag));
}

#[test]
fn bad_downloads_and_archives_are_refused_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let good = synthetic_tgz(dir.path(), "9.9.2", &[], 1 << 20);
    let traversal = synthetic_tgz(
        dir.path(),
        "9.9.2",
        &[("ROOT/../../etc/evil", 'f', "x")],
        1000,
    );
    let escaping = synthetic_tgz(
        dir.path(),
        "9.9.2",
        &[
            ("ROOT/jars/x", 'f', "x"),
            ("ROOT/jars/evil", 'l', "../../../etc/shadow"),
        ],
        1000,
    );
    let truncated = dir.path().join("truncated.tgz");
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();

    let wrong_sum = format!("{}  spark-9.9.2-bin-hadoop3.tgz\n", "ab".repeat(64));
    let cases: [(&str, &Path, Option<String>, &[&str]); 4] = [
        (
            "checksum",
            &good,
            Some(wrong_sum),
            &[
                "checksum mismatch for http://127.0.0.1:",
                "expected sha512 abab",
                "got ",
            ],
        ),
        ("truncated", &truncated, None, &["is truncated or corrupt"]),
        ("traversal", &traversal, None, &["`..` component"]),
        (
            "escaping",
            &escaping,
            None,
            &["links to ../../../etc/shadow outside the tree"],
        ),
    ];
    let c = TestCluster::new("it-badtar");
    for (what, tgz, sum, expected) in cases {
        let mirror = tempfile::tempdir().unwrap();
        mirror_with(mirror.path(), "9.9.2", tgz, sum);
        let server = HttpServer::start(mirror.path(), None);
        let cache = tempfile::tempdir().unwrap();
        let tag = format!("minik-test/spark-bad-{what}:1");
        let url = server.url();
        let out = build_spark(
            &c,
            cache.path(),
            "9.9.2",
            &tag,
            &["--scala", "2.13", "--mirror", &url],
        );
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{what}: must fail");
        for e in expected {
            assert!(err.contains(e), "{what}: {e:?} not in:\n{err}");
        }
        assert!(err.contains("hint: "), "{what}:\n{err}");
        assert!(
            downloads(cache.path()).is_empty(),
            "{what}: left in the cache: {:?}",
            downloads(cache.path())
        );
        assert!(!image_exists(&tag), "{what}: an image was tagged");
    }
}
