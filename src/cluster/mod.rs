//! The cluster lifecycle library: create or restart (`start`), `stop`, `delete`, and the
//! read-only views (`list`, `status`). Cluster state lives only in Docker labels.

pub mod config;
mod create;
pub mod kubeadm;
pub mod kubeconfig;
mod lifecycle;
mod lock;
pub mod names;
pub mod node;
mod state;
pub mod version;

pub use create::{start, StartOptions};
pub use lifecycle::{delete, status, stop};
pub use state::{find, list, require_running, NodeInfo};
