//! Images: building minik's own (Spark) and moving host images into a node's containerd.

mod archive;
pub mod spark;

use std::collections::HashMap;

use anyhow::{Context, Result};
use futures_util::StreamExt;

use crate::cluster::node::CTR;
use crate::error::Hinted;
use crate::runtime::Runtime;
use crate::ui::Ui;

/// The containerd label minik puts on images it loads: the Docker image ID they came from.
const LABEL_IMAGE_ID: &str = "io.minik.image-id";

/// The fully qualified name containerd gives a Docker image name: `spark:1` →
/// `docker.io/library/spark:1`, `minik/spark:1` → `docker.io/minik/spark:1`.
pub fn containerd_ref(image: &str) -> String {
    let (name, tag) = match image.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, t),
        _ => (image, "latest"),
    };
    let first = name.split('/').next().unwrap_or("");
    let has_registry =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let qualified = if has_registry {
        name.to_string()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    format!("{qualified}:{tag}")
}

/// One image in the node's containerd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeImage {
    pub reference: String,
    pub size: String,
    pub docker_id: Option<String>,
}

/// Parses `ctr images ls` (REF TYPE DIGEST SIZE PLATFORMS LABELS; SIZE is "12.3 MiB").
pub fn parse_ctr_images(text: &str) -> Vec<NodeImage> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 5 {
                return None;
            }
            let docker_id = f
                .last()
                .and_then(|labels| {
                    labels
                        .split(',')
                        .find_map(|kv| kv.strip_prefix(&format!("{LABEL_IMAGE_ID}=")))
                })
                .map(str::to_string);
            Some(NodeImage {
                reference: f[0].to_string(),
                size: format!("{} {}", f[3], f[4]),
                docker_id,
            })
        })
        .filter(|i| !i.reference.starts_with("sha256:"))
        .collect()
}

/// Runs `ctr -n k8s.io ARGS…` in the node: containerd's namespace for Kubernetes images.
async fn ctr(rt: &Runtime, node: &str, args: &[&str]) -> Result<crate::runtime::ExecOutput> {
    let mut cmd = CTR.to_vec();
    cmd.extend_from_slice(args);
    rt.exec_ok(node, &cmd).await
}

pub async fn node_images(rt: &Runtime, node: &str) -> Result<Vec<NodeImage>> {
    Ok(parse_ctr_images(
        &ctr(rt, node, &["images", "ls"]).await?.stdout,
    ))
}

/// What happened to one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    Imported,
    AlreadyPresent,
    Retagged,
}

/// Streams host images from the engine straight into the node's containerd (`k8s.io`
/// namespace), without temporary files: one `docker save` stream of every image that is
/// not there yet, piped into `ctr images import`. Images already present with the same ID
/// are skipped; when only the name differs, the node's copy is re-tagged.
pub async fn load(
    rt: &Runtime,
    ui: &Ui,
    node: &str,
    images: &[String],
) -> Result<Vec<(String, Loaded)>> {
    let mut ids = HashMap::new();
    for image in images {
        let id = rt.image_id(image).await?.ok_or_else(|| {
            Hinted::new(
                format!("image {image} is not in the Docker engine"),
                "build or pull it first (`docker images` lists what there is)",
            )
        })?;
        ids.insert(image.clone(), id);
    }
    let present = node_images(rt, node).await?;
    let mut outcome = Vec::new();
    let mut to_import = Vec::new();
    for image in images {
        let id = &ids[image];
        let reference = containerd_ref(image);
        if present
            .iter()
            .any(|p| p.reference == reference && p.docker_id.as_deref() == Some(id))
        {
            outcome.push((image.clone(), Loaded::AlreadyPresent));
        } else if let Some(same) = present.iter().find(|p| p.docker_id.as_deref() == Some(id)) {
            ctr(
                rt,
                node,
                &["images", "tag", "--force", &same.reference, &reference],
            )
            .await?;
            label(rt, node, &reference, id).await?;
            outcome.push((image.clone(), Loaded::Retagged));
        } else {
            to_import.push(image.clone());
        }
    }
    if !to_import.is_empty() {
        let bar = ui.bytes(format!("loading {}", to_import.join(", ")), None);
        let counter = bar.clone();
        let stream = rt.export_images(&to_import).map(move |chunk| {
            chunk
                .inspect(|b| counter.inc(b.len() as u64))
                .map_err(std::io::Error::other)
        });
        // `ctr import` reads the archive from stdin; nothing touches the disk on the way.
        let reader = tokio_util::io::StreamReader::new(stream);
        let result = rt
            .exec_ok_with_input(
                node,
                &[&CTR[..], &["images", "import", "--no-unpack", "-"]].concat(),
                Some(Box::new(Box::pin(reader))),
            )
            .await;
        bar.finish();
        result.with_context(|| format!("cannot import {} into the node", to_import.join(", ")))?;
        for image in &to_import {
            label(rt, node, &containerd_ref(image), &ids[image]).await?;
            outcome.push((image.clone(), Loaded::Imported));
        }
    }
    Ok(outcome)
}

async fn label(rt: &Runtime, node: &str, reference: &str, id: &str) -> Result<()> {
    ctr(
        rt,
        node,
        &[
            "images",
            "label",
            reference,
            &format!("{LABEL_IMAGE_ID}={id}"),
        ],
    )
    .await
    .with_context(|| format!("cannot label {reference} in the node"))?;
    Ok(())
}

/// Removes images from the node's containerd.
pub async fn remove(rt: &Runtime, node: &str, images: &[String]) -> Result<()> {
    for image in images {
        let reference = containerd_ref(image);
        let out = rt
            .exec(
                node,
                &[&CTR[..], &["images", "rm", &reference]].concat(),
                None,
            )
            .await?;
        if out.exit_code != 0 {
            return Err(Hinted::new(
                format!(
                    "cannot remove {reference} from the node: {}",
                    out.output.trim()
                ),
                "`minik image ls` lists the node's images",
            )
            .into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_qualified_like_containerd_does() {
        assert_eq!(
            containerd_ref("minik/spark:3.5.9-java17"),
            "docker.io/minik/spark:3.5.9-java17"
        );
        assert_eq!(
            containerd_ref("busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            containerd_ref("k8s.gcr.io/pause:3.2"),
            "k8s.gcr.io/pause:3.2"
        );
        assert_eq!(
            containerd_ref("localhost:5000/app:1"),
            "localhost:5000/app:1"
        );
        assert_eq!(containerd_ref("localhost/app"), "localhost/app:latest");
    }

    #[test]
    fn ctr_listing_is_parsed_with_labels() {
        let text = "REF TYPE DIGEST SIZE PLATFORMS LABELS\n\
docker.io/minik/spark:3.5.9-java17 application/vnd.docker.distribution.manifest.v2+json sha256:abc 757.2 MiB linux/amd64 io.minik.image-id=sha256:123\n\
k8s.gcr.io/pause:3.2 application/vnd.docker.distribution.manifest.v2+json sha256:def 300.0 KiB linux/amd64 io.cri-containerd.image=managed\n\
sha256:def application/vnd.docker.distribution.manifest.v2+json sha256:def 300.0 KiB linux/amd64 -\n";
        let images = parse_ctr_images(text);
        assert_eq!(images.len(), 2);
        assert_eq!(images[0].reference, "docker.io/minik/spark:3.5.9-java17");
        assert_eq!(images[0].size, "757.2 MiB");
        assert_eq!(images[0].docker_id.as_deref(), Some("sha256:123"));
        assert_eq!(images[1].docker_id, None);
    }
}

/// Whether `image` (a Docker name, possibly pinned `name:tag@sha256:…`) is among the node's
/// images, by name or by digest.
pub fn node_has(present: &[NodeImage], image: &str) -> bool {
    let (named, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let reference = containerd_ref(named);
    let repo = reference
        .rsplit_once(':')
        .map(|(r, _)| r)
        .unwrap_or(&reference);
    present.iter().any(|p| {
        p.reference == reference || digest.is_some_and(|d| p.reference == format!("{repo}@{d}"))
    })
}

/// Makes sure each image is in the node: those missing there but present in the host's
/// engine are loaded (one status line); returns those that are in neither place, for the
/// caller to explain (the cluster may still be able to pull them).
pub async fn ensure_in_node(
    rt: &Runtime,
    ui: &Ui,
    node: &str,
    images: &[String],
) -> Result<Vec<String>> {
    let present = node_images(rt, node).await?;
    let mut to_load = Vec::new();
    let mut absent = Vec::new();
    for image in images {
        if node_has(&present, image) {
            continue;
        }
        if rt.image_id(image).await?.is_some() {
            to_load.push(image.clone());
        } else {
            absent.push(image.clone());
        }
    }
    if !to_load.is_empty() {
        ui.step_with(
            format!("Loading {} into {node}", to_load.join(", ")),
            async { load(rt, ui, node, &to_load).await.map(|_| ((), None)) },
        )
        .await?;
    }
    Ok(absent)
}

#[cfg(test)]
mod node_has_tests {
    use super::*;

    #[test]
    fn pinned_images_match_by_name_or_digest() {
        let present = vec![
            NodeImage {
                reference: "docker.io/minik/x:1".into(),
                size: "1 MiB".into(),
                docker_id: None,
            },
            NodeImage {
                reference: "ghcr.io/a/b@sha256:abc".into(),
                size: "1 MiB".into(),
                docker_id: None,
            },
        ];
        assert!(node_has(&present, "minik/x:1"));
        assert!(node_has(&present, "minik/x:1@sha256:def"));
        assert!(node_has(&present, "ghcr.io/a/b:v2@sha256:abc"));
        assert!(!node_has(&present, "ghcr.io/a/b:v2@sha256:fff"));
        assert!(!node_has(&present, "minik/x:2"));
    }
}
