//! Shell completions and man pages (issue 15 item 4), read back by their
//! consumers: bash parses and runs the completion function, groff renders
//! every page with warnings on.

mod common;

use std::process::{Command, Stdio};

use common::*;

fn kpki_out(args: &[&str]) -> String {
    String::from_utf8(run(Command::new(kpki()).args(args)).stdout).unwrap()
}

#[test]
fn bash_completes_commands_and_flags() {
    let script = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(script.path(), kpki_out(&["completions", "bash"])).unwrap();
    run(Command::new("bash").arg("-n").arg(script.path()));
    // bash runs clap's completion function as it would on <TAB>.
    let complete = |words: &str| {
        let prog = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); COMP_LINE=\"{words}\"; COMP_POINT=${{#COMP_LINE}}; _kpki kpki \"${{COMP_WORDS[-1]}}\" \"${{COMP_WORDS[-2]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.path().display()
        );
        let o = run(Command::new("bash").args(["-c", &prog]).stdin(Stdio::null()));
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    assert!(complete("kpki boo").lines().any(|l| l == "bootstrap"), "{}", complete("kpki boo"));
    assert!(complete("kpki renew --fin").lines().any(|l| l == "--finish-rotation"), "{}", complete("kpki renew --fin"));
    for shell in ["zsh", "fish"] {
        let text = kpki_out(&["completions", shell]);
        assert!(text.contains("bootstrap") && text.contains("check-expiration"), "{shell}");
    }
    let o = Command::new(kpki()).args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn every_man_page_renders_without_groff_warnings() {
    require("groff");
    let help = kpki_out(&["--help"]);
    let mut pages = vec![None];
    for cmd in ["gencert", "genkey", "sign", "json", "certinfo", "bootstrap", "verify", "check-expiration", "renew", "destroy", "kubeconfig", "version"] {
        assert!(help.contains(cmd), "{cmd} not in --help");
        pages.push(Some(cmd));
    }
    pages.push(Some("kubeconfig user"));
    for page in pages {
        let mut args = vec!["man"];
        args.extend(page);
        let roff = kpki_out(&args);
        assert!(roff.starts_with(".ie") || roff.contains(".TH"), "{page:?}: not roff");
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), &roff).unwrap();
        let o = run(Command::new("groff").args(["-man", "-Tutf8", "-ww", "-z"]).arg(f.path()));
        assert!(o.stderr.is_empty(), "{page:?}: groff: {}", String::from_utf8_lossy(&o.stderr));
        let text = run(Command::new("groff").args(["-man", "-Tascii", "-P-cbou"]).arg(f.path()));
        let text = String::from_utf8_lossy(&text.stdout);
        let title = page.map(|p| format!("kpki-{}", p.replace(' ', "-"))).unwrap_or_else(|| "kpki".into());
        assert!(text.contains("NAME") && text.contains(&title), "{page:?}: {text}");
    }
}

#[test]
fn help_names_loglevel_and_subcommands_offer_no_version_flag() {
    let help = kpki_out(&["--help"]);
    assert!(help.contains("-loglevel"), "{help}");
    // (json has its own -version, as cfssljson; it works.)
    for cmd in ["sign", "gencert", "certinfo"] {
        let h = kpki_out(&[cmd, "--help"]);
        assert!(!h.contains("--version"), "{cmd} --help offers --version: {h}");
    }
    assert!(kpki_out(&["--version"]).starts_with("kpki "));
    let o = Command::new(kpki()).args(["man", "kubeconfig-user"]).output().unwrap();
    assert!(o.status.success());
}
