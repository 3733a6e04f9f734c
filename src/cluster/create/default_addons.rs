//! Step "Enabling default add-ons": the add-ons a new cluster starts with (storage).

use anyhow::{Context, Result};

use super::super::config::{self};
use super::Run;
use crate::addons;
use crate::k8s;
use crate::ui::Ui;

impl Run<'_> {
    /// The add-ons a new cluster starts with (storage): applied, not waited for, so that
    /// they come up while the node gets Ready. Node-file add-ons the image lacks are skipped.
    pub(super) async fn enable_addons(&mut self) -> Result<Option<String>> {
        let client = k8s::client(&self.names.context, k8s::Timeouts::Short).await?;
        let quiet = Ui::new(crate::ui::Level::Quiet);
        let mut enabled = Vec::new();
        for addon in addons::REGISTRY.iter().filter(|a| a.default_enabled) {
            if let addons::Source::NodeFile(path) = addon.source {
                let has = self
                    .rt
                    .exec(self.container(), &["test", "-f", path], None)
                    .await?;
                if has.exit_code != 0 {
                    continue;
                }
            }
            let opts = addons::EnableOptions {
                values_file: None,
                sets: vec![],
                images: vec![],
                wait: None,
                node: Some(addons::Node {
                    rt: self.rt,
                    container: self.container().to_string(),
                }),
            };
            addons::enable(&client, &quiet, addon, &opts)
                .await
                .with_context(|| format!("cannot enable the {} add-on", addon.name))?;
            enabled.push(addon.name);
        }
        self.mark(config::MARK_CREATED).await?;
        Ok(Some(if enabled.is_empty() {
            "none for this node image".to_string()
        } else {
            enabled.join(", ")
        }))
    }
}
