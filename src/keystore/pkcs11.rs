//! A CA key in a PKCS#11 token (an HSM, a smart card, SoftHSM), through the
//! `cryptoki` binding: the module is loaded at run time, the token found by
//! label (or serial, or slot), the key by label or id. RSA signs with
//! CKM_SHA256_RSA_PKCS; ECDSA with CKM_ECDSA over the SHA-256/384 digest,
//! whose raw `r‖s` answer is DER-encoded for the certificate. The public key
//! is read once from the token's public key object (or the private key's
//! public attributes), and every signature is checked against it.

use std::sync::Mutex;

use cryptoki::context::{CInitializeArgs, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use super::uri::{PinSource, Pkcs11Uri};
use super::StoreError;
use crate::pki::key::KeyAlgo;
use crate::pki::signer::StoreKey;

/// DER of the named curves' OIDs, as CKA_EC_PARAMS carries them.
const P256_PARAMS: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384_PARAMS: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];

/// A private key in a token, with an open (logged-in) session.
pub struct TokenKey {
    uri: String,
    algo: KeyAlgo,
    bits: Vec<u8>,
    key: ObjectHandle,
    // One operation at a time per session (PKCS#11 sessions are not
    // re-entrant); the context outlives the session (field order).
    session: Mutex<Session>,
    _context: Pkcs11,
    calls: std::sync::atomic::AtomicUsize,
}

/// A PKCS#11 error as one short line: the function and the CKR_ code.
fn ck(what: &str, e: &CkError) -> String {
    match e {
        CkError::Pkcs11(rv, function) => format!("{what}: {function:?} returned {}", rv_name(*rv)),
        CkError::LibraryLoading(e) => format!("{what}: {e}"),
        other => format!("{what}: {other}"),
    }
}

/// `PinIncorrect` as `CKR_PIN_INCORRECT`.
fn rv_name(rv: RvError) -> String {
    let name = format!("{rv:?}");
    let mut out = String::from("CKR");
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

fn fail(uri: &str, message: impl std::fmt::Display) -> StoreError {
    StoreError::Pkcs11 { uri: uri.to_string(), message: message.to_string() }
}

/// A module is loaded (its code runs in kpki) only from an absolute path to
/// a regular file that neither it nor its directory lets other users
/// change, and only if it is a PKCS#11 module.
fn check_module(path: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let shown = path.display();
    if !path.is_absolute() {
        return Err(format!("module-path={shown} is not an absolute path; give the module's full path (e.g. /usr/lib/softhsm/libsofthsm2.so)"));
    }
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("the PKCS#11 module {shown} does not exist (is the token's software installed? SoftHSM's is /usr/lib/softhsm/libsofthsm2.so)"))
        }
        Err(e) => return Err(format!("the PKCS#11 module {shown}: {e}")),
    };
    if !meta.is_file() {
        return Err(format!("the PKCS#11 module {shown} is not a file"));
    }
    let me = crate::sys::effective_uid();
    let writable_by_others = |m: &std::fs::Metadata| m.permissions().mode() & 0o022 != 0 && !(m.is_dir() && m.permissions().mode() & 0o1000 != 0) || (m.uid() != 0 && m.uid() != me);
    if writable_by_others(&meta) {
        return Err(format!("the PKCS#11 module {shown} can be changed by other users (owner or mode); kpki does not load it"));
    }
    if let Some(parent) = path.parent().and_then(|d| std::fs::metadata(d).ok()) {
        if writable_by_others(&parent) {
            return Err(format!("the PKCS#11 module {shown} is in a directory other users can change; kpki does not load it"));
        }
    }
    match crate::sys::is_pkcs11_module(path) {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!("{shown} is not a PKCS#11 module (it has no C_GetFunctionList)")),
        Err(e) => Err(format!("cannot load the PKCS#11 module {shown}: {}", crate::pki::json::shown_max(&e, 200))),
    }
}

/// The PIN the URI points at, or `KPKI_PKCS11_PIN`.
fn read_pin(uri: &str, p: &Pkcs11Uri, warn: &dyn Fn(&str)) -> Result<Option<Zeroizing<String>>, StoreError> {
    match &p.pin {
        Some(PinSource::Value(v)) => {
            warn("the PIN is in the key URI (pin-value=), visible to every user of this machine through ps; use pin-source=file:PATH or KPKI_PKCS11_PIN");
            Ok(Some(v.clone()))
        }
        Some(PinSource::File(path)) => {
            // The shared reader: never blocks on a FIFO, refuses devices and
            // directories, and reads at most its size limit.
            let text = crate::output::read_file(path).map_err(|e| fail(uri, format!("the PIN file: {e}")))?;
            let text = Zeroizing::new(text);
            if text.len() > 256 {
                return Err(fail(uri, format!("the PIN file {} is longer than 256 bytes", path.display())));
            }
            let pin = std::str::from_utf8(&text).map_err(|_| fail(uri, format!("the PIN file {} is not UTF-8", path.display())))?;
            let pin = pin.strip_suffix('\n').unwrap_or(pin);
            let pin = pin.strip_suffix('\r').unwrap_or(pin);
            if pin.is_empty() {
                // Not sent: a wrong PIN uses up one of the token's attempts.
                return Err(fail(uri, format!("the PIN file {} is empty", path.display())));
            }
            Ok(Some(Zeroizing::new(pin.to_string())))
        }
        None => Ok(std::env::var("KPKI_PKCS11_PIN").ok().map(Zeroizing::new)),
    }
}

impl TokenKey {
    /// Opens the token and finds the key; `shown` is the URI without secrets.
    pub fn open(shown: &str, p: &Pkcs11Uri, warn: &dyn Fn(&str)) -> Result<Self, StoreError> {
        let uri = shown;
        check_module(&p.module_path).map_err(|m| fail(uri, m))?;
        let pin = read_pin(uri, p, warn)?;
        let context = Pkcs11::new(&p.module_path).map_err(|e| fail(uri, ck(&format!("cannot load the PKCS#11 module {}", p.module_path.display()), &e)))?;
        match context.initialize(CInitializeArgs::OsThreads) {
            Ok(()) | Err(CkError::AlreadyInitialized) => {}
            Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => return Err(fail(uri, ck("the module did not initialise", &e))),
        }
        // Tokens are found by label, serial or slot: `softhsm2-util
        // --init-token --free` moves a token to a random slot id and leaves
        // an uninitialised slot behind, which is skipped.
        let slots = context.get_slots_with_token().map_err(|e| fail(uri, ck("cannot list the module's slots", &e)))?;
        let mut found = Vec::new();
        let mut labels = Vec::new();
        for slot in slots {
            let Ok(info) = context.get_token_info(slot) else { continue };
            if !info.token_initialized() {
                continue;
            }
            let label = info.label().trim_end().to_string();
            labels.push(label.clone());
            let matches = p.token.as_ref().is_none_or(|t| *t == label)
                && p.serial.as_ref().is_none_or(|s| s.as_str() == info.serial_number().trim_end())
                && p.slot_id.is_none_or(|id| id == slot.id());
            if matches {
                found.push((slot, info));
            }
        }
        let (slot, info) = match found.len() {
            1 => found.remove(0),
            0 if labels.is_empty() => return Err(fail(uri, "the module has no initialised token")),
            0 => return Err(fail(uri, format!("no token matches the URI; the module's tokens: {}", labels.join(", ")))),
            _ => return Err(fail(uri, format!("several tokens match the URI ({}); add token= or serial=", labels.join(", ")))),
        };
        let session = context.open_ro_session(slot).map_err(|e| fail(uri, ck("cannot open a session", &e)))?;
        match (&pin, info.login_required()) {
            (Some(pin), _) => match session.login(UserType::User, Some(&AuthPin::new(pin.to_string()))) {
                Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
                Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => return Err(fail(uri, "wrong PIN (CKR_PIN_INCORRECT)")),
                Err(CkError::Pkcs11(RvError::PinLocked, _)) => return Err(fail(uri, "the token's user PIN is locked (CKR_PIN_LOCKED)")),
                Err(e) => return Err(fail(uri, ck("login failed", &e))),
            },
            (None, true) => {
                return Err(fail(uri, "the token needs a PIN: add ?pin-source=file:PATH to the URI, or set KPKI_PKCS11_PIN"));
            }
            (None, false) => {}
        }
        let mut template = vec![Attribute::Class(ObjectClass::PRIVATE_KEY)];
        if let Some(label) = &p.object {
            template.push(Attribute::Label(label.as_bytes().to_vec()));
        }
        if let Some(id) = &p.id {
            template.push(Attribute::Id(id.clone()));
        }
        let keys = session.find_objects(&template).map_err(|e| fail(uri, ck("cannot search the token", &e)))?;
        let key = match keys.as_slice() {
            [one] => *one,
            [] => return Err(fail(uri, "no private key in the token matches object=/id= (with the right PIN, `pkcs11-tool --module MODULE --login --list-objects` lists them)")),
            _ => return Err(fail(uri, format!("{} private keys match object=/id=; add id= or object= to choose one", keys.len()))),
        };
        let (algo, bits) = public_key(&session, key, &template).map_err(|m| fail(uri, m))?;
        // The key must be allowed to sign (CKA_SIGN).
        if let Ok(attrs) = session.get_attributes(key, &[AttributeType::Sign]) {
            if attrs.iter().any(|a| matches!(a, Attribute::Sign(false))) {
                return Err(fail(uri, "the key may not sign (CKA_SIGN is false)"));
            }
        }
        Ok(TokenKey { uri: uri.to_string(), algo, bits, key, session: Mutex::new(session), _context: context, calls: Default::default() })
    }
}

/// The key's algorithm and subjectPublicKey bits: from the public key
/// object with the same label/id, or the private key's own CKA_MODULUS and
/// CKA_PUBLIC_EXPONENT (RSA tokens keep them on the private key).
fn public_key(session: &Session, private: ObjectHandle, template: &[Attribute]) -> Result<(KeyAlgo, Vec<u8>), String> {
    let kind = session.get_attributes(private, &[AttributeType::KeyType]).map_err(|e| ck("cannot read the key's type", &e))?;
    let kind = kind.iter().find_map(|a| if let Attribute::KeyType(k) = a { Some(*k) } else { None }).ok_or("the token did not say the key's type")?;
    let mut public_template = template.to_vec();
    public_template[0] = Attribute::Class(ObjectClass::PUBLIC_KEY);
    let public = session.find_objects(&public_template).map_err(|e| ck("cannot search the token", &e))?;
    if kind == KeyType::RSA {
        let from = public.first().copied().unwrap_or(private);
        let attrs = session.get_attributes(from, &[AttributeType::Modulus, AttributeType::PublicExponent]).map_err(|e| ck("cannot read the RSA public key", &e))?;
        let n = attrs.iter().find_map(|a| if let Attribute::Modulus(n) = a { Some(n.clone()) } else { None }).ok_or("the token did not give the RSA modulus")?;
        let e = attrs.iter().find_map(|a| if let Attribute::PublicExponent(e) = a { Some(e.clone()) } else { None }).ok_or("the token did not give the RSA public exponent")?;
        let n_bits = n.iter().skip_while(|b| **b == 0).count() * 8;
        let algo = KeyAlgo::Rsa(u32::try_from(n_bits).unwrap_or(0));
        return Ok((algo, rsa_public_key_der(&n, &e)?));
    }
    if kind == KeyType::EC {
        let Some(&public) = public.first() else {
            return Err("the token has no public key object for this EC key (same label/id): import it, e.g. with pkcs11-tool --write-object KEY.pub.der --type pubkey".into());
        };
        let attrs = session.get_attributes(public, &[AttributeType::EcParams, AttributeType::EcPoint]).map_err(|e| ck("cannot read the EC public key", &e))?;
        let params = attrs.iter().find_map(|a| if let Attribute::EcParams(p) = a { Some(p.clone()) } else { None }).ok_or("the token did not give the key's curve")?;
        let point = attrs.iter().find_map(|a| if let Attribute::EcPoint(p) = a { Some(p.clone()) } else { None }).ok_or("the token did not give the EC point")?;
        let (algo, len) = if params == P256_PARAMS {
            (KeyAlgo::EcdsaP256, 65)
        } else if params == P384_PARAMS {
            (KeyAlgo::EcdsaP384, 97)
        } else {
            return Err("the key's curve is not P-256 or P-384".into());
        };
        // CKA_EC_POINT is a DER OCTET STRING around the uncompressed point
        // (some tokens give the bare point).
        let bare = if point.len() == len && point[0] == 4 {
            point
        } else {
            use der::Decode;
            der::asn1::OctetString::from_der(&point).map_err(|_| "the token's EC point is not an OCTET STRING".to_string())?.into_bytes()
        };
        if bare.len() != len || bare[0] != 4 {
            return Err("the token's EC point is not an uncompressed point of the key's curve".into());
        }
        return Ok((algo, bare));
    }
    Err("the key is neither RSA nor EC; kpki signs with RSA 2048/3072/4096 and ECDSA P-256/P-384 keys".into())
}

/// RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }.
fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Result<Vec<u8>, String> {
    use der::Encode;
    let n = der::asn1::UintRef::new(n).map_err(|e| e.to_string())?;
    let e = der::asn1::UintRef::new(e).map_err(|e| e.to_string())?;
    [n, e].to_der().map_err(|e| e.to_string())
}

/// Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } from PKCS#11's `r‖s`.
pub(super) fn ecdsa_der(raw: &[u8]) -> Result<Vec<u8>, String> {
    if raw.is_empty() || !raw.len().is_multiple_of(2) {
        return Err(format!("the token's ECDSA signature has {} bytes, not r‖s", raw.len()));
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    rsa_public_key_der(r, s)
}

impl StoreKey for TokenKey {
    fn uri(&self) -> &str {
        &self.uri
    }
    fn algo(&self) -> KeyAlgo {
        self.algo
    }
    fn public_key_bits(&self) -> &[u8] {
        &self.bits
    }
    fn sign_calls(&self) -> usize {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, String> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let session = self.session.lock().map_err(|_| "the token's session is unusable after a failure".to_string())?;
        let sign = |mechanism: &Mechanism<'_>, data: &[u8]| session.sign(mechanism, self.key, data).map_err(|e| ck(&format!("{}: signing failed", self.uri), &e));
        match self.algo {
            KeyAlgo::Rsa(_) => sign(&Mechanism::Sha256RsaPkcs, msg),
            KeyAlgo::EcdsaP256 => ecdsa_der(&sign(&Mechanism::Ecdsa, aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, msg).as_ref())?),
            KeyAlgo::EcdsaP384 => ecdsa_der(&sign(&Mechanism::Ecdsa, aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, msg).as_ref())?),
            other => Err(format!("{} keys are not signed with through a token", other.name())),
        }
    }
}
