//! Add-ons on the real fixture cluster: default storage across stop/start, enable and disable
//! twice (idempotent, nothing left), `minik service`, `minik dashboard` through the Headlamp
//! stand-in (the real image cannot be pulled here), the missing-image error, and `--context`
//! against a cluster known only through a kubeconfig context.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

const STANDIN: &str = "minik-fixture/headlamp-standin:1";

/// A plain HTTP/1.1 GET on 127.0.0.1: (status, raw head, body).
fn http_get(port: u16, path: &str, extra_headers: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the local URL");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n{extra_headers}\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read the response");
    let raw = text(&raw);
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {raw:?}"));
    (status, head.to_string(), body.to_string())
}

/// A long-running minik command (service, dashboard): its first stdout line is the URL.
struct Running {
    child: Child,
}

impl Running {
    fn start(mut cmd: Command) -> (Running, String) {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn minik");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        if line.trim().is_empty() {
            let _ = child.kill();
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("minik printed no URL; stderr:\n{err}");
        }
        (Running { child }, line.trim().to_string())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn port_of(url: &str) -> u16 {
    url.trim_start_matches("http://127.0.0.1:")
        .split(['/', '?'])
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("not a 127.0.0.1 URL: {url}"))
}

/// Polls a pod's phase until it is `want` (Running, Succeeded); panics after `limit`.
fn wait_phase(c: &TestCluster, pod: &str, want: &str, limit: Duration) {
    let t = Instant::now();
    loop {
        let phase = c.kubectl_ok(&["get", "pod", pod, "-o", "jsonpath={.status.phase}"]);
        if phase == want {
            return;
        }
        assert!(
            t.elapsed() < limit,
            "pod {pod} is {phase:?}, not {want}, after {limit:?}:\n{}",
            text(&c.kubectl(&["describe", "pod", pod]).stdout)
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn apply(c: &TestCluster, yaml: &str) {
    let mut child = Command::new(kubectl())
        .arg("--kubeconfig")
        .arg(c.kubeconfig())
        .args(["--context", &c.context(), "apply", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(yaml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "kubectl apply: {}", text(&out.stderr));
}

/// kind/name=resourceVersion (generation for Deployments, whose status keeps moving) of
/// every object carrying the add-on's label, plus its record.
fn versions(c: &TestCluster, addon: &str) -> String {
    let label = format!("minik.io/addon={addon}");
    let objects = c.kubectl_ok(&[
        "get",
        "namespace,serviceaccount,clusterrolebinding,service,deployment",
        "-A",
        "-l",
        &label,
        "-o",
        "jsonpath={range .items[*]}{.kind}/{.metadata.name}={.metadata.resourceVersion}/{.metadata.generation} {end}",
    ]);
    let objects: Vec<String> = objects
        .split_whitespace()
        .map(|o| {
            if o.starts_with("Deployment/") {
                let (name, rv) = o.split_once('=').unwrap();
                format!("{name}=gen{}", rv.rsplit('/').next().unwrap())
            } else {
                o.to_string()
            }
        })
        .collect();
    let record = c.kubectl_ok(&[
        "get",
        "configmap",
        "-n",
        "kube-system",
        &format!("minik-addon-{addon}"),
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);
    format!("{} record={record}", objects.join(" "))
}

#[test]
fn addons_storage_service_and_dashboard_on_the_fixture() {
    let image = node_image();
    let c = TestCluster::new("it-addons");
    let p = c.profile.clone();
    c.minik_ok(&["start", "-p", &p, "--image", &image]);

    // --- storage: enabled by start; a volume outlives its pod and a stop/start ---
    let list: Vec<serde_json::Value> =
        serde_json::from_str(&c.minik_ok(&["addons", "list", "-p", &p, "-o", "json"])).unwrap();
    let storage = list.iter().find(|a| a["name"] == "storage").unwrap();
    assert_eq!(storage["enabled"], true, "{storage}");
    assert_eq!(
        c.kubectl_ok(&[
            "get",
            "storageclass",
            "standard",
            "-o",
            "jsonpath={.metadata.annotations.storageclass\\.kubernetes\\.io/is-default-class}"
        ]),
        "true"
    );
    apply(
        &c,
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data}\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 100Mi}}\n---\n\
         apiVersion: v1\nkind: Pod\nmetadata: {name: writer}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: w\n    image: minik-fixture/busybox:1.35\n    imagePullPolicy: IfNotPresent\n    command: [sh, -c, 'echo persisted > /data/hello']\n    volumeMounts: [{name: d, mountPath: /data}]\n  volumes: [{name: d, persistentVolumeClaim: {claimName: data}}]\n",
    );
    wait_phase(&c, "writer", "Succeeded", Duration::from_secs(180));
    assert_eq!(
        c.kubectl_ok(&["get", "pvc", "data", "-o", "jsonpath={.status.phase}"]),
        "Bound"
    );
    c.kubectl_ok(&["delete", "pod", "writer"]);
    c.minik_ok(&["stop", "-p", &p]);
    c.minik_ok(&["start", "-p", &p]);
    apply(
        &c,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: reader}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: r\n    image: minik-fixture/busybox:1.35\n    imagePullPolicy: IfNotPresent\n    command: [cat, /data/hello]\n    volumeMounts: [{name: d, mountPath: /data}]\n  volumes: [{name: d, persistentVolumeClaim: {claimName: data}}]\n",
    );
    wait_phase(&c, "reader", "Succeeded", Duration::from_secs(180));
    assert_eq!(c.kubectl_ok(&["logs", "reader"]).trim(), "persisted");

    // --- a real page through `minik service` ---
    c.minik_ok(&["image", "load", "-p", &p, "minik-fixture/httpd:1"]);
    apply(
        &c,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n      - name: httpd\n        image: minik-fixture/httpd:1\n        imagePullPolicy: IfNotPresent\n        ports: [{name: http, containerPort: 8080}]\n        readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}\n---\n\
         apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{name: http, port: 80, targetPort: http}]\n---\n\
         apiVersion: v1\nkind: Service\nmetadata: {name: empty}\nspec:\n  selector: {app: nothing-here}\n  ports: [{port: 80}]\n",
    );
    c.kubectl_ok(&["rollout", "status", "deployment/web", "--timeout=180s"]);
    {
        let (_svc, url) = Running::start(c.minik_cmd(&["service", "web", "-p", &p, "--url"]));
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        for _ in 0..2 {
            // Two requests: the forward serves one connection after another.
            let (status, _, body) = http_get(port_of(&url), "/", "");
            assert_eq!(status, 200);
            assert!(body.contains("hello from minik-fixture httpd"), "{body}");
        }
    }
    let err = text(&c.minik(&["service", "nope", "-p", &p, "--url"]).stderr);
    assert!(
        err.contains("no service \"nope\" in namespace default") && err.contains("web"),
        "{err}"
    );
    let err = text(
        &c.minik(&["service", "web", "-p", &p, "--url", "--port", "99"])
            .stderr,
    );
    assert!(
        err.contains("has no port \"99\"") && err.contains("http (80)"),
        "{err}"
    );
    let err = text(&c.minik(&["service", "empty", "-p", &p, "--url"]).stderr);
    assert!(
        err.contains("service default/empty has no ready pod behind it"),
        "{err}"
    );

    // --- dashboard: enable twice changes nothing; the stand-in image is loaded from the host ---
    let enable = [
        "addons",
        "enable",
        "dashboard",
        "-p",
        &p,
        "--image",
        &format!("headlamp={STANDIN}"),
    ];
    c.minik_ok(&enable);
    let first = versions(&c, "dashboard");
    assert!(first.contains("Deployment/headlamp=gen1"), "{first}");
    c.minik_ok(&enable);
    assert_eq!(
        versions(&c, "dashboard"),
        first,
        "a second enable must change nothing"
    );
    let list = c.minik_ok(&["addons", "list", "-p", &p]);
    let row = list.lines().find(|l| l.starts_with("dashboard")).unwrap();
    assert!(
        row.contains("yes") && row.contains(&format!("{STANDIN} (in node)")),
        "{list}"
    );

    {
        let (_dash, url) = Running::start(c.minik_cmd(&["dashboard", "-p", &p, "--url"]));
        let port = port_of(&url);
        let key = url
            .split("key=")
            .nth(1)
            .expect("login key in the URL")
            .to_string();
        let (status, _, body) = http_get(port, "/", "");
        assert_eq!(status, 200);
        assert!(body.contains("<title>Headlamp stand-in</title>"), "{body}");
        // Without logging in, the API server sees an anonymous user.
        let (status, _, _) = http_get(port, "/clusters/main/api/v1/namespaces", "");
        assert_eq!(status, 403, "an anonymous request must be refused");
        let (status, _, _) = http_get(port, "/minik-login?key=wrong", "");
        assert_eq!(status, 403);
        let (status, head, _) = http_get(port, &format!("/minik-login?key={key}"), "");
        assert_eq!(status, 302, "{head}");
        let cookie = head
            .lines()
            .find_map(|l| l.strip_prefix("Set-Cookie: "))
            .and_then(|c| c.split(';').next())
            .expect("login cookie")
            .to_string();
        assert!(head.contains("HttpOnly"), "{head}");
        // Logged in: the short-lived token reaches the API server and is accepted.
        let (status, _, body) = http_get(
            port,
            "/clusters/main/api/v1/namespaces",
            &format!("Cookie: {cookie}\r\n"),
        );
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("kube-system"), "{body}");
    }

    // --- disable twice: nothing with the label is left ---
    c.minik_ok(&["addons", "disable", "dashboard", "-p", &p]);
    let again = c.minik(&["addons", "disable", "dashboard", "-p", &p]);
    assert!(again.status.success());
    assert!(
        text(&again.stderr).contains("not enabled"),
        "{}",
        text(&again.stderr)
    );
    let left = c.kubectl_ok(&[
        "get",
        "namespace,serviceaccount,clusterrolebinding,service,deployment,pod,configmap",
        "-A",
        "-l",
        "minik.io/addon=dashboard",
        "-o",
        "name",
    ]);
    assert!(left.trim().is_empty(), "left behind: {left}");

    // --- the real image cannot be had here: the error names it and says how to load it ---
    let out = c.minik(&["addons", "enable", "dashboard", "-p", &p, "--wait", "3m"]);
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("ghcr.io/headlamp-k8s/headlamp:v0.45.0@sha256:db3f0e0fc58d358d41daa3fe7fc852437552c7ee873c3645470f7b86a8e0db49")
            && err.contains("hint: ")
            && err.contains("minik image load"),
        "{err}"
    );
    c.minik_ok(&["addons", "disable", "dashboard", "-p", &p]);

    // --- --context: a cluster known only through a kubeconfig context ---
    let other = c.dir.path().join("elsewhere.yaml");
    let raw = c.kubectl_ok(&["config", "view", "--raw", "--minify"]);
    std::fs::write(&other, raw.replace(&c.context(), "elsewhere")).unwrap();
    let elsewhere = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_minik"));
        cmd.args(args)
            .env("KUBECONFIG", &other)
            .env_remove("MINIK_PROFILE");
        cmd
    };
    let out = elsewhere(&[
        "addons",
        "enable",
        "dashboard",
        "--context",
        "elsewhere",
        "--image",
        &format!("headlamp={STANDIN}"),
    ])
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    {
        let (_svc, url) = Running::start(elsewhere(&[
            "service",
            "web",
            "--context",
            "elsewhere",
            "--url",
        ]));
        let (status, _, body) = http_get(port_of(&url), "/", "");
        assert_eq!(status, 200);
        assert!(body.contains("hello from minik-fixture httpd"), "{body}");
    }
    let out = elsewhere(&["addons", "enable", "storage", "--context", "elsewhere"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("comes from a minik node image"),
        "{}",
        text(&out.stderr)
    );
    let out = elsewhere(&["addons", "disable", "dashboard", "--context", "elsewhere"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn addon_input_is_checked_before_any_cluster_is_contacted() {
    let c = TestCluster::new("it-addons-input");
    let p = c.profile.clone();
    // No cluster exists: each of these must fail on the input, not on the missing cluster.
    let cases: [(&[&str], &[&str]); 4] = [
        (
            &["addons", "enable", "nope"],
            &["no add-on named \"nope\"", "dashboard"],
        ),
        (
            &["addons", "enable", "dashboard", "--set", "memory=1Gi"],
            &["no setting --set memory", "resources.memory"],
        ),
        (
            &["addons", "enable", "dashboard", "--image", "nginx=x"],
            &["no image \"nginx\"", "headlamp"],
        ),
        (
            &["addons", "list", "--context", "x"],
            &["cannot be used with"],
        ),
    ];
    for (args, wanted) in cases {
        let mut args = args.to_vec();
        args.extend(["-p", &p]);
        let err = text(&c.minik(&args).stderr);
        for w in wanted {
            assert!(err.contains(w), "{args:?}: {err}");
        }
    }
    let err = text(&c.minik(&["service", "web", "-p", "../x"]).stderr);
    assert!(err.contains("invalid profile name"), "{err}");
    let err = text(&c.minik(&["addons", "list", "-p", &p]).stderr);
    assert!(err.contains(&format!("no cluster named \"{p}\"")), "{err}");
}
