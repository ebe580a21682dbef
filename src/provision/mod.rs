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
    /// The addresses cannot go into certificates.
    #[error(transparent)]
    Inventory(#[from] crate::model::inventory::InventoryError),
    /// Reading the cloud failed (dry run, destroy).
    #[error(transparent)]
    Reconcile(#[from] reconcile::ReconcileError),
    /// Reaching the end state failed.
    #[error(transparent)]
    Converge(#[from] reconcile::ConvergeError),
    /// The async runtime did not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// Supplies the inventory for a cluster, creating infrastructure first if
/// that is what the provider does. With `dry_run`, nothing is changed.
pub trait Provider {
    fn provision(&self, cluster: &Cluster, dry_run: bool) -> Result<Provisioned, ProvisionError>;
}

use crate::model::inventory::Inventory;
