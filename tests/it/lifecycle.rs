//! The cluster lifecycle on the real fixture node: start, kubectl from the host, stop and
//! restart (data kept, kubeadm not re-run), `docker restart`, a dockerd restart, delete.

use crate::common::*;

fn status_json(c: &TestCluster) -> serde_json::Value {
    let out = c.minik(&["status", "-p", &c.profile, "-o", "json"]);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("status -o json: {e}: {}", text(&out.stdout)))
}

fn list_json(c: &TestCluster) -> Vec<serde_json::Value> {
    serde_json::from_str::<Vec<serde_json::Value>>(&c.minik_ok(&["list", "-o", "json"]))
        .unwrap()
        .into_iter()
        .filter(|n| n["profile"] == c.profile.as_str())
        .collect()
}

/// Facts that change if kubeadm init runs again: the cluster CA and kubeadm's log.
fn kubeadm_fingerprint(c: &TestCluster) -> String {
    let (ok, out) = docker(&[
        "exec",
        &c.container(),
        "sh",
        "-c",
        "sha256sum /etc/kubernetes/pki/ca.crt; stat -c %Y /var/log/minik-kubeadm.log",
    ]);
    assert!(ok, "cannot read the node's kubeadm state");
    out
}

fn assert_running_with_configmap(c: &TestCluster, endpoint: &str) {
    let s = status_json(c);
    assert_eq!(s["container"], "running", "{s}");
    assert_eq!(s["api_server"], "reachable", "{s}");
    assert_eq!(s["node"], "Ready", "{s}");
    assert_eq!(
        s["endpoint"], endpoint,
        "the endpoint must survive restarts: {s}"
    );
    let value = c.kubectl_ok(&[
        "get",
        "configmap",
        "survivor",
        "-o",
        "jsonpath={.data.color}",
    ]);
    assert_eq!(value, "blue");
}

#[test]
fn start_stop_restart_delete_on_the_fixture_node() {
    let image = node_image();
    let mut c = TestCluster::new("it-life");

    // KUBECONFIG as users have it: a missing file first (never created: client-go writes to
    // the first file that exists), then a symlink to a file owned by another user (the link
    // stays, the owner too).
    use std::os::unix::fs::MetadataExt;
    let real = c.dir.path().join("real-config");
    std::fs::write(
        &real,
        "apiVersion: v1\nkind: Config\ncurrent-context: \"\"\n",
    )
    .unwrap();
    std::os::unix::fs::chown(&real, Some(4321), Some(4321)).unwrap();
    std::fs::create_dir_all(c.kubeconfig().parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&real, c.kubeconfig()).unwrap();
    let missing = c.dir.path().join("missing.yaml");
    c.kubeconfig_env = Some(format!(
        "{}:{}",
        missing.display(),
        c.kubeconfig().display()
    ));

    // A concurrent minik working on the profile (the test holds its lock): start is refused
    // and changes nothing.
    let args = ["start", "-p", &c.profile, "--image", &image];
    {
        let lock_path = profile_lock_path(&c.profile);
        std::fs::create_dir_all(lock_path.parent().unwrap()).unwrap();
        let held = std::fs::File::create(&lock_path).unwrap();
        held.lock().unwrap();
        let second = c.minik(&args);
        assert!(
            !second.status.success(),
            "a concurrent start must be refused"
        );
        assert!(
            text(&second.stderr).contains("another minik command is working on cluster"),
            "{}",
            text(&second.stderr)
        );
        assert!(!container_exists(&c.container()));
    }
    let first = c.minik(&args);
    assert!(
        first.status.success(),
        "start failed:\n{}",
        text(&first.stderr)
    );
    assert!(
        !missing.exists(),
        "a missing KUBECONFIG file must not be created"
    );
    assert!(std::fs::symlink_metadata(c.kubeconfig())
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::metadata(&real).unwrap().uid(), 4321);
    let log = text(&first.stderr);
    for step in [
        "Preparing node",
        "Starting control-plane",
        "Installing CNI",
        "Writing kubeconfig",
        "Waiting for node Ready",
    ] {
        assert!(
            log.contains(&format!("✓ {step}")),
            "missing step {step:?} in:\n{log}"
        );
    }
    // Where the engine refuses --privileged (these CI machines), minik falls back by itself
    // and says so; elsewhere the node is privileged like kind's.
    let privilege = status_json(&c)["privilege"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let refused = !std::process::Command::new("docker")
        .args([
            "run",
            "--rm",
            "--privileged",
            "minik-fixture/busybox:1.35",
            "true",
        ])
        .output()
        .unwrap()
        .status
        .success();
    if refused {
        assert!(privilege.starts_with("explicit"), "{privilege}");
        assert!(
            log.contains("--privileged is refused by this Docker engine"),
            "the fallback must be announced:\n{log}"
        );
    } else {
        assert_eq!(privilege, "privileged");
    }

    // The host's kubectl works through the merged, 0600 kubeconfig.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(c.kubeconfig())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let nodes = c.kubectl_ok(&["get", "nodes", "--no-headers"]);
    assert!(nodes.contains(" Ready "), "{nodes}");
    let current = c.kubectl_ok(&["config", "current-context"]);
    assert_eq!(current.trim(), c.context());

    // The API server is published on loopback only.
    let (_, ports) = docker(&["port", &c.container(), "6443/tcp"]);
    assert!(
        ports.lines().all(|l| l.starts_with("127.0.0.1:")),
        "{ports}"
    );
    let s = status_json(&c);
    let endpoint = s["endpoint"].as_str().unwrap().to_string();
    assert_eq!(
        endpoint,
        format!("https://{}", ports.lines().next().unwrap().trim())
    );
    assert_eq!(s["version"], "v1.20.2");
    let listed = list_json(&c);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["state"], "running");

    c.kubectl_ok(&[
        "create",
        "configmap",
        "survivor",
        "--from-literal=color=blue",
    ]);
    let fingerprint = kubeadm_fingerprint(&c);

    // stop → start: same data, same endpoint, no second kubeadm init.
    c.minik_ok(&["stop", "-p", &c.profile]);
    assert_eq!(status_json(&c)["container"], "exited");
    assert_eq!(list_json(&c)[0]["state"], "exited");
    // Another process took the API port meanwhile: the error names it and the way out.
    {
        let port: u16 = endpoint.rsplit(':').next().unwrap().parse().unwrap();
        let _squatter = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        let out = c.minik(&["start", "-p", &c.profile]);
        assert!(!out.status.success());
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!(
                "port 127.0.0.1:{port} is taken by another process"
            )),
            "{err}"
        );
        assert!(err.contains("hint: free it"), "{err}");
    }
    let restart = c.minik(&["start", "-p", &c.profile]);
    assert!(restart.status.success(), "{}", text(&restart.stderr));
    let log = text(&restart.stderr);
    assert!(
        !log.contains("Starting control-plane"),
        "restart must not run kubeadm:\n{log}"
    );
    assert_running_with_configmap(&c, &endpoint);
    assert_eq!(kubeadm_fingerprint(&c), fingerprint);

    // docker restart of the node, then minik start.
    assert!(docker(&["restart", &c.container()]).0);
    c.minik_ok(&["start", "-p", &c.profile]);
    assert_running_with_configmap(&c, &endpoint);

    // A restart of dockerd itself stops the node; minik start brings it back.
    restart_dockerd();
    c.minik_ok(&["start", "-p", &c.profile]);
    assert_running_with_configmap(&c, &endpoint);
    assert_eq!(kubeadm_fingerprint(&c), fingerprint);

    // delete leaves nothing behind, and says so truthfully.
    c.minik_ok(&["delete", "-p", &c.profile]);
    assert!(!container_exists(&c.container()));
    assert!(!volume_exists(&c.volume()));
    if other_minik_nodes(&c.container()) == 0 {
        assert!(
            !network_exists("minik"),
            "the shared network must go with the last node"
        );
    }
    let config = std::fs::read_to_string(c.kubeconfig()).unwrap();
    assert!(
        !config.contains(&c.context()),
        "kubeconfig still mentions the cluster:\n{config}"
    );
    assert!(list_json(&c).is_empty());
    let s = status_json(&c);
    assert_eq!(s["container"], "absent");
    assert!(s["context"].is_null());
    // Deleting again is fine.
    c.minik_ok(&["delete", "-p", &c.profile]);
}
