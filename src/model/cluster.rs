//! The cluster description: names, networks, nodes, subject fields, key
//! algorithm and validity. An embedded default holds the seed's values; a
//! TOML file can change any of them. Validation names the field at fault.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::Ipv4Net;
use serde::Deserialize;
use time::Duration;

use crate::pki::duration;
use crate::pki::json::shown;
use crate::pki::key::KeyAlgo;
use crate::pki::request::NameError;

/// The embedded default: the seed cluster.
pub const DEFAULT_TOML: &str = include_str!("../../ca-config/cluster.toml");

/// Why a cluster config was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClusterError {
    /// The TOML does not parse (with the line).
    #[error("{0}")]
    Toml(String),
    /// A value is not valid.
    #[error("{field}: {message}")]
    Field {
        /// The field at fault (`pki.validity`, `workers[2].ip`).
        field: String,
        /// What is wrong.
        message: String,
    },
}

fn field(field: impl Into<String>, message: impl Into<String>) -> ClusterError {
    ClusterError::Field { field: field.into(), message: message.into() }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    name: String,
    region: String,
    api_address: Option<String>,
    vpc_cidr: String,
    subnet_cidr: String,
    service_cidr: String,
    #[serde(default = "default_domain")]
    cluster_domain: String,
    admin_cidr: String,
    pki: RawPki,
    #[serde(default)]
    subject: RawSubject,
    masters: Vec<RawNode>,
    workers: Vec<RawNode>,
    #[serde(default)]
    aws: AwsConfig,
}

/// The `[aws]` section: what the aws provider creates besides the network.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsConfig {
    /// The EC2 instance type.
    pub instance_type: String,
    /// Skips the AMI look-up when set.
    pub ami_id: Option<String>,
    /// The AMI's owner account.
    pub ami_owner: String,
    /// Image name; wildcards allowed. The newest match is used.
    pub ami_name: String,
    /// The EC2 key pair; default: the cluster name.
    pub key_name: Option<String>,
    /// `[aws.tags]`: the user's tags on every resource kpki creates, besides
    /// its own (`Name`, the cluster's ownership tag, `kpki:role`).
    pub tags: std::collections::BTreeMap<String, String>,
}

impl Default for AwsConfig {
    fn default() -> Self {
        AwsConfig {
            instance_type: "t2.micro".into(),
            ami_id: None,
            ami_owner: "099720109477".into(),
            ami_name: "ubuntu-pro-server/images/hvm-ssd/ubuntu-xenial-16.04-amd64-pro-server-20221202".into(),
            key_name: None,
            tags: std::collections::BTreeMap::new(),
        }
    }
}

fn default_domain() -> String {
    "cluster.local".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPki {
    key_algo: String,
    validity: String,
    ca_validity: String,
    #[serde(default)]
    kubelet_public_ip: bool,
    #[serde(default)]
    etcd_ca: bool,
    #[serde(default)]
    front_proxy_ca: bool,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSubject {
    #[serde(rename = "C")]
    c: Option<String>,
    #[serde(rename = "ST")]
    st: Option<String>,
    #[serde(rename = "L")]
    l: Option<String>,
    #[serde(rename = "OU")]
    ou: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    ip: String,
    name: Option<String>,
    pod_cidr: Option<String>,
}

/// A node as configured (the static provider's inventory source).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    /// Its private IP.
    pub ip: Ipv4Addr,
    /// The node name; for the static provider it defaults to AWS's naming of the IP.
    pub name: Option<String>,
    /// Its pod network.
    pub pod_cidr: Option<Ipv4Net>,
}

/// The subject fields shared by every certificate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubjectDefaults {
    /// Country.
    pub c: Option<String>,
    /// State or province.
    pub st: Option<String>,
    /// Locality.
    pub l: Option<String>,
    /// Organizational unit.
    pub ou: Option<String>,
}

/// A validated cluster config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// The cluster's name (AWS tags, kubeconfigs).
    pub name: String,
    /// The AWS region.
    pub region: String,
    /// What clients dial for the API; unset: the first master's IP.
    pub api_address: Option<String>,
    /// The VPC's network.
    pub vpc_cidr: Ipv4Net,
    /// The subnet's network.
    pub subnet_cidr: Ipv4Net,
    /// The service network (its first IP is the API's ClusterIP).
    pub service_cidr: Ipv4Net,
    /// The cluster DNS domain.
    pub cluster_domain: String,
    /// Who may reach SSH and the API.
    pub admin_cidr: Ipv4Net,
    /// The key algorithm of every key.
    pub key_algo: KeyAlgo,
    /// Validity of leaf certificates.
    pub validity: Duration,
    /// Validity of the CA.
    pub ca_validity: Duration,
    /// Put each worker's public IP in its kubelet certificate.
    pub kubelet_public_ip: bool,
    /// A separate CA for etcd, with etcd's server, peer and the API server's
    /// etcd client certificates (kubeadm's `etcd/` PKI).
    pub etcd_ca: bool,
    /// A front-proxy CA and the API server's front-proxy client certificate
    /// (the aggregation layer: metrics-server and other extension APIs).
    pub front_proxy_ca: bool,
    /// C, ST, L, OU of every certificate.
    pub subject: SubjectDefaults,
    /// Control-plane nodes.
    pub masters: Vec<NodeConfig>,
    /// Worker nodes.
    pub workers: Vec<NodeConfig>,
    /// The `[aws]` section.
    pub aws: AwsConfig,
}

impl Cluster {
    /// The seed cluster.
    pub fn default_seed() -> Self {
        // The embedded file is tested; failing here would be a build defect.
        Self::from_toml(DEFAULT_TOML).unwrap_or_else(|e| panic!("embedded cluster.toml is invalid: {e}"))
    }

    /// Parses and validates TOML text.
    pub fn from_toml(text: &str) -> Result<Self, ClusterError> {
        let raw: RawCluster = toml::from_str(text).map_err(|e| ClusterError::Toml(toml_message(&e, text)))?;
        Self::validate(raw)
    }

    /// The first IP of the service CIDR: the `kubernetes` service's ClusterIP.
    pub fn api_service_ip(&self) -> Ipv4Addr {
        let n = u32::from(self.service_cidr.network());
        Ipv4Addr::from(n + 1)
    }

    fn validate(raw: RawCluster) -> Result<Self, ClusterError> {
        if raw.name.is_empty() || !raw.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') || raw.name.len() > 32 {
            return Err(field("name", format!("{:?} must be 1-32 letters, digits or '-' (it names AWS resources and the kubeconfig cluster)", raw.name)));
        }
        if raw.region.is_empty() || !raw.region.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            return Err(field("region", format!("{:?} is not an AWS region name such as us-east-2", raw.region)));
        }
        let vpc = cidr("vpc_cidr", &raw.vpc_cidr)?;
        let subnet = cidr("subnet_cidr", &raw.subnet_cidr)?;
        let service = cidr("service_cidr", &raw.service_cidr)?;
        let admin = cidr("admin_cidr", &raw.admin_cidr)?;
        if !vpc.contains(&subnet) {
            return Err(field("subnet_cidr", format!("{subnet} is not inside vpc_cidr {vpc}")));
        }
        if overlaps(&service, &vpc) {
            return Err(field("service_cidr", format!("{service} overlaps vpc_cidr {vpc}")));
        }
        if service.prefix_len() > 30 {
            return Err(field("service_cidr", format!("{service} is too small for any services")));
        }
        if let Some(a) = &raw.api_address {
            check_address(a).map_err(|m| field("api_address", m.to_string()))?;
        }
        if let Some(k) = &raw.aws.key_name {
            if k.is_empty() || k.len() > 255 || k.chars().any(|c| c.is_control() || !c.is_ascii()) {
                return Err(field("aws.key_name", format!("{} is not an EC2 key pair name (1-255 printable ASCII characters)", shown(k))));
            }
        }
        check_user_tags(&raw.aws.tags)?;
        crate::pki::request::check_host_name(&raw.cluster_domain)
            .map_err(|m| field("cluster_domain", format!("{} is not a domain: {m}", shown(&raw.cluster_domain))))?;
        // The apiserver's longest name must still be a DNS name.
        if raw.cluster_domain.len() + "kubernetes.default.svc.".len() > 253 {
            return Err(field("cluster_domain", "is too long: kubernetes.default.svc.<cluster_domain> must fit in 253 characters"));
        }
        let subject = SubjectDefaults { c: raw.subject.c, st: raw.subject.st, l: raw.subject.l, ou: raw.subject.ou };
        crate::pki::request::Subject { c: subject.c.clone(), st: subject.st.clone(), l: subject.l.clone(), ou: subject.ou.clone(), ..Default::default() }
            .check(|f| format!("subject.{f}"))
            .map_err(|e| field(e.field, e.message))?;
        if raw.masters.len() > MAX_MASTERS {
            return Err(field("masters", format!("{} masters; kpki supports at most {MAX_MASTERS} (etcd recommends at most 7 members)", raw.masters.len())));
        }
        if raw.workers.len() > MAX_WORKERS {
            return Err(field("workers", format!("{} workers; kpki supports at most {MAX_WORKERS} (Kubernetes' largest tested cluster)", raw.workers.len())));
        }
        let key_algo = KeyAlgo::from_name(&raw.pki.key_algo).map_err(|e| field("pki.key_algo", e.to_string()))?;
        let validity = duration::parse(&raw.pki.validity).map_err(|e| field("pki.validity", e.to_string()))?;
        let ca_validity = duration::parse(&raw.pki.ca_validity).map_err(|e| field("pki.ca_validity", e.to_string()))?;
        for (name, d) in [("pki.validity", validity), ("pki.ca_validity", ca_validity)] {
            if d < Duration::hours(1) {
                return Err(field(name, "is shorter than one hour (NotBefore is backdated five minutes, as cfssl does, so such a certificate would be expired or nearly so when made)"));
            }
            if d > Duration::hours(crate::pki::profile::MAX_VALIDITY_HOURS) {
                return Err(field(name, "is longer than 100 years"));
            }
        }
        if validity > ca_validity {
            return Err(field("pki.validity", format!("{} is longer than pki.ca_validity {}", raw.pki.validity, raw.pki.ca_validity)));
        }
        if raw.masters.is_empty() {
            return Err(field("masters", "needs at least one master"));
        }
        let mut seen_ips: HashSet<Ipv4Addr> = HashSet::new();
        let mut seen_names: HashSet<String> = HashSet::new();
        let mut pod_cidrs: Vec<(String, Ipv4Net)> = Vec::new();
        let mut nodes = |kind: &str, list: Vec<RawNode>, pods_allowed: bool| -> Result<Vec<NodeConfig>, ClusterError> {
            let mut out = Vec::new();
            for (i, n) in list.into_iter().enumerate() {
                let at = format!("{kind}[{i}]");
                let ip: Ipv4Addr = n.ip.parse().map_err(|_| field(format!("{at}.ip"), format!("{:?} is not an IPv4 address", n.ip)))?;
                if !subnet.contains(&ip) {
                    return Err(field(format!("{at}.ip"), format!("{ip} is outside subnet_cidr {subnet}")));
                }
                if ip == subnet.network() || ip == subnet.broadcast() || u32::from(ip) - u32::from(subnet.network()) < 4 {
                    return Err(field(format!("{at}.ip"), format!("{ip} is reserved in {subnet} (AWS keeps the first four and the last address)")));
                }
                if !seen_ips.insert(ip) {
                    return Err(field(format!("{at}.ip"), format!("{ip} is used twice")));
                }
                if let Some(name) = &n.name {
                    check_node_name(name).map_err(|m| field(format!("{at}.name"), format!("{} is not a valid node name: {m}", shown(name))))?;
                }
                // Unnamed nodes get AWS's name for their IP; a named node may not take it.
                let effective = n.name.clone().unwrap_or_else(|| crate::model::inventory::aws_host_name(ip));
                if !seen_names.insert(effective.clone()) {
                    return Err(field(
                        format!("{at}.name"),
                        format!("{} is used twice (a node without a name is called after its IP, e.g. ip-172-31-0-20)", shown(&effective)),
                    ));
                }
                let pod_cidr = match &n.pod_cidr {
                    None => None,
                    Some(_) if !pods_allowed => return Err(field(format!("{at}.pod_cidr"), "only workers run pods here")),
                    Some(p) => {
                        let net = cidr(&format!("{at}.pod_cidr"), p)?;
                        if overlaps(&net, &vpc) {
                            return Err(field(format!("{at}.pod_cidr"), format!("{net} overlaps vpc_cidr {vpc}")));
                        }
                        if overlaps(&net, &service) {
                            return Err(field(format!("{at}.pod_cidr"), format!("{net} overlaps service_cidr {service}")));
                        }
                        if let Some((other, _)) = pod_cidrs.iter().find(|(_, o)| overlaps(o, &net)) {
                            return Err(field(format!("{at}.pod_cidr"), format!("{net} overlaps {other}")));
                        }
                        pod_cidrs.push((format!("{at}.pod_cidr"), net));
                        Some(net)
                    }
                };
                out.push(NodeConfig { ip, name: n.name, pod_cidr });
            }
            Ok(out)
        };
        if raw.aws.instance_type.is_empty() || !raw.aws.instance_type.contains('.') {
            return Err(field("aws.instance_type", format!("{:?} is not an EC2 instance type such as t2.micro", raw.aws.instance_type)));
        }
        if let Some(id) = &raw.aws.ami_id {
            if !id.starts_with("ami-") {
                return Err(field("aws.ami_id", format!("{id:?} is not an AMI id (ami-...)")));
            }
        }
        if raw.aws.ami_name.is_empty() {
            return Err(field("aws.ami_name", "is empty"));
        }
        let masters = nodes("masters", raw.masters, false)?;
        let workers = nodes("workers", raw.workers, true)?;
        Ok(Cluster {
            name: raw.name,
            region: raw.region,
            api_address: raw.api_address,
            vpc_cidr: vpc,
            subnet_cidr: subnet,
            service_cidr: service,
            cluster_domain: raw.cluster_domain,
            admin_cidr: admin,
            key_algo,
            validity,
            ca_validity,
            kubelet_public_ip: raw.pki.kubelet_public_ip,
            etcd_ca: raw.pki.etcd_ca,
            front_proxy_ca: raw.pki.front_proxy_ca,
            subject,
            masters,
            workers,
            aws: raw.aws,
        })
    }
}

fn cidr(name: &str, s: &str) -> Result<Ipv4Net, ClusterError> {
    let net: Ipv4Net = s.parse().map_err(|_| field(name, format!("{s:?} is not an IPv4 CIDR such as 10.0.0.0/16")))?;
    if net.trunc() != net {
        return Err(field(name, format!("{s} has host bits set; did you mean {}?", net.trunc())));
    }
    Ok(net)
}

fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Most `[aws.tags]`: AWS allows 50 tags per resource and kpki sets three.
pub const MAX_USER_TAGS: usize = 47;

/// `[aws.tags]` as AWS accepts them, none taking a tag kpki owns.
fn check_user_tags(tags: &std::collections::BTreeMap<String, String>) -> Result<(), ClusterError> {
    if tags.len() > MAX_USER_TAGS {
        return Err(field("aws.tags", format!("{} tags; AWS allows 50 per resource and kpki sets 3, so at most {MAX_USER_TAGS}", tags.len())));
    }
    for (k, v) in tags {
        let at = format!("aws.tags.{}", shown(k));
        if k.is_empty() || k.chars().count() > 128 || k.chars().any(char::is_control) {
            return Err(field(at, "a tag key has 1-128 printable characters"));
        }
        if v.chars().count() > 256 || v.chars().any(char::is_control) {
            return Err(field(at, "a tag value has at most 256 printable characters"));
        }
        let lower = k.to_ascii_lowercase();
        if lower.starts_with("aws:") {
            return Err(field(at, "keys starting with aws: are reserved by AWS"));
        }
        if k == "Name" || lower.starts_with("kubernetes.io/cluster/") || lower.starts_with("kpki:") {
            return Err(field(at, "kpki sets this tag itself (Name, kubernetes.io/cluster/<name>, kpki:role)"));
        }
    }
    Ok(())
}

/// An API address is an IP or a host name (no wildcard).
pub fn check_address(a: &str) -> Result<(), NameError> {
    if a.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    crate::pki::request::check_host_name(a).map_err(|m| NameError(format!("{} is neither an IP address nor a host name: {m}", shown(a))))
}

/// Most masters a config may have.
pub const MAX_MASTERS: usize = 7;
/// Most workers a config may have.
pub const MAX_WORKERS: usize = 5000;

/// The file stems of the set's fixed certificates: no node may be named so,
/// or its files would replace theirs (a worker named `ca` would overwrite
/// `ca.pem`).
/// The optional CAs' files are reserved whether or not they are enabled, so
/// turning one on later cannot collide with a node.
pub const RESERVED_STEMS: [&str; 19] = [
    "ca",
    "ca-bundle",
    "etcd-ca-bundle",
    "front-proxy-ca-bundle",
    "ca-rotation",
    "etcd-ca-rotation",
    "front-proxy-ca-rotation",
    "admin",
    "kube-proxy",
    "kube-controller-manager",
    "kube-scheduler",
    "service-account",
    "master-kubernetes",
    "etcd-ca",
    "etcd-server",
    "etcd-peer",
    "apiserver-etcd-client",
    "front-proxy-ca",
    "front-proxy-client",
];

/// A node name: a lower-case host name that is not a fixed file's stem and
/// cannot collide with another node's key file.
pub fn check_node_name(name: &str) -> Result<(), NameError> {
    crate::pki::request::check_host_name(name)?;
    if RESERVED_STEMS.contains(&name) {
        return Err(NameError(format!("{name}.pem is one of the set's fixed files (reserved names: {})", RESERVED_STEMS.join(", "))));
    }
    if name.ends_with("-key") {
        return Err(NameError("a name ending in -key would collide with another node's key file".into()));
    }
    // "system:node:" + name is the kubelet certificate's CN (at most 64 characters).
    if name.len() > 52 {
        return Err(NameError("it is longer than 52 characters (the kubelet's CN system:node:<name> must fit in 64)".into()));
    }
    Ok(())
}


/// The TOML error as one line: message, then where.
fn toml_message(e: &toml::de::Error, text: &str) -> String {
    let msg = crate::pki::json::shown_max(&e.message().trim().replace('\n', " "), 300);
    match e.span() {
        Some(span) => {
            let line = text.as_bytes()[..span.start.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1;
            format!("line {line}: {msg}")
        }
        None => msg,
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_values() {
        let c = Cluster::default_seed();
        assert_eq!(c.name, "k8s-cluster");
        assert_eq!(c.masters.len(), 3);
        assert_eq!(c.workers.len(), 3);
        assert_eq!(c.api_service_ip(), Ipv4Addr::new(10, 32, 0, 1));
        assert_eq!(c.key_algo, KeyAlgo::Rsa(2048));
        assert_eq!(c.workers[2].pod_cidr, Some("172.20.2.0/24".parse().unwrap()));
    }

    fn with(from: &str, to: &str) -> Result<Cluster, ClusterError> {
        assert!(DEFAULT_TOML.contains(from), "{from}");
        Cluster::from_toml(&DEFAULT_TOML.replacen(from, to, 1))
    }

    fn field_of(r: Result<Cluster, ClusterError>) -> String {
        match r {
            Err(ClusterError::Field { field, .. }) => field,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn bad_configs_name_the_field() {
        assert_eq!(field_of(with("ip = \"172.31.0.10\"", "ip = \"172.31.1.10\"")), "masters[0].ip");
        assert_eq!(field_of(with("ip = \"172.31.0.21\"", "ip = \"172.31.0.20\"")), "workers[1].ip");
        assert_eq!(field_of(with("service_cidr = \"10.32.0.0/24\"", "service_cidr = \"172.20.0.0/16\"")), "workers[0].pod_cidr");
        assert_eq!(field_of(with("pod_cidr = \"172.20.1.0/24\"", "pod_cidr = \"172.20.0.0/23\"")), "workers[1].pod_cidr");
        assert_eq!(field_of(with("subnet_cidr = \"172.31.0.0/24\"", "subnet_cidr = \"10.0.0.0/24\"")), "subnet_cidr");
        assert_eq!(field_of(with("key_algo = \"rsa-2048\"", "key_algo = \"rsa-1024\"")), "pki.key_algo");
        assert_eq!(field_of(with("validity = \"8760h\"", "validity = \"-1h\"")), "pki.validity");
        assert_eq!(field_of(with("vpc_cidr = \"172.31.0.0/16\"", "vpc_cidr = \"172.31.0.1/16\"")), "vpc_cidr");
        assert_eq!(field_of(with("name = \"k8s-cluster\"", "name = \"k8s cluster\"")), "name");
        assert_eq!(field_of(with("ip = \"172.31.0.10\"", "ip = \"172.31.0.2\"")), "masters[0].ip");
        assert!(matches!(with("[pki]", "[pkki]"), Err(ClusterError::Toml(m)) if m.contains("line")));
    }
}
