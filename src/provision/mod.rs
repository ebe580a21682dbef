//! Where the cluster's addresses come from. A provider returns the
//! [`Inventory`] — the API address and each node's name and IPs — that the
//! certificate plan is computed from; the plan never knows which provider ran.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::k8s::cluster::Cluster;

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "aws")]
pub mod aws_provider;
pub mod infra;
pub mod sim;
pub mod static_inventory;

/// A node as provisioned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// Kubernetes node name (AWS: first label of PrivateDnsName).
    pub name: String,
    pub private_ip: Ipv4Addr,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub public_ip: Option<Ipv4Addr>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pod_cidr: Option<Ipv4Net>,
}

/// The addresses and names that go into the certificates; written to
/// `inventory.json` so later steps (copying files to nodes) can be scripted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    pub cluster: String,
    /// What clients dial for the API: the NLB's DNS name, or an IP.
    pub api_address: String,
    pub masters: Vec<Node>,
    pub workers: Vec<Node>,
}

/// What a provider found out, with notices for the user.
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub inventory: Inventory,
    pub notices: Vec<String>,
}

/// Why a provider failed.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("{0}")]
    Failed(String),
}

/// Supplies the inventory for a cluster, creating infrastructure first if
/// that is what the provider does. With `dry_run`, nothing is changed.
pub trait Provider {
    fn provision(&self, cluster: &Cluster, dry_run: bool) -> Result<Provisioned, ProvisionError>;
}

/// AWS's host name for a private IP: `ip-172-31-0-20`.
pub fn aws_host_name(ip: Ipv4Addr) -> String {
    let o = ip.octets();
    format!("ip-{}-{}-{}-{}", o[0], o[1], o[2], o[3])
}
