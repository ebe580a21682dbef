#!/usr/bin/env python3
"""Measures the release profile's settings one at a time instead of assuming
them: builds kpki with each variant (PKI-only, `--no-default-features`, so a
variant builds in minutes rather than the AWS SDK's quarter of an hour; the
commands timed here never touch the SDK) and times the same commands with
each, alternating variants round by round. Writes bench/profile-settings.md,
which bench.py copies into BENCHMARKS.md.

usage: profiles.py [--rounds N] [--variants a,b,...]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Each variant differs from the shipped profile (Cargo.toml) in one setting.
VARIANTS = {
    "shipped (lto=thin, codegen-units=1, panic=abort)": [],
    "lto=false": ["profile.release.lto=false"],
    "lto=fat": ['profile.release.lto="fat"'],
    "codegen-units=16": ["profile.release.codegen-units=16"],
    "panic=unwind": ['profile.release.panic="unwind"'],
}


def build(name, overrides):
    target = os.path.join(ROOT, "target", "profiles", name.split(" ")[0].replace("=", "-"))
    cmd = ["cargo", "build", "--quiet", "--release", "--locked", "--no-default-features", "--bin", "kpki", "--target-dir", target]
    for o in overrides:
        cmd += ["--config", o]
    start = time.time()
    subprocess.run(cmd, cwd=ROOT, check=True)
    exe = os.path.join(target, "release", "kpki")
    return exe, time.time() - start


def timed(cmd, cwd=None):
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--variants", help="comma-separated subset of: " + ", ".join(VARIANTS))
    a = ap.parse_args()
    names = [n for n in VARIANTS if not a.variants or n.split(" ")[0] in a.variants.split(",")]
    exes, build_s = {}, {}
    for n in names:
        print(f"building {n} ...", file=sys.stderr)
        exes[n], build_s[n] = build(n, VARIANTS[n])
    tmp = tempfile.mkdtemp()
    try:
        csr = os.path.join(tmp, "ca-csr.json")
        with open(os.path.join(ROOT, "ca-config", "ca-csr.json")) as f:
            text = f.read()
        with open(csr, "w") as f:
            f.write(text.replace('"algo": "rsa"', '"algo": "ecdsa"').replace('"size": 2048', '"size": 256'))
        cfg = os.path.join(tmp, "cluster.toml")
        seed = subprocess.run([exes[names[0]], "print-defaults", "cluster"], capture_output=True, text=True, check=True).stdout
        with open(cfg, "w") as f:
            f.write(seed.replace('key_algo = "rsa-2048"', 'key_algo = "ecdsa-p256"'))
        rsa_cfg = os.path.join(tmp, "cluster-rsa.toml")
        with open(rsa_cfg, "w") as f:
            f.write(seed)
        times = {n: {"initca": [], "bootstrap": [], "verify": [], "rsa": []} for n in names}
        for r in range(a.rounds):
            for n in names:
                exe = exes[n]
                times[n]["initca"].append(timed([exe, "gencert", "-initca", csr]))
                out = os.path.join(tmp, f"set-{r}-{names.index(n)}")
                times[n]["bootstrap"].append(timed([exe, "bootstrap", "--config", cfg, "--out", out]))
                times[n]["verify"].append(timed([exe, "verify", "--dir", out]))
                # RSA key generation takes a random time: the mean over the
                # rounds (11 keys each) is what compares.
                rsa_out = os.path.join(tmp, f"rsa-{r}-{names.index(n)}")
                times[n]["rsa"].append(timed([exe, "bootstrap", "--config", rsa_cfg, "--out", rsa_out]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    lines = [
        f"Release profile settings, one changed at a time ({a.rounds} alternating rounds, medians, ms; "
        "PKI-only builds, `--no-default-features`; written by `python3 bench/profiles.py`):",
        "",
        "| profile | binary (MB) | build from scratch (s) | gencert -initca P-256 | bootstrap P-256 set | verify the set | bootstrap RSA-2048 set (mean) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for n in names:
        t = times[n]
        built = f"{build_s[n]:.0f}" if build_s[n] > 5 else "cached"
        size = os.path.getsize(exes[n]) / 1e6
        lines.append(
            f"| {n} | {size:.1f} | {built} | {statistics.median(t['initca']) * 1e3:.2f} | "
            f"{statistics.median(t['bootstrap']) * 1e3:.2f} | {statistics.median(t['verify']) * 1e3:.2f} | "
            f"{statistics.mean(t['rsa']) * 1e3:.1f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    with open(os.path.join(ROOT, "bench", "profile-settings.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
