//! `minik start`

use anyhow::Result;

use crate::cli::StartArgs;
use crate::cluster::{self, kubeconfig, StartOptions};
use crate::runtime::Runtime;
use crate::ui::{human_duration, Ui};

pub async fn run(ui: &Ui, args: StartArgs) -> Result<u8> {
    let image = match (&args.image, &args.kubernetes_version) {
        (Some(image), _) => Some(image.clone()),
        (None, Some(v)) => Some(crate::cluster::version::image_for_version(v)?.to_string()),
        (None, None) => None,
    };
    let opts = StartOptions {
        profile: args.profile.profile,
        image,
        cpus: args.cpus,
        memory: args
            .memory
            .as_deref()
            .map(crate::units::parse_memory)
            .transpose()?,
        retain: args.retain,
        wait: crate::units::parse_wait(&args.wait)?,
        keep_context: args.keep_context,
        kubeconfig: kubeconfig::Chain::from_env()?,
    };
    crate::cluster::names::validate_profile(&opts.profile)?;
    let rt = Runtime::connect().await?;
    ui.info(format!("Starting cluster {:?}", opts.profile));
    let report = cluster::start(&rt, ui, &opts).await?;
    let verb = if report.created { "created" } else { "started" };
    ui.info(format!(
        "Cluster {:?} {verb} in {}: API server at {}",
        opts.profile,
        human_duration(report.elapsed),
        report.endpoint
    ));
    ui.info(format!(
        "Use it with: kubectl cluster-info --context {}",
        report.context
    ));
    Ok(0)
}
