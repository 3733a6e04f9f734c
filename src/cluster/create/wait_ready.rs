//! Step "Waiting for node Ready": through the kubeconfig, from the host; Ready means usable.

use std::time::Duration;

use anyhow::Result;

use super::Run;
use crate::error::Hinted;
use crate::k8s;
use crate::ui::human_duration;

impl Run<'_> {
    pub(super) async fn wait_ready(&mut self) -> Result<Option<String>> {
        let client = k8s::client(&self.names.context, k8s::Timeouts::Short).await?;
        let since = self.started;
        // A restarted node still shows the Ready stored before it stopped: count only
        // heartbeats sent since this start began.
        let fresh_since =
            (!self.was_running).then(|| unix_now() - since.elapsed().as_secs() as i64);
        let needs_token = self.needs_sa_token;
        let waited = k8s::wait_for(self.opts.wait, Duration::from_millis(250), || {
            let client = client.clone();
            // Ready means usable: a pod can be created right after `start` returns.
            async move {
                Ok(k8s::nodes_usable(&client, fresh_since).await?
                    && k8s::default_service_account(&client, needs_token).await?)
            }
        })
        .await;
        match waited {
            Ok(()) => Ok(Some(format!(
                "Ready after {}",
                human_duration(since.elapsed())
            ))),
            Err(last) => {
                let why = last.unwrap_or_else(|| anyhow::anyhow!("the node reports NotReady"));
                Err(Hinted::new(
                    format!(
                        "the node was not Ready within {}",
                        humantime::format_duration(self.opts.wait)
                    ),
                    format!(
                        "see `minik logs -p {}`; wait longer with --wait 10m",
                        self.opts.profile
                    ),
                )
                .caused_by(why)
                .into())
            }
        }
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
