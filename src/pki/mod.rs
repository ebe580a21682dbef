//! Keys, CSR JSON, signing profiles, issuing, parsing and verifying.
//! Pure data in, data out: no file system, no clap.

pub mod bundle;
pub mod cert;
pub mod cfssl_json;
pub mod csrinfo;
pub mod duration;
pub mod generate;
pub mod host;
pub mod issue;
pub mod json;
pub mod key;
pub mod p12;
pub mod profile;
pub mod request;
pub mod signer;
