//! `minik stop`

use anyhow::Result;

use crate::cli::Profile;
use crate::cluster::{self};
use crate::runtime::Runtime;
use crate::ui::Ui;

pub async fn run(ui: &Ui, p: Profile) -> Result<u8> {
    crate::cluster::names::validate_profile(&p.profile)?;
    let rt = Runtime::connect().await?;
    cluster::stop(&rt, ui, &p.profile).await?;
    Ok(0)
}
