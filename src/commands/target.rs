//! Resolves `-p PROFILE | --context CTX` to a cluster, in one place for every cluster-side
//! command: a minik profile must be running (and brings its node, for image loading); a
//! context is any cluster the user's kubeconfig reaches.

use anyhow::Result;

use crate::cli::ClusterTarget;
use crate::cluster::{self, names::Names, NodeInfo};
use crate::k8s::{self, Timeouts};
use crate::runtime::Runtime;

pub struct Target {
    pub context: String,
    /// The minik node, when the target is a minik profile.
    pub node: Option<(Runtime, NodeInfo)>,
}

impl Target {
    pub async fn resolve(t: &ClusterTarget) -> Result<Target> {
        if let Some(ctx) = &t.context {
            return Ok(Target {
                context: ctx.clone(),
                node: None,
            });
        }
        let profile = t.profile()?;
        let rt = Runtime::connect().await?;
        let node = cluster::require_running(&rt, &profile).await?;
        Ok(Target {
            context: Names::new(&profile).context,
            node: Some((rt, node)),
        })
    }

    pub async fn client(&self, timeouts: Timeouts) -> Result<kube::Client> {
        k8s::client(&self.context, timeouts).await
    }

    /// The add-on installer's view of the node.
    pub fn addon_node(&self) -> Option<crate::addons::Node<'_>> {
        self.node.as_ref().map(|(rt, n)| crate::addons::Node {
            rt,
            container: n.container.clone(),
        })
    }
}
