//! `minik start`: create a cluster as an ordered list of named steps (one status line
//! each), or restart a stopped one. A failed creation removes what it created unless
//! `--retain`.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::config::{self, Names, NETWORK, NETWORK_SUBNETS, POD_SUBNET};
use super::kubeadm::{self, KubeadmParams};
use super::kubeconfig;
use super::node::{self, NodeSpec, Privilege};
use super::{find, lock_profile, NodeInfo};
use crate::addons;
use crate::error::{CommandFailed, Hinted};
use crate::k8s;
use crate::runtime::{self, Runtime};
use crate::ui::{human_duration, Ui};

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct StartOptions {
    pub profile: String,
    /// The node image; None means the default (and does not conflict with an existing cluster).
    pub image: Option<String>,
    pub cpus: Option<f64>,
    pub memory: Option<u64>,
    pub retain: bool,
    pub wait: Duration,
    pub keep_context: bool,
    pub kubeconfig: kubeconfig::Chain,
}

/// What `start` did.
#[derive(Debug)]
pub struct StartReport {
    pub created: bool,
    pub endpoint: String,
    pub context: String,
    pub elapsed: Duration,
}

/// The creation steps, in order. Reading this list tells where `minik start` spends its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StepKind {
    EnsureImage,
    PrepareNode,
    StartNode,
    StartControlPlane,
    InstallCni,
    WriteKubeconfig,
    EnableAddons,
    WaitReady,
}

impl StepKind {
    fn title(self) -> &'static str {
        match self {
            StepKind::EnsureImage => "Ensuring node image",
            StepKind::PrepareNode => "Preparing node",
            StepKind::StartNode => "Starting node",
            StepKind::StartControlPlane => "Starting control-plane",
            StepKind::InstallCni => "Installing CNI",
            StepKind::WriteKubeconfig => "Writing kubeconfig",
            StepKind::EnableAddons => "Enabling default add-ons",
            StepKind::WaitReady => "Waiting for node Ready",
        }
    }
}

/// The step list for a new cluster.
fn creation_steps(opts: &StartOptions) -> Vec<StepKind> {
    use StepKind::*;
    let mut steps = vec![
        EnsureImage,
        PrepareNode,
        StartNode,
        StartControlPlane,
        InstallCni,
        WriteKubeconfig,
        EnableAddons,
    ];
    if !opts.wait.is_zero() {
        steps.push(WaitReady);
    }
    steps
}

/// The step list for a node whose creation was interrupted after kubeadm: the remaining
/// steps, each safe to run again.
fn resume_steps(opts: &StartOptions) -> Vec<StepKind> {
    use StepKind::*;
    let mut steps = vec![StartNode, InstallCni, WriteKubeconfig, EnableAddons];
    if !opts.wait.is_zero() {
        steps.push(WaitReady);
    }
    steps
}

/// The step list for a stopped cluster: no kubeadm, the data on /var is reused.
fn restart_steps(opts: &StartOptions) -> Vec<StepKind> {
    use StepKind::*;
    let mut steps = vec![StartNode, WriteKubeconfig];
    if !opts.wait.is_zero() {
        steps.push(WaitReady);
    }
    steps
}

/// Creates the cluster, or restarts it when it exists and is stopped.
pub async fn start(rt: &Runtime, ui: &Ui, opts: &StartOptions) -> Result<StartReport> {
    config::validate_profile(&opts.profile)?;
    let _lock = lock_profile(&opts.profile)?;
    let started = Instant::now();
    let names = Names::new(&opts.profile);
    let mut existing = find(rt, &opts.profile).await?;
    let creation = match &existing {
        Some(node) => Some(super::creation(rt, node).await?),
        None => None,
    };
    let recreate;
    let mut opts = opts;
    if creation == Some(super::Creation::Interrupted) {
        // kubeadm may have run half-way: nothing on the node can be trusted.
        ui.warn(format!(
            "cluster {:?} was not completely created (an earlier start was interrupted): creating it anew",
            opts.profile
        ));
        let image = existing.as_ref().map(|n| n.image.clone());
        rt.remove_container(&names.container).await?;
        rt.remove_volume(&names.volume).await?;
        existing = None;
        // Anew, but on the image it was being created from.
        recreate = StartOptions {
            image: opts.image.clone().or(image.filter(|i| !i.is_empty())),
            ..opts.clone()
        };
        opts = &recreate;
    }
    let resume = creation == Some(super::Creation::ControlPlaneDone);
    if resume {
        ui.note(format!(
            "cluster {:?} was interrupted after its control plane started: finishing it",
            opts.profile
        ));
    }
    let restart = existing.is_some();
    let was_running = existing.as_ref().is_some_and(|n| n.running());
    if let (Some(node), Some(image)) = (&existing, &opts.image) {
        if image != &node.image {
            ui.warn(format!("cluster {:?} exists (image {}); --image and resource flags apply only when it is created", opts.profile, node.image));
        }
    }
    let mut run = Run {
        rt,
        ui,
        opts,
        names,
        node: existing,
        started,
        was_running,
        needs_sa_token: false,
        created: Created::default(),
    };
    let steps = if resume {
        run.needs_sa_token = run.version_needs_sa_token().await;
        resume_steps(opts)
    } else if restart {
        restart_steps(opts)
    } else {
        creation_steps(opts)
    };
    if !restart {
        check_resources(rt, opts).await?;
    }
    for kind in steps {
        let step = ui.step(kind.title());
        match run.step(kind).await {
            Ok(Some(detail)) => step.done_with(detail),
            Ok(None) => step.done(),
            Err(err) => {
                step.fail();
                if !restart {
                    run.roll_back().await;
                }
                let profile = &opts.profile;
                let err = if restart {
                    err.context(format!("cannot restart cluster {profile:?}"))
                } else {
                    err.context(format!("cannot create cluster {profile:?}"))
                };
                return Err(err);
            }
        }
    }
    let node = run.node.as_ref().expect("node known after its steps");
    Ok(StartReport {
        created: !restart,
        endpoint: node.endpoint().unwrap_or_default(),
        context: run.names.context.clone(),
        elapsed: started.elapsed(),
    })
}

async fn check_resources(rt: &Runtime, opts: &StartOptions) -> Result<()> {
    const MIN_MEMORY: u64 = 1536 << 20;
    let (host_memory, host_cpus) = rt.host_resources().await?;
    if let Some(m) = opts.memory {
        if m < MIN_MEMORY {
            return Err(Hinted::new(
                format!(
                    "--memory {} MiB is not enough for a Kubernetes node",
                    m >> 20
                ),
                "give the node at least 1536m; 4g leaves room for Spark",
            )
            .into());
        }
        if host_memory > 0 && m > host_memory {
            return Err(Hinted::new(
                format!(
                    "--memory {} MiB is more than the Docker engine has ({} MiB)",
                    m >> 20,
                    host_memory >> 20
                ),
                "ask for less memory, or give Docker more (Docker Desktop: Settings → Resources)",
            )
            .into());
        }
    } else if host_memory > 0 && host_memory < MIN_MEMORY {
        return Err(Hinted::new(
            format!(
                "the Docker engine has only {} MiB of memory",
                host_memory >> 20
            ),
            "a Kubernetes node needs at least 1536 MiB; give Docker more memory",
        )
        .into());
    }
    if let Some(c) = opts.cpus {
        if c <= 0.0 || (host_cpus > 0 && c > host_cpus as f64) {
            return Err(Hinted::new(
                format!("--cpus {c} is not possible: the Docker engine has {host_cpus} CPUs"),
                format!("pass a number between 0.5 and {host_cpus}"),
            )
            .into());
        }
    }
    Ok(())
}

/// What this run created, so that a failure can remove exactly that.
#[derive(Default)]
struct Created {
    network: bool,
    volume: bool,
    container: bool,
    kubeconfig: bool,
}

struct Run<'a> {
    rt: &'a Runtime,
    ui: &'a Ui,
    opts: &'a StartOptions,
    names: Names,
    node: Option<NodeInfo>,
    started: Instant,
    /// The node was already running: its Ready is current, not left over from a stop.
    was_running: bool,
    /// Before v1.24 a pod needs its service account's token secret to exist.
    needs_sa_token: bool,
    created: Created,
}

impl Run<'_> {
    async fn step(&mut self, kind: StepKind) -> Result<Option<String>> {
        match kind {
            StepKind::EnsureImage => self.ensure_image().await,
            StepKind::PrepareNode => self.prepare_node().await,
            StepKind::StartNode => self.start_node().await,
            StepKind::StartControlPlane => self.start_control_plane().await,
            StepKind::InstallCni => {
                self.apply_manifest("/kind/manifests/default-cni.yaml")
                    .await
            }
            StepKind::WriteKubeconfig => self.write_kubeconfig().await,
            StepKind::EnableAddons => self.enable_addons().await,
            StepKind::WaitReady => self.wait_ready().await,
        }
    }

    fn container(&self) -> &str {
        &self.names.container
    }

    fn image(&self) -> String {
        self.opts
            .image
            .clone()
            .unwrap_or_else(|| config::default_image().to_string())
    }

    async fn ensure_image(&mut self) -> Result<Option<String>> {
        let image = &self.image();
        if self.rt.image_id(image).await?.is_some() {
            return Ok(None);
        }
        let mut bars = std::collections::HashMap::new();
        let pulled = self
            .rt
            .pull(image, |p| {
                let bar = bars
                    .entry(p.layer.clone())
                    .or_insert_with(|| self.ui.bytes(p.layer.clone(), None));
                if p.total > 0 {
                    bar.set_length(p.total);
                    bar.set_position(p.current);
                }
                bar.set_message(format!("{} {}", p.layer, p.status));
            })
            .await;
        bars.values().for_each(|b| b.finish());
        pulled.map_err(|e| {
            Hinted::new(
                format!("node image {image} is not present and cannot be pulled"),
                format!(
                    "on a machine with registry access run `docker pull {image}` and `docker save -o node.tar {image}`, \
                     then `docker load -i node.tar` here; or pass --image with a node image this engine has"
                ),
            )
            .caused_by(e)
        })?;
        Ok(Some("pulled".into()))
    }

    async fn prepare_node(&mut self) -> Result<Option<String>> {
        let rt = self.rt;
        // Also makes concurrent creations pick different addresses and ports.
        let _network = super::lock_network()?;
        let labels = std::collections::HashMap::from([(
            config::LABEL_CLUSTER.to_string(),
            "shared".to_string(),
        )]);
        let network_existed = rt.network_subnet(NETWORK).await?.is_some();
        let subnet = rt.ensure_network(NETWORK, NETWORK_SUBNETS, labels).await?;
        self.created.network = !network_existed;

        // Addresses and ports of every other minik node, running or stopped: they keep theirs.
        let others = super::list(rt).await?;
        let used_ips: Vec<String> = others.iter().filter_map(|n| n.ip.clone()).collect();
        let ip = node::pick_ip(&subnet, &used_ips)?;
        let used_ports: Vec<u16> = others.iter().filter_map(|n| n.api_port).collect();
        let api_port = free_port(&used_ports)?;

        if rt.volume_exists(&self.names.volume).await? {
            // Left over from an interrupted delete: a fresh cluster must not inherit its etcd.
            rt.remove_volume(&self.names.volume).await?;
        }
        let vol_labels = std::collections::HashMap::from([(
            config::LABEL_CLUSTER.to_string(),
            self.opts.profile.clone(),
        )]);
        rt.create_volume(&self.names.volume, vol_labels).await?;
        self.created.volume = true;

        let spec = NodeSpec {
            names: self.names.clone(),
            image: self.image(),
            ip,
            api_port,
            cpus: self.opts.cpus,
            memory: self.opts.memory,
            privilege: Privilege::Privileged,
            host_modules: std::path::Path::new("/lib/modules").is_dir(),
            kmsg: std::path::Path::new("/dev/kmsg").exists(),
        };
        self.create_container(&spec).await?;
        Ok(Some(format!("{} on 127.0.0.1:{api_port}", spec.ip)))
    }

    /// Creates the node privileged; where the engine refuses that, recreates it with the
    /// explicit set of everything it can grant.
    async fn create_container(&mut self, spec: &NodeSpec) -> Result<()> {
        let rt = self.rt;
        rt.create_container(self.container(), node::container_body(spec))
            .await
            .map_err(|e| {
                if runtime::is_conflict(&e) {
                    anyhow::Error::new(
                        Hinted::new(
                            format!("a container named {} already exists", self.container()),
                            "it is not a minik node; remove or rename it",
                        )
                        .caused_by(e),
                    )
                } else {
                    e
                }
            })?;
        self.created.container = true;
        match rt.start_container(self.container()).await {
            Ok(()) => {}
            Err(e) if node::is_privilege_refusal(&e) => {
                rt.remove_container(self.container()).await?;
                let dropped = node::locally_missing_capabilities();
                let fallback = NodeSpec {
                    privilege: Privilege::Explicit {
                        dropped: dropped.clone(),
                    },
                    ..spec.clone()
                };
                self.ui.note(format!(
                    "--privileged is refused by this Docker engine; using all grantable capabilities instead{}",
                    if dropped.is_empty() { String::new() } else { format!(" (all but {})", dropped.join(", ")) }
                ));
                rt.create_container(self.container(), node::container_body(&fallback))
                    .await?;
                rt.start_container(self.container())
                    .await
                    .map_err(|e| self.explain_start_failure(e))?;
            }
            Err(e) => return Err(self.explain_start_failure(e)),
        }
        self.node = find(rt, &self.opts.profile).await?;
        Ok(())
    }

    fn explain_start_failure(&self, e: anyhow::Error) -> anyhow::Error {
        let text = format!("{e:#}");
        if text.contains("port is already allocated") || text.contains("address already in use") {
            return Hinted::new(
                "the API server port was taken while the node started",
                "run `minik start` again; it picks another free port",
            )
            .caused_by(text)
            .into();
        }
        e
    }

    async fn start_node(&mut self) -> Result<Option<String>> {
        let rt = self.rt;
        if let Err(e) = rt.start_container(self.container()).await {
            let text = format!("{e:#}");
            let port = self.node.as_ref().and_then(|n| n.api_port);
            if let (Some(port), true) = (
                port,
                text.contains("address already in use")
                    || text.contains("port is already allocated"),
            ) {
                return Err(Hinted::new(
                    format!("the cluster's API server port 127.0.0.1:{port} is taken by another process"),
                    format!(
                        "free it (`ss -ltnp 'sport = :{port}'` shows which process holds it), then run `minik start -p {}` again",
                        self.opts.profile
                    ),
                )
                .caused_by(text)
                .into());
            }
            return Err(e);
        }
        // The node is up when systemd has started containerd: a real condition, polled.
        let t0 = Instant::now();
        let container = self.container().to_string();
        let ready = k8s::wait_for(Duration::from_secs(90), Duration::from_millis(100), || {
            let container = container.clone();
            async move {
                let info = rt.inspect_container(&container).await?;
                let running = info
                    .as_ref()
                    .and_then(|c| c.state.as_ref())
                    .and_then(|s| s.running)
                    .unwrap_or(false);
                if !running {
                    anyhow::bail!("the node container stopped while booting");
                }
                Ok(rt
                    .exec(
                        &container,
                        &["systemctl", "is-active", "--quiet", "containerd"],
                        None,
                    )
                    .await?
                    .exit_code
                    == 0)
            }
        })
        .await;
        if let Err(last) = ready {
            let logs = rt
                .exec(&container, &["journalctl", "--no-pager", "-n", "30"], None)
                .await
                .map(|o| o.output)
                .unwrap_or_default();
            // The timeout is the error; the last failed check is what caused it.
            let timeout =
                anyhow::anyhow!("containerd did not become active in the node within 90s\n{logs}");
            let e = match last {
                Some(last) => last.context(timeout.to_string()),
                None => timeout,
            };
            return Err(Hinted::new(
                "the node did not boot",
                format!("see `minik logs -p {}`", self.opts.profile),
            )
            .caused_by(e)
            .into());
        }
        self.node = find(rt, &self.opts.profile).await?;
        Ok(Some(format!("booted in {}", human_duration(t0.elapsed()))))
    }

    async fn start_control_plane(&mut self) -> Result<Option<String>> {
        let rt = self.rt;
        let c = self.container().to_string();
        let version_text = rt
            .exec_ok(&c, &["cat", "/kind/version"])
            .await
            .context("the node image has no /kind/version: is it a kind node image?")?
            .stdout;
        let version = config::KubeVersion::parse(&version_text)?;
        let containerd_config = rt
            .exec(&c, &["cat", "/etc/containerd/config.toml"], None)
            .await?
            .stdout;
        let node = self.node.as_ref().context("node not created")?;
        let params = KubeadmParams {
            version,
            cluster_name: self.names.context.clone(),
            node_name: self.names.container.clone(),
            node_ip: node
                .ip
                .clone()
                .context("the node has no address on the minik network")?,
            cgroup_driver: kubeadm::cgroup_driver_from_containerd_config(&containerd_config)
                .to_string(),
        };
        let conf = kubeadm::render(&params);
        self.ui.detail(format!("kubeadm configuration:\n{conf}"));
        rt.exec_ok_with_input(
            &c,
            &["sh", "-c", "cat > /kind/kubeadm.conf"],
            Some(Box::new(std::io::Cursor::new(conf.into_bytes()))),
        )
        .await?;

        // Without a preloaded CoreDNS image an air-gapped node would leave it in
        // ImagePullBackOff forever: skip it and say so.
        let images = rt
            .exec(
                &c,
                &[&node::CTR[..], &["images", "ls", "-q"]].concat(),
                None,
            )
            .await?
            .stdout;
        // preflight: needs crictl, which kind images do not all have (kind skips it too).
        // kubelet-finalize: only repoints kubelet.conf at the rotated client certificate and
        // restarts the kubelet, which costs the node its Ready for several seconds; a local
        // cluster's certificates (kubeadm's, one year) outlive that certificate anyway.
        let mut skip = vec!["preflight", "kubelet-finalize"];
        if !images.lines().any(|l| l.contains("/coredns")) {
            skip.push("addon/coredns");
            self.ui.warn(
                "the node image has no CoreDNS image preloaded: cluster DNS is not installed",
            );
        }
        let cmd = format!(
            "kubeadm init --config=/kind/kubeadm.conf --skip-phases={} --skip-token-print --v=6 > {log} 2>&1; \
             rc=$?; [ $rc -eq 0 ] || tail -n 60 {log}; exit $rc",
            skip.join(","),
            log = node::KUBEADM_LOG
        );
        rt.exec_ok(&c, &["sh", "-c", &cmd]).await.map_err(|e| {
            Hinted::new(
                "kubeadm init failed in the node",
                format!(
                    "see `minik logs -p {}`; keep the node for inspection with --retain",
                    self.opts.profile
                ),
            )
            .caused_by(e)
        })?;
        // Pods cannot be created before their namespace's default service account exists.
        // The controller-manager makes it once all its controllers are up, which on v1.20
        // can take 10 s more (its node IPAM controller polls before its first list); create
        // it now, the way the controller would.
        let sa = rt
            .exec(
                &c,
                &node::kubectl(&["create", "serviceaccount", "default", "-n", "default"]),
                None,
            )
            .await?;
        if sa.exit_code != 0
            && !sa.output.contains("AlreadyExists")
            && !sa.output.contains("already exists")
        {
            return Err(CommandFailed {
                command: "kubectl create serviceaccount default".into(),
                exit_code: sa.exit_code,
                output: sa.output,
            }
            .into());
        }
        self.needs_sa_token = !version.at_least(1, 24);
        self.mark(config::MARK_CONTROL_PLANE).await?;
        Ok(Some(version.to_string()))
    }

    async fn apply_manifest(&mut self, path: &str) -> Result<Option<String>> {
        let rt = self.rt;
        let c = self.container().to_string();
        let read = rt.exec(&c, &["cat", path], None).await?;
        if read.exit_code != 0 {
            return Ok(Some("none in the node image".into()));
        }
        let manifest = render_manifest(&read.stdout);
        rt.exec_ok_with_input(
            &c,
            &node::kubectl(&["apply", "-f", "-"]),
            Some(Box::new(std::io::Cursor::new(manifest.into_bytes()))),
        )
        .await?;
        Ok(None)
    }

    /// The add-ons a new cluster starts with (storage): applied, not waited for, so that
    /// they come up while the node gets Ready. Node-file add-ons the image lacks are skipped.
    async fn enable_addons(&mut self) -> Result<Option<String>> {
        let client = k8s::client(&self.names.context, k8s::Timeouts::Short).await?;
        let quiet = Ui::new(crate::ui::Level::Quiet);
        let mut enabled = Vec::new();
        for addon in addons::REGISTRY.iter().filter(|a| a.default_enabled) {
            if let addons::Source::NodeFile(path) = addon.source {
                let has = self
                    .rt
                    .exec(self.container(), &["test", "-f", path], None)
                    .await?;
                if has.exit_code != 0 {
                    continue;
                }
            }
            let opts = addons::EnableOptions {
                values_file: None,
                sets: vec![],
                images: vec![],
                wait: None,
                node: Some(addons::Node {
                    rt: self.rt,
                    container: self.container().to_string(),
                }),
            };
            addons::enable(&client, &quiet, addon, &opts)
                .await
                .with_context(|| format!("cannot enable the {} add-on", addon.name))?;
            enabled.push(addon.name);
        }
        self.mark(config::MARK_CREATED).await?;
        Ok(Some(if enabled.is_empty() {
            "none for this node image".to_string()
        } else {
            enabled.join(", ")
        }))
    }

    /// Records on the node's volume that creation got this far.
    async fn mark(&self, path: &str) -> Result<()> {
        let script = format!("mkdir -p \"$(dirname {path})\" && touch {path} && sync");
        self.rt
            .exec_ok(self.container(), &["sh", "-c", &script])
            .await
            .context("cannot record the creation's progress on the node")?;
        Ok(())
    }

    /// Before v1.24 pods need their service account's token secret.
    async fn version_needs_sa_token(&self) -> bool {
        let Ok(out) = self
            .rt
            .exec_ok(self.container(), &["cat", "/kind/version"])
            .await
        else {
            return false;
        };
        config::KubeVersion::parse(&out.stdout).is_ok_and(|v| !v.at_least(1, 24))
    }

    async fn write_kubeconfig(&mut self) -> Result<Option<String>> {
        let node = self.node.as_ref().context("node not created")?;
        let entry = node::admin_entry(self.rt, node, &self.names.context).await?;
        let file = kubeconfig::upsert(&self.opts.kubeconfig, &entry, !self.opts.keep_context)?;
        self.created.kubeconfig = true;
        Ok(Some(format!(
            "context {} in {}",
            self.names.context,
            file.display()
        )))
    }

    async fn wait_ready(&mut self) -> Result<Option<String>> {
        let client = k8s::client(&self.names.context, k8s::Timeouts::Short).await?;
        let since = self.started;
        // A restarted node still shows the Ready stored before it stopped: count only
        // heartbeats sent since this start began.
        let fresh_since =
            (!self.was_running).then(|| unix_now() - since.elapsed().as_secs() as i64);
        let needs_token = self.needs_sa_token;
        let waited = k8s::wait_for(self.opts.wait, Duration::from_millis(250), || {
            let client = client.clone();
            // Ready means usable: a pod can be created right after `start` returns.
            async move {
                Ok(k8s::nodes_ready_since(&client, fresh_since).await?
                    && k8s::default_service_account(&client, needs_token).await?)
            }
        })
        .await;
        match waited {
            Ok(()) => Ok(Some(format!(
                "Ready after {}",
                human_duration(since.elapsed())
            ))),
            Err(last) => {
                let why = last.unwrap_or_else(|| anyhow::anyhow!("the node reports NotReady"));
                Err(Hinted::new(
                    format!(
                        "the node was not Ready within {}",
                        humantime::format_duration(self.opts.wait)
                    ),
                    format!(
                        "see `minik logs -p {}`; wait longer with --wait 10m",
                        self.opts.profile
                    ),
                )
                .caused_by(why)
                .into())
            }
        }
    }

    /// Removes what this run created, unless --retain.
    async fn roll_back(&mut self) {
        let profile = &self.opts.profile;
        if self.opts.retain {
            if self.created.container {
                self.ui.warn(format!(
                    "kept the node for inspection (--retain): `minik logs -p {profile}`, `minik ssh -p {profile}`; remove it with `minik delete -p {profile}`"
                ));
            }
            return;
        }
        let rt = self.rt;
        if self.created.kubeconfig {
            if let Err(e) = kubeconfig::remove(&self.opts.kubeconfig, &self.names.context) {
                self.ui
                    .warn(format!("cannot remove kubeconfig entries: {e:#}"));
            }
        }
        if self.created.container {
            if let Err(e) = rt.remove_container(&self.names.container).await {
                self.ui.warn(format!(
                    "cannot remove container {}: {e:#}",
                    self.names.container
                ));
            }
        }
        if self.created.volume {
            if let Err(e) = rt.remove_volume(&self.names.volume).await {
                self.ui
                    .warn(format!("cannot remove volume {}: {e:#}", self.names.volume));
            }
        }
        if self.created.network {
            if let Ok(_network) = super::lock_network() {
                let _ = rt.remove_network_if_unused(NETWORK).await;
            }
        }
        self.ui
            .note("removed what this start created (keep it next time with --retain)");
    }
}

/// Fills the template variables kind node images use in their manifests.
fn render_manifest(text: &str) -> String {
    text.replace("{{ .PodSubnet }}", POD_SUBNET)
        .replace("{{.PodSubnet}}", POD_SUBNET)
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A free TCP port on 127.0.0.1 that no other minik node has claimed.
fn free_port(claimed: &[u16]) -> Result<u16> {
    for _ in 0..50 {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
            .context("cannot find a free port on 127.0.0.1")?;
        let port = listener.local_addr()?.port();
        if !claimed.contains(&port) {
            return Ok(port);
        }
    }
    anyhow::bail!("cannot find a free port on 127.0.0.1")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(wait: Duration) -> StartOptions {
        StartOptions {
            profile: "dev".into(),
            image: None,
            cpus: None,
            memory: None,
            retain: false,
            wait,
            keep_context: false,
            kubeconfig: kubeconfig::Chain {
                files: vec!["/tmp/x".into()],
            },
        }
    }

    #[test]
    fn creation_runs_every_step_in_order() {
        use StepKind::*;
        assert_eq!(
            creation_steps(&opts(Duration::from_secs(300))),
            [
                EnsureImage,
                PrepareNode,
                StartNode,
                StartControlPlane,
                InstallCni,
                WriteKubeconfig,
                EnableAddons,
                WaitReady
            ]
        );
        assert_eq!(
            creation_steps(&opts(Duration::ZERO)).last(),
            Some(&EnableAddons)
        );
    }

    #[test]
    fn restart_never_runs_kubeadm() {
        let steps = restart_steps(&opts(Duration::from_secs(300)));
        assert_eq!(
            steps,
            [
                StepKind::StartNode,
                StepKind::WriteKubeconfig,
                StepKind::WaitReady
            ]
        );
        assert!(!steps.contains(&StepKind::StartControlPlane));
    }

    #[test]
    fn manifests_get_the_pod_subnet() {
        assert_eq!(
            render_manifest("subnet: {{ .PodSubnet }} / {{.PodSubnet}}"),
            "subnet: 10.244.0.0/16 / 10.244.0.0/16"
        );
    }

    #[test]
    fn free_ports_avoid_claimed_ones() {
        let p = free_port(&[]).unwrap();
        assert!(p > 0);
        assert_ne!(free_port(&[p]).unwrap(), p);
    }
}
