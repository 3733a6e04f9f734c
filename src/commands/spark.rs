//! `minik spark submit | env`

use anyhow::Result;

use crate::cli::{SparkCommand, SparkTarget};
use crate::cluster::{self, config::Names};
use crate::image::{self, spark::DEFAULT_VERSION};
use crate::runtime::Runtime;
use crate::spark::{self, SubmitOptions, SERVICE_ACCOUNT};
use crate::ui::Ui;

fn image_of(t: &SparkTarget) -> String {
    t.image
        .clone()
        .unwrap_or_else(|| format!("minik/spark:{DEFAULT_VERSION}-java17"))
}

/// The kubeconfig context to use; for a minik profile, also makes sure the image is in the
/// node (loading it from the host engine when it is only there).
async fn target(ui: &Ui, t: &SparkTarget, image: &str) -> Result<String> {
    if let Some(ctx) = &t.context {
        return Ok(ctx.clone());
    }
    let rt = Runtime::connect().await?;
    let node = cluster::require_running(&rt, &t.profile.profile).await?;
    let present = image::node_images(&rt, &node.container).await?;
    if !present
        .iter()
        .any(|i| i.reference == image::containerd_ref(image))
    {
        if rt.image_id(image).await?.is_some() {
            let step = ui.step(format!("Loading {image} into {}", node.container));
            image::load(&rt, ui, &node.container, &[image.to_string()]).await?;
            step.done();
        } else {
            return Err(crate::error::Hinted::new(
                format!(
                    "the Spark image {image} is neither in the cluster nor in the Docker engine"
                ),
                "build it with `minik image build spark` (or pass --image)",
            )
            .into());
        }
    }
    Ok(Names::new(&t.profile.profile).context)
}

pub async fn run(ui: &Ui, cmd: SparkCommand) -> Result<u8> {
    match cmd {
        SparkCommand::Submit(a) => {
            let image = image_of(&a.target);
            let context = target(ui, &a.target, &image).await?;
            let client = crate::kube::streaming_client(&context).await?;
            let opts = SubmitOptions {
                image,
                namespace: a.target.namespace,
                executors: a.executors,
                executor_memory: a.executor_memory,
                executor_cores: a.executor_cores,
                executor_request_cores: "0.2".into(),
                driver_memory: a.driver_memory,
                conf: a.conf,
                keep: a.keep,
                app: a.app,
                args: a.args,
            };
            let code = spark::submit(client, ui, &opts).await?;
            if code != 0 {
                ui.warn(format!("the application exited with code {code}"));
            }
            Ok(code.clamp(0, 255) as u8)
        }
        SparkCommand::Env(a) => {
            let image = image_of(&a.target);
            let context = match &a.target.context {
                Some(ctx) => ctx.clone(),
                None => {
                    let rt = Runtime::connect().await?;
                    cluster::require_running(&rt, &a.target.profile.profile).await?;
                    Names::new(&a.target.profile.profile).context
                }
            };
            // The service account and Role a host-side spark-submit will use.
            let client = crate::kube::streaming_client(&context).await?;
            spark::ensure_rbac(&client, &a.target.namespace).await?;
            let master = format!("k8s://{}", kube_server(&context).await?);
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

/// The API server URL of a kubeconfig context.
async fn kube_server(context: &str) -> Result<String> {
    let opts = kube::config::KubeConfigOptions {
        context: Some(context.to_string()),
        ..Default::default()
    };
    let config = kube::Config::from_kubeconfig(&opts).await?;
    Ok(config
        .cluster_url
        .to_string()
        .trim_end_matches('/')
        .to_string())
}
