//! `minik spark submit | env`

use anyhow::Result;

use super::target::Target;
use crate::cli::{SparkCommand, SparkTarget};
use crate::image;
use crate::k8s::Timeouts;
use crate::spark::{self, SubmitOptions, SERVICE_ACCOUNT};
use crate::ui::Ui;

fn image_of(t: &SparkTarget) -> String {
    t.image.clone().unwrap_or_else(image::spark::default_image)
}

/// The kubeconfig context to use; for a minik profile, also makes sure the image is in the
/// node (loading it from the host engine when it is only there).
async fn target(ui: &Ui, t: &SparkTarget, image: &str) -> Result<Target> {
    let target = Target::resolve(&t.cluster).await?;
    if let Some((rt, node)) = &target.node {
        let absent = image::ensure_in_node(rt, ui, &node.container, &[image.to_string()]).await?;
        if !absent.is_empty() {
            return Err(crate::error::Hinted::new(
                format!(
                    "the Spark image {image} is neither in the cluster nor in the Docker engine"
                ),
                "build it with `minik image build spark` (or pass --image)",
            )
            .into());
        }
    }
    Ok(target)
}

pub async fn run(ui: &Ui, cmd: SparkCommand) -> Result<u8> {
    match cmd {
        SparkCommand::Submit(a) => {
            // spark-submit's precedence: --conf over the properties file.
            let mut conf = match &a.properties_file {
                Some(p) => spark::files::read_properties(p)?,
                None => Vec::new(),
            };
            conf.extend(a.conf);
            let opts = SubmitOptions {
                image: image_of(&a.target),
                namespace: a.target.namespace.clone(),
                executors: a.executors,
                executor_memory: a.executor_memory,
                executor_cores: a.executor_cores,
                executor_request_cores: spark::EXECUTOR_REQUEST_CORES.into(),
                driver_memory: a.driver_memory,
                conf,
                keep: a.keep,
                class: a.class,
                name: a.name,
                jars: a.jars,
                py_files: a.py_files,
                files: a.files,
                driver_cores: a.driver_cores,
                app: a.app,
                args: a.args,
            };
            // Files that cannot work are refused before an image is loaded or a pod made.
            let inputs = spark::check_inputs(&opts, a.target.cluster.context.is_none())?;
            let target = target(ui, &a.target, &opts.image).await?;
            let client = crate::k8s::client(&target.context, Timeouts::Streaming).await?;
            let stager = target.node.as_ref().map(|(rt, node)| spark::files::Stager {
                rt,
                container: node.container.clone(),
            });
            let code = spark::submit(client, ui, &opts, inputs, stager.as_ref()).await?;
            if code != 0 {
                ui.warn(format!("the application exited with code {code}"));
            }
            Ok(code.clamp(0, 255) as u8)
        }
        SparkCommand::Env(a) => {
            let image = image_of(&a.target);
            let context = Target::resolve(&a.target.cluster).await?.context;
            // The service account and Role a host-side spark-submit will use.
            let client = crate::k8s::client(&context, Timeouts::Streaming).await?;
            spark::ensure_rbac(&client, &a.target.namespace).await?;
            let master = format!("k8s://{}", crate::k8s::server_url(&context).await?);
            println!("export SPARK_K8S_MASTER={master}");
            println!("export SPARK_K8S_IMAGE={image}");
            println!("export SPARK_K8S_NAMESPACE={}", a.target.namespace);
            println!("export SPARK_K8S_SERVICE_ACCOUNT={SERVICE_ACCOUNT}");
            println!(
                "# spark-submit --master $SPARK_K8S_MASTER --deploy-mode cluster \\\n\
                 #   --conf spark.kubernetes.container.image=$SPARK_K8S_IMAGE \\\n\
                 #   --conf spark.kubernetes.namespace=$SPARK_K8S_NAMESPACE \\\n\
                 #   --conf spark.kubernetes.authenticate.driver.serviceAccountName=$SPARK_K8S_SERVICE_ACCOUNT …"
            );
            Ok(0)
        }
    }
}
