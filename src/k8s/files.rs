//! The text files of the set: kubeconfigs (certificates embedded, as
//! `kubectl config ... --embed-certs` writes them) and the encryption-at-rest
//! config. Both are small and fixed in shape, so they are written directly
//! rather than through a YAML library; every string is a double-quoted YAML
//! scalar (JSON string syntax, which YAML accepts).

use base64::Engine;
use zeroize::Zeroizing;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// A kubeconfig with one cluster, one user and the context `default`.
pub fn kubeconfig(cluster: &str, server: &str, ca_pem: &str, user: &str, cert_pem: &str, key_pem: &str) -> Zeroizing<String> {
    Zeroizing::new(format!(
        "apiVersion: v1\n\
kind: Config\n\
clusters:\n\
- cluster:\n    certificate-authority-data: {ca}\n    server: {server}\n  name: {cluster}\n\
contexts:\n\
- context:\n    cluster: {cluster}\n    user: {user}\n  name: default\n\
current-context: default\n\
preferences: {{}}\n\
users:\n\
- name: {user}\n  user:\n    client-certificate-data: {cert}\n    client-key-data: {key}\n",
        ca = B64.encode(ca_pem),
        server = q(server),
        cluster = q(cluster),
        user = q(user),
        cert = B64.encode(cert_pem),
        key = B64.encode(key_pem),
    ))
}

/// The base64 data of a kubeconfig field such as `client-certificate-data`, decoded.
pub fn kubeconfig_field(text: &str, field: &str) -> Option<Vec<u8>> {
    let prefix = format!("{field}: ");
    text.lines().find_map(|l| l.trim_start().strip_prefix(&prefix)).and_then(|v| B64.decode(v.trim().trim_matches('"')).ok())
}

/// The `server:` of a kubeconfig.
pub fn kubeconfig_server(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.trim_start().strip_prefix("server: "))
        .map(|v| serde_json::from_str::<String>(v.trim()).unwrap_or_else(|_| v.trim().to_string()))
}

/// Size of an aescbc key: AES-256. The tutorial's `head -c 64` makes a key
/// kube-apiserver rejects.
pub const AESCBC_KEY_LEN: usize = 32;

/// The EncryptionConfiguration (apiserver.config.k8s.io/v1) for `secrets`:
/// aescbc with `key1`, then identity so existing plain secrets stay readable.
pub fn encryption_config(key: &[u8; AESCBC_KEY_LEN]) -> Zeroizing<String> {
    Zeroizing::new(format!(
        "kind: EncryptionConfiguration\n\
apiVersion: apiserver.config.k8s.io/v1\n\
resources:\n\
  - resources:\n      - secrets\n    providers:\n      - aescbc:\n          keys:\n            - name: key1\n              secret: {}\n      - identity: {{}}\n",
        Zeroizing::new(B64.encode(key)).as_str()
    ))
}

/// Why an existing encryption config is not usable.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncryptionConfigError {
    #[error("it is not an EncryptionConfiguration (apiserver.config.k8s.io/v1); the retired kind EncryptionConfig is not read by current kube-apiservers")]
    Kind,
    #[error("it has no aescbc secret")]
    NoSecret,
    #[error("its aescbc key is {0} bytes; aescbc needs exactly 32 (the tutorial's `head -c 64` key is rejected by kube-apiserver)")]
    KeyLength(usize),
}

/// Checks an existing encryption config; returns the length-checked key.
pub fn check_encryption_config(text: &str) -> Result<Zeroizing<Vec<u8>>, EncryptionConfigError> {
    let kind_ok = text.lines().any(|l| l.trim() == "kind: EncryptionConfiguration")
        && text.lines().any(|l| l.trim() == "apiVersion: apiserver.config.k8s.io/v1");
    if !kind_ok {
        return Err(EncryptionConfigError::Kind);
    }
    let secret = text
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("secret: "))
        .ok_or(EncryptionConfigError::NoSecret)?;
    let key = Zeroizing::new(B64.decode(secret.trim().trim_matches('"')).map_err(|_| EncryptionConfigError::NoSecret)?);
    if key.len() != AESCBC_KEY_LEN {
        return Err(EncryptionConfigError::KeyLength(key.len()));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encryption_config_round_trip() {
        let text = encryption_config(&[7u8; 32]);
        assert_eq!(check_encryption_config(&text).unwrap().as_slice(), &[7u8; 32]);
        let tutorial = text.replace(&B64.encode([7u8; 32]), &B64.encode([7u8; 64]));
        assert_eq!(check_encryption_config(&tutorial), Err(EncryptionConfigError::KeyLength(64)));
        let old = text.replace("kind: EncryptionConfiguration", "kind: EncryptionConfig");
        assert_eq!(check_encryption_config(&old), Err(EncryptionConfigError::Kind));
    }

    #[test]
    fn kubeconfig_fields() {
        let k = kubeconfig("k8s-cluster", "https://1.2.3.4:6443", "CA", "system:node:x", "CERT", "KEY");
        assert_eq!(kubeconfig_field(&k, "client-certificate-data").unwrap(), b"CERT");
        assert_eq!(kubeconfig_field(&k, "certificate-authority-data").unwrap(), b"CA");
        assert_eq!(kubeconfig_server(&k).unwrap(), "https://1.2.3.4:6443");
        assert!(k.contains("user: \"system:node:x\""));
    }
}
