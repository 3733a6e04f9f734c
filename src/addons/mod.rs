//! Add-ons: the registry table (one row per add-on; its manifests live in `addons/<name>/`
//! and are embedded in the binary), their settings, and installing or removing them on any
//! cluster through the Kubernetes seam. Adding an add-on is a folder plus a row here.

mod install;
pub mod values;

pub use install::{disable, enable, is_enabled, status, workloads, EnableOptions, Node};

/// Where an add-on's manifests come from.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// Manifests embedded from `addons/<name>/`, applied in this order.
    Embedded(&'static [(&'static str, &'static str)]),
    /// A manifest the node image ships (kind's contract), read from the node at enable
    /// time: only minik clusters have it.
    NodeFile(&'static str),
}

/// A documented setting, overridable with `--set key=value` or `--values FILE`.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub key: &'static str,
    pub default: &'static str,
    pub doc: &'static str,
}

/// An image an add-on runs, overridable with `--image KEY=IMAGE`.
#[derive(Debug, Clone, Copy)]
pub struct Image {
    pub key: &'static str,
    /// Pinned by tag and digest.
    pub default: &'static str,
}

/// One row of the registry.
#[derive(Debug, Clone, Copy)]
pub struct Addon {
    pub name: &'static str,
    pub description: &'static str,
    /// Enabled by `minik start` on a new cluster.
    pub default_enabled: bool,
    pub source: Source,
    pub images: &'static [Image],
    pub settings: &'static [Setting],
    /// What "ready" means, as `addons list` explains it; checked as: every Deployment,
    /// DaemonSet and StatefulSet the add-on applies has all its pods ready.
    pub ready: &'static str,
}

macro_rules! manifest {
    ($addon:literal, $file:literal) => {
        (
            $file,
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/addons/",
                $addon,
                "/",
                $file
            )),
        )
    };
}

/// Every add-on minik knows.
pub const REGISTRY: &[Addon] = &[
    Addon {
        name: "storage",
        description: "default StorageClass with node-local volumes (the node image's own provisioner)",
        default_enabled: true,
        source: Source::NodeFile("/kind/manifests/default-storage.yaml"),
        images: &[],
        settings: &[],
        ready: "the provisioner's pods are ready",
    },
    Addon {
        name: "dashboard",
        description: "Headlamp, the Kubernetes web UI; open it with `minik dashboard`",
        default_enabled: false,
        source: Source::Embedded(&[
            manifest!("dashboard", "00-namespace.yaml"),
            manifest!("dashboard", "10-rbac.yaml"),
            manifest!("dashboard", "20-deployment.yaml"),
            manifest!("dashboard", "30-service.yaml"),
        ]),
        images: &[Image {
            key: "headlamp",
            default: "ghcr.io/headlamp-k8s/headlamp:v0.45.0@sha256:db3f0e0fc58d358d41daa3fe7fc852437552c7ee873c3645470f7b86a8e0db49",
        }],
        settings: &[
            Setting {
                key: "login.clusterRole",
                default: "cluster-admin",
                doc: "ClusterRole of the service account `minik dashboard` logs in as (e.g. view for read-only)",
            },
            Setting {
                key: "resources.memory",
                default: "256Mi",
                doc: "memory request and limit of the Headlamp pod",
            },
            Setting {
                key: "resources.cpu",
                default: "100m",
                doc: "CPU request of the Headlamp pod",
            },
        ],
        ready: "the headlamp Deployment is available",
    },
];

/// The add-on called `name`, or an error listing the known ones.
pub fn find(name: &str) -> anyhow::Result<&'static Addon> {
    REGISTRY.iter().find(|a| a.name == name).ok_or_else(|| {
        crate::error::Hinted::new(
            format!("no add-on named {name:?}"),
            format!("known add-ons: {}", names().join(", ")),
        )
        .into()
    })
}

pub fn names() -> Vec<&'static str> {
    REGISTRY.iter().map(|a| a.name).collect()
}

/// The label every object of an add-on carries; `disable` deletes by it.
pub const LABEL_ADDON: &str = "minik.io/addon";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::apply::{gvk_of, parse_manifests};

    #[test]
    fn every_embedded_manifest_parses_and_names_its_objects() {
        for addon in REGISTRY {
            let Source::Embedded(files) = addon.source else {
                continue;
            };
            assert!(!files.is_empty(), "{} has no manifests", addon.name);
            let defaults = values::resolve(addon, None, &[], &[]).unwrap();
            for (file, text) in files {
                let rendered = values::render(text, &defaults)
                    .unwrap_or_else(|e| panic!("{}/{file}: {e:#}", addon.name));
                let objs = parse_manifests(&rendered)
                    .unwrap_or_else(|e| panic!("{}/{file}: {e:#}", addon.name));
                assert!(!objs.is_empty(), "{}/{file} has no objects", addon.name);
                for o in objs {
                    gvk_of(&o).unwrap();
                    assert!(o.metadata.name.is_some());
                }
            }
        }
    }

    #[test]
    fn images_are_pinned_by_tag_and_digest() {
        for addon in REGISTRY {
            for image in addon.images {
                let (named, digest) = image.default.split_once('@').expect("digest");
                assert!(
                    digest.starts_with("sha256:") && digest.len() == 71,
                    "{}",
                    image.default
                );
                assert!(
                    named
                        .rsplit_once(':')
                        .is_some_and(|(_, t)| !t.contains('/')),
                    "{}",
                    image.default
                );
            }
        }
    }

    #[test]
    fn unknown_addons_list_the_known_ones() {
        let e = crate::error::render(&find("nope").unwrap_err());
        assert!(
            e.contains("no add-on named \"nope\"") && e.contains("dashboard"),
            "{e}"
        );
    }
}
