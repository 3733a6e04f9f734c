//! `minik status`: exit code 0 when healthy, 1 otherwise (like `minikube status`).

use anyhow::Result;

use crate::cli::{Format, StatusArgs};
use crate::cluster::{self, kubeconfig};
use crate::runtime::Runtime;

pub async fn run(args: StatusArgs) -> Result<u8> {
    crate::cluster::names::validate_profile(&args.profile.profile)?;
    let rt = Runtime::connect().await?;
    let s = cluster::status(&rt, &args.profile.profile, &kubeconfig::Chain::from_env()?).await?;
    match args.output {
        Format::Json => println!("{}", serde_json::to_string_pretty(&s)?),
        Format::Text => {
            println!("profile:    {}", s.profile);
            println!("container:  {}", s.container);
            println!("apiserver:  {}", s.api_server);
            println!("node:       {}", s.node);
            println!("version:    {}", s.version.as_deref().unwrap_or("-"));
            println!("endpoint:   {}", s.endpoint.as_deref().unwrap_or("-"));
            println!("context:    {}", s.context.as_deref().unwrap_or("-"));
            println!("creation:   {}", s.creation.as_deref().unwrap_or("-"));
        }
    }
    Ok(if s.healthy() { 0 } else { 1 })
}
