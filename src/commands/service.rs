//! `minik service NAME`: a local URL on 127.0.0.1 for a Service, kept open while it runs.

use anyhow::Result;

use super::target::Target;
use crate::cli::ServiceArgs;
use crate::k8s::forward::{self, Forward};
use crate::k8s::Timeouts;
use crate::ui::Ui;

pub async fn run(ui: &Ui, a: ServiceArgs) -> Result<u8> {
    let target = Target::resolve(&a.target).await?;
    let client = target.client(Timeouts::Streaming).await?;
    // Unknown service, unknown port, no ready pod: said now, before anything listens.
    let backend =
        forward::resolve_service(&client, &a.namespace, &a.name, a.port.as_deref()).await?;
    let fwd = Forward::bind(
        client,
        forward::Target::Service {
            namespace: a.namespace.clone(),
            name: a.name.clone(),
            port: a.port.clone().or(Some(backend.service_port.to_string())),
        },
        a.local_port,
    )
    .await?;
    let scheme = if matches!(backend.service_port, 443 | 8443) {
        "https"
    } else {
        "http"
    };
    let url = format!("{scheme}://127.0.0.1:{}", fwd.port());
    println!("{url}");
    ui.info(format!(
        "Forwarding {url} to service {}/{} port {} (pod {}); Ctrl-C stops it",
        a.namespace, a.name, backend.service_port, backend.pod
    ));
    if !a.url {
        super::open_browser(ui, &url);
    }
    super::serve_until_interrupted(ui, fwd).await
}
