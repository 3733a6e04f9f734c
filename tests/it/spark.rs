//! `minik spark submit` on the fixture cluster (no cluster DNS), with the image built by
//! `minik image build spark` from the offline tarball.

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;

const TAG: &str = "minik-test/spark-submit:3.5.9";

fn submit(c: &TestCluster, args: &[&str]) -> std::process::Output {
    let mut all = vec!["spark", "submit", "-p", &c.profile, "--image", TAG];
    all.extend_from_slice(args);
    c.minik(&all)
}

fn spark_pods(c: &TestCluster) -> Vec<String> {
    let out = c.kubectl_ok(&[
        "get",
        "pods",
        "-l",
        "spark-role",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}{\"\\n\"}{end}",
    ]);
    out.lines().map(str::to_string).collect()
}

fn wait_no_spark_pods(c: &TestCluster) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let pods = spark_pods(c);
        if pods.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "Spark pods left behind: {pods:?}"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
}

#[test]
fn spark_submit_runs_drivers_and_executors_in_pods() {
    let node_image = node_image();
    let (dist, version) = spark_dist();
    let c = TestCluster::new("it-spark");
    let tarball = dist.join(format!("spark-{version}-bin-hadoop3.tgz"));
    let out = c.minik(&[
        "image",
        "build",
        "spark",
        "--spark-version",
        &version,
        "--tarball",
        tarball.to_str().unwrap(),
        "--base-image",
        "minik-fixture/jre:17",
        "--tag",
        TAG,
        "--no-load",
    ]);
    assert!(
        out.status.success(),
        "image build failed: {}",
        text(&out.stderr)
    );
    c.minik_ok(&["start", "-p", &c.profile, "--image", &node_image]);

    // 1. SparkPi with two executors; the test watches them through the API.
    let seen = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (seen, done) = (seen.clone(), done.clone());
        let kubeconfig = c.kubeconfig();
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let out = Command::new(kubectl())
                    .arg("--kubeconfig")
                    .arg(&kubeconfig)
                    .args(["get", "pods", "-l", "spark-role=executor", "--no-headers"])
                    .output()
                    .unwrap();
                let n = text(&out.stdout)
                    .lines()
                    .filter(|l| l.contains("Running"))
                    .count();
                seen.fetch_max(n, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };
    let pi = submit(
        &c,
        &[
            "--executors",
            "2",
            "local:///opt/spark/examples/src/main/python/pi.py",
            "100",
        ],
    );
    done.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    let (stdout, stderr) = (text(&pi.stdout), text(&pi.stderr));
    assert!(
        pi.status.success(),
        "pi failed:\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains("Pi is roughly 3.1"),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_eq!(
        seen.load(Ordering::Relaxed),
        2,
        "two executor pods must have run"
    );
    assert!(stderr.contains("executors: 2 running"), "{stderr}");
    wait_no_spark_pods(&c);

    // 2. A failing application: non-zero exit, the driver's error in the output.
    let dir = tempfile::tempdir().unwrap();
    let fail = dir.path().join("fail.py");
    std::fs::write(&fail, "from pyspark.sql import SparkSession\nspark = SparkSession.builder.getOrCreate()\nraise RuntimeError('minik-test-boom')\n").unwrap();
    let out = submit(&c, &["--executors", "1", fail.to_str().unwrap()]);
    assert!(!out.status.success(), "a failing application must fail");
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(all.contains("RuntimeError: minik-test-boom"), "{all}");
    assert!(all.contains("the application exited with code"), "{all}");

    // 3. A host Python file as APP, with arguments; --keep leaves the driver pod.
    let hello = dir.path().join("hello.py");
    std::fs::write(
        &hello,
        "import sys\nfrom pyspark.sql import SparkSession\nspark = SparkSession.builder.getOrCreate()\n\
         n = int(sys.argv[1])\nprint('hello from a host file:', spark.sparkContext.parallelize(range(n), 2).sum())\nspark.stop()\n",
    )
    .unwrap();
    let out = submit(
        &c,
        &["--executors", "1", "--keep", hello.to_str().unwrap(), "10"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("hello from a host file: 45"),
        "{}",
        text(&out.stdout)
    );
    let left = spark_pods(&c);
    assert!(
        left.len() == 1 || left.iter().filter(|p| !p.contains("exec")).count() == 1,
        "only the driver is kept: {left:?}"
    );
    c.kubectl_ok(&["delete", "pods", "-l", "spark-role=driver", "--wait=false"]);
    wait_no_spark_pods(&c);

    // 4. More memory than the node has: refused at once, naming the resource; no pod.
    for (flag, what) in [
        ("--executor-memory", "executor"),
        ("--driver-memory", "driver"),
    ] {
        let started = Instant::now();
        let out = submit(
            &c,
            &[
                flag,
                "200g",
                "local:///opt/spark/examples/src/main/python/pi.py",
            ],
        );
        assert!(!out.status.success());
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!("the {what} needs"))
                && err.contains("MiB of memory")
                && err.contains("hint: "),
            "{err}"
        );
        assert!(started.elapsed() < Duration::from_secs(30));
        assert!(spark_pods(&c).is_empty());
    }

    // `minik spark env` for a host-side spark-submit.
    let env = c.minik_ok(&["spark", "env", "-p", &c.profile, "--image", TAG]);
    let endpoint = serde_json::from_slice::<serde_json::Value>(
        &c.minik(&["status", "-p", &c.profile, "-o", "json"]).stdout,
    )
    .unwrap()["endpoint"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        env.contains(&format!("SPARK_K8S_MASTER=k8s://{endpoint}")),
        "{env}"
    );
    assert!(env.contains("SPARK_K8S_SERVICE_ACCOUNT=spark"), "{env}");
}
