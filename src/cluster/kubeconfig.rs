//! The user's kubeconfig: upsert and removal of one cluster's entries (cluster, user and
//! context, all named `minik-<profile>`), under the `<file>.lock` convention kubectl uses,
//! written atomically with mode 0600. Fields minik does not own are kept as they are.
//!
//! (Over 500 lines with its tests, about 240 of them; the code alone is under 500.)

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{json, Map, Value};

use crate::error::Hinted;
pub use crate::k8s::kubeconfig::Chain;

/// The credentials of one cluster, as taken from the node's admin.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// cluster, user and context name.
    pub name: String,
    pub server: String,
    pub ca_data: String,
    pub cert_data: String,
    pub key_data: String,
}

/// The files of `chain` that exist, parsed, in order.
fn existing(chain: &Chain) -> Result<Vec<(&Path, Value)>> {
    let mut out = Vec::new();
    for f in &chain.files {
        if let Some(doc) = read(f)? {
            out.push((f.as_path(), doc));
        }
    }
    Ok(out)
}

fn holds(doc: &Value, name: &str) -> bool {
    ["clusters", "users", "contexts"].iter().any(|list| {
        doc.get(list).and_then(Value::as_array).is_some_and(|a| {
            a.iter()
                .any(|e| e.get("name").and_then(Value::as_str) == Some(name))
        })
    })
}

fn has_current(doc: &Value) -> bool {
    doc.get("current-context")
        .and_then(Value::as_str)
        .is_some_and(|c| !c.is_empty())
}

/// Reads the credentials out of a kubeadm admin.conf, naming them `name` and pointing them
/// at `server`.
pub fn entry_from_admin_conf(admin_conf: &str, name: &str, server: &str) -> Result<Entry> {
    let v: Value =
        serde_saphyr::from_str(admin_conf).context("cannot parse the node's admin.conf")?;
    let field = |list: &str, inner: &str, key: &str| -> Result<String> {
        v.get(list)
            .and_then(|l| l.get(0))
            .and_then(|e| e.get(inner))
            .and_then(|e| e.get(key))
            .and_then(Value::as_str)
            .map(str::to_string)
            .with_context(|| format!("admin.conf has no {list}[0].{inner}.{key}"))
    };
    Ok(Entry {
        name: name.to_string(),
        server: server.to_string(),
        ca_data: field("clusters", "cluster", "certificate-authority-data")?,
        cert_data: field("users", "user", "client-certificate-data")?,
        key_data: field("users", "user", "client-key-data")?,
    })
}

/// A standalone kubeconfig holding just this entry (for `minik kubeconfig`).
pub fn render(entry: &Entry) -> Result<String> {
    let mut doc = empty();
    upsert_value(&mut doc, entry, true);
    Ok(serde_saphyr::to_string(&doc)?)
}

fn empty() -> Value {
    json!({"apiVersion": "v1", "kind": "Config", "preferences": {}, "clusters": [], "users": [], "contexts": [], "current-context": ""})
}

/// Replaces (or appends) the named item of a kubeconfig list such as `clusters`.
fn set_named(doc: &mut Map<String, Value>, list: &str, name: &str, item: Value) {
    let entries = doc.entry(list).or_insert_with(|| Value::Array(vec![]));
    if !entries.is_array() {
        *entries = Value::Array(vec![]);
    }
    let arr = entries.as_array_mut().expect("array");
    match arr
        .iter_mut()
        .find(|e| e.get("name").and_then(Value::as_str) == Some(name))
    {
        Some(slot) => *slot = item,
        None => arr.push(item),
    }
}

fn remove_named(doc: &mut Map<String, Value>, list: &str, name: &str) -> bool {
    let Some(arr) = doc.get_mut(list).and_then(Value::as_array_mut) else {
        return false;
    };
    let before = arr.len();
    arr.retain(|e| e.get("name").and_then(Value::as_str) != Some(name));
    arr.len() != before
}

fn upsert_value(doc: &mut Value, e: &Entry, set_current: bool) {
    if !doc.is_object() {
        *doc = empty();
    }
    let map = doc.as_object_mut().expect("object");
    map.entry("apiVersion").or_insert_with(|| json!("v1"));
    map.entry("kind").or_insert_with(|| json!("Config"));
    set_named(
        map,
        "clusters",
        &e.name,
        json!({"name": e.name, "cluster": {"server": e.server, "certificate-authority-data": e.ca_data}}),
    );
    set_named(
        map,
        "users",
        &e.name,
        json!({"name": e.name, "user": {"client-certificate-data": e.cert_data, "client-key-data": e.key_data}}),
    );
    set_named(
        map,
        "contexts",
        &e.name,
        json!({"name": e.name, "context": {"cluster": e.name, "user": e.name}}),
    );
    if set_current {
        map.insert("current-context".into(), json!(e.name));
    }
}

fn remove_value(doc: &mut Value, name: &str) -> bool {
    let Some(map) = doc.as_object_mut() else {
        return false;
    };
    let mut changed = false;
    for list in ["clusters", "users", "contexts"] {
        changed |= remove_named(map, list, name);
    }
    if map.get("current-context").and_then(Value::as_str) == Some(name) {
        map.insert("current-context".into(), json!(""));
        changed = true;
    }
    changed
}

/// Merges `entry` into the chain (see [`Chain`]) and, when `set_current`, makes it the
/// current context where kubectl reads that from (the first file that sets one). Returns
/// the file the entries are in.
pub fn upsert(chain: &Chain, entry: &Entry, set_current: bool) -> Result<PathBuf> {
    let existing = existing(chain)?;
    let target = existing
        .iter()
        .find(|(_, doc)| holds(doc, &entry.name))
        .map(|(p, _)| p.to_path_buf())
        .unwrap_or_else(|| chain.target().to_path_buf());
    let current_in = existing
        .iter()
        .find(|(_, doc)| has_current(doc))
        .map(|(p, _)| p.to_path_buf())
        .unwrap_or_else(|| target.clone());
    {
        let _lock = Lock::acquire(&target, LOCK_WAIT)?;
        let mut doc = read(&target)?.unwrap_or_else(empty);
        upsert_value(&mut doc, entry, set_current && current_in == target);
        write(&target, &doc)?;
    }
    if set_current && current_in != target {
        let _lock = Lock::acquire(&current_in, LOCK_WAIT)?;
        let mut doc = read(&current_in)?.unwrap_or_else(empty);
        if let Some(map) = doc.as_object_mut() {
            map.insert("current-context".into(), json!(entry.name));
        }
        write(&current_in, &doc)?;
    }
    Ok(target)
}

/// Removes the entries named `name` from every file of the chain that holds them (and a
/// current-context naming them); true when something was removed.
pub fn remove(chain: &Chain, name: &str) -> Result<bool> {
    let mut removed = false;
    for path in &chain.files {
        if !path.exists() {
            continue;
        }
        let _lock = Lock::acquire(path, LOCK_WAIT)?;
        let Some(mut doc) = read(path)? else {
            continue;
        };
        if remove_value(&mut doc, name) {
            write(path, &doc)?;
            removed = true;
        }
    }
    Ok(removed)
}

/// Whether a file of the chain has a context named `name`.
pub fn has_context(chain: &Chain, name: &str) -> Result<bool> {
    Ok(existing(chain)?.iter().any(|(_, doc)| {
        doc.get("contexts")
            .and_then(Value::as_array)
            .is_some_and(|a| {
                a.iter()
                    .any(|c| c.get("name").and_then(Value::as_str) == Some(name))
            })
    }))
}

fn read(path: &Path) -> Result<Option<Value>> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read kubeconfig {}", path.display()))
        }
    };
    if text.trim().is_empty() {
        return Ok(None);
    }
    let v: Value = serde_saphyr::from_str(&text).map_err(|e| {
        Hinted::new(
            format!("cannot parse kubeconfig {}", path.display()),
            "fix or move the file away; minik does not overwrite a kubeconfig it cannot read",
        )
        .caused_by(e.to_string())
    })?;
    Ok(Some(v))
}

/// Writes atomically (temp file + rename in the same directory) with mode 0600. A symlinked
/// kubeconfig is written through to its target (the link stays a link), and an existing
/// file keeps its owner (under sudo, the user's file stays the user's).
fn write(path: &Path, doc: &Value) -> Result<()> {
    let path = &fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let owner = fs::metadata(path).ok().map(|m| {
        use std::os::unix::fs::MetadataExt;
        (m.uid(), m.gid())
    });
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let text = serde_saphyr::to_string(doc).context("cannot serialize kubeconfig")?;
    let tmp = dir.join(format!(
        ".{}.minik-tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("config")
    ));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::fchown(&f, Some(uid), Some(gid))?;
        }
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write kubeconfig {}", path.display()))
}

/// How long to wait for another writer's lock.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// `<kubeconfig>.lock`, created exclusively like client-go does; removed on drop.
struct Lock {
    path: PathBuf,
}

impl Lock {
    fn acquire(kubeconfig: &Path, wait: Duration) -> Result<Lock> {
        let mut name = kubeconfig.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let deadline = Instant::now() + wait;
        loop {
            match fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(_) => return Ok(Lock { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    return Err(Hinted::new(
                        format!("kubeconfig is locked: {} exists", path.display()),
                        "another kubectl or minik may be writing it; if none is, remove the lock file",
                    )
                    .into())
                }
                Err(e) => return Err(e).with_context(|| format!("cannot create lock file {}", path.display())),
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN_CONF: &str = "apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0E=
    server: https://172.29.0.2:6443
  name: minik-dev
contexts:
- context:
    cluster: minik-dev
    user: kubernetes-admin
  name: kubernetes-admin@minik-dev
current-context: kubernetes-admin@minik-dev
kind: Config
preferences: {}
users:
- name: kubernetes-admin
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
";

    fn entry(name: &str, server: &str) -> Entry {
        entry_from_admin_conf(ADMIN_CONF, name, server).unwrap()
    }

    #[test]
    fn reads_admin_conf() {
        let e = entry("minik-dev", "https://127.0.0.1:40000");
        assert_eq!(e.ca_data, "Q0E=");
        assert_eq!(e.cert_data, "Q0VSVA==");
        assert_eq!(e.key_data, "S0VZ");
        assert!(entry_from_admin_conf("kind: Config\n", "x", "y").is_err());
    }

    #[test]
    fn upsert_creates_file_0600_and_keeps_foreign_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("config");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(
            &path,
            "apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster:\n    server: https://prod:443\n    extensions: [{name: x, extension: {a: 1}}]\n\
             users:\n- name: prod\n  user: {token: secret}\ncontexts:\n- name: prod\n  context: {cluster: prod, user: prod, namespace: data}\ncurrent-context: prod\n",
        )
        .unwrap();
        upsert(
            &Chain::single(&path),
            &entry("minik-dev", "https://127.0.0.1:40000"),
            true,
        )
        .unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let doc = read(&path).unwrap().unwrap();
        assert_eq!(doc["current-context"], "minik-dev");
        assert_eq!(
            doc["clusters"][0]["cluster"]["extensions"][0]["extension"]["a"],
            1
        );
        assert_eq!(doc["contexts"][0]["context"]["namespace"], "data");
        assert_eq!(
            doc["clusters"][1]["cluster"]["server"],
            "https://127.0.0.1:40000"
        );
        assert!(has_context(&Chain::single(&path), "minik-dev").unwrap());
        assert!(
            !path.with_file_name("config.lock").exists(),
            "lock released"
        );

        // Upsert again with a new port: replaced, not duplicated; current context kept.
        upsert(
            &Chain::single(&path),
            &entry("minik-dev", "https://127.0.0.1:40001"),
            false,
        )
        .unwrap();
        let doc = read(&path).unwrap().unwrap();
        assert_eq!(doc["clusters"].as_array().unwrap().len(), 2);
        assert_eq!(
            doc["clusters"][1]["cluster"]["server"],
            "https://127.0.0.1:40001"
        );

        // Removal takes exactly our three entries and clears the current context.
        assert!(remove(&Chain::single(&path), "minik-dev").unwrap());
        let doc = read(&path).unwrap().unwrap();
        for list in ["clusters", "users", "contexts"] {
            let names: Vec<&str> = doc[list]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["name"].as_str().unwrap())
                .collect();
            assert_eq!(names, ["prod"], "{list}");
        }
        assert_eq!(doc["current-context"], "");
        assert_eq!(doc["users"][0]["user"]["token"], "secret");
        assert!(
            !remove(&Chain::single(&path), "minik-dev").unwrap(),
            "idempotent"
        );
    }

    #[test]
    fn keep_context_leaves_current_context() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        fs::write(
            &path,
            "apiVersion: v1\nkind: Config\ncurrent-context: prod\n",
        )
        .unwrap();
        upsert(
            &Chain::single(&path),
            &entry("minik-a", "https://127.0.0.1:1"),
            false,
        )
        .unwrap();
        assert_eq!(read(&path).unwrap().unwrap()["current-context"], "prod");
    }

    #[test]
    fn unparsable_kubeconfig_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        fs::write(&path, "clusters: [unclosed\n").unwrap();
        let err = upsert(
            &Chain::single(&path),
            &entry("minik-a", "https://127.0.0.1:1"),
            true,
        )
        .unwrap_err();
        assert!(crate::error::render(&err).contains("hint: fix or move the file away"));
        assert_eq!(fs::read_to_string(&path).unwrap(), "clusters: [unclosed\n");
        assert!(!dir.path().join(".config.minik-tmp").exists());
    }

    #[test]
    fn stale_lock_times_out_with_a_hint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        fs::write(dir.path().join("config.lock"), "").unwrap();
        let err = Lock::acquire(&path, Duration::from_millis(200))
            .err()
            .unwrap();
        assert!(crate::error::render(&err).contains("kubeconfig is locked"));
        fs::remove_file(dir.path().join("config.lock")).unwrap();
        let lock = Lock::acquire(&path, Duration::from_millis(200)).unwrap();
        assert!(dir.path().join("config.lock").exists());
        drop(lock);
        assert!(!dir.path().join("config.lock").exists());
    }

    #[test]
    fn a_chain_writes_where_client_go_does() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            dir.path().join("a"),
            dir.path().join("b"),
            dir.path().join("c"),
        );
        fs::write(&b, "apiVersion: v1\nkind: Config\ncurrent-context: prod\n").unwrap();
        fs::write(&c, "apiVersion: v1\nkind: Config\n").unwrap();
        let chain = Chain {
            files: vec![a.clone(), b.clone(), c.clone()],
        };
        // `a` is missing: new entries go to the first file that exists, and the current
        // context is set where kubectl reads it.
        let written = upsert(&chain, &entry("minik-x", "https://127.0.0.1:1"), true).unwrap();
        assert_eq!(written, b);
        assert!(
            !a.exists(),
            "a missing file of the chain must not be created"
        );
        assert_eq!(read(&b).unwrap().unwrap()["current-context"], "minik-x");
        assert!(has_context(&chain, "minik-x").unwrap());
        // Entries that live in a later file are changed there.
        let moved = Chain {
            files: vec![c.clone(), b.clone()],
        };
        assert_eq!(
            upsert(&moved, &entry("minik-x", "https://127.0.0.1:2"), false).unwrap(),
            b
        );
        assert!(!has_context(&Chain::single(&c), "minik-x").unwrap());
        // Removal finds them in whichever file holds them.
        assert!(remove(&moved, "minik-x").unwrap());
        assert!(!has_context(&chain, "minik-x").unwrap());
        // No file exists: the last of the list is created.
        let fresh = Chain {
            files: vec![dir.path().join("n1"), dir.path().join("n2")],
        };
        assert_eq!(
            upsert(&fresh, &entry("minik-y", "https://127.0.0.1:3"), true).unwrap(),
            dir.path().join("n2")
        );
    }

    #[test]
    fn a_symlinked_kubeconfig_stays_a_link_and_keeps_its_owner() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real-config");
        let link = dir.path().join("config");
        fs::write(&real, "apiVersion: v1\nkind: Config\n").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        // Owned by another user, as under sudo (the tests run as root).
        let owned = std::os::unix::fs::chown(&real, Some(4321), Some(4321)).is_ok();
        upsert(
            &Chain::single(&link),
            &entry("minik-l", "https://127.0.0.1:1"),
            true,
        )
        .unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(has_context(&Chain::single(&real), "minik-l").unwrap());
        if owned {
            assert_eq!(fs::metadata(&real).unwrap().uid(), 4321);
        }
        assert_eq!(
            fs::metadata(&real).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn rendered_standalone_config_round_trips() {
        let text = render(&entry("minik-dev", "https://127.0.0.1:40000")).unwrap();
        let doc: Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(doc["current-context"], "minik-dev");
        assert_eq!(doc["users"][0]["user"]["client-key-data"], "S0VZ");
    }
}
