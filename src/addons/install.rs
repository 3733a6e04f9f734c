//! Enabling, disabling and inspecting add-ons. What an add-on applied is recorded in a
//! ConfigMap `minik-addon-<name>` in kube-system (its values, kinds, workloads and images):
//! state lives in the cluster, so `--context` clusters work the same as minik's own.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client};
use serde_json::{json, Value};

use super::{values, Addon, Source, LABEL_ADDON};
use crate::k8s::apply::{self, api_version, gvk_of, Kinds};
use crate::k8s::wait::{self, Workload};
use crate::k8s::FIELD_MANAGER;
use crate::runtime::Runtime;
use crate::ui::Ui;

const RECORD_NAMESPACE: &str = "kube-system";
const LABEL_RECORD: &str = "minik.io/addon-record";

/// A minik node: where node-file manifests are read and missing images are loaded from the
/// host. None for clusters reached only through a kubeconfig context.
pub struct Node<'a> {
    pub rt: &'a Runtime,
    pub container: String,
}

pub struct EnableOptions<'a> {
    pub values_file: Option<PathBuf>,
    pub sets: Vec<(String, String)>,
    pub images: Vec<(String, String)>,
    /// How long to wait for ready (None: do not wait).
    pub wait: Option<Duration>,
    pub node: Option<Node<'a>>,
}

fn record_name(addon: &Addon) -> String {
    format!("minik-addon-{}", addon.name)
}

/// Applies an add-on (idempotent: enabling it again with the same values changes nothing)
/// and waits until it is ready.
pub async fn enable(
    client: &Client,
    ui: &Ui,
    addon: &Addon,
    opts: &EnableOptions<'_>,
) -> Result<()> {
    let values = values::resolve(addon, opts.values_file.as_deref(), &opts.sets, &opts.images)?;
    let mut objects = match addon.source {
        Source::Embedded(files) => {
            let mut objs = Vec::new();
            for (file, text) in files {
                let rendered = values::render(text, &values)
                    .with_context(|| format!("cannot render addons/{}/{file}", addon.name))?;
                objs.extend(
                    apply::parse_manifests(&rendered)
                        .with_context(|| format!("in addons/{}/{file}", addon.name))?,
                );
            }
            objs
        }
        Source::NodeFile(path) => {
            let Some(node) = &opts.node else {
                return Err(crate::error::Hinted::new(
                    format!(
                        "the {} add-on comes from a minik node image ({path})",
                        addon.name
                    ),
                    "on other clusters, use the cluster's own StorageClass",
                )
                .into());
            };
            let read = node.rt.exec(&node.container, &["cat", path], None).await?;
            if read.exit_code != 0 {
                anyhow::bail!(
                    "the node image has no {path}: the {} add-on is not available on it",
                    addon.name
                );
            }
            apply::parse_manifests(&read.stdout).with_context(|| format!("in the node's {path}"))?
        }
    };
    for obj in &mut objects {
        label(obj, addon.name);
    }
    let images = images_of(&objects);
    let mut absent = Vec::new();
    if let Some(node) = &opts.node {
        absent = crate::image::ensure_in_node(node.rt, ui, &node.container, &images).await?;
    }

    let workloads = ui
        .step_with(format!("Applying {}", addon.name), async {
            let applied = apply::apply(client, &mut Kinds::default(), &objects).await?;
            let workloads: Vec<Workload> = applied
                .iter()
                .filter(|a| matches!(a.kind.as_str(), "Deployment" | "DaemonSet" | "StatefulSet"))
                .map(|a| Workload {
                    kind: a.kind.clone(),
                    namespace: a.namespace.clone().unwrap_or_default(),
                    name: a.name.clone(),
                })
                .collect();
            let gvks: BTreeSet<String> = objects
                .iter()
                .filter_map(|o| gvk_of(o).ok())
                .map(|g| format!("{}/{}", api_version(&g), g.kind))
                .collect();
            write_record(client, addon, &values, &gvks, &workloads, &images).await?;
            Ok((workloads, Some(format!("{} objects", applied.len()))))
        })
        .await?;

    let Some(timeout) = opts.wait else {
        return Ok(());
    };
    if workloads.is_empty() {
        return Ok(());
    }
    let selector = format!("{LABEL_ADDON}={}", addon.name);
    ui.step_with(format!("Waiting for {}", addon.name), async {
        wait::workloads_ready(client, &workloads, &selector, timeout)
            .await
            .map(|()| ((), None))
    })
    .await
    .map_err(|e| {
        let e = e.context(format!("add-on {} is not ready", addon.name));
        if absent.is_empty() {
            e
        } else {
            e.context(format!(
                "image{} {} neither in the node nor in the host's Docker engine",
                if absent.len() == 1 { " is" } else { "s are" },
                absent.join(", ")
            ))
        }
    })
}

/// Puts the add-on's labels on an object and on its pod template, so that its pods can be
/// found (and diagnosed) by label too.
fn label(obj: &mut DynamicObject, addon: &str) {
    let labels = obj.metadata.labels.get_or_insert_with(Default::default);
    labels.insert(LABEL_ADDON.into(), addon.into());
    labels.insert("app.kubernetes.io/managed-by".into(), "minik".into());
    if let Some(template) = obj.data.get_mut("spec").and_then(|s| s.get_mut("template")) {
        if let Some(meta) = template.as_object_mut() {
            let m = meta.entry("metadata").or_insert_with(|| json!({}));
            if let Some(m) = m.as_object_mut() {
                let l = m.entry("labels").or_insert_with(|| json!({}));
                if let Some(l) = l.as_object_mut() {
                    l.insert(LABEL_ADDON.into(), Value::String(addon.into()));
                }
            }
        }
    }
}

/// Every container image the objects' pod templates (or pods) name.
fn images_of(objects: &[DynamicObject]) -> Vec<String> {
    let mut out = BTreeSet::new();
    for o in objects {
        let spec = o
            .data
            .get("spec")
            .and_then(|s| s.get("template").and_then(|t| t.get("spec")).or(Some(s)));
        for list in ["initContainers", "containers"] {
            for c in spec
                .and_then(|s| s.get(list))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(i) = c.get("image").and_then(Value::as_str) {
                    out.insert(i.to_string());
                }
            }
        }
    }
    out.into_iter().collect()
}

async fn write_record(
    client: &Client,
    addon: &Addon,
    values: &values::Values,
    gvks: &BTreeSet<String>,
    workloads: &[Workload],
    images: &[String],
) -> Result<()> {
    let name = record_name(addon);
    let cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": RECORD_NAMESPACE,
            "labels": {LABEL_RECORD: addon.name, "app.kubernetes.io/managed-by": "minik"}},
        "data": {
            "values": serde_json::to_string_pretty(values)?,
            "kinds": gvks.iter().cloned().collect::<Vec<_>>().join("\n"),
            "workloads": workloads.iter().map(|w| format!("{} {}/{}", w.kind, w.namespace, w.name)).collect::<Vec<_>>().join("\n"),
            "images": images.join("\n"),
        },
    });
    Api::<ConfigMap>::namespaced(client.clone(), RECORD_NAMESPACE)
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&cm),
        )
        .await
        .with_context(|| {
            format!(
                "cannot record add-on {} in {RECORD_NAMESPACE}/{name}",
                addon.name
            )
        })?;
    Ok(())
}

/// What the record of an enabled add-on says.
struct Record {
    kinds: Vec<GroupVersionKind>,
    workloads: Vec<Workload>,
    images: Vec<String>,
}

async fn read_record(client: &Client, addon: &Addon) -> Result<Option<Record>> {
    let cm = Api::<ConfigMap>::namespaced(client.clone(), RECORD_NAMESPACE)
        .get_opt(&record_name(addon))
        .await
        .context("cannot read the add-on records")?;
    let Some(data) = cm.and_then(|c| c.data) else {
        return Ok(None);
    };
    let lines = |k: &str| -> Vec<String> {
        data.get(k)
            .map(|s| {
                s.lines()
                    .filter(|l| !l.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let kinds = lines("kinds")
        .iter()
        .filter_map(|l| {
            let (av, kind) = l.rsplit_once('/')?;
            let (group, version) = av.rsplit_once('/').unwrap_or(("", av));
            Some(GroupVersionKind::gvk(group, version, kind))
        })
        .collect();
    let workloads = lines("workloads")
        .iter()
        .filter_map(|l| {
            let (kind, rest) = l.split_once(' ')?;
            let (ns, name) = rest.split_once('/')?;
            Some(Workload {
                kind: kind.into(),
                namespace: ns.into(),
                name: name.into(),
            })
        })
        .collect();
    Ok(Some(Record {
        kinds,
        workloads,
        images: lines("images"),
    }))
}

/// Deletes exactly what the add-on created (by its label), waits until its namespaces are
/// gone, and forgets it. Disabling an add-on that is not enabled does nothing.
pub async fn disable(client: &Client, ui: &Ui, addon: &Addon) -> Result<bool> {
    let Some(record) = read_record(client, addon).await? else {
        return Ok(false);
    };
    ui.step_with(format!("Removing {}", addon.name), async {
        let mut kinds = Kinds::default();
        let selector = format!("{LABEL_ADDON}={}", addon.name);
        // Namespaces are awaited: until one is gone, enabling again would fail on it.
        let ns_api: Api<Namespace> = Api::all(client.clone());
        let doomed: Vec<Namespace> = if record.kinds.iter().any(|g| g.kind == "Namespace") {
            ns_api
                .list(&kube::api::ListParams::default().labels(&selector))
                .await?
                .items
        } else {
            Vec::new()
        };
        let n = apply::delete_labelled(client, &mut kinds, &record.kinds, &selector).await?;
        for ns in doomed {
            let (Some(name), Some(uid)) = (ns.metadata.name, ns.metadata.uid) else {
                continue;
            };
            let gone = await_condition(ns_api.clone(), &name, conditions::is_deleted(&uid));
            tokio::time::timeout(Duration::from_secs(180), gone)
                .await
                .with_context(|| format!("namespace {name} was not gone within 3 minutes"))??;
        }
        Api::<ConfigMap>::namespaced(client.clone(), RECORD_NAMESPACE)
            .delete(&record_name(addon), &DeleteParams::default())
            .await
            .context("cannot remove the add-on record")?;
        Ok(((), Some(format!("{n} objects deleted"))))
    })
    .await?;
    Ok(true)
}

/// One add-on as `addons list` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AddonStatus {
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub ready: Option<bool>,
    /// What "ready" means for this add-on.
    pub ready_means: String,
    /// Images and whether each is in the node (None: not a minik node, unknown).
    pub images: Vec<(String, Option<bool>)>,
}

/// `present`: the node's images (read once by the caller), None when the cluster is not a
/// minik node.
pub async fn status(
    client: &Client,
    addon: &Addon,
    present: Option<&[crate::image::NodeImage]>,
) -> Result<AddonStatus> {
    let record = read_record(client, addon).await?;
    let enabled = record.is_some();
    let mut ready = None;
    let mut images: Vec<(String, Option<bool>)> = Vec::new();
    let listed: Vec<String> = match &record {
        Some(r) => r.images.clone(),
        None => addon.images.iter().map(|i| i.default.to_string()).collect(),
    };
    if let Some(r) = &record {
        let mut all = true;
        for w in &r.workloads {
            all &= wait::is_ready(client, w).await.unwrap_or(false);
        }
        ready = Some(all);
    }
    for i in listed {
        let here = present.map(|p| crate::image::node_has(p, &i));
        images.push((i, here));
    }
    Ok(AddonStatus {
        name: addon.name.into(),
        description: addon.description.into(),
        enabled,
        ready,
        ready_means: addon.ready.into(),
        images,
    })
}

/// Whether the add-on is recorded as enabled.
pub async fn is_enabled(client: &Client, addon: &Addon) -> Result<bool> {
    Ok(read_record(client, addon).await?.is_some())
}

/// The workloads of an enabled add-on (for waiting on it again).
pub async fn workloads(client: &Client, addon: &Addon) -> Result<Vec<Workload>> {
    Ok(read_record(client, addon)
        .await?
        .map(|r| r.workloads)
        .unwrap_or_default())
}
