//! Key URIs, in smallstep's conventions: `awskms:key-id=...;region=...`
//! and RFC 7512 `pkcs11:` URIs (path attributes separated by `;`, query
//! attributes by `&`, values percent-encoded).

use std::path::PathBuf;

use percent_encoding::percent_decode_str;
use zeroize::Zeroizing;

/// Whether a `-ca-key` argument names a key in a store rather than a file.
/// A file literally called `pkcs11:x` can still be given as `./pkcs11:x`.
pub fn is_key_uri(arg: &str) -> bool {
    scheme_rest(arg).is_some()
}

/// The scheme (lower case; RFC 3986 schemes are case-insensitive) and the rest.
fn scheme_rest(arg: &str) -> Option<(&'static str, &str)> {
    ["awskms:", "pkcs11:"].into_iter().find_map(|s| arg.get(..s.len()).filter(|p| p.eq_ignore_ascii_case(s)).map(|_| (s, &arg[s.len()..])))
}

/// Where a PKCS#11 token's PIN comes from.
pub enum PinSource {
    /// `pin-value=` in the URI (visible in `ps`: for tests).
    Value(Zeroizing<String>),
    /// `pin-source=file:PATH` (or a bare path, as RFC 7512 allows).
    File(PathBuf),
}

impl std::fmt::Debug for PinSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the PIN itself.
        match self {
            PinSource::Value(_) => write!(f, "PinSource::Value(<redacted>)"),
            PinSource::File(p) => write!(f, "PinSource::File({p:?})"),
        }
    }
}

/// A parsed `pkcs11:` URI.
#[derive(Debug)]
pub struct Pkcs11Uri {
    /// The token's module (`module-path=`).
    pub module_path: PathBuf,
    /// The token's label (`token=`).
    pub token: Option<String>,
    /// The token's serial number (`serial=`).
    pub serial: Option<String>,
    /// The slot (`slot-id=`).
    pub slot_id: Option<u64>,
    /// The key object's label (`object=`).
    pub object: Option<String>,
    /// The key object's id (`id=`), as bytes.
    pub id: Option<Vec<u8>>,
    /// The PIN, when the URI says where it is.
    pub pin: Option<PinSource>,
}

/// A parsed key URI.
#[derive(Debug)]
pub enum KeyUri {
    /// A key in AWS KMS.
    AwsKms {
        /// A key id, key ARN, alias name (`alias/NAME`) or alias ARN.
        key_id: String,
        /// The region, when not the standard chain's.
        region: Option<String>,
        /// The AWS profile, when not the standard chain's.
        profile: Option<String>,
    },
    /// A key in a PKCS#11 token.
    Pkcs11(Pkcs11Uri),
}

/// A URI's attributes, percent-decoded, with the names checked against those
/// the scheme knows; a repeated attribute is an error.
fn attributes<'a>(part: &'a str, sep: char, known: &[&str], scheme: &str) -> Result<Vec<(&'a str, String)>, String> {
    let mut out: Vec<(&str, String)> = Vec::new();
    for attr in part.split(sep).filter(|a| !a.is_empty()) {
        let (name, value) = attr.split_once('=').ok_or_else(|| {
            // Never echoed when it may be a PIN (`?pin-value1234`).
            if attr.to_ascii_lowercase().contains("pin") || attr.contains('%') {
                format!("{scheme}: an attribute has no '=' (expected NAME=VALUE)")
            } else {
                format!("{scheme}: attribute {:?} has no '=' (expected NAME=VALUE)", shown(attr))
            }
        })?;
        if !known.contains(&name) {
            return Err(format!("{scheme}: unknown attribute {:?} (known: {})", shown(name), known.join(", ")));
        }
        if out.iter().any(|(n, _)| *n == name) {
            return Err(format!("{scheme}: attribute {name} is given twice"));
        }
        // An id is bytes (RFC 7512 percent-encodes them): kept as written,
        // decoded by the caller.
        if name == "id" {
            out.push((name, value.to_string()));
            continue;
        }
        let value = percent_decode_str(value).decode_utf8().map_err(|_| format!("{scheme}: attribute {name} is not UTF-8 once percent-decoded"))?;
        if value.chars().any(char::is_control) {
            return Err(format!("{scheme}: attribute {name} contains control characters"));
        }
        out.push((name, value.into_owned()));
    }
    Ok(out)
}

/// At most 60 characters of user text, for messages.
fn shown(s: &str) -> String {
    crate::pki::json::shown_max(s, 60)
}

impl KeyUri {
    /// Parses a key URI.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.len() > 4096 {
            return Err("the key URI is longer than 4096 bytes".into());
        }
        let scheme = scheme_rest(text);
        if let Some(("awskms:", rest)) = scheme {
            let attrs = attributes(rest, ';', &["key-id", "region", "profile"], "awskms")?;
            let get = |n: &str| attrs.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone()).filter(|v| !v.is_empty());
            let key_id = get("key-id").ok_or("awskms: the URI needs key-id=<key id | key ARN | alias/NAME> (e.g. awskms:key-id=alias/cluster-ca;region=eu-west-1)")?;
            return Ok(KeyUri::AwsKms { key_id, region: get("region"), profile: get("profile") });
        }
        let Some(("pkcs11:", rest)) = scheme else {
            return Err("a key URI starts with awskms: or pkcs11:".into());
        };
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        const PATH_ATTRS: &[&str] = &["module-path", "token", "object", "id", "serial", "slot-id", "type", "manufacturer", "model", "library-manufacturer", "library-description", "library-version", "slot-description", "slot-manufacturer"];
        const QUERY_ATTRS: &[&str] = &["module-path", "pin-value", "pin-source", "module-name"];
        let mut attrs = attributes(path, ';', PATH_ATTRS, "pkcs11")?;
        let query = attributes(query, '&', QUERY_ATTRS, "pkcs11")?;
        for (name, value) in query {
            if attrs.iter().any(|(n, _)| *n == name) {
                return Err(format!("pkcs11: attribute {name} is given twice"));
            }
            attrs.push((name, value));
        }
        let get = |n: &str| attrs.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone());
        if let Some(t) = get("type").filter(|t| t != "private") {
            return Err(format!("pkcs11: type={} names no private key; a CA key URI names a private key (type=private, or no type)", shown(&t)));
        }
        if get("module-name").is_some() {
            return Err("pkcs11: module-name= is not supported; give the module's file with module-path= (e.g. /usr/lib/softhsm/libsofthsm2.so)".into());
        }
        for unused in ["manufacturer", "model", "library-manufacturer", "library-description", "library-version", "slot-description", "slot-manufacturer"] {
            if get(unused).is_some() {
                return Err(format!("pkcs11: {unused}= is not supported to find a key; use token=, serial= or slot-id= with object= or id="));
            }
        }
        let module_path = get("module-path")
            .filter(|m| !m.is_empty())
            .ok_or("pkcs11: the URI needs module-path=<the token's PKCS#11 module> (e.g. pkcs11:module-path=/usr/lib/softhsm/libsofthsm2.so;token=ca;object=ca-key?pin-source=file:pin.txt)")?;
        // RFC 7512 percent-encodes id's bytes (id=%01%02); smallstep also
        // accepts plain hex (id=0102), which is read as hex when it is hex.
        let id = match get("id") {
            None => None,
            Some(v) if v.is_empty() => return Err("pkcs11: id= is empty".into()),
            Some(raw) => {
                let b = raw.as_bytes();
                if (0..b.len()).any(|i| b[i] == b'%' && !(i + 2 < b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit())) {
                    return Err(format!("pkcs11: id={} has a '%' not followed by two hex digits", shown(&raw)));
                }
                Some(if raw.contains('%') {
                    percent_decode_str(&raw).collect()
                } else {
                    hex_bytes(&raw).ok_or_else(|| format!("pkcs11: id={} is neither hex (id=01) nor percent-encoded (id=%01)", shown(&raw)))?
                })
            }
        };
        let slot_id = get("slot-id").map(|s| s.parse::<u64>().map_err(|_| format!("pkcs11: slot-id={} is not a number", shown(&s)))).transpose()?;
        let pin = match (get("pin-value"), get("pin-source")) {
            (Some(_), Some(_)) => return Err("pkcs11: give pin-value= or pin-source=, not both".into()),
            (Some(v), None) => Some(PinSource::Value(Zeroizing::new(v))),
            (None, Some(s)) => {
                let path = s.strip_prefix("file:").unwrap_or(&s);
                let path = path.strip_prefix("//").unwrap_or(path);
                if path.is_empty() {
                    return Err("pkcs11: pin-source= names no file (pin-source=file:/path/to/pin)".into());
                }
                Some(PinSource::File(PathBuf::from(path)))
            }
            (None, None) => None,
        };
        let object = get("object").filter(|o| !o.is_empty());
        if object.is_none() && id.is_none() {
            return Err("pkcs11: the URI needs object=<the key's label> or id=<its id> to find the key".into());
        }
        Ok(KeyUri::Pkcs11(Pkcs11Uri {
            module_path: PathBuf::from(module_path),
            token: get("token"),
            serial: get("serial"),
            slot_id,
            object,
            id,
            pin,
        }))
    }
}

/// Bytes from an even-length hex string.
fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    if s.is_empty() || !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok()).collect()
}

/// The URI without its secret: every attribute, in the path or the query,
/// whose name (percent-decoded, any case) mentions a PIN is dropped, except
/// `pin-source=` (it names a file, not the PIN), so a misspelt
/// `;PIN-Value=` or `?pin%2Dvalue=` is dropped too. What `plan.json`,
/// messages and logs show.
pub fn without_secrets(text: &str) -> String {
    let risky = |segment: &str| {
        let name = segment.split('=').next().unwrap_or("");
        let name = percent_decode_str(name).decode_utf8_lossy().to_ascii_lowercase();
        let name = name.trim();
        name.contains("pin") && name != "pin-source"
    };
    let (path, query) = match text.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (text, None),
    };
    let (scheme, rest) = match path.split_once(':') {
        Some((s, r)) => (s, r),
        None => ("", path),
    };
    let kept: Vec<&str> = rest.split(';').filter(|a| !risky(a)).collect();
    let mut out = if scheme.is_empty() { kept.join(";") } else { format!("{scheme}:{}", kept.join(";")) };
    if let Some(q) = query {
        let kept: Vec<&str> = q.split('&').filter(|a| !a.is_empty() && !risky(a)).collect();
        if !kept.is_empty() {
            out.push('?');
            out.push_str(&kept.join("&"));
        }
    }
    out
}

/// The URI to record (in `plan.json`): without secrets, and with a relative
/// `pin-source=file:` made absolute, so a later run from another directory
/// finds the same file.
pub fn to_record(text: &str) -> String {
    let shown = without_secrets(text);
    let Some((path, query)) = shown.split_once('?') else { return shown };
    let cwd = std::env::current_dir().ok();
    let query: Vec<String> = query
        .split('&')
        .map(|a| match (a.strip_prefix("pin-source="), &cwd) {
            (Some(src), Some(cwd)) => {
                let file = src.strip_prefix("file:").unwrap_or(src);
                let decoded = percent_decode_str(file).decode_utf8_lossy().into_owned();
                if decoded.starts_with('/') || decoded.starts_with("//") {
                    a.to_string()
                } else {
                    format!("pin-source=file:{}", cwd.join(decoded).display())
                }
            }
            _ => a.to_string(),
        })
        .collect();
    format!("{path}?{}", query.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn awskms_uris() {
        let KeyUri::AwsKms { key_id, region, profile } = KeyUri::parse("awskms:key-id=alias/ca;region=eu-west-1").unwrap() else { panic!() };
        assert_eq!((key_id.as_str(), region.as_deref(), profile), ("alias/ca", Some("eu-west-1"), None));
        let KeyUri::AwsKms { key_id, .. } = KeyUri::parse("awskms:key-id=arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab").unwrap() else { panic!() };
        assert!(key_id.starts_with("arn:aws:kms:"));
        assert!(KeyUri::parse("awskms:").unwrap_err().contains("key-id"));
        assert!(KeyUri::parse("awskms:key-id=a;colour=red").unwrap_err().contains("unknown attribute"));
        assert!(KeyUri::parse("awskms:key-id=a;key-id=b").unwrap_err().contains("twice"));
    }

    #[test]
    fn pkcs11_uris() {
        let KeyUri::Pkcs11(u) = KeyUri::parse("pkcs11:module-path=/usr/lib/softhsm/libsofthsm2.so;token=my%20ca;object=ca-key?pin-source=file:/run/pin").unwrap() else { panic!() };
        assert_eq!(u.token.as_deref(), Some("my ca"));
        assert_eq!(u.object.as_deref(), Some("ca-key"));
        assert!(matches!(u.pin, Some(PinSource::File(ref p)) if p == std::path::Path::new("/run/pin")));
        let KeyUri::Pkcs11(u) = KeyUri::parse("pkcs11:token=t;id=%02%ff?module-path=/m.so&pin-value=1234").unwrap() else { panic!() };
        assert_eq!(u.id.as_deref(), Some(&[2u8, 255][..]));
        let KeyUri::Pkcs11(u) = KeyUri::parse("pkcs11:module-path=/m.so;token=t;id=02").unwrap() else { panic!() };
        assert_eq!(u.id.as_deref(), Some(&[2u8][..]));
        assert!(KeyUri::parse("pkcs11:token=t;object=k").unwrap_err().contains("module-path"));
        assert!(KeyUri::parse("pkcs11:module-path=/m.so;token=t").unwrap_err().contains("object="));
        assert!(KeyUri::parse("pkcs11:module-path=/m.so;object=k;type=cert").is_err());
    }

    #[test]
    fn pins_never_survive_in_the_shown_uri() {
        let parsed = KeyUri::parse("pkcs11:module-path=/m.so;object=k?pin-value=123456").unwrap();
        assert!(!format!("{parsed:?}").contains("123456"));
        let shown = without_secrets("pkcs11:module-path=/m.so;object=k?pin-value=123456");
        assert!(!shown.contains("123456"), "{shown}");
        assert_eq!(without_secrets("pkcs11:object=k?pin-value=1&module-path=/m.so"), "pkcs11:object=k?module-path=/m.so");
        assert_eq!(without_secrets("pkcs11:object=k?pin-source=file:/p"), "pkcs11:object=k?pin-source=file:/p");
        for typo in ["pkcs11:object=k;pin-value=9876", "pkcs11:object=k?PIN-VALUE=9876", "pkcs11:object=k?pin%2Dvalue=9876", "pkcs11:object=k?pin-value9876"] {
            assert!(!without_secrets(typo).contains("9876"), "{typo}: {}", without_secrets(typo));
        }
        assert!(is_key_uri("PKCS11:object=k") && !is_key_uri("pkcs11") && !is_key_uri("./pkcs11:x"));
        assert!(KeyUri::parse("pkcs11:module-path=/m.so;id=%zz").is_err());
        assert!(to_record("pkcs11:object=k?pin-source=file:pin").contains("pin-source=file:/"));
    }
}
