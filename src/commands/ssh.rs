//! `minik ssh`: a shell in the node through `docker exec` (a terminal needs the docker CLI's
//! raw-mode handling, which is not worth rewriting).

use std::io::IsTerminal;

use anyhow::Result;

use crate::cli::SshArgs;
use crate::cluster;
use crate::error::Hinted;
use crate::runtime::Runtime;

pub async fn run(args: SshArgs) -> Result<u8> {
    let rt = Runtime::connect().await?;
    let node = cluster::require_running(&rt, &args.profile.profile).await?;
    let mut cmd = std::process::Command::new("docker");
    cmd.arg("exec").arg("-i");
    if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        cmd.arg("-t");
    }
    cmd.arg(&node.container);
    if args.command.is_empty() {
        cmd.arg("bash");
    } else {
        cmd.args(&args.command);
    }
    let status = cmd.status().map_err(|e| {
        Hinted::new(
            "cannot run the docker CLI",
            "install the docker CLI, or use `minik kubectl` for cluster commands",
        )
        .caused_by(e)
    })?;
    Ok(status.code().unwrap_or(1).clamp(0, 255) as u8)
}
