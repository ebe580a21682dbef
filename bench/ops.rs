//! Per-operation timings inside one process: key generation per algorithm,
//! signing, verifying and parsing. A small harness (warm-up, then N timed
//! iterations, min and median) keeps the build light; `make bench` runs it
//! next to the whole-command comparison with cfssl
//! (`cargo run --release --example ops`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use kpki::pki::issue::{self, Ca, CertPlan, SubjectKey, Validity};
use kpki::pki::key::{KeyAlgo, KeyFormat, PrivateKey};
use kpki::pki::profile::Profile;
use kpki::pki::request::Subject;
use kpki::pki::{cert, key};

fn measure(name: &str, iters: usize, mut f: impl FnMut()) -> (String, Duration, Duration, Duration) {
    for _ in 0..iters.div_ceil(10) {
        f();
    }
    let mut times: Vec<Duration> = (0..iters)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    (name.to_string(), times[0], times[times.len() / 2], mean)
}

fn main() {
    // `ops keygen-rsa2048 N`: the mean of N aws-lc RSA-2048 key generations
    // on one thread, in one line for bench/bench.py's floor (keys x one
    // keygen / cores).
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("keygen-rsa2048") {
        let n: u32 = args.get(1).and_then(|s| s.parse().ok()).filter(|n| *n > 0).unwrap_or(50);
        let start = Instant::now();
        for _ in 0..n {
            black_box(PrivateKey::generate(KeyAlgo::Rsa(2048)).unwrap());
        }
        println!("mean_ms={:.3}", start.elapsed().as_secs_f64() * 1000.0 / f64::from(n));
        return;
    }
    let now = time::OffsetDateTime::now_utc();
    let mut rows = Vec::new();
    // RSA key generation takes a random time (how far the next primes are),
    // so the mean is what a set of keys costs: aws-lc's RSA_generate_key_ex
    // through aws-lc-rs directly, through kpki (one key), and ten keys on
    // every core.
    let rsa_iters = 60;
    rows.push(measure("keygen rsa-2048 aws-lc-rs", rsa_iters, || {
        black_box(aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap());
    }));
    rows.push(measure("keygen rsa-2048 kpki (one key)", rsa_iters, || {
        black_box(PrivateKey::generate(KeyAlgo::Rsa(2048)).unwrap());
    }));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    rows.push(measure(&format!("10 x keygen rsa-2048 kpki, {cores} threads"), 10, || {
        black_box(PrivateKey::generate_many(KeyAlgo::Rsa(2048), 10).unwrap());
    }));
    for (algo, iters) in [(KeyAlgo::EcdsaP256, 2000), (KeyAlgo::EcdsaP384, 1000), (KeyAlgo::Ed25519, 2000)] {
        rows.push(measure(&format!("keygen {}", algo.name()), iters, || {
            black_box(PrivateKey::generate(algo).unwrap());
        }));
    }
    for ca_algo in [KeyAlgo::Rsa(2048), KeyAlgo::EcdsaP256] {
        let ca_key = PrivateKey::generate(ca_algo).unwrap();
        let plan = CertPlan { subject: Subject::cn_o("Kubernetes", "Kubernetes").to_dn(), sans: vec![], validity: Validity::cfssl(now, time::Duration::days(3650)) };
        let ca_der = issue::self_signed_ca(&plan, None, &ca_key).unwrap();
        let ca = Ca::new(ca_der.clone(), ca_key).unwrap();
        let leaf = PrivateKey::generate(KeyAlgo::EcdsaP256).unwrap();
        let leaf_plan = CertPlan { subject: Subject::cn_o("admin", "system:masters").to_dn(), sans: vec![], validity: Validity::cfssl(now, time::Duration::days(365)) };
        let profile = Profile::cfssl_default();
        let sk = SubjectKey::of(&leaf);
        rows.push(measure(&format!("sign leaf with {} CA", ca_algo.name()), 300, || {
            black_box(issue::sign(&leaf_plan, &sk, &profile, &ca).unwrap());
        }));
        let der = issue::sign(&leaf_plan, &sk, &profile, &ca).unwrap().der;
        let ca_parsed = cert::parse(&ca_der).unwrap();
        rows.push(measure(&format!("verify leaf signed by {} CA", ca_algo.name()), 1000, || {
            let c = cert::parse(&der).unwrap();
            cert::verify_signed_by(&c, ca_parsed.public_key()).unwrap();
            black_box(&c);
        }));
        let pem = key::pem_encode("CERTIFICATE", &der);
        rows.push(measure("parse certificate PEM", 5000, || {
            let d = cert::cert_from_pem(pem.as_bytes()).unwrap();
            black_box(cert::parse(&d).unwrap().subject().to_string());
        }));
        let key_pem = ca.key().file().expect("a file key").to_pem(KeyFormat::Cfssl).unwrap();
        rows.push(measure(&format!("read {} key PEM", ca_algo.name()), 1000, || {
            black_box(PrivateKey::from_pem(key_pem.as_bytes()).unwrap());
        }));
    }
    println!("{:<40} {:>12} {:>12} {:>12}", "operation", "min", "median", "mean");
    for (name, min, med, mean) in rows {
        println!("{:<40} {:>12} {:>12} {:>12}", name, fmt(min), fmt(med), fmt(mean));
    }
}

fn fmt(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 1000.0 { format!("{:.2} ms", us / 1000.0) } else { format!("{us:.1} µs") }
}
