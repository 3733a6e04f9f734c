//! Step "Starting node": the container runs and systemd has containerd up.

use std::time::{Duration, Instant};

use anyhow::Result;

use super::super::find;
use super::Run;
use crate::error::Hinted;
use crate::k8s;
use crate::ui::human_duration;

impl Run<'_> {
    pub(super) async fn start_node(&mut self) -> Result<Option<String>> {
        let rt = self.rt;
        if let Err(e) = rt.start_container(self.container()).await {
            let text = format!("{e:#}");
            let port = self.node.as_ref().and_then(|n| n.api_port);
            if let (Some(port), true) = (
                port,
                text.contains("address already in use")
                    || text.contains("port is already allocated"),
            ) {
                return Err(Hinted::new(
                    format!("the cluster's API server port 127.0.0.1:{port} is taken by another process"),
                    format!(
                        "free it (`ss -ltnp 'sport = :{port}'` shows which process holds it), then run `minik start -p {}` again",
                        self.opts.profile
                    ),
                )
                .caused_by(text)
                .into());
            }
            return Err(e);
        }
        // The node is up when systemd has started containerd: a real condition, polled.
        let t0 = Instant::now();
        let container = self.container().to_string();
        let ready = k8s::wait_for(Duration::from_secs(90), Duration::from_millis(100), || {
            let container = container.clone();
            async move {
                let info = rt.inspect_container(&container).await?;
                let running = info
                    .as_ref()
                    .and_then(|c| c.state.as_ref())
                    .and_then(|s| s.running)
                    .unwrap_or(false);
                if !running {
                    anyhow::bail!("the node container stopped while booting");
                }
                Ok(rt
                    .exec(
                        &container,
                        &["systemctl", "is-active", "--quiet", "containerd"],
                        None,
                    )
                    .await?
                    .exit_code
                    == 0)
            }
        })
        .await;
        if let Err(last) = ready {
            let logs = rt
                .exec(&container, &["journalctl", "--no-pager", "-n", "30"], None)
                .await
                .map(|o| o.output)
                .unwrap_or_default();
            // The timeout is the error; the last failed check is what caused it.
            let timeout =
                anyhow::anyhow!("containerd did not become active in the node within 90s\n{logs}");
            let e = match last {
                Some(last) => last.context(timeout.to_string()),
                None => timeout,
            };
            return Err(Hinted::new(
                "the node did not boot",
                format!("see `minik logs -p {}`", self.opts.profile),
            )
            .caused_by(e)
            .into());
        }
        self.node = find(rt, &self.opts.profile).await?;
        Ok(Some(format!("booted in {}", human_duration(t0.elapsed()))))
    }
}
