//! `minik kubeconfig`: the cluster's entries as a standalone kubeconfig on stdout.

use anyhow::Result;

use crate::cli::Profile;
use crate::cluster::{self, kubeconfig, names::Names, node};
use crate::runtime::Runtime;

pub async fn run(p: Profile) -> Result<u8> {
    let rt = Runtime::connect().await?;
    let node = cluster::require_running(&rt, &p.profile).await?;
    let entry = node::admin_entry(&rt, &node, &Names::new(&p.profile).context).await?;
    print!("{}", kubeconfig::render(&entry)?);
    Ok(0)
}
