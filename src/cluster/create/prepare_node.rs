//! Step "Preparing node": the shared network, the node's /var volume, and its container (privileged, or with every capability the engine can grant).

use anyhow::{Context, Result};

use super::super::config::{self, NETWORK, NETWORK_SUBNETS};
use super::super::find;
use super::super::node::{self, NodeSpec, Privilege};
use super::Run;
use crate::error::Hinted;
use crate::runtime::{self};

impl Run<'_> {
    pub(super) async fn prepare_node(&mut self) -> Result<Option<String>> {
        let rt = self.rt;
        // Also makes concurrent creations pick different addresses and ports.
        let _network = super::super::lock::lock_network()?;
        let labels = std::collections::HashMap::from([(
            config::LABEL_CLUSTER.to_string(),
            "shared".to_string(),
        )]);
        let network_existed = rt.network_subnet(NETWORK).await?.is_some();
        let subnet = rt.ensure_network(NETWORK, NETWORK_SUBNETS, labels).await?;
        self.created.network = !network_existed;

        // Addresses and ports of every other minik node, running or stopped: they keep theirs.
        let others = super::super::state::list(rt).await?;
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
    pub(super) async fn create_container(&mut self, spec: &NodeSpec) -> Result<()> {
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

    pub(super) fn explain_start_failure(&self, e: anyhow::Error) -> anyhow::Error {
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

    #[test]
    fn free_ports_avoid_claimed_ones() {
        let p = free_port(&[]).unwrap();
        assert!(p > 0);
        assert_ne!(free_port(&[p]).unwrap(), p);
    }
}
