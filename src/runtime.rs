//! The container-runtime seam: the few Docker operations minik needs, over bollard.
//!
//! Nothing above this module calls bollard; the container specification and inspection types
//! are Docker's own API models, re-exported as [`models`] for the node spec to fill in.
//! Errors come back as `anyhow::Error` with the Docker status mapped to meaning (not found,
//! already so, conflict) where callers care.
//!
//! (Over 500 lines, on purpose: one short method per engine operation, flat, so that the
//! whole seam to Docker can be read in one place.)

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result};
use bollard::errors::Error as DockerError;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerSummary, NetworkCreateRequest,
    VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, ListContainersOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveVolumeOptionsBuilder, StopContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWriteExt};

use crate::error::{CommandFailed, Hinted};

/// A connection to the Docker engine.
#[derive(Clone)]
pub struct Runtime {
    docker: Docker,
}

/// The result of a command run in a container.
#[derive(Debug)]
pub struct ExecOutput {
    pub exit_code: i64,
    /// stdout and stderr, interleaved as they came.
    pub output: String,
    pub stdout: String,
}

/// One layer's pull progress, as the engine reports it.
#[derive(Debug, Clone)]
pub struct LayerProgress {
    pub layer: String,
    pub status: String,
    pub current: u64,
    pub total: u64,
}

/// Whether an error from the engine means "conflict" (name in use, object in use).
pub fn is_conflict(err: &anyhow::Error) -> bool {
    status_code(err) == Some(409)
}

/// Docker's API models that the cluster library builds and reads.
pub mod models {
    pub use bollard::models::{
        ContainerCreateBody, ContainerInspectResponse, DeviceMapping, EndpointIpamConfig,
        EndpointSettings, HostConfig, HostConfigCgroupnsModeEnum, NetworkingConfig, PortBinding,
    };
}

/// Engine answers that mean "nothing to do" for the request that got them.
const NOT_FOUND: u16 = 404;
const UNCHANGED: u16 = 304;
const CONFLICT: u16 = 409;

/// The value, or None when the engine answered with one of `codes`: deleting what is gone,
/// starting what runs, inspecting what does not exist.
fn unless<T>(r: Result<T, DockerError>, codes: &[u16]) -> Result<Option<T>, DockerError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(DockerError::DockerResponseServerError { status_code, .. })
            if codes.contains(&status_code) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

fn status_code(err: &anyhow::Error) -> Option<u16> {
    err.chain()
        .find_map(|e| match e.downcast_ref::<DockerError>() {
            Some(DockerError::DockerResponseServerError { status_code, .. }) => Some(*status_code),
            _ => None,
        })
}

/// How long the engine may take to answer the first requests of a command.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl Runtime {
    /// Connects to the engine named by DOCKER_HOST (or the local socket) and checks it answers.
    pub async fn connect() -> Result<Runtime> {
        let unreachable = |e: DockerError| {
            let host = std::env::var("DOCKER_HOST")
                .unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
            anyhow::Error::new(
                Hinted::new(
                    format!("cannot reach the Docker engine at {host}"),
                    "is Docker running? Start it (e.g. `sudo systemctl start docker`) or set DOCKER_HOST",
                )
                .caused_by(e),
            )
        };
        // An endpoint that accepts connections but never answers must not hang every
        // command: the first exchanges get a short deadline, the real work a long one.
        let docker = Docker::connect_with_defaults()
            .map_err(unreachable)?
            .with_timeout(CONNECT_TIMEOUT);
        // Old engines (20.10 speaks API 1.41) reject newer API versions: negotiate down.
        let docker = docker.negotiate_version().await.map_err(unreachable)?;
        docker.ping().await.map_err(unreachable)?;
        Ok(Runtime {
            docker: docker.with_timeout(Duration::from_secs(600)),
        })
    }

    /// Total memory and CPUs of the engine's host.
    pub async fn host_resources(&self) -> Result<(u64, u64)> {
        let info = self
            .docker
            .info()
            .await
            .context("cannot read the Docker engine's info")?;
        Ok((
            info.mem_total.unwrap_or(0).max(0) as u64,
            info.ncpu.unwrap_or(0).max(0) as u64,
        ))
    }

    /// The image's ID when the engine has it.
    pub async fn image_id(&self, image: &str) -> Result<Option<String>> {
        Ok(unless(self.docker.inspect_image(image).await, &[NOT_FOUND])
            .with_context(|| format!("cannot inspect image {image}"))?
            .and_then(|i| i.id))
    }

    /// Pulls an image, reporting per-layer byte progress.
    pub async fn pull(&self, image: &str, mut progress: impl FnMut(LayerProgress)) -> Result<()> {
        let opts = CreateImageOptionsBuilder::new().from_image(image).build();
        let mut stream = self.docker.create_image(Some(opts), None, None);
        // Drain the whole stream: an error can arrive as an item.
        while let Some(item) = stream.next().await {
            let info = item.with_context(|| format!("cannot pull image {image}"))?;
            if let Some(detail) = info.error_detail {
                anyhow::bail!(
                    "cannot pull image {image}: {}",
                    detail.message.unwrap_or_default()
                );
            }
            if let (Some(id), Some(status)) = (info.id, info.status) {
                let (current, total) = info
                    .progress_detail
                    .map(|p| {
                        (
                            p.current.unwrap_or(0).max(0) as u64,
                            p.total.unwrap_or(0).max(0) as u64,
                        )
                    })
                    .unwrap_or((0, 0));
                progress(LayerProgress {
                    layer: id,
                    status,
                    current,
                    total,
                });
            }
        }
        Ok(())
    }

    /// Creates a bridge network with the given subnet unless one of that name exists;
    /// returns its subnet.
    pub async fn ensure_network(
        &self,
        name: &str,
        subnets: &[&str],
        labels: HashMap<String, String>,
    ) -> Result<String> {
        if let Some(subnet) = self.network_subnet(name).await? {
            return Ok(subnet);
        }
        let mut last_err = None;
        for subnet in subnets {
            let req = NetworkCreateRequest {
                name: name.to_string(),
                driver: Some("bridge".into()),
                labels: Some(labels.clone()),
                ipam: Some(bollard::models::Ipam {
                    config: Some(vec![bollard::models::IpamConfig {
                        subnet: Some(subnet.to_string()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                options: Some(HashMap::from([(
                    "com.docker.network.bridge.enable_ip_masquerade".to_string(),
                    "true".to_string(),
                )])),
                ..Default::default()
            };
            match self.docker.create_network(req).await {
                Ok(_) => return Ok(subnet.to_string()),
                // Another minik created it meanwhile.
                Err(DockerError::DockerResponseServerError {
                    status_code: CONFLICT,
                    ..
                }) => {
                    if let Some(s) = self.network_subnet(name).await? {
                        return Ok(s);
                    }
                }
                // Subnet overlaps another network: try the next candidate.
                Err(e) => last_err = Some(e),
            }
        }
        Err(anyhow::Error::new(
            Hinted::new(
                format!("cannot create Docker network {name}"),
                "every candidate subnet overlaps an existing network; remove unused networks with `docker network prune`",
            )
            .caused_by(last_err.map(|e| e.to_string()).unwrap_or_default()),
        ))
    }

    /// The first IPv4 subnet of a network, or None when the network does not exist.
    pub async fn network_subnet(&self, name: &str) -> Result<Option<String>> {
        match self.docker.inspect_network(name, None).await {
            Ok(n) => Ok(n
                .ipam
                .and_then(|i| i.config)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|c| c.subnet)
                .find(|s| !s.contains(':'))),
            Err(DockerError::DockerResponseServerError {
                status_code: NOT_FOUND,
                ..
            }) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot inspect network {name}")),
        }
    }

    /// Removes a network when no container uses it; true when it was removed.
    pub async fn remove_network_if_unused(&self, name: &str) -> Result<bool> {
        match self.docker.inspect_network(name, None).await {
            Ok(n) if n.containers.as_ref().is_none_or(|c| c.is_empty()) => {}
            Ok(_) => return Ok(false),
            Err(DockerError::DockerResponseServerError {
                status_code: NOT_FOUND,
                ..
            }) => return Ok(false),
            Err(e) => return Err(e).with_context(|| format!("cannot inspect network {name}")),
        }
        // Gone already, or in use again (403/409): not ours to remove.
        Ok(unless(
            self.docker.remove_network(name).await,
            &[NOT_FOUND, CONFLICT, 403],
        )
        .with_context(|| format!("cannot remove network {name}"))?
        .is_some())
    }

    pub async fn create_volume(&self, name: &str, labels: HashMap<String, String>) -> Result<()> {
        let req = VolumeCreateRequest {
            name: Some(name.to_string()),
            labels: Some(labels),
            ..Default::default()
        };
        self.docker
            .create_volume(req)
            .await
            .with_context(|| format!("cannot create volume {name}"))?;
        Ok(())
    }

    pub async fn volume_exists(&self, name: &str) -> Result<bool> {
        Ok(unless(self.docker.inspect_volume(name).await, &[NOT_FOUND])
            .with_context(|| format!("cannot inspect volume {name}"))?
            .is_some())
    }

    /// Removes a volume; absent is fine.
    pub async fn remove_volume(&self, name: &str) -> Result<()> {
        let opts = RemoveVolumeOptionsBuilder::new().force(true).build();
        unless(
            self.docker.remove_volume(name, Some(opts)).await,
            &[NOT_FOUND],
        )
        .with_context(|| format!("cannot remove volume {name}"))?;
        Ok(())
    }

    pub async fn create_container(&self, name: &str, body: ContainerCreateBody) -> Result<String> {
        let opts = CreateContainerOptionsBuilder::new().name(name).build();
        let resp = self
            .docker
            .create_container(Some(opts), body)
            .await
            .with_context(|| format!("cannot create container {name}"))?;
        Ok(resp.id)
    }

    pub async fn start_container(&self, name: &str) -> Result<()> {
        unless(self.docker.start_container(name, None).await, &[UNCHANGED])
            .with_context(|| format!("cannot start container {name}"))?;
        Ok(())
    }

    /// Stops a container, giving it `grace` to shut down cleanly.
    pub async fn stop_container(&self, name: &str, grace: Duration) -> Result<()> {
        let opts = StopContainerOptionsBuilder::new()
            .t(grace.as_secs() as i32)
            .build();
        unless(
            self.docker.stop_container(name, Some(opts)).await,
            &[UNCHANGED],
        )
        .with_context(|| format!("cannot stop container {name}"))?;
        Ok(())
    }

    /// Removes a container (running or not); absent is fine.
    pub async fn remove_container(&self, name: &str) -> Result<()> {
        let opts = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        unless(
            self.docker.remove_container(name, Some(opts)).await,
            &[NOT_FOUND],
        )
        .with_context(|| format!("cannot remove container {name}"))?;
        Ok(())
    }

    pub async fn inspect_container(&self, name: &str) -> Result<Option<ContainerInspectResponse>> {
        unless(
            self.docker.inspect_container(name, None).await,
            &[NOT_FOUND],
        )
        .with_context(|| format!("cannot inspect container {name}"))
    }

    /// Containers (running or not) carrying all the given labels (`key` or `key=value`).
    pub async fn list_containers(&self, labels: &[String]) -> Result<Vec<ContainerSummary>> {
        let filters = HashMap::from([("label".to_string(), labels.to_vec())]);
        let opts = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        self.docker
            .list_containers(Some(opts))
            .await
            .context("cannot list containers")
    }

    /// Runs a command in a running container and collects its output. `stdin`, when given,
    /// is streamed to the command and closed at its end.
    pub async fn exec(
        &self,
        container: &str,
        cmd: &[&str],
        stdin: Option<Box<dyn AsyncRead + Send + Unpin>>,
    ) -> Result<ExecOutput> {
        let exec = self
            .docker
            .create_exec(
                container,
                CreateExecOptions {
                    cmd: Some(cmd.to_vec()),
                    attach_stdin: Some(stdin.is_some()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .with_context(|| format!("cannot run `{}` in {container}", cmd.join(" ")))?;
        let started = self
            .docker
            .start_exec(
                &exec.id,
                Some(StartExecOptions {
                    detach: false,
                    ..Default::default()
                }),
            )
            .await
            .with_context(|| format!("cannot run `{}` in {container}", cmd.join(" ")))?;
        let (mut output_stream, mut input) = match started {
            StartExecResults::Attached { output, input } => (output, input),
            StartExecResults::Detached => unreachable!("exec started attached"),
        };
        let feed = async move {
            if let Some(mut stdin) = stdin {
                tokio::io::copy(&mut stdin, &mut input).await?;
                input.shutdown().await?;
            }
            Ok::<_, std::io::Error>(())
        };
        let collect = async {
            let mut output = Vec::new();
            let mut stdout = Vec::new();
            while let Some(chunk) = output_stream.next().await {
                match chunk? {
                    bollard::container::LogOutput::StdOut { message } => {
                        stdout.extend_from_slice(&message);
                        output.extend_from_slice(&message);
                    }
                    other => output.extend_from_slice(other.as_ref()),
                }
            }
            Ok::<_, DockerError>((output, stdout))
        };
        let (fed, collected) = tokio::join!(feed, collect);
        let (output, stdout) =
            collected.with_context(|| format!("lost the output of `{}`", cmd.join(" ")))?;
        fed.with_context(|| format!("cannot send input to `{}`", cmd.join(" ")))?;
        let inspect = self
            .docker
            .inspect_exec(&exec.id)
            .await
            .context("cannot read the exit code")?;
        Ok(ExecOutput {
            exit_code: inspect.exit_code.unwrap_or(-1),
            output: String::from_utf8_lossy(&output).into_owned(),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
        })
    }

    /// Like [`exec`](Self::exec), but a non-zero exit is an error carrying the output.
    pub async fn exec_ok(&self, container: &str, cmd: &[&str]) -> Result<ExecOutput> {
        self.exec_ok_with_input(container, cmd, None).await
    }

    pub async fn exec_ok_with_input(
        &self,
        container: &str,
        cmd: &[&str],
        stdin: Option<Box<dyn AsyncRead + Send + Unpin>>,
    ) -> Result<ExecOutput> {
        let out = self.exec(container, cmd, stdin).await?;
        if out.exit_code != 0 {
            return Err(CommandFailed {
                command: cmd.join(" "),
                exit_code: out.exit_code,
                output: out.output,
            }
            .into());
        }
        Ok(out)
    }

    /// Images as one `docker save` tar stream.
    pub fn export_images(
        &self,
        images: &[String],
    ) -> impl Stream<Item = Result<bytes::Bytes>> + use<> {
        let names: Vec<&str> = images.iter().map(String::as_str).collect();
        let what = images.join(" ");
        self.docker
            .export_images(&names)
            .map(move |r| r.with_context(|| format!("cannot export {what}")))
    }

    /// Builds an image from a streamed build context (classic builder), untagged; returns
    /// its ID. Each log line goes to `on_line`; the whole log comes back in the error.
    pub async fn build_image(
        &self,
        context: impl Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static,
        dockerfile: &str,
        build_args: &HashMap<String, String>,
        mut on_line: impl FnMut(&str),
    ) -> Result<String> {
        let opts = bollard::query_parameters::BuildImageOptionsBuilder::new()
            .dockerfile(dockerfile)
            .rm(true)
            .forcerm(true)
            .buildargs(build_args)
            .build();
        let mut stream =
            self.docker
                .build_image(opts, None, Some(bollard::body_try_stream(context)));
        let mut log = String::new();
        let mut id = None;
        // Drain the whole stream: an error can arrive as an item.
        while let Some(item) = stream.next().await {
            let info = match item {
                Ok(info) => info,
                Err(e) => {
                    return Err(anyhow::Error::new(e)
                        .context(format!("image build failed; its log:\n{log}")))
                }
            };
            if let Some(detail) = info.error_detail {
                anyhow::bail!(
                    "image build failed: {}\nits log:\n{log}",
                    detail.message.unwrap_or_default()
                );
            }
            if let Some(text) = info.stream {
                log.push_str(&text);
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    on_line(line);
                }
            }
            if let Some(aux) = info.aux {
                id = aux.id.or(id);
            }
        }
        id.ok_or_else(|| anyhow::anyhow!("the engine reported no image ID; build log:\n{log}"))
    }

    /// Tags an image: `target` is `repo:tag`.
    pub async fn tag_image(&self, image: &str, target: &str) -> Result<()> {
        let (repo, tag) = target
            .rsplit_once(':')
            .filter(|(_, t)| !t.contains('/'))
            .unwrap_or((target, "latest"));
        let opts = bollard::query_parameters::TagImageOptionsBuilder::new()
            .repo(repo)
            .tag(tag)
            .build();
        self.docker
            .tag_image(image, Some(opts))
            .await
            .with_context(|| format!("cannot tag {image} as {target}"))
    }

    /// Whether `path` exists in the container, running or stopped (through the archive
    /// API, which also sees its volumes).
    pub async fn file_exists(&self, container: &str, path: &str) -> Result<bool> {
        let opts = bollard::query_parameters::DownloadFromContainerOptionsBuilder::new()
            .path(path)
            .build();
        let mut stream = self.docker.download_from_container(container, Some(opts));
        match stream.next().await {
            None | Some(Ok(_)) => Ok(true),
            Some(Err(DockerError::DockerResponseServerError {
                status_code: NOT_FOUND,
                ..
            })) => Ok(false),
            Some(Err(e)) => {
                Err(anyhow::Error::new(e).context(format!("cannot look for {path} in {container}")))
            }
        }
    }
}
