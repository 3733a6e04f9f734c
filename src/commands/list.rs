//! `minik list`

use anyhow::Result;

use crate::cli::{Format, ListArgs};
use crate::cluster;
use crate::runtime::Runtime;

pub async fn run(ui: &crate::ui::Ui, args: ListArgs) -> Result<u8> {
    let rt = Runtime::connect().await?;
    let nodes = cluster::list(&rt).await?;
    match args.output {
        Format::Json => println!("{}", serde_json::to_string_pretty(&nodes)?),
        Format::Text => {
            if nodes.is_empty() {
                ui.info("no clusters; create one with `minik start`");
            } else {
                println!("{:<16} {:<10} {:<26} IMAGE", "PROFILE", "STATE", "ENDPOINT");
                for n in nodes {
                    println!(
                        "{:<16} {:<10} {:<26} {}",
                        n.profile,
                        n.state,
                        n.endpoint().unwrap_or_default(),
                        n.image
                    );
                }
            }
        }
    }
    Ok(0)
}
