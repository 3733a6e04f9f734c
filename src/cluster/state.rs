//! A cluster's state as Docker holds it (labels are the state: there is no state file):
//! finding nodes, listing them, and how far a node's creation got.

use anyhow::Result;
use serde::Serialize;

use super::config::{self, LABEL_API_PORT, LABEL_CLUSTER, LABEL_IMAGE, LABEL_PRIVILEGE};
use super::names::Names;
use crate::error::Hinted;
use crate::runtime::models::ContainerInspectResponse;
use crate::runtime::Runtime;

/// A cluster's node container as Docker reports it.
#[derive(Debug, Clone, Serialize)]
pub struct NodeInfo {
    pub profile: String,
    pub container: String,
    /// Docker's state: running, exited, created, paused…
    pub state: String,
    pub api_port: Option<u16>,
    pub image: String,
    pub ip: Option<String>,
    pub privilege: String,
    /// The node records its creation's progress (see [`creation`]).
    #[serde(skip)]
    pub marks: bool,
}

impl NodeInfo {
    pub fn running(&self) -> bool {
        self.state == "running"
    }

    pub fn endpoint(&self) -> Option<String> {
        self.api_port.map(|p| format!("https://127.0.0.1:{p}"))
    }

    fn from_inspect(c: &ContainerInspectResponse) -> Option<NodeInfo> {
        let labels = c.config.as_ref()?.labels.as_ref()?;
        let profile = labels.get(LABEL_CLUSTER)?.clone();
        let ip = c
            .network_settings
            .as_ref()
            .and_then(|n| n.networks.as_ref())
            .and_then(|n| n.get(config::NETWORK))
            .and_then(|e| {
                e.ipam_config
                    .as_ref()
                    .and_then(|i| i.ipv4_address.clone())
                    .or_else(|| e.ip_address.clone())
            })
            .filter(|ip| !ip.is_empty());
        Some(NodeInfo {
            container: c
                .name
                .clone()
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string(),
            state: c
                .state
                .as_ref()
                .and_then(|s| s.status)
                .map(|s| s.to_string())
                .unwrap_or_else(|| "unknown".into()),
            api_port: labels.get(LABEL_API_PORT).and_then(|p| p.parse().ok()),
            image: labels.get(LABEL_IMAGE).cloned().unwrap_or_default(),
            privilege: labels.get(LABEL_PRIVILEGE).cloned().unwrap_or_default(),
            marks: labels.contains_key(config::LABEL_MARKS),
            profile,
            ip,
        })
    }
}

/// How far a node's creation got. A `minik start` killed part-way (kill -9, a closed lid,
/// power loss) leaves a node that the next start finishes or recreates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Creation {
    Complete,
    /// Interrupted after kubeadm: the next start runs the remaining steps.
    ControlPlaneDone,
    /// Interrupted before kubeadm finished: the next start creates the node anew.
    Interrupted,
}

impl Creation {
    pub fn describe(self) -> &'static str {
        match self {
            Creation::Complete => "complete",
            Creation::ControlPlaneDone => {
                "interrupted after the control plane started: `minik start` finishes it"
            }
            Creation::Interrupted => {
                "interrupted before the control plane started: `minik start` creates it anew"
            }
        }
    }
}

/// Reads the creation marks on the node's volume (running or stopped node). Nodes from
/// before the marks existed are complete.
pub async fn creation(rt: &Runtime, node: &NodeInfo) -> Result<Creation> {
    if !node.marks {
        return Ok(Creation::Complete);
    }
    if rt
        .file_exists(&node.container, config::MARK_CREATED)
        .await?
    {
        Ok(Creation::Complete)
    } else if rt
        .file_exists(&node.container, config::MARK_CONTROL_PLANE)
        .await?
    {
        Ok(Creation::ControlPlaneDone)
    } else {
        Ok(Creation::Interrupted)
    }
}

/// The node of `profile`, if it exists.
pub async fn find(rt: &Runtime, profile: &str) -> Result<Option<NodeInfo>> {
    let names = Names::new(profile);
    Ok(rt
        .inspect_container(&names.container)
        .await?
        .as_ref()
        .and_then(NodeInfo::from_inspect)
        .filter(|n| n.profile == profile))
}

/// The node of `profile`, or an error saying there is none.
pub async fn require(rt: &Runtime, profile: &str) -> Result<NodeInfo> {
    find(rt, profile).await?.ok_or_else(|| {
        Hinted::new(
            format!("no cluster named {profile:?}"),
            format!("create it with `minik start -p {profile}`; `minik list` shows the clusters there are"),
        )
        .into()
    })
}

/// The node of `profile`, which must be running.
pub async fn require_running(rt: &Runtime, profile: &str) -> Result<NodeInfo> {
    let node = require(rt, profile).await?;
    if !node.running() {
        return Err(Hinted::new(
            format!(
                "cluster {profile:?} is not running (its node is {})",
                node.state
            ),
            format!("start it with `minik start -p {profile}`"),
        )
        .into());
    }
    Ok(node)
}

/// Every minik cluster on this engine, sorted by profile.
pub async fn list(rt: &Runtime) -> Result<Vec<NodeInfo>> {
    let mut nodes = Vec::new();
    for c in rt.list_containers(&[LABEL_CLUSTER.to_string()]).await? {
        let Some(name) = c.names.as_ref().and_then(|n| n.first()) else {
            continue;
        };
        if let Some(info) = rt
            .inspect_container(name.trim_start_matches('/'))
            .await?
            .as_ref()
            .and_then(NodeInfo::from_inspect)
        {
            nodes.push(info);
        }
    }
    nodes.sort_by(|a, b| a.profile.cmp(&b.profile));
    Ok(nodes)
}
