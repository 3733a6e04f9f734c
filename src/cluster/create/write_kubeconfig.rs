//! Step "Writing kubeconfig": the context minik-NAME, merged where kubectl reads it.

use anyhow::{Context, Result};

use super::super::kubeconfig;
use super::super::node::{self};
use super::Run;

impl Run<'_> {
    pub(super) async fn write_kubeconfig(&mut self) -> Result<Option<String>> {
        let node = self.node.as_ref().context("node not created")?;
        let entry = node::admin_entry(self.rt, node, &self.names.context).await?;
        let file = kubeconfig::upsert(&self.opts.kubeconfig, &entry, !self.opts.keep_context)?;
        self.created.kubeconfig = true;
        Ok(Some(format!(
            "context {} in {}",
            self.names.context,
            file.display()
        )))
    }
}
