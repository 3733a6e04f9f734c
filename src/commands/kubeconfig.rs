//! `minik kubeconfig`: the cluster's entries as a standalone kubeconfig on stdout.

use anyhow::Result;

use crate::cli::Profile;
use crate::cluster::{self, config::Names, kubeconfig};
use crate::runtime::Runtime;

pub async fn run(p: Profile) -> Result<u8> {
    let rt = Runtime::connect().await?;
    let node = cluster::require_running(&rt, &p.profile).await?;
    let admin = rt
        .exec_ok(&node.container, &["cat", "/etc/kubernetes/admin.conf"])
        .await?
        .stdout;
    let server = node.endpoint().unwrap_or_default();
    let entry =
        kubeconfig::entry_from_admin_conf(&admin, &Names::new(&p.profile).context, &server)?;
    print!("{}", kubeconfig::render(&entry)?);
    Ok(0)
}
