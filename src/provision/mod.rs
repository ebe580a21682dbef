//! Where the cluster's addresses come from. A provider returns the
//! [`Inventory`] — the API address and each node's name and IPs — that the
//! certificate plan is computed from; the plan never knows which provider ran.

use crate::model::cluster::Cluster;

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "aws")]
pub mod aws_provider;
pub mod reconcile;
pub mod sim;
pub mod static_inventory;

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

use crate::model::inventory::Inventory;
