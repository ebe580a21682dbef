//! Kubernetes: the cluster config, the certificate plan (role → subject,
//! SANs, usages, files), kubeconfigs and the encryption config. Data in,
//! data out.

pub mod check;
pub mod files;
pub mod kubeadm;
pub mod plan;
pub mod renew;
pub mod set;
pub mod user;
