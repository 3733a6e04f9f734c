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
        assert!(spark_pods(&c).is_empty());
    }

    // 5. A JVM application from the host, as people write them: a JAR whose manifest names
    // no main class, an extra JAR used on the executors, a data file read there.
    let jvm = tempfile::tempdir().unwrap();
    let (app_jar, extra_jar) = build_java_app(
        jvm.path(),
        &dist.join(format!("spark-{version}-bin-hadoop3.tgz")),
    );
    let data = jvm.path().join("data.txt");
    std::fs::write(&data, "minik-data-42\n").unwrap();
    let out = submit(&c, &[app_jar.to_str().unwrap(), "4"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("names no main class") && err.contains("hint: pass --class"),
        "{err}"
    );
    assert!(
        spark_pods(&c).is_empty(),
        "a refusal must come before any pod"
    );
    let jvm_args = [
        "--class",
        "minik.JavaPi",
        "--name",
        "java-pi",
        "--jars",
        extra_jar.to_str().unwrap(),
        "--files",
        data.to_str().unwrap(),
        app_jar.to_str().unwrap(),
        "4",
    ];
    let out = submit(&c, &jvm_args);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    for line in [
        "Pi is roughly 3.1",
        "helper says hello from extra.jar",
        "data file says minik-data-42",
    ] {
        assert!(stdout.contains(line), "{line} missing:\n{stdout}\n{stderr}");
    }
    assert!(stderr.contains("3 copied, 0 already there"), "{stderr}");
    wait_no_spark_pods(&c);
    // The same files again: nothing is copied.
    let out = submit(&c, &jvm_args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("0 copied, 3 already there"),
        "{}",
        text(&out.stderr)
    );
    wait_no_spark_pods(&c);

    // 6. --py-files with a package the main file imports, and --properties-file.
    let zip_path = jvm.path().join("mathx.zip");
    {
        use std::io::Write;
        let mut z = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
        z.start_file(
            "mathx/__init__.py",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        z.write_all(b"def double(x):\n    return 2 * x\n").unwrap();
        z.finish().unwrap();
    }
    let main_py = jvm.path().join("main.py");
    std::fs::write(
        &main_py,
        "from pyspark.sql import SparkSession\nimport mathx\nspark = SparkSession.builder.getOrCreate()\n\
         print('doubled:', spark.sparkContext.parallelize([0, 1, 2], 2).map(mathx.double).collect())\n\
         print('property:', spark.conf.get('spark.minik.test'))\nspark.stop()\n",
    )
    .unwrap();
    let props = jvm.path().join("spark.conf");
    std::fs::write(&props, "# from a file\nspark.minik.test=from-the-file\n").unwrap();
    let out = submit(
        &c,
        &[
            "--executors",
            "1",
            "--py-files",
            zip_path.to_str().unwrap(),
            "--properties-file",
            props.to_str().unwrap(),
            main_py.to_str().unwrap(),
        ],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("doubled: [0, 2, 4]"), "{stdout}");
    assert!(stdout.contains("property: from-the-file"), "{stdout}");
    wait_no_spark_pods(&c);

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

/// Compiles a Java SparkPi (no Main-Class in its manifest) and a helper JAR against the
/// distribution's own jars: (app.jar, extra.jar).
fn build_java_app(
    dir: &std::path::Path,
    tarball: &std::path::Path,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let run = |cmd: &mut Command| {
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{cmd:?}: {}", text(&out.stderr));
    };
    let spark = dir.join("spark");
    std::fs::create_dir_all(&spark).unwrap();
    run(Command::new("tar")
        .args(["-xzf"])
        .arg(tarball)
        .arg("-C")
        .arg(&spark)
        .args(["--wildcards", "*/jars/*"]));
    let jars = std::fs::read_dir(&spark)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("jars");
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("minik/extra")).unwrap();
    std::fs::write(
        src.join("minik/extra/Helper.java"),
        "package minik.extra;\npublic class Helper {\n  public static String greeting() { return \"hello from extra.jar\"; }\n}\n",
    )
    .unwrap();
    std::fs::write(
        src.join("minik/JavaPi.java"),
        r#"package minik;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.SparkFiles;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
public class JavaPi {
  public static void main(String[] args) throws Exception {
    SparkSession spark = SparkSession.builder().getOrCreate();
    JavaSparkContext jsc = new JavaSparkContext(spark.sparkContext());
    int slices = args.length > 0 ? Integer.parseInt(args[0]) : 2;
    int n = 100000 * slices;
    List<Integer> l = new ArrayList<>(n);
    for (int i = 0; i < n; i++) l.add(i);
    long count = jsc.parallelize(l, slices).filter(i -> {
      double x = Math.random() * 2 - 1, y = Math.random() * 2 - 1;
      return x * x + y * y <= 1;
    }).count();
    System.out.println("Pi is roughly " + 4.0 * count / n);
    List<String> g = jsc.parallelize(Arrays.asList(1, 2), 2).map(i -> minik.extra.Helper.greeting()).collect();
    System.out.println("helper says " + g.get(0));
    List<String> d = jsc.parallelize(Arrays.asList(1), 1)
        .map(i -> new String(Files.readAllBytes(Paths.get(SparkFiles.get("data.txt")))).trim()).collect();
    System.out.println("data file says " + d.get(0));
    spark.stop();
  }
}
"#,
    )
    .unwrap();
    let classes = dir.join("classes");
    std::fs::create_dir_all(&classes).unwrap();
    run(Command::new("javac")
        .arg("-cp")
        .arg(format!("{}/*", jars.display()))
        .arg("-d")
        .arg(&classes)
        .arg(src.join("minik/extra/Helper.java"))
        .arg(src.join("minik/JavaPi.java")));
    let (app, extra) = (dir.join("app.jar"), dir.join("extra.jar"));
    run(Command::new("jar")
        .arg("cf")
        .arg(&app)
        .arg("-C")
        .arg(&classes)
        .arg("minik/JavaPi.class"));
    run(Command::new("jar")
        .arg("cf")
        .arg(&extra)
        .arg("-C")
        .arg(&classes)
        .arg("minik/extra"));
    (app, extra)
}
