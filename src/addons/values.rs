//! An add-on's values: its documented defaults, overridden by `--values FILE.yaml` (nested
//! maps flatten to dotted keys), then `--set key=value`, then `--image KEY=IMAGE`; and the
//! rendering of `{{ key }}` placeholders in its manifests.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

use super::Addon;
use crate::error::Hinted;

/// Effective values: every setting key, and `image.<key>` for every image.
pub type Values = BTreeMap<String, String>;

pub fn resolve(
    addon: &Addon,
    values_file: Option<&Path>,
    sets: &[(String, String)],
    images: &[(String, String)],
) -> Result<Values> {
    let mut values: Values = addon
        .settings
        .iter()
        .map(|s| (s.key.to_string(), s.default.to_string()))
        .collect();
    for i in addon.images {
        values.insert(format!("image.{}", i.key), i.default.to_string());
    }
    let mut given: Vec<(String, String, &str)> = Vec::new();
    if let Some(path) = values_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read values file {}", path.display()))?;
        let doc: Value = serde_saphyr::from_str(&text)
            .with_context(|| format!("cannot parse values file {} as YAML", path.display()))?;
        let mut flat = Vec::new();
        flatten("", &doc, &mut flat)
            .with_context(|| format!("in values file {}", path.display()))?;
        given.extend(flat.into_iter().map(|(k, v)| (k, v, "--values")));
    }
    given.extend(sets.iter().map(|(k, v)| (k.clone(), v.clone(), "--set")));
    for (k, v, from) in given {
        if !addon.settings.iter().any(|s| s.key == k) {
            return Err(unknown(addon, &format!("{from} {k}")));
        }
        check_value(&k, &v)?;
        values.insert(k, v);
    }
    for (k, v) in images {
        if !addon.images.iter().any(|i| i.key == k) {
            let known: Vec<&str> = addon.images.iter().map(|i| i.key).collect();
            return Err(Hinted::new(
                format!("add-on {} has no image {k:?}", addon.name),
                if known.is_empty() {
                    format!("add-on {} has no images to override", addon.name)
                } else {
                    format!("its images: {}", known.join(", "))
                },
            )
            .into());
        }
        if v.is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
            anyhow::bail!("--image {k}={v:?} is not an image name");
        }
        values.insert(format!("image.{k}"), v.clone());
    }
    Ok(values)
}

fn unknown(addon: &Addon, what: &str) -> anyhow::Error {
    let keys: Vec<String> = addon
        .settings
        .iter()
        .map(|s| format!("{} (default {}: {})", s.key, s.default, s.doc))
        .collect();
    Hinted::new(
        format!("add-on {} has no setting {what}", addon.name),
        if keys.is_empty() {
            format!("add-on {} has no settings", addon.name)
        } else {
            format!("its settings: {}", keys.join("; "))
        },
    )
    .into()
}

fn check_value(key: &str, v: &str) -> Result<()> {
    if v.chars().any(|c| c.is_control()) {
        anyhow::bail!("the value of {key} contains control characters");
    }
    Ok(())
}

/// Nested maps → dotted keys; scalars as text.
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) -> Result<()> {
    match v {
        Value::Null if prefix.is_empty() => Ok(()),
        Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out)?;
            }
            Ok(())
        }
        Value::String(s) => {
            out.push((prefix.to_string(), s.clone()));
            Ok(())
        }
        Value::Number(n) => {
            out.push((prefix.to_string(), n.to_string()));
            Ok(())
        }
        Value::Bool(b) => {
            out.push((prefix.to_string(), b.to_string()));
            Ok(())
        }
        _ => anyhow::bail!("{prefix:?} must be a map or a single value"),
    }
}

/// Replaces each `{{ key }}` with the value as a quoted YAML string (JSON quoting is valid
/// YAML): a value can never add structure to the manifest. An unknown key is an error.
pub fn render(text: &str, values: &Values) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .context("a `{{` without `}}` in the manifest")?;
        let key = after[..end].trim();
        let value = values.get(key).with_context(|| {
            format!("the manifest uses {{{{ {key} }}}}, which is not a setting")
        })?;
        out.push_str(&serde_json::to_string(value)?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addons::find;

    #[test]
    fn defaults_then_file_then_set_then_image() {
        let a = find("dashboard").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("v.yaml");
        std::fs::write(&f, "resources:\n  memory: 512Mi\n  cpu: 200m\n").unwrap();
        let v = resolve(
            a,
            Some(&f),
            &[("resources.cpu".into(), "300m".into())],
            &[("headlamp".into(), "local/headlamp:dev".into())],
        )
        .unwrap();
        assert_eq!(v["resources.memory"], "512Mi");
        assert_eq!(v["resources.cpu"], "300m");
        assert_eq!(v["login.clusterRole"], "cluster-admin");
        assert_eq!(v["image.headlamp"], "local/headlamp:dev");
    }

    #[test]
    fn unknown_keys_and_images_list_the_valid_ones() {
        let a = find("dashboard").unwrap();
        let e = crate::error::render(
            &resolve(a, None, &[("memory".into(), "1".into())], &[]).unwrap_err(),
        );
        assert!(
            e.contains("no setting --set memory") && e.contains("resources.memory"),
            "{e}"
        );
        let e = crate::error::render(
            &resolve(a, None, &[], &[("nginx".into(), "x".into())]).unwrap_err(),
        );
        assert!(
            e.contains("no image \"nginx\"") && e.contains("headlamp"),
            "{e}"
        );
        let s = find("storage").unwrap();
        let e =
            crate::error::render(&resolve(s, None, &[("a".into(), "b".into())], &[]).unwrap_err());
        assert!(e.contains("has no settings"), "{e}");
    }

    #[test]
    fn rendering_quotes_values_so_they_cannot_add_structure() {
        let mut v = Values::new();
        v.insert("m".into(), "1Gi\nkind: Secret".into());
        let out = render("memory: {{ m }}\n", &v).unwrap();
        assert_eq!(out, "memory: \"1Gi\\nkind: Secret\"\n");
        assert!(render("x: {{ nope }}", &v).is_err());
        assert!(render("x: {{ m", &v).is_err());
    }
}
