//! Applying manifests the way `kubectl apply --server-side` does: multi-document YAML parsed
//! into dynamic objects, kinds resolved through discovery, one field manager. Idempotent:
//! applying the same objects again changes nothing (resourceVersions stay as they are).

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{self, ApiCapabilities, ApiResource, Scope};
use kube::Client;
use serde_json::Value;

use super::FIELD_MANAGER;

/// Parses multi-document YAML into objects; empty documents are skipped, and every object
/// must name its apiVersion, kind and metadata.name.
pub fn parse_manifests(yaml: &str) -> Result<Vec<DynamicObject>> {
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(yaml).context("cannot parse the manifest as YAML")?;
    let mut objects = Vec::new();
    for (i, doc) in docs.into_iter().enumerate() {
        if doc.is_null() {
            continue;
        }
        let field = |path: &[&str]| {
            path.iter()
                .try_fold(&doc, |v, k| v.get(k))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let (Some(_), Some(kind), Some(_)) = (
            field(&["apiVersion"]),
            field(&["kind"]),
            field(&["metadata", "name"]),
        ) else {
            anyhow::bail!(
                "document {} of the manifest lacks apiVersion, kind or metadata.name",
                i + 1
            );
        };
        let obj: DynamicObject = serde_json::from_value(doc)
            .with_context(|| format!("document {} ({kind}) is not a Kubernetes object", i + 1))?;
        objects.push(obj);
    }
    Ok(objects)
}

/// The group/version/kind an object declares.
pub fn gvk_of(obj: &DynamicObject) -> Result<GroupVersionKind> {
    let tm = obj
        .types
        .as_ref()
        .with_context(|| format!("object {:?} has no apiVersion/kind", obj.metadata.name))?;
    GroupVersionKind::try_from(tm).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Resolves kinds to API resources, asking the server once per kind.
#[derive(Default)]
pub struct Kinds {
    known: BTreeMap<String, (ApiResource, ApiCapabilities)>,
}

impl Kinds {
    pub async fn resolve(
        &mut self,
        client: &Client,
        gvk: &GroupVersionKind,
    ) -> Result<(ApiResource, ApiCapabilities)> {
        let key = format!("{}/{}/{}", gvk.group, gvk.version, gvk.kind);
        if let Some(found) = self.known.get(&key) {
            return Ok(found.clone());
        }
        let found = discovery::pinned_kind(client, gvk).await.with_context(|| {
            format!(
                "the cluster does not serve {} {}",
                api_version(gvk),
                gvk.kind
            )
        })?;
        self.known.insert(key, found.clone());
        Ok(found)
    }

    /// An Api for objects of `ar` in `namespace` (ignored for cluster-scoped kinds).
    pub fn api(
        client: &Client,
        ar: &ApiResource,
        caps: &ApiCapabilities,
        namespace: Option<&str>,
    ) -> Api<DynamicObject> {
        match (&caps.scope, namespace) {
            (Scope::Namespaced, Some(ns)) => Api::namespaced_with(client.clone(), ns, ar),
            (Scope::Namespaced, None) => Api::default_namespaced_with(client.clone(), ar),
            (Scope::Cluster, _) => Api::all_with(client.clone(), ar),
        }
    }
}

pub fn api_version(gvk: &GroupVersionKind) -> String {
    if gvk.group.is_empty() {
        gvk.version.clone()
    } else {
        format!("{}/{}", gvk.group, gvk.version)
    }
}

/// What one apply did to one object.
#[derive(Debug, Clone)]
pub struct Applied {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

/// Applies `objects` in order with minik's field manager (forcing conflicts: minik owns what
/// it applies). Namespaced objects without a namespace go to `default`.
pub async fn apply(
    client: &Client,
    kinds: &mut Kinds,
    objects: &[DynamicObject],
) -> Result<Vec<Applied>> {
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    let mut applied = Vec::new();
    for obj in objects {
        let gvk = gvk_of(obj)?;
        let (ar, caps) = kinds.resolve(client, &gvk).await?;
        let name = obj.metadata.name.clone().unwrap_or_default();
        let namespace = match caps.scope {
            Scope::Namespaced => Some(
                obj.metadata
                    .namespace
                    .clone()
                    .unwrap_or_else(|| "default".into()),
            ),
            Scope::Cluster => None,
        };
        let api = Kinds::api(client, &ar, &caps, namespace.as_deref());
        let mut obj = obj.clone();
        obj.metadata.namespace = namespace.clone();
        default_port_protocols(&mut obj.data);
        api.patch(&name, &pp, &Patch::Apply(&obj))
            .await
            .with_context(|| {
                format!("cannot apply {} {}", gvk.kind, qualified(&namespace, &name))
            })?;
        applied.push(Applied {
            kind: gvk.kind.clone(),
            namespace,
            name,
        });
    }
    Ok(applied)
}

/// Deletes every object of the given kinds that carries `selector` (e.g.
/// `minik.io/addon=dashboard`), in every namespace; returns how many deletions were asked.
/// Namespaces go last: deleting one takes what is left in it.
pub async fn delete_labelled(
    client: &Client,
    kinds: &mut Kinds,
    gvks: &[GroupVersionKind],
    selector: &str,
) -> Result<usize> {
    let lp = ListParams::default().labels(selector);
    let dp = DeleteParams::background();
    let mut deleted = 0;
    let mut order: Vec<&GroupVersionKind> = gvks.iter().collect();
    order.sort_by_key(|g| g.kind == "Namespace");
    for gvk in order {
        let (ar, caps) = kinds.resolve(client, gvk).await?;
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
        let list = api
            .list(&lp)
            .await
            .with_context(|| format!("cannot list {} with {selector}", gvk.kind))?;
        for obj in list.items {
            let name = obj.metadata.name.clone().unwrap_or_default();
            let ns = obj.metadata.namespace.clone();
            let api = Kinds::api(client, &ar, &caps, ns.as_deref());
            match api.delete(&name, &dp).await {
                Ok(_) => deleted += 1,
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => {
                    return Err(anyhow::Error::new(e).context(format!(
                        "cannot delete {} {}",
                        gvk.kind,
                        qualified(&ns, &name)
                    )))
                }
            }
        }
    }
    Ok(deleted)
}

/// Writes the default `protocol: TCP` into port lists that omit it. The API server would
/// default it, but before Kubernetes 1.21 server-side apply rejects such lists ("element 0:
/// associative list with keys has an element that omits key field \"protocol\"").
fn default_port_protocols(data: &mut Value) {
    fn fill(ports: Option<&mut Value>) {
        for p in ports.and_then(Value::as_array_mut).into_iter().flatten() {
            if let Some(p) = p.as_object_mut() {
                p.entry("protocol")
                    .or_insert_with(|| Value::String("TCP".into()));
            }
        }
    }
    let Some(spec) = data.get_mut("spec") else {
        return;
    };
    // A Service's ports.
    if spec.get("selector").is_some()
        || spec.get("type").is_some()
        || spec.get("clusterIP").is_some()
    {
        fill(spec.get_mut("ports"));
    }
    // Containers of a pod, or of a workload's pod template.
    let pod_spec = if spec.get("template").is_some() {
        spec.get_mut("template").and_then(|t| t.get_mut("spec"))
    } else {
        Some(spec)
    };
    if let Some(pod_spec) = pod_spec {
        for list in ["initContainers", "containers"] {
            for c in pod_spec
                .get_mut(list)
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                fill(c.get_mut("ports"));
            }
        }
    }
}

fn qualified(ns: &Option<String>, name: &str) -> String {
    match ns {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_multi_document_yaml_and_skips_empty_documents() {
        let yaml = "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\n\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: b\n  namespace: a\nspec:\n  replicas: 1\n";
        let objs = parse_manifests(yaml).unwrap();
        assert_eq!(objs.len(), 2);
        assert_eq!(gvk_of(&objs[1]).unwrap().group, "apps");
        assert_eq!(objs[1].data["spec"]["replicas"], 1);
    }

    #[test]
    fn port_lists_get_their_default_protocol() {
        let mut svc = serde_json::json!({"spec": {"selector": {"a": "b"}, "ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}]}});
        default_port_protocols(&mut svc);
        assert_eq!(svc["spec"]["ports"][0]["protocol"], "TCP");
        assert_eq!(svc["spec"]["ports"][1]["protocol"], "UDP");
        let mut deploy = serde_json::json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 8080}]}]}}}});
        default_port_protocols(&mut deploy);
        assert_eq!(
            deploy["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"],
            "TCP"
        );
    }

    #[test]
    fn refuses_objects_without_identity() {
        let e = parse_manifests("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n").unwrap_err();
        assert!(
            e.to_string()
                .contains("lacks apiVersion, kind or metadata.name"),
            "{e}"
        );
        assert!(parse_manifests("a: [").is_err());
    }
}
