//! The AWS end state as data, and the logic that reaches it: what exists
//! ([`State`], read by tag), what should exist ([`Desired`], from the
//! cluster config), and the next wave of [`Step`]s whose prerequisites are
//! in place. The runner repeats describe → plan → apply until nothing is
//! left, so a re-run after a crash simply continues. The cloud sits behind
//! the small [`Cloud`] trait: the SDK in `aws.rs`, an in-memory fake in tests.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use ipnet::Ipv4Net;
use zeroize::Zeroizing;

use crate::model::inventory::{Inventory, InventoryError, Node, NodeRole};
use crate::model::cluster::Cluster;

/// The tag every resource carries: `kubernetes.io/cluster/<name>=owned`.
pub fn cluster_tag(cluster: &str) -> String {
    format!("kubernetes.io/cluster/{cluster}")
}
/// The tag naming a resource's part in the cluster (`vpc`, `subnet`, `master`...).
pub const ROLE_TAG: &str = "kpki:role";

/// A security group rule (ingress).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rule {
    /// `tcp` or `icmp`.
    pub protocol: String,
    pub from: i32,
    pub to: i32,
    pub cidr: String,
}

/// One instance to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSpec {
    /// The `Name` tag: `<cluster>-master-N` / `<cluster>-worker-N`, as the
    /// tutorial tags them (its later steps find instances by these names).
    pub name: String,
    /// The `Name` an earlier kpki gave it (`master-N`): such an instance is
    /// found by this name and re-tagged, never duplicated.
    pub legacy_name: String,
    /// `master` or `worker`.
    pub role: NodeRole,
    pub ip: Ipv4Addr,
    pub user_data: String,
    pub pod_cidr: Option<Ipv4Net>,
}

/// What should exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub cluster: String,
    pub region: String,
    pub vpc_cidr: Ipv4Net,
    pub subnet_cidr: Ipv4Net,
    pub domain_name: String,
    pub rules: Vec<Rule>,
    pub key_name: String,
    pub instance_type: String,
    pub ami_id: Option<String>,
    pub ami_owner: String,
    pub ami_name: String,
    pub lb_name: String,
    pub tg_name: String,
    pub instances: Vec<InstanceSpec>,
    /// The user's `[aws.tags]`, on every resource created.
    pub user_tags: Vec<(String, String)>,
}

impl Desired {
    pub fn from_cluster(c: &Cluster) -> Self {
        let subnet = c.subnet_cidr.to_string();
        let admin = c.admin_cidr.to_string();
        let rule = |p: &str, from: i32, to: i32, cidr: &str| Rule { protocol: p.into(), from, to, cidr: cidr.into() };
        let rules = vec![
            rule("tcp", 2379, 2380, &subnet),
            rule("tcp", 30000, 32767, &subnet),
            rule("tcp", 6443, 6443, &admin),
            rule("tcp", 22, 22, &admin),
            rule("icmp", -1, -1, &admin),
        ];
        let mut instances = Vec::new();
        for (i, m) in c.masters.iter().enumerate() {
            let short = format!("master-{i}");
            instances.push(InstanceSpec {
                user_data: format!("name={short}"),
                name: format!("{}-{short}", c.name),
                legacy_name: short,
                role: NodeRole::Master,
                ip: m.ip,
                pod_cidr: None,
            });
        }
        for (i, w) in c.workers.iter().enumerate() {
            let short = format!("worker-{i}");
            // The tutorial's user data names the node by its short name.
            let user_data = match w.pod_cidr {
                Some(p) => format!("name={short}|pod-cidr={p}"),
                None => format!("name={short}"),
            };
            instances.push(InstanceSpec {
                user_data,
                name: format!("{}-{short}", c.name),
                legacy_name: short,
                role: NodeRole::Worker,
                ip: w.ip,
                pod_cidr: w.pod_cidr,
            });
        }
        Desired {
            cluster: c.name.clone(),
            region: c.region.clone(),
            vpc_cidr: c.vpc_cidr,
            subnet_cidr: c.subnet_cidr,
            domain_name: if c.region == "us-east-1" { "ec2.internal".into() } else { format!("{}.compute.internal", c.region) },
            rules,
            key_name: c.aws.key_name.clone().unwrap_or_else(|| c.name.clone()),
            instance_type: c.aws.instance_type.clone(),
            ami_id: c.aws.ami_id.clone(),
            ami_owner: c.aws.ami_owner.clone(),
            ami_name: c.aws.ami_name.clone(),
            user_tags: c.aws.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            lb_name: c.name.clone(),
            tg_name: format!("{}-targets", c.name),
            instances,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vpc {
    pub id: String,
    pub cidr: String,
    pub dns_support: bool,
    pub dns_hostnames: bool,
    pub dhcp_options_id: Option<String>,
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dhcp {
    pub id: String,
    pub domain_name: Option<String>,
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subnet {
    pub id: String,
    pub cidr: String,
    pub vpc_id: String,
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Igw {
    pub id: String,
    pub attached_vpc: Option<String>,
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTable {
    pub id: String,
    /// Association ids with the subnets they associate.
    pub associations: Vec<(String, String)>,
    pub default_route_igw: Option<String>,
}
/// Defines a state enum over the strings AWS reports, with a catch-all for
/// states this version does not know (shown as reported, never matched).
macro_rules! aws_state {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $name {
            $(#[doc = $text] $variant,)*
            /// A state this version of kpki does not know.
            Other(String),
        }
        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $($text => $name::$variant,)*
                    other => $name::Other(other.to_string()),
                }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(match self {
                    $($name::$variant => $text,)*
                    $name::Other(s) => s,
                })
            }
        }
    };
}

aws_state!(
    /// An EC2 instance's state name.
    InstanceState { Pending = "pending", Running = "running", ShuttingDown = "shutting-down", Terminated = "terminated", Stopping = "stopping", Stopped = "stopped" }
);
aws_state!(
    /// A load balancer's state code.
    LbState { Provisioning = "provisioning", Active = "active", ActiveImpaired = "active_impaired", Failed = "failed" }
);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroup {
    pub id: String,
    pub rules: Vec<Rule>,
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    pub name: String,
    pub state: InstanceState,
    pub instance_type: String,
    pub private_ip: Option<Ipv4Addr>,
    pub public_ip: Option<Ipv4Addr>,
    pub private_dns: Option<String>,
    pub source_dest_check: bool,
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lb {
    pub arn: String,
    pub dns_name: String,
    pub state: LbState,
    pub scheme: String,
    pub lb_type: String,
    /// Whether it carries the cluster tag (a same-named LB of someone else's is not ours).
    pub owned: bool,
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tg {
    pub arn: String,
    pub port: i32,
    pub protocol: String,
    pub target_type: String,
    pub targets: Vec<String>,
    pub owned: bool,
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub arn: String,
    pub port: i32,
    pub target_group: Option<String>,
}

/// Everything tagged for the cluster (lists: duplicates are reported).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    pub vpcs: Vec<Vpc>,
    pub dhcps: Vec<Dhcp>,
    pub subnets: Vec<Subnet>,
    pub igws: Vec<Igw>,
    pub route_tables: Vec<RouteTable>,
    pub security_groups: Vec<SecurityGroup>,
    pub key_pair: bool,
    /// Whether that key pair carries the cluster's ownership tag: only then
    /// is it kpki's to delete (a user's own key pair named in `key_name` is used, never deleted).
    pub key_pair_owned: bool,
    pub instances: Vec<Instance>,
    pub lb: Option<Lb>,
    pub tg: Option<Tg>,
    pub listeners: Vec<Listener>,
}

/// An image found by the AMI look-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub id: String,
    pub name: String,
    pub creation_date: String,
}

/// One change to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    CreateVpc { cidr: String },
    EnableVpcDns { vpc: String },
    CreateDhcp { domain_name: String },
    AssociateDhcp { vpc: String, dhcp: String },
    CreateSubnet { vpc: String, cidr: String },
    CreateIgw,
    AttachIgw { igw: String, vpc: String },
    CreateRouteTable { vpc: String },
    AssociateRouteTable { route_table: String, subnet: String },
    CreateDefaultRoute { route_table: String, igw: String },
    CreateSecurityGroup { vpc: String },
    AuthorizeIngress { group: String, rules: Vec<Rule> },
    CreateKeyPair { name: String },
    RunInstance { spec: InstanceSpec, subnet: String, security_group: String, key_name: String, ami: String, instance_type: String },
    DisableSourceDestCheck { instance: String, name: String },
    /// Re-tags an instance an earlier kpki named `master-N` with the tutorial's `Name`.
    RenameInstance { instance: String, from: String, to: String },
    CreateLb { subnet: String },
    CreateTg { vpc: String },
    RegisterTargets { tg: String, ips: Vec<String> },
    CreateListener { lb: String, tg: String },
}

impl Step {
    /// A short description for progress and dry-run output.
    pub fn describe(&self) -> String {
        match self {
            Step::CreateVpc { cidr } => format!("create VPC {cidr}"),
            Step::EnableVpcDns { vpc } => format!("enable DNS support and host names on {vpc}"),
            Step::CreateDhcp { domain_name } => format!("create DHCP options ({domain_name}, AmazonProvidedDNS)"),
            Step::AssociateDhcp { vpc, dhcp } => format!("associate DHCP options {dhcp} with {vpc}"),
            Step::CreateSubnet { cidr, .. } => format!("create subnet {cidr}"),
            Step::CreateIgw => "create internet gateway".into(),
            Step::AttachIgw { igw, vpc } => format!("attach {igw} to {vpc}"),
            Step::CreateRouteTable { .. } => "create route table".into(),
            Step::AssociateRouteTable { route_table, subnet } => format!("associate {route_table} with {subnet}"),
            Step::CreateDefaultRoute { route_table, igw } => format!("route 0.0.0.0/0 in {route_table} to {igw}"),
            Step::CreateSecurityGroup { .. } => "create security group".into(),
            Step::AuthorizeIngress { group, rules } => format!("allow {} rule(s) in {group}", rules.len()),
            Step::CreateKeyPair { name } => format!("create key pair {name}"),
            Step::RunInstance { spec, instance_type, .. } => format!("run {} ({instance_type}) at {}", spec.name, spec.ip),
            Step::DisableSourceDestCheck { name, .. } => format!("disable source/dest check on {name}"),
            Step::RenameInstance { instance, from, to } => format!("re-tag instance {instance} Name={to} (was {from})"),
            Step::CreateLb { .. } => "create network load balancer".into(),
            Step::CreateTg { .. } => "create target group (TCP 6443, ip)".into(),
            Step::RegisterTargets { ips, .. } => format!("register targets {}", ips.join(", ")),
            Step::CreateListener { .. } => "create listener TCP 6443".into(),
        }
    }
}

/// The result of a step: the new resource id, and the key pair's private key when one is created.
#[derive(Debug, Default)]
pub struct Applied {
    pub id: String,
    pub secret: Option<Zeroizing<String>>,
}

/// An error from the cloud, with the service's code.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct CloudError {
    pub code: String,
    pub message: String,
}

impl CloudError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        CloudError { code: code.into(), message: message.into() }
    }
}

/// The operations kpki needs from a cloud.
#[allow(async_fn_in_trait)]
pub trait Cloud {
    /// Everything tagged for the cluster, plus the named LB, target group and key pair.
    async fn describe(&self, d: &Desired) -> Result<State, CloudError>;
    /// Images of `owner` whose name matches `name` (wildcards allowed), x86_64, EBS.
    async fn find_images(&self, owner: &str, name: &str) -> Result<Vec<Image>, CloudError>;
    /// Makes one change, tagging what it creates.
    async fn apply(&self, d: &Desired, step: &Step) -> Result<Applied, CloudError>;
    /// Deletes one resource (see [`Deletion`]).
    async fn delete(&self, d: &Desired, what: &Deletion) -> Result<(), CloudError>;
}

/// Differences between what exists and the config; any one stops the run.
pub fn drift(d: &Desired, s: &State) -> Vec<String> {
    let mut out = Vec::new();
    let dup = |kind: &str, ids: Vec<&String>| {
        if ids.len() > 1 {
            Some(format!("{} {kind}s are tagged for {}: {}; delete the extra ones", ids.len(), d.cluster, join(&ids)))
        } else {
            None
        }
    };
    out.extend(dup("VPC", s.vpcs.iter().map(|v| &v.id).collect()));
    out.extend(dup("subnet", s.subnets.iter().map(|v| &v.id).collect()));
    out.extend(dup("internet gateway", s.igws.iter().map(|v| &v.id).collect()));
    out.extend(dup("route table", s.route_tables.iter().map(|v| &v.id).collect()));
    out.extend(dup("security group", s.security_groups.iter().map(|v| &v.id).collect()));
    out.extend(dup("DHCP options set", s.dhcps.iter().map(|v| &v.id).collect()));
    if let Some(v) = s.vpcs.first() {
        if v.cidr != d.vpc_cidr.to_string() {
            out.push(format!("VPC {} ({}) has CIDR {} but the config says {}", d.cluster, v.id, v.cidr, d.vpc_cidr));
        }
    }
    if let Some(sub) = s.subnets.first() {
        if sub.cidr != d.subnet_cidr.to_string() {
            out.push(format!("subnet {} ({}) has CIDR {} but the config says {}", d.cluster, sub.id, sub.cidr, d.subnet_cidr));
        }
    }
    for spec in &d.instances {
        let found: Vec<&Instance> = live(s).filter(|i| spec.matches(i)).collect();
        if found.len() > 1 {
            out.push(format!("{} instances are named {} (or {}): {}", found.len(), spec.name, spec.legacy_name, found.iter().map(|i| i.id.as_str()).collect::<Vec<_>>().join(", ")));
        }
        if let Some(i) = found.first() {
            if i.private_ip.is_some() && i.private_ip != Some(spec.ip) {
                out.push(format!("instance {} ({}) has private IP {} but the config says {}", spec.name, i.id, opt(i.private_ip), spec.ip));
            }
            if i.instance_type != d.instance_type {
                out.push(format!("instance {} ({}) is {} but the config says {}", spec.name, i.id, i.instance_type, d.instance_type));
            }
        }
    }
    if let Some(lb) = &s.lb {
        if !lb.owned {
            out.push(format!("a load balancer named {} exists without the tag {}=owned; kpki will not adopt it", d.lb_name, cluster_tag(&d.cluster)));
        } else if lb.lb_type != "network" || lb.scheme != "internet-facing" {
            out.push(format!("load balancer {} is {} {} but the config needs an internet-facing network load balancer", d.lb_name, lb.scheme, lb.lb_type));
        }
    }
    if let Some(tg) = &s.tg {
        if !tg.owned {
            out.push(format!("a target group named {} exists without the tag {}=owned; kpki will not adopt it", d.tg_name, cluster_tag(&d.cluster)));
        } else if tg.port != 6443 || tg.protocol != "TCP" || tg.target_type != "ip" {
            out.push(format!("target group {} is {} {} type {} but the config needs TCP 6443 type ip", d.tg_name, tg.protocol, tg.port, tg.target_type));
        }
    }
    out
}

fn opt(ip: Option<Ipv4Addr>) -> String {
    ip.map(|i| i.to_string()).unwrap_or_else(|| "none".into())
}

fn join(ids: &[&String]) -> String {
    ids.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

/// The next wave: every step whose prerequisites exist now. `ami` is the
/// image to run instances from (looked up only when an instance is missing).
pub fn next_steps(d: &Desired, s: &State, ami: Option<&str>) -> Vec<Step> {
    let mut steps = Vec::new();
    let vpc = s.vpcs.first();
    let dhcp = s.dhcps.first();
    let subnet = s.subnets.first();
    let igw = s.igws.first();
    let rt = s.route_tables.first();
    let group = s.security_groups.first();
    match vpc {
        None => steps.push(Step::CreateVpc { cidr: d.vpc_cidr.to_string() }),
        Some(v) if !(v.dns_support && v.dns_hostnames) => steps.push(Step::EnableVpcDns { vpc: v.id.clone() }),
        _ => {}
    }
    match dhcp {
        None => steps.push(Step::CreateDhcp { domain_name: d.domain_name.clone() }),
        Some(o) => {
            if let Some(v) = vpc {
                if v.dhcp_options_id.as_deref() != Some(o.id.as_str()) {
                    steps.push(Step::AssociateDhcp { vpc: v.id.clone(), dhcp: o.id.clone() });
                }
            }
        }
    }
    if igw.is_none() {
        steps.push(Step::CreateIgw);
    }
    if !s.key_pair {
        steps.push(Step::CreateKeyPair { name: d.key_name.clone() });
    }
    let Some(v) = vpc else { return steps };
    if subnet.is_none() {
        steps.push(Step::CreateSubnet { vpc: v.id.clone(), cidr: d.subnet_cidr.to_string() });
    }
    if let Some(g) = igw {
        if g.attached_vpc.as_deref() != Some(v.id.as_str()) {
            steps.push(Step::AttachIgw { igw: g.id.clone(), vpc: v.id.clone() });
        }
    }
    match rt {
        None => steps.push(Step::CreateRouteTable { vpc: v.id.clone() }),
        Some(r) => {
            if let Some(sub) = subnet {
                if !r.associations.iter().any(|(_, sid)| sid == &sub.id) {
                    steps.push(Step::AssociateRouteTable { route_table: r.id.clone(), subnet: sub.id.clone() });
                }
            }
            if let Some(g) = igw {
                let attached = g.attached_vpc.as_deref() == Some(v.id.as_str());
                if attached && r.default_route_igw.as_deref() != Some(g.id.as_str()) {
                    steps.push(Step::CreateDefaultRoute { route_table: r.id.clone(), igw: g.id.clone() });
                }
            }
        }
    }
    match group {
        None => steps.push(Step::CreateSecurityGroup { vpc: v.id.clone() }),
        Some(g) => {
            let have: BTreeSet<&Rule> = g.rules.iter().collect();
            let missing: Vec<Rule> = d.rules.iter().filter(|r| !have.contains(r)).cloned().collect();
            if !missing.is_empty() {
                steps.push(Step::AuthorizeIngress { group: g.id.clone(), rules: missing });
            }
        }
    }
    if s.tg.is_none() {
        steps.push(Step::CreateTg { vpc: v.id.clone() });
    }
    let Some(sub) = subnet else { return steps };
    if s.lb.is_none() {
        steps.push(Step::CreateLb { subnet: sub.id.clone() });
    }
    if let (Some(lb), Some(tg)) = (&s.lb, &s.tg) {
        if !s.listeners.iter().any(|l| l.port == 6443) {
            steps.push(Step::CreateListener { lb: lb.arn.clone(), tg: tg.arn.clone() });
        }
    }
    if let Some(tg) = &s.tg {
        let missing: Vec<String> = d
            .instances
            .iter()
            .filter(|i| i.role == NodeRole::Master)
            .map(|i| i.ip.to_string())
            .filter(|ip| !tg.targets.contains(ip))
            .collect();
        if !missing.is_empty() {
            steps.push(Step::RegisterTargets { tg: tg.arn.clone(), ips: missing });
        }
    }
    if let (Some(g), true) = (group, s.key_pair) {
        for spec in &d.instances {
            match find_instance(s, spec) {
                None => {
                    if let Some(ami) = ami {
                        steps.push(Step::RunInstance {
                            spec: spec.clone(),
                            subnet: sub.id.clone(),
                            security_group: g.id.clone(),
                            key_name: d.key_name.clone(),
                            ami: ami.to_string(),
                            instance_type: d.instance_type.clone(),
                        });
                    }
                }
                Some(i) => {
                    if i.name != spec.name {
                        steps.push(Step::RenameInstance { instance: i.id.clone(), from: i.name.clone(), to: spec.name.clone() });
                    }
                    if i.source_dest_check {
                        steps.push(Step::DisableSourceDestCheck { instance: i.id.clone(), name: spec.name.clone() });
                    }
                }
            }
        }
    }
    steps
}

/// Instances that count: one shutting down is on its way out.
fn live(s: &State) -> impl Iterator<Item = &Instance> {
    s.instances.iter().filter(|i| !matches!(i.state, InstanceState::ShuttingDown | InstanceState::Terminated))
}

impl InstanceSpec {
    /// Whether `i` is this instance: tagged with its name, or with the
    /// name an earlier kpki gave it.
    pub fn matches(&self, i: &Instance) -> bool {
        i.name == self.name || i.name == self.legacy_name
    }
}

/// The live instance for `spec`: the one with its name, else one an
/// earlier kpki tagged with the short name (to be re-tagged).
fn find_instance<'a>(s: &'a State, spec: &InstanceSpec) -> Option<&'a Instance> {
    live(s).find(|i| i.name == spec.name).or_else(|| live(s).find(|i| i.name == spec.legacy_name))
}

/// Whether any instance is missing (so an AMI is needed).
pub fn needs_ami(d: &Desired, s: &State) -> bool {
    d.instances.iter().any(|spec| find_instance(s, spec).is_none())
}

/// Picks the newest image by creation date (the tutorial takes the last by name).
pub fn newest_image(mut images: Vec<Image>) -> Option<Image> {
    images.sort_by(|a, b| a.creation_date.cmp(&b.creation_date).then(a.name.cmp(&b.name)));
    images.pop()
}

/// What is still to come before the state is ready: instances not yet
/// running, the load balancer not yet active.
pub fn not_ready(s: &State) -> Vec<String> {
    let mut out: Vec<String> = live(s).filter(|i| i.state != InstanceState::Running).map(|i| format!("{} is {}", i.name, i.state)).collect();
    if let Some(lb) = &s.lb {
        if lb.state != LbState::Active {
            out.push(format!("load balancer is {}", lb.state));
        }
    }
    out
}

/// The inventory from a complete state.
pub fn inventory(d: &Desired, s: &State) -> Result<Inventory, ReconcileError> {
    let incomplete = ReconcileError::Incomplete;
    let lb = s.lb.as_ref().ok_or_else(|| incomplete("the load balancer does not exist".into()))?;
    let mut masters = Vec::new();
    let mut workers = Vec::new();
    for spec in &d.instances {
        let i = find_instance(s, spec).ok_or_else(|| incomplete(format!("instance {} does not exist", spec.name)))?;
        let private_ip = i.private_ip.ok_or_else(|| incomplete(format!("instance {} ({}) has no private IP yet", spec.name, i.id)))?;
        // The node name is what the kubelet registers as: the first label of
        // the instance's private DNS name, never guessed.
        let name = i
            .private_dns
            .as_deref()
            .and_then(|n| n.split('.').next())
            .filter(|n| !n.is_empty())
            .ok_or_else(|| incomplete(format!("instance {} ({}) has no private DNS name yet", spec.name, i.id)))?
            .to_string();
        let node = Node { name, private_ip, public_ip: i.public_ip, pod_cidr: spec.pod_cidr };
        if spec.role == NodeRole::Master {
            masters.push(node);
        } else {
            workers.push(node);
        }
    }
    Ok(Inventory::checked(&d.cluster, &lb.dns_name, masters, workers)?)
}

/// One resource to delete, in the order `destroy` deletes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deletion {
    TerminateInstances { ids: Vec<String> },
    Listener { arn: String },
    Lb { arn: String },
    Tg { arn: String },
    SecurityGroup { id: String },
    RouteTable { id: String, associations: Vec<String> },
    Igw { id: String, vpc: Option<String> },
    Subnet { id: String },
    Vpc { id: String },
    Dhcp { id: String },
    KeyPair { name: String },
}

impl Deletion {
    pub fn describe(&self) -> String {
        match self {
            Deletion::TerminateInstances { ids } => format!("terminate instances {}", ids.join(", ")),
            Deletion::Listener { arn } => format!("delete listener {}", short(arn)),
            Deletion::Lb { arn } => format!("delete load balancer {}", short(arn)),
            Deletion::Tg { arn } => format!("delete target group {}", short(arn)),
            Deletion::SecurityGroup { id } => format!("delete security group {id}"),
            Deletion::RouteTable { id, .. } => format!("delete route table {id}"),
            Deletion::Igw { id, .. } => format!("delete internet gateway {id}"),
            Deletion::Subnet { id } => format!("delete subnet {id}"),
            Deletion::Vpc { id } => format!("delete VPC {id}"),
            Deletion::Dhcp { id } => format!("delete DHCP options {id}"),
            Deletion::KeyPair { name } => format!("delete key pair {name}"),
        }
    }
}

fn short(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

/// Everything tagged for the cluster, in dependency order.
pub fn deletions(s: &State, key_name: &str) -> Vec<Deletion> {
    let mut out = Vec::new();
    let ids: Vec<String> = live(s).map(|i| i.id.clone()).collect();
    if !ids.is_empty() {
        out.push(Deletion::TerminateInstances { ids });
    }
    out.extend(s.listeners.iter().map(|l| Deletion::Listener { arn: l.arn.clone() }));
    if let Some(lb) = s.lb.as_ref().filter(|l| l.owned) {
        out.push(Deletion::Lb { arn: lb.arn.clone() });
    }
    if let Some(tg) = s.tg.as_ref().filter(|t| t.owned) {
        out.push(Deletion::Tg { arn: tg.arn.clone() });
    }
    out.extend(s.security_groups.iter().map(|g| Deletion::SecurityGroup { id: g.id.clone() }));
    out.extend(s.route_tables.iter().map(|r| Deletion::RouteTable { id: r.id.clone(), associations: r.associations.iter().map(|(a, _)| a.clone()).collect() }));
    out.extend(s.igws.iter().map(|g| Deletion::Igw { id: g.id.clone(), vpc: g.attached_vpc.clone() }));
    out.extend(s.subnets.iter().map(|x| Deletion::Subnet { id: x.id.clone() }));
    out.extend(s.vpcs.iter().map(|v| Deletion::Vpc { id: v.id.clone() }));
    out.extend(s.dhcps.iter().map(|o| Deletion::Dhcp { id: o.id.clone() }));
    if s.key_pair && s.key_pair_owned {
        out.push(Deletion::KeyPair { name: key_name.to_string() });
    }
    out
}

/// Where the runner reports: progress lines (shown on a terminal only) and
/// the key pair's private key, which AWS returns once and must be saved at once.
pub trait Progress {
    fn line(&self, msg: &str);
    /// A detail (each look while waiting): shown with `--verbose` only.
    fn detail(&self, _msg: &str) {}
    fn save_key(&self, key_name: &str, material: &str) -> Result<(), Box<dyn std::error::Error + Send + Sync>>;
}

/// Why the infrastructure could not be reached or read.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// Describing the current state failed.
    #[error("reading the current state failed: {0}")]
    Describe(String),
    /// Resources exist that differ from the config in ways kpki does not change.
    #[error("{}", .0.join("; "))]
    Drift(Vec<String>),
    /// The AMI look-up failed.
    #[error("looking up the AMI failed: {0}")]
    AmiLookup(String),
    /// No AMI matches the config.
    #[error("no AMI named {name:?} from owner {owner} in {region}; set aws.ami_id or aws.ami_name in the config")]
    NoAmi {
        /// The name pattern.
        name: String,
        /// The owner account.
        owner: String,
        /// The region searched.
        region: String,
    },
    /// A step failed (the cloud's error, explained).
    #[error("{step} failed: {error}")]
    Step {
        /// The step, described.
        step: String,
        /// The cloud's error, explained.
        error: String,
    },
    /// The key pair's private key, returned once, could not be saved.
    #[error("saving the private key of key pair {name} failed: {error}")]
    SaveKey {
        /// The key pair.
        name: String,
        /// Why.
        error: String,
    },
    /// The loop did not settle.
    #[error("the infrastructure did not converge after 40 rounds")]
    NotConverged,
    /// The load balancer failed.
    #[error("the load balancer is in state failed")]
    LoadBalancerFailed,
    /// Resources did not become ready in time.
    #[error("gave up after {secs}s: {}", waiting.join(", "))]
    Timeout {
        /// How long kpki waited.
        secs: u64,
        /// What was not ready.
        waiting: Vec<String>,
    },
    /// The state lacks what the inventory needs (an instance, an address).
    #[error("{0}")]
    Incomplete(String),
    /// The addresses found cannot go into certificates.
    #[error(transparent)]
    Inventory(#[from] InventoryError),
}

/// A failure while converging, with what was created before it, so the
/// user knows a re-run continues.
#[derive(Debug, thiserror::Error)]
#[error("{cause}{}", if created.is_empty() { " (nothing was created)".to_string() } else { format!("; created before the failure: {} (run again to continue)", created.join(", ")) })]
pub struct ConvergeError {
    /// What failed.
    pub cause: ReconcileError,
    /// What was created before.
    pub created: Vec<String>,
}

fn with_created(created: &[String]) -> impl Fn(ReconcileError) -> ConvergeError {
    let created = created.to_vec();
    move |cause| ConvergeError { cause, created: created.clone() }
}

/// What the runner reports back.
#[derive(Debug)]
pub struct Converged {
    pub inventory: Inventory,
    pub created: Vec<String>,
    pub ami: Option<Image>,
}

/// How long to wait for instances and the load balancer.
pub const READY_TIMEOUT: Duration = Duration::from_secs(900);

/// Runs describe → plan → apply until nothing is left, then waits until the
/// instances run and the load balancer is active, and returns the inventory.
pub async fn converge<C: Cloud>(cloud: &C, d: &Desired, progress: &dyn Progress, poll: Duration) -> Result<Converged, ConvergeError> {
    let mut created: Vec<String> = Vec::new();
    let mut ami: Option<Image> = None;
    for _wave in 0..40 {
        let state = cloud.describe(d).await.map_err(|e| with_created(&created)(ReconcileError::Describe(explain(&e))))?;
        let drifted = drift(d, &state);
        if !drifted.is_empty() {
            return Err(with_created(&created)(ReconcileError::Drift(drifted)));
        }
        if ami.is_none() && needs_ami(d, &state) {
            ami = Some(resolve_ami(cloud, d).await.map_err(with_created(&created))?);
        }
        let steps = next_steps(d, &state, ami.as_ref().map(|a| a.id.as_str()));
        if steps.is_empty() {
            let waiting = not_ready(&state);
            if waiting.is_empty() {
                let inv = inventory(d, &state).map_err(with_created(&created))?;
                return Ok(Converged { inventory: inv, created, ami });
            }
            return wait_ready(cloud, d, progress, poll, created, ami).await;
        }
        // Independent steps of a wave run concurrently.
        let results = futures_util::future::join_all(steps.iter().map(|s| cloud.apply(d, s))).await;
        let mut first_err = None;
        for (step, r) in steps.iter().zip(results) {
            match r {
                Ok(applied) => {
                    let what = if applied.id.is_empty() { step.describe() } else { format!("{} ({})", step.describe(), applied.id) };
                    progress.line(&what);
                    created.push(what);
                    if let (Some(secret), Step::CreateKeyPair { name }) = (&applied.secret, step) {
                        if let Err(e) = progress.save_key(name, secret) {
                            first_err.get_or_insert(ReconcileError::SaveKey { name: name.clone(), error: e.to_string() });
                        }
                    }
                }
                Err(e) => {
                    if first_err.is_none() {
                        first_err = Some(ReconcileError::Step { step: step.describe(), error: explain(&e) });
                    }
                }
            }
        }
        if let Some(e) = first_err {
            return Err(with_created(&created)(e));
        }
    }
    Err(with_created(&created)(ReconcileError::NotConverged))
}

async fn wait_ready<C: Cloud>(
    cloud: &C,
    d: &Desired,
    progress: &dyn Progress,
    poll: Duration,
    created: Vec<String>,
    ami: Option<Image>,
) -> Result<Converged, ConvergeError> {
    let start = std::time::Instant::now();
    let mut last = String::new();
    let mut last_said = start;
    let mut delay = poll;
    loop {
        let state = cloud.describe(d).await.map_err(|e| with_created(&created)(ReconcileError::Describe(explain(&e))))?;
        let waiting = not_ready(&state);
        if waiting.is_empty() {
            let inv = inventory(d, &state).map_err(with_created(&created))?;
            return Ok(Converged { inventory: inv, created, ami });
        }
        if let Some(lb) = &state.lb {
            if lb.state == LbState::Failed {
                return Err(with_created(&created)(ReconcileError::LoadBalancerFailed));
            }
        }
        // A line when what is awaited changes, and at least every 30 s
        // while it does not: never silent for minutes.
        let now = format!("waiting: {}", waiting.join(", "));
        if now != last || last_said.elapsed() >= Duration::from_secs(30) {
            progress.line(&format!("{now} ({} s)", start.elapsed().as_secs()));
            last = now;
            last_said = std::time::Instant::now();
        } else {
            progress.detail(&format!("{now} ({} s)", start.elapsed().as_secs()));
        }
        if start.elapsed() > READY_TIMEOUT {
            return Err(with_created(&created)(ReconcileError::Timeout { secs: READY_TIMEOUT.as_secs(), waiting }));
        }
        tokio::time::sleep(delay).await;
        // Quick first looks (an emulator is ready at once), then back off to 5 s.
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

async fn resolve_ami<C: Cloud>(cloud: &C, d: &Desired) -> Result<Image, ReconcileError> {
    if let Some(id) = &d.ami_id {
        return Ok(Image { id: id.clone(), name: "(ami_id from the config)".into(), creation_date: String::new() });
    }
    let images = cloud.find_images(&d.ami_owner, &d.ami_name).await.map_err(|e| ReconcileError::AmiLookup(explain(&e)))?;
    newest_image(images).ok_or_else(|| ReconcileError::NoAmi { name: d.ami_name.clone(), owner: d.ami_owner.clone(), region: d.region.clone() })
}

/// One sentence for a cloud error, with advice for the common ones.
pub fn explain(e: &CloudError) -> String {
    let advice = match e.code.as_str() {
        "VpcLimitExceeded" | "InstanceLimitExceeded" | "AddressLimitExceeded" | "RulesPerSecurityGroupLimitExceeded" | "TooManyLoadBalancers" | "VcpuLimitExceeded" => {
            " (an account quota; raise it in Service Quotas or delete unused resources)"
        }
        "InvalidSubnet.Conflict" | "InvalidVpc.Range" | "InvalidSubnet.Range" => " (the CIDR clashes with an existing one; change vpc_cidr/subnet_cidr)",
        "InvalidIPAddress.InUse" => " (another instance holds that private IP)",
        "AuthFailure" | "UnauthorizedOperation" | "InvalidClientTokenId" | "SignatureDoesNotMatch" => " (check your AWS credentials and permissions)",
        "NoCredentials" => "",
        _ => "",
    };
    if e.code.is_empty() || e.message.contains(&e.code) {
        format!("{}{advice}", e.message)
    } else {
        format!("{}: {}{advice}", e.code, e.message)
    }
}

/// One resource `destroy` deletes, as the confirmation lists it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Resource {
    /// Its type, e.g. `instance`, `vpc`.
    pub kind: &'static str,
    /// Its id (or ARN's last part, or the key pair's name).
    pub id: String,
    /// Its Name tag (the cluster's name for network resources), or the name in its ARN.
    pub name: String,
}

/// Every resource tagged for the cluster, in the order `destroy` deletes them.
pub fn resources(s: &State, d: &Desired) -> Vec<Resource> {
    let r = |kind: &'static str, id: &str, name: &str| Resource { kind, id: id.to_string(), name: name.to_string() };
    let named = |arn: &str| arn.rsplit(':').next().and_then(|x| x.split('/').nth(1)).unwrap_or(arn).to_string();
    let mut out: Vec<Resource> = live(s).map(|i| r("instance", &i.id, &i.name)).collect();
    out.extend(s.listeners.iter().map(|l| r("listener", short(&l.arn), &format!("port {}", l.port))));
    if let Some(lb) = s.lb.as_ref().filter(|l| l.owned) {
        out.push(r("load-balancer", short(&lb.arn), &named(&lb.arn)));
    }
    if let Some(tg) = s.tg.as_ref().filter(|t| t.owned) {
        out.push(r("target-group", short(&tg.arn), &named(&tg.arn)));
    }
    out.extend(s.security_groups.iter().map(|g| r("security-group", &g.id, &d.cluster)));
    out.extend(s.route_tables.iter().map(|t| r("route-table", &t.id, &d.cluster)));
    out.extend(s.igws.iter().map(|g| r("internet-gateway", &g.id, &d.cluster)));
    out.extend(s.subnets.iter().map(|x| r("subnet", &x.id, &d.cluster)));
    out.extend(s.vpcs.iter().map(|v| r("vpc", &v.id, &d.cluster)));
    out.extend(s.dhcps.iter().map(|o| r("dhcp-options", &o.id, &d.cluster)));
    if s.key_pair && s.key_pair_owned {
        out.push(r("key-pair", &d.key_name, &d.key_name));
    }
    out
}

/// What `destroy` would delete now (nothing is changed).
pub async fn to_destroy<C: Cloud>(cloud: &C, d: &Desired) -> Result<Vec<Resource>, ReconcileError> {
    let state = cloud.describe(d).await.map_err(|e| ReconcileError::Describe(explain(&e)))?;
    Ok(resources(&state, d))
}

/// Deletes everything tagged for the cluster in dependency order, retrying
/// dependency violations with backoff. Returns what was deleted and what was
/// not. With `confirmed`, the resources the user confirmed: when what is
/// tagged now differs (something was created since), nothing is deleted.
pub async fn destroy<C: Cloud>(
    cloud: &C,
    d: &Desired,
    progress: &dyn Progress,
    poll: Duration,
    confirmed: Option<&[Resource]>,
) -> Result<(Vec<String>, Vec<String>), ReconcileError> {
    let state = cloud.describe(d).await.map_err(|e| ReconcileError::Describe(explain(&e)))?;
    if let Some(listed) = confirmed {
        let mut now = resources(&state, d);
        let mut listed = listed.to_vec();
        now.sort();
        listed.sort();
        let new: Vec<String> = now.iter().filter(|r| !listed.contains(r)).map(|r| format!("{} {}", r.kind, r.id)).collect();
        if !new.is_empty() {
            return Err(ReconcileError::Drift(vec![format!(
                "resources appeared after the list was shown ({}); nothing was deleted, run destroy again to see the new list",
                new.join(", ")
            )]));
        }
    }
    let mut deleted = Vec::new();
    let mut failed = Vec::new();
    for del in deletions(&state, &d.key_name) {
        let mut attempt = 0u32;
        loop {
            match cloud.delete(d, &del).await {
                Ok(()) => {
                    progress.line(&del.describe());
                    deleted.push(del.describe());
                    if let Deletion::TerminateInstances { .. } = del {
                        wait_terminated(cloud, d, progress, poll).await;
                    }
                    break;
                }
                // Already gone (deleted with its parent, or by a previous run).
                Err(e) if e.code.contains("NotFound") => {
                    deleted.push(del.describe());
                    break;
                }
                Err(e) if (e.code == "DependencyViolation" || e.code == "ResourceInUse") && attempt < 12 => {
                    attempt += 1;
                    tokio::time::sleep(poll * attempt).await;
                }
                Err(e) => {
                    failed.push(format!("{}: {}", del.describe(), explain(&e)));
                    break;
                }
            }
        }
    }
    Ok((deleted, failed))
}

async fn wait_terminated<C: Cloud>(cloud: &C, d: &Desired, progress: &dyn Progress, poll: Duration) {
    let start = std::time::Instant::now();
    while start.elapsed() < READY_TIMEOUT {
        match cloud.describe(d).await {
            Ok(s) if s.instances.is_empty() => return,
            Ok(s) => progress.line(&format!("waiting for {} instance(s) to terminate", s.instances.len())),
            Err(_) => {}
        }
        tokio::time::sleep(poll).await;
    }
}
