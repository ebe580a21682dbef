//! Flag groups shared by several commands, defined once.

use std::path::PathBuf;

use super::{Failure, Result};
#[cfg(feature = "aws")]
use crate::model::cluster::Cluster;

/// The CA and signing flags shared by `gencert` and `sign`.
#[derive(clap::Args, Debug)]
pub struct SigningArgs {
    /// The CA certificate to sign with
    #[arg(long, value_name = "CA.pem")]
    pub ca: Option<PathBuf>,
    /// The CA's private key (PKCS#1, SEC1, PKCS#8 or encrypted PKCS#8)
    #[arg(long = "ca-key", value_name = "CA-KEY.pem")]
    pub ca_key: Option<PathBuf>,
    /// The signing config (cfssl ca-config.json)
    #[arg(long, value_name = "CONFIG.json")]
    pub config: Option<PathBuf>,
    /// The signing profile from the config (default: the config's default)
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Comma-separated SANs; replaces the request's own
    #[arg(long, value_name = "a,b,1.2.3.4")]
    pub hostname: Option<String>,
    /// Sign on a cfssl-API server instead (cfssl serve or kpki serve): HOST:PORT, http://... or https://...; authsign when the -config profile names an auth key
    #[arg(long, value_name = "SERVER", conflicts_with_all = ["ca", "ca_key"])]
    pub remote: Option<String>,
    /// With -remote: the signer's label (multirootca); passed on as cfssl does
    #[arg(long, value_name = "LABEL", requires = "remote")]
    pub label: Option<String>,
    /// With an https remote: trust this CA (PEM) instead of the system's roots
    #[arg(long = "tls-remote-ca", value_name = "CA.pem")]
    pub tls_remote_ca: Option<PathBuf>,
    #[command(flatten)]
    pub passphrase: super::passphrase::PassphraseArgs,
}

impl SigningArgs {
    /// The CA certificate and key paths, both required.
    pub fn ca_paths(&self) -> Result<(&std::path::Path, &std::path::Path)> {
        match (&self.ca, &self.ca_key) {
            (Some(c), Some(k)) => Ok((c, k)),
            (Some(_), None) => Err(Failure::input("-ca needs -ca-key: give the CA's private key too (cfssl exits 0 here and prints nothing)")),
            (None, Some(_)) => Err(Failure::input("-ca-key needs -ca: give the CA certificate too")),
            (None, None) => Err(Failure::input("give -ca and -ca-key to sign, or -initca to make a CA")),
        }
    }
}

/// Where and how `-bare` output is written; shared by `gencert` and `genkey`.
#[derive(clap::Args, Debug)]
pub struct BareArgs {
    /// Write NAME.pem, NAME-key.pem and NAME.csr instead of printing JSON
    #[arg(long, value_name = "NAME")]
    pub bare: Option<String>,
    /// Directory for the files written with -bare
    #[arg(long = "out-dir", value_name = "DIR", requires = "bare")]
    pub out_dir: Option<PathBuf>,
    /// Private key encoding
    #[arg(long = "key-format", value_enum, default_value_t)]
    pub key_format: KeyFormatArg,
    /// Overwrite an existing private key with -bare
    #[arg(long)]
    pub force: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
}

/// Flags of the aws provider.
#[derive(clap::Args, Debug)]
pub struct AwsArgs {
    /// AWS region (default: the config's `region`)
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// AWS profile from ~/.aws/config (default: AWS_PROFILE, then the standard chain)
    #[arg(long = "aws-profile", value_name = "NAME")]
    pub aws_profile: Option<String>,
    /// Not an AWS flag: `--profile` names a signing profile in kpki and cfssl
    #[arg(long = "profile", value_name = "NAME", hide = true, num_args = 0..=1, default_missing_value = "")]
    pub misplaced_profile: Option<String>,
}

#[cfg(feature = "aws")]
impl AwsArgs {
    /// The aws provider for a cluster; a new key pair's private key is saved in `ssh_dir`.
    pub fn provider(&self, cluster: &Cluster, ssh_dir: PathBuf) -> crate::provision::aws_provider::AwsProvider {
        crate::provision::aws_provider::AwsProvider {
            options: crate::provision::aws::AwsOptions {
                region: self.region.clone().unwrap_or_else(|| cluster.region.clone()),
                profile: self.aws_profile.clone(),
            },
            ssh_dir,
            poll: std::time::Duration::from_millis(250),
        }
    }
}

impl AwsArgs {
    /// Refuses `--profile` where it would be read as an AWS profile.
    pub fn check(&self) -> Result<()> {
        match &self.misplaced_profile {
            Some(p) => Err(Failure::input(format!(
                "--profile {}: for an AWS profile use --aws-profile (--profile names a signing profile in kpki and cfssl)",
                crate::pki::json::shown(p)
            ))),
            None => Ok(()),
        }
    }
}

/// `--key-format` values.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KeyFormatArg {
    /// PKCS#1 for RSA, SEC1 for ECDSA (what cfssl writes)
    #[default]
    Cfssl,
    /// PKCS#8 for every algorithm
    Pkcs8,
}

impl From<KeyFormatArg> for crate::pki::key::KeyFormat {
    fn from(a: KeyFormatArg) -> Self {
        match a {
            KeyFormatArg::Cfssl => crate::pki::key::KeyFormat::Cfssl,
            KeyFormatArg::Pkcs8 => crate::pki::key::KeyFormat::Pkcs8,
        }
    }
}

/// A time window such as `30d`, `720h` or `1h30m` (Go's duration syntax plus days).
pub fn parse_window(s: &str) -> std::result::Result<time::Duration, String> {
    crate::pki::duration::parse(s).map_err(|e| e.to_string())
}
