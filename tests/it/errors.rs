//! Failures: what the user reads, and that nothing is left behind.

use crate::common::*;

/// A node image whose kubeadm fails, derived from the fixture.
fn broken_image() -> String {
    let base = node_image();
    let image = "minik-test/broken-kubeadm:v1".to_string();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("kubeadm"),
        "#!/bin/sh\necho 'kubeadm: simulated failure for minik tests' >&2\nexit 3\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!("FROM {base}\nCOPY kubeadm /usr/bin/kubeadm\nRUN chmod 755 /usr/bin/kubeadm\n"),
    )
    .unwrap();
    let out = std::process::Command::new("docker")
        .args(["build", "-q", "-t", &image])
        .arg(dir.path())
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cannot build {image}: {}",
        text(&out.stderr)
    );
    image
}

fn assert_nothing_left(c: &TestCluster) {
    assert!(!container_exists(&c.container()), "container left behind");
    assert!(!volume_exists(&c.volume()), "volume left behind");
    let config = std::fs::read_to_string(c.kubeconfig()).unwrap_or_default();
    assert!(
        !config.contains(&c.context()),
        "kubeconfig entries left behind:\n{config}"
    );
}

#[test]
fn failed_start_removes_what_it_created_unless_retained() {
    let image = broken_image();
    let c = TestCluster::new("it-broken");
    let out = c.minik(&["start", "-p", &c.profile, "--image", &image]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("✗ Starting control-plane"), "{err}");
    assert!(
        err.contains("error: cannot create cluster \"it-broken\""),
        "{err}"
    );
    assert!(err.contains("kubeadm init failed in the node"), "{err}");
    assert!(
        err.contains("simulated failure for minik tests"),
        "the node's output must be shown:\n{err}"
    );
    assert!(err.contains("hint: "), "{err}");
    assert_nothing_left(&c);

    let out = c.minik(&["start", "-p", &c.profile, "--image", &image, "--retain"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("kept the node for inspection (--retain)"));
    assert!(container_exists(&c.container()), "--retain keeps the node");
    let (_, state) = docker(&["inspect", "-f", "{{.State.Running}}", &c.container()]);
    assert_eq!(state.trim(), "true");
    c.minik_ok(&["delete", "-p", &c.profile]);
    assert_nothing_left(&c);
}

#[test]
fn missing_image_without_registry_says_how_to_load_it() {
    let c = TestCluster::new("it-noimage");
    let out = c.minik(&[
        "start",
        "-p",
        &c.profile,
        "--image",
        "minik-test/absent-node:v0",
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("node image minik-test/absent-node:v0 is not present and cannot be pulled"),
        "{err}"
    );
    assert!(
        err.contains("hint: ") && err.contains("docker load"),
        "{err}"
    );
    assert_nothing_left(&c);
}

#[test]
fn bad_input_is_refused_before_anything_is_created() {
    let c = TestCluster::new("it-input");
    // Profile names are checked by the command-line parser (clap's error, which states the
    // rule in place of a hint).
    let out = c.minik(&["start", "-p", "Bad_Name"]);
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("invalid profile name \"Bad_Name\"")
            && err.contains("use 1 to 40 lowercase letters"),
        "{err}"
    );
    let cases: [(&[&str], &str); 3] = [
        (
            &["start", "-p", "it-input", "--memory", "lots"],
            "invalid memory size \"lots\"",
        ),
        (
            &["start", "-p", "it-input", "--memory", "100t"],
            "--memory 104857600 MiB is more than the Docker engine has",
        ),
        (
            &["start", "-p", "it-input", "--kubernetes-version", "1.19"],
            "no pinned node image for Kubernetes 1.19",
        ),
    ];
    for (args, message) in cases {
        let out = c.minik(args);
        assert!(!out.status.success(), "{args:?}");
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!("error: {message}")),
            "{args:?}:\n{err}"
        );
        assert!(err.contains("hint: "), "{args:?}:\n{err}");
    }
    assert_nothing_left(&c);
    let out = c.minik(&["stop", "-p", "it-input"]);
    assert!(text(&out.stderr).contains("no cluster named \"it-input\""));
}

#[test]
fn unreachable_docker_says_so() {
    let c = TestCluster::new("it-nodocker");
    let out = c
        .minik_cmd(&["status", "-p", "it-nodocker"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("error: cannot reach the Docker engine at unix:///nonexistent/docker.sock"),
        "{err}"
    );
    assert!(err.contains("hint: is Docker running?"), "{err}");
}

#[test]
fn a_docker_endpoint_that_never_answers_fails_instead_of_hanging() {
    let c = TestCluster::new("it-mutedocker");
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("docker.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    // Accepts every connection and never answers.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            held.push(conn);
        }
    });
    let mut child = c
        .minik_cmd(&["status", "-p", "it-mutedocker"])
        .env("DOCKER_HOST", format!("unix://{}", sock.display()))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    // A bound for the test itself, not a speed target: without a connect deadline minik
    // waits 10 minutes per request.
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(90) {
            let _ = child.kill();
            panic!("minik hung on an engine that never answers");
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("error: cannot reach the Docker engine at unix://"),
        "{err}"
    );
    assert!(err.contains("hint: is Docker running?"), "{err}");
}

#[test]
fn input_is_checked_before_docker_is_contacted() {
    let c = TestCluster::new("it-input-first");
    for (args, message) in [
        (
            vec!["image", "build", "spark", "--spark-version", "3.5"],
            "3.5",
        ),
        (
            vec!["delete", "-p", "../x"],
            "invalid profile name \"../x\"",
        ),
        (
            vec!["start", "-p", "Bad_Name"],
            "invalid profile name \"Bad_Name\"",
        ),
        (
            vec!["spark", "submit", "-p", "a", "--context", "b", "x.py"],
            "cannot be used with",
        ),
    ] {
        let out = c
            .minik_cmd(&args)
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(err.contains(message), "{args:?}:\n{err}");
        assert!(
            !err.contains("cannot reach the Docker engine"),
            "{args:?}:\n{err}"
        );
    }
}

/// Starts a cluster and kills minik (SIGKILL) as soon as it announces `step`.
fn start_and_kill_at(c: &TestCluster, image: &str, step: &str) {
    use std::io::BufRead;
    let mut child = c
        .minik_cmd(&["start", "-p", &c.profile, "--image", image])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    for line in stderr.lines() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains(&format!("• {step} ...")) {
            child.kill().unwrap();
            break;
        }
    }
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "minik finished before reaching {step:?}:\n{seen}"
    );
}

fn creation_of(c: &TestCluster) -> (String, bool) {
    let out = c.minik(&["status", "-p", &c.profile, "-o", "json"]);
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        s["creation"].as_str().unwrap_or_default().to_string(),
        out.status.success(),
    )
}

#[test]
fn an_interrupted_start_is_finished_or_recreated() {
    let image = node_image();
    let c = TestCluster::new("it-interrupt");
    let p = c.profile.clone();

    // Killed while kubeadm runs: status says so, and the next start creates the node anew
    // (on the image it was being created from).
    start_and_kill_at(&c, &image, "Starting control-plane");
    let (creation, healthy) = creation_of(&c);
    assert!(
        creation.contains("interrupted before the control plane"),
        "{creation}"
    );
    assert!(!healthy, "an interrupted cluster is not healthy");
    let out = c.minik(&["start", "-p", &p]);
    let log = text(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("creating it anew") && log.contains("✓ Starting control-plane"),
        "{log}"
    );
    assert_eq!(creation_of(&c), ("complete".to_string(), true));
    c.minik_ok(&["delete", "-p", &p]);

    // Killed after kubeadm: the next start finishes the remaining steps without kubeadm.
    start_and_kill_at(&c, &image, "Installing CNI");
    let (creation, healthy) = creation_of(&c);
    assert!(
        creation.contains("interrupted after the control plane"),
        "{creation}"
    );
    assert!(!healthy);
    let out = c.minik(&["start", "-p", &p]);
    let log = text(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("finishing it"), "{log}");
    assert!(
        !log.contains("Starting control-plane"),
        "kubeadm must not run again:\n{log}"
    );
    for step in [
        "Installing CNI",
        "Writing kubeconfig",
        "Enabling default add-ons",
        "Waiting for node Ready",
    ] {
        assert!(log.contains(&format!("✓ {step}")), "missing {step}:\n{log}");
    }
    assert_eq!(creation_of(&c), ("complete".to_string(), true));
    let addons: Vec<serde_json::Value> =
        serde_json::from_str(&c.minik_ok(&["addons", "list", "-p", &p, "-o", "json"])).unwrap();
    assert!(
        addons
            .iter()
            .any(|a| a["name"] == "storage" && a["enabled"] == true),
        "{addons:?}"
    );
}
