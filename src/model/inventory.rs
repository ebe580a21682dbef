//! What a provider found: the API address and each node's name and
//! addresses, from which the certificate plan is computed.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use super::cluster::{check_address, Cluster, NodeConfig};
use crate::pki::json::shown;
use crate::pki::request::check_host_name;

/// A node as provisioned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// Kubernetes node name (AWS: first label of PrivateDnsName).
    pub name: String,
    /// The address the node's certificates and kubeconfig are for.
    pub private_ip: Ipv4Addr,
    /// The public address, when it has one (only in the kubelet's certificate if configured).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub public_ip: Option<Ipv4Addr>,
    /// The node's pod network, when configured.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pod_cidr: Option<Ipv4Net>,
}

/// The addresses and names that go into the certificates; written to
/// `inventory.json` so later steps (copying files to nodes) can be scripted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// The cluster's name.
    pub cluster: String,
    /// What clients dial for the API: the NLB's DNS name, or an IP.
    pub api_address: String,
    /// Control-plane nodes.
    pub masters: Vec<Node>,
    /// Worker nodes.
    pub workers: Vec<Node>,
}

/// AWS's host name for a private IP: `ip-172-31-0-20`.
pub fn aws_host_name(ip: Ipv4Addr) -> String {
    let o = ip.octets();
    format!("ip-{}-{}-{}-{}", o[0], o[1], o[2], o[3])
}

/// A node's role in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeRole {
    /// Runs the control plane (API server, controller manager, scheduler).
    Master,
    /// Runs the kubelet and kube-proxy for workloads.
    Worker,
}

impl NodeRole {
    /// The name used in tags and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeRole::Master => "master",
            NodeRole::Worker => "worker",
        }
    }
}

impl std::fmt::Display for NodeRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why addresses a provider found cannot go into certificates: caught where
/// they enter, not when a certificate carrying them is issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InventoryError {
    /// The config lists no master (a validated [`Cluster`] always has one).
    #[error("the config has no masters")]
    NoMasters,
    /// The API address (a load balancer's DNS name) is not usable.
    #[error("the API address: {0}")]
    ApiAddress(String),
    /// A node name reported by the provider is not usable.
    #[error("node {name}: {message}")]
    NodeName {
        /// The name as reported (shown escaped).
        name: String,
        /// Why it cannot be used.
        message: String,
    },
}

impl Inventory {
    /// An inventory from addresses a provider reported, validated as a
    /// config's values are: the API address is an IP or a host name, node
    /// names are usable host names.
    pub fn checked(cluster: &str, api_address: &str, masters: Vec<Node>, workers: Vec<Node>) -> Result<Self, InventoryError> {
        if api_address.is_empty() {
            return Err(InventoryError::ApiAddress("it is empty (the load balancer has no DNS name yet?)".into()));
        }
        check_address(api_address).map_err(|e| InventoryError::ApiAddress(e.to_string()))?;
        for n in masters.iter().chain(&workers) {
            check_host_name(&n.name).map_err(|e| InventoryError::NodeName { name: shown(&n.name), message: e.to_string() })?;
        }
        Ok(Inventory { cluster: cluster.to_string(), api_address: api_address.to_string(), masters, workers })
    }

    /// The inventory a config describes (the static provider): nodes as
    /// listed, unnamed ones named as AWS names an IP; without `api_address`,
    /// the first master's IP, with a notice saying so.
    pub fn from_config(cluster: &Cluster) -> Result<(Self, Option<String>), InventoryError> {
        let node = |n: &NodeConfig| Node { name: n.name.clone().unwrap_or_else(|| aws_host_name(n.ip)), private_ip: n.ip, public_ip: None, pod_cidr: n.pod_cidr };
        let masters: Vec<Node> = cluster.masters.iter().map(node).collect();
        let workers: Vec<Node> = cluster.workers.iter().map(node).collect();
        let (api_address, notice) = match &cluster.api_address {
            Some(a) => (a.clone(), None),
            None => {
                let first = masters.first().ok_or(InventoryError::NoMasters)?;
                let notice = format!("api_address is not set; using master-0's IP {} (set api_address to your load balancer's name)", first.private_ip);
                (first.private_ip.to_string(), Some(notice))
            }
        };
        Ok((Inventory { cluster: cluster.name.clone(), api_address, masters, workers }, notice))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str) -> Node {
        Node { name: name.into(), private_ip: Ipv4Addr::new(172, 31, 0, 20), public_ip: None, pod_cidr: None }
    }

    #[test]
    fn addresses_from_a_provider_are_checked_where_they_enter() {
        let empty = Inventory::checked("c", "", vec![node("ip-172-31-0-10")], vec![]).unwrap_err();
        assert!(matches!(empty, InventoryError::ApiAddress(_)) && empty.to_string().contains("empty"), "{empty}");
        let wildcard = Inventory::checked("c", "*.elb.amazonaws.com", vec![node("ip-172-31-0-10")], vec![]).unwrap_err();
        assert!(matches!(wildcard, InventoryError::ApiAddress(_)), "{wildcard}");
        let bad_node = Inventory::checked("c", "k8s-api.example.com", vec![node("Ip_Bad")], vec![]).unwrap_err();
        assert!(matches!(bad_node, InventoryError::NodeName { .. }), "{bad_node}");
        let ok = Inventory::checked("c", "k8s-abc.elb.us-east-2.amazonaws.com", vec![node("ip-172-31-0-10")], vec![node("ip-172-31-0-20")]).unwrap();
        assert_eq!(ok.api_address, "k8s-abc.elb.us-east-2.amazonaws.com");
    }

    #[test]
    fn the_seed_config_is_an_inventory() {
        let (inv, notice) = Inventory::from_config(&Cluster::default_seed()).unwrap();
        assert_eq!(inv.api_address, "172.31.0.10");
        assert!(notice.is_some_and(|n| n.contains("api_address is not set")));
        assert_eq!(inv.workers[0].name, "ip-172-31-0-20");
    }
}
