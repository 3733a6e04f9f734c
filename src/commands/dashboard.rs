//! `minik dashboard`: enables the dashboard add-on when needed, waits for it, and opens
//! Headlamp through a forward on 127.0.0.1 that logs the browser in.
//!
//! Logging in: the printed link carries a one-time secret; visiting it sets an HttpOnly
//! cookie, and only requests with that cookie get a short-lived token (TokenRequest for
//! headlamp/headlamp-admin) added on their way to Headlamp. Other local processes that find
//! the port get Headlamp's login prompt, nothing more.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::sync::Mutex;

use super::target::Target;
use crate::addons::{self, EnableOptions};
use crate::cli::DashboardArgs;
use crate::k8s::forward::{self, header, set_header, Forward, Rewritten};
use crate::k8s::{token, wait, Timeouts};
use crate::ui::Ui;

const NAMESPACE: &str = "headlamp";
const LOGIN_ACCOUNT: &str = "headlamp-admin";
const COOKIE: &str = "minik_dashboard";
const TOKEN_TTL: Duration = Duration::from_secs(3600);

pub async fn run(ui: &Ui, a: DashboardArgs) -> Result<u8> {
    let target = Target::resolve(&a.target).await?;
    let client = target.client(Timeouts::Streaming).await?;
    let addon = addons::find("dashboard")?;
    let ready_within = Duration::from_secs(300);
    if addons::is_enabled(&client, addon).await? {
        let workloads = addons::workloads(&client, addon).await?;
        let selector = format!("{}={}", addons::LABEL_ADDON, addon.name);
        ui.step_with("Waiting for the dashboard", async {
            wait::workloads_ready(&client, &workloads, &selector, ready_within)
                .await
                .map(|()| ((), None))
        })
        .await
        .map_err(|e| e.context("the dashboard add-on is not ready"))?;
    } else {
        ui.info("The dashboard add-on is not enabled: enabling it");
        let opts = EnableOptions {
            values_file: None,
            sets: vec![],
            images: vec![],
            wait: Some(ready_within),
            node: target.addon_node(),
        };
        addons::enable(&client, ui, addon, &opts).await?;
    }

    let first = ui
        .step_with("Getting a login token", async {
            let t = token::request(&client, NAMESPACE, LOGIN_ACCOUNT, TOKEN_TTL).await?;
            let detail = format!(
                "valid {}, renewed while this runs",
                humantime::format_duration(TOKEN_TTL)
            );
            Ok((t, Some(detail)))
        })
        .await?;
    let secret = random_hex(16)?;
    let tokens = Arc::new(Mutex::new((first, Instant::now())));
    let rewriter = login_rewriter(client.clone(), secret.clone(), tokens);
    let fwd = Forward::bind(
        client,
        forward::Target::Service {
            namespace: NAMESPACE.into(),
            name: "headlamp".into(),
            port: Some("http".into()),
        },
        a.port,
    )
    .await?
    .with_rewriter(rewriter);
    let url = format!("http://127.0.0.1:{}/minik-login?key={secret}", fwd.port());
    println!("{url}");
    ui.info(format!(
        "Headlamp on http://127.0.0.1:{}: the link above logs a browser in; Ctrl-C stops it",
        fwd.port()
    ));
    if !a.url {
        super::open_browser(ui, &url);
    }
    super::serve_until_interrupted(ui, fwd).await
}

fn login_rewriter(
    client: kube::Client,
    secret: String,
    tokens: Arc<Mutex<(String, Instant)>>,
) -> forward::HeadRewriter {
    Arc::new(move |head: String| {
        let client = client.clone();
        let secret = secret.clone();
        let tokens = tokens.clone();
        Box::pin(async move {
            let path = head.split(' ').nth(1).unwrap_or("/").to_string();
            if let Some(query) = path.strip_prefix("/minik-login") {
                let given = query
                    .trim_start_matches('?')
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("key="))
                    .unwrap_or("");
                return Rewritten::Respond(if given == secret {
                    format!(
                        "HTTP/1.1 302 Found\r\nLocation: /\r\nSet-Cookie: {COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                } else {
                    let body = "wrong login link: run `minik dashboard` again for a fresh one\n";
                    format!(
                        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                });
            }
            let logged_in = header(&head, "Cookie").is_some_and(|c| {
                c.split(';')
                    .any(|kv| kv.trim() == format!("{COOKIE}={secret}"))
            });
            let mut head = head;
            if logged_in {
                let mut t = tokens.lock().await;
                if t.1.elapsed() > TOKEN_TTL * 3 / 4 {
                    if let Ok(fresh) =
                        token::request(&client, NAMESPACE, LOGIN_ACCOUNT, TOKEN_TTL).await
                    {
                        *t = (fresh, Instant::now());
                    }
                }
                head = set_header(&head, "Authorization", Some(&format!("Bearer {}", t.0)));
            }
            // One request per connection, so that every request passes through here;
            // upgraded connections (websockets) carry no further requests.
            if header(&head, "Upgrade").is_none() {
                head = set_header(&head, "Connection", Some("close"));
            }
            Rewritten::Forward(head)
        })
    })
}

fn random_hex(bytes: usize) -> Result<String> {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .context("cannot read /dev/urandom")?;
    Ok(hex::encode(buf))
}
