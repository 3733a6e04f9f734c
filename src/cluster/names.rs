//! A profile's name, checked, and the names of the Docker objects and kubeconfig entries
//! derived from it.

use anyhow::Result;

use crate::error::Hinted;

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
    fn names_follow_the_profile() {
        let n = Names::new("dev");
        assert_eq!(
            (n.container.as_str(), n.volume.as_str(), n.context.as_str()),
            ("minik-dev", "minik-dev-var", "minik-dev")
        );
    }
}
