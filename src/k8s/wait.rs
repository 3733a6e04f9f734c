//! Waiting on real conditions with a deadline (kube-runtime's watches, not sleep loops), and
//! a diagnosis of the pods involved when the wait fails: an image that cannot be pulled, a
//! pod nobody can schedule, a container that keeps crashing (with its last log lines).

use std::time::Duration;

use anyhow::Result;
use futures_util::future::try_join_all;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, LogParams};
use kube::runtime::wait::{await_condition, Condition};
use kube::{Api, Client};

use crate::error::Hinted;

/// A workload whose pods must be ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

/// Whether a Deployment's current generation has every replica updated and available.
pub fn deployment_ready() -> impl Condition<Deployment> {
    |d: Option<&Deployment>| {
        let Some(d) = d else { return false };
        let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let Some(s) = &d.status else { return false };
        s.observed_generation >= d.metadata.generation
            && s.updated_replicas.unwrap_or(0) >= want
            && s.available_replicas.unwrap_or(0) >= want
            && s.replicas.unwrap_or(0) == want
    }
}

pub fn daemonset_ready() -> impl Condition<DaemonSet> {
    |d: Option<&DaemonSet>| {
        let Some(s) = d.and_then(|d| d.status.as_ref()) else {
            return false;
        };
        s.desired_number_scheduled > 0
            && s.number_ready >= s.desired_number_scheduled
            && s.updated_number_scheduled.unwrap_or(0) >= s.desired_number_scheduled
    }
}

pub fn statefulset_ready() -> impl Condition<StatefulSet> {
    |d: Option<&StatefulSet>| {
        let Some(d) = d else { return false };
        let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        d.status
            .as_ref()
            .is_some_and(|s| s.ready_replicas.unwrap_or(0) >= want)
    }
}

/// Whether one workload is ready now (for `addons list`).
pub async fn is_ready(client: &Client, w: &Workload) -> Result<bool> {
    Ok(match w.kind.as_str() {
        "Deployment" => {
            let d = Api::<Deployment>::namespaced(client.clone(), &w.namespace)
                .get_opt(&w.name)
                .await?;
            deployment_ready().matches_object(d.as_ref())
        }
        "DaemonSet" => {
            let d = Api::<DaemonSet>::namespaced(client.clone(), &w.namespace)
                .get_opt(&w.name)
                .await?;
            daemonset_ready().matches_object(d.as_ref())
        }
        "StatefulSet" => {
            let d = Api::<StatefulSet>::namespaced(client.clone(), &w.namespace)
                .get_opt(&w.name)
                .await?;
            statefulset_ready().matches_object(d.as_ref())
        }
        _ => true,
    })
}

/// Waits until every workload is ready, at most `timeout`. Meanwhile the pods that match
/// `pod_selector` are watched for problems that will not go away by waiting (an image that
/// cannot be pulled, a crash loop); those end the wait at once with their diagnosis.
pub async fn workloads_ready(
    client: &Client,
    workloads: &[Workload],
    pod_selector: &str,
    timeout: Duration,
) -> Result<()> {
    let all = try_join_all(workloads.iter().map(|w| one_ready(client, w)));
    let watch = watch_for_fatal(client, pod_selector);
    let outcome = tokio::time::timeout(timeout, async {
        tokio::select! {
            r = all => r.map(|_| ()),
            e = watch => Err(e),
        }
    })
    .await;
    match outcome {
        Ok(r) => r,
        Err(_) => {
            let why = diagnose(client, pod_selector)
                .await
                .unwrap_or_else(|| "its pods are not ready".into());
            Err(Hinted::new(
                format!("not ready within {}", humantime::format_duration(timeout)),
                "see the pods with `minik kubectl -- get pods -A`; wait longer with --wait",
            )
            .caused_by(why)
            .into())
        }
    }
}

async fn one_ready(client: &Client, w: &Workload) -> Result<()> {
    let c = client.clone();
    let ns = &w.namespace;
    let r = match w.kind.as_str() {
        "Deployment" => await_condition(
            Api::<Deployment>::namespaced(c, ns),
            &w.name,
            deployment_ready(),
        )
        .await
        .map(|_| ()),
        "DaemonSet" => await_condition(
            Api::<DaemonSet>::namespaced(c, ns),
            &w.name,
            daemonset_ready(),
        )
        .await
        .map(|_| ()),
        "StatefulSet" => await_condition(
            Api::<StatefulSet>::namespaced(c, ns),
            &w.name,
            statefulset_ready(),
        )
        .await
        .map(|_| ()),
        _ => Ok(()),
    };
    r.map_err(|e| anyhow::Error::new(e).context(format!("cannot watch {} {ns}/{}", w.kind, w.name)))
}

/// Returns (never Ok) once a pod matching `selector` shows a problem that waiting cannot fix.
async fn watch_for_fatal(client: &Client, selector: &str) -> anyhow::Error {
    let pods: Api<Pod> = Api::all(client.clone());
    let lp = ListParams::default().labels(selector);
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    loop {
        ticker.tick().await;
        let Ok(list) = pods.list(&lp).await else {
            continue;
        };
        for pod in &list.items {
            if let Some(p) = problem(pod) {
                if p.fatal {
                    return explain(client, pod, p).await;
                }
            }
        }
    }
}

/// The diagnosis of the first troubled pod matching `selector`, for a failed wait.
pub async fn diagnose(client: &Client, selector: &str) -> Option<String> {
    let pods: Api<Pod> = Api::all(client.clone());
    let list = pods
        .list(&ListParams::default().labels(selector))
        .await
        .ok()?;
    for pod in &list.items {
        if let Some(p) = problem(pod) {
            return Some(explain(client, pod, p).await.to_string());
        }
    }
    None
}

/// What is wrong with a pod, as far as its status tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub reason: String,
    pub message: String,
    /// The image, for pull failures.
    pub image: Option<String>,
    /// The container, for crashes.
    pub container: Option<String>,
    /// Waiting will not fix it.
    pub fatal: bool,
}

pub fn problem(pod: &Pod) -> Option<Problem> {
    let status = pod.status.as_ref()?;
    let spec_images = |name: &str| {
        pod.spec
            .as_ref()
            .and_then(|s| {
                s.containers
                    .iter()
                    .chain(s.init_containers.iter().flatten())
                    .find(|c| c.name == name)
            })
            .and_then(|c| c.image.clone())
    };
    let containers = status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten());
    for c in containers {
        let Some(waiting) = c.state.as_ref().and_then(|s| s.waiting.as_ref()) else {
            continue;
        };
        let reason = waiting.reason.clone().unwrap_or_default();
        let message = waiting.message.clone().unwrap_or_default();
        match reason.as_str() {
            "ErrImagePull" | "ImagePullBackOff" | "ErrImageNeverPull" | "InvalidImageName" => {
                return Some(Problem {
                    reason,
                    message,
                    image: spec_images(&c.name).or_else(|| Some(c.image.clone())),
                    container: Some(c.name.clone()),
                    fatal: true,
                })
            }
            "CrashLoopBackOff" | "CreateContainerConfigError" | "CreateContainerError" => {
                return Some(Problem {
                    reason,
                    message,
                    image: None,
                    container: Some(c.name.clone()),
                    fatal: true,
                })
            }
            _ => {}
        }
    }
    let unschedulable = status.conditions.iter().flatten().find(|c| {
        c.type_ == "PodScheduled"
            && c.status == "False"
            && c.reason.as_deref() == Some("Unschedulable")
    })?;
    let message = unschedulable.message.clone().unwrap_or_default();
    Some(Problem {
        fatal: !unschedulable_is_transient(&message),
        reason: "Unschedulable".into(),
        message,
        image: None,
        container: None,
    })
}

/// Whether the scheduler's reason resolves by itself: a node still coming up (not-ready or
/// unreachable taints, no node yet) rather than too little memory or CPU.
pub fn unschedulable_is_transient(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    let transient = m.contains("node.kubernetes.io/not-ready")
        || m.contains("node.kubernetes.io/unreachable")
        || m.contains("node.kubernetes.io/network-unavailable")
        || m.contains("no nodes available");
    let lasting = m.contains("insufficient") || m.contains("didn't match");
    transient && !lasting
}

async fn explain(client: &Client, pod: &Pod, p: Problem) -> anyhow::Error {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let what = format!("pod {ns}/{name}");
    if let Some(image) = &p.image {
        return Hinted::new(
            format!("{what} cannot get its image {image} ({}: {})", p.reason, p.message),
            format!("this cluster cannot pull it: load it from the host with `minik image load {image}` (or pass another with --image)"),
        )
        .into();
    }
    if p.reason == "Unschedulable" {
        return Hinted::new(
            format!("{what} cannot be scheduled: {}", p.message),
            "free resources on the node, or give it more (minik start --memory / --cpus)",
        )
        .into();
    }
    let mut msg = format!("{what}: {} {}", p.reason, p.message);
    if let Some(container) = &p.container {
        let lp = LogParams {
            container: Some(container.clone()),
            previous: p.reason == "CrashLoopBackOff",
            tail_lines: Some(10),
            ..Default::default()
        };
        if let Ok(log) = Api::<Pod>::namespaced(client.clone(), &ns)
            .logs(&name, &lp)
            .await
        {
            if !log.trim().is_empty() {
                msg.push_str(&format!("; last lines of container {container}:"));
                for line in log.lines() {
                    msg.push_str(&format!("\n    {line}"));
                }
            }
        }
    }
    Hinted::new(
        msg,
        format!("see `minik kubectl -- describe pod -n {ns} {name}`"),
    )
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn pull_failures_name_the_image() {
        let p = pod(serde_json::json!({
            "metadata": {"name": "x"},
            "spec": {"containers": [{"name": "c", "image": "ghcr.io/a/b:1"}]},
            "status": {"containerStatuses": [{"name": "c", "image": "ghcr.io/a/b:1", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off"}}}]}
        }));
        let p = problem(&p).unwrap();
        assert!(p.fatal);
        assert_eq!(p.image.as_deref(), Some("ghcr.io/a/b:1"));
    }

    #[test]
    fn not_ready_taints_are_transient_but_memory_is_not() {
        assert!(unschedulable_is_transient(
            "0/1 nodes are available: 1 node(s) had taint {node.kubernetes.io/not-ready: }, that the pod didn't tolerate."
        ));
        assert!(!unschedulable_is_transient(
            "0/1 nodes are available: 1 node(s) didn't match node selector."
        ));
        assert!(!unschedulable_is_transient(
            "0/1 nodes are available: 1 Insufficient memory."
        ));
        assert!(unschedulable_is_transient(
            "no nodes available to schedule pods"
        ));
    }
}
