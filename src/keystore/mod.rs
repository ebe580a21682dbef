//! CA keys that never touch disk: AWS KMS (`awskms:`) and PKCS#11 tokens
//! (`pkcs11:`, RFC 7512), named by a URI wherever a CA key file is accepted.
//! This layer opens the store, checks the key and returns a
//! [`CaKey`](crate::pki::signer::CaKey) that signs through it; only the
//! public key is kept.

#[cfg(feature = "aws")]
mod kms;
mod pkcs11;
pub mod uri;

use std::sync::Arc;

use crate::pki::signer::{CaKey, StoreSigner};
pub use uri::{is_key_uri, to_record, without_secrets};
use uri::KeyUri;

/// Why a store key cannot be used: one line naming the key (never its PIN).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URI does not parse.
    #[error("key URI {uri}: {message}")]
    Uri {
        /// The URI without secrets.
        uri: String,
        /// What is wrong.
        message: String,
    },
    /// The store's key is of an algorithm kpki does not sign with.
    #[error("{uri}: {message}")]
    Unsupported {
        /// The URI without secrets.
        uri: String,
        /// What the key is.
        message: String,
    },
    /// AWS KMS refused or could not be reached.
    #[error("{uri}: {message}")]
    Kms {
        /// The URI.
        uri: String,
        /// What happened.
        message: String,
    },
    /// The PKCS#11 module or token refused.
    #[error("{uri}: {message}")]
    Pkcs11 {
        /// The URI without secrets.
        uri: String,
        /// What happened.
        message: String,
    },
}

/// What opening a store may use beyond the URI.
#[derive(Default)]
pub struct StoreOptions {
    /// `--aws-profile`, when the URI has no `profile=`.
    pub aws_profile: Option<String>,
}

/// Opens the key a URI names; `warn` receives warnings (a PIN in the URI).
pub fn open(text: &str, options: &StoreOptions, warn: &dyn Fn(&str)) -> Result<CaKey, StoreError> {
    let shown = crate::pki::json::shown_max(&without_secrets(text), 300);
    let parsed = KeyUri::parse(text).map_err(|message| StoreError::Uri { uri: shown.clone(), message })?;
    let key: Arc<dyn crate::pki::signer::StoreKey> = match parsed {
        #[cfg(feature = "aws")]
        KeyUri::AwsKms { key_id, region, profile } => {
            let profile = profile.or_else(|| options.aws_profile.clone());
            Arc::new(kms::KmsKey::open(&shown, &key_id, region.as_deref(), profile.as_deref())?)
        }
        #[cfg(not(feature = "aws"))]
        KeyUri::AwsKms { .. } => {
            let _ = options;
            return Err(StoreError::Kms { uri: shown, message: "this kpki was built without the AWS feature".into() });
        }
        KeyUri::Pkcs11(p) => Arc::new(pkcs11::TokenKey::open(&shown, &p, warn)?),
    };
    let signer = StoreSigner::new(key).map_err(|message| StoreError::Unsupported { uri: shown.clone(), message })?;
    Ok(CaKey::Store(signer))
}
