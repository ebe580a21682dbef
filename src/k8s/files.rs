//! The text files of the set: kubeconfigs (certificates embedded, as
//! `kubectl config ... --embed-certs` writes them) and the encryption-at-rest
//! config. Both are typed structs written and read through serde and a YAML
//! library (serde-saphyr), never by formatting or scanning lines, so what
//! `verify` reads is what kube-apiserver and kubectl read.

use base64::Engine;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Unmodelled fields of a YAML mapping.
pub type Extra = std::collections::BTreeMap<String, serde_json::Value>;

/// A kubeconfig (`clientcmd/v1` `Config`): the fields kpki writes and reads.
/// Unknown fields are ignored on reading, as kubectl does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kubeconfig {
    /// `v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// `Config`.
    pub kind: String,
    /// The clusters (API servers and their CAs).
    #[serde(default)]
    pub clusters: Vec<NamedCluster>,
    /// The contexts (cluster + user pairs).
    #[serde(default)]
    pub contexts: Vec<NamedContext>,
    /// The context in use.
    #[serde(rename = "current-context", default)]
    pub current_context: String,
    /// kubectl's preferences (empty).
    #[serde(default)]
    pub preferences: Preferences,
    /// The users (client credentials).
    #[serde(default)]
    pub users: Vec<NamedUser>,
    /// Fields kpki does not model, kept as they are when a file is rewritten.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `preferences: {}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Preferences {}

/// A named cluster entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedCluster {
    /// The entry's name.
    pub name: String,
    /// The cluster.
    pub cluster: ClusterEntry,
    /// Fields kpki does not model, kept as they are when a file is rewritten.
    #[serde(flatten)]
    pub extra: Extra,
}

/// An API server and the CA that signs its certificate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterEntry {
    /// The API server's URL.
    pub server: String,
    /// The CA certificate, base64 PEM.
    #[serde(rename = "certificate-authority-data", default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority_data: Option<String>,
    /// Fields kpki does not model, kept as they are when a file is rewritten.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A named context entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedContext {
    /// The entry's name.
    pub name: String,
    /// The context.
    pub context: ContextEntry,
    /// Fields kpki does not model, kept as they are when a file is rewritten.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A cluster and a user, by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextEntry {
    /// The cluster entry's name.
    pub cluster: String,
    /// The user entry's name.
    pub user: String,
    /// Fields kpki does not model, kept as they are when a file is rewritten.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A named user entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedUser {
    /// The entry's name.
    pub name: String,
    /// The credentials.
    pub user: UserEntry,
    /// Fields kpki does not model, kept as they are when a file is rewritten.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Client credentials: a certificate and its key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserEntry {
    /// The client certificate, base64 PEM.
    #[serde(rename = "client-certificate-data", default, skip_serializing_if = "Option::is_none")]
    pub client_certificate_data: Option<String>,
    /// The client key, base64 PEM.
    #[serde(rename = "client-key-data", default, skip_serializing_if = "Option::is_none")]
    pub client_key_data: Option<String>,
    /// Fields kpki does not model, kept as they are when a file is rewritten.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Drop for UserEntry {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        if let Some(k) = self.client_key_data.as_mut() {
            k.zeroize();
        }
    }
}

/// Why a kubeconfig or encryption config could not be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The file is not UTF-8.
    #[error("it is not UTF-8 text")]
    NotUtf8,
    /// The YAML does not parse as this kind of file.
    #[error("it is not valid YAML for {what}: {message}")]
    Yaml {
        /// What kind of file it was read as.
        what: &'static str,
        /// The parser's message.
        message: String,
    },
}

fn parse_yaml<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &'static str) -> Result<T, ReadError> {
    let text = yaml_text(bytes, what)?;
    serde_saphyr::from_str(text).map_err(|e| ReadError::Yaml { what, message: yaml_message(&e.to_string()) })
}

/// The text of a YAML file, refusing what Kubernetes' YAML reader (go-yaml,
/// after libyaml) rejects but a more lenient parser might accept: a tab in a
/// line's indentation ("found character that cannot start any token").
fn yaml_text<'a>(bytes: &'a [u8], what: &'static str) -> Result<&'a str, ReadError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ReadError::NotUtf8)?;
    if let Some((i, _)) = text.lines().enumerate().find(|(_, l)| l.chars().take_while(|c| c.is_whitespace()).any(|c| c == '\t')) {
        return Err(ReadError::Yaml { what, message: format!("line {}: a tab in the indentation (kubectl and kube-apiserver reject tabs there)", i + 1) });
    }
    Ok(text)
}

/// A YAML error as one line: its first line (the rest is a source snippet),
/// without the parser's own prefix or advice about its options.
fn yaml_message(text: &str) -> String {
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("unreadable").trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let first = first.split(", set DuplicateKeyPolicy").next().unwrap_or(first);
    crate::pki::json::shown_max(first, 300)
}

/// YAML text of any serialisable value, through the same writer.
pub fn yaml_of<T: Serialize>(value: &T) -> Zeroizing<String> {
    to_yaml(value)
}

fn to_yaml<T: Serialize>(value: &T) -> Zeroizing<String> {
    // Serialising these plain structs cannot fail (no maps with non-string
    // keys, no non-finite floats); an empty file would be caught by verify.
    Zeroizing::new(serde_saphyr::to_string(value).unwrap_or_default())
}

/// What a kubeconfig's current context points at, decoded.
pub struct KubeconfigView {
    /// The API server's URL.
    pub server: String,
    /// The embedded CA PEM.
    pub ca: Option<Vec<u8>>,
    /// The embedded client certificate PEM.
    pub cert: Option<Vec<u8>>,
    /// The embedded client key PEM.
    pub key: Option<Zeroizing<Vec<u8>>>,
    /// The user name of the current context.
    pub user: String,
}

impl Kubeconfig {
    /// The same kubeconfig with its one context named `name` (kubeadm
    /// names it `<user>@<cluster>`).
    pub fn with_context_name(mut self, name: &str) -> Self {
        for c in &mut self.contexts {
            c.name = name.to_string();
        }
        self.current_context = name.to_string();
        self
    }

    /// A kubeconfig with one cluster, one user and the context `default`.
    pub fn new(cluster: &str, server: &str, ca_pem: &str, user: &str, cert_pem: &str, key_pem: &str) -> Self {
        Kubeconfig {
            api_version: "v1".into(),
            kind: "Config".into(),
            clusters: vec![NamedCluster {
                name: cluster.into(),
                cluster: ClusterEntry { server: server.into(), certificate_authority_data: Some(B64.encode(ca_pem)), extra: Extra::new() },
                extra: Extra::new(),
            }],
            contexts: vec![NamedContext {
                name: "default".into(),
                context: ContextEntry { cluster: cluster.into(), user: user.into(), extra: Extra::new() },
                extra: Extra::new(),
            }],
            current_context: "default".into(),
            preferences: Preferences {},
            users: vec![NamedUser {
                name: user.into(),
                user: UserEntry {
                    client_certificate_data: Some(B64.encode(cert_pem)),
                    client_key_data: Some(B64.encode(key_pem)),
                    extra: Extra::new(),
                },
                extra: Extra::new(),
            }],
            extra: Extra::new(),
        }
    }

    /// The YAML text.
    pub fn to_yaml(&self) -> Zeroizing<String> {
        to_yaml(self)
    }

    /// Reads kubeconfig YAML.
    pub fn from_yaml(bytes: &[u8]) -> Result<Self, ReadError> {
        parse_yaml(bytes, "a kubeconfig")
    }

    /// Replaces embedded data equal to `old` (a certificate, key or CA in
    /// PEM) with `new`, in every cluster and user; whether anything changed.
    pub fn replace_embedded(&mut self, old: &[u8], new: &[u8]) -> bool {
        let mut changed = false;
        let mut swap = |field: &mut Option<String>| {
            if field.as_ref().and_then(|v| B64.decode(v.trim()).ok()).is_some_and(|d| d == old) {
                *field = Some(B64.encode(new));
                changed = true;
            }
        };
        for c in &mut self.clusters {
            swap(&mut c.cluster.certificate_authority_data);
        }
        for u in &mut self.users {
            swap(&mut u.user.client_certificate_data);
            swap(&mut u.user.client_key_data);
        }
        changed
    }

    /// The cluster and user of the current context, with their data decoded.
    pub fn current(&self) -> Result<KubeconfigView, ContextError> {
        if self.api_version != "v1" || self.kind != "Config" {
            return Err(ContextError::Kind { api_version: self.api_version.clone(), kind: self.kind.clone() });
        }
        let ctx = self
            .contexts
            .iter()
            .find(|c| c.name == self.current_context)
            .ok_or_else(|| ContextError::NoContext(self.current_context.clone()))?;
        let cluster = self
            .clusters
            .iter()
            .find(|c| c.name == ctx.context.cluster)
            .ok_or_else(|| ContextError::NoCluster(ctx.context.cluster.clone()))?;
        let user = self.users.iter().find(|u| u.name == ctx.context.user).ok_or_else(|| ContextError::NoUser(ctx.context.user.clone()))?;
        let decode = |field: &'static str, v: &Option<String>| -> Result<Option<Vec<u8>>, ContextError> {
            v.as_ref().map(|s| B64.decode(s.trim()).map_err(|_| ContextError::NotBase64(field))).transpose()
        };
        Ok(KubeconfigView {
            server: cluster.cluster.server.clone(),
            ca: decode("certificate-authority-data", &cluster.cluster.certificate_authority_data)?,
            cert: decode("client-certificate-data", &user.user.client_certificate_data)?,
            key: decode("client-key-data", &user.user.client_key_data)?.map(Zeroizing::new),
            user: user.name.clone(),
        })
    }
}

/// Why a kubeconfig's current context cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    /// Not a `v1` `Config`.
    #[error("it is apiVersion {api_version:?} kind {kind:?}, not v1 Config")]
    Kind {
        /// The apiVersion found.
        api_version: String,
        /// The kind found.
        kind: String,
    },
    /// The current-context names no context.
    #[error("its current-context {0:?} is not one of its contexts")]
    NoContext(String),
    /// The context names a cluster that is not there.
    #[error("its context names cluster {0:?}, which it does not have")]
    NoCluster(String),
    /// The context names a user that is not there.
    #[error("its context names user {0:?}, which it does not have")]
    NoUser(String),
    /// An embedded PEM that is not base64.
    #[error("its {0} is not base64")]
    NotBase64(&'static str),
}

/// Size of an aescbc key: AES-256. The tutorial's `head -c 64` makes a key
/// kube-apiserver rejects.
pub const AESCBC_KEY_LEN: usize = 32;

/// An `EncryptionConfiguration` (`apiserver.config.k8s.io/v1`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncryptionConfiguration {
    /// `EncryptionConfiguration`.
    pub kind: String,
    /// `apiserver.config.k8s.io/v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// Which resources are encrypted how.
    pub resources: Vec<ResourceConfig>,
}

/// Resources and their providers, first one writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceConfig {
    /// Resource names (`secrets`).
    pub resources: Vec<String>,
    /// Providers, in order.
    pub providers: Vec<ProviderConfig>,
}

/// One provider entry: exactly one of its fields is set. Providers kpki does
/// not write (aesgcm, secretbox, kms) are read so that `verify` can say which
/// one comes first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProviderConfig {
    /// AES-CBC with PKCS#7 padding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aescbc: Option<KeysConfig>,
    /// AES-GCM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aesgcm: Option<KeysConfig>,
    /// XSalsa20-Poly1305.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secretbox: Option<KeysConfig>,
    /// A KMS plugin (kept as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms: Option<serde_json::Value>,
    /// No encryption (reads unencrypted data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Empty>,
}

/// `{}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Empty {}

/// A provider's keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeysConfig {
    /// The keys; the first one encrypts.
    pub keys: Vec<KeyConfig>,
}

/// One key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyConfig {
    /// The key's name.
    pub name: String,
    /// The key, base64.
    pub secret: String,
}

impl Drop for KeyConfig {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.secret.zeroize();
    }
}

/// Why an existing encryption config is not usable.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncryptionConfigError {
    /// The file does not parse.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The retired `EncryptionConfig` kind.
    #[error("it is the retired kind EncryptionConfig, which current kube-apiservers do not read; it must be kind EncryptionConfiguration, apiVersion apiserver.config.k8s.io/v1")]
    RetiredKind,
    /// Not an `EncryptionConfiguration`.
    #[error("it is kind {kind}, apiVersion {api_version}; it must be kind EncryptionConfiguration, apiVersion apiserver.config.k8s.io/v1")]
    Kind {
        /// The kind found.
        kind: String,
        /// The apiVersion found.
        api_version: String,
    },
    /// A key without a name, or two with one name.
    #[error("an aescbc key has an empty name, or two keys share a name (kube-apiserver refuses both)")]
    KeyName,
    /// No provider for secrets.
    #[error("it does not cover secrets")]
    NoSecrets,
    /// No aescbc key for secrets.
    #[error("its first provider for secrets is not aescbc with a key, so secrets would not be encrypted with kpki's key")]
    NoSecret,
    /// A key that is not base64.
    #[error("its aescbc key {0:?} is not base64")]
    NotBase64(String),
    /// A key that is not 32 bytes.
    #[error("its aescbc key is {0} bytes; aescbc needs exactly 32 (the tutorial's `head -c 64` key is rejected by kube-apiserver)")]
    KeyLength(usize),
}

impl EncryptionConfiguration {
    /// The config for `secrets`: aescbc with `key1`, then identity so
    /// existing plain secrets stay readable.
    pub fn new(key: &[u8; AESCBC_KEY_LEN]) -> Self {
        EncryptionConfiguration {
            kind: "EncryptionConfiguration".into(),
            api_version: "apiserver.config.k8s.io/v1".into(),
            resources: vec![ResourceConfig {
                resources: vec!["secrets".into()],
                providers: vec![
                    ProviderConfig {
                        aescbc: Some(KeysConfig { keys: vec![KeyConfig { name: "key1".into(), secret: B64.encode(key) }] }),
                        ..Default::default()
                    },
                    ProviderConfig { identity: Some(Empty {}), ..Default::default() },
                ],
            }],
        }
    }

    /// The YAML text.
    pub fn to_yaml(&self) -> Zeroizing<String> {
        to_yaml(self)
    }

    /// Reads and checks an encryption config: secrets are encrypted first by
    /// aescbc, whose every key is 32 bytes. Returns the first key.
    pub fn check(bytes: &[u8]) -> Result<Zeroizing<Vec<u8>>, EncryptionConfigError> {
        let text = yaml_text(bytes, "an EncryptionConfiguration")?;
        // The kind first, so a retired EncryptionConfig gets its own message.
        #[derive(Deserialize)]
        struct Head {
            kind: Option<String>,
            #[serde(rename = "apiVersion")]
            api_version: Option<String>,
        }
        let head: Head = serde_saphyr::from_str(text).map_err(|e| ReadError::Yaml { what: "an EncryptionConfiguration", message: yaml_message(&e.to_string()) })?;
        if head.kind.as_deref() == Some("EncryptionConfig") {
            return Err(EncryptionConfigError::RetiredKind);
        }
        if head.kind.as_deref() != Some("EncryptionConfiguration") || head.api_version.as_deref() != Some("apiserver.config.k8s.io/v1") {
            let shown = |v: Option<String>| crate::pki::json::shown_max(&v.unwrap_or_else(|| "(none)".into()), 60);
            return Err(EncryptionConfigError::Kind { kind: shown(head.kind), api_version: shown(head.api_version) });
        }
        let cfg: EncryptionConfiguration = parse_yaml(bytes, "an EncryptionConfiguration")?;
        let rc = cfg.resources.iter().find(|r| r.resources.iter().any(|x| x == "secrets")).ok_or(EncryptionConfigError::NoSecrets)?;
        let keys = rc.providers.first().and_then(|p| p.aescbc.as_ref()).filter(|k| !k.keys.is_empty()).ok_or(EncryptionConfigError::NoSecret)?;
        let mut seen = std::collections::BTreeSet::new();
        if keys.keys.iter().any(|k| k.name.trim().is_empty() || !seen.insert(k.name.as_str())) {
            return Err(EncryptionConfigError::KeyName);
        }
        let mut first = None;
        for k in &keys.keys {
            let key = Zeroizing::new(B64.decode(k.secret.trim()).map_err(|_| EncryptionConfigError::NotBase64(k.name.clone()))?);
            if key.len() != AESCBC_KEY_LEN {
                return Err(EncryptionConfigError::KeyLength(key.len()));
            }
            first.get_or_insert(key);
        }
        first.ok_or(EncryptionConfigError::NoSecret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encryption_config_round_trip() {
        let text = EncryptionConfiguration::new(&[7u8; 32]).to_yaml();
        assert_eq!(EncryptionConfiguration::check(text.as_bytes()).unwrap().as_slice(), &[7u8; 32]);
        let tutorial = text.replace(&B64.encode([7u8; 32]), &B64.encode([7u8; 64]));
        assert_eq!(EncryptionConfiguration::check(tutorial.as_bytes()), Err(EncryptionConfigError::KeyLength(64)));
        let old = text.replace("kind: EncryptionConfiguration", "kind: EncryptionConfig");
        assert_eq!(EncryptionConfiguration::check(old.as_bytes()), Err(EncryptionConfigError::RetiredKind));
        let beta = text.replace("apiserver.config.k8s.io/v1", "apiserver.config.k8s.io/v1beta1");
        assert!(matches!(EncryptionConfiguration::check(beta.as_bytes()), Err(EncryptionConfigError::Kind { .. })));
        let unnamed = text.replace("name: key1", "name: ''");
        assert_eq!(EncryptionConfiguration::check(unnamed.as_bytes()), Err(EncryptionConfigError::KeyName));
        let tab = ["\t\n", text.as_str()].concat();
        assert!(matches!(EncryptionConfiguration::check(tab.as_bytes()), Err(EncryptionConfigError::Read(ReadError::Yaml { .. }))));
    }

    #[test]
    fn the_defect_that_line_scanning_missed_is_caught() {
        // The text main wrote before: `secret:` lost its indentation, so the
        // YAML does not parse; a line scanner found "secret: ..." and said ok.
        let broken = "kind: EncryptionConfiguration\napiVersion: apiserver.config.k8s.io/v1\nresources:\n  - resources:\n      - secrets\n    providers:\n      - aescbc:\n          keys:\n            - name: key1\nsecret: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n      - identity: {}\n";
        assert!(matches!(EncryptionConfiguration::check(broken.as_bytes()), Err(EncryptionConfigError::Read(ReadError::Yaml { .. }))));
        assert!(matches!(EncryptionConfiguration::check(b"\xff\xfe"), Err(EncryptionConfigError::Read(ReadError::NotUtf8))));
        let identity_first = "kind: EncryptionConfiguration\napiVersion: apiserver.config.k8s.io/v1\nresources:\n- resources: [secrets]\n  providers:\n  - identity: {}\n";
        assert_eq!(EncryptionConfiguration::check(identity_first.as_bytes()), Err(EncryptionConfigError::NoSecret));
    }

    #[test]
    fn kubeconfig_round_trip_and_yaml_1_1_booleans_stay_strings() {
        let k = Kubeconfig::new("on", "https://1.2.3.4:6443", "CA", "no", "CERT", "KEY");
        let text = k.to_yaml();
        // go-yaml v2 (YAML 1.1) reads bare on/no as booleans.
        assert!(!text.lines().any(|l| l.trim_end().ends_with(": on") || l.trim_end().ends_with(": no")), "{}", text.as_str());
        let back = Kubeconfig::from_yaml(text.as_bytes()).unwrap();
        assert_eq!(back, k);
        let v = back.current().unwrap();
        assert_eq!(v.cert.unwrap(), b"CERT");
        assert_eq!(v.ca.unwrap(), b"CA");
        assert_eq!(v.key.unwrap().as_slice(), b"KEY");
        assert_eq!(v.server, "https://1.2.3.4:6443");
        assert_eq!(v.user, "no");
    }
}
