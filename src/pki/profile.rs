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
        Profile { usages, expiry, ca: CaConstraint::Leaf }
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
}

impl Default for SigningConfig {
    fn default() -> Self {
        SigningConfig { default: Profile::cfssl_default(), profiles: BTreeMap::new() }
    }
}

impl SigningConfig {
    /// Reads `ca-config.json` text.
    pub fn from_json(text: &[u8]) -> Result<Self, FieldError> {
        let value = super::json::parse(text)?;
        let top = Obj::new("", &value)?;
        top.only(&["signing", "auth_keys", "remotes"])?;
        if top.get("auth_keys").is_some() || top.get("remotes").is_some() {
            return Err(FieldError::new(
                "auth_keys",
                "remote signing and authenticated requests are cfssl server features kpki does not have; remove them",
            ));
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
        Ok(SigningConfig { default, profiles })
    }

    /// The named profile, or the default. An unknown name is an error (cfssl
    /// silently falls back to the default).
    pub fn profile(&self, name: Option<&str>) -> Result<&Profile, UnknownProfile> {
        match name {
            None | Some("") => Ok(&self.default),
            Some(n) => self
                .profiles
                .get(n)
                .ok_or_else(|| UnknownProfile { name: n.to_string(), known: self.profiles.keys().cloned().collect() }),
        }
    }
}

fn read_profile(obj: &Obj<'_>, inherit: &Profile) -> Result<Profile, FieldError> {
    obj.only(&["usages", "expiry", "ca_constraint", "name_whitelist", "backdate"])?;
    if obj.get("name_whitelist").is_some() {
        return Err(FieldError::new(obj.child("name_whitelist"), "is not supported by kpki; remove it"));
    }
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
