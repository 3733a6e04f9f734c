//! Step "Installing CNI": the node image's /kind/manifests/default-cni.yaml, applied in the node.

use anyhow::Result;

use super::super::config::POD_SUBNET;
use super::super::node::{self};
use super::Run;

impl Run<'_> {
    pub(super) async fn apply_manifest(&mut self, path: &str) -> Result<Option<String>> {
        let rt = self.rt;
        let c = self.container().to_string();
        let read = rt.exec(&c, &["cat", path], None).await?;
        if read.exit_code != 0 {
            return Ok(Some("none in the node image".into()));
        }
        let manifest = render_manifest(&read.stdout);
        rt.exec_ok_with_input(
            &c,
            &node::kubectl(&["apply", "-f", "-"]),
            Some(Box::new(std::io::Cursor::new(manifest.into_bytes()))),
        )
        .await?;
        Ok(None)
    }
}

/// Fills the template variables kind node images use in their manifests.
fn render_manifest(text: &str) -> String {
    text.replace("{{ .PodSubnet }}", POD_SUBNET)
        .replace("{{.PodSubnet}}", POD_SUBNET)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_get_the_pod_subnet() {
        assert_eq!(
            render_manifest("subnet: {{ .PodSubnet }} / {{.PodSubnet}}"),
            "subnet: 10.244.0.0/16 / 10.244.0.0/16"
        );
    }
}
