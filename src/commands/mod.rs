//! One module per command: parse-level glue over the libraries. Each `run` returns the
//! process exit code.

pub mod delete;
pub mod image;
pub mod kubeconfig;
pub mod kubectl;
pub mod list;
pub mod logs;
pub mod spark;
pub mod ssh;
pub mod start;
pub mod status;
pub mod stop;
