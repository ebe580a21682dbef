//! The cfssl CSR JSON (`{"CN", "names", "hosts", "key", "ca"}`) as typed data:
//! the subject, the SANs and the key request of a certificate to make.


use rcgen::{DistinguishedName, DnType, DnValue, SanType};
use serde_json::Value;
use time::Duration;

use super::duration;
use super::json::{FieldError, Obj};
use super::host::{self, Host};
use super::key::KeyAlgo;

/// A subject name in cfssl's terms: the `names` entries merged, then the CN.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    /// Country (two upper-case letters).
    pub c: Option<String>,
    /// State or province.
    pub st: Option<String>,
    /// Locality.
    pub l: Option<String>,
    /// Organization.
    pub o: Option<String>,
    /// Organizational unit.
    pub ou: Option<String>,
    /// Common name.
    pub cn: Option<String>,
    /// Serial number attribute.
    pub serial_number: Option<String>,
}

impl Subject {
    /// A subject with just CN and O, as the Kubernetes roles use.
    pub fn cn_o(cn: &str, o: &str) -> Self {
        Subject { cn: Some(cn.into()), o: Some(o.into()), ..Default::default() }
    }

    /// Checks every attribute as RFC 5280 bounds them: no control
    /// characters, C exactly two letters (ISO 3166), the others at most 64
    /// characters. `field` names an attribute ("C", "CN", ...) for the error.
    /// CSR JSON, the cluster config and the plan all go through this one check.
    pub fn check(&self, field: impl Fn(&str) -> String) -> Result<(), FieldError> {
        let attrs = [("C", &self.c), ("ST", &self.st), ("L", &self.l), ("O", &self.o), ("OU", &self.ou), ("CN", &self.cn), ("SerialNumber", &self.serial_number)];
        for (name, value) in attrs {
            let Some(v) = value else { continue };
            if v.trim().is_empty() {
                return Err(FieldError::new(field(name), "is empty; leave it out instead (X.520 names have at least one character)"));
            }
            match NameProblem::of(v) {
                Some(NameProblem::Control(_)) => return Err(FieldError::new(field(name), format!("{} contains a control character", super::json::shown(v)))),
                Some(p @ NameProblem::Invisible(_)) => return Err(FieldError::new(field(name), p.to_string())),
                Some(p @ NameProblem::TooLong) => {
                    let head: String = v.chars().take(20).collect();
                    return Err(FieldError::new(field(name), format!("{}... {p}", super::json::shown(&head))));
                }
                None => {}
            }
            if name == "C" && !(v.len() == 2 && v.chars().all(|c| c.is_ascii_uppercase())) {
                return Err(FieldError::new(field(name), format!("{} is not a two-letter country code such as US (RFC 5280: ISO 3166, upper case)", super::json::shown(v))));
            }
        }
        Ok(())
    }

    /// Whether the subject has no attribute at all.
    pub fn is_empty(&self) -> bool {
        [&self.c, &self.st, &self.l, &self.o, &self.ou, &self.cn, &self.serial_number].iter().all(|v| v.is_none())
    }

    /// The distinguished name in cfssl's order: C, ST, L, O, OU, CN, serialNumber;
    /// strings as Go encodes them (PrintableString when they fit, else UTF8String).
    pub fn to_dn(&self) -> DistinguishedName {
        let mut dn = DistinguishedName::new();
        let fields = [
            (DnType::CountryName, &self.c),
            (DnType::StateOrProvinceName, &self.st),
            (DnType::LocalityName, &self.l),
            (DnType::OrganizationName, &self.o),
            (DnType::OrganizationalUnitName, &self.ou),
            (DnType::CommonName, &self.cn),
            (DnType::CustomDnType(vec![2, 5, 4, 5]), &self.serial_number),
        ];
        for (ty, value) in fields {
            if let Some(v) = value {
                dn.push(ty, printable_or_utf8(v));
            }
        }
        dn
    }
}

/// What makes a name attribute unusable, wherever it comes from (CSR JSON,
/// the cluster config, a CSR given to `sign`): a CN or O becomes a
/// Kubernetes user or group name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameProblem {
    /// A control character (a newline would split a log line or a name).
    #[error("contains the control character U+{:04X}", u32::from(*.0))]
    Control(char),
    /// An invisible or direction-changing character (see [`is_invisible`]).
    #[error("contains the invisible or direction-changing character U+{:04X}, which makes a name read differently than it is", u32::from(*.0))]
    Invisible(char),
    /// More than 64 characters.
    #[error("is longer than 64 characters (RFC 5280's upper bound for name attributes)")]
    TooLong,
}

impl NameProblem {
    /// The first problem of `value`, if any.
    pub fn of(value: &str) -> Option<Self> {
        if let Some(c) = value.chars().find(|c| c.is_control()) {
            return Some(NameProblem::Control(c));
        }
        if let Some(c) = value.chars().find(|c| is_invisible(*c)) {
            return Some(NameProblem::Invisible(c));
        }
        (value.chars().count() > 64).then_some(NameProblem::TooLong)
    }
}

/// Characters that change how text is displayed without being visible
/// (Unicode's default-ignorable characters, and the line and paragraph
/// separators; spaces are not here): the soft hyphen, zero-width characters,
/// bidirectional marks, overrides and isolates, line and paragraph
/// separators, invisible operators, variation selectors, fillers, the BOM,
/// interlinear annotation and tag characters. `system:\u{200B}masters`
/// displays as `system:masters`.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// Go's asn1 marshalling: a PrintableString when `s` fits one and can be written, else a
/// UTF8String with the same text. X.680's PrintableString includes `?`
/// (Go, and so cfssl, use it), but yasna 0.6, the DER writer under rcgen,
/// panics on `?` — found by fuzzing `csr_json` — so text with `?` is written
/// as a UTF8String: the one place kpki's encoding differs from cfssl's.
pub fn printable_or_utf8(s: &str) -> DnValue {
    if s.contains('?') {
        return DnValue::Utf8String(s.to_string());
    }
    match rcgen::string::PrintableString::try_from(s) {
        Ok(p) => DnValue::PrintableString(p),
        Err(_) => DnValue::Utf8String(s.to_string()),
    }
}

/// The CSR's `ca` section, read by `-initca`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaSection {
    /// The CA's validity (`ca.expiry`).
    pub expiry: Option<Duration>,
    /// `Some(n)` when a path length constraint is set (`pathlen`, or `pathlenzero`).
    pub path_len: Option<u8>,
    /// How far NotBefore is set back (`ca.backdate`; default five minutes).
    pub backdate: Option<Duration>,
}

/// A parsed CSR JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrRequest {
    /// The subject.
    pub subject: Subject,
    /// The `hosts`, as written.
    pub hosts: Vec<String>,
    /// The key to make.
    pub key: KeyAlgo,
    /// The `ca` section (`-initca` only).
    pub ca: Option<CaSection>,
}

impl CsrRequest {
    /// Reads the JSON text of a CSR request.
    pub fn from_json(text: &[u8]) -> Result<Self, FieldError> {
        let value = super::json::parse(text)?;
        Self::from_value(&value)
    }

    fn from_value(value: &Value) -> Result<Self, FieldError> {
        let top = Obj::new("", value)?;
        top.only(&["CN", "names", "hosts", "key", "ca", "serialnumber"])?;
        let mut subject = Subject {
            cn: top.string("CN")?.filter(|s| !s.is_empty()).map(str::to_string),
            serial_number: top.string("serialnumber")?.filter(|s| !s.is_empty()).map(str::to_string),
            ..Default::default()
        };
        if let Some(names) = top.array("names")? {
            for (i, entry) in names.iter().enumerate() {
                let path = format!("names[{i}]");
                let name = Obj::new(&path, entry)?;
                name.only(&["C", "ST", "L", "O", "OU", "SerialNumber"])?;
                let slots: [(&str, &mut Option<String>); 6] = [
                    ("C", &mut subject.c),
                    ("ST", &mut subject.st),
                    ("L", &mut subject.l),
                    ("O", &mut subject.o),
                    ("OU", &mut subject.ou),
                    ("SerialNumber", &mut subject.serial_number),
                ];
                for (field, slot) in slots {
                    let Some(v) = name.string(field)?.filter(|s| !s.is_empty()) else { continue };
                    match slot {
                        Some(existing) if existing != v => {
                            return Err(FieldError::new(
                                name.child(field),
                                format!(
                                    "a second {field} ({v:?} after {existing:?}) would make a multi-valued name, which kpki does not write; put one {field} in the subject"
                                ),
                            ))
                        }
                        _ => *slot = Some(v.to_string()),
                    }
                }
            }
        }
        subject.check(|f| if f == "CN" { "CN".to_string() } else { format!("names.{f}") })?;
        let hosts = top
            .strings("hosts")?
            .unwrap_or_default()
            .into_iter()
            .map(str::to_string)
            .collect::<Vec<_>>();
        let key = match top.object("key")? {
            // cfssl's default when no key is given.
            None => KeyAlgo::EcdsaP256,
            Some(k) => {
                k.only(&["algo", "size"])?;
                let algo = k.string("algo")?.ok_or_else(|| FieldError::new("key.algo", "is missing: use \"rsa\", \"ecdsa\" or \"ed25519\""))?;
                let size = k.uint("size")?.map(|n| u32::try_from(n).unwrap_or(u32::MAX)).filter(|n| *n != 0);
                KeyAlgo::from_request(algo, size).map_err(|e| FieldError::new("key", e.to_string()))?
            }
        };
        let ca = match top.object("ca")? {
            None => None,
            Some(c) => {
                c.only(&["expiry", "pathlen", "pathlenzero", "backdate"])?;
                let expiry = match c.string("expiry")? {
                    None => None,
                    Some(s) => Some(duration::parse(s).map_err(|e| FieldError::new("ca.expiry", e.to_string()))?),
                };
                let pathlen = c.uint("pathlen")?;
                let zero = c.boolean("pathlenzero")?.unwrap_or(false);
                let path_len = match pathlen {
                    Some(n) if n > 0 => Some(u8::try_from(n).map_err(|_| FieldError::new("ca.pathlen", "must be at most 255"))?),
                    _ if zero => Some(0),
                    _ => None,
                };
                let backdate = match c.string("backdate")? {
                    None => None,
                    Some(s) => Some(duration::parse(s).map_err(|e| FieldError::new("ca.backdate", e.to_string()))?),
                };
                Some(CaSection { expiry, path_len, backdate })
            }
        };
        Ok(CsrRequest { subject, hosts, key, ca })
    }
}

/// Why a list of hosts was refused: which entry (when one is at fault) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", self.field())]
pub struct HostsError {
    /// The index of the entry at fault; `None` when the list as a whole is.
    pub index: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl HostsError {
    /// The field as a CSR JSON names it: `hosts[3]`, or `hosts`.
    pub fn field(&self) -> String {
        match self.index {
            Some(i) => format!("hosts[{i}]"),
            None => "hosts".into(),
        }
    }
}

impl From<HostsError> for FieldError {
    fn from(e: HostsError) -> Self {
        FieldError::new(e.field(), e.message)
    }
}

/// The most SANs one certificate may carry: far above any cluster's needs,
/// low enough that a hostile input cannot make a huge certificate.
pub const MAX_SANS: usize = 1000;

/// Turns host strings into SANs the way cfssl classifies them (IP, email,
/// URI, else DNS), in the order Go writes them: DNS, email, IP, URI.
///
/// Unlike cfssl, entries are trimmed, and empty or malformed entries are refused.
pub fn parse_hosts(hosts: &[String]) -> Result<Vec<SanType>, HostsError> {
    if hosts.len() > MAX_SANS {
        return Err(HostsError { index: None, message: format!("has {} entries; kpki puts at most {MAX_SANS} names in a certificate", hosts.len()) });
    }
    let parsed = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| h.parse::<Host>().map_err(|e| HostsError { index: Some(i), message: e.to_string() }))
        .collect::<Result<Vec<Host>, HostsError>>()?;
    host::sans(&parsed).map_err(|e| HostsError { index: None, message: e.to_string() })
}

/// Splits a `-hostname` value: comma separated, entries trimmed.
pub fn split_hostname_flag(value: &str) -> Vec<String> {
    value.split(',').map(|s| s.trim().to_string()).collect()
}

/// Why a name (host name, DNS name, e-mail address) is not valid: one clause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NameError(pub String);

/// A host name from a config (a node name, the cluster domain, an API
/// address): a DNS name in lower case without a wildcard, underscore or
/// trailing dot, as Kubernetes' RFC 1123 names are.
pub fn check_host_name(name: &str) -> Result<(), NameError> {
    check_dns_name(name)?;
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '.')) {
        return Err(NameError(match c {
            '*' => "a wildcard is not a host name".into(),
            c if c.is_ascii_uppercase() => "it must be lower case".into(),
            c => format!("it contains {c:?}"),
        }));
    }
    if name.ends_with('.') {
        return Err(NameError("it ends with '.'".into()));
    }
    Ok(())
}

/// Checks a DNS name (a leading `*.` wildcard label is allowed).
pub fn check_dns_name(name: &str) -> Result<(), NameError> {
    let body = name.strip_prefix("*.").unwrap_or(name);
    let body = body.strip_suffix('.').unwrap_or(body);
    if body.is_empty() {
        return Err(NameError("it is empty".into()));
    }
    if name.len() > 253 {
        return Err(NameError("it is longer than 253 characters".into()));
    }
    for label in body.split('.') {
        if label.is_empty() {
            return Err(NameError("it has an empty label".into()));
        }
        if label.len() > 63 {
            return Err(NameError(format!("label {label:?} is longer than 63 characters")));
        }
        if let Some(c) = label.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_')) {
            return Err(NameError(format!("it contains {c:?}")));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(NameError(format!("label {label:?} starts or ends with '-'")));
        }
    }
    // A numeric last label is a mistyped IP address, never a host name.
    if body.rsplit('.').next().is_some_and(|l| l.chars().all(|c| c.is_ascii_digit())) {
        return Err(NameError("it looks like an IP address but is not a valid one".into()));
    }
    Ok(())
}

pub(crate) fn check_email(addr: &str) -> Result<(), NameError> {
    let (local, domain) = addr.rsplit_once('@').ok_or_else(|| NameError("no @".into()))?;
    if local.is_empty() || local.contains(char::is_whitespace) {
        return Err(NameError("the part before @ is empty or has spaces".into()));
    }
    check_dns_name(domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tutorial_csr() {
        let r = CsrRequest::from_json(
            br#"{"CN":"admin","key":{"algo":"rsa","size":2048},"names":[{"C":"US","L":"Portland","O":"system:masters","OU":"Kubernetes The Hard Way","ST":"Oregon"}]}"#,
        )
        .unwrap();
        assert_eq!(r.key, KeyAlgo::Rsa(2048));
        assert_eq!(r.subject.o.as_deref(), Some("system:masters"));
        assert_eq!(r.subject.cn.as_deref(), Some("admin"));
        let order: Vec<_> = r.subject.to_dn().iter().map(|(t, _)| t.clone()).collect();
        assert_eq!(
            order,
            vec![
                DnType::CountryName,
                DnType::StateOrProvinceName,
                DnType::LocalityName,
                DnType::OrganizationName,
                DnType::OrganizationalUnitName,
                DnType::CommonName
            ]
        );
    }

    #[test]
    fn keys_match_case_insensitively_like_go() {
        let r = CsrRequest::from_json(br#"{"cn":"x","Hosts":["a.example"],"KEY":{"ALGO":"ecdsa","Size":384}}"#).unwrap();
        assert_eq!(r.subject.cn.as_deref(), Some("x"));
        assert_eq!(r.hosts, vec!["a.example"]);
        assert_eq!(r.key, KeyAlgo::EcdsaP384);
    }

    #[test]
    fn errors_name_the_field() {
        let e = CsrRequest::from_json(br#"{"CN":"x","host":["a"]}"#).unwrap_err();
        assert_eq!(e.field, "host");
        let e = CsrRequest::from_json(br#"{"CN":"x","names":[{"C":1}]}"#).unwrap_err();
        assert_eq!(e.field, "names[0].C");
        let e = CsrRequest::from_json(br#"{"CN":"x","key":{"algo":"rsa"}}"#).unwrap_err();
        assert_eq!(e.field, "key");
        let e = CsrRequest::from_json(br#"{"CN":"x","ca":{"expiry":"-5h"}}"#).unwrap_err();
        assert_eq!(e.field, "ca.expiry");
        let e = CsrRequest::from_json(b"{\"CN\":").unwrap_err();
        assert!(e.field.starts_with("line 1"));
    }

    #[test]
    fn names_that_read_differently_than_they_are_are_refused() {
        // A soft hyphen, a line separator, a variation selector: invisible in a name.
        for cn in ["ad\u{00AD}min", "a\u{2028}b", "x\u{FE0F}", "system:\u{200B}masters"] {
            let json = serde_json::json!({"CN": cn}).to_string();
            let e = CsrRequest::from_json(json.as_bytes()).unwrap_err();
            assert!(e.to_string().contains("invisible"), "{cn:?}: {e}");
        }
        assert!(CsrRequest::from_json("{\"CN\":\"Zoë Ünal\"}".as_bytes()).is_ok());
    }

    #[test]
    fn hosts_are_typed_and_ordered_as_go_does() {
        let hosts: Vec<String> = ["10.32.0.1", "https://x.example/p", "kubernetes", "a@b.example", "::1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let sans = parse_hosts(&hosts).unwrap();
        assert!(matches!(sans[0], SanType::DnsName(_)));
        assert!(matches!(sans[1], SanType::Rfc822Name(_)));
        assert!(matches!(sans[2], SanType::IpAddress(_)));
        assert!(matches!(sans[3], SanType::IpAddress(_)));
        assert!(matches!(sans[4], SanType::URI(_)));
    }

    #[test]
    fn bad_hosts_are_refused() {
        for bad in ["", "a b", "exa mple.com", "-a.example", "a..b", "x@", "1.2.3.4.5.6"] {
            assert!(parse_hosts(&[bad.to_string()]).is_err(), "{bad:?} accepted");
        }
        assert_eq!(split_hostname_flag("a, b"), vec!["a", "b"]);
    }
}
