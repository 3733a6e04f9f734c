//! Which kubeconfig files there are, the way kubectl finds them, and their merge: the one
//! kubeconfig policy that every client minik builds follows, and where the cluster library
//! writes its entries.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The kubeconfig files as kubectl reads them: every path of $KUBECONFIG, else
/// ~/.kube/config. Writes follow client-go: an entry that exists is changed in the file
/// that holds it; a new entry goes to the first file that exists, or to the last of the
/// list when none does; removal takes entries from every file that holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub files: Vec<PathBuf>,
}

impl Chain {
    pub fn from_env() -> Result<Chain> {
        if let Some(v) = std::env::var_os("KUBECONFIG") {
            let files: Vec<PathBuf> = std::env::split_paths(&v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect();
            if !files.is_empty() {
                return Ok(Chain { files });
            }
        }
        let home =
            dirs::home_dir().context("cannot find the home directory (set HOME or KUBECONFIG)")?;
        Ok(Chain {
            files: vec![home.join(".kube").join("config")],
        })
    }

    #[cfg(test)]
    pub fn single(path: &Path) -> Chain {
        Chain {
            files: vec![path.to_path_buf()],
        }
    }

    /// Where a new entry goes.
    pub fn target(&self) -> &Path {
        self.files
            .iter()
            .find(|f| f.exists())
            .or(self.files.last())
            .expect("a chain has at least one file")
    }

    /// A kube-rs Kubeconfig of every existing file merged in order (missing files skipped,
    /// as kubectl skips them).
    pub fn merged(&self) -> Result<kube::config::Kubeconfig> {
        let mut merged = kube::config::Kubeconfig::default();
        for f in self.files.iter().filter(|f| f.exists()) {
            let kc = kube::config::Kubeconfig::read_from(f)
                .with_context(|| format!("cannot read kubeconfig {}", f.display()))?;
            merged = merged
                .merge(kc)
                .with_context(|| format!("cannot merge kubeconfig {}", f.display()))?;
        }
        Ok(merged)
    }
}
