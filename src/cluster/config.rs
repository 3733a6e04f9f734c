//! What a cluster is made of: its profile name, node image, resources, and the names of the
//! Docker objects derived from the profile. Everything here is pure and unit-tested.

use std::time::Duration;

use anyhow::Result;

use crate::error::Hinted;

/// Label keys carried by every node container (there is no state file: labels are the state).
pub const LABEL_CLUSTER: &str = "io.minik.cluster";
pub const LABEL_ROLE: &str = "io.minik.role";
pub const LABEL_API_PORT: &str = "io.minik.api-port";
pub const LABEL_IMAGE: &str = "io.minik.image";
pub const LABEL_PRIVILEGE: &str = "io.minik.privilege";
/// Set on nodes that record their creation's progress in [`MARK_CONTROL_PLANE`] and
/// [`MARK_CREATED`] (nodes made before that are complete by definition).
pub const LABEL_MARKS: &str = "io.minik.creation-marks";
/// On the node's /var volume: kubeadm init and the default service account are done.
pub const MARK_CONTROL_PLANE: &str = "/var/lib/minik/control-plane";
/// On the node's /var volume: every creation step before the Ready wait is done.
pub const MARK_CREATED: &str = "/var/lib/minik/created";
/// The shared bridge network every minik node joins.
pub const NETWORK: &str = "minik";
/// Candidate subnets for that network, tried in order until one does not overlap.
pub const NETWORK_SUBNETS: &[&str] = &[
    "172.29.0.0/24",
    "172.29.1.0/24",
    "192.168.229.0/24",
    "10.229.0.0/24",
];
/// Pod and Service ranges inside every cluster.
pub const POD_SUBNET: &str = "10.244.0.0/16";
pub const SERVICE_SUBNET: &str = "10.96.0.0/16";
/// The API server's port inside the node.
pub const API_PORT: u16 = 6443;

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

/// Checks a profile name: it becomes part of container, volume and kubeconfig names.
pub fn validate_profile(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Hinted::new(
            format!("invalid profile name {name:?}"),
            "use 1 to 40 lowercase letters, digits and '-', starting and ending with a letter or digit",
        )
        .into())
    }
}

/// Parses a memory size: `4g`, `4096m`, `4GiB`, `512MB`, or plain bytes.
pub fn parse_memory(s: &str) -> Result<u64> {
    let t = s.trim().to_ascii_lowercase();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.trim().trim_end_matches("ib").trim_end_matches('b');
    let mult: u64 = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return Err(bad_memory(s)),
    };
    let n: f64 = num.parse().map_err(|_| bad_memory(s))?;
    if n <= 0.0 {
        return Err(bad_memory(s));
    }
    Ok((n * mult as f64) as u64)
}

fn bad_memory(s: &str) -> anyhow::Error {
    Hinted::new(
        format!("invalid memory size {s:?}"),
        "write it as a number with a unit, e.g. 4g or 3072m",
    )
    .into()
}

/// Parses `--wait`: `5m`, `90s`, `0` (do not wait).
pub fn parse_wait(s: &str) -> Result<Duration> {
    if s.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(s).map_err(|e| {
        Hinted::new(
            format!("invalid duration {s:?}"),
            "write it like 90s, 5m or 0",
        )
        .caused_by(e)
        .into()
    })
}

/// The names of a profile's Docker objects and kubeconfig entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub profile: String,
    pub container: String,
    pub volume: String,
    pub context: String,
}

impl Names {
    pub fn new(profile: &str) -> Names {
        Names {
            profile: profile.to_string(),
            container: format!("minik-{profile}"),
            volume: format!("minik-{profile}-var"),
            context: format!("minik-{profile}"),
        }
    }
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
    fn profiles() {
        for ok in ["dev", "a", "spark-2", "0x"] {
            assert!(validate_profile(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Dev", "-x", "x-", "a_b", "a.b", &"x".repeat(41)] {
            let e = validate_profile(bad).unwrap_err();
            assert!(
                crate::error::render(&e).contains("hint: use 1 to 40"),
                "{bad}"
            );
        }
    }

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory("4g").unwrap(), 4 << 30);
        assert_eq!(parse_memory("4GiB").unwrap(), 4 << 30);
        assert_eq!(parse_memory("3072m").unwrap(), 3072 << 20);
        assert_eq!(parse_memory("512MB").unwrap(), 512 << 20);
        assert_eq!(parse_memory("1.5g").unwrap(), 3 << 29);
        assert_eq!(parse_memory("1000").unwrap(), 1000);
        for bad in ["", "g", "4x", "-1g", "0"] {
            assert!(parse_memory(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn waits() {
        assert_eq!(parse_wait("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_wait("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_wait("5m").unwrap(), Duration::from_secs(300));
        assert!(parse_wait("soon").is_err());
    }

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

    #[test]
    fn names_follow_the_profile() {
        let n = Names::new("dev");
        assert_eq!(
            (n.container.as_str(), n.volume.as_str(), n.context.as_str()),
            ("minik-dev", "minik-dev-var", "minik-dev")
        );
    }
}
