//! Spark on the cluster. `submit` runs the application's driver in a pod (spark-submit in
//! client mode inside the cluster, `spark.driver.host` = the pod's IP: no cluster DNS
//! needed) and its executors as pods owned by that driver pod, so that deleting the driver
//! collects them. `env` prints what a host-side spark-submit needs.

pub mod files;
mod submit;

pub use submit::{check_inputs, ensure_rbac, submit, SubmitOptions};

/// The service account (and Role, RoleBinding) the driver runs as.
pub const SERVICE_ACCOUNT: &str = "spark";
/// Cores requested from Kubernetes per executor: a fraction, so that a laptop node holds a
/// driver and several executors (Spark still runs --executor-cores task slots in each).
pub const EXECUTOR_REQUEST_CORES: &str = "0.2";
/// Ports the driver listens on for executors (fixed: executors dial the pod IP).
pub const DRIVER_PORT: u16 = 7078;
pub const BLOCK_MANAGER_PORT: u16 = 7079;
/// A host file passed as APP travels in a ConfigMap: its size limit, with room for metadata.
pub const MAX_APP_FILE: u64 = 1_000_000;

/// Spark's memory overhead rule for pods: max(384 MiB, 10 %).
pub fn pod_memory(jvm: u64) -> u64 {
    jvm + (jvm / 10).max(384 << 20)
}
