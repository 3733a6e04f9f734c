//! `minik logs`: what happened inside the node.

use anyhow::Result;

use crate::cli::{Component, LogsArgs};
use crate::cluster;
use crate::runtime::Runtime;

pub async fn run(args: LogsArgs) -> Result<u8> {
    let rt = Runtime::connect().await?;
    let node = cluster::require_running(&rt, &args.profile.profile).await?;
    let tail = args.tail.to_string();
    let all = [
        Component::Kubeadm,
        Component::Containerd,
        Component::Kubelet,
    ];
    let components = args
        .component
        .map(|c| vec![c])
        .unwrap_or_else(|| all.to_vec());
    for c in components {
        let (title, cmd): (&str, Vec<&str>) = match c {
            Component::Kubeadm => (
                "kubeadm",
                vec!["tail", "-n", &tail, crate::cluster::node::KUBEADM_LOG],
            ),
            Component::Containerd => (
                "containerd",
                vec!["journalctl", "--no-pager", "-u", "containerd", "-n", &tail],
            ),
            Component::Kubelet => (
                "kubelet",
                vec!["journalctl", "--no-pager", "-u", "kubelet", "-n", &tail],
            ),
        };
        println!("==> {title} <==");
        let out = rt.exec(&node.container, &cmd, None).await?;
        print!("{}", out.output);
        println!();
    }
    Ok(0)
}
