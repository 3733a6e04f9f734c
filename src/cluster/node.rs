//! The node container: how it is created (labels, network, volume, ports, privileges) and
//! how commands run inside it.

use std::collections::HashMap;

use crate::runtime::models::{
    ContainerCreateBody, DeviceMapping, EndpointIpamConfig, EndpointSettings, HostConfig,
    HostConfigCgroupnsModeEnum, NetworkingConfig, PortBinding,
};
use anyhow::Result;

use super::config::{
    API_PORT, LABEL_API_PORT, LABEL_CLUSTER, LABEL_IMAGE, LABEL_MARKS, LABEL_PRIVILEGE, LABEL_ROLE,
    NETWORK,
};
use super::names::Names;

/// Where minik and kubeadm keep things inside a node.
pub const KUBEADM_LOG: &str = "/var/log/minik-kubeadm.log";
pub const ADMIN_CONF: &str = "/etc/kubernetes/admin.conf";
/// containerd's namespace for Kubernetes images, as a `ctr` command prefix.
pub const CTR: [&str; 3] = ["ctr", "-n", "k8s.io"];

/// `kubectl ARGS…` inside the node, as the cluster's admin.
pub fn kubectl<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut cmd = vec!["kubectl", "--kubeconfig=/etc/kubernetes/admin.conf"];
    cmd.extend_from_slice(args);
    cmd
}

/// The node's admin credentials as a kubeconfig entry named `name`, pointing at the API
/// server's published port.
pub async fn admin_entry(
    rt: &crate::runtime::Runtime,
    node: &super::NodeInfo,
    name: &str,
) -> Result<super::kubeconfig::Entry> {
    let admin = rt
        .exec_ok(&node.container, &["cat", ADMIN_CONF])
        .await?
        .stdout;
    let server = node
        .endpoint()
        .ok_or_else(|| anyhow::anyhow!("node {} has no API port label", node.container))?;
    super::kubeconfig::entry_from_admin_conf(&admin, name, &server)
}

/// How the node container gets its privileges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Privilege {
    /// `--privileged`, as kind and minikube do.
    Privileged,
    /// The explicit set used where `--privileged` is refused: every capability the engine
    /// can grant (all but `dropped`), seccomp/apparmor unconfined, unmasked /proc and /sys,
    /// and access to every device.
    Explicit { dropped: Vec<String> },
}

impl Privilege {
    pub fn label(&self) -> String {
        match self {
            Privilege::Privileged => "privileged".into(),
            Privilege::Explicit { dropped } if dropped.is_empty() => "explicit".into(),
            Privilege::Explicit { dropped } => {
                format!("explicit-without-{}", dropped.join(",").to_lowercase())
            }
        }
    }
}

/// Everything the node container is made from.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    pub names: Names,
    pub image: String,
    pub ip: String,
    pub api_port: u16,
    pub cpus: Option<f64>,
    pub memory: Option<u64>,
    pub privilege: Privilege,
    /// Mount the host's /lib/modules read-only (when it exists there).
    pub host_modules: bool,
    /// Pass /dev/kmsg through (the kubelet's OOM watcher reads it).
    pub kmsg: bool,
}

/// The container configuration for a node.
pub fn container_body(spec: &NodeSpec) -> ContainerCreateBody {
    let labels = HashMap::from([
        (LABEL_CLUSTER.to_string(), spec.names.profile.clone()),
        (LABEL_ROLE.to_string(), "control-plane".to_string()),
        (LABEL_API_PORT.to_string(), spec.api_port.to_string()),
        (LABEL_IMAGE.to_string(), spec.image.clone()),
        (LABEL_PRIVILEGE.to_string(), spec.privilege.label()),
        (LABEL_MARKS.to_string(), "1".to_string()),
    ]);
    let port_key = format!("{API_PORT}/tcp");
    // Published on loopback only, on a port chosen once: an ephemeral binding would change
    // on every restart.
    let port_bindings = HashMap::from([(
        port_key.clone(),
        Some(vec![PortBinding {
            host_ip: Some("127.0.0.1".into()),
            host_port: Some(spec.api_port.to_string()),
        }]),
    )]);
    let mut binds = vec![format!("{}:/var", spec.names.volume)];
    if spec.host_modules {
        binds.push("/lib/modules:/lib/modules:ro".into());
    }
    let security_opt = vec![
        "seccomp=unconfined".to_string(),
        "apparmor=unconfined".to_string(),
    ];
    let mut host = HostConfig {
        binds: Some(binds),
        tmpfs: Some(HashMap::from([
            ("/run".into(), "rw".into()),
            ("/tmp".into(), "rw".into()),
        ])),
        port_bindings: Some(port_bindings),
        cgroupns_mode: Some(HostConfigCgroupnsModeEnum::PRIVATE),
        memory: spec.memory.map(|m| m as i64),
        nano_cpus: spec.cpus.map(|c| (c * 1e9) as i64),
        init: Some(false),
        ..Default::default()
    };
    match &spec.privilege {
        Privilege::Privileged => host.privileged = Some(true),
        Privilege::Explicit { dropped } => {
            host.cap_add = Some(vec!["ALL".into()]);
            host.cap_drop = Some(dropped.clone());
            // What the CLI's `--security-opt systempaths=unconfined` means: unmask /proc and /sys.
            host.masked_paths = Some(vec![]);
            host.readonly_paths = Some(vec![]);
            host.device_cgroup_rules = Some(vec!["a *:* rwm".into()]);
            if spec.kmsg {
                host.devices = Some(vec![DeviceMapping {
                    path_on_host: Some("/dev/kmsg".into()),
                    path_in_container: Some("/dev/kmsg".into()),
                    cgroup_permissions: Some("rwm".into()),
                }]);
            }
        }
    }
    host.security_opt = Some(security_opt);
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        hostname: Some(spec.names.container.clone()),
        labels: Some(labels),
        tty: Some(true),
        env: Some(vec!["container=docker".into()]),
        exposed_ports: Some(vec![port_key]),
        host_config: Some(host),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                NETWORK.to_string(),
                EndpointSettings {
                    ipam_config: Some(EndpointIpamConfig {
                        ipv4_address: Some(spec.ip.clone()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )])),
        }),
        ..Default::default()
    }
}

/// Whether a container start failed because the engine cannot grant `--privileged`.
pub fn is_privilege_refusal(err: &anyhow::Error) -> bool {
    let text = format!("{err:#}");
    text.contains("unable to apply caps")
        || (text.contains("privileged") && text.contains("not permitted"))
}

/// Capability names (without CAP_) missing from a `CapBnd:` hex mask of /proc/self/status.
/// Only the capabilities Docker knows (0..=40) are considered.
pub fn missing_capabilities(cap_bnd_hex: &str) -> Result<Vec<String>> {
    const NAMES: [&str; 41] = [
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "KILL",
        "SETGID",
        "SETUID",
        "SETPCAP",
        "LINUX_IMMUTABLE",
        "NET_BIND_SERVICE",
        "NET_BROADCAST",
        "NET_ADMIN",
        "NET_RAW",
        "IPC_LOCK",
        "IPC_OWNER",
        "SYS_MODULE",
        "SYS_RAWIO",
        "SYS_CHROOT",
        "SYS_PTRACE",
        "SYS_PACCT",
        "SYS_ADMIN",
        "SYS_BOOT",
        "SYS_NICE",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYS_TTY_CONFIG",
        "MKNOD",
        "LEASE",
        "AUDIT_WRITE",
        "AUDIT_CONTROL",
        "SETFCAP",
        "MAC_OVERRIDE",
        "MAC_ADMIN",
        "SYSLOG",
        "WAKE_ALARM",
        "BLOCK_SUSPEND",
        "AUDIT_READ",
        "PERFMON",
        "BPF",
        "CHECKPOINT_RESTORE",
    ];
    let mask = u64::from_str_radix(cap_bnd_hex.trim(), 16)
        .map_err(|e| anyhow::anyhow!("cannot read capability mask {cap_bnd_hex:?}: {e}"))?;
    Ok(NAMES
        .iter()
        .enumerate()
        .filter(|(bit, _)| mask & (1 << bit) == 0)
        .map(|(_, n)| n.to_string())
        .collect())
}

/// The capabilities this process's bounding set lacks: on a local engine in the same
/// sandbox, those are the ones the engine cannot grant either.
pub fn locally_missing_capabilities() -> Vec<String> {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:").map(str::to_string))
        })
        .and_then(|hex| missing_capabilities(&hex).ok())
        .unwrap_or_default()
}

/// Picks the first address of `subnet` (a /24 or larger IPv4 CIDR) from .2 on that is not
/// in `used`.
pub fn pick_ip(subnet: &str, used: &[String]) -> Result<String> {
    let (base, bits) = subnet
        .split_once('/')
        .ok_or_else(|| anyhow::anyhow!("bad subnet {subnet}"))?;
    let base: std::net::Ipv4Addr = base.parse()?;
    let bits: u32 = bits.parse()?;
    anyhow::ensure!(bits <= 30, "subnet {subnet} is too small");
    let start = u32::from(base);
    let size = 1u32 << (32 - bits);
    for offset in 2..size - 1 {
        let ip = std::net::Ipv4Addr::from(start + offset).to_string();
        if !used.contains(&ip) {
            return Ok(ip);
        }
    }
    anyhow::bail!("no free address left in network subnet {subnet}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(privilege: Privilege) -> NodeSpec {
        NodeSpec {
            names: Names::new("dev"),
            image: "kindest/node:v1.34.0".into(),
            ip: "172.29.0.2".into(),
            api_port: 40123,
            cpus: Some(2.0),
            memory: Some(4 << 30),
            privilege,
            host_modules: false,
            kmsg: true,
        }
    }

    #[test]
    fn node_is_published_on_loopback_with_labels_volume_and_limits() {
        let body = container_body(&spec(Privilege::Privileged));
        let host = body.host_config.as_ref().unwrap();
        let binding = &host.port_bindings.as_ref().unwrap()["6443/tcp"]
            .as_ref()
            .unwrap()[0];
        assert_eq!(binding.host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(binding.host_port.as_deref(), Some("40123"));
        assert_eq!(
            host.binds.as_ref().unwrap(),
            &vec!["minik-dev-var:/var".to_string()]
        );
        assert_eq!(host.privileged, Some(true));
        assert_eq!(
            host.cgroupns_mode,
            Some(HostConfigCgroupnsModeEnum::PRIVATE)
        );
        assert_eq!(host.memory, Some(4 << 30));
        assert_eq!(host.nano_cpus, Some(2_000_000_000));
        assert!(host.tmpfs.as_ref().unwrap().contains_key("/run"));
        let labels = body.labels.as_ref().unwrap();
        assert_eq!(labels[LABEL_CLUSTER], "dev");
        assert_eq!(labels[LABEL_API_PORT], "40123");
        assert_eq!(labels[LABEL_PRIVILEGE], "privileged");
        let ep = &body
            .networking_config
            .as_ref()
            .unwrap()
            .endpoints_config
            .as_ref()
            .unwrap()[NETWORK];
        assert_eq!(
            ep.ipam_config.as_ref().unwrap().ipv4_address.as_deref(),
            Some("172.29.0.2")
        );
    }

    #[test]
    fn explicit_privileges_drop_only_what_cannot_be_granted() {
        let body = container_body(&spec(Privilege::Explicit {
            dropped: vec!["SYS_RESOURCE".into()],
        }));
        let host = body.host_config.unwrap();
        assert_eq!(host.privileged, None);
        assert_eq!(host.cap_add.unwrap(), ["ALL"]);
        assert_eq!(host.cap_drop.unwrap(), ["SYS_RESOURCE"]);
        let sec = host.security_opt.unwrap();
        for opt in ["seccomp=unconfined", "apparmor=unconfined"] {
            assert!(sec.contains(&opt.to_string()), "{opt}");
        }
        assert_eq!(host.masked_paths.unwrap(), Vec::<String>::new());
        assert_eq!(host.readonly_paths.unwrap(), Vec::<String>::new());
        assert_eq!(host.device_cgroup_rules.unwrap(), ["a *:* rwm"]);
        assert_eq!(
            host.devices.unwrap()[0].path_on_host.as_deref(),
            Some("/dev/kmsg")
        );
        assert_eq!(
            body.labels.unwrap()[LABEL_PRIVILEGE],
            "explicit-without-sys_resource"
        );
    }

    #[test]
    fn capability_masks() {
        // This sandbox: everything up to bit 40 except CAP_SYS_RESOURCE (bit 24).
        assert_eq!(
            missing_capabilities("000001fffeffffff").unwrap(),
            ["SYS_RESOURCE"]
        );
        assert!(missing_capabilities("000001ffffffffff").unwrap().is_empty());
        assert_eq!(
            missing_capabilities("000000ffffffffff").unwrap(),
            ["CHECKPOINT_RESTORE"]
        );
        assert!(missing_capabilities("zz").is_err());
    }

    #[test]
    fn refusals_are_recognised() {
        let e = anyhow::anyhow!("OCI runtime create failed: runc create failed: unable to start container process: unable to apply caps: operation not permitted");
        assert!(is_privilege_refusal(
            &e.context("cannot start container minik-dev")
        ));
        assert!(!is_privilege_refusal(&anyhow::anyhow!(
            "port is already allocated"
        )));
    }

    #[test]
    fn ips_skip_used_addresses() {
        assert_eq!(pick_ip("172.29.0.0/24", &[]).unwrap(), "172.29.0.2");
        assert_eq!(
            pick_ip("172.29.0.0/24", &["172.29.0.2".into(), "172.29.0.3".into()]).unwrap(),
            "172.29.0.4"
        );
        let all: Vec<String> = (2..255).map(|i| format!("10.0.0.{i}")).collect();
        assert!(pick_ip("10.0.0.0/24", &all).is_err());
    }
}
