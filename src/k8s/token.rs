//! Short-lived service-account tokens (TokenRequest): nothing long-lived is stored or printed.

use std::time::Duration;

use anyhow::{Context, Result};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::PostParams;
use kube::{Api, Client};

/// A token for `namespace/service_account` that expires after `ttl` (at least 10 minutes:
/// the API server's minimum).
pub async fn request(
    client: &Client,
    namespace: &str,
    service_account: &str,
    ttl: Duration,
) -> Result<String> {
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    let tr = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![],
            expiration_seconds: Some(ttl.as_secs().max(600) as i64),
            bound_object_ref: None,
        },
        ..Default::default()
    };
    let out = api
        .create_token_request(service_account, &PostParams::default(), &tr)
        .await
        .with_context(|| {
            format!("cannot get a token for service account {namespace}/{service_account}")
        })?;
    out.status
        .map(|s| s.token)
        .filter(|t| !t.is_empty())
        .context("the API server returned no token")
}
