//! The Kubernetes seam: clients (one kubeconfig policy), server-side apply of manifests,
//! waiting on real conditions with a diagnosis, local port forwards, and short-lived tokens.
//! Everything above it that talks to an API server goes through here.

pub mod apply;
pub mod forward;
pub mod kubeconfig;
pub mod token;
pub mod wait;

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::Node;
use kube::api::ListParams;
use kube::config::KubeConfigOptions;
use kube::{Api, Client, Config};

use crate::error::Hinted;

/// The field manager of every server-side apply minik makes.
pub const FIELD_MANAGER: &str = "minik";

/// How long requests may take: short ones fail fast, streams (logs, watches, port
/// forwards) stay quiet for long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeouts {
    Short,
    Streaming,
}

/// A client for `context` of the user's kubeconfig as kubectl reads it: every file of
/// $KUBECONFIG merged (missing ones skipped), else ~/.kube/config. The one kubeconfig
/// policy of minik (see [`kubeconfig::Chain`]): the file minik writes its
/// entries to is always part of that merge.
pub async fn client(context: &str, timeouts: Timeouts) -> Result<Client> {
    let mut config = config_for(context).await?;
    config.connect_timeout = Some(Duration::from_secs(5));
    config.read_timeout = match timeouts {
        Timeouts::Short => Some(Duration::from_secs(15)),
        Timeouts::Streaming => None,
    };
    Client::try_from(config).context("cannot build a Kubernetes client")
}

async fn config_for(context: &str) -> Result<Config> {
    let merged = kubeconfig::Chain::from_env()?.merged()?;
    let opts = KubeConfigOptions {
        context: Some(context.to_string()),
        ..Default::default()
    };
    Config::from_custom_kubeconfig(merged, &opts)
        .await
        .map_err(|e| {
            Hinted::new(
                format!("cannot use kubeconfig context {context:?}"),
                "list the contexts with `kubectl config get-contexts`; minik clusters are named minik-<profile>",
            )
            .caused_by(e)
            .into()
        })
}

/// The API server URL of a kubeconfig context.
pub async fn server_url(context: &str) -> Result<String> {
    let config = config_for(context).await?;
    Ok(config
        .cluster_url
        .to_string()
        .trim_end_matches('/')
        .to_string())
}

/// The API server's version (`v1.20.2`), which also proves it answers.
pub async fn server_version(client: &Client) -> Result<String> {
    Ok(client
        .apiserver_version()
        .await
        .context("the API server does not answer")?
        .git_version)
}

/// Whether every node reports Ready=True (and there is at least one).
pub async fn nodes_ready(client: &Client) -> Result<bool> {
    nodes_ready_since(client, None).await
}

/// Like [`nodes_ready`], but only counting reports the kubelets sent after `since` (unix
/// seconds): after a restart, the Ready stored before the stop is stale.
pub async fn nodes_ready_since(client: &Client, since: Option<i64>) -> Result<bool> {
    let nodes = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .context("cannot list nodes")?;
    Ok(!nodes.items.is_empty() && nodes.items.iter().all(|n| node_is_ready(n, since)))
}

/// Whether the `default` namespace's `default` service account is usable: pods cannot be
/// created before it exists, nor (before v1.24, `needs_token`) before its token secret does.
pub async fn default_service_account(client: &Client, needs_token: bool) -> Result<bool> {
    use k8s_openapi::api::core::v1::ServiceAccount;
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
    let sa = api
        .get_opt("default")
        .await
        .context("cannot read service accounts")?;
    Ok(sa.is_some_and(|sa| !needs_token || sa.secrets.is_some_and(|s| !s.is_empty())))
}

/// Taints the node lifecycle controller puts on nodes that are not (yet, or no longer) Ready.
const NOT_READY_TAINTS: [&str; 2] = [
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
];

/// Whether every node is Ready (counting only reports since `since`) AND schedulable: no
/// not-ready or unreachable taint left. The controller-manager lifts those taints only on
/// its next pass over the node (on v1.20 up to 13 s after Ready); a node that is Ready has
/// them lifted here instead, in one request guarded by its resourceVersion, so that a pod
/// created the moment `start` returns is scheduled at once.
pub async fn nodes_usable(client: &Client, since: Option<i64>) -> Result<bool> {
    use kube::api::{Patch, PatchParams};
    let api = Api::<Node>::all(client.clone());
    let nodes = api
        .list(&ListParams::default())
        .await
        .context("cannot list nodes")?;
    if nodes.items.is_empty() {
        return Ok(false);
    }
    let mut usable = true;
    for node in &nodes.items {
        if !node_is_ready(node, since) {
            usable = false;
            continue;
        }
        let taints = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default();
        let (stale, keep): (Vec<_>, Vec<_>) = taints
            .into_iter()
            .partition(|t| NOT_READY_TAINTS.contains(&t.key.as_str()));
        if stale.is_empty() {
            continue;
        }
        usable = false;
        let patch = serde_json::json!({
            "metadata": {"resourceVersion": node.metadata.resource_version},
            "spec": {"taints": keep},
        });
        let name = node.metadata.name.clone().unwrap_or_default();
        // A conflict means the node changed meanwhile: the next poll looks again.
        let _ = api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await;
    }
    Ok(usable)
}

pub fn node_is_ready(node: &Node, since: Option<i64>) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| {
            c.iter().any(|c| {
                c.type_ == "Ready"
                    && c.status == "True"
                    && since.is_none_or(|t| {
                        c.last_heartbeat_time
                            .as_ref()
                            .is_some_and(|h| h.0.as_second() >= t)
                    })
            })
        })
}

/// Polls until `check` returns true or `timeout` passes. Errors from `check` count as "not
/// yet" (the API server restarts during bring-up); the last one is returned on timeout.
pub async fn wait_for<F, Fut>(
    timeout: Duration,
    interval: Duration,
    mut check: F,
) -> Result<(), Option<anyhow::Error>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let deadline = Instant::now() + timeout;
    let mut last = None;
    loop {
        match check().await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => last = Some(e),
        }
        if Instant::now() >= deadline {
            return Err(last);
        }
        tokio::time::sleep(interval).await;
    }
}
