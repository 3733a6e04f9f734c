//! One module per command: parse-level glue over the libraries. Each `run` returns the
//! process exit code.

pub mod addons;
pub mod dashboard;
pub mod delete;
pub mod image;
pub mod kubeconfig;
pub mod kubectl;
pub mod list;
pub mod logs;
pub mod service;
pub mod spark;
pub mod ssh;
pub mod start;
pub mod status;
pub mod stop;
pub mod target;

/// Opens `url` in the user's browser; says so, and how to open it by hand, when it cannot.
pub fn open_browser(ui: &crate::ui::Ui, url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let ok = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        ui.warn(format!(
            "cannot open a browser ({opener}): open {url} yourself"
        ));
    }
}

/// Serves a forward until Ctrl-C (exit 0) or until it fails.
pub async fn serve_until_interrupted(
    ui: &crate::ui::Ui,
    fwd: crate::k8s::forward::Forward,
) -> anyhow::Result<u8> {
    let errors = ui.clone();
    tokio::select! {
        r = fwd.serve(move |e| errors.warn(format!("a forwarded connection failed: {e}"))) => r.map(|_| 0),
        _ = tokio::signal::ctrl_c() => {
            ui.info("Stopped the forward");
            Ok(0)
        }
    }
}
