//! Step "Starting control-plane": kubeadm init with the config API of the node's Kubernetes version, then the default service account.

use anyhow::{Context, Result};

use super::super::config::{self};
use super::super::kubeadm::{self, KubeadmParams};
use super::super::node::{self};
use super::Run;
use crate::error::{CommandFailed, Hinted};

impl Run<'_> {
    pub(super) async fn start_control_plane(&mut self) -> Result<Option<String>> {
        let rt = self.rt;
        let c = self.container().to_string();
        let version_text = rt
            .exec_ok(&c, &["cat", "/kind/version"])
            .await
            .context("the node image has no /kind/version: is it a kind node image?")?
            .stdout;
        let version = super::super::version::KubeVersion::parse(&version_text)?;
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
}
