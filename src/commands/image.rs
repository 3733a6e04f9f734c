//! `minik image build spark | load | ls | rm`

use anyhow::Result;

use crate::cli::{BuildCommand, ImageCommand, SparkBuildArgs};
use crate::cluster;
use crate::image::{self, spark, Loaded};
use crate::runtime::Runtime;
use crate::ui::Ui;

pub async fn run(ui: &Ui, cmd: ImageCommand) -> Result<u8> {
    if let ImageCommand::Build(BuildCommand::Spark(args)) = cmd {
        return build_spark(ui, args).await;
    }
    let rt = Runtime::connect().await?;
    match cmd {
        ImageCommand::Build(_) => unreachable!("handled above"),
        ImageCommand::Load(args) => {
            let node = cluster::require_running(&rt, &args.profile.profile).await?;
            load(&rt, ui, &node.container, &args.images).await?;
            Ok(0)
        }
        ImageCommand::Ls(p) => {
            let node = cluster::require_running(&rt, &p.profile).await?;
            println!("{:<70} SIZE", "IMAGE");
            for i in image::node_images(&rt, &node.container).await? {
                println!("{:<70} {}", i.reference, i.size);
            }
            Ok(0)
        }
        ImageCommand::Rm(args) => {
            let node = cluster::require_running(&rt, &args.profile.profile).await?;
            image::remove(&rt, &node.container, &args.images).await?;
            Ok(0)
        }
    }
}

async fn load(rt: &Runtime, ui: &Ui, node: &str, images: &[String]) -> Result<()> {
    ui.step_with(
        format!("Loading {} into {node}", images.join(", ")),
        async {
            let outcome = image::load(rt, ui, node, images).await?;
            let summary: Vec<String> = outcome
                .iter()
                .map(|(i, what)| {
                    let what = match what {
                        Loaded::Imported => "loaded",
                        Loaded::AlreadyPresent => "already present",
                        Loaded::Retagged => "re-tagged",
                    };
                    format!("{i} {what}")
                })
                .collect();
            Ok(((), Some(summary.join(", "))))
        },
    )
    .await
}

async fn build_spark(ui: &Ui, args: SparkBuildArgs) -> Result<u8> {
    let opts = spark::SparkBuild {
        scala: args
            .scala
            .unwrap_or_else(|| spark::default_scala(&args.spark_version).into()),
        version: args.spark_version,
        java: args.java,
        python: args.python,
        tarball: args.tarball,
        mirror: args.mirror,
        base_image: args.base_image,
        tag: args.tag,
        offline: args.offline,
    };
    // The input is checked before the engine is contacted.
    opts.file_name()?;
    let rt = &Runtime::connect().await?;
    let tags = spark::build(rt, ui, &opts).await?;
    if !args.no_load {
        match cluster::find(rt, &args.profile.profile).await? {
            Some(node) if node.running() => load(rt, ui, &node.container, &tags).await?,
            _ => ui.note(format!(
                "no running cluster {:?}: not loaded (later: minik image load {})",
                args.profile.profile,
                tags.join(" ")
            )),
        }
    }
    for t in &tags {
        println!("{t}");
    }
    Ok(0)
}
