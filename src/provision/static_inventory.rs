//! The `static` provider: the addresses are the ones in the cluster config.

use super::{ProvisionError, Provider, Provisioned};
use crate::model::inventory::Inventory;
use crate::model::cluster::Cluster;

/// Takes the inventory from the config.
pub struct StaticProvider;

impl Provider for StaticProvider {
    fn provision(&self, cluster: &Cluster, _dry_run: bool) -> Result<Provisioned, ProvisionError> {
        let (inventory, notice) = Inventory::from_config(cluster)?;
        Ok(Provisioned { inventory, notices: notice.into_iter().collect() })
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
