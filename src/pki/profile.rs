//! The cfssl signing config (`ca-config.json`): profiles with usages and
//! expiry. Unlike cfssl, unknown usages, unknown profiles and bad expiries
//! are errors rather than silently ignored.

use std::collections::BTreeMap;

use rcgen::{ExtendedKeyUsagePurpose, KeyUsagePurpose};
use time::Duration;

use super::duration;
use super::json::{FieldError, Obj};

/// One signing profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub key_usages: Vec<KeyUsagePurpose>,
    pub ext_key_usages: Vec<ExtendedKeyUsagePurpose>,
    pub expiry: Duration,
    /// Set when the profile issues intermediate CAs (`ca_constraint.is_ca`).
    pub ca: Option<Option<u8>>,
    /// The usage strings as written, for messages and `print-defaults`.
    pub usage_names: Vec<String>,
}

/// The leaf expiry cfssl uses without a config: one year.
pub const DEFAULT_LEAF_EXPIRY_HOURS: i64 = 8760;
/// The CA expiry cfssl uses for `-initca` without `ca.expiry`: five years.
pub const DEFAULT_CA_EXPIRY_HOURS: i64 = 43800;

impl Profile {
    /// cfssl's built-in default profile, used when no `-config` is given.
    pub fn cfssl_default() -> Self {
        let usages = ["signing", "key encipherment", "server auth", "client auth"];
        Self::from_usages(&usages, Duration::hours(DEFAULT_LEAF_EXPIRY_HOURS)).unwrap_or_else(|_| unreachable!())
    }

    /// A profile from usage names (see [`usage`]).
    pub fn from_usages(names: &[&str], expiry: Duration) -> Result<Self, String> {
        let mut p = Profile { key_usages: vec![], ext_key_usages: vec![], expiry, ca: None, usage_names: vec![] };
        for name in names {
            match usage(name)? {
                Usage::Key(k) => {
                    if !p.key_usages.contains(&k) {
                        p.key_usages.push(k)
                    }
                }
                Usage::Ext(e) => {
                    if !p.ext_key_usages.contains(&e) {
                        p.ext_key_usages.push(e)
                    }
                }
            }
            p.usage_names.push(name.to_string());
        }
        Ok(p)
    }
}

/// A usage string mapped to an extension bit or an EKU.
pub enum Usage {
    Key(KeyUsagePurpose),
    Ext(ExtendedKeyUsagePurpose),
}

/// Maps cfssl's usage names to key usages and extended key usages.
pub fn usage(name: &str) -> Result<Usage, String> {
    use ExtendedKeyUsagePurpose as E;
    use KeyUsagePurpose as K;
    Ok(match name.to_ascii_lowercase().as_str() {
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
        _ => {
            return Err(format!(
                "unknown usage {name:?} (known: signing, digital signature, key encipherment, cert sign, crl sign, server auth, client auth, code signing, email protection, ...)"
            ))
        }
    })
}

/// A signing config: a default profile and named profiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningConfig {
    pub default: Profile,
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
    pub fn profile(&self, name: Option<&str>) -> Result<&Profile, String> {
        match name {
            None | Some("") => Ok(&self.default),
            Some(n) => self.profiles.get(n).ok_or_else(|| {
                let known: Vec<&str> = self.profiles.keys().map(String::as_str).collect();
                if known.is_empty() {
                    format!("profile {n:?} is not in the config (it has no profiles)")
                } else {
                    format!("profile {n:?} is not in the config (profiles: {})", known.join(", "))
                }
            }),
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
    let names = match obj.strings("usages")? {
        Some(list) => list,
        None => inherit.usage_names.iter().map(String::as_str).collect(),
    };
    if names.is_empty() {
        return Err(FieldError::new(obj.child("usages"), "is empty: a profile needs at least one usage"));
    }
    let mut profile = Profile { key_usages: vec![], ext_key_usages: vec![], expiry, ca: None, usage_names: vec![] };
    for (i, name) in names.iter().enumerate() {
        let one = Profile::from_usages(&[name], expiry)
            .map_err(|m| FieldError::new(format!("{}[{i}]", obj.child("usages")), m))?;
        for k in one.key_usages {
            if !profile.key_usages.contains(&k) {
                profile.key_usages.push(k);
            }
        }
        for e in one.ext_key_usages {
            if !profile.ext_key_usages.contains(&e) {
                profile.ext_key_usages.push(e);
            }
        }
        profile.usage_names.push(name.to_string());
    }
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
            if !profile.key_usages.contains(&KeyUsagePurpose::KeyCertSign) {
                return Err(FieldError::new(
                    obj.child("usages"),
                    "a profile with ca_constraint.is_ca needs the \"cert sign\" usage",
                ));
            }
            profile.ca = Some(path_len);
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
        assert_eq!(p.key_usages, vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment]);
        assert_eq!(p.ext_key_usages, vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth]);
        assert_eq!(p.expiry, Duration::hours(8760));
        assert!(c.profile(Some("kubernete")).unwrap_err().contains("kubernetes"));
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
