//! Kubernetes versions: the pinned kind node images minik knows, and versions as nodes
//! report them.

use anyhow::Result;

use crate::error::Hinted;

/// The node images minik knows, pinned by tag and digest (kind v0.30 release).
pub const NODE_IMAGES: &[(&str, &str)] = &[
    ("v1.34.0", "kindest/node:v1.34.0@sha256:7416a61b42b1662ca6ca89f02028ac133a309a2a30ba309614e8ec94d976dc5a"),
    ("v1.33.4", "kindest/node:v1.33.4@sha256:25a6018e48dfcaee478f4a59af81157a437f15e6e140bf103f85a2e7cd0cbbf2"),
    ("v1.32.8", "kindest/node:v1.32.8@sha256:abd489f042d2b644e2d033f5c2d900bc707798d075e8186cb65e3f1367a9d5a1"),
    ("v1.31.12", "kindest/node:v1.31.12@sha256:0f5cc49c5e73c0c2bb6e2df56e7df189240d83cf94edfa30946482eb08ec57d2"),
];

/// The default node image: the newest pinned release.
pub fn default_image() -> &'static str {
    NODE_IMAGES[0].1
}

/// Resolves `--kubernetes-version` (with or without the leading `v`, or just `1.33`) to a
/// pinned image.
pub fn image_for_version(version: &str) -> Result<&'static str> {
    let want = version.strip_prefix('v').unwrap_or(version);
    let matches = |v: &str| {
        let v = v.trim_start_matches('v');
        v == want || v.starts_with(&format!("{want}."))
    };
    NODE_IMAGES
        .iter()
        .find(|(v, _)| matches(v))
        .map(|(_, image)| *image)
        .ok_or_else(|| {
            let known: Vec<&str> = NODE_IMAGES.iter().map(|(v, _)| *v).collect();
            Hinted::new(
                format!("no pinned node image for Kubernetes {version}"),
                format!(
                    "pick one of {}, or pass any kind-compatible node image with --image",
                    known.join(", ")
                ),
            )
            .into()
        })
}

/// A Kubernetes version as the node reports it (`v1.20.2`, `v1.34.0-rc.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KubeVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl KubeVersion {
    pub fn parse(s: &str) -> Result<KubeVersion> {
        let t = s.trim().trim_start_matches('v');
        let core = t.split(['-', '+']).next().unwrap_or("");
        let parts: Vec<&str> = core.split('.').collect();
        let num = |i: usize| parts.get(i).and_then(|p| p.parse::<u32>().ok());
        match (parts.len(), num(0), num(1), num(2)) {
            (3, Some(major), Some(minor), Some(patch)) => Ok(KubeVersion {
                major,
                minor,
                patch,
            }),
            _ => {
                anyhow::bail!("cannot read Kubernetes version {s:?} (expected vMAJOR.MINOR.PATCH)")
            }
        }
    }

    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }
}

impl std::fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_pick_pinned_images() {
        assert_eq!(image_for_version("v1.33.4").unwrap(), NODE_IMAGES[1].1);
        assert_eq!(image_for_version("1.33").unwrap(), NODE_IMAGES[1].1);
        assert_eq!(image_for_version("1.31").unwrap(), NODE_IMAGES[3].1);
        let e = image_for_version("1.19").unwrap_err();
        assert!(crate::error::render(&e).contains("pick one of v1.34.0"));
        for (v, image) in NODE_IMAGES {
            assert!(image.contains(&format!(":{v}@sha256:")), "{image}");
            assert_eq!(image.split("@sha256:").nth(1).unwrap().len(), 64);
        }
        assert_eq!(default_image(), NODE_IMAGES[0].1);
    }

    #[test]
    fn kube_versions() {
        let v = KubeVersion::parse("v1.20.2\n").unwrap();
        assert_eq!(
            v,
            KubeVersion {
                major: 1,
                minor: 20,
                patch: 2
            }
        );
        assert_eq!(KubeVersion::parse("v1.34.0-rc.1+abc").unwrap().minor, 34);
        assert!(v.at_least(1, 20) && !v.at_least(1, 21));
        assert!(KubeVersion::parse("latest").is_err());
        assert_eq!(v.to_string(), "v1.20.2");
    }
}
