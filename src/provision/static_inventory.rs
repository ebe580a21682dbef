//! The `static` provider: the addresses are the ones in the cluster config.

use super::{aws_host_name, Inventory, Node, ProvisionError, Provider, Provisioned};
use crate::k8s::cluster::{Cluster, NodeConfig};

/// Takes the inventory from the config.
pub struct StaticProvider;

impl Provider for StaticProvider {
    fn provision(&self, cluster: &Cluster, _dry_run: bool) -> Result<Provisioned, ProvisionError> {
        let mut notices = Vec::new();
        let node = |n: &NodeConfig| Node {
            name: n.name.clone().unwrap_or_else(|| aws_host_name(n.ip)),
            private_ip: n.ip,
            public_ip: None,
            pod_cidr: n.pod_cidr,
        };
        let masters: Vec<Node> = cluster.masters.iter().map(node).collect();
        let workers: Vec<Node> = cluster.workers.iter().map(node).collect();
        let api_address = match &cluster.api_address {
            Some(a) => a.clone(),
            None => {
                let first = masters.first().ok_or_else(|| ProvisionError::Failed("the config has no masters".into()))?;
                notices.push(format!(
                    "api_address is not set; using master-0's IP {} (set api_address to your load balancer's name)",
                    first.private_ip
                ));
                first.private_ip.to_string()
            }
        };
        Ok(Provisioned { inventory: Inventory { cluster: cluster.name.clone(), api_address, masters, workers }, notices })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_inventory() {
        let p = StaticProvider.provision(&Cluster::default_seed(), false).unwrap();
        let inv = p.inventory;
        assert_eq!(inv.api_address, "172.31.0.10");
        assert_eq!(p.notices.len(), 1);
        assert_eq!(inv.workers[0].name, "ip-172-31-0-20");
        assert_eq!(inv.workers[2].pod_cidr.unwrap().to_string(), "172.20.2.0/24");
        assert_eq!(inv.masters[2].private_ip.to_string(), "172.31.0.12");
    }
}
