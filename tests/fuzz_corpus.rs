//! Replays the fuzz targets' committed inputs — the seed corpus
//! (`fuzz/corpus/<target>/`) and every input a fuzzing run found a bug with
//! (`fuzz/regressions/<target>/`) — through the same harness functions that
//! `make fuzz` runs under libFuzzer, so `make test` keeps them fixed without
//! a nightly toolchain.

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod harness;

use std::path::Path;

type Target = fn(&[u8]);

const TARGETS: &[(&str, Target)] = &[
    ("csr_json", harness::csr_json),
    ("signing_config", harness::signing_config),
    ("cluster_config", harness::cluster_config),
    ("cert", harness::cert),
    ("key", harness::key),
    ("csr_pem", harness::csr_pem),
    ("cfssljson", harness::cfssljson),
    ("k8s_files", harness::k8s_files),
    ("ca_sign", harness::ca_sign),
    ("plan_json", harness::plan_json),
    ("existing_set", harness::existing_set),
];

fn inputs(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

#[test]
fn every_target_has_a_harness_binary_and_seeds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for (name, _) in TARGETS {
        assert!(root.join("fuzz_targets").join(format!("{name}.rs")).is_file(), "fuzz target {name} has no binary");
        assert!(!inputs(&root.join("corpus").join(name)).is_empty(), "fuzz target {name} has no seed corpus");
    }
    let binaries = inputs(&root.join("fuzz_targets")).len();
    assert_eq!(binaries, TARGETS.len(), "a fuzz target is missing from this replay");
}

#[test]
fn committed_fuzz_inputs_replay_cleanly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut ran = 0;
    for (name, target) in TARGETS {
        for kind in ["corpus", "regressions"] {
            for path in inputs(&root.join(kind).join(name)) {
                let data = std::fs::read(&path).unwrap();
                let outcome = std::panic::catch_unwind(|| target(&data));
                assert!(outcome.is_ok(), "fuzz target {name} fails on {}", path.display());
                ran += 1;
            }
        }
    }
    assert!(ran >= 30, "only {ran} committed fuzz inputs");
}
