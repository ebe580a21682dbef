//! The cfssl signing config (`ca-config.json`): profiles with usages and
//! expiry. Unlike cfssl, unknown usages, unknown profiles and bad expiries
//! are errors rather than silently ignored.

use std::collections::BTreeMap;

use rcgen::{ExtendedKeyUsagePurpose, KeyUsagePurpose};
use time::Duration;

use super::duration;
use super::json::{FieldError, Obj};

/// What a certificate may be used for: key usage bits and extended key
/// usages, parsed once from cfssl's usage names (kept for messages and
/// records). Serialised as the list of names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Usages {
    /// The keyUsage bits, in the order first named.
    pub key: Vec<KeyUsagePurpose>,
    /// The extendedKeyUsage purposes, in the order first named.
    pub ext: Vec<ExtendedKeyUsagePurpose>,
    names: Vec<String>,
}

/// A usage name cfssl does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown usage {name:?} (known: signing, digital signature, key encipherment, cert sign, crl sign, server auth, client auth, code signing, email protection, ...)")]
pub struct UsageError {
    /// Its position in the list.
    pub index: usize,
    /// The name as written.
    pub name: String,
}

impl Usages {
    /// Usages from cfssl's names (case-insensitive; see [`usage`]).
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Result<Self, UsageError> {
        let mut u = Usages::default();
        for (index, name) in names.iter().enumerate() {
            let name = name.as_ref();
            match usage(name).ok_or_else(|| UsageError { index, name: name.to_string() })? {
                Usage::Key(k) if !u.key.contains(&k) => u.key.push(k),
                Usage::Ext(e) if !u.ext.contains(&e) => u.ext.push(e),
                _ => {}
            }
            u.names.push(name.to_string());
        }
        Ok(u)
    }

    /// Usages read from a certificate (no names).
    pub fn from_parts(key: Vec<KeyUsagePurpose>, ext: Vec<ExtendedKeyUsagePurpose>) -> Self {
        Usages { key, ext, names: vec![] }
    }

    /// The names as written.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

impl serde::Serialize for Usages {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.names.serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Usages {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        Usages::from_names(&names).map_err(serde::de::Error::custom)
    }
}

/// Whether a profile issues CA certificates (`ca_constraint.is_ca`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CaConstraint {
    /// Leaf certificates (CA:FALSE).
    #[default]
    Leaf,
    /// Intermediate CAs, with an optional path length constraint.
    Ca {
        /// `max_path_len` (or 0 with `max_path_len_zero`); `None` is unconstrained.
        max_path_len: Option<u8>,
    },
}

/// One signing profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// What issued certificates may be used for.
    pub usages: Usages,
    /// How long issued certificates are valid.
    pub expiry: Duration,
    /// Whether issued certificates are CAs.
    pub ca: CaConstraint,
    /// cfssl's `name_whitelist`: every name a certificate carries (its CN,
    /// DNS and e-mail names; not IP addresses, as cfssl) must match.
    pub name_whitelist: Option<NameWhitelist>,
    /// cfssl's `auth_key`: the name of the key in `auth_keys` that
    /// authenticates requests to a server signing with this profile.
    pub auth_key: Option<String>,
    /// cfssl's `backdate`: how far NotBefore is set back (default five minutes).
    pub backdate: Option<Duration>,
    /// cfssl's `remote` (or `auth_remote.remote`): the name, in `remotes`,
    /// of the server that signs for this profile.
    pub remote: Option<String>,
}

/// A profile's `name_whitelist`: a regular expression in Go's RE2 syntax,
/// matched anywhere in a name unless anchored (`^...$`), as cfssl does.
#[derive(Debug, Clone)]
pub struct NameWhitelist(regex_lite::Regex);

impl NameWhitelist {
    /// Compiles the expression.
    pub fn new(pattern: &str) -> Result<Self, String> {
        regex_lite::Regex::new(pattern).map(NameWhitelist).map_err(|e| e.to_string())
    }
    /// Whether `name` is allowed.
    pub fn allows(&self, name: &str) -> bool {
        self.0.is_match(name)
    }
    /// The expression as written.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl PartialEq for NameWhitelist {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}
impl Eq for NameWhitelist {}

/// How an auth key's secret is given (cfssl's `auth_keys.<name>.key`): hex,
/// or read when used from `env:VAR` or `file:PATH`.
#[derive(Clone, PartialEq, Eq)]
pub enum AuthKeySource {
    /// The key itself (decoded from hex).
    Bytes(zeroize::Zeroizing<Vec<u8>>),
    /// An environment variable holding the hex key.
    Env(String),
    /// A file holding the hex key.
    File(String),
}

impl std::fmt::Debug for AuthKeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthKeySource::Bytes(b) => write!(f, "Bytes({} bytes, redacted)", b.len()),
            AuthKeySource::Env(v) => write!(f, "Env({v})"),
            AuthKeySource::File(p) => write!(f, "File({p})"),
        }
    }
}

/// Decodes an auth key's hex text (as in the config, an environment
/// variable or a file; surrounding white space ignored).
pub fn auth_key_from_hex(text: &str) -> Result<zeroize::Zeroizing<Vec<u8>>, String> {
    let t = text.trim();
    if t.is_empty() || !t.len().is_multiple_of(2) {
        return Err("is not an even number of hex digits".into());
    }
    let mut out = zeroize::Zeroizing::new(Vec::with_capacity(t.len() / 2));
    for pair in t.as_bytes().chunks(2) {
        let digit = |c: u8| (c as char).to_digit(16).ok_or_else(|| "is not hex".to_string());
        out.push((digit(pair[0])? * 16 + digit(pair[1])?) as u8);
    }
    Ok(out)
}

/// The longest validity kpki issues: 100 years.
pub const MAX_VALIDITY_HOURS: i64 = 100 * 8766;

/// The leaf expiry cfssl uses without a config: one year.
pub const DEFAULT_LEAF_EXPIRY_HOURS: i64 = 8760;
/// The CA expiry cfssl uses for `-initca` without `ca.expiry`: five years.
pub const DEFAULT_CA_EXPIRY_HOURS: i64 = 43800;

impl Profile {
    /// A profile for leaf certificates.
    pub fn leaf(usages: Usages, expiry: Duration) -> Self {
        Profile { usages, expiry, ca: CaConstraint::Leaf, name_whitelist: None, auth_key: None, backdate: None, remote: None }
    }

    /// cfssl's built-in default profile, used when no `-config` is given.
    pub fn cfssl_default() -> Self {
        let usages = Usages::from_names(&["signing", "key encipherment", "server auth", "client auth"]).unwrap_or_default();
        Self::leaf(usages, Duration::hours(DEFAULT_LEAF_EXPIRY_HOURS))
    }
}

/// A usage string mapped to an extension bit or an EKU.
enum Usage {
    Key(KeyUsagePurpose),
    Ext(ExtendedKeyUsagePurpose),
}

/// Maps one of cfssl's usage names to a key usage or an extended key usage.
fn usage(name: &str) -> Option<Usage> {
    use ExtendedKeyUsagePurpose as E;
    use KeyUsagePurpose as K;
    Some(match name.to_ascii_lowercase().as_str() {
        "signing" | "digital signature" => Usage::Key(K::DigitalSignature),
        "content commitment" => Usage::Key(K::ContentCommitment),
        "key encipherment" => Usage::Key(K::KeyEncipherment),
        "key agreement" => Usage::Key(K::KeyAgreement),
        "data encipherment" => Usage::Key(K::DataEncipherment),
        "cert sign" => Usage::Key(K::KeyCertSign),
        "crl sign" => Usage::Key(K::CrlSign),
        "encipher only" => Usage::Key(K::EncipherOnly),
        "decipher only" => Usage::Key(K::DecipherOnly),
        "any" => Usage::Ext(E::Any),
        "server auth" => Usage::Ext(E::ServerAuth),
        "client auth" => Usage::Ext(E::ClientAuth),
        "code signing" => Usage::Ext(E::CodeSigning),
        "email protection" | "s/mime" => Usage::Ext(E::EmailProtection),
        "timestamping" => Usage::Ext(E::TimeStamping),
        "ocsp signing" => Usage::Ext(E::OcspSigning),
        "ipsec end system" => Usage::Ext(E::Other(vec![1, 3, 6, 1, 5, 5, 7, 3, 5])),
        "ipsec tunnel" => Usage::Ext(E::Other(vec![1, 3, 6, 1, 5, 5, 7, 3, 6])),
        "ipsec user" => Usage::Ext(E::Other(vec![1, 3, 6, 1, 5, 5, 7, 3, 7])),
        "microsoft sgc" => Usage::Ext(E::Other(vec![1, 3, 6, 1, 4, 1, 311, 10, 3, 3])),
        "netscape sgc" => Usage::Ext(E::Other(vec![2, 16, 840, 1, 113730, 4, 1])),
        _ => return None,
    })
}

/// A profile name the signing config does not define.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("profile {name:?} is not in the config ({})", self.known_text())]
pub struct UnknownProfile {
    /// The name asked for.
    pub name: String,
    /// The profiles the config has.
    pub known: Vec<String>,
}

impl UnknownProfile {
    /// What the config has instead: `profiles: a, b`, or that it has none.
    pub fn known_text(&self) -> String {
        if self.known.is_empty() {
            "it has no profiles".into()
        } else {
            format!("profiles: {}", self.known.join(", "))
        }
    }
}

/// A signing config: a default profile and named profiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningConfig {
    /// The profile used without `-profile`.
    pub default: Profile,
    /// Named profiles.
    pub profiles: BTreeMap<String, Profile>,
    /// cfssl's `auth_keys`: named keys for authenticated requests (`serve`'s
    /// `authsign`); each profile's `auth_key` names one of them.
    pub auth_keys: BTreeMap<String, AuthKeySource>,
    /// cfssl's `remotes`: signing servers by name (`HOST:PORT` or a URL).
    pub remotes: BTreeMap<String, String>,
}

impl Default for SigningConfig {
    fn default() -> Self {
        SigningConfig { default: Profile::cfssl_default(), profiles: BTreeMap::new(), auth_keys: BTreeMap::new(), remotes: BTreeMap::new() }
    }
}

impl SigningConfig {
    /// Reads `ca-config.json` text.
    pub fn from_json(text: &[u8]) -> Result<Self, FieldError> {
        let value = super::json::parse(text)?;
        let top = Obj::new("", &value)?;
        top.only(&["signing", "auth_keys", "remotes"])?;
        let mut remotes = BTreeMap::new();
        if let Some(rs) = top.object("remotes")? {
            for (name, value) in rs.entries() {
                let addr = value.as_str().filter(|s| !s.trim().is_empty()).ok_or_else(|| FieldError::new(rs.child(name), "must be a server address (HOST:PORT or a URL)"))?;
                remotes.insert(name.clone(), addr.trim().to_string());
            }
        }
        let mut auth_keys = BTreeMap::new();
        if let Some(keys) = top.object("auth_keys")? {
            for (name, value) in keys.entries() {
                let k = Obj::new(&keys.child(name), value)?;
                k.only(&["type", "key"])?;
                match k.string("type")? {
                    Some("standard") => {}
                    Some(other) => return Err(FieldError::new(k.child("type"), format!("{other:?} is not a key type kpki knows (cfssl's is \"standard\": HMAC-SHA256)"))),
                    None => return Err(FieldError::new(k.child("type"), "is missing (cfssl's is \"standard\")")),
                }
                let text = k.string("key")?.ok_or_else(|| FieldError::new(k.child("key"), "is missing"))?;
                let source = if let Some(var) = text.strip_prefix("env:") {
                    AuthKeySource::Env(var.to_string())
                } else if let Some(path) = text.strip_prefix("file:") {
                    AuthKeySource::File(path.to_string())
                } else {
                    AuthKeySource::Bytes(auth_key_from_hex(text).map_err(|e| FieldError::new(k.child("key"), format!("{e} (a hex key, env:VAR or file:PATH)")))?)
                };
                auth_keys.insert(name.clone(), source);
            }
        }
        let signing = top
            .object("signing")?
            .ok_or_else(|| FieldError::new("signing", "is missing: a config needs {\"signing\": {\"default\": ..., \"profiles\": ...}}"))?;
        signing.only(&["default", "profiles"])?;
        let base = Profile::cfssl_default();
        let default = match signing.object("default")? {
            Some(d) => read_profile(&d, &base)?,
            None => base,
        };
        let mut profiles = BTreeMap::new();
        if let Some(ps) = signing.object("profiles")? {
            for (name, value) in ps.entries() {
                let obj = Obj::new(&ps.child(name), value)?;
                profiles.insert(name.clone(), read_profile(&obj, &default)?);
            }
        }
        let named = std::iter::once(("signing.default".to_string(), &default)).chain(profiles.iter().map(|(n, p)| (format!("signing.profiles.{n}"), p)));
        for (at, p) in named {
            if let Some(k) = &p.auth_key {
                if !auth_keys.contains_key(k) {
                    return Err(FieldError::new(format!("{at}.auth_key"), format!("{k:?} is not in auth_keys")));
                }
            }
            if let Some(r) = &p.remote {
                if !remotes.contains_key(r) {
                    return Err(FieldError::new(format!("{at}.remote"), format!("{r:?} is not in remotes")));
                }
            }
        }
        Ok(SigningConfig { default, profiles, auth_keys, remotes })
    }

    /// The named profile, or the default. An unknown name is an error (cfssl
    /// silently falls back to the default).
    pub fn profile(&self, name: Option<&str>) -> Result<&Profile, UnknownProfile> {
        match name {
            None | Some("") => Ok(&self.default),
            // The config's "default" section, named (unless a profile is called that).
            Some("default") if !self.profiles.contains_key("default") => Ok(&self.default),
            Some(n) => self
                .profiles
                .get(n)
                .ok_or_else(|| UnknownProfile { name: n.to_string(), known: self.profiles.keys().cloned().collect() }),
        }
    }
}

fn read_profile(obj: &Obj<'_>, inherit: &Profile) -> Result<Profile, FieldError> {
    obj.only(&["usages", "expiry", "ca_constraint", "name_whitelist", "backdate", "auth_key", "remote", "auth_remote"])?;
    let name_whitelist = match obj.string("name_whitelist")? {
        Some(re) => Some(NameWhitelist::new(re).map_err(|e| FieldError::new(obj.child("name_whitelist"), format!("is not a regular expression: {e}")))?),
        None => None,
    };
    let mut auth_key = obj.string("auth_key")?.filter(|k| !k.is_empty()).map(str::to_string);
    let mut remote = obj.string("remote")?.filter(|r| !r.is_empty()).map(str::to_string);
    // cfssl's client side: {"auth_remote": {"remote": NAME, "auth_key": KEY}}.
    if let Some(ar) = obj.object("auth_remote")? {
        ar.only(&["remote", "auth_key"])?;
        remote = Some(ar.string("remote")?.filter(|r| !r.is_empty()).ok_or_else(|| FieldError::new(ar.child("remote"), "is missing"))?.to_string());
        auth_key = Some(ar.string("auth_key")?.filter(|k| !k.is_empty()).ok_or_else(|| FieldError::new(ar.child("auth_key"), "is missing"))?.to_string());
    }
    let backdate = match obj.string("backdate")? {
        Some(s) => Some(duration::parse(s).map_err(|e| FieldError::new(obj.child("backdate"), e.to_string()))?),
        None => None,
    };
    let expiry = match obj.string("expiry")? {
        Some(s) => duration::parse(s).map_err(|e| FieldError::new(obj.child("expiry"), e.to_string()))?,
        None => inherit.expiry,
    };
    let usages = match obj.strings("usages")? {
        Some(list) => Usages::from_names(&list).map_err(|e| FieldError::new(format!("{}[{}]", obj.child("usages"), e.index), e.to_string()))?,
        None => inherit.usages.clone(),
    };
    if usages.names().is_empty() {
        return Err(FieldError::new(obj.child("usages"), "is empty: a profile needs at least one usage"));
    }
    let mut profile = Profile::leaf(usages, expiry);
    profile.name_whitelist = name_whitelist;
    profile.auth_key = auth_key;
    profile.remote = remote;
    if let Some(b) = backdate {
        if b >= profile.expiry {
            return Err(FieldError::new(obj.child("backdate"), "is not shorter than expiry: every certificate would be expired when issued"));
        }
    }
    profile.backdate = backdate;
    if let Some(cc) = obj.object("ca_constraint")? {
        cc.only(&["is_ca", "max_path_len", "max_path_len_zero"])?;
        if cc.boolean("is_ca")?.unwrap_or(false) {
            let len = cc.uint("max_path_len")?.unwrap_or(0);
            let zero = cc.boolean("max_path_len_zero")?.unwrap_or(false);
            let path_len = if len > 0 {
                Some(u8::try_from(len).map_err(|_| FieldError::new(cc.child("max_path_len"), "must be at most 255"))?)
            } else if zero {
                Some(0)
            } else {
                None
            };
            if !profile.usages.key.contains(&KeyUsagePurpose::KeyCertSign) {
                return Err(FieldError::new(
                    obj.child("usages"),
                    "a profile with ca_constraint.is_ca needs the \"cert sign\" usage",
                ));
            }
            profile.ca = CaConstraint::Ca { max_path_len: path_len };
        }
    }
    Ok(profile)
}

/// The JSON that `print-defaults config` prints (cfssl's, byte for byte).
pub const DEFAULT_CONFIG_JSON: &str = r#"{
    "signing": {
        "default": {
            "expiry": "168h"
        },
        "profiles": {
            "www": {
                "expiry": "8760h",
                "usages": [
                    "signing",
                    "key encipherment",
                    "server auth"
                ]
            },
            "client": {
                "expiry": "8760h",
                "usages": [
                    "signing",
                    "key encipherment",
                    "client auth"
                ]
            }
        }
    }
}
"#;

/// The JSON that `print-defaults csr` prints (cfssl's, byte for byte).
pub const DEFAULT_CSR_JSON: &str = r#"{
    "CN": "example.net",
    "hosts": [
        "example.net",
        "www.example.net"
    ],
    "key": {
        "algo": "ecdsa",
        "size": 256
    },
    "names": [
        {
            "C": "US",
            "ST": "CA",
            "L": "San Francisco"
        }
    ]
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    const TUTORIAL: &str = r#"{"signing":{"default":{"expiry":"8760h"},"profiles":{"kubernetes":{"usages":["signing","key encipherment","server auth","client auth"],"expiry":"8760h"}}}}"#;

    #[test]
    fn tutorial_config() {
        let c = SigningConfig::from_json(TUTORIAL.as_bytes()).unwrap();
        let p = c.profile(Some("kubernetes")).unwrap();
        assert_eq!(p.usages.key, vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment]);
        assert_eq!(p.usages.ext, vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth]);
        assert_eq!(p.expiry, Duration::hours(8760));
        assert!(c.profile(Some("kubernete")).unwrap_err().to_string().contains("kubernetes"));
        // "default" names the default section, unless a profile has that name.
        assert!(std::ptr::eq(c.profile(Some("default")).unwrap(), c.profile(None).unwrap()));
        let named = SigningConfig::from_json(br#"{"signing":{"default":{"expiry":"1h"},"profiles":{"default":{"expiry":"2h"}}}}"#).unwrap();
        assert_eq!(named.profile(Some("default")).unwrap().expiry, Duration::hours(2));
    }

    #[test]
    fn defaults_parse() {
        let c = SigningConfig::from_json(DEFAULT_CONFIG_JSON.as_bytes()).unwrap();
        assert_eq!(c.default.expiry, Duration::hours(168));
        assert_eq!(c.profiles.len(), 2);
    }

    #[test]
    fn errors_name_the_field() {
        let e = SigningConfig::from_json(br#"{"signing":{"profiles":{"k":{"usages":["signing","server auht"]}}}}"#).unwrap_err();
        assert_eq!(e.field, "signing.profiles.k.usages[1]");
        let e = SigningConfig::from_json(br#"{"signing":{"profiles":{"k":{"usages":["signing"],"expiry":"-1h"}}}}"#).unwrap_err();
        assert_eq!(e.field, "signing.profiles.k.expiry");
        let e = SigningConfig::from_json(br#"{"signing":{"default":{"expiry":"x"}}}"#).unwrap_err();
        assert_eq!(e.field, "signing.default.expiry");
    }

    #[test]
    fn days_are_accepted() {
        let c = SigningConfig::from_json(br#"{"signing":{"default":{"expiry":"365d"}}}"#).unwrap();
        assert_eq!(c.default.expiry, Duration::days(365));
    }
}
