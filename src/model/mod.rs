//! The model both sides share: the cluster as configured, the inventory a
//! provider found, and files as values. It sits just above `pki` and
//! below `k8s` and `provision`, which never import each other.

pub mod cluster;
pub mod file;
pub mod inventory;
