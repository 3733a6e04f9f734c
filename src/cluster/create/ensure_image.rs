//! Step "Ensuring node image": the node image is there, or is pulled with per-layer byte progress.

use anyhow::Result;

use super::Run;
use crate::error::Hinted;

impl Run<'_> {
    pub(super) async fn ensure_image(&mut self) -> Result<Option<String>> {
        let image = &self.image();
        if self.rt.image_id(image).await?.is_some() {
            return Ok(None);
        }
        let mut bars = std::collections::HashMap::new();
        let pulled = self
            .rt
            .pull(image, |p| {
                let bar = bars
                    .entry(p.layer.clone())
                    .or_insert_with(|| self.ui.bytes(p.layer.clone(), None));
                if p.total > 0 {
                    bar.set_length(p.total);
                    bar.set_position(p.current);
                }
                bar.set_message(format!("{} {}", p.layer, p.status));
            })
            .await;
        bars.values().for_each(|b| b.finish());
        pulled.map_err(|e| {
            Hinted::new(
                format!("node image {image} is not present and cannot be pulled"),
                format!(
                    "on a machine with registry access run `docker pull {image}` and `docker save -o node.tar {image}`, \
                     then `docker load -i node.tar` here; or pass --image with a node image this engine has"
                ),
            )
            .caused_by(e)
        })?;
        Ok(Some("pulled".into()))
    }
}
