//! `certinfo -csr`: a PKCS#10 request as cfssl 1.2 prints it, which is Go's
//! `json.MarshalIndent` of its `x509.CertificateRequest` struct (CamelCase
//! fields in struct order, base64 DER, numeric algorithm enums, big
//! integers as bare JSON numbers). Scripts written against cfssl read
//! `.Subject.CommonName`, `.DNSNames` and the like, so the shape is kept.

use base64::Engine;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use x509_parser::cri_attributes::ParsedCriAttribute;
use x509_parser::der_parser::Oid;
use x509_parser::extensions::GeneralName;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::X509Name;

use super::cert::{self, CertError};

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GoCsr {
    raw: String,
    raw_t_b_s_certificate_request: String,
    raw_subject_public_key_info: String,
    raw_subject: String,
    version: u32,
    signature: String,
    signature_algorithm: u8,
    public_key_algorithm: u8,
    public_key: GoKey,
    subject: Value,
    attributes: Value,
    extensions: Value,
    extra_extensions: Value,
    #[serde(rename = "DNSNames")]
    dns_names: Option<Vec<String>>,
    email_addresses: Option<Vec<String>>,
    #[serde(rename = "IPAddresses")]
    ip_addresses: Option<Vec<String>>,
    #[serde(rename = "URIs")]
    uris: Option<Vec<String>>,
}

/// Go's public key types as `encoding/json` writes them: big integers bare.
#[derive(Serialize)]
#[serde(untagged)]
enum GoKey {
    Rsa {
        #[serde(rename = "N")]
        n: Box<RawValue>,
        #[serde(rename = "E")]
        e: Box<RawValue>,
    },
    Ec {
        #[serde(rename = "Curve")]
        curve: Map<String, Value>,
        #[serde(rename = "X")]
        x: Box<RawValue>,
        #[serde(rename = "Y")]
        y: Box<RawValue>,
    },
    Other(Value),
}

/// The request's JSON, as `cfssl certinfo -csr` prints it.
pub fn csrinfo(der: &[u8]) -> Result<String, CertError> {
    let csr = cert::parse_csr(der)?;
    let info = &csr.certification_request_info;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let sig_oid = csr.signature_algorithm.algorithm.to_id_string();
    let key_oid = info.subject_pki.algorithm.algorithm.to_id_string();
    let public_key = match info.subject_pki.parsed() {
        Ok(PublicKey::RSA(rsa)) => GoKey::Rsa { n: big(rsa.modulus)?, e: big(rsa.exponent)? },
        // Go's curve types have no exported fields: `"Curve": {}`.
        Ok(PublicKey::EC(point)) if point.data().len() % 2 == 1 && point.data().first() == Some(&4) => {
            let (x, y) = point.data()[1..].split_at(point.data().len() / 2);
            GoKey::Ec { curve: Map::new(), x: big(x)?, y: big(y)? }
        }
        // An Ed25519 key is a byte slice in Go: base64.
        _ if key_oid == "1.3.101.112" => GoKey::Other(Value::String(b64(&info.subject_pki.subject_public_key.data))),
        _ => GoKey::Other(Value::Null),
    };
    let mut extensions = Vec::new();
    let mut attributes = Vec::new();
    for attr in info.attributes() {
        if let ParsedCriAttribute::ExtensionRequest(req) = attr.parsed_attribute() {
            let mut set = Vec::new();
            for e in &req.extensions {
                let mut x = Map::new();
                x.insert("Id".into(), oid_ints(&e.oid));
                x.insert("Critical".into(), Value::Bool(e.critical));
                x.insert("Value".into(), Value::String(b64(e.value)));
                extensions.push(Value::Object(x));
                // Go's deprecated Attributes reads each extension as a
                // (type, value) pair: the value is `critical` when present.
                let mut a = Map::new();
                a.insert("Type".into(), oid_ints(&e.oid));
                a.insert("Value".into(), if e.critical { Value::Bool(true) } else { Value::String(b64(e.value)) });
                set.push(Value::Object(a));
            }
            let mut a = Map::new();
            a.insert("Type".into(), oid_ints(&attr.oid));
            a.insert("Value".into(), Value::Array(vec![Value::Array(set)]));
            attributes.push(Value::Object(a));
        }
    }
    let (mut dns, mut emails, mut ips, mut uris) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    if let Some(exts) = csr.requested_extensions() {
        for e in exts {
            if let x509_parser::extensions::ParsedExtension::SubjectAlternativeName(san) = e {
                for n in &san.general_names {
                    match n {
                        GeneralName::DNSName(d) => dns.push(d.to_string()),
                        GeneralName::RFC822Name(m) => emails.push(m.to_string()),
                        GeneralName::URI(u) => uris.push(u.to_string()),
                        GeneralName::IPAddress(b) => {
                            if let Some(ip) = ip_text(b) {
                                ips.push(ip)
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    let none_if_empty = |v: Vec<String>| if v.is_empty() { None } else { Some(v) };
    let go = GoCsr {
        raw: b64(der),
        raw_t_b_s_certificate_request: b64(info.raw),
        raw_subject_public_key_info: b64(info.subject_pki.raw),
        raw_subject: b64(info.subject.as_raw()),
        version: info.version.0,
        signature: b64(&csr.signature_value.data),
        signature_algorithm: go_signature_algorithm(&sig_oid),
        public_key_algorithm: match key_oid.as_str() {
            "1.2.840.113549.1.1.1" => 1,
            "1.2.840.10040.4.1" => 2,
            "1.2.840.10045.2.1" => 3,
            "1.3.101.112" => 4,
            _ => 0,
        },
        public_key,
        subject: go_name(&info.subject),
        attributes: if attributes.is_empty() { Value::Null } else { Value::Array(attributes) },
        extensions: if extensions.is_empty() { Value::Null } else { Value::Array(extensions) },
        extra_extensions: Value::Null,
        dns_names: none_if_empty(dns),
        email_addresses: none_if_empty(emails),
        ip_addresses: none_if_empty(ips),
        uris: none_if_empty(uris),
    };
    Ok(cert::go_escape(&serde_json::to_string_pretty(&go).unwrap_or_default()))
}

/// A big-endian unsigned integer as a bare JSON number (Go's `*big.Int`).
fn big(bytes: &[u8]) -> Result<Box<RawValue>, CertError> {
    let digits = x509_parser::num_bigint::BigUint::from_bytes_be(bytes).to_string();
    RawValue::from_string(digits).map_err(|e| CertError::MalformedCsr(e.to_string()))
}

fn oid_ints(oid: &Oid<'_>) -> Value {
    Value::Array(oid.iter().map(|it| it.map(Value::from).collect()).unwrap_or_default())
}

fn ip_text(b: &[u8]) -> Option<String> {
    match b.len() {
        4 => Some(std::net::Ipv4Addr::from(<[u8; 4]>::try_from(b).ok()?).to_string()),
        16 => Some(std::net::Ipv6Addr::from(<[u8; 16]>::try_from(b).ok()?).to_string()),
        _ => None,
    }
}

/// Go's `x509.SignatureAlgorithm` enum value for a signature OID.
fn go_signature_algorithm(oid: &str) -> u8 {
    match oid {
        "1.2.840.113549.1.1.2" => 1,
        "1.2.840.113549.1.1.4" => 2,
        "1.2.840.113549.1.1.5" => 3,
        "1.2.840.113549.1.1.11" => 4,
        "1.2.840.113549.1.1.12" => 5,
        "1.2.840.113549.1.1.13" => 6,
        "1.2.840.10040.4.3" => 7,
        "2.16.840.1.101.3.4.3.2" => 8,
        "1.2.840.10045.4.1" => 9,
        "1.2.840.10045.4.3.2" => 10,
        "1.2.840.10045.4.3.3" => 11,
        "1.2.840.10045.4.3.4" => 12,
        "1.3.101.112" => 16,
        _ => 0,
    }
}

/// Go's `pkix.Name` filled from the subject (`FillFromRDNSequence`).
fn go_name(name: &X509Name<'_>) -> Value {
    let mut lists: [Vec<String>; 7] = Default::default();
    let (mut serial, mut cn) = (String::new(), String::new());
    let mut names = Vec::new();
    for atv in name.iter_attributes() {
        let value = atv.as_str().ok().map(str::to_string);
        let mut n = Map::new();
        n.insert("Type".into(), oid_ints(atv.attr_type()));
        n.insert("Value".into(), value.clone().map(Value::String).unwrap_or(Value::Null));
        names.push(Value::Object(n));
        let Some(v) = value else { continue };
        match atv.attr_type().to_id_string().as_str() {
            "2.5.4.3" => cn = v,
            "2.5.4.5" => serial = v,
            "2.5.4.6" => lists[0].push(v),
            "2.5.4.10" => lists[1].push(v),
            "2.5.4.11" => lists[2].push(v),
            "2.5.4.7" => lists[3].push(v),
            "2.5.4.8" => lists[4].push(v),
            "2.5.4.9" => lists[5].push(v),
            "2.5.4.17" => lists[6].push(v),
            _ => {}
        }
    }
    let mut m = Map::new();
    let keys = ["Country", "Organization", "OrganizationalUnit", "Locality", "Province", "StreetAddress", "PostalCode"];
    for (k, l) in keys.iter().zip(lists) {
        m.insert((*k).into(), if l.is_empty() { Value::Null } else { Value::from(l) });
    }
    m.insert("SerialNumber".into(), Value::String(serial));
    m.insert("CommonName".into(), Value::String(cn));
    m.insert("Names".into(), if names.is_empty() { Value::Null } else { Value::Array(names) });
    m.insert("ExtraNames".into(), Value::Null);
    Value::Object(m)
}
