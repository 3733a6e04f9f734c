//! `minik start`: create a cluster as an ordered list of named steps (one status line
//! each), or restart a stopped one. A failed creation removes what it created unless
//! `--retain`.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::config::NETWORK;
use super::kubeconfig;
use super::lock::{lock_network, lock_profile};
use super::names::{self, Names};
use super::state::{creation, find, Creation, NodeInfo};
use super::version::{self, KubeVersion};
use crate::error::Hinted;
use crate::runtime::Runtime;
use crate::ui::Ui;

mod cni;
mod control_plane;
mod default_addons;
mod ensure_image;
mod prepare_node;
mod start_node;
mod wait_ready;
mod write_kubeconfig;

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
    let steps = vec![
        EnsureImage,
        PrepareNode,
        StartNode,
        StartControlPlane,
        InstallCni,
        WriteKubeconfig,
        EnableAddons,
    ];
    with_wait(opts, steps)
}

/// The step list for a node whose creation was interrupted after kubeadm: the remaining
/// steps, each safe to run again.
fn resume_steps(opts: &StartOptions) -> Vec<StepKind> {
    use StepKind::*;
    with_wait(
        opts,
        vec![StartNode, InstallCni, WriteKubeconfig, EnableAddons],
    )
}

/// The step list for a stopped cluster: no kubeadm, the data on /var is reused.
fn restart_steps(opts: &StartOptions) -> Vec<StepKind> {
    use StepKind::*;
    with_wait(opts, vec![StartNode, WriteKubeconfig])
}

/// Every step list ends with the Ready wait, unless `--wait 0`.
fn with_wait(opts: &StartOptions, mut steps: Vec<StepKind>) -> Vec<StepKind> {
    if !opts.wait.is_zero() {
        steps.push(StepKind::WaitReady);
    }
    steps
}

/// Creates the cluster, or restarts it when it exists and is stopped.
pub async fn start(rt: &Runtime, ui: &Ui, opts: &StartOptions) -> Result<StartReport> {
    names::validate_profile(&opts.profile)?;
    let _lock = lock_profile(&opts.profile)?;
    let started = Instant::now();
    let names = Names::new(&opts.profile);
    let mut existing = find(rt, &opts.profile).await?;
    let creation = match &existing {
        Some(node) => Some(creation(rt, node).await?),
        None => None,
    };
    let recreate;
    let mut opts = opts;
    if creation == Some(Creation::Interrupted) {
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
    let resume = creation == Some(Creation::ControlPlaneDone);
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
            .unwrap_or_else(|| version::default_image().to_string())
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
        KubeVersion::parse(&out.stdout).is_ok_and(|v| !v.at_least(1, 24))
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
            if let Ok(_network) = lock_network() {
                let _ = rt.remove_network_if_unused(NETWORK).await;
            }
        }
        self.ui
            .note("removed what this start created (keep it next time with --retain)");
    }
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
}
