//! Shared helpers: running minik with an isolated kubeconfig, reading Docker state, and a
//! guard that deletes a test's cluster however the test ends.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Once;

/// The fixture node image (set by tests/run.sh).
pub fn node_image() -> String {
    let image = std::env::var("MINIK_TEST_NODE_IMAGE")
        .unwrap_or_else(|_| "minik-fixture/node:v1.20.2".into());
    require_docker();
    let ok = Command::new("docker")
        .args(["image", "inspect", &image])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(ok, "the fixture node image {image} is missing: build it with tests/fixture/build.sh (or run tests/run.sh)");
    image
}

/// A kubectl on the host (the one built by the fixture, or MINIK_TEST_KUBECTL).
pub fn kubectl() -> String {
    if let Ok(k) = std::env::var("MINIK_TEST_KUBECTL") {
        return k;
    }
    let out = Command::new("bash")
        .arg(fixture_dir().join("k8s-binaries.sh"))
        .output()
        .expect("run k8s-binaries.sh");
    assert!(
        out.status.success(),
        "no host kubectl: set MINIK_TEST_KUBECTL or build the fixture"
    );
    let dir = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    format!("{dir}/kubectl")
}

pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixture")
}

pub fn require_docker() {
    static CHECK: Once = Once::new();
    CHECK.call_once(|| {
        let ok = Command::new("docker").arg("info").output().map(|o| o.status.success()).unwrap_or(false);
        assert!(ok, "Docker is not reachable: these tests need a real engine (tests/fixture/docker-up.sh starts one)");
    });
}

/// A test's cluster: unique profile, private kubeconfig; deleted on drop.
pub struct TestCluster {
    pub profile: String,
    pub dir: tempfile::TempDir,
    /// KUBECONFIG for minik, when not just [`TestCluster::kubeconfig`].
    pub kubeconfig_env: Option<String>,
}

impl TestCluster {
    pub fn new(profile: &str) -> TestCluster {
        require_docker();
        let t = TestCluster {
            profile: profile.to_string(),
            dir: tempfile::tempdir().unwrap(),
            kubeconfig_env: None,
        };
        // A leftover from an earlier, killed run must not change this run's result.
        let _ = t.minik(&["delete", "-p", profile]);
        t
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kube").join("config")
    }

    pub fn context(&self) -> String {
        format!("minik-{}", self.profile)
    }

    pub fn container(&self) -> String {
        format!("minik-{}", self.profile)
    }

    pub fn volume(&self) -> String {
        format!("minik-{}-var", self.profile)
    }

    /// Runs minik with this test's private kubeconfig.
    pub fn minik(&self, args: &[&str]) -> Output {
        self.minik_cmd(args).output().expect("run minik")
    }

    pub fn minik_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_minik"));
        match &self.kubeconfig_env {
            Some(v) => cmd.env("KUBECONFIG", v),
            None => cmd.env("KUBECONFIG", self.kubeconfig()),
        };
        cmd.args(args).env_remove("MINIK_PROFILE");
        cmd
    }

    /// Runs minik and asserts success, returning stdout.
    pub fn minik_ok(&self, args: &[&str]) -> String {
        let out = self.minik(args);
        assert!(
            out.status.success(),
            "minik {args:?} failed:\nstdout:\n{}\nstderr:\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// Runs the host kubectl against this cluster's context.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new(kubectl())
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .arg("--context")
            .arg(self.context())
            .args(args)
            .output()
            .expect("run kubectl")
    }

    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        let _ = self.minik(&["delete", "-p", &self.profile]);
    }
}

/// minik's lock file of a profile (held by the test to play a concurrent minik).
pub fn profile_lock_path(profile: &str) -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache"));
    cache
        .join("minik")
        .join("locks")
        .join(format!("{profile}.lock"))
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs docker and returns (success, stdout).
pub fn docker(args: &[&str]) -> (bool, String) {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("run docker");
    (out.status.success(), text(&out.stdout))
}

pub fn container_exists(name: &str) -> bool {
    docker(&["container", "inspect", name]).0
}

pub fn volume_exists(name: &str) -> bool {
    docker(&["volume", "inspect", name]).0
}

pub fn network_exists(name: &str) -> bool {
    docker(&["network", "inspect", name]).0
}

/// Minik clusters other than `except` (whose existence keeps the shared network alive).
pub fn other_minik_nodes(except: &str) -> usize {
    let (_, out) = docker(&[
        "ps",
        "-a",
        "--filter",
        "label=io.minik.cluster",
        "--format",
        "{{.Names}}",
    ]);
    out.lines().filter(|n| *n != except).count()
}

/// Restarts the Docker engine itself, the way it was started (systemd or by hand).
pub fn restart_dockerd() {
    let systemd = Command::new("systemctl")
        .args(["is-active", "--quiet", "docker"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if systemd {
        assert!(Command::new("systemctl")
            .args(["restart", "docker"])
            .status()
            .unwrap()
            .success());
    } else {
        let _ = Command::new("pkill").args(["-x", "dockerd"]).output();
        for _ in 0..100 {
            let alive = Command::new("pgrep")
                .args(["-x", "dockerd"])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            if !alive {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        let ok = Command::new("bash")
            .arg(fixture_dir().join("docker-up.sh"))
            .status()
            .unwrap()
            .success();
        assert!(ok, "dockerd did not come back");
    }
    require_docker_now();
}

fn require_docker_now() {
    for _ in 0..60 {
        if Command::new("docker")
            .arg("info")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
        {
            return;
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    panic!("Docker did not answer after its restart");
}

/// The test HTTP server (tests/fixture/range_server.py) on 127.0.0.1, serving `root`.
pub struct HttpServer {
    pub port: u16,
    pub log: PathBuf,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl HttpServer {
    pub fn start(root: &Path, cut_first: Option<u64>) -> HttpServer {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("requests.log");
        std::fs::write(&log, "").unwrap();
        let mut cmd = Command::new("python3");
        cmd.arg(fixture_dir().join("range_server.py"))
            .arg(root)
            .arg(&log);
        if let Some(n) = cut_first {
            cmd.arg("--cut-first").arg(n.to_string());
        }
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start range_server.py");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .expect("server port");
        HttpServer {
            port,
            log,
            child,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Spark distribution assembled from PyPI's pyspark (tests/fixture/spark-dist.sh):
/// (directory holding the .tgz and .sha512, version).
pub fn spark_dist() -> (PathBuf, String) {
    let version = "3.5.9".to_string();
    if let Ok(dir) = std::env::var("MINIK_TEST_SPARK_DIST") {
        return (PathBuf::from(dir), version);
    }
    let out = Command::new("bash")
        .arg(fixture_dir().join("spark-dist.sh"))
        .arg(&version)
        .output()
        .expect("run spark-dist.sh");
    assert!(
        out.status.success(),
        "spark-dist.sh failed: {}",
        text(&out.stderr)
    );
    (
        PathBuf::from(text(&out.stdout).lines().last().unwrap().trim()),
        version,
    )
}

pub fn image_exists(image: &str) -> bool {
    docker(&["image", "inspect", image]).0
}
