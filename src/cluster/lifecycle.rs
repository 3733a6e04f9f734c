//! `stop`, `delete` and `status` of an existing cluster.

use std::time::Duration;

use anyhow::Result;
use serde::Serialize;

use super::config::NETWORK;
use super::kubeconfig;
use super::lock::{lock_network, lock_profile};
use super::names::Names;
use super::state::{creation, find, list, require};
use crate::k8s;
use crate::runtime::Runtime;
use crate::ui::Ui;

/// Stops the node gracefully (systemd shuts down the kubelet and containerd); the cluster's
/// data stays in its volume for the next `minik start`.
pub async fn stop(rt: &Runtime, ui: &Ui, profile: &str) -> Result<()> {
    let _lock = lock_profile(profile)?;
    let node = require(rt, profile).await?;
    let step = ui.step(format!("Stopping {}", node.container));
    if !node.running() {
        step.done_with(format!("already {}", node.state));
        return Ok(());
    }
    rt.stop_container(&node.container, Duration::from_secs(60))
        .await?;
    step.done();
    Ok(())
}

/// Deletes the cluster's container, volume and kubeconfig entries, and the shared network
/// when no other node uses it. Deleting what does not exist is not an error.
pub async fn delete(
    rt: &Runtime,
    ui: &Ui,
    profile: &str,
    kubeconfig: &kubeconfig::Chain,
) -> Result<()> {
    let _lock = lock_profile(profile)?;
    let names = Names::new(profile);
    let step = ui.step(format!("Deleting cluster {profile:?}"));
    let existed = find(rt, profile).await?.is_some();
    if existed {
        rt.remove_container(&names.container).await?;
    }
    rt.remove_volume(&names.volume).await?;
    let removed_entries = kubeconfig::remove(kubeconfig, &names.context)?;
    let _network = lock_network()?;
    if list(rt).await?.is_empty() {
        rt.remove_network_if_unused(NETWORK).await?;
    }
    if existed || removed_entries {
        step.done();
    } else {
        step.done_with("there was no such cluster");
    }
    Ok(())
}

/// What `minik status` reports.
#[derive(Debug, Serialize)]
pub struct Status {
    pub profile: String,
    /// Docker's state of the node container, or "absent".
    pub container: String,
    pub api_server: String,
    pub node: String,
    pub version: Option<String>,
    pub endpoint: Option<String>,
    pub context: Option<String>,
    pub privilege: Option<String>,
    /// How far its creation got ("complete", or what `minik start` will do about it).
    pub creation: Option<String>,
}

impl Status {
    /// Healthy = completely created, running, API answering, node Ready.
    pub fn healthy(&self) -> bool {
        self.container == "running"
            && self.api_server == "reachable"
            && self.node == "Ready"
            && self.creation.as_deref() == Some("complete")
    }
}

pub async fn status(rt: &Runtime, profile: &str, kubeconfig: &kubeconfig::Chain) -> Result<Status> {
    let names = Names::new(profile);
    let mut s = Status {
        profile: profile.to_string(),
        container: "absent".into(),
        api_server: "stopped".into(),
        node: "unknown".into(),
        version: None,
        endpoint: None,
        context: None,
        privilege: None,
        creation: None,
    };
    let Some(node) = find(rt, profile).await? else {
        return Ok(s);
    };
    s.container = node.state.clone();
    s.endpoint = node.endpoint();
    s.privilege = Some(node.privilege.clone());
    s.creation = Some(creation(rt, &node).await?.describe().to_string());
    let has_context = kubeconfig::has_context(kubeconfig, &names.context).unwrap_or(false);
    if has_context {
        s.context = Some(names.context.clone());
    }
    if !node.running() {
        return Ok(s);
    }
    if !has_context {
        s.api_server = "no kubeconfig context (run `minik start` to restore it)".into();
        return Ok(s);
    }
    let client = k8s::client(&names.context, k8s::Timeouts::Short).await?;
    match k8s::server_version(&client).await {
        Ok(v) => {
            s.api_server = "reachable".into();
            s.version = Some(v);
            s.node = match k8s::nodes_ready(&client).await {
                Ok(true) => "Ready".into(),
                Ok(false) => "NotReady".into(),
                Err(_) => "unknown".into(),
            };
        }
        Err(_) => s.api_server = "unreachable".into(),
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthy_needs_all_four() {
        let mut s = Status {
            profile: "dev".into(),
            container: "running".into(),
            api_server: "reachable".into(),
            node: "Ready".into(),
            version: None,
            endpoint: None,
            context: None,
            privilege: None,
            creation: Some("complete".into()),
        };
        assert!(s.healthy());
        s.node = "NotReady".into();
        assert!(!s.healthy());
        s.node = "Ready".into();
        s.creation = Some(super::super::state::Creation::Interrupted.describe().into());
        assert!(!s.healthy());
    }
}
