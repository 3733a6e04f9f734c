//! Errors the user can act on: a message plus a hint saying what to do.
//!
//! Everything else travels as `anyhow::Error` with context; `main` renders the chain as
//! `error:` / `Caused by:` lines and prints the first [`Hinted`] hint found in it.

use std::error::Error as StdError;
use std::fmt;

/// An error that carries advice for the user.
#[derive(Debug)]
pub struct Hinted {
    message: String,
    hint: String,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

impl Hinted {
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Hinted {
            message: message.into(),
            hint: hint.into(),
            source: None,
        }
    }

    /// Keeps `source` as the cause, printed on a `Caused by:` line.
    pub fn caused_by(
        mut self,
        source: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Self {
        self.source = Some(source.into());
        self
    }

    pub fn hint(&self) -> &str {
        &self.hint
    }
}

impl fmt::Display for Hinted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for Hinted {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// A command that ran inside the node and failed: its output is part of the error.
#[derive(Debug)]
pub struct CommandFailed {
    pub command: String,
    pub exit_code: i64,
    pub output: String,
}

impl fmt::Display for CommandFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "command `{}` exited with code {}",
            self.command, self.exit_code
        )?;
        let output = self.output.trim_end();
        if !output.is_empty() {
            // The tail is what explains a failure; kubeadm can print hundreds of lines.
            let lines: Vec<&str> = output.lines().collect();
            let tail = &lines[lines.len().saturating_sub(40)..];
            write!(
                f,
                "; its output{}:",
                if tail.len() < lines.len() {
                    " (last 40 lines)"
                } else {
                    ""
                }
            )?;
            for line in tail {
                write!(f, "\n    {line}")?;
            }
        }
        Ok(())
    }
}

impl StdError for CommandFailed {}

/// Renders an error chain the way the user reads it.
pub fn render(err: &anyhow::Error) -> String {
    let mut out = format!("error: {err}");
    for cause in err.chain().skip(1) {
        out.push_str(&format!("\nCaused by: {cause}"));
    }
    if let Some(h) = err.chain().find_map(|e| e.downcast_ref::<Hinted>()) {
        out.push_str(&format!("\nhint: {}", h.hint()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_prints_chain_and_hint() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "socket missing");
        let err = anyhow::Error::new(
            Hinted::new("docker is not reachable", "start dockerd").caused_by(io),
        )
        .context("cannot start cluster \"dev\"");
        assert_eq!(
            render(&err),
            "error: cannot start cluster \"dev\"\nCaused by: docker is not reachable\n\
             Caused by: socket missing\nhint: start dockerd"
        );
    }

    #[test]
    fn command_failed_keeps_only_the_tail() {
        let output: String = (1..=50).map(|i| format!("line {i}\n")).collect();
        let e = CommandFailed {
            command: "kubeadm init".into(),
            exit_code: 1,
            output,
        };
        let s = e.to_string();
        assert!(
            s.starts_with("command `kubeadm init` exited with code 1; its output (last 40 lines):")
        );
        assert!(s.contains("line 50") && s.contains("line 11") && !s.contains("line 10\n"));
    }
}
