//! `minik kubectl -- ARGS`: the node's kubectl with the admin credentials, for users
//! without a kubectl of their own. Standard input is passed through when it is not a
//! terminal (`minik kubectl -- apply -f - < app.yaml`).

use std::io::{IsTerminal, Write};

use anyhow::Result;

use crate::cli::KubectlArgs;
use crate::cluster;
use crate::runtime::Runtime;

pub async fn run(args: KubectlArgs) -> Result<u8> {
    let rt = Runtime::connect().await?;
    let node = cluster::require_running(&rt, &args.profile.profile).await?;
    let user_args: Vec<&str> = args.args.iter().map(String::as_str).collect();
    let cmd = cluster::node::kubectl(&user_args);
    let stdin: Option<Box<dyn tokio::io::AsyncRead + Send + Unpin>> =
        if std::io::stdin().is_terminal() {
            None
        } else {
            Some(Box::new(tokio::io::stdin()))
        };
    let out = rt.exec(&node.container, &cmd, stdin).await?;
    std::io::stdout().write_all(out.stdout.as_bytes())?;
    let stderr: String = out.output.replacen(&out.stdout, "", 1);
    std::io::stderr().write_all(stderr.as_bytes())?;
    Ok(out.exit_code.clamp(0, 255) as u8)
}
