//! cfssl's JSON output as `cfssljson` reads it: the bare object `gencert`
//! prints, or the API envelope `{"success","result","errors"}`.

use serde_json::Value;
use zeroize::Zeroizing;

use super::json::FieldError;
use super::{cert, key};

/// The PEMs in cfssl's JSON output, each checked to hold what its field says.
#[derive(Default)]
pub struct Pems {
    /// `cert` (or `certificate`).
    pub cert: Option<String>,
    /// `key`: a private key (possibly encrypted).
    pub key: Option<Zeroizing<String>>,
    /// `csr` (or `certificate_request`).
    pub csr: Option<String>,
    /// `bundle`: a chain.
    pub bundle: Option<String>,
}

/// Why cfssl JSON output was refused.
#[derive(Debug, thiserror::Error)]
pub enum PemsError {
    /// Not JSON.
    #[error("{0}; expected the output of kpki/cfssl gencert")]
    Json(FieldError),
    /// An API envelope with `"success": false`.
    #[error("the request failed: {0}")]
    RequestFailed(String),
    /// Not an envelope (without `-bare`).
    #[error("it is not an API response {{\"success\",\"result\"}}; for `cfssl gencert` output pass -bare")]
    NotEnvelope,
    /// Not a JSON object.
    #[error("it must be an object")]
    NotObject,
    /// None of the known fields.
    #[error("it has no cert, key, csr or bundle")]
    Empty,
    /// A field that is not a string.
    #[error("field {0:?} must be a PEM string")]
    NotString(&'static str),
    /// A field whose PEM does not hold what the field says.
    #[error("field {field:?}: {message}")]
    Field {
        /// The field's name.
        field: &'static str,
        /// What is wrong with its PEM.
        message: String,
    },
}

/// Reads cfssl's JSON output: the bare object (`bare`) or the API envelope.
pub fn read_pems(text: &[u8], bare: bool) -> Result<Pems, PemsError> {
    let value: Value = super::json::parse(text).map_err(PemsError::Json)?;
    let obj = if bare {
        value
    } else {
        let ok = value.get("success").and_then(Value::as_bool);
        match (ok, value.get("result")) {
            (Some(true), Some(r)) => r.clone(),
            (Some(false), _) => {
                let msgs: Vec<String> = value
                    .get("errors")
                    .and_then(Value::as_array)
                    .map(|errs| errs.iter().filter_map(|e| e.get("message").and_then(Value::as_str).map(one_line)).collect())
                    .unwrap_or_default();
                return Err(PemsError::RequestFailed(msgs.join("; ")));
            }
            _ => return Err(PemsError::NotEnvelope),
        }
    };
    let Value::Object(map) = &obj else { return Err(PemsError::NotObject) };
    let field = |names: &[&'static str]| -> Result<Option<&str>, PemsError> {
        for n in names {
            match map.get(*n) {
                None | Some(Value::Null) => continue,
                Some(Value::String(s)) if s.is_empty() => continue,
                Some(Value::String(s)) => return Ok(Some(s.as_str())),
                Some(_) => return Err(PemsError::NotString(n)),
            }
        }
        Ok(None)
    };
    let cert_pem = field(&["cert", "certificate"])?;
    let key_pem = field(&["key", "private_key"])?;
    let csr_pem = field(&["csr", "certificate_request"])?;
    let bundle_pem = match map.get("bundle") {
        Some(Value::String(s)) => Some(s.as_str()),
        Some(Value::Object(b)) => b.get("bundle").and_then(Value::as_str),
        _ => None,
    };
    if cert_pem.is_none() && key_pem.is_none() && csr_pem.is_none() && bundle_pem.is_none() {
        return Err(PemsError::Empty);
    }
    let bad = |field: &'static str| move |e: cert::CertError| PemsError::Field { field, message: e.to_string() };
    if let Some(c) = cert_pem {
        cert::cert_from_pem(c.as_bytes()).map_err(bad("cert"))?;
    }
    if let Some(c) = csr_pem {
        cert::csr_from_pem(c.as_bytes()).map_err(bad("csr"))?;
    }
    if let Some(b) = bundle_pem {
        cert::certs_from_pem(b.as_bytes()).map_err(bad("bundle"))?;
    }
    if let Some(k) = key_pem {
        match key::PrivateKey::from_pem(k.as_bytes()) {
            Ok(_) | Err(key::KeyError::Encrypted) => {}
            Err(e) => return Err(PemsError::Field { field: "key", message: e.to_string() }),
        }
    }
    Ok(Pems {
        cert: cert_pem.map(str::to_string),
        key: key_pem.map(|k| Zeroizing::new(k.to_string())),
        csr: csr_pem.map(str::to_string),
        bundle: bundle_pem.map(str::to_string),
    })
}

/// A message from the input, shown on one line of ours.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
