//! `minik spark submit`
//!
//! (Over 500 lines with its tests; the code alone is under 500.)

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures_util::{AsyncBufReadExt, StreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use kube::api::{DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

use super::files::{locate, main_class, Source, Stager, NODE_FILES};
use super::{pod_memory, BLOCK_MANAGER_PORT, DRIVER_PORT, MAX_APP_FILE, SERVICE_ACCOUNT};
use crate::error::Hinted;
use crate::ui::Ui;

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct SubmitOptions {
    pub image: String,
    pub namespace: String,
    pub executors: u32,
    pub executor_memory: String,
    pub executor_cores: u32,
    /// Cores requested from Kubernetes per executor (fractional on a laptop).
    pub executor_request_cores: String,
    pub driver_memory: String,
    pub conf: Vec<(String, String)>,
    pub keep: bool,
    /// spark-submit's own: --class, --name, --jars, --py-files, --files, --driver-cores.
    pub class: Option<String>,
    pub name: Option<String>,
    pub jars: Vec<String>,
    pub py_files: Vec<String>,
    pub files: Vec<String>,
    pub driver_cores: Option<String>,
    pub app: String,
    pub args: Vec<String>,
}

/// The application as checked before anything is created.
enum AppInput {
    Uri(String),
    /// A small text file for a cluster minik cannot copy files into.
    ConfigMap(String, String),
    Host(PathBuf),
}

/// Every file argument, located (and refused when it cannot work) before anything exists.
pub struct Inputs {
    app: AppInput,
    jars: Vec<Source>,
    py_files: Vec<Source>,
    files: Vec<Source>,
}

/// What the driver is given: URIs and paths it can open.
#[derive(Debug, Default)]
struct Resolved {
    app: String,
    jars: Vec<String>,
    py_files: Vec<String>,
    files: Vec<String>,
    /// Host files were staged in the node: the driver mounts them.
    mount_files: bool,
    /// The application came in a ConfigMap: the driver mounts it.
    mount_app: bool,
}

/// Refuses, before anything is created, the file arguments that cannot work.
pub fn check_inputs(o: &SubmitOptions, can_stage: bool) -> Result<Inputs> {
    let app = match locate("application", &o.app)? {
        Source::Uri(u) => AppInput::Uri(u),
        Source::Host(p) => {
            if p.extension().is_some_and(|e| e == "jar")
                && o.class.is_none()
                && main_class(&p)?.is_none()
            {
                return Err(Hinted::new(
                    format!("{} names no main class in its manifest", o.app),
                    "pass --class with the class to run, e.g. --class org.apache.spark.examples.SparkPi",
                )
                .into());
            }
            if can_stage {
                AppInput::Host(p)
            } else {
                let (_, file) = resolve_app(&o.app)?;
                let (file_name, content) = file.expect("a host file");
                AppInput::ConfigMap(file_name, content)
            }
        }
    };
    let list = |what: &str, args: &[String]| -> Result<Vec<Source>> {
        let mut out = Vec::new();
        for a in args
            .iter()
            .flat_map(|a| a.split(','))
            .filter(|a| !a.is_empty())
        {
            let s = locate(what, a)?;
            if matches!(s, Source::Host(_)) && !can_stage {
                return Err(Hinted::new(
                    format!("{what} {a} is a file on this machine, and the target is not a minik cluster"),
                    "host files travel only to minik clusters; elsewhere pass local:///path inside the image or a URL (https://, s3a://, …)",
                )
                .into());
            }
            out.push(s);
        }
        Ok(out)
    };
    Ok(Inputs {
        app,
        jars: list("--jars", &o.jars)?,
        py_files: list("--py-files", &o.py_files)?,
        files: list("--files", &o.files)?,
    })
}

/// Copies the host files into the node (those already there by content are skipped).
async fn stage(ui: &Ui, stager: Option<&Stager<'_>>, inputs: Inputs) -> Result<Resolved> {
    let mut hosts: Vec<PathBuf> = Vec::new();
    if let AppInput::Host(p) = &inputs.app {
        hosts.push(p.clone());
    }
    for s in inputs
        .jars
        .iter()
        .chain(&inputs.py_files)
        .chain(&inputs.files)
    {
        if let Source::Host(p) = s {
            hosts.push(p.clone());
        }
    }
    let mut staged = std::collections::HashMap::new();
    if let (Some(stager), false) = (stager, hosts.is_empty()) {
        ui.step_with(
            format!("Copying {} file(s) into the node", hosts.len()),
            async {
                let (mut copied, mut kept) = (0, 0);
                for p in &hosts {
                    let (node_path, fresh) = stager.stage(p).await?;
                    if fresh {
                        copied += 1
                    } else {
                        kept += 1
                    }
                    staged.insert(p.clone(), node_path);
                }
                Ok(((), Some(format!("{copied} copied, {kept} already there"))))
            },
        )
        .await?;
    }
    let uri = |s: &Source| match s {
        Source::Uri(u) => u.clone(),
        Source::Host(p) => staged[p].clone(),
    };
    let mut r = Resolved {
        jars: inputs.jars.iter().map(uri).collect(),
        py_files: inputs.py_files.iter().map(uri).collect(),
        files: inputs.files.iter().map(uri).collect(),
        mount_files: !staged.is_empty(),
        ..Default::default()
    };
    r.app = match inputs.app {
        AppInput::Uri(u) => u,
        AppInput::Host(p) => staged[&p].clone(),
        AppInput::ConfigMap(file_name, _) => {
            r.mount_app = true;
            format!("local://{APP_DIR}/{file_name}")
        }
    };
    Ok(r)
}

const APP_DIR: &str = "/opt/spark/work-dir/app";

/// Runs the application; returns its exit code. `inputs` come from [`check_inputs`] (called
/// before anything is created); `stager` copies host files into a minik node (None for other
/// clusters, which take only URIs and small text applications).
pub async fn submit(
    client: Client,
    ui: &Ui,
    opts: &SubmitOptions,
    inputs: Inputs,
    stager: Option<&Stager<'_>>,
) -> Result<i32> {
    let app_file = match &inputs.app {
        AppInput::ConfigMap(n, c) => Some((n.clone(), c.clone())),
        _ => None,
    };
    let step = ui.step(format!("Preparing namespace {}", opts.namespace));
    ensure_rbac(&client, &opts.namespace).await?;
    step.done_with(format!("service account {SERVICE_ACCOUNT}"));
    check_fits(&client, opts).await?;

    let pods: Api<Pod> = Api::namespaced(client.clone(), &opts.namespace);
    let name = format!("spark-{}", unique_suffix());
    let resolved = stage(ui, stager, inputs).await?;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &opts.namespace);
    if let Some((file_name, content)) = &app_file {
        let cm: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "minik"}},
            "data": {file_name: content},
        }))?;
        configmaps
            .create(&PostParams::default(), &cm)
            .await
            .context("cannot store the application file in a ConfigMap")?;
    }
    let pod = driver_pod(&name, opts, &resolved)?;
    let step = ui.step(format!("Starting driver {name}"));
    let created = pods.create(&PostParams::default(), &pod).await;
    let created = match created {
        Ok(p) => p,
        Err(e) => {
            step.fail();
            let _ = configmaps.delete(&name, &DeleteParams::default()).await;
            return Err(anyhow::Error::new(e).context("cannot create the driver pod"));
        }
    };
    if app_file.is_some() {
        // The ConfigMap goes with the driver pod.
        let owner = json!({"metadata": {"ownerReferences": [owner_ref(&created)]}});
        configmaps
            .patch(&name, &PatchParams::default(), &Patch::Merge(&owner))
            .await
            .context("cannot attach the ConfigMap to the driver")?;
    }
    let cleanup = Cleanup {
        pods: pods.clone(),
        name: name.clone(),
        keep: opts.keep,
    };
    let run = async {
        wait_running(&pods, &name, step).await?;
        follow(&client, &pods, &created, &name, &opts.namespace, ui).await
    };
    let result = tokio::select! {
        r = run => r,
        _ = tokio::signal::ctrl_c() => {
            ui.warn("interrupted: stopping the application");
            cleanup.delete(true).await;
            return Ok(130);
        }
    };
    match &result {
        Ok(_) => cleanup.delete(false).await,
        Err(_) => cleanup.delete(true).await,
    }
    result
}

fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}", (nanos as u64) ^ (std::process::id() as u64) << 40)
}

fn owner_ref(pod: &Pod) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "Pod", "name": pod.metadata.name, "uid": pod.metadata.uid})
}

/// `local:///path` stays in the image; a host file is sent along in a ConfigMap and
/// mounted at /opt/spark/work-dir/app.
fn resolve_app(app: &str) -> Result<(String, Option<(String, String)>)> {
    if app.contains("://") {
        return Ok((app.to_string(), None));
    }
    let path = PathBuf::from(app);
    let meta = std::fs::metadata(&path).map_err(|e| {
        Hinted::new(
            format!("application {app} is not a file on this machine"),
            "pass a host file, or local:///path for a file inside the image",
        )
        .caused_by(e)
    })?;
    if meta.len() > MAX_APP_FILE {
        return Err(Hinted::new(
            format!(
                "application {app} is {} bytes; a host file may be at most {MAX_APP_FILE} bytes",
                meta.len()
            ),
            "to clusters other than minik's, put bigger applications into an image (FROM the Spark image) and pass local:///path, or a URL",
        )
        .into());
    }
    let content = std::fs::read_to_string(&path).map_err(|e| {
        Hinted::new(
            format!("cannot read {app} as text"),
            "to clusters other than minik's, a host application travels as text in a ConfigMap (a Python file up to 1 MB); pass local:///path inside an image or a URL",
        )
        .caused_by(e)
    })?;
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .context("the application file has no name")?
        .to_string();
    Ok((
        format!("local://{APP_DIR}/{file_name}"),
        Some((file_name, content)),
    ))
}

/// The driver pod: spark-submit in client mode, reachable on its pod IP.
fn driver_pod(name: &str, o: &SubmitOptions, r: &Resolved) -> Result<Pod> {
    let driver_mem = crate::units::parse_memory(&o.driver_memory)?;
    let mut args: Vec<String> = vec![
        "/opt/spark/bin/spark-submit".into(),
        "--master".into(),
        "k8s://https://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)".into(),
        "--deploy-mode".into(),
        "client".into(),
        "--driver-memory".into(),
        o.driver_memory.clone(),
    ];
    for (flag, value) in [("--class", &o.class), ("--name", &o.name)] {
        if let Some(v) = value {
            args.extend([flag.to_string(), v.clone()]);
        }
    }
    for (flag, list) in [
        ("--jars", &r.jars),
        ("--py-files", &r.py_files),
        ("--files", &r.files),
    ] {
        if !list.is_empty() {
            args.extend([flag.to_string(), list.join(",")]);
        }
    }
    let mut conf: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in [
        ("spark.kubernetes.namespace", o.namespace.clone()),
        ("spark.kubernetes.container.image", o.image.clone()),
        (
            "spark.kubernetes.container.image.pullPolicy",
            "IfNotPresent".into(),
        ),
        (
            "spark.kubernetes.driver.pod.name",
            "$(SPARK_DRIVER_POD_NAME)".into(),
        ),
        (
            "spark.kubernetes.authenticate.driver.serviceAccountName",
            SERVICE_ACCOUNT.into(),
        ),
        // Executors reach the driver on its pod IP: no DNS needed. Spark >= 4.1 hands
        // executors the bind address, so both must be the IP.
        ("spark.driver.host", "$(SPARK_DRIVER_POD_IP)".into()),
        ("spark.driver.bindAddress", "$(SPARK_DRIVER_POD_IP)".into()),
        ("spark.driver.port", DRIVER_PORT.to_string()),
        ("spark.blockManager.port", BLOCK_MANAGER_PORT.to_string()),
        ("spark.executor.instances", o.executors.to_string()),
        ("spark.executor.memory", o.executor_memory.clone()),
        ("spark.executor.cores", o.executor_cores.to_string()),
        (
            "spark.kubernetes.executor.request.cores",
            o.executor_request_cores.clone(),
        ),
    ] {
        conf.insert(k.to_string(), v);
    }
    // In client mode the driver's cores are its pod's; Spark is told the same.
    if let Some(c) = &o.driver_cores {
        conf.insert("spark.driver.cores".into(), c.clone());
    }
    for (k, v) in &o.conf {
        conf.insert(k.clone(), v.clone());
    }
    for (k, v) in conf {
        args.push("--conf".into());
        args.push(format!("{k}={v}"));
    }
    args.push(r.app.clone());
    args.extend(o.args.iter().cloned());
    let mem = format!("{}Mi", pod_memory(driver_mem) >> 20);
    let mut pod = json!({
        "metadata": {
            "name": name,
            "labels": {"app.kubernetes.io/managed-by": "minik", "spark-role": "driver", "minik.io/spark-app": name},
        },
        "spec": {
            "serviceAccountName": SERVICE_ACCOUNT,
            "restartPolicy": "Never",
            "containers": [{
                "name": "driver",
                "image": o.image,
                "imagePullPolicy": "IfNotPresent",
                "args": args,
                "env": [
                    {"name": "SPARK_DRIVER_POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                    {"name": "SPARK_DRIVER_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                ],
                "ports": [
                    {"name": "driver", "containerPort": DRIVER_PORT},
                    {"name": "blockmanager", "containerPort": BLOCK_MANAGER_PORT},
                    {"name": "ui", "containerPort": 4040},
                ],
                "resources": {"requests": {"memory": mem, "cpu": o.driver_cores.clone().unwrap_or_else(|| "250m".into())}, "limits": {"memory": mem}},
            }],
        },
    });
    let (mut volumes, mut mounts) = (Vec::new(), Vec::new());
    if r.mount_app {
        volumes.push(json!({"name": "app", "configMap": {"name": name}}));
        mounts.push(json!({"name": "app", "mountPath": APP_DIR}));
    }
    if r.mount_files {
        volumes
            .push(json!({"name": "files", "hostPath": {"path": NODE_FILES, "type": "Directory"}}));
        mounts.push(json!({"name": "files", "mountPath": NODE_FILES, "readOnly": true}));
    }
    if !volumes.is_empty() {
        pod["spec"]["volumes"] = json!(volumes);
        pod["spec"]["containers"][0]["volumeMounts"] = json!(mounts);
    }
    Ok(serde_json::from_value(pod)?)
}

/// Namespace, service account, and a Role with exactly what the driver needs, applied
/// server-side (idempotent).
pub async fn ensure_rbac(client: &Client, ns: &str) -> Result<()> {
    let objects = [
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": SERVICE_ACCOUNT, "namespace": ns}}),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": SERVICE_ACCOUNT, "namespace": ns},
            "rules": [{
                "apiGroups": [""],
                "resources": ["pods", "services", "configmaps", "persistentvolumeclaims"],
                "verbs": ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"],
            }],
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": SERVICE_ACCOUNT, "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": SERVICE_ACCOUNT},
            "subjects": [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": ns}],
        }),
    ];
    let objects = objects
        .into_iter()
        .map(serde_json::from_value)
        .collect::<Result<Vec<kube::api::DynamicObject>, _>>()?;
    crate::k8s::apply::apply(client, &mut crate::k8s::apply::Kinds::default(), &objects)
        .await
        .with_context(|| format!("cannot prepare namespace {ns} for Spark"))?;
    Ok(())
}

/// Refuses, before anything runs, a driver or executor that no node could hold.
async fn check_fits(client: &Client, o: &SubmitOptions) -> Result<()> {
    let nodes = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .context("cannot list nodes")?;
    let largest = nodes
        .items
        .iter()
        .filter_map(|n| {
            n.status
                .as_ref()?
                .allocatable
                .as_ref()?
                .get("memory")
                .map(|q| crate::units::quantity_bytes(&q.0))
        })
        .max()
        .unwrap_or(0);
    if largest == 0 {
        return Ok(());
    }
    for (what, flag, jvm) in [
        ("driver", "--driver-memory", &o.driver_memory),
        ("executor", "--executor-memory", &o.executor_memory),
    ] {
        let need = pod_memory(crate::units::parse_memory(jvm)?);
        if need > largest {
            return Err(Hinted::new(
                format!(
                    "the {what} needs {} MiB of memory ({flag} {jvm} plus overhead) but the largest node has {} MiB allocatable",
                    need >> 20,
                    largest >> 20
                ),
                format!("ask for less with {flag}, or start a cluster with more memory (minik start --memory)"),
            )
            .into());
        }
    }
    Ok(())
}

/// Waits until the driver container runs (or has already ended). Problems that waiting
/// cannot fix (an image that cannot be pulled, too little memory on every node) fail at
/// once; a node that is still coming up (not-ready taint) is waited for.
async fn wait_running(pods: &Api<Pod>, name: &str, step: crate::ui::Step) -> Result<()> {
    let started = Instant::now();
    loop {
        let pod = pods.get(name).await.context("cannot read the driver pod")?;
        let phase = pod
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default();
        if phase == "Running" || phase == "Succeeded" || phase == "Failed" {
            step.done();
            return Ok(());
        }
        if let Some(p) = crate::k8s::wait::problem(&pod) {
            if p.fatal && p.image.is_some() {
                step.fail();
                return Err(Hinted::new(
                    format!("the driver's image cannot be pulled: {}", if p.message.is_empty() { &p.reason } else { &p.message }),
                    "build it with `minik image build spark`, or load it with `minik image load IMAGE`",
                )
                .into());
            }
            // The scheduler may report a lasting reason for a moment while the node is
            // registering; a few seconds of grace before believing it.
            if p.fatal && p.reason == "Unschedulable" && started.elapsed() > Duration::from_secs(5)
            {
                step.fail();
                return Err(Hinted::new(
                    format!("the driver pod cannot be scheduled: {}", p.message),
                    "ask for less (--driver-memory), or give the node more (minik start --memory / --cpus)",
                )
                .into());
            }
        }
        if started.elapsed() > Duration::from_secs(300) {
            step.fail();
            anyhow::bail!("the driver pod did not start within 5 minutes (phase {phase})");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// "0/1 nodes are available: 1 Insufficient memory." when the scheduler gave up on the pod.
fn unschedulable(pod: &Pod) -> Option<String> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find_map(|c| {
            (c.type_ == "PodScheduled"
                && c.status == "False"
                && c.reason.as_deref() == Some("Unschedulable"))
            .then(|| c.message.clone().unwrap_or_else(|| "unschedulable".into()))
        })
}

/// Streams the driver's log to stdout while a status line tracks the executor pods;
/// returns the driver's exit code.
async fn follow(
    client: &Client,
    pods: &Api<Pod>,
    driver: &Pod,
    name: &str,
    ns: &str,
    ui: &Ui,
) -> Result<i32> {
    let lp = LogParams {
        follow: true,
        container: Some("driver".into()),
        ..Default::default()
    };
    let mut lines = pods
        .log_stream(name, &lp)
        .await
        .context("cannot follow the driver's log")?
        .lines();
    let executors = watch_executors(
        client.clone(),
        ns.to_string(),
        driver.metadata.uid.clone().unwrap_or_default(),
        ui.clone(),
    );
    let printer = async {
        while let Some(line) = lines.next().await {
            let line = line.context("lost the driver's log")?;
            println!("{line}");
        }
        Ok::<_, anyhow::Error>(())
    };
    tokio::select! {
        r = printer => r?,
        e = executors => return Err(e),
    }
    // The log ends when the container does; its exit code is the application's.
    for _ in 0..60 {
        let pod = pods.get(name).await?;
        let terminated = pod
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|c| c.first())
            .and_then(|c| c.state.as_ref())
            .and_then(|s| s.terminated.as_ref())
            .map(|t| t.exit_code);
        if let Some(code) = terminated {
            return Ok(code);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    anyhow::bail!("the driver's log ended but its container did not terminate")
}

/// Shows the executor pods on one status line; returns an error when executors stay
/// unschedulable (the application would wait forever).
async fn watch_executors(client: Client, ns: String, driver_uid: String, ui: Ui) -> anyhow::Error {
    let pods: Api<Pod> = Api::namespaced(client, &ns);
    let lp = ListParams::default().labels("spark-role=executor");
    let mut last = String::new();
    let mut stuck_since: Option<Instant> = None;
    let live = ui.live("executors: waiting for the driver to ask for them");
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let Ok(list) = pods.list(&lp).await else {
            continue;
        };
        let mine: Vec<&Pod> = list
            .items
            .iter()
            .filter(|p| {
                p.metadata
                    .owner_references
                    .as_ref()
                    .is_some_and(|o| o.iter().any(|r| r.uid == driver_uid))
            })
            .collect();
        let count = |phase: &str| {
            mine.iter()
                .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some(phase))
                .count()
        };
        let line = format!(
            "executors: {} running, {} pending, {} done",
            count("Running"),
            count("Pending"),
            count("Succeeded") + count("Failed")
        );
        if line != last {
            // One live line on a terminal; a plain line per change otherwise.
            if ui.is_live() {
                live.set(&line);
            } else {
                ui.note(&line);
            }
            last = line;
        }
        match mine.iter().find_map(|p| {
            unschedulable(p).filter(|m| !crate::k8s::wait::unschedulable_is_transient(m))
        }) {
            Some(reason) => {
                let since = *stuck_since.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_secs(20) {
                    return Hinted::new(
                        format!("executor pods cannot be scheduled: {reason}"),
                        "ask for less (--executor-memory, --executors), or give the node more (minik start --memory / --cpus)",
                    )
                    .into();
                }
            }
            None => stuck_since = None,
        }
    }
}

/// Deletes the driver pod (its executors and ConfigMap go with it) unless --keep.
struct Cleanup {
    pods: Api<Pod>,
    name: String,
    keep: bool,
}

impl Cleanup {
    async fn delete(&self, force: bool) {
        if self.keep && !force {
            return;
        }
        let dp = DeleteParams {
            grace_period_seconds: Some(if force { 0 } else { 5 }),
            ..Default::default()
        };
        let _ = self.pods.delete(&self.name, &dp).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> SubmitOptions {
        SubmitOptions {
            image: "minik/spark:3.5.9-java17".into(),
            namespace: "default".into(),
            executors: 2,
            executor_memory: "512m".into(),
            executor_cores: 1,
            executor_request_cores: "0.2".into(),
            driver_memory: "512m".into(),
            conf: vec![("spark.executor.memory".into(), "768m".into())],
            keep: false,
            class: None,
            name: None,
            jars: vec![],
            py_files: vec![],
            files: vec![],
            driver_cores: None,
            app: "local:///opt/spark/examples/src/main/python/pi.py".into(),
            args: vec!["100".into()],
        }
    }

    #[test]
    fn driver_pod_runs_client_mode_on_its_pod_ip() {
        let o = opts();
        let pod = serde_json::to_value(
            driver_pod(
                "spark-x",
                &o,
                &Resolved {
                    app: o.app.clone(),
                    ..Default::default()
                },
            )
            .unwrap(),
        )
        .unwrap();
        let args: Vec<String> =
            serde_json::from_value(pod["spec"]["containers"][0]["args"].clone()).unwrap();
        let joined = args.join(" ");
        assert!(joined.starts_with("/opt/spark/bin/spark-submit --master k8s://https://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT) --deploy-mode client"));
        for c in [
            "spark.driver.host=$(SPARK_DRIVER_POD_IP)",
            "spark.driver.bindAddress=$(SPARK_DRIVER_POD_IP)",
            "spark.kubernetes.driver.pod.name=$(SPARK_DRIVER_POD_NAME)",
            "spark.kubernetes.container.image.pullPolicy=IfNotPresent",
            "spark.executor.instances=2",
            "spark.kubernetes.executor.request.cores=0.2",
            // --conf wins over the defaults.
            "spark.executor.memory=768m",
        ] {
            assert!(args.contains(&c.to_string()), "{c} missing from {joined}");
        }
        assert!(!args.contains(&"spark.executor.memory=512m".to_string()));
        assert!(joined.ends_with("local:///opt/spark/examples/src/main/python/pi.py 100"));
        assert_eq!(pod["spec"]["serviceAccountName"], "spark");
        assert_eq!(pod["spec"]["restartPolicy"], "Never");
        assert_eq!(
            pod["spec"]["containers"][0]["resources"]["requests"]["memory"],
            "896Mi"
        );
    }

    #[test]
    fn spark_submit_flags_reach_the_driver() {
        let mut o = opts();
        o.class = Some("org.x.Pi".into());
        o.name = Some("pi".into());
        o.driver_cores = Some("1".into());
        let r = Resolved {
            app: "/var/lib/minik/spark-files/ab/app.jar".into(),
            jars: vec![
                "/var/lib/minik/spark-files/cd/dep.jar".into(),
                "local:///opt/x.jar".into(),
            ],
            files: vec!["https://h/data.csv".into()],
            mount_files: true,
            ..Default::default()
        };
        let pod = serde_json::to_value(driver_pod("spark-x", &o, &r).unwrap()).unwrap();
        let args: Vec<String> =
            serde_json::from_value(pod["spec"]["containers"][0]["args"].clone()).unwrap();
        let joined = args.join(" ");
        for part in [
            "--class org.x.Pi",
            "--name pi",
            "--jars /var/lib/minik/spark-files/cd/dep.jar,local:///opt/x.jar",
            "--files https://h/data.csv",
            "--conf spark.driver.cores=1",
        ] {
            assert!(joined.contains(part), "{part} missing from {joined}");
        }
        assert!(!joined.contains("--py-files"));
        assert!(
            joined.ends_with("/var/lib/minik/spark-files/ab/app.jar 100"),
            "{joined}"
        );
        assert_eq!(pod["spec"]["volumes"][0]["hostPath"]["path"], NODE_FILES);
        assert_eq!(
            pod["spec"]["containers"][0]["resources"]["requests"]["cpu"],
            "1"
        );
    }

    #[test]
    fn inputs_that_cannot_work_are_refused_first() {
        let dir = tempfile::tempdir().unwrap();
        let jar = dir.path().join("app.jar");
        {
            let mut z = zip::ZipWriter::new(std::fs::File::create(&jar).unwrap());
            z.start_file("a/B.class", zip::write::SimpleFileOptions::default())
                .unwrap();
            z.finish().unwrap();
        }
        let mut o = opts();
        o.app = jar.to_str().unwrap().into();
        let e = crate::error::render(&check_inputs(&o, true).err().unwrap());
        assert!(
            e.contains("names no main class") && e.contains("--class"),
            "{e}"
        );
        o.class = Some("a.B".into());
        assert!(check_inputs(&o, true).is_ok());
        let e = crate::error::render(&check_inputs(&o, false).err().unwrap());
        assert!(
            e.contains("cannot read") && e.contains("clusters other than minik's"),
            "{e}"
        );
        o.app = "local:///opt/app.jar".into();
        o.jars = vec![jar.to_str().unwrap().into()];
        let e = crate::error::render(&check_inputs(&o, false).err().unwrap());
        assert!(e.contains("not a minik cluster"), "{e}");
        o.files = vec!["/no/such.csv".into()];
        let e = crate::error::render(&check_inputs(&o, true).err().unwrap());
        assert!(
            e.contains("--files /no/such.csv is not a file on this machine"),
            "{e}"
        );
    }

    #[test]
    fn host_files_travel_in_a_configmap() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("job.py");
        std::fs::write(&f, "print('hi')\n").unwrap();
        let (uri, file) = resolve_app(f.to_str().unwrap()).unwrap();
        assert_eq!(uri, "local:///opt/spark/work-dir/app/job.py");
        assert_eq!(
            file.unwrap(),
            ("job.py".to_string(), "print('hi')\n".to_string())
        );
        let big = dir.path().join("big.py");
        std::fs::write(&big, vec![b'#'; (MAX_APP_FILE + 1) as usize]).unwrap();
        assert!(
            crate::error::render(&resolve_app(big.to_str().unwrap()).unwrap_err())
                .contains("at most 1000000 bytes")
        );
        assert!(
            crate::error::render(&resolve_app("/no/such.py").unwrap_err())
                .contains("is not a file on this machine")
        );
        assert_eq!(
            resolve_app("local:///x.py").unwrap(),
            ("local:///x.py".to_string(), None)
        );
    }

    #[test]
    fn quantities() {
        assert_eq!(pod_memory(512 << 20), 896 << 20);
        assert_eq!(pod_memory(8 << 30), (8 << 30) + (8 << 30) / 10);
    }
}
