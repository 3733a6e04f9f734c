//! Locks that keep two minik commands from working on one cluster (or on the shared
//! network) at once: OS file locks, released when the process ends however it ends.

use std::fs::File;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::error::Hinted;

/// An exclusive lock on a profile, held while it is created, started, stopped or deleted;
/// the OS releases it when the process ends, however it ends.
pub struct ProfileLock {
    _file: File,
}

fn lock_file(name: &str) -> Result<(File, PathBuf)> {
    let dir = dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("minik")
        .join("locks");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path: PathBuf = dir.join(format!("{name}.lock"));
    let file = File::create(&path)
        .with_context(|| format!("cannot create lock file {}", path.display()))?;
    Ok((file, path))
}

/// Waits for the lock on the shared `minik` network: held while a node is attached to it
/// and while it is removed, so that deleting the last cluster cannot pull the network from
/// under a cluster being created. (`_` cannot start a profile name.)
pub fn lock_network() -> Result<ProfileLock> {
    let (file, path) = lock_file("_network")?;
    file.lock()
        .with_context(|| format!("cannot lock {}", path.display()))?;
    Ok(ProfileLock { _file: file })
}

pub fn lock_profile(profile: &str) -> Result<ProfileLock> {
    let (file, path) = lock_file(profile)?;
    match file.try_lock() {
        Ok(()) => Ok(ProfileLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(Hinted::new(
            format!("another minik command is working on cluster {profile:?}"),
            "wait for it to finish, then run this command again",
        )
        .into()),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}
