//! The `aws` provider: reaches the seed's end state (or shows what that
//! would take, with `--dry-run`) and returns the real addresses.

use std::path::PathBuf;
use std::time::Duration;

use super::aws::{Aws, AwsOptions};
use super::reconcile::{self, Cloud, Desired, Progress};
use super::sim::SimCloud;
use super::{ProvisionError, Provider, Provisioned};
use crate::model::inventory::Inventory;
use crate::model::cluster::Cluster;
use crate::output::{self, OutFile};
use crate::progress;

/// Settings of the aws provider.
pub struct AwsProvider {
    pub options: AwsOptions,
    /// Where a newly created key pair's private key is saved (`<dir>/<key>.id_rsa`, 0400).
    pub ssh_dir: PathBuf,
    /// How often to poll while waiting for instances and the load balancer.
    pub poll: Duration,
}

/// Progress on stderr (a spinner on a terminal, timestamped lines
/// otherwise); the key saved at once.
struct Reporter {
    ssh_dir: PathBuf,
}

impl Progress for Reporter {
    fn line(&self, msg: &str) {
        progress::step(&format!("aws: {msg}"));
    }
    fn detail(&self, msg: &str) {
        progress::detail(&format!("aws: {msg}"));
    }
    fn save_key(&self, key_name: &str, material: &str) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let path = self.ssh_dir.join(format!("{key_name}.id_rsa"));
        output::write_all(&[OutFile::secret(&path, material.as_bytes()).with_mode(0o400)], false)?;
        progress::note(&format!("saved the new key pair's private key to {} (AWS shows it only once)", output::shown(&path)));
        Ok(())
    }
}

/// Dry runs report but save nothing.
struct DryReporter(Vec<String>);

impl Progress for std::cell::RefCell<DryReporter> {
    fn line(&self, msg: &str) {
        self.borrow_mut().0.push(msg.to_string());
    }
    fn save_key(&self, _key_name: &str, _material: &str) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Ok(())
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, ProvisionError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ProvisionError::Runtime)
}

impl AwsProvider {
    fn desired(&self, cluster: &Cluster) -> Desired {
        let mut c = cluster.clone();
        c.region = self.options.region.clone();
        Desired::from_cluster(&c)
    }

    /// What destroy would delete now, in its order; nothing is changed.
    pub fn to_destroy(&self, cluster: &Cluster) -> Result<Vec<reconcile::Resource>, ProvisionError> {
        let d = self.desired(cluster);
        runtime()?.block_on(async {
            let aws = Aws::connect(&self.options).await;
            Ok(reconcile::to_destroy(&aws, &d).await?)
        })
    }

    /// Deletes everything tagged for the cluster (only if it is still what
    /// `confirmed` lists, when given); returns (deleted, not deleted).
    pub fn destroy(&self, cluster: &Cluster, confirmed: Option<&[reconcile::Resource]>) -> Result<(Vec<String>, Vec<String>), ProvisionError> {
        let d = self.desired(cluster);
        runtime()?.block_on(async {
            let aws = Aws::connect(&self.options).await;
            let reporter = Reporter { ssh_dir: self.ssh_dir.clone() };
            Ok(reconcile::destroy(&aws, &d, &reporter, self.poll, confirmed).await?)
        })
    }

    /// What exists and what a run would do, without changing anything.
    pub fn plan(&self, cluster: &Cluster) -> Result<(Vec<String>, Vec<String>, Inventory), ProvisionError> {
        let d = self.desired(cluster);
        runtime()?.block_on(async {
            let aws = Aws::connect(&self.options).await;
            let state = aws.describe(&d).await.map_err(|e| reconcile::ReconcileError::Describe(reconcile::explain(&e)))?;
            let existing = describe_state(&state);
            let images = if d.ami_id.is_none() && reconcile::needs_ami(&d, &state) {
                aws.find_images(&d.ami_owner, &d.ami_name).await.map_err(|e| reconcile::ReconcileError::AmiLookup(reconcile::explain(&e)))?
            } else {
                vec![]
            };
            let sim = SimCloud::new(state, images);
            let log = std::cell::RefCell::new(DryReporter(vec![]));
            let conv = reconcile::converge(&sim, &d, &log, Duration::from_millis(1)).await?;
            let steps: Vec<String> = log.into_inner().0;
            Ok((existing, steps, conv.inventory))
        })
    }
}

/// One line per existing resource.
fn describe_state(s: &reconcile::State) -> Vec<String> {
    let mut out = Vec::new();
    out.extend(s.vpcs.iter().map(|v| format!("VPC {} ({})", v.id, v.cidr)));
    out.extend(s.dhcps.iter().map(|v| format!("DHCP options {}", v.id)));
    out.extend(s.subnets.iter().map(|v| format!("subnet {} ({})", v.id, v.cidr)));
    out.extend(s.igws.iter().map(|v| format!("internet gateway {}", v.id)));
    out.extend(s.route_tables.iter().map(|v| format!("route table {}", v.id)));
    out.extend(s.security_groups.iter().map(|v| format!("security group {}", v.id)));
    if s.key_pair {
        out.push("key pair".into());
    }
    out.extend(s.instances.iter().map(|i| format!("instance {} {} ({})", i.name, i.id, i.state)));
    if let Some(lb) = &s.lb {
        out.push(format!("load balancer {} ({})", lb.dns_name, lb.state));
    }
    if s.tg.is_some() {
        out.push("target group".into());
    }
    out.extend(s.listeners.iter().map(|l| format!("listener :{}", l.port)));
    out
}

impl Provider for AwsProvider {
    fn provision(&self, cluster: &Cluster, dry_run: bool) -> Result<Provisioned, ProvisionError> {
        let mut notices = Vec::new();
        if cluster.admin_cidr.prefix_len() == 0 {
            notices.push(format!(
                "warning: admin_cidr is {}: SSH (22) and the API (6443) are open to the whole internet; set admin_cidr to your own network",
                cluster.admin_cidr
            ));
        }
        if dry_run {
            let (existing, steps, inventory) = self.plan(cluster)?;
            if existing.is_empty() {
                notices.push("aws: nothing exists yet for this cluster".into());
            } else {
                notices.push(format!("aws: exists: {}", existing.join("; ")));
            }
            if steps.is_empty() {
                notices.push("aws: nothing to create".into());
            } else {
                notices.push(format!("aws: would {}", steps.join("; ")));
                notices.push("aws: names and addresses below are simulated until the resources exist".into());
            }
            return Ok(Provisioned { inventory, notices });
        }
        let d = self.desired(cluster);
        let conv = runtime()?.block_on(async {
            let aws = Aws::connect(&self.options).await;
            let reporter = Reporter { ssh_dir: self.ssh_dir.clone() };
            reporter.line(&format!("reading the resources tagged for cluster {} in {}", d.cluster, d.region));
            reconcile::converge(&aws, &d, &reporter, self.poll).await
        })?;
        if let Some(ami) = &conv.ami {
            notices.push(format!("aws: AMI {} ({}, the newest match)", ami.id, ami.name));
        }
        if conv.created.is_empty() {
            notices.push("aws: everything already exists; nothing was created".into());
        } else {
            notices.push(format!("aws: made {} change(s)", conv.created.len()));
        }
        Ok(Provisioned { inventory: conv.inventory, notices })
    }
}
