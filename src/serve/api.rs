//! cfssl's HTTP API as functions: a request body in, a status and cfssl's
//! envelope out (`{"success","result","errors":[{"code","message"}],"messages"}`).
//! No I/O here: the HTTP layer (`http.rs`) reads bodies and writes answers.
//! Field names and shapes are cfssl 1.2's, so its clients work unchanged.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::pki::cert;
use crate::pki::generate::{self, Generated};
use crate::pki::issue::Ca;
use crate::pki::key::KeyFormat;
use crate::pki::profile::{CaConstraint, Profile, SigningConfig};
use crate::pki::request::{split_hostname_flag, CsrRequest};

/// The endpoints under `/api/v1/cfssl/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// Sign a PKCS#10 CSR.
    Sign,
    /// Sign with an HMAC token over the request.
    AuthSign,
    /// A new key, CSR and certificate.
    NewCert,
    /// A new key and CSR.
    NewKey,
    /// The CA certificate and a profile's usages and expiry.
    Info,
    /// A certificate as certinfo JSON.
    CertInfo,
    /// A new CA (only when the server allows it).
    InitCa,
}

impl Endpoint {
    /// The endpoint for a path segment (`sign`, `newcert`, ...).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "sign" => Endpoint::Sign,
            "authsign" => Endpoint::AuthSign,
            "newcert" => Endpoint::NewCert,
            "newkey" => Endpoint::NewKey,
            "info" => Endpoint::Info,
            "certinfo" => Endpoint::CertInfo,
            "init_ca" => Endpoint::InitCa,
            _ => return None,
        })
    }
}

impl Endpoint {
    /// Whether the request signs with the CA's key.
    pub fn signs(self) -> bool {
        matches!(self, Endpoint::Sign | Endpoint::AuthSign | Endpoint::NewCert)
    }

    /// Whether the request makes an RSA key (or a CA): seconds of work that
    /// go to the blocking pool (see [`Endpoint::is_heavy`]).
    pub fn is_heavy(self, body: &[u8]) -> bool {
        let key_of = |v: &Value| v.get("key").and_then(|k| k.get("algo")).and_then(Value::as_str).map(str::to_ascii_lowercase);
        match self {
            Endpoint::InitCa => true,
            Endpoint::NewKey | Endpoint::NewCert => {
                let Ok(v) = serde_json::from_slice::<Value>(body) else { return false };
                let req = if self == Endpoint::NewCert { v.get("request").cloned().unwrap_or(Value::Null) } else { v };
                // cfssl's default key is ECDSA P-256.
                !matches!(key_of(&req).as_deref(), None | Some("ecdsa") | Some("ed25519"))
            }
            _ => false,
        }
    }
}

/// What the server signs with.
pub struct Signer {
    /// The CA.
    pub ca: Ca,
    /// The signing config (profiles).
    pub config: SigningConfig,
    /// The config's auth keys, resolved to bytes.
    pub auth_keys: BTreeMap<String, Zeroizing<Vec<u8>>>,
    /// Whether `init_ca` may make new CAs.
    pub allow_init_ca: bool,
}

/// An answer: HTTP status and cfssl's envelope.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The envelope.
    pub body: Value,
}

/// What a request's access-log line says besides method, path, status and
/// duration: the signing profile and the subject's CN, once known (never a
/// body, a key or a token).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFields {
    /// The profile the request named ("default" when it named none).
    pub profile: Option<String>,
    /// The CN of the certificate asked for.
    pub cn: Option<String>,
}

impl Answer {
    fn ok(result: Value) -> Self {
        Answer { status: 200, body: json!({"success": true, "result": result, "errors": [], "messages": []}) }
    }
    /// An error envelope with `status` as HTTP status and cfssl code; the
    /// message is cut at 300 characters (it may quote the request).
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        let mut message: String = message.into();
        if message.chars().count() > 300 {
            message = message.chars().take(300).collect::<String>() + "…";
        }
        Answer { status, body: json!({"success": false, "result": null, "errors": [{"code": status, "message": message}], "messages": []}) }
    }
}

fn bad(message: impl Into<String>) -> Answer {
    Answer::error(400, message)
}

/// A failed issue: the request's fault (400), or the CA's key store's
/// (502: the request was fine, a retry may succeed).
fn issue_failure(prefix: &str, e: generate::GenerateError) -> Answer {
    match e {
        generate::GenerateError::Issue(crate::pki::issue::IssueError::Store(why)) => Answer::error(502, format!("the CA's key store did not sign: {why}")),
        e => bad(format!("{prefix}{e}")),
    }
}

/// Handles one request to `ep` with `body`: the answer, and what the
/// access log says about the request.
pub fn handle(s: &Signer, ep: Endpoint, body: &[u8], now: OffsetDateTime) -> (Answer, LogFields) {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return (bad(format!("the request body is not JSON: {e}")), LogFields::default()),
    };
    let Value::Object(req) = value else { return (bad("the request body must be a JSON object"), LogFields::default()) };
    let mut log = LogFields::default();
    let result = match ep {
        Endpoint::Sign => sign(s, &req, now, false, &mut log),
        Endpoint::AuthSign => authsign(s, &req, now, &mut log),
        Endpoint::NewCert => newcert(s, &req, now, &mut log),
        Endpoint::NewKey => newkey(&req, &mut log),
        Endpoint::Info => info(s, &req, &mut log),
        Endpoint::CertInfo => certinfo(&req),
        Endpoint::InitCa => init_ca(s, &req, now, &mut log),
    };
    let answer = match result {
        Ok(v) => Answer::ok(v),
        Err(a) => a,
    };
    (answer, log)
}

fn string<'a>(req: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, Answer> {
    match req.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(bad(format!("{field}: must be a string"))),
    }
}

/// The profile a request names: unknown names are errors (cfssl silently
/// signs with the default profile instead).
fn profile<'a>(s: &'a Signer, req: &Map<String, Value>, log: &mut LogFields) -> Result<(String, &'a Profile), Answer> {
    let name = string(req, "profile")?.unwrap_or("");
    let name_or_default = if name.is_empty() { "default".to_string() } else { name.to_string() };
    // Logged whether or not the config has it.
    log.profile = Some(name_or_default.clone());
    let p = s.config.profile(Some(name)).map_err(|e| bad(format!("profile: {e}")))?;
    Ok((name_or_default, p))
}

/// The hosts replacing the CSR's: a `hostname` comma string wins over
/// `hosts`; `null` or an empty list keeps the CSR's (as cfssl).
fn hosts(req: &Map<String, Value>) -> Result<Option<Vec<String>>, Answer> {
    if let Some(h) = string(req, "hostname")?.filter(|h| !h.is_empty()) {
        return Ok(Some(split_hostname_flag(h)));
    }
    match req.get("hosts") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => {
            let list: Option<Vec<String>> = items.iter().map(|v| v.as_str().map(str::to_string)).collect();
            let list = list.ok_or_else(|| bad("hosts: must be a list of strings"))?;
            Ok(if list.is_empty() { None } else { Some(list) })
        }
        Some(_) => Err(bad("hosts: must be a list of strings")),
    }
}

fn sign(s: &Signer, req: &Map<String, Value>, now: OffsetDateTime, authenticated: bool, log: &mut LogFields) -> Result<Value, Answer> {
    let (name, p) = profile(s, req, log)?;
    if p.auth_key.is_some() && !authenticated {
        return Err(Answer::error(401, format!("profile {name} requires authenticated requests: use authsign with its auth_key (kpki refuses what cfssl lets through, cfssl #250, #788)")));
    }
    let csr = string(req, "certificate_request")?.ok_or_else(|| bad("certificate_request: missing (a PEM CSR)"))?;
    let hosts = hosts(req)?;
    let wanted = generate::read_csr(csr.as_bytes(), hosts.as_deref()).map_err(|e| bad(format!("certificate_request: {e}")))?;
    log.cn = crate::pki::issue::common_name(&wanted.subject);
    let made = generate::sign_csr(wanted, p, &s.ca, now).map_err(|e| issue_failure("", e.into()))?;
    Ok(json!({"certificate": made.cert.unwrap_or_default()}))
}

fn authsign(s: &Signer, req: &Map<String, Value>, now: OffsetDateTime, log: &mut LogFields) -> Result<Value, Answer> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let token = string(req, "token")?.ok_or_else(|| bad("token: missing"))?;
    let inner = string(req, "request")?.ok_or_else(|| bad("request: missing"))?;
    let token = b64.decode(token).map_err(|_| bad("token: not base64"))?;
    let inner = b64.decode(inner).map_err(|_| bad("request: not base64"))?;
    let Ok(Value::Object(sign_req)) = serde_json::from_slice::<Value>(&inner) else { return Err(bad("request: not a JSON object")) };
    let (name, p) = profile(s, &sign_req, log)?;
    let key_name = p.auth_key.as_ref().ok_or_else(|| bad(format!("profile {name} has no auth_key; use sign")))?;
    let key = s.auth_keys.get(key_name).ok_or_else(|| Answer::error(500, "the profile's auth key is not loaded"))?;
    let hmac_key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    // Constant-time comparison.
    if aws_lc_rs::hmac::verify(&hmac_key, &inner, &token).is_err() {
        return Err(Answer::error(401, "invalid token"));
    }
    sign(s, &sign_req, now, true, log)
}

/// The CN a CSR JSON object asks for, as sent (before it is checked): the
/// access log names it even when the request is refused.
fn requested_cn(v: Option<&Value>) -> Option<String> {
    // The key lookup CsrRequest::from_json uses ("CN" first, then any case).
    let obj = crate::pki::json::Obj::new("", v?).ok()?;
    obj.string("CN").ok().flatten().filter(|s| !s.is_empty()).map(str::to_string)
}

fn request(req: &Map<String, Value>, field: &str) -> Result<CsrRequest, Answer> {
    let v = req.get(field).ok_or_else(|| bad(format!("{field}: missing (a CSR JSON object)")))?;
    let text = serde_json::to_vec(v).map_err(|e| bad(e.to_string()))?;
    CsrRequest::from_json(&text).map_err(|e| bad(format!("{field}: {e}")))
}

/// `{"md5","sha-1"}` of DER, upper-case hex, as cfssl's `sums`.
fn sums(der: &[u8]) -> Value {
    use md5::Digest;
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02X}")).collect::<String>();
    let sha1 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
    json!({"md5": hex(&md5::Md5::digest(der)), "sha-1": hex(sha1.as_ref())})
}

fn der_of(pem: &str, csr: bool) -> Vec<u8> {
    if csr {
        cert::csr_from_pem(pem.as_bytes()).map(|d| d.to_vec()).unwrap_or_default()
    } else {
        cert::cert_from_pem(pem.as_bytes()).map(|d| d.to_vec()).unwrap_or_default()
    }
}

fn newcert(s: &Signer, req: &Map<String, Value>, now: OffsetDateTime, log: &mut LogFields) -> Result<Value, Answer> {
    log.cn = requested_cn(req.get("request"));
    let (name, p) = profile(s, req, log)?;
    if p.auth_key.is_some() {
        return Err(Answer::error(401, format!("profile {name} requires authenticated requests; newcert has none (cfssl issues here without a token, cfssl #250, #788)")));
    }
    if matches!(p.ca, CaConstraint::Ca { .. }) {
        return Err(bad(format!("profile {name} makes CA certificates; newcert makes leaves")));
    }
    let csr_req = request(req, "request")?;
    // What is issued, once the request is read.
    log.cn = csr_req.subject.cn.clone();
    let made: Generated = generate::leaf(&csr_req, None, p, &s.ca, KeyFormat::Cfssl, now).map_err(|e| issue_failure("request: ", e))?;
    let cert_pem = made.cert.unwrap_or_default();
    let csr_pem = made.csr.unwrap_or_default();
    let key = made.key.map(|k| k.to_string()).unwrap_or_default();
    Ok(json!({
        "certificate": cert_pem,
        "certificate_request": csr_pem,
        "private_key": key,
        "sums": {"certificate": sums(&der_of(&cert_pem, false)), "certificate_request": sums(&der_of(&csr_pem, true))},
    }))
}

fn newkey(req: &Map<String, Value>, log: &mut LogFields) -> Result<Value, Answer> {
    let text = serde_json::to_vec(req).map_err(|e| bad(e.to_string()))?;
    let csr_req = CsrRequest::from_json(&text).map_err(|e| {
        log.cn = requested_cn(Some(&Value::Object(req.clone())));
        bad(format!("request: {e}"))
    })?;
    log.cn = csr_req.subject.cn.clone();
    let made = generate::key_and_csr(&csr_req, KeyFormat::Cfssl).map_err(|e| bad(format!("request: {e}")))?;
    let csr_pem = made.csr.unwrap_or_default();
    Ok(json!({
        "private_key": made.key.map(|k| k.to_string()).unwrap_or_default(),
        "certificate_request": csr_pem,
        "sums": {"certificate_request": sums(&der_of(&csr_pem, true))},
    }))
}


fn info(s: &Signer, req: &Map<String, Value>, log: &mut LogFields) -> Result<Value, Answer> {
    let (_, p) = profile(s, req, log)?;
    Ok(json!({
        "certificate": crate::pki::key::pem_encode("CERTIFICATE", s.ca.cert_der()),
        "usages": p.usages.names(),
        "expiry": crate::pki::duration::go_hours(p.expiry),
    }))
}

fn certinfo(req: &Map<String, Value>) -> Result<Value, Answer> {
    if req.contains_key("domain") {
        return Err(bad("domain: kpki serve fetches nothing from the network; send the certificate"));
    }
    let pem = string(req, "certificate")?.ok_or_else(|| bad("certificate: missing (a PEM certificate)"))?;
    let der = cert::cert_from_pem(pem.as_bytes()).map_err(|e| bad(format!("certificate: {e}")))?;
    cert::certinfo(&der).map_err(|e| bad(format!("certificate: {e}")))
}

fn init_ca(s: &Signer, req: &Map<String, Value>, now: OffsetDateTime, log: &mut LogFields) -> Result<Value, Answer> {
    let text = serde_json::to_vec(req).map_err(|e| bad(e.to_string()))?;
    if !s.allow_init_ca {
        log.cn = requested_cn(Some(&Value::Object(req.clone())));
        return Err(Answer::error(403, "init_ca is disabled on this server (start it with --allow-init-ca)"));
    }
    let csr_req = CsrRequest::from_json(&text).map_err(|e| {
        log.cn = requested_cn(Some(&Value::Object(req.clone())));
        bad(format!("request: {e}"))
    })?;
    log.cn = csr_req.subject.cn.clone();
    let made = generate::initca(&csr_req, None, KeyFormat::Cfssl, now).map_err(|e| bad(format!("request: {e}")))?;
    Ok(json!({"certificate": made.cert, "private_key": made.key.map(|k| k.to_string())}))
}
