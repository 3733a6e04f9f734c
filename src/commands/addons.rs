//! `minik addons list | enable | disable`

use anyhow::Result;

use super::target::Target;
use crate::addons::{self, EnableOptions};
use crate::cli::{AddonsCommand, Format};
use crate::k8s::Timeouts;
use crate::ui::Ui;

pub async fn run(ui: &Ui, cmd: AddonsCommand) -> Result<u8> {
    match cmd {
        AddonsCommand::List(a) => {
            let target = Target::resolve(&a.target).await?;
            let client = target.client(Timeouts::Short).await?;
            let present = match &target.node {
                Some((rt, node)) => Some(crate::image::node_images(rt, &node.container).await?),
                None => None,
            };
            let mut rows = Vec::new();
            for addon in addons::REGISTRY {
                rows.push(addons::status(&client, addon, present.as_deref()).await?);
            }
            match a.output {
                Format::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
                Format::Text => {
                    println!("{:<12} {:<9} {:<7} IMAGES", "NAME", "ENABLED", "READY");
                    for r in rows {
                        let ready = match r.ready {
                            Some(true) => "yes",
                            Some(false) => "no",
                            None => "-",
                        };
                        let images: Vec<String> = r
                            .images
                            .iter()
                            .map(|(i, here)| match here {
                                Some(true) => format!("{i} (in node)"),
                                Some(false) => format!("{i} (missing)"),
                                None => i.clone(),
                            })
                            .collect();
                        println!(
                            "{:<12} {:<9} {:<7} {}",
                            r.name,
                            if r.enabled { "yes" } else { "no" },
                            ready,
                            if images.is_empty() {
                                "-".to_string()
                            } else {
                                images.join(", ")
                            }
                        );
                    }
                }
            }
            Ok(0)
        }
        AddonsCommand::Enable(a) => {
            // Everything the user typed is checked before any cluster is contacted.
            let addon = addons::find(&a.name)?;
            addons::values::resolve(addon, a.values.as_deref(), &a.set, &a.image)?;
            let wait = crate::units::parse_wait(&a.wait)?;
            let target = Target::resolve(&a.target).await?;
            let client = target.client(Timeouts::Streaming).await?;
            let opts = EnableOptions {
                values_file: a.values,
                sets: a.set,
                images: a.image,
                wait: (!wait.is_zero()).then_some(wait),
                node: target.addon_node(),
            };
            addons::enable(&client, ui, addon, &opts).await?;
            ui.info(format!(
                "Add-on {} enabled on {}",
                addon.name, target.context
            ));
            Ok(0)
        }
        AddonsCommand::Disable(a) => {
            let addon = addons::find(&a.name)?;
            let target = Target::resolve(&a.target).await?;
            let client = target.client(Timeouts::Streaming).await?;
            if addons::disable(&client, ui, addon).await? {
                ui.info(format!("Add-on {} disabled", addon.name));
            } else {
                ui.info(format!(
                    "Add-on {} is not enabled: nothing to do",
                    addon.name
                ));
            }
            Ok(0)
        }
    }
}
