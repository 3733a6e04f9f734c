//! The command line. The doc comments here are the help text.

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(name = "minik", version, about = "A real local Kubernetes for data work: one node in one Docker container", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Say more: details of each step (hides progress bars).
    #[arg(short, long, global = true, conflicts_with = "quiet")]
    pub verbose: bool,
    /// Say only errors and warnings.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Args, Debug, Clone)]
pub struct Profile {
    /// The cluster to act on.
    #[arg(
        short = 'p',
        long = "profile",
        default_value = "minik",
        env = "MINIK_PROFILE",
        value_parser = parse_profile
    )]
    pub profile: String,
}

/// A minik profile or, for cluster-side commands, any cluster through a kubeconfig context.
#[derive(Args, Debug, Clone)]
pub struct ClusterTarget {
    /// The minik cluster to act on [default: $MINIK_PROFILE, else minik].
    #[arg(short = 'p', long = "profile", value_parser = parse_profile)]
    profile: Option<String>,
    /// Use this kubeconfig context instead of a minik profile (any Kubernetes cluster).
    #[arg(long, conflicts_with = "profile")]
    pub context: Option<String>,
}

impl ClusterTarget {
    /// The profile: -p, else $MINIK_PROFILE, else `minik`. (MINIK_PROFILE is read here rather
    /// than by clap so that it never conflicts with an explicit --context.)
    pub fn profile(&self) -> anyhow::Result<String> {
        match &self.profile {
            Some(p) => Ok(p.clone()),
            None => match std::env::var("MINIK_PROFILE") {
                Ok(p) if !p.is_empty() => {
                    crate::cluster::names::validate_profile(&p)?;
                    Ok(p)
                }
                _ => Ok("minik".into()),
            },
        }
    }
}

fn parse_profile(s: &str) -> Result<String, String> {
    crate::cluster::names::validate_profile(s)
        .map(|()| s.to_string())
        .map_err(|e| format!("{e}; use 1 to 40 lowercase letters, digits and '-', starting and ending with a letter or digit"))
}

// The command enums are built once per run: their size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a cluster, or restart it when it exists and is stopped.
    Start(StartArgs),
    /// Stop a cluster; its data stays for the next `minik start`.
    Stop(Profile),
    /// Delete a cluster: its container, volume and kubeconfig entries.
    Delete(DeleteArgs),
    /// Show a cluster's state: container, API server, node, version, endpoint.
    Status(StatusArgs),
    /// List the clusters on this Docker engine.
    List(ListArgs),
    /// Print logs from inside the node (kubeadm, containerd, kubelet).
    Logs(LogsArgs),
    /// Open a shell in the node, or run a command there (needs the docker CLI).
    Ssh(SshArgs),
    /// Print a cluster's kubeconfig (the merged entries, standalone).
    Kubeconfig(Profile),
    /// Run the node's own kubectl against the cluster: `minik kubectl -- get pods -A`.
    Kubectl(KubectlArgs),
    /// Build images (Spark) and move images into a cluster.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Run Spark applications on the cluster.
    #[command(subcommand)]
    Spark(SparkCommand),
    /// List, enable and disable add-ons (storage, dashboard, …).
    #[command(subcommand)]
    Addons(AddonsCommand),
    /// Open the cluster's web UI (Headlamp), logged in; enables the dashboard add-on when needed.
    Dashboard(DashboardArgs),
    /// Reach a Service through a local URL on 127.0.0.1, kept open while this runs.
    Service(ServiceArgs),
    /// Print a shell completion script: `minik completion bash > /etc/bash_completion.d/minik`.
    Completion(CompletionArgs),
}

#[derive(Args, Debug)]
pub struct CompletionArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

#[derive(Subcommand, Debug)]
pub enum AddonsCommand {
    /// Show every add-on: enabled, ready, images present in the node.
    List(AddonsListArgs),
    /// Install an add-on (again: applies changed values; unchanged, it changes nothing).
    Enable(AddonsEnableArgs),
    /// Remove exactly what an add-on created.
    Disable(AddonsDisableArgs),
}

#[derive(Args, Debug)]
pub struct AddonsListArgs {
    #[command(flatten)]
    pub target: ClusterTarget,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "text")]
    pub output: Format,
}

#[derive(Args, Debug)]
pub struct AddonsEnableArgs {
    #[command(flatten)]
    pub target: ClusterTarget,
    /// The add-on (`minik addons list` shows them).
    pub name: String,
    /// Override a setting, repeatable: --set resources.memory=512Mi
    #[arg(long, value_parser = parse_conf)]
    pub set: Vec<(String, String)>,
    /// Settings from a YAML file (nested keys, as in the add-on's README).
    #[arg(long, value_name = "FILE")]
    pub values: Option<std::path::PathBuf>,
    /// Use another image, repeatable: --image headlamp=registry.local/headlamp:v0.45.0
    #[arg(long, value_parser = parse_conf, value_name = "NAME=IMAGE")]
    pub image: Vec<(String, String)>,
    /// How long to wait for the add-on to be ready (0: do not wait).
    #[arg(long, default_value = "5m")]
    pub wait: String,
}

#[derive(Args, Debug)]
pub struct AddonsDisableArgs {
    #[command(flatten)]
    pub target: ClusterTarget,
    /// The add-on.
    pub name: String,
}

#[derive(Args, Debug)]
pub struct DashboardArgs {
    #[command(flatten)]
    pub target: ClusterTarget,
    /// Only print the URL (which logs you in) instead of opening a browser.
    #[arg(long)]
    pub url: bool,
    /// Local port (default: any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
}

#[derive(Args, Debug)]
pub struct ServiceArgs {
    #[command(flatten)]
    pub target: ClusterTarget,
    /// The Service.
    pub name: String,
    /// Its namespace.
    #[arg(short, long, default_value = "default")]
    pub namespace: String,
    /// The Service port, by name or number (default: its first).
    #[arg(long)]
    pub port: Option<String>,
    /// Only print the URL instead of opening a browser.
    #[arg(long)]
    pub url: bool,
    /// Local port (default: any free port).
    #[arg(long, default_value_t = 0)]
    pub local_port: u16,
}

#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum SparkCommand {
    /// Run an application: driver in a pod, executors as pods; streams the driver's log and
    /// exits with the application's exit code.
    Submit(SparkSubmitArgs),
    /// Print what a host-side spark-submit needs to use the cluster.
    Env(SparkEnvArgs),
}

#[derive(Args, Debug)]
pub struct SparkTarget {
    #[command(flatten)]
    pub cluster: ClusterTarget,
    /// Namespace to run in (created when missing).
    #[arg(short, long, default_value = "default")]
    pub namespace: String,
    /// Spark image (default: minik/spark:<default version>-java17).
    #[arg(long)]
    pub image: Option<String>,
}

#[derive(Args, Debug)]
pub struct SparkSubmitArgs {
    #[command(flatten)]
    pub target: SparkTarget,
    /// Number of executor pods.
    #[arg(long, default_value_t = 2)]
    pub executors: u32,
    /// Executor JVM memory (pods get 384m more).
    #[arg(long, default_value = "512m")]
    pub executor_memory: String,
    /// Executor cores (Spark task slots).
    #[arg(long, default_value_t = 1)]
    pub executor_cores: u32,
    /// Driver JVM memory (the pod gets 384m more).
    #[arg(long, default_value = "512m")]
    pub driver_memory: String,
    /// Extra Spark configuration, repeatable: --conf spark.sql.shuffle.partitions=4
    #[arg(long, value_parser = parse_conf)]
    pub conf: Vec<(String, String)>,
    /// Keep the driver pod (and its log) after the application ends.
    #[arg(long)]
    pub keep: bool,
    /// The main class of a JVM application (when its JAR's manifest names none).
    #[arg(long)]
    pub class: Option<String>,
    /// The application's name.
    #[arg(long)]
    pub name: Option<String>,
    /// Extra JARs for the driver and executors, comma-separated or repeated: host files,
    /// local:///path in the image, or URLs.
    #[arg(long)]
    pub jars: Vec<String>,
    /// .py, .zip or .egg files for the Python path, comma-separated or repeated.
    #[arg(long)]
    pub py_files: Vec<String>,
    /// Files placed in each executor's working directory (SparkFiles), comma-separated or
    /// repeated.
    #[arg(long)]
    pub files: Vec<String>,
    /// CPU cores of the driver (its pod's request).
    #[arg(long)]
    pub driver_cores: Option<String>,
    /// Spark properties from a file (KEY=VALUE lines); --conf wins over it.
    #[arg(long, value_name = "FILE")]
    pub properties_file: Option<std::path::PathBuf>,
    /// The application: a .py or .jar file on this machine (copied into a minik node once,
    /// by content), local:///path inside the image, or a URL.
    pub app: String,
    /// Arguments for the application.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct SparkEnvArgs {
    #[command(flatten)]
    pub target: SparkTarget,
}

fn parse_conf(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))
}

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// Build one of minik's images.
    #[command(subcommand)]
    Build(BuildCommand),
    /// Put host images into the cluster's node (skips those already there).
    Load(ImageLoadArgs),
    /// List the images in the cluster's node.
    Ls(Profile),
    /// Remove images from the cluster's node.
    Rm(ImageLoadArgs),
}

#[derive(Subcommand, Debug)]
pub enum BuildCommand {
    /// The Spark base image from an Apache Spark distribution (downloaded, verified, cached).
    Spark(SparkBuildArgs),
}

#[derive(Args, Debug)]
pub struct SparkBuildArgs {
    #[command(flatten)]
    pub profile: Profile,
    /// Spark release.
    #[arg(long, default_value = crate::image::spark::DEFAULT_VERSION)]
    pub spark_version: String,
    /// Scala version of the distribution (Spark 4 has 2.13 only).
    #[arg(long)]
    pub scala: Option<String>,
    /// Java version of the default base image.
    #[arg(long, default_value_t = 17, value_parser = parse_java)]
    pub java: u32,
    /// Also build the PySpark variant (minik/spark-py).
    #[arg(long)]
    pub python: bool,
    /// Use this distribution tarball (a path, or a URL with a .sha512 beside it).
    #[arg(long)]
    pub tarball: Option<String>,
    /// Base URL of an Apache-style mirror: <mirror>/spark-<v>/<file>.
    #[arg(long)]
    pub mirror: Option<String>,
    /// Base image with a JRE (default: eclipse-temurin:<java>-jre).
    #[arg(long)]
    pub base_image: Option<String>,
    /// Tag of the base image (default: minik/spark:<version>-java<java>).
    #[arg(long)]
    pub tag: Option<String>,
    /// Use only the download cache.
    #[arg(long)]
    pub offline: bool,
    /// Do not load the image into the running cluster.
    #[arg(long)]
    pub no_load: bool,
}

#[derive(Args, Debug)]
pub struct ImageLoadArgs {
    #[command(flatten)]
    pub profile: Profile,
    /// Images, as Docker names them.
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StartArgs {
    #[command(flatten)]
    pub profile: Profile,
    /// Kubernetes version, from the pinned node images (e.g. v1.33 or v1.33.4).
    #[arg(long, conflicts_with = "image")]
    pub kubernetes_version: Option<String>,
    /// Any kind-compatible node image (default: the newest pinned kindest/node).
    #[arg(long)]
    pub image: Option<String>,
    /// CPUs the node may use (e.g. 2 or 1.5). Default: no limit.
    #[arg(long)]
    pub cpus: Option<f64>,
    /// Memory the node may use (e.g. 4g, 3072m). Default: no limit.
    #[arg(long)]
    pub memory: Option<String>,
    /// Keep the node when creation fails, for inspection.
    #[arg(long)]
    pub retain: bool,
    /// How long to wait for the node to be Ready (0: do not wait).
    #[arg(long, default_value = "5m")]
    pub wait: String,
    /// Do not switch kubeconfig's current context to the cluster.
    #[arg(long)]
    pub keep_context: bool,
}

#[derive(Args, Debug)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub profile: Profile,
    /// Delete every minik cluster on this engine.
    #[arg(long)]
    pub all: bool,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub profile: Profile,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "text")]
    pub output: Format,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Output format.
    #[arg(short, long, value_enum, default_value = "text")]
    pub output: Format,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Component {
    Kubeadm,
    Containerd,
    Kubelet,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    #[command(flatten)]
    pub profile: Profile,
    /// Only this component (default: all three).
    #[arg(long, value_enum)]
    pub component: Option<Component>,
    /// Lines per component.
    #[arg(short = 'n', long, default_value_t = 200)]
    pub tail: u32,
}

#[derive(Args, Debug)]
pub struct SshArgs {
    #[command(flatten)]
    pub profile: Profile,
    /// Command to run instead of a shell.
    #[arg(last = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct KubectlArgs {
    #[command(flatten)]
    pub profile: Profile,
    /// Arguments for kubectl.
    #[arg(last = true)]
    pub args: Vec<String>,
}

fn parse_java(s: &str) -> Result<u32, String> {
    match s {
        "17" | "21" => Ok(s.parse().expect("digits")),
        _ => Err("Spark images are built for Java 17 or 21".into()),
    }
}
