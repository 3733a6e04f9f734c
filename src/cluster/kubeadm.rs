//! The kubeadm configuration for a node, in the config API its Kubernetes version speaks:
//! `v1beta2` up to 1.21, `v1beta3` from 1.22, `v1beta4` from 1.31 (where extra arguments
//! became lists of name/value pairs).

use super::config::{API_PORT, POD_SUBNET, SERVICE_SUBNET};
use super::version::KubeVersion;

/// What the configuration depends on.
#[derive(Debug, Clone)]
pub struct KubeadmParams {
    pub version: KubeVersion,
    pub cluster_name: String,
    pub node_name: String,
    pub node_ip: String,
    /// "systemd" or "cgroupfs": must match the node's containerd.
    pub cgroup_driver: String,
}

/// The config API version for a Kubernetes version.
pub fn api_version(v: KubeVersion) -> &'static str {
    if v.at_least(1, 31) {
        "kubeadm.k8s.io/v1beta4"
    } else if v.at_least(1, 22) {
        "kubeadm.k8s.io/v1beta3"
    } else {
        "kubeadm.k8s.io/v1beta2"
    }
}

/// Renders a map of extra arguments in the shape the config API wants.
fn args(v: KubeVersion, indent: &str, pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (name, value) in pairs {
        if v.at_least(1, 31) {
            out.push_str(&format!(
                "{indent}- name: {name}\n{indent}  value: \"{value}\"\n"
            ));
        } else {
            out.push_str(&format!("{indent}{name}: \"{value}\"\n"));
        }
    }
    out
}

/// The full multi-document configuration passed to `kubeadm init --config`.
pub fn render(p: &KubeadmParams) -> String {
    let v = p.version;
    let api = api_version(v);
    // The node runs without CAP_SYS_RESOURCE when --privileged is refused; the kubelet only
    // warns, and kube-proxy must not try to raise nf_conntrack_max.
    let kubelet_args = args(
        v,
        "    ",
        &[
            ("node-ip", &p.node_ip),
            ("provider-id", &format!("minik://{}", p.node_name)),
        ],
    );
    // One node has no one to elect: with leader election, a restarted scheduler and
    // controller-manager first wait out the lease their pre-stop selves held (≈ 15 s on
    // restart before any pod is scheduled).
    let no_election = args(v, "    ", &[("leader-elect", "false")]);
    format!(
        r#"apiVersion: {api}
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: {ip}
  bindPort: {port}
nodeRegistration:
  name: {node}
  criSocket: unix:///run/containerd/containerd.sock
  # A single node runs every workload: no control-plane taint.
  taints: []
  kubeletExtraArgs:
{kubelet_args}---
apiVersion: {api}
kind: ClusterConfiguration
clusterName: {cluster}
kubernetesVersion: {v}
controlPlaneEndpoint: {ip}:{port}
apiServer:
  certSANs: [localhost, 127.0.0.1, {ip}]
controllerManager:
  extraArgs:
{no_election}scheduler:
  extraArgs:
{no_election}networking:
  podSubnet: {pods}
  serviceSubnet: {services}
  dnsDomain: cluster.local
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: {cgroup}
failSwapOn: false
# Notice readiness within a second (the default 10s is most of the wait for Ready); the
# status is still sent only when it changes, or every minute.
nodeStatusUpdateFrequency: 1s
nodeStatusReportFrequency: 1m
# A laptop disk is often nearly full: never evict or garbage-collect images for it.
imageGCHighThresholdPercent: 100
evictionHard:
  nodefs.available: "0%"
  nodefs.inodesFree: "0%"
  imagefs.available: "0%"
---
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
conntrack:
  maxPerCore: 0
"#,
        ip = p.node_ip,
        port = API_PORT,
        node = p.node_name,
        cluster = p.cluster_name,
        pods = POD_SUBNET,
        services = SERVICE_SUBNET,
        cgroup = p.cgroup_driver,
    )
}

/// The cgroup driver the node's containerd is configured for.
pub fn cgroup_driver_from_containerd_config(toml: &str) -> &'static str {
    let systemd = toml
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").replace(' ', ""))
        .any(|l| l == "SystemdCgroup=true");
    if systemd {
        "systemd"
    } else {
        "cgroupfs"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(v: &str) -> KubeadmParams {
        KubeadmParams {
            version: KubeVersion::parse(v).unwrap(),
            cluster_name: "minik-dev".into(),
            node_name: "minik-dev".into(),
            node_ip: "172.29.0.2".into(),
            cgroup_driver: "cgroupfs".into(),
        }
    }

    #[test]
    fn api_versions_follow_kubernetes() {
        for (v, api) in [
            ("v1.20.2", "v1beta2"),
            ("v1.21.14", "v1beta2"),
            ("v1.22.0", "v1beta3"),
            ("v1.30.13", "v1beta3"),
            ("v1.31.0", "v1beta4"),
            ("v1.34.0", "v1beta4"),
        ] {
            assert_eq!(
                api_version(KubeVersion::parse(v).unwrap()),
                format!("kubeadm.k8s.io/{api}"),
                "{v}"
            );
        }
    }

    #[test]
    fn v1beta2_uses_maps_for_extra_args() {
        let c = render(&params("v1.20.2"));
        assert!(c.starts_with("apiVersion: kubeadm.k8s.io/v1beta2\nkind: InitConfiguration\n"));
        assert!(c.contains("  kubeletExtraArgs:\n    node-ip: \"172.29.0.2\"\n"));
        assert!(c.contains("kubernetesVersion: v1.20.2\n"));
        assert!(c.contains("controlPlaneEndpoint: 172.29.0.2:6443\n"));
        assert!(c.contains("certSANs: [localhost, 127.0.0.1, 172.29.0.2]"));
        assert!(c.contains("  taints: []\n"));
        assert!(c.contains("cgroupDriver: cgroupfs\n"));
        assert!(c.contains("  maxPerCore: 0\n"));
        assert!(c.contains("controllerManager:\n  extraArgs:\n    leader-elect: \"false\"\n"));
        assert!(c.contains("scheduler:\n  extraArgs:\n    leader-elect: \"false\"\n"));
        assert_eq!(c.matches("\n---\n").count(), 3);
    }

    #[test]
    fn v1beta4_uses_name_value_lists() {
        let c = render(&params("v1.34.0"));
        assert!(c.starts_with("apiVersion: kubeadm.k8s.io/v1beta4\n"));
        assert!(
            c.contains("  kubeletExtraArgs:\n    - name: node-ip\n      value: \"172.29.0.2\"\n")
        );
        assert!(c.contains(
            "scheduler:\n  extraArgs:\n    - name: leader-elect\n      value: \"false\"\n"
        ));
    }

    #[test]
    fn rendered_config_is_valid_yaml() {
        for v in ["v1.20.2", "v1.25.0", "v1.34.0"] {
            let c = render(&params(v));
            for doc in c.split("\n---\n") {
                let value: serde_json::Value =
                    serde_saphyr::from_str(doc).unwrap_or_else(|e| panic!("{v}: {e}\n{doc}"));
                assert!(value.get("kind").is_some());
            }
        }
    }

    #[test]
    fn cgroup_driver_follows_containerd() {
        assert_eq!(
            cgroup_driver_from_containerd_config("[x]\n  SystemdCgroup = true\n"),
            "systemd"
        );
        assert_eq!(
            cgroup_driver_from_containerd_config("  SystemdCgroup = false\n"),
            "cgroupfs"
        );
        assert_eq!(
            cgroup_driver_from_containerd_config("# SystemdCgroup = true\n"),
            "cgroupfs"
        );
    }
}
