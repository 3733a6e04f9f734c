//! The fixed facts of every minik cluster: the labels its node carries (labels are the
//! state), the marks its creation leaves on the node, its network, subnets and ports.

/// Label keys carried by every node container (there is no state file: labels are the state).
pub const LABEL_CLUSTER: &str = "io.minik.cluster";
pub const LABEL_ROLE: &str = "io.minik.role";
pub const LABEL_API_PORT: &str = "io.minik.api-port";
pub const LABEL_IMAGE: &str = "io.minik.image";
pub const LABEL_PRIVILEGE: &str = "io.minik.privilege";
/// Set on nodes that record their creation's progress in [`MARK_CONTROL_PLANE`] and
/// [`MARK_CREATED`] (nodes made before that are complete by definition).
pub const LABEL_MARKS: &str = "io.minik.creation-marks";
/// On the node's /var volume: kubeadm init and the default service account are done.
pub const MARK_CONTROL_PLANE: &str = "/var/lib/minik/control-plane";
/// On the node's /var volume: every creation step before the Ready wait is done.
pub const MARK_CREATED: &str = "/var/lib/minik/created";
/// The shared bridge network every minik node joins.
pub const NETWORK: &str = "minik";
/// Candidate subnets for that network, tried in order until one does not overlap.
pub const NETWORK_SUBNETS: &[&str] = &[
    "172.29.0.0/24",
    "172.29.1.0/24",
    "192.168.229.0/24",
    "10.229.0.0/24",
];
/// Pod and Service ranges inside every cluster.
pub const POD_SUBNET: &str = "10.244.0.0/16";
pub const SERVICE_SUBNET: &str = "10.96.0.0/16";
/// The API server's port inside the node.
pub const API_PORT: u16 = 6443;
