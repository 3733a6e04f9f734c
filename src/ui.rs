//! Terminal output: one status line per step (spinner, then ✓ or ✗ on a terminal; plain
//! lines otherwise), byte progress bars, and the quiet / verbose policy. Status goes to
//! stderr; data (lists, JSON, kubeconfigs) goes to stdout and never through here.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How much to say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Quiet,
    Normal,
    Verbose,
}

/// The output policy, shared by every command.
#[derive(Clone)]
pub struct Ui {
    level: Level,
    tty: bool,
    multi: MultiProgress,
}

impl Ui {
    pub fn new(level: Level) -> Self {
        // Progress is hidden under -v so that it does not interleave with detail lines.
        let tty = std::io::stderr().is_terminal() && level == Level::Normal;
        let multi = MultiProgress::with_draw_target(if tty {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        Ui { level, tty, multi }
    }

    pub fn is_verbose(&self) -> bool {
        self.level >= Level::Verbose
    }

    /// Whether status lines are live (spinners on a terminal) rather than plain lines.
    pub fn is_live(&self) -> bool {
        self.tty
    }

    /// Starts a step; it owns one status line until `done` or `fail` (or drop = fail).
    pub fn step(&self, title: impl Into<String>) -> Step {
        let title = title.into();
        let spinner = if self.tty {
            let pb = self.multi.add(ProgressBar::new_spinner());
            pb.set_style(
                ProgressStyle::with_template(" {spinner:.cyan} {msg}").expect("valid template"),
            );
            pb.set_message(title.clone());
            pb.enable_steady_tick(Duration::from_millis(100));
            Some(pb)
        } else {
            if self.level > Level::Quiet {
                eprintln!(" • {title} ...");
            }
            None
        };
        Step {
            ui: self.clone(),
            title,
            started: Instant::now(),
            spinner,
            finished: false,
        }
    }

    /// Runs `work` as one step: ✓ with the detail it returns, ✗ when it fails.
    pub async fn step_with<T, F>(&self, title: impl Into<String>, work: F) -> anyhow::Result<T>
    where
        F: std::future::Future<Output = anyhow::Result<(T, Option<String>)>>,
    {
        let step = self.step(title);
        match work.await {
            Ok((value, Some(detail))) => {
                step.done_with(detail);
                Ok(value)
            }
            Ok((value, None)) => {
                step.done();
                Ok(value)
            }
            Err(e) => {
                step.fail();
                Err(e)
            }
        }
    }

    /// A note under the current step, indented like a detail but shown without -v (not in
    /// quiet mode).
    pub fn note(&self, msg: impl AsRef<str>) {
        if self.level > Level::Quiet {
            self.println(&format!("   {}", msg.as_ref()));
        }
    }

    /// A line of information (not in quiet mode).
    pub fn info(&self, msg: impl AsRef<str>) {
        if self.level > Level::Quiet {
            self.println(msg.as_ref());
        }
    }

    /// A warning; always shown.
    pub fn warn(&self, msg: impl AsRef<str>) {
        self.println(&format!(" ! {}", msg.as_ref()));
    }

    /// Detail shown only with -v.
    pub fn detail(&self, msg: impl AsRef<str>) {
        if self.is_verbose() {
            self.println(&format!("   {}", msg.as_ref()));
        }
    }

    fn println(&self, line: &str) {
        if self.tty {
            let _ = self.multi.println(line);
        } else {
            eprintln!("{line}");
        }
    }

    /// A byte progress bar (size, rate, ETA); hidden when not on a terminal.
    pub fn bytes(&self, title: impl Into<String>, total: Option<u64>) -> Bytes {
        let pb = if self.tty {
            let pb = self.multi.add(match total {
                Some(t) => ProgressBar::new(t),
                None => ProgressBar::no_length(),
            });
            let template = if total.is_some() {
                "   {msg:24} [{bar:30.cyan/blue}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}"
            } else {
                "   {msg:24} {bytes} {bytes_per_sec}"
            };
            pb.set_style(
                ProgressStyle::with_template(template)
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            pb.set_message(title.into());
            Some(pb)
        } else {
            None
        };
        Bytes { pb }
    }
}

/// One step's status line.
pub struct Step {
    ui: Ui,
    title: String,
    started: Instant,
    spinner: Option<ProgressBar>,
    finished: bool,
}

impl Step {
    pub fn done(self) {
        self.finish(true, None);
    }

    /// Ends the step with a detail, e.g. "Ready after 14s".
    pub fn done_with(self, detail: impl AsRef<str>) {
        self.finish(true, Some(detail.as_ref().to_string()));
    }

    pub fn fail(self) {
        self.finish(false, None);
    }

    /// Shows the latest progress next to the title on the step's live line (e.g. the last
    /// line of a build log); with -v it is printed as a detail line instead.
    pub fn progress(&self, text: impl AsRef<str>) {
        match &self.spinner {
            Some(pb) => {
                let t: String = text.as_ref().chars().take(80).collect();
                pb.set_message(format!("{} · {t}", self.title));
            }
            None => self.ui.detail(text),
        }
    }

    fn finish(mut self, ok: bool, detail: Option<String>) {
        self.finished = true;
        let mark = if ok { "✓" } else { "✗" };
        // Steps that took a while say how long: that is where `start` spends its time.
        let took = self.started.elapsed();
        let detail = match (detail, took >= Duration::from_secs(1)) {
            (Some(d), true) => Some(format!("{d}; {}", human_duration(took))),
            (None, true) => Some(human_duration(took)),
            (d, false) => d,
        };
        let line = match detail {
            Some(d) => format!(" {mark} {} ({d})", self.title),
            None => format!(" {mark} {}", self.title),
        };
        if let Some(pb) = self.spinner.take() {
            pb.finish_and_clear();
            self.ui.multi.remove(&pb);
        }
        if !ok || self.ui.level > Level::Quiet {
            self.ui.println(&line);
        }
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        if !self.finished {
            self.finished = true;
            let title = std::mem::take(&mut self.title);
            if let Some(pb) = self.spinner.take() {
                pb.finish_and_clear();
            }
            self.ui.println(&format!(" ✗ {title}"));
        }
    }
}

/// A live status line without ✓/✗ (e.g. executor pods coming and going); it disappears
/// when dropped. Only on a terminal: elsewhere print plain lines instead.
pub struct Live {
    pb: Option<ProgressBar>,
}

impl Ui {
    pub fn live(&self, text: impl Into<String>) -> Live {
        let pb = self.tty.then(|| {
            let pb = self.multi.add(ProgressBar::new_spinner());
            pb.set_style(
                ProgressStyle::with_template(" {spinner:.cyan} {msg}").expect("valid template"),
            );
            pb.set_message(text.into());
            pb.enable_steady_tick(Duration::from_millis(100));
            pb
        });
        Live { pb }
    }
}

impl Live {
    pub fn set(&self, text: impl Into<String>) {
        if let Some(pb) = &self.pb {
            pb.set_message(text.into());
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(pb) = self.pb.take() {
            pb.finish_and_clear();
        }
    }
}

/// A byte progress bar handle (no-op when hidden); clones share the bar.
#[derive(Clone)]
pub struct Bytes {
    pb: Option<ProgressBar>,
}

impl Bytes {
    pub fn set_position(&self, pos: u64) {
        if let Some(pb) = &self.pb {
            pb.set_position(pos);
        }
    }
    pub fn inc(&self, n: u64) {
        if let Some(pb) = &self.pb {
            pb.inc(n);
        }
    }
    pub fn set_length(&self, len: u64) {
        if let Some(pb) = &self.pb {
            pb.set_length(len);
        }
    }
    pub fn set_message(&self, msg: impl Into<String>) {
        if let Some(pb) = &self.pb {
            pb.set_message(msg.into());
        }
    }
    pub fn finish(&self) {
        if let Some(pb) = &self.pb {
            pb.finish_and_clear();
        }
    }
}

/// "14s", "1m02s": how long a step took, as the user reads it.
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 10.0 {
        format!("{secs:.1}s")
    } else if secs < 60.0 {
        format!("{}s", secs.round() as u64)
    } else {
        let s = secs.round() as u64;
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(Duration::from_millis(1234)), "1.2s");
        assert_eq!(human_duration(Duration::from_secs(14)), "14s");
        assert_eq!(human_duration(Duration::from_secs(62)), "1m02s");
    }
}
