//! A user of the cluster (`kpki kubeconfig user`): a client certificate
//! (`CN=<name>`, `O=<group>`, as the API server maps them to a user and a
//! group) from the set's CA, embedded in a kubeconfig that points at the
//! set's API address.

use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use super::files::Kubeconfig;
use super::plan::Plan;
use crate::model::file::is_member_name;
use crate::pki::issue::{self, Ca, CertPlan, SubjectKey, Validity};
use crate::pki::key::{pem_encode, KeyAlgo, KeyFormat, PrivateKey};
use crate::pki::profile::{Profile, Usages};
use crate::pki::request::Subject;

/// Who to issue for.
#[derive(Debug, Clone)]
pub struct UserSpec {
    /// The user name (the certificate's CN).
    pub name: String,
    /// The group (the certificate's O), if any.
    pub group: Option<String>,
    /// How long the certificate is valid (clamped to the CA's end).
    pub expiry: Duration,
    /// The key's algorithm.
    pub key_algo: KeyAlgo,
}

/// Why no user kubeconfig was made.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// A name or group that cannot be a certificate subject or a file name.
    #[error("{0}")]
    Invalid(String),
    /// Issuing failed.
    #[error(transparent)]
    Issue(#[from] issue::IssueError),
    /// Making the key failed.
    #[error(transparent)]
    Key(#[from] crate::pki::key::KeyError),
}

/// The file a user's kubeconfig gets in the set's directory, refused when
/// it is a file of the plan (a user named `admin` must not replace
/// `admin.kubeconfig`) or not a plain file name.
pub fn file_name(plan: Option<&Plan>, name: &str) -> Result<String, UserError> {
    let file = format!("{name}.kubeconfig");
    if !is_member_name(&file) || name.starts_with('.') {
        return Err(UserError::Invalid(format!("--name {}: cannot name a file in the directory; pass --out FILE", crate::pki::json::shown(name))));
    }
    if let Some(p) = plan {
        if p.kubeconfigs.iter().any(|k| k.file == file) {
            return Err(UserError::Invalid(format!("{file} is one of the set's own kubeconfigs; choose another --name or pass --out FILE")));
        }
    }
    Ok(file)
}

/// Issues the user's certificate and renders the kubeconfig (mode 0600 content).
pub fn kubeconfig(ca: &Ca, cluster: &str, server: &str, user: &UserSpec, now: OffsetDateTime) -> Result<(Zeroizing<String>, Vec<String>), UserError> {
    let subject = Subject { cn: Some(user.name.clone()), o: user.group.clone(), ..Default::default() };
    subject.check(|f| if f == "CN" { "--name".into() } else if f == "O" { "--group".into() } else { f.to_string() }).map_err(|e| UserError::Invalid(format!("{}: {}", e.field, e.message)))?;
    let key = PrivateKey::generate(user.key_algo)?;
    let usages = Usages::from_names(&["signing", "key encipherment", "client auth"]).map_err(|e| UserError::Invalid(e.to_string()))?;
    let profile = Profile::leaf(usages, user.expiry);
    let plan = CertPlan { subject: subject.to_dn(), sans: vec![], validity: Validity::cfssl(now, user.expiry) };
    let issued = issue::sign(&plan, &SubjectKey::of(&key), &profile, ca)?;
    let cert_pem = pem_encode("CERTIFICATE", &issued.der);
    let ca_pem = pem_encode("CERTIFICATE", ca.cert_der());
    let key_pem = key.to_pem(KeyFormat::Cfssl)?;
    let text = Kubeconfig::new(cluster, server, &ca_pem, &user.name, &cert_pem, &key_pem).to_yaml();
    Ok((text, issued.warnings))
}
