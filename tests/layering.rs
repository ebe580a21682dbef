//! The layers of ARCHITECTURE.md, enforced: a module may import only the
//! layers below it, and the crates that do I/O (the file system, the
//! terminal, the network, the AWS SDK) stay where ARCHITECTURE.md puts them.
//! Reads the sources as text, so it fails the moment someone adds the
//! import, before any reviewer has to notice.

use std::path::{Path, PathBuf};

/// A rule: files under `dir` must not contain any of `forbidden` (outside
/// comments); `why` is the failure message.
struct Rule {
    dir: &'static str,
    forbidden: &'static [&'static str],
    why: &'static str,
}

const IO: &[&str] = &["std::fs", "std::io::stdin", "std::net::TcpStream", "clap", "tokio", "aws_sdk", "aws_config", "aws_smithy", "rustix", "procfs", "rpassword"];

const RULES: &[Rule] = &[
    Rule {
        dir: "src/pki",
        forbidden: &["crate::model", "crate::k8s", "crate::provision", "crate::output", "crate::cli", "crate::sys"],
        why: "pki is the bottom layer: it imports no other kpki module",
    },
    Rule { dir: "src/pki", forbidden: IO, why: "pki is data in, data out: no file system, terminal, network, runtime or SDK" },
    Rule {
        dir: "src/model",
        forbidden: &["crate::k8s", "crate::provision", "crate::output", "crate::cli", "crate::sys"],
        why: "model sits on pki only; k8s and provision both use it",
    },
    Rule { dir: "src/model", forbidden: IO, why: "model is data: no I/O" },
    Rule {
        dir: "src/k8s",
        forbidden: &["crate::provision", "crate::output", "crate::cli", "crate::sys"],
        why: "k8s never knows which provider ran, and returns files as values for output to write",
    },
    Rule { dir: "src/k8s", forbidden: IO, why: "k8s is data in, data out" },
    Rule { dir: "src/provision", forbidden: &["crate::k8s", "crate::cli", "clap"], why: "provision supplies an inventory; it knows nothing of certificates or flags" },
    Rule {
        dir: "src/keystore",
        forbidden: &["crate::model", "crate::k8s", "crate::provision", "crate::cli", "clap"],
        why: "keystore opens key stores for pki's StoreKey: it knows nothing of sets, providers or flags",
    },
    Rule { dir: "src/output.rs", forbidden: &["crate::k8s", "crate::provision", "crate::cli", "clap", "tokio"], why: "output writes files it is given" },
];

fn sources(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())) {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(sources(&p));
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
    out
}

/// The code of a source file without comments (line comments and doc comments).
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().map(|(i, l)| (i + 1, l.split("//").next().unwrap_or(""))).filter(|(_, l)| !l.trim().is_empty())
}

fn word_at(line: &str, needle: &str) -> bool {
    line.match_indices(needle).any(|(i, _)| {
        let before = line[..i].chars().next_back();
        let after = line[i + needle.len()..].chars().next();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_') && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// Every use of one of `words` in the code (not comments) of the sources
/// under `dir` (a directory or one file), except the files in `except`, as
/// `path:line: uses word`.
fn uses(dir: &str, except: &[&str], words: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    for file in sources(&root.join(dir)) {
        let rel = file.strip_prefix(root).unwrap();
        if except.iter().any(|e| rel == Path::new(e)) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in code_lines(&text) {
            for w in words.iter().filter(|w| word_at(line, w)) {
                found.push(format!("{}:{n}: uses {w}", rel.display()));
            }
        }
    }
    found
}

#[test]
fn no_module_imports_a_layer_above_it_or_io_it_must_not_do() {
    let violations: Vec<String> = RULES.iter().flat_map(|rule| uses(rule.dir, &[], rule.forbidden).into_iter().map(move |v| format!("{v}: {}", rule.why))).collect();
    assert!(violations.is_empty(), "layering violations:\n{}", violations.join("\n"));
}

#[test]
fn the_aws_sdk_is_only_in_the_aws_provider() {
    let violations = uses("src", &["src/provision/aws.rs", "src/keystore/kms.rs"], &["aws_sdk_ec2", "aws_sdk_elasticloadbalancingv2", "aws_config", "aws_smithy"]);
    assert!(violations.is_empty(), "the AWS SDK belongs in src/provision/aws.rs (and KMS in src/keystore/kms.rs) only:\n{}", violations.join("\n"));
    let violations = uses("src", &["src/keystore/kms.rs"], &["aws_sdk_kms"]);
    assert!(violations.is_empty(), "the KMS SDK belongs in src/keystore/kms.rs only:\n{}", violations.join("\n"));
    let violations = uses("src", &["src/keystore/pkcs11.rs"], &["cryptoki"]);
    assert!(violations.is_empty(), "the PKCS#11 binding belongs in src/keystore/pkcs11.rs only:\n{}", violations.join("\n"));
}

#[test]
fn unsafe_code_is_only_in_the_one_wrapper_module() {
    let violations = uses("src", &["src/sys.rs", "src/lib.rs"], &["unsafe"]);
    assert!(violations.is_empty(), "unsafe outside src/sys.rs:\n{}", violations.join("\n"));
}

#[test]
fn the_rules_can_fail() {
    // The matcher must see an import in code and ignore one in a comment.
    assert!(word_at("use crate::provision::Inventory;", "crate::provision"));
    assert!(!word_at("use crate::provisioning;", "crate::provision"));
    let text = "// use crate::provision;\nlet x = 1; // crate::provision\nuse crate::provision::X;\n";
    let hits: Vec<usize> = code_lines(text).filter(|(_, l)| word_at(l, "crate::provision")).map(|(n, _)| n).collect();
    assert_eq!(hits, vec![3]);
}
