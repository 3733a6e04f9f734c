//! Local forwards: a listener on 127.0.0.1 whose connections reach a pod's port through the
//! API server (kube's websocket port-forward), or a ready pod behind a Service, resolved
//! again for every connection so that a restarted pod is picked up.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use kube::{Api, Client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::error::Hinted;

/// Where connections go.
#[derive(Debug, Clone)]
pub enum Target {
    /// A Service port, by name or number (None: the only or first one).
    Service {
        namespace: String,
        name: String,
        port: Option<String>,
    },
}

/// A Service port resolved to a pod and the port the pod listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    pub pod: String,
    pub port: u16,
    /// The Service port (for URLs: 443 means https).
    pub service_port: u16,
}

/// Rewrites the head of each HTTP request before it goes on (e.g. to add credentials);
/// returns the bytes to send upstream, or a complete response to answer locally.
pub type HeadRewriter =
    Arc<dyn Fn(String) -> Pin<Box<dyn Future<Output = Rewritten> + Send>> + Send + Sync>;

pub enum Rewritten {
    Forward(String),
    Respond(String),
}

/// Resolves a Service port to a ready pod behind it, with errors that say what is wrong:
/// no such service, no such port, no ready endpoint.
pub async fn resolve_service(
    client: &Client,
    namespace: &str,
    name: &str,
    port: Option<&str>,
) -> Result<Backend> {
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    let Some(svc) = services
        .get_opt(name)
        .await
        .with_context(|| format!("cannot read service {namespace}/{name}"))?
    else {
        let known: Vec<String> = services
            .list(&Default::default())
            .await
            .map(|l| {
                l.items
                    .into_iter()
                    .filter_map(|s| s.metadata.name)
                    .collect()
            })
            .unwrap_or_default();
        return Err(Hinted::new(
            format!("no service {name:?} in namespace {namespace}"),
            if known.is_empty() {
                format!("namespace {namespace} has no services; pick another with -n")
            } else {
                format!("services in {namespace}: {}", known.join(", "))
            },
        )
        .into());
    };
    let ports = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.clone())
        .unwrap_or_default();
    let describe = |p: &k8s_openapi::api::core::v1::ServicePort| match &p.name {
        Some(n) if !n.is_empty() => format!("{n} ({})", p.port),
        _ => p.port.to_string(),
    };
    let chosen = match port {
        None => ports.first(),
        Some(want) => ports
            .iter()
            .find(|p| p.name.as_deref() == Some(want) || p.port.to_string() == want),
    };
    let Some(sp) = chosen.cloned() else {
        let list: Vec<String> = ports.iter().map(describe).collect();
        return Err(Hinted::new(
            match port {
                Some(p) => format!("service {namespace}/{name} has no port {p:?}"),
                None => format!("service {namespace}/{name} has no ports"),
            },
            if list.is_empty() {
                "a service without ports cannot be forwarded".to_string()
            } else {
                format!("its ports: {}", list.join(", "))
            },
        )
        .into());
    };
    let endpoints: Api<Endpoints> = Api::namespaced(client.clone(), namespace);
    let ep = endpoints.get_opt(name).await.ok().flatten();
    for subset in ep.iter().flat_map(|e| e.subsets.iter().flatten()) {
        let port = subset
            .ports
            .iter()
            .flatten()
            .find(|p| p.name == sp.name || subset.ports.as_ref().is_some_and(|all| all.len() == 1))
            .map(|p| p.port);
        let pod = subset
            .addresses
            .iter()
            .flatten()
            .filter_map(|a| a.target_ref.as_ref())
            .find(|r| r.kind.as_deref() == Some("Pod"))
            .and_then(|r| r.name.clone());
        if let (Some(port), Some(pod)) = (port, pod) {
            return Ok(Backend {
                pod,
                port: port as u16,
                service_port: sp.port as u16,
            });
        }
    }
    let selector = svc
        .spec
        .as_ref()
        .and_then(|s| s.selector.clone())
        .map(|m| {
            m.into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    Err(Hinted::new(
        format!("service {namespace}/{name} has no ready pod behind it"),
        if selector.is_empty() {
            "the service has no selector; it needs endpoints to be forwarded".to_string()
        } else {
            format!("see its pods with `minik kubectl -- get pods -n {namespace} -l {selector}`")
        },
    )
    .into())
}

/// A forward listening on 127.0.0.1.
pub struct Forward {
    listener: TcpListener,
    client: Client,
    target: Target,
    rewrite: Option<HeadRewriter>,
}

impl Forward {
    /// Binds 127.0.0.1:`port` (0: any free port). Only loopback: nothing else on the network
    /// reaches the cluster through it.
    pub async fn bind(client: Client, target: Target, port: u16) -> Result<Forward> {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| format!("cannot listen on 127.0.0.1:{port}"))?;
        Ok(Forward {
            listener,
            client,
            target,
            rewrite: None,
        })
    }

    pub fn with_rewriter(mut self, rewrite: HeadRewriter) -> Forward {
        self.rewrite = Some(rewrite);
        self
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Serves connections until the future is dropped. A connection that fails is closed
    /// and reported through `on_error`; the forward goes on.
    pub async fn serve(self, on_error: impl Fn(String) + Send + Sync + 'static) -> Result<()> {
        let on_error = Arc::new(on_error);
        let shared = Arc::new((self.client, self.target, self.rewrite));
        loop {
            let (conn, _) = self
                .listener
                .accept()
                .await
                .context("cannot accept a connection")?;
            let shared = shared.clone();
            let on_error = on_error.clone();
            tokio::spawn(async move {
                let (client, target, rewrite) = &*shared;
                if let Err(e) = handle(client, target, rewrite.as_ref(), conn).await {
                    on_error(format!("{e:#}"));
                }
            });
        }
    }
}

async fn handle(
    client: &Client,
    target: &Target,
    rewrite: Option<&HeadRewriter>,
    mut conn: TcpStream,
) -> Result<()> {
    // The head is rewritten before anything is forwarded: a local answer needs no pod.
    let mut first = Vec::new();
    if let Some(rewrite) = rewrite {
        let (head, rest) = read_head(&mut conn).await?;
        match rewrite(head).await {
            Rewritten::Respond(response) => {
                conn.write_all(response.as_bytes()).await?;
                conn.shutdown().await?;
                return Ok(());
            }
            Rewritten::Forward(head) => {
                first.extend_from_slice(head.as_bytes());
                first.extend_from_slice(&rest);
            }
        }
    }
    let (namespace, pod, port) = match target {
        Target::Service {
            namespace,
            name,
            port,
        } => {
            let b = resolve_service(client, namespace, name, port.as_deref()).await?;
            (namespace.clone(), b.pod, b.port)
        }
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let mut pf = pods
        .portforward(&pod, &[port])
        .await
        .with_context(|| format!("cannot forward to pod {namespace}/{pod} port {port}"))?;
    let mut upstream = pf
        .take_stream(port)
        .context("the port-forward has no stream")?;
    if !first.is_empty() {
        upstream.write_all(&first).await?;
    }
    let _ = tokio::io::copy_bidirectional(&mut conn, &mut upstream).await;
    drop(upstream);
    let _ = pf.join().await;
    Ok(())
}

/// Reads an HTTP request head (up to the blank line); returns it and any bytes after it.
async fn read_head(conn: &mut TcpStream) -> Result<(String, Vec<u8>)> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok((String::from_utf8_lossy(&buf).into_owned(), rest));
        }
        if buf.len() > 64 * 1024 {
            anyhow::bail!("request head larger than 64 KiB");
        }
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            anyhow::bail!("connection closed before a complete request head");
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The value of header `name` in an HTTP head (case-insensitive).
pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The head with header `name` removed everywhere and, when `value` is given, set once.
pub fn set_header(head: &str, name: &str, value: Option<&str>) -> String {
    let mut lines: Vec<&str> = head
        .trim_end_matches("\r\n")
        .split("\r\n")
        .filter(|line| {
            line.split_once(':')
                .is_none_or(|(k, _)| !k.trim().eq_ignore_ascii_case(name))
        })
        .collect();
    let added;
    if let Some(v) = value {
        added = format!("{name}: {v}");
        lines.push(&added);
    }
    let mut out = lines.join("\r\n");
    out.push_str("\r\n\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_found_replaced_and_removed() {
        let head = "GET / HTTP/1.1\r\nHost: x\r\nauthorization: Basic abc\r\nConnection: keep-alive\r\n\r\n";
        assert_eq!(header(head, "Authorization"), Some("Basic abc"));
        assert_eq!(header(head, "Cookie"), None);
        let h = set_header(head, "Authorization", Some("Bearer t"));
        assert_eq!(
            h,
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nAuthorization: Bearer t\r\n\r\n"
        );
        let h = set_header(&h, "connection", None);
        assert!(!h.to_ascii_lowercase().contains("connection"));
        assert!(h.ends_with("\r\n\r\n") && !h.ends_with("\r\n\r\n\r\n"));
    }
}
