//! `minik delete`

use anyhow::Result;

use crate::cli::DeleteArgs;
use crate::cluster::{self, kubeconfig};
use crate::runtime::Runtime;
use crate::ui::Ui;

pub async fn run(ui: &Ui, args: DeleteArgs) -> Result<u8> {
    let rt = Runtime::connect().await?;
    let path = kubeconfig::Chain::from_env()?;
    let profiles: Vec<String> = if args.all {
        cluster::list(&rt)
            .await?
            .into_iter()
            .map(|n| n.profile)
            .collect()
    } else {
        crate::cluster::names::validate_profile(&args.profile.profile)?;
        vec![args.profile.profile]
    };
    if profiles.is_empty() {
        ui.info("no clusters to delete");
    }
    for profile in profiles {
        cluster::delete(&rt, ui, &profile, &path).await?;
    }
    Ok(0)
}
