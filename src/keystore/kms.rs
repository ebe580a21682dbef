//! A CA key in AWS KMS, through `aws-sdk-kms` with the standard credential
//! chain (environment, `AWS_PROFILE`/`profile=`, SSO, instance roles;
//! `AWS_ENDPOINT_URL` honoured), operation timeouts and the SDK's retries.
//!
//! Opening the key costs two calls (DescribeKey: usage, spec and state are
//! checked here, because an emulator may sign with a disabled key;
//! GetPublicKey: the only thing cached); each certificate then costs one
//! Sign call, `MessageType=RAW` for a TBS of at most 4096 bytes (KMS's
//! limit) and `DIGEST` with the SHA-256/384 hash beyond.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_kms as kms;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use kms::error::SdkError;
use kms::primitives::Blob;
use kms::types::{KeySpec, KeyState, KeyUsageType, MessageType, SigningAlgorithmSpec};

use super::StoreError;
use crate::pki::key::KeyAlgo;
use crate::pki::signer::StoreKey;

/// KMS's limit for `MessageType=RAW`.
const RAW_LIMIT: usize = 4096;

/// A KMS key ready to sign: a runtime of its own (signing is called from
/// synchronous code, sometimes inside another runtime), the client, and
/// what DescribeKey and GetPublicKey said.
pub struct KmsKey {
    uri: String,
    key_id: String,
    algo: KeyAlgo,
    alg: SigningAlgorithmSpec,
    bits: Vec<u8>,
    client: kms::Client,
    endpoint: String,
    runtime: Option<tokio::runtime::Runtime>,
    calls: AtomicUsize,
}

impl Drop for KmsKey {
    fn drop(&mut self) {
        // Dropping a runtime inside another one panics; this never blocks.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Runs `fut` on `rt` and waits for it from any thread, in a runtime or not.
fn run<T: Send + 'static>(rt: &tokio::runtime::Runtime, fut: impl Future<Output = T> + Send + 'static) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    rt.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv().ok()
}

/// One line for a failed call: operation, endpoint, status or transport
/// failure, the service's code and message. Never the SDK's Debug output.
fn sdk_error<E: ProvideErrorMetadata + std::error::Error + 'static>(op: &str, endpoint: &str, e: &SdkError<E, kms::config::http::HttpResponse>) -> String {
    let code = e.code().unwrap_or("");
    let what = match e {
        SdkError::ServiceError(ctx) => format!("HTTP {}", ctx.raw().status().as_u16()),
        SdkError::ResponseError(ctx) => format!("HTTP {} with an unreadable answer", ctx.raw().status().as_u16()),
        SdkError::TimeoutError(_) => "no answer in time (after the SDK's retries)".to_string(),
        SdkError::DispatchFailure(f) if f.is_timeout() => "the connection timed out (after the SDK's retries)".to_string(),
        SdkError::DispatchFailure(f) if f.is_io() => "the connection failed (after the SDK's retries)".to_string(),
        // Not sent or not built: a missing credential is the usual cause.
        _ => {
            if aws_smithy_types::error::display::DisplayErrorContext(e).to_string().contains("redentials") {
                return "no AWS credentials were found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (--aws-profile, or profile= in the URI), or run where an instance role is available".to_string();
            }
            let verb = if matches!(e, SdkError::DispatchFailure(_)) { "sent" } else { "built" };
            format!("the request could not be {verb}")
        }
    };
    let mut line = format!("{op} to {endpoint} failed: {what}");
    if !code.is_empty() {
        line.push_str(&format!(", {code}"));
    }
    if let Some(m) = e.message().filter(|m| !m.is_empty()) {
        line.push_str(&format!(": {}", crate::pki::json::shown_max(m, 200)));
    }
    line
}

impl KmsKey {
    /// Connects, checks the key (DescribeKey) and reads its public key.
    pub fn open(shown: &str, key_id: &str, region: Option<&str>, profile: Option<&str>) -> Result<Self, StoreError> {
        let fail = |message: String| StoreError::Kms { uri: shown.to_string(), message };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("kpki-kms")
            .enable_all()
            .build()
            .map_err(|e| fail(format!("cannot start the AWS client: {e}")))?;
        let (region, profile) = (region.map(str::to_string), profile.map(str::to_string));
        let conf = run(&runtime, async move {
            let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(10))
                    .operation_timeout(Duration::from_secs(40))
                    .build(),
            );
            if let Some(r) = region {
                loader = loader.region(Region::new(r));
            }
            if let Some(p) = profile {
                loader = loader.profile_name(p);
            }
            loader.load().await
        })
        .ok_or_else(|| fail("the AWS client stopped".into()))?;
        let Some(region) = conf.region().map(|r| r.to_string()) else {
            return Err(fail("no AWS region: add ;region=NAME to the URI, or set AWS_REGION (or the profile's region)".into()));
        };
        let endpoint = conf.endpoint_url().map(str::to_string).unwrap_or_else(|| format!("KMS in {region}"));
        let client = kms::Client::new(&conf);

        let (c, id) = (client.clone(), key_id.to_string());
        let described = run(&runtime, async move { c.describe_key().key_id(id).send().await }).ok_or_else(|| fail("the AWS client stopped".into()))?;
        let described = described.map_err(|e| match e.code() {
            Some("NotFoundException") => fail(format!("no such key {:?} (DescribeKey: NotFoundException)", crate::pki::json::shown_max(key_id, 120))),
            _ => fail(sdk_error("DescribeKey", &endpoint, &e)),
        })?;
        let meta = described.key_metadata().ok_or_else(|| fail("DescribeKey returned no key metadata".into()))?;
        // Checked here, in this order, each saying which check refused.
        if meta.key_state() != Some(&KeyState::Enabled) {
            let state = meta.key_state().map_or("unknown", |s| s.as_str());
            return Err(fail(format!("the key's state is {state} (DescribeKey KeyState), not Enabled: it cannot sign")));
        }
        if meta.key_usage() != Some(&KeyUsageType::SignVerify) {
            let usage = meta.key_usage().map_or("unknown", |u| u.as_str());
            return Err(fail(format!("the key's usage is {usage} (DescribeKey KeyUsage); a CA key needs SIGN_VERIFY")));
        }
        let (algo, alg) = match meta.key_spec() {
            Some(KeySpec::Rsa2048) => (KeyAlgo::Rsa(2048), SigningAlgorithmSpec::RsassaPkcs1V15Sha256),
            Some(KeySpec::Rsa3072) => (KeyAlgo::Rsa(3072), SigningAlgorithmSpec::RsassaPkcs1V15Sha256),
            Some(KeySpec::Rsa4096) => (KeyAlgo::Rsa(4096), SigningAlgorithmSpec::RsassaPkcs1V15Sha256),
            Some(KeySpec::EccNistP256) => (KeyAlgo::EcdsaP256, SigningAlgorithmSpec::EcdsaSha256),
            Some(KeySpec::EccNistP384) => (KeyAlgo::EcdsaP384, SigningAlgorithmSpec::EcdsaSha384),
            other => {
                let spec = other.map_or("unknown", |s| s.as_str());
                return Err(fail(format!("the key's spec is {spec} (DescribeKey KeySpec); kpki signs with RSA_2048/3072/4096 and ECC_NIST_P256/P384 keys")));
            }
        };
        if !meta.signing_algorithms().is_empty() && !meta.signing_algorithms().contains(&alg) {
            return Err(fail(format!("the key does not offer {} (DescribeKey SigningAlgorithms)", alg.as_str())));
        }
        let key_arn = meta.arn().unwrap_or(key_id).to_string();

        let (c, id) = (client.clone(), key_arn.clone());
        let public = run(&runtime, async move { c.get_public_key().key_id(id).send().await }).ok_or_else(|| fail("the AWS client stopped".into()))?;
        let public = public.map_err(|e| fail(sdk_error("GetPublicKey", &endpoint, &e)))?;
        let spki_der = public.public_key().ok_or_else(|| fail("GetPublicKey returned no key".into()))?.as_ref().to_vec();
        use x509_parser::prelude::FromDer;
        let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&spki_der).map_err(|_| fail("GetPublicKey returned a key that is not a SubjectPublicKeyInfo".into()))?;
        if crate::pki::cert::spki_algo(&spki) != Some(algo) {
            return Err(fail(format!("GetPublicKey returned a key that is not the {} key DescribeKey described", algo.name())));
        }
        let bits = spki.subject_public_key.data.to_vec();
        Ok(KmsKey { uri: shown.to_string(), key_id: key_arn, algo, alg, bits, client, endpoint, runtime: Some(runtime), calls: AtomicUsize::new(0) })
    }

}

impl StoreKey for KmsKey {
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
        self.calls.load(Ordering::Relaxed)
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, String> {
        let (message, kind) = if msg.len() <= RAW_LIMIT {
            (msg.to_vec(), MessageType::Raw)
        } else {
            let hash = if self.algo == KeyAlgo::EcdsaP384 { &aws_lc_rs::digest::SHA384 } else { &aws_lc_rs::digest::SHA256 };
            (aws_lc_rs::digest::digest(hash, msg).as_ref().to_vec(), MessageType::Digest)
        };
        let Some(rt) = &self.runtime else { return Err("the AWS client is closed".into()) };
        self.calls.fetch_add(1, Ordering::Relaxed);
        let (c, id, alg) = (self.client.clone(), self.key_id.clone(), self.alg.clone());
        let answer = run(rt, async move { c.sign().key_id(id).message(Blob::new(message)).message_type(kind).signing_algorithm(alg).send().await })
            .ok_or("the AWS client stopped")?;
        let answer = answer.map_err(|e| format!("{}: {}", self.uri, sdk_error("Sign", &self.endpoint, &e)))?;
        answer.signature().map(|s| s.as_ref().to_vec()).ok_or_else(|| format!("{}: Sign returned no signature", self.uri))
    }
}
