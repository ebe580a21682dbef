//! The certificate plan: each Kubernetes role mapped to its subject, SANs,
//! usages, validity and file names, computed from the cluster config and the
//! inventory. The plan is data; `bootstrap` issues it and `verify` checks a
//! directory against the copy recorded there (`plan.json`).

use serde::{Deserialize, Serialize};

use crate::model::cluster::Cluster;
use crate::pki::host::Host;
use crate::pki::key::KeyAlgo;
use crate::pki::profile::Usages;
use crate::pki::json::shown;
use crate::pki::request::{Subject, MAX_SANS};
use crate::model::inventory::Inventory;

/// The file name of the recorded plan.
pub const PLAN_FILE: &str = "plan.json";
/// The file name of the recorded inventory.
pub const INVENTORY_FILE: &str = "inventory.json";
/// The encryption-at-rest config.
pub const ENCRYPTION_FILE: &str = "encryption-config.yaml";
/// The cluster CA's stem (`ca.pem`, `ca-key.pem`).
pub const CA_STEM: &str = "ca";
/// etcd's CA's stem, when the cluster has one.
pub const ETCD_CA_STEM: &str = "etcd-ca";
/// The front-proxy CA's stem, when the cluster has one.
pub const FRONT_PROXY_CA_STEM: &str = "front-proxy-ca";

/// A certificate's role in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The cluster's CA.
    Ca,
    /// The API server's serving certificate.
    Apiserver,
    /// The cluster administrator (`system:masters`).
    Admin,
    /// A kubelet (`system:node:<name>`).
    Kubelet,
    /// kube-proxy.
    KubeProxy,
    /// The controller manager.
    ControllerManager,
    /// The scheduler.
    Scheduler,
    /// The service-account token signing key pair.
    ServiceAccount,
    /// etcd's own CA (`[pki] etcd_ca = true`): it alone signs etcd's certificates.
    EtcdCa,
    /// etcd's serving certificate (every master's IP and name, loopback).
    EtcdServer,
    /// etcd's peer certificate (member to member).
    EtcdPeer,
    /// The API server's client certificate for etcd.
    ApiserverEtcdClient,
    /// The aggregation layer's CA (`[pki] front_proxy_ca = true`), the API
    /// server's `--requestheader-client-ca-file`.
    FrontProxyCa,
    /// The API server's client certificate towards extension API servers
    /// (`--proxy-client-cert-file`).
    FrontProxyClient,
}

impl Role {
    /// Whether the role is a (self-signed) CA.
    pub fn is_ca(self) -> bool {
        matches!(self, Role::Ca | Role::EtcdCa | Role::FrontProxyCa)
    }
}

/// Role names as `plan.json` and `renew --role` write them (`kube-proxy`),
/// from the one table serde derives above.
impl std::str::FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, UnknownRole> {
        use serde::de::IntoDeserializer;
        let de: serde::de::value::StrDeserializer<'_, serde::de::value::Error> = s.into_deserializer();
        Role::deserialize(de).map_err(|_| UnknownRole(s.to_string()))
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::String(s)) => f.write_str(&s),
            _ => Err(std::fmt::Error),
        }
    }
}

/// A role name that is not one of [`Role`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a role")]
pub struct UnknownRole(pub String);

/// One certificate to issue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertSpec {
    /// Its role.
    pub role: Role,
    /// Files are `<stem>.pem` and `<stem>-key.pem`.
    pub stem: String,
    /// Country.
    #[serde(rename = "C", skip_serializing_if = "Option::is_none", default)]
    pub c: Option<String>,
    /// State or province.
    #[serde(rename = "ST", skip_serializing_if = "Option::is_none", default)]
    pub st: Option<String>,
    /// Locality.
    #[serde(rename = "L", skip_serializing_if = "Option::is_none", default)]
    pub l: Option<String>,
    /// Organization (the role's group).
    #[serde(rename = "O")]
    pub o: String,
    /// Organizational unit.
    #[serde(rename = "OU", skip_serializing_if = "Option::is_none", default)]
    pub ou: Option<String>,
    /// Common name (the role's user).
    #[serde(rename = "CN")]
    pub cn: String,
    /// The SANs, validated when the plan is made or read.
    pub sans: Vec<Host>,
    /// Key usages and extended key usages (written as cfssl's names).
    pub usages: Usages,
    /// The key's algorithm and size (written as its name, `rsa-2048`).
    pub key_algo: KeyAlgo,
    /// Validity in hours.
    pub validity_hours: i64,
    /// The stem of the CA that signs it, when not the cluster CA (`ca`);
    /// `None` for a CA, which signs itself.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub issuer: Option<String>,
}

impl CertSpec {
    /// `<stem>.pem`.
    pub fn cert_file(&self) -> String {
        format!("{}.pem", self.stem)
    }
    /// `<stem>-key.pem`.
    pub fn key_file(&self) -> String {
        format!("{}-key.pem", self.stem)
    }
    /// `<stem>-bundle.pem`: a CA's trust bundle while it is rotated (new CA, then old).
    pub fn bundle_file(&self) -> String {
        format!("{}-bundle.pem", self.stem)
    }
    /// `<stem>-rotation.pem`: a rotation's record, the old CA endorsed by the new.
    pub fn rotation_file(&self) -> String {
        format!("{}-rotation.pem", self.stem)
    }
    /// The stem of the CA that signs it: its own for a CA, else `issuer`
    /// or the cluster CA's.
    pub fn issuer_stem(&self) -> &str {
        match (&self.issuer, self.role.is_ca()) {
            (_, true) => &self.stem,
            (Some(i), false) => i,
            (None, false) => CA_STEM,
        }
    }
    /// The subject to issue (no O when `o` is empty).
    pub fn subject(&self) -> Subject {
        Subject {
            c: self.c.clone(),
            st: self.st.clone(),
            l: self.l.clone(),
            o: (!self.o.is_empty()).then(|| self.o.clone()),
            ou: self.ou.clone(),
            cn: Some(self.cn.clone()),
            serial_number: None,
        }
    }
}

/// One kubeconfig to write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubeconfigSpec {
    /// Its file name.
    pub file: String,
    /// The certificate stem whose cert and key it embeds.
    pub stem: String,
    /// The user name.
    pub user: String,
    /// The API server URL.
    pub server: String,
}

/// The whole set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The cluster's name.
    pub cluster: String,
    /// The certificates, the CA first.
    pub certs: Vec<CertSpec>,
    /// The kubeconfigs.
    pub kubeconfigs: Vec<KubeconfigSpec>,
    /// Where the cluster CA's key is when it is in a key store (a URI
    /// without its PIN): the set then has no `ca-key.pem`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_key: Option<String>,
}

impl Plan {
    /// A recorded `plan.json`, parsed and validated as a plan that was just
    /// made (file names stay inside the directory, validities are sane).
    pub fn from_json(bytes: &[u8]) -> Result<Self, PlanReadError> {
        let plan: Plan = serde_json::from_slice(bytes).map_err(|e| PlanReadError::Json(e.to_string()))?;
        plan.validate()?;
        Ok(plan)
    }

    /// The cluster CA's entry.
    pub fn ca(&self) -> Option<&CertSpec> {
        self.certs.iter().find(|c| c.role == Role::Ca)
    }

    /// The entry whose files are `<stem>.pem` and `<stem>-key.pem`.
    pub fn cert(&self, stem: &str) -> Option<&CertSpec> {
        self.certs.iter().find(|c| c.stem == stem)
    }
}

const LEAF_USAGES_SERVER: [&str; 4] = ["signing", "key encipherment", "server auth", "client auth"];
const LEAF_USAGES_CLIENT: [&str; 3] = ["signing", "key encipherment", "client auth"];

use crate::pki::profile::MAX_VALIDITY_HOURS;

/// Why a recorded `plan.json` cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanReadError {
    /// Not a kpki plan (JSON or schema).
    #[error("not a kpki plan: {0}")]
    Json(String),
    /// A plan that would not have been made.
    #[error("not a valid plan: {0}")]
    Invalid(#[from] PlanError),
}

/// Why a plan cannot be issued: checked once, when it is made, so that no
/// bad value fails late (after keys were made) or blames the wrong file.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    /// A value of one certificate is not valid.
    #[error("{file}: {field}: {message}")]
    Field {
        /// The certificate file.
        file: String,
        /// The field at fault.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// Two entries would write one file.
    #[error("{file} would be written for both {first} and {second}; rename one of them")]
    Collision {
        /// The file name.
        file: String,
        /// The first entry claiming it.
        first: String,
        /// The second.
        second: String,
    },
}

impl Plan {
    /// Checks every certificate's subject and SANs with the same rules as a
    /// CSR JSON, node names, and that no two entries share a file name.
    pub fn validate(&self) -> Result<(), PlanError> {
        let mut owners: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
        let mut claim = |file: String, owner: String| -> Result<(), PlanError> {
            if !crate::model::file::is_member_name(&file) {
                return Err(PlanError::Field { file: file.clone(), field: "file".into(), message: "is not a plain file name".into() });
            }
            match owners.get(&file) {
                Some(first) => Err(PlanError::Collision { file, first: first.clone(), second: owner }),
                None => {
                    owners.insert(file, owner);
                    Ok(())
                }
            }
        };
        if let Some(uri) = &self.ca_key {
            let bad = |message: &str| PlanError::Field { file: PLAN_FILE.into(), field: "ca_key".into(), message: message.into() };
            if !(uri.starts_with("awskms:") || uri.starts_with("pkcs11:")) {
                return Err(bad("is not a key URI (awskms: or pkcs11:)"));
            }
            if uri.len() > 4096 || uri.chars().any(char::is_control) {
                return Err(bad("is longer than 4096 bytes or has control characters"));
            }
            if uri.contains("pin-value=") {
                return Err(bad("carries a PIN (pin-value=); a plan never records one"));
            }
        }
        for c in &self.certs {
            let err = |e: crate::pki::json::FieldError| PlanError::Field { file: c.cert_file(), field: e.field, message: e.message };
            c.subject().check(|f| f.to_string()).map_err(err)?;
            if c.sans.len() > MAX_SANS {
                return Err(PlanError::Field { file: c.cert_file(), field: "hosts".into(), message: format!("has {} entries; kpki puts at most {MAX_SANS} names in a certificate", c.sans.len()) });
            }
            if !(1..=MAX_VALIDITY_HOURS).contains(&c.validity_hours) {
                return Err(PlanError::Field { file: c.cert_file(), field: "validity_hours".into(), message: format!("{} is not between 1 and {MAX_VALIDITY_HOURS} hours", c.validity_hours) });
            }
            if c.sans.is_empty() && c.cn.is_empty() {
                return Err(PlanError::Field { file: c.cert_file(), field: "CN".into(), message: "is empty and there are no hosts".into() });
            }
            match (&c.issuer, c.role.is_ca()) {
                (Some(_), true) => {
                    return Err(PlanError::Field { file: c.cert_file(), field: "issuer".into(), message: "a CA of the set signs itself".into() })
                }
                (_, false) if !self.certs.iter().any(|i| i.role.is_ca() && i.stem == c.issuer_stem()) => {
                    return Err(PlanError::Field {
                        file: c.cert_file(),
                        field: "issuer".into(),
                        message: format!("{} is not a CA of the plan", shown(c.issuer_stem())),
                    })
                }
                _ => {}
            }
            let owner = format!("the {} certificate {:?}", role_label(c.role), c.cn);
            claim(c.cert_file(), owner.clone())?;
            if c.role.is_ca() {
                claim(c.bundle_file(), owner.clone())?;
                claim(c.rotation_file(), owner.clone())?;
            }
            claim(c.key_file(), owner)?;
        }
        if self.certs.iter().filter(|c| c.role == Role::Ca).count() != 1 {
            return Err(PlanError::Field { file: format!("{CA_STEM}.pem"), field: "role".into(), message: "a plan has exactly one cluster CA".into() });
        }
        for k in &self.kubeconfigs {
            claim(k.file.clone(), format!("the kubeconfig of {:?}", k.user))?;
            if self.cert(&k.stem).is_none_or(|c| c.role.is_ca()) {
                return Err(PlanError::Field { file: k.file.clone(), field: "stem".into(), message: format!("{} is not a client certificate of the plan", shown(&k.stem)) });
            }
        }
        for f in [ENCRYPTION_FILE, PLAN_FILE, INVENTORY_FILE] {
            claim(f.to_string(), "the set's own records".into())?;
        }
        Ok(())
    }
}

fn role_label(r: Role) -> &'static str {
    match r {
        Role::Ca => "CA",
        Role::Apiserver => "API server",
        Role::Admin => "admin",
        Role::Kubelet => "kubelet",
        Role::KubeProxy => "kube-proxy",
        Role::ControllerManager => "controller manager",
        Role::Scheduler => "scheduler",
        Role::ServiceAccount => "service account",
        Role::EtcdCa => "etcd CA",
        Role::EtcdServer => "etcd server",
        Role::EtcdPeer => "etcd peer",
        Role::ApiserverEtcdClient => "API server's etcd client",
        Role::FrontProxyCa => "front-proxy CA",
        Role::FrontProxyClient => "front-proxy client",
    }
}

/// Computes the plan for a cluster and its inventory, and validates it.
pub fn plan(cluster: &Cluster, inv: &Inventory) -> Result<Plan, PlanError> {
    let p = plan_unchecked(cluster, inv)?;
    p.validate()?;
    Ok(p)
}

fn plan_unchecked(cluster: &Cluster, inv: &Inventory) -> Result<Plan, PlanError> {
    let hours = cluster.validity.whole_hours();
    let s = &cluster.subject;
    let spec = |role: Role, stem: &str, cn: &str, o: &str, sans: Vec<String>, usages: &[&str]| -> Result<CertSpec, PlanError> {
        let field = |field: String, message: String| PlanError::Field { file: format!("{stem}.pem"), field, message };
        let sans = sans
            .iter()
            .enumerate()
            .map(|(i, h)| h.parse::<Host>().map_err(|e| field(format!("hosts[{i}]"), e.to_string())))
            .collect::<Result<Vec<Host>, PlanError>>()?;
        let usages = Usages::from_names(usages).map_err(|e| field("usages".into(), e.to_string()))?;
        Ok(CertSpec {
            role,
            stem: stem.to_string(),
            c: s.c.clone(),
            st: s.st.clone(),
            l: s.l.clone(),
            o: o.to_string(),
            ou: s.ou.clone(),
            cn: cn.to_string(),
            sans,
            usages,
            key_algo: cluster.key_algo,
            validity_hours: hours,
            issuer: None,
        })
    };
    let mut certs = Vec::new();
    let mut ca = spec(Role::Ca, "ca", "Kubernetes", "Kubernetes", vec![], &["cert sign", "crl sign"])?;
    ca.validity_hours = cluster.ca_validity.whole_hours();
    certs.push(ca);

    let domain = &cluster.cluster_domain;
    let mut api_sans = vec![cluster.api_service_ip().to_string()];
    api_sans.extend(inv.masters.iter().map(|m| m.private_ip.to_string()));
    api_sans.push(inv.api_address.clone());
    api_sans.push("127.0.0.1".into());
    for name in [
        "kubernetes".to_string(),
        "kubernetes.default".into(),
        "kubernetes.default.svc".into(),
        format!("kubernetes.default.svc.{}", domain.split('.').next().unwrap_or("cluster")),
        format!("kubernetes.default.svc.{domain}"),
    ] {
        api_sans.push(name);
    }
    api_sans.extend(inv.masters.iter().map(|m| m.name.clone()));
    certs.push(spec(Role::Apiserver, "master-kubernetes", "kubernetes", "Kubernetes", dedup(api_sans), &LEAF_USAGES_SERVER)?);
    certs.push(spec(Role::Admin, "admin", "admin", "system:masters", vec![], &LEAF_USAGES_CLIENT)?);
    for w in &inv.workers {
        let mut sans = vec![w.name.clone(), w.private_ip.to_string()];
        if cluster.kubelet_public_ip {
            if let Some(p) = w.public_ip {
                sans.push(p.to_string());
            }
        }
        certs.push(spec(Role::Kubelet, &w.name, &format!("system:node:{}", w.name), "system:nodes", dedup(sans), &LEAF_USAGES_SERVER)?);
    }
    certs.push(spec(Role::KubeProxy, "kube-proxy", "system:kube-proxy", "system:node-proxier", vec![], &LEAF_USAGES_CLIENT)?);
    certs.push(spec(
        Role::ControllerManager,
        "kube-controller-manager",
        "system:kube-controller-manager",
        "system:kube-controller-manager",
        vec![],
        &LEAF_USAGES_CLIENT,
    )?);
    certs.push(spec(Role::Scheduler, "kube-scheduler", "system:kube-scheduler", "system:kube-scheduler", vec![], &LEAF_USAGES_CLIENT)?);
    // The key pair signs service-account tokens; the certificate only carries it.
    certs.push(spec(Role::ServiceAccount, "service-account", "service-accounts", "Kubernetes", vec![], &["signing"])?);

    // Optional CAs, as kubeadm makes them (its subjects and usages; see
    // README "Separate etcd and front-proxy CAs"). Each signs only its own.
    let signed_by = |mut c: CertSpec, issuer: &str| {
        c.issuer = Some(issuer.to_string());
        c
    };
    if cluster.etcd_ca {
        let mut ca = spec(Role::EtcdCa, ETCD_CA_STEM, "etcd-ca", "", vec![], &["cert sign", "crl sign"])?;
        ca.validity_hours = cluster.ca_validity.whole_hours();
        certs.push(ca);
        // etcd runs on the masters; one server and one peer certificate
        // serve every member (each name and IP, and loopback for etcdctl).
        let mut sans: Vec<String> = inv.masters.iter().map(|m| m.private_ip.to_string()).collect();
        sans.extend(inv.masters.iter().map(|m| m.name.clone()));
        sans.extend(["127.0.0.1".to_string(), "::1".into(), "localhost".into()]);
        let sans = dedup(sans);
        certs.push(signed_by(spec(Role::EtcdServer, "etcd-server", "kube-etcd", "", sans.clone(), &LEAF_USAGES_SERVER)?, ETCD_CA_STEM));
        certs.push(signed_by(spec(Role::EtcdPeer, "etcd-peer", "kube-etcd-peer", "", sans, &LEAF_USAGES_SERVER)?, ETCD_CA_STEM));
        certs.push(signed_by(
            spec(Role::ApiserverEtcdClient, "apiserver-etcd-client", "kube-apiserver-etcd-client", "", vec![], &LEAF_USAGES_CLIENT)?,
            ETCD_CA_STEM,
        ));
    }
    if cluster.front_proxy_ca {
        let mut ca = spec(Role::FrontProxyCa, FRONT_PROXY_CA_STEM, "front-proxy-ca", "", vec![], &["cert sign", "crl sign"])?;
        ca.validity_hours = cluster.ca_validity.whole_hours();
        certs.push(ca);
        certs.push(signed_by(
            spec(Role::FrontProxyClient, "front-proxy-client", "front-proxy-client", "", vec![], &LEAF_USAGES_CLIENT)?,
            FRONT_PROXY_CA_STEM,
        ));
    }

    let public = format!("https://{}:6443", bracket(&inv.api_address));
    let local = "https://127.0.0.1:6443".to_string();
    let mut kubeconfigs: Vec<KubeconfigSpec> = inv
        .workers
        .iter()
        .map(|w| KubeconfigSpec {
            file: format!("{}.kubeconfig", w.name),
            stem: w.name.clone(),
            user: format!("system:node:{}", w.name),
            server: public.clone(),
        })
        .collect();
    for (stem, user, server) in [
        ("kube-proxy", "system:kube-proxy", &public),
        ("admin", "admin", &public),
        ("kube-controller-manager", "system:kube-controller-manager", &local),
        ("kube-scheduler", "system:kube-scheduler", &local),
    ] {
        kubeconfigs.push(KubeconfigSpec { file: format!("{stem}.kubeconfig"), stem: stem.into(), user: user.into(), server: server.clone() });
    }
    Ok(Plan { cluster: inv.cluster.clone(), certs, kubeconfigs, ca_key: None })
}

fn bracket(addr: &str) -> String {
    match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => format!("[{v6}]"),
        _ => addr.to_string(),
    }
}

fn dedup(v: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(v.len());
    for s in v {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_round_trip() {
        for r in [Role::Ca, Role::Apiserver, Role::KubeProxy, Role::ControllerManager, Role::ServiceAccount] {
            assert_eq!(r.to_string().parse::<Role>(), Ok(r));
        }
        assert_eq!(Role::KubeProxy.to_string(), "kube-proxy");
        assert!("kube_proxy".parse::<Role>().is_err());
    }

    fn seed_plan() -> Plan {
        let c = Cluster::default_seed();
        let inv = Inventory::from_config(&c).unwrap().0;
        plan(&c, &inv).unwrap()
    }

    #[test]
    fn apiserver_has_the_service_ip_and_every_name() {
        let p = seed_plan();
        let api = p.certs.iter().find(|c| c.role == Role::Apiserver).unwrap();
        for want in [
            "10.32.0.1",
            "172.31.0.10",
            "172.31.0.11",
            "172.31.0.12",
            "127.0.0.1",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster",
            "kubernetes.default.svc.cluster.local",
            "ip-172-31-0-10",
        ] {
            assert!(api.sans.iter().any(|s| s.to_string() == want), "missing {want}");
        }
        assert!(!api.sans.iter().any(|s| s.to_string() == "kubernetes.svc.cluster.local"), "the tutorial's wrong name");
    }

    #[test]
    fn roles_and_files() {
        let p = seed_plan();
        assert_eq!(p.certs.len(), 10);
        let kubelet = p.certs.iter().find(|c| c.stem == "ip-172-31-0-21").unwrap();
        assert_eq!(kubelet.cn, "system:node:ip-172-31-0-21");
        assert_eq!(kubelet.o, "system:nodes");
        assert_eq!(kubelet.sans.iter().map(|h| h.to_string()).collect::<Vec<_>>(), vec!["ip-172-31-0-21", "172.31.0.21"]);
        let admin = p.certs.iter().find(|c| c.role == Role::Admin).unwrap();
        assert_eq!(admin.o, "system:masters");
        assert_eq!(p.kubeconfigs.len(), 7);
        let cm = p.kubeconfigs.iter().find(|k| k.stem == "kube-controller-manager").unwrap();
        assert_eq!(cm.server, "https://127.0.0.1:6443");
        let proxy = p.kubeconfigs.iter().find(|k| k.stem == "kube-proxy").unwrap();
        assert_eq!(proxy.server, "https://172.31.0.10:6443");
        let ca = p.ca().unwrap();
        assert_eq!(ca.validity_hours, 87600);
    }

    #[test]
    fn plan_round_trips_through_json() {
        let p = seed_plan();
        let text = serde_json::to_string_pretty(&p).unwrap();
        let back: Plan = serde_json::from_str(&text).unwrap();
        assert_eq!(p, back);
    }
}
