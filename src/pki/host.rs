//! A host a certificate names: a DNS name, an IP address, an e-mail address
//! or a URI, classified as cfssl classifies `hosts` entries and validated
//! when made, so a plan or request that holds one never re-parses it.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use rcgen::SanType;

use super::request::{check_dns_name, check_email};

/// One subject alternative name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Host {
    /// A DNS name (a leading `*.` wildcard label is allowed).
    Dns(String),
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
    /// An e-mail address (rfc822Name).
    Email(String),
    /// A URI.
    Uri(String),
}

/// Why a string is not a host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HostError(String);

impl FromStr for Host {
    type Err = HostError;

    /// Classifies as cfssl does: an IP address, else an e-mail address when
    /// it has `@`, else a URI when it has `://`, else a DNS name. Surrounding
    /// spaces are trimmed; empty or malformed entries are refused.
    fn from_str(raw: &str) -> Result<Self, HostError> {
        let h = raw.trim();
        if h.is_empty() {
            return Err(HostError("is empty (a stray comma?)".into()));
        }
        if let Ok(ip) = h.parse::<IpAddr>() {
            return Ok(Host::Ip(ip));
        }
        if h.contains('@') {
            check_email(h).map_err(|m| HostError(format!("{h:?} is not a valid email address: {m}")))?;
            return ascii(h).map(Host::Email);
        }
        if let Some(scheme_end) = h.find("://") {
            let scheme = &h[..scheme_end];
            if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) || h.chars().any(|c| c.is_ascii_control() || c == ' ') {
                return Err(HostError(format!("{h:?} is not a valid URI")));
            }
            return ascii(h).map(Host::Uri);
        }
        check_dns_name(h).map_err(|m| HostError(format!("{h:?} is not a valid host name: {m}")))?;
        Ok(Host::Dns(h.to_string()))
    }
}

fn ascii(h: &str) -> Result<String, HostError> {
    if h.is_ascii() {
        Ok(h.to_string())
    } else {
        Err(HostError(format!("{h:?} is not ASCII")))
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Dns(s) | Host::Email(s) | Host::Uri(s) => f.write_str(s),
            Host::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

impl From<IpAddr> for Host {
    fn from(ip: IpAddr) -> Self {
        Host::Ip(ip)
    }
}

impl serde::Serialize for Host {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Host {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Host {
    /// The SAN rcgen writes: only a host built without `FromStr` (the
    /// variants are public) can fail here, and then nothing is dropped.
    fn to_san(&self) -> Result<SanType, HostError> {
        let ia5 = |s: &str| s.try_into().map_err(|_| HostError(format!("{s:?} is not ASCII")));
        Ok(match self {
            Host::Dns(s) => SanType::DnsName(ia5(s)?),
            Host::Email(s) => SanType::Rfc822Name(ia5(s)?),
            Host::Uri(s) => SanType::URI(ia5(s)?),
            Host::Ip(ip) => SanType::IpAddress(*ip),
        })
    }

    fn rank(&self) -> u8 {
        match self {
            Host::Dns(_) => 0,
            Host::Email(_) => 1,
            Host::Ip(_) => 2,
            Host::Uri(_) => 3,
        }
    }
}

/// The SANs for hosts, in the order Go writes them: DNS, e-mail, IP, URI
/// (each group in the given order).
pub fn sans(hosts: &[Host]) -> Result<Vec<SanType>, HostError> {
    let mut sorted: Vec<&Host> = hosts.iter().collect();
    sorted.sort_by_key(|h| h.rank());
    sorted.into_iter().map(Host::to_san).collect()
}
