//! `bootstrap --layout kubeadm`: the cluster's certificates as kubeadm's
//! `/etc/kubernetes` tree, one tree per node, so kubeadm users can use kpki
//! as their external CA tool (copy `DIR/<node>/` to the node's
//! `/etc/kubernetes/`; `kubeadm init`/`join` then find every file and make
//! none). Subjects, SANs, usages, validities and file names follow kubeadm's
//! certificate list (kubeadm `cmd/kubeadm/app/phases/certs/certlist.go` and
//! `phases/kubeconfig`, and "PKI certificates and requirements" in the
//! Kubernetes documentation, v1.29+: `admin.conf` is in
//! `kubeadm:cluster-admins`, `super-admin.conf` in `system:masters`).
//!
//! A control-plane node's tree: `pki/{ca,front-proxy-ca}.{crt,key}`,
//! `pki/apiserver`, `pki/apiserver-kubelet-client`, `pki/apiserver-etcd-client`,
//! `pki/front-proxy-client` (`.crt`/`.key`), `pki/sa.{key,pub}`,
//! `pki/etcd/{ca,server,peer,healthcheck-client}.{crt,key}`, and `admin.conf`,
//! `super-admin.conf`, `controller-manager.conf`, `scheduler.conf`,
//! `kubelet.conf`. A worker's: `kubelet.conf` and `pki/ca.crt`. The three CAs
//! and the service-account key are shared by every control-plane node; the
//! rest is the node's own (its name and IP in `apiserver` and `etcd/*`).

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::model::cluster::Cluster;
use crate::model::file::OutFile;
use crate::model::inventory::{Inventory, Node};
use crate::pki::host::Host;
use crate::pki::issue::{self, Ca, CertPlan, SubjectKey, Validity};
use crate::pki::key::{pem_encode, KeyAlgo, KeyFormat, PrivateKey};
use crate::pki::profile::{Profile, Usages};
use crate::pki::request::Subject;

use super::files::Kubeconfig;

/// The CA files kubeadm's tree shares between control-plane nodes: (CA name,
/// certificate path, key path, CN).
pub const SHARED_CAS: [(&str, &str, &str, &str); 3] = [
    ("cluster CA", "pki/ca.crt", "pki/ca.key", "kubernetes"),
    ("etcd CA", "pki/etcd/ca.crt", "pki/etcd/ca.key", "etcd-ca"),
    ("front-proxy CA", "pki/front-proxy-ca.crt", "pki/front-proxy-ca.key", "front-proxy-ca"),
];
/// The service-account signing key and its public half.
pub const SA_KEY: &str = "pki/sa.key";
/// The service-account public key.
pub const SA_PUB: &str = "pki/sa.pub";

/// Why the tree cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum KubeadmError {
    /// A file (path relative to a node's tree) is at fault.
    #[error("{file}: {message}")]
    File {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// The inventory has no control-plane node.
    #[error("the kubeadm layout needs at least one master (control-plane node)")]
    NoMaster,
    /// A key algorithm kubeadm cannot read.
    #[error("key_algo = {0:?}: kubeadm reads RSA and ECDSA keys only (and kube-apiserver cannot sign service-account tokens with Ed25519); use rsa-2048 (kubeadm's default) or ecdsa-p256")]
    Algorithm(String),
}

fn file_error(file: &str, message: impl std::fmt::Display) -> KubeadmError {
    KubeadmError::File { file: file.to_string(), message: message.to_string() }
}

/// The shared CAs (cluster, etcd, front-proxy) and the service-account key.
pub struct Shared {
    cas: [Ca; 3],
    sa: PrivateKey,
    /// Whether each CA (and then the SA key) was made by this run.
    pub made: [bool; 4],
}

/// Loads the shared CAs and the service-account key from an existing tree
/// (`existing`: files by path relative to the tree, e.g. `pki/ca.crt`), or
/// makes those that are missing (all of them with `force`). A CA whose
/// certificate exists without its key, or the other way round, is refused
/// rather than replaced.
pub fn shared(existing: &BTreeMap<String, Vec<u8>>, cluster: &Cluster, now: OffsetDateTime, force: bool) -> Result<Shared, KubeadmError> {
    check_algo(cluster.key_algo)?;
    let mut cas = Vec::with_capacity(3);
    let mut made = [false; 4];
    for (i, (what, crt, key, cn)) in SHARED_CAS.iter().enumerate() {
        let pair = if force { (None, None) } else { (existing.get(*crt), existing.get(*key)) };
        let ca = match pair {
            (Some(c), Some(k)) => {
                let der = crate::pki::cert::cert_from_pem(c).map_err(|e| file_error(crt, e))?.to_vec();
                let key = read_key(key, k, what)?;
                Ca::new(der, key).map_err(|e| file_error(crt, e))?
            }
            (None, None) => {
                made[i] = true;
                let key = PrivateKey::generate(cluster.key_algo).map_err(|e| file_error(key, e))?;
                let subject = Subject { cn: Some(cn.to_string()), ..Subject::default() };
                let plan = CertPlan { subject: subject.to_dn(), sans: vec![], validity: Validity::cfssl(now, cluster.ca_validity) };
                let der = issue::self_signed_ca(&plan, None, &key).map_err(|e| file_error(crt, e))?;
                Ca::new(der, key).map_err(|e| file_error(crt, e))?
            }
            (Some(_), None) => return Err(file_error(crt, format!("the {what}'s certificate exists but {key} does not; restore it, or pass --force to make new CAs"))),
            (None, Some(_)) => return Err(file_error(key, format!("the {what}'s key exists but {crt} does not; restore it, or pass --force to make new CAs"))),
        };
        cas.push(ca);
    }
    let sa = match (force, existing.get(SA_KEY)) {
        (false, Some(k)) => read_key(SA_KEY, k, "service-account signing")?,
        _ => {
            made[3] = true;
            PrivateKey::generate(cluster.key_algo).map_err(|e| file_error(SA_KEY, e))?
        }
    };
    let cas: [Ca; 3] = cas.try_into().map_err(|_| file_error("pki", "internal error: not three CAs"))?;
    Ok(Shared { cas, sa, made })
}

/// kubeadm reads RSA and ECDSA keys only.
pub fn check_algo(algo: KeyAlgo) -> Result<(), KubeadmError> {
    match algo {
        KeyAlgo::Ed25519 => Err(KubeadmError::Algorithm(algo.name())),
        _ => Ok(()),
    }
}

/// A kept key: kubeadm reads keys unencrypted, so an encrypted one is
/// refused with the way out rather than a passphrase prompt.
fn read_key(file: &str, pem: &[u8], what: &str) -> Result<PrivateKey, KubeadmError> {
    let legacy = std::str::from_utf8(pem).is_ok_and(|t| t.contains("Proc-Type: 4,ENCRYPTED"));
    if legacy || PrivateKey::is_encrypted_pem(pem) {
        return Err(file_error(file, format!("the {what} key is encrypted; kubeadm reads its keys unencrypted: decrypt it (openssl pkey -in KEY -out KEY.new, KEY being the file named above) and move it into place")));
    }
    PrivateKey::from_pem(pem).map_err(|e| file_error(file, format!("{e} (the {what} key)")))
}

/// Which shared CA signs a certificate.
#[derive(Clone, Copy)]
enum Signer {
    Cluster = 0,
    Etcd = 1,
    FrontProxy = 2,
}

/// One leaf of a node's tree.
struct Leaf {
    /// The path without extension (`pki/apiserver`), or a kubeconfig's file.
    path: String,
    cn: String,
    o: Option<&'static str>,
    sans: Vec<String>,
    usages: &'static [&'static str],
    signer: Signer,
    /// For a kubeconfig: the API server URL it points at.
    server: Option<String>,
}

const SERVER: &[&str] = &["signing", "key encipherment", "server auth"];
const CLIENT: &[&str] = &["signing", "key encipherment", "client auth"];
const BOTH: &[&str] = &["signing", "key encipherment", "server auth", "client auth"];

fn url(host: &str) -> String {
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => format!("https://[{v6}]:6443"),
        _ => format!("https://{host}:6443"),
    }
}

/// A control-plane node's own certificates and kubeconfigs, as kubeadm makes them.
fn master_leaves(cluster: &Cluster, inv: &Inventory, node: &Node, first: bool) -> Vec<Leaf> {
    let ip = node.private_ip.to_string();
    let mut api_sans = vec![
        node.name.clone(),
        "kubernetes".into(),
        "kubernetes.default".into(),
        "kubernetes.default.svc".into(),
        format!("kubernetes.default.svc.{}", cluster.cluster_domain),
        cluster.api_service_ip().to_string(),
        ip.clone(),
        inv.api_address.clone(),
    ];
    dedup(&mut api_sans);
    let mut etcd_sans = vec![node.name.clone(), "localhost".into(), ip.clone(), "127.0.0.1".into(), "::1".into()];
    dedup(&mut etcd_sans);
    let leaf = |path: &str, cn: &str, o: Option<&'static str>, sans: Vec<String>, usages: &'static [&'static str], signer: Signer| Leaf {
        path: path.into(),
        cn: cn.into(),
        o,
        sans,
        usages,
        signer,
        server: None,
    };
    let conf = |path: &str, cn: &str, o: Option<&'static str>, server: String| Leaf { server: Some(server), ..leaf(path, cn, o, vec![], CLIENT, Signer::Cluster) };
    let endpoint = url(&inv.api_address);
    let local = url(&ip);
    let mut leaves = vec![
        leaf("pki/apiserver", "kube-apiserver", None, api_sans, SERVER, Signer::Cluster),
        leaf("pki/apiserver-kubelet-client", "kube-apiserver-kubelet-client", Some("kubeadm:cluster-admins"), vec![], CLIENT, Signer::Cluster),
        leaf("pki/front-proxy-client", "front-proxy-client", None, vec![], CLIENT, Signer::FrontProxy),
        leaf("pki/apiserver-etcd-client", "kube-apiserver-etcd-client", None, vec![], CLIENT, Signer::Etcd),
        leaf("pki/etcd/server", &node.name, None, etcd_sans.clone(), BOTH, Signer::Etcd),
        leaf("pki/etcd/peer", &node.name, None, etcd_sans, BOTH, Signer::Etcd),
        leaf("pki/etcd/healthcheck-client", "kube-etcd-healthcheck-client", None, vec![], CLIENT, Signer::Etcd),
        conf("admin.conf", "kubernetes-admin", Some("kubeadm:cluster-admins"), endpoint.clone()),
        conf("controller-manager.conf", "system:kube-controller-manager", None, local.clone()),
        conf("scheduler.conf", "system:kube-scheduler", None, local),
        conf("kubelet.conf", &format!("system:node:{}", node.name), Some("system:nodes"), endpoint.clone()),
    ];
    // kubeadm writes the break-glass system:masters kubeconfig on the node
    // that runs `kubeadm init` only.
    if first {
        leaves.push(conf("super-admin.conf", "kubernetes-super-admin", Some("system:masters"), endpoint));
    }
    leaves
}

fn dedup(v: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    v.retain(|s| seen.insert(s.clone()));
}

/// The files of one node's tree, paths relative to the tree.
pub struct NodeTree {
    /// The node's name (its directory under the output directory).
    pub node: String,
    /// Whether it is a control-plane node.
    pub master: bool,
    /// The files.
    pub files: Vec<OutFile>,
}

/// Every node's tree: new keys and certificates for each node's own files,
/// the shared CAs and service-account key as they are.
pub fn trees(shared: &Shared, cluster: &Cluster, inv: &Inventory, now: OffsetDateTime) -> Result<Vec<NodeTree>, KubeadmError> {
    if inv.masters.is_empty() {
        return Err(KubeadmError::NoMaster);
    }
    check_algo(cluster.key_algo)?;
    let mut plans: Vec<(&Node, bool, Vec<Leaf>)> = inv.masters.iter().enumerate().map(|(i, m)| (m, true, master_leaves(cluster, inv, m, i == 0))).collect();
    for w in &inv.workers {
        let conf = Leaf {
            path: "kubelet.conf".into(),
            cn: format!("system:node:{}", w.name),
            o: Some("system:nodes"),
            sans: vec![],
            usages: CLIENT,
            signer: Signer::Cluster,
            server: Some(url(&inv.api_address)),
        };
        plans.push((w, false, vec![conf]));
    }
    // Every key at once, one per core (RSA keys take tens of milliseconds each).
    let count: usize = plans.iter().map(|(_, _, l)| l.len()).sum();
    let mut keys = PrivateKey::generate_many(cluster.key_algo, count).map_err(|e| file_error("pki", e))?.into_iter();
    let ca_pem = |s: Signer| pem_encode("CERTIFICATE", shared.cas[s as usize].cert_der());
    let mut out = Vec::with_capacity(plans.len());
    for (node, master, leaves) in plans {
        let mut files = vec![OutFile::public("pki/ca.crt", ca_pem(Signer::Cluster).into_bytes())];
        if master {
            for (i, (_, crt, key, _)) in SHARED_CAS.iter().enumerate() {
                if i > 0 {
                    files.push(OutFile::public(*crt, pem_encode("CERTIFICATE", shared.cas[i].cert_der()).into_bytes()));
                }
                let file_key = shared.cas[i].key().file().ok_or_else(|| file_error(key, "the CA key is not in memory"))?;
                files.push(OutFile::secret(*key, file_key.to_pem(KeyFormat::Cfssl).map_err(|e| file_error(key, e))?.as_bytes()));
            }
            files.push(OutFile::secret(SA_KEY, shared.sa.to_pem(KeyFormat::Cfssl).map_err(|e| file_error(SA_KEY, e))?.as_bytes()));
            files.push(OutFile::public(SA_PUB, pem_encode("PUBLIC KEY", &shared.sa.spki_der()).into_bytes()));
        }
        for leaf in leaves {
            let key = keys.next().ok_or_else(|| file_error(&leaf.path, "no key was made"))?;
            let usages = Usages::from_names(leaf.usages).map_err(|e| file_error(&leaf.path, e))?;
            let profile = Profile::leaf(usages, cluster.validity);
            let hosts = leaf.sans.iter().map(|h| h.parse::<Host>()).collect::<Result<Vec<Host>, _>>().map_err(|e| file_error(&leaf.path, e))?;
            let sans = crate::pki::host::sans(&hosts).map_err(|e| file_error(&leaf.path, e))?;
            let subject = Subject { cn: Some(leaf.cn.clone()), o: leaf.o.map(str::to_string), ..Subject::default() };
            let plan = CertPlan { subject: subject.to_dn(), sans, validity: Validity::cfssl(now, cluster.validity) };
            let ca = &shared.cas[leaf.signer as usize];
            let issued = issue::sign(&plan, &SubjectKey::of(&key), &profile, ca).map_err(|e| file_error(&leaf.path, e))?;
            let cert_pem = pem_encode("CERTIFICATE", &issued.der);
            let key_pem = key.to_pem(KeyFormat::Cfssl).map_err(|e| file_error(&leaf.path, e))?;
            match &leaf.server {
                Some(server) => {
                    let yaml = Kubeconfig::new(&inv.cluster, server, &ca_pem(leaf.signer), &leaf.cn, &cert_pem, &key_pem)
                        .with_context_name(&format!("{}@{}", leaf.cn, inv.cluster))
                        .to_yaml();
                    files.push(OutFile::private(&leaf.path, yaml.as_bytes()));
                }
                None => {
                    files.push(OutFile::public(format!("{}.crt", leaf.path), cert_pem.into_bytes()));
                    files.push(OutFile::secret(format!("{}.key", leaf.path), key_pem.as_bytes()));
                }
            }
        }
        if master {
            files.push(OutFile::public(KUBEADM_CONFIG, kubeadm_config(cluster, inv, node).into_bytes()));
        }
        out.push(NodeTree { node: node.name.clone(), master, files });
    }
    Ok(out)
}

/// The kubeadm configuration a control-plane tree's certificates were made
/// for: kubeadm checks existing certificates against the SANs it would
/// make itself (service IP, DNS domain, node name, advertise address,
/// control-plane endpoint), so `kubeadm init --config` needs these values.
pub const KUBEADM_CONFIG: &str = "kubeadm-config.yaml";

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct InitConfiguration {
    api_version: &'static str,
    kind: &'static str,
    #[serde(rename = "localAPIEndpoint")]
    local_api_endpoint: ApiEndpoint,
    node_registration: NodeRegistration,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiEndpoint {
    advertise_address: String,
    bind_port: u16,
}

#[derive(serde::Serialize)]
struct NodeRegistration {
    name: String,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ClusterConfiguration {
    api_version: &'static str,
    kind: &'static str,
    cluster_name: String,
    control_plane_endpoint: String,
    networking: Networking,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Networking {
    service_subnet: String,
    dns_domain: String,
}

/// `kubeadm-config.yaml` for a control-plane node: an InitConfiguration
/// (its name and address) and the ClusterConfiguration (v1beta4, kubeadm
/// 1.31+), two YAML documents, each written through the YAML library.
fn kubeadm_config(cluster: &Cluster, inv: &Inventory, node: &Node) -> String {
    let init = InitConfiguration {
        api_version: "kubeadm.k8s.io/v1beta4",
        kind: "InitConfiguration",
        local_api_endpoint: ApiEndpoint { advertise_address: node.private_ip.to_string(), bind_port: 6443 },
        node_registration: NodeRegistration { name: node.name.clone() },
    };
    let endpoint = match inv.api_address.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => format!("[{v6}]:6443"),
        _ => format!("{}:6443", inv.api_address),
    };
    let cluster_config = ClusterConfiguration {
        api_version: "kubeadm.k8s.io/v1beta4",
        kind: "ClusterConfiguration",
        cluster_name: inv.cluster.clone(),
        control_plane_endpoint: endpoint,
        networking: Networking { service_subnet: cluster.service_cidr.to_string(), dns_domain: cluster.cluster_domain.clone() },
    };
    let mut text = String::new();
    text.push_str(&super::files::yaml_of(&init));
    text.push_str("---\n");
    text.push_str(&super::files::yaml_of(&cluster_config));
    text
}

/// The key algorithm the shared CAs were made with (the cluster CA's).
pub fn ca_algo(shared: &Shared) -> KeyAlgo {
    shared.cas[0].key().algo()
}
