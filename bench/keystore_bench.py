#!/usr/bin/env python3
"""A P-256 `kpki bootstrap` with the CA key in a SoftHSM token against the
same bootstrap with the CA key in a file (issue 17's performance section).

Each job is one `kpki bootstrap` command line run under bash, timed around
the whole subprocess, in alternating rounds (file, token, token, file, ...);
every output set is verified afterwards, untimed: `openssl verify` of every
certificate against ca.pem, no `ca-key.pem` in the token's set and its
ca.pem certifying the token's public key (read by pkcs11-tool), `kpki
verify --dir`. The number of signing calls the token made is read from a
separate `-v` run and compared with the number of certificates: one call
per certificate, no extra round trips. Writes the section between the
keystore-bench markers of BENCHMARKS.md with --write.
"""

import argparse
import atexit
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sections  # noqa: E402  (bench/sections.py)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "1234"
START_MARK = "<!-- keystore-bench:start -->"
END_MARK = "<!-- keystore-bench:end -->"


def fail(msg):
    sys.exit(f"keystore_bench: {msg}")


def run(argv, env=None, what=None):
    p = subprocess.run(argv, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        fail(f"{what or shlex.join(argv)} failed (exit {p.returncode}):\n{p.stdout[-2000:]}{p.stderr[-2000:]}")
    return p


def timed(cmd, env):
    start = time.perf_counter()
    p = subprocess.run(["bash", "-c", cmd], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if p.returncode != 0:
        fail(f"`{cmd}` failed (exit {p.returncode}):\n{p.stderr.decode(errors='replace')[-3000:]}")
    return elapsed


def spki(argv, env=None):
    """DER SubjectPublicKeyInfo of what openssl prints as a PEM public key."""
    pem = run(argv, env=env).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pem.encode(), capture_output=True)
    if der.returncode != 0 or not der.stdout:
        fail(f"openssl could not read the public key of `{shlex.join(argv)}`")
    return der.stdout


def verify(kpki, out, env, token_spki):
    files = os.listdir(out)
    certs = sorted(f for f in files if f.endswith(".pem") and not f.endswith("-key.pem"))
    if "ca.pem" not in certs:
        fail(f"{out}: no ca.pem")
    p = run(["openssl", "verify", "-x509_strict", "-CAfile", os.path.join(out, "ca.pem")] + [os.path.join(out, c) for c in certs])
    if sum(1 for l in p.stdout.splitlines() if l.endswith(": OK")) != len(certs):
        fail(f"{out}: openssl verify did not report OK for every certificate:\n{p.stdout}")
    if token_spki is not None:
        if "ca-key.pem" in files:
            fail(f"{out}: the token's set has a ca-key.pem")
        if spki(["openssl", "x509", "-noout", "-pubkey", "-in", os.path.join(out, "ca.pem")]) != token_spki:
            fail(f"{out}: ca.pem does not certify the token's key")
    elif "ca-key.pem" not in files:
        fail(f"{out}: the file-key set has no ca-key.pem")
    run([kpki, "verify", "--dir", out], env=env)
    return len(certs)


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    return f"{os.cpu_count()} cores{', ' + model if model else ''}"


def write_section(path, text):
    sections.write_section(path, text, START_MARK, END_MARK)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--kpki", default=os.path.join(ROOT, "target", "release", "kpki"))
    ap.add_argument("--write", help="replace (or append) the keystore-bench section of this Markdown file")
    a = ap.parse_args()
    a.kpki = os.path.abspath(a.kpki)
    if not os.access(a.kpki, os.X_OK):
        fail(f"{a.kpki} not found: build it with `cargo build --release` (or pass --kpki PATH)")
    for tool in ("softhsm2-util", "pkcs11-tool", "openssl", "bash"):
        if not shutil.which(tool):
            fail(f"{tool} not found: run scripts/install-test-deps.sh")
    if not os.path.isfile(MODULE):
        fail(f"{MODULE} not found: run scripts/install-test-deps.sh")

    d = tempfile.mkdtemp(prefix="keystore-bench-", dir=os.path.join(ROOT, "target"))
    atexit.register(shutil.rmtree, d, True)
    os.makedirs(os.path.join(d, "tokens"))
    conf = os.path.join(d, "softhsm2.conf")
    with open(conf, "w") as f:
        f.write(f"directories.tokendir = {d}/tokens\n")
    with open(os.path.join(d, "pin"), "w") as f:
        f.write(PIN)
    env = dict(os.environ, SOFTHSM2_CONF=conf)
    env.pop("KPKI_PKCS11_PIN", None)
    run(["softhsm2-util", "--init-token", "--free", "--label", "bench", "--pin", PIN, "--so-pin", "5678"], env=env)
    run(["pkcs11-tool", "--module", MODULE, "--token-label", "bench", "--login", "--pin", PIN,
         "--keypairgen", "--key-type", "EC:prime256v1", "--label", "ca", "--id", "01"], env=env)
    pub = os.path.join(d, "pub.der")
    run(["pkcs11-tool", "--module", MODULE, "--token-label", "bench", "--read-object", "--type", "pubkey", "--id", "01", "-o", pub], env=env)
    token_spki = open(pub, "rb").read()
    uri = f"pkcs11:module-path={MODULE};token=bench;object=ca?pin-source=file:{d}/pin"

    config = os.path.join(d, "cluster.toml")
    text = run([a.kpki, "print-defaults", "cluster"]).stdout
    if 'key_algo = "rsa-2048"' not in text:
        fail('`kpki print-defaults cluster` has no `key_algo = "rsa-2048"` line to rewrite')
    with open(config, "w") as f:
        f.write(text.replace('key_algo = "rsa-2048"', 'key_algo = "ecdsa-p256"'))

    jobs = {
        "CA key in a file": lambda out: f"{shlex.quote(a.kpki)} bootstrap --config {shlex.quote(config)} --out {shlex.quote(out)}",
        "CA key in SoftHSM": lambda out: f"{shlex.quote(a.kpki)} bootstrap --config {shlex.quote(config)} --out {shlex.quote(out)} --ca-key {shlex.quote(uri)}",
    }
    names = list(jobs)
    times = {n: [] for n in names}
    n = 0
    certs = {}
    for r in range(-1, a.rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            n += 1
            out = os.path.join(d, f"{n:03d}-{re.sub(r'[^a-z]+', '-', name.lower())}")
            s = timed(jobs[name](out), env)
            certs[name] = verify(a.kpki, out, env, token_spki if "SoftHSM" in name else None)
            if r >= 0:
                times[name].append(s)

    # Signing calls: one -v run, untimed.
    out = os.path.join(d, "calls")
    p = run(["bash", "-c", jobs["CA key in SoftHSM"](out) + " -v"], env=env)
    m = re.search(r"(\d+) signature\(s\) made by", p.stderr)
    if not m:
        fail(f"no signature count in bootstrap -v's output:\n{p.stderr[-2000:]}")
    calls = int(m.group(1))
    n_certs = verify(a.kpki, out, env, token_spki)
    if calls != n_certs:
        fail(f"the token made {calls} signatures for {n_certs} certificates: expected one per certificate")

    med = {k: statistics.median(v) for k, v in times.items()}
    lines = [
        "## CA key in an HSM (SoftHSM) vs in a file: P-256 bootstrap",
        "",
        f"`make bench` (bench/keystore_bench.py): {machine()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"{a.rounds} alternating rounds after one untimed round; each job one `kpki bootstrap` command line under bash, "
        "wall clock of the whole command; every set verified afterwards (openssl verify, kpki verify, no ca-key.pem and "
        "the token's public key in ca.pem for the token's set).",
        "",
        "| job | median ms | min ms | max ms |",
        "|---|---:|---:|---:|",
    ]
    for k in names:
        lines.append(f"| {k} | {med[k] * 1000:.0f} | {min(times[k]) * 1000:.0f} | {max(times[k]) * 1000:.0f} |")
    lines += [
        "",
        f"Token / file: {med['CA key in SoftHSM'] / med['CA key in a file']:.2f}x. Signing calls to the token per set: "
        f"{calls} for {n_certs} certificates (one per certificate; opening the key reads its public key once).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if a.write:
        write_section(a.write, text)


if __name__ == "__main__":
    main()
