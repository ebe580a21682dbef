#!/usr/bin/env python3
"""kpki against cfssl 1.2 and the tutorial's aws CLI sequence, in one run on
one machine, alternating the contenders round by round. Every timed run's
output is verified afterwards (a fast wrong answer fails the benchmark).
Fresh processes are part of every command-line timing.

usage: bench.py [--rounds N] [--write BENCHMARKS.md] [--check] [--skip-aws]
"""
import argparse
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KPKI = os.path.join(ROOT, "target", "release", "kpki")
TARGETS = {
    "RSA-2048 set: cfssl sequence / kpki bootstrap": 4.0,
    "P-256 set: cfssl sequence / kpki bootstrap": 15.0,
    "RSA-2048, per command: cfssl / kpki as cfssl": 1.5,
    "P-256, per command: cfssl / kpki as cfssl": 2.0,
    "provisioning: aws CLI sequence / kpki bootstrap --provider aws": 10.0,
}
MEMORY_LIMIT_MB = 30.0


def timed(cmd, env=None, cwd=None):
    """Runs cmd; returns (seconds, peak RSS in MB). GNU time reports the
    peak RSS: a child forked from Python would inherit Python's high-water
    mark across exec, so wait4's ru_maxrss here would be Python's size."""
    err = tempfile.TemporaryFile()
    rss_file = tempfile.NamedTemporaryFile(delete=False)
    rss_file.close()
    start = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss_file.name] + cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    elapsed = time.perf_counter() - start
    if p.returncode != 0:
        err.seek(0)
        sys.exit(f"bench: {' '.join(cmd)} failed: {err.read().decode(errors='replace')[-2000:]}")
    with open(rss_file.name) as f:
        rss_kb = float(f.read().strip().splitlines()[-1])
    os.unlink(rss_file.name)
    return max(elapsed - HARNESS_OVERHEAD[0], 0.0), rss_kb / 1024.0


# The harness's own cost of starting a command (Python, GNU time, exec of
# `true`), measured first and subtracted from every timing, as hyperfine
# does with its shell; each contender's own process start stays in.
HARNESS_OVERHEAD = [0.0]


def measure_overhead():
    runs = [timed(["true"])[0] for _ in range(20)]
    HARNESS_OVERHEAD[0] = min(runs)


def check(cmd, what, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"bench: the output of {what} did not verify: {r.stdout}{r.stderr}")


def verify_sequence(d):
    certs = sorted(f for f in os.listdir(d) if f.endswith(".pem") and not f.endswith("-key.pem"))
    if len(certs) != 10:
        sys.exit(f"bench: expected 10 certificates in {d}, found {len(certs)}")
    for c in certs:
        check(["openssl", "verify", "-x509_strict", "-CAfile", os.path.join(d, "ca.pem"), os.path.join(d, c)], c)


def links(where):
    os.makedirs(where, exist_ok=True)
    for n in ("cfssl", "cfssljson"):
        os.symlink(KPKI, os.path.join(where, n))
    return where


def env_with_path(first):
    e = dict(os.environ)
    e["PATH"] = first + ":" + e["PATH"]
    return e


def seed_config(path, key_algo):
    text = subprocess.run([KPKI, "print-defaults", "cluster"], capture_output=True, text=True, check=True).stdout
    with open(path, "w") as f:
        f.write(text.replace('key_algo = "rsa-2048"', f'key_algo = "{key_algo}"'))


class Results:
    def __init__(self):
        self.times = {}
        self.rss = {}

    def add(self, name, seconds, rss):
        self.times.setdefault(name, []).append(seconds)
        self.rss[name] = max(self.rss.get(name, 0.0), rss)

    def median(self, name):
        return statistics.median(self.times[name])


def certificate_rounds(res, rounds, tmp):
    real = os.path.dirname(shutil.which("cfssl"))
    fake = links(os.path.join(tmp, "links"))
    script = os.path.join(ROOT, "scripts", "tutorial-certs.sh")
    for algo, key_algo, label in (("rsa", "rsa-2048", "RSA-2048"), ("ecdsa", "ecdsa-p256", "P-256")):
        cfg = os.path.join(tmp, f"cluster-{algo}.toml")
        seed_config(cfg, key_algo)
        csr = os.path.join(ROOT, "ca-config", "ca-csr.json")
        for r in range(rounds):
            for contender in ("cfssl", "kpki-links", "bootstrap"):
                d = os.path.join(tmp, f"{algo}-{contender}-{r}")
                if contender == "bootstrap":
                    s, m = timed([KPKI, "bootstrap", "--config", cfg, "--out", d])
                    check([KPKI, "verify", "--dir", d], "kpki bootstrap")
                else:
                    path = real if contender == "cfssl" else fake
                    s, m = timed(["bash", script, d, "172.31.0.10", algo], env=env_with_path(path))
                    verify_sequence(d)
                res.add(f"{label} set: {contender}", s, m)
            # One command on its own: the CA, as `cfssl gencert -initca` makes it.
            for contender, path in (("cfssl", real), ("kpki as cfssl", fake)):
                d = os.path.join(tmp, f"{algo}-single-{contender.replace(' ', '-')}-{r}")
                os.makedirs(d)
                src = os.path.join(tmp, f"ca-csr-{algo}.json")
                if not os.path.exists(src):
                    with open(csr) as f:
                        text = f.read()
                    if algo == "ecdsa":
                        text = text.replace('"algo": "rsa"', '"algo": "ecdsa"').replace('"size": 2048', '"size": 256')
                    with open(src, "w") as f:
                        f.write(text)
                s, m = timed(["sh", "-c", f"cfssl gencert -initca {src} | cfssljson -bare ca"], env=env_with_path(path), cwd=d)
                check(["openssl", "verify", "-x509_strict", "-CAfile", os.path.join(d, "ca.pem"), os.path.join(d, "ca.pem")], "initca")
                res.add(f"{label} gencert -initca: {contender}", s, m)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto():
    port = free_port()
    env = dict(os.environ, MOTO_AMIS_PATH=os.path.join(ROOT, "fixtures", "moto-amis.json"))
    p = subprocess.Popen([shutil.which("moto_server"), "-H", "127.0.0.1", "-p", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return p, port
        except OSError:
            time.sleep(0.1)
    p.kill()
    sys.exit("bench: moto_server did not start")


def aws_env(port):
    e = dict(os.environ)
    e.update(
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION="us-east-2",
        AWS_DEFAULT_REGION="us-east-2",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE="/nonexistent",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
    )
    return e


def warm_up(port):
    """Loads moto's EC2 and ELBv2 backends (seconds of image and instance-type
    catalogues) before the timed run, so both contenders are timed against
    a ready emulator; the server is still fresh (no resources)."""
    import boto3

    kw = dict(endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-2", aws_access_key_id="t", aws_secret_access_key="t")
    boto3.client("ec2", **kw).describe_vpcs()
    boto3.client("elbv2", **kw).describe_load_balancers()


def count_instances(port):
    import boto3

    ec2 = boto3.client("ec2", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-2", aws_access_key_id="t", aws_secret_access_key="t")
    return sum(1 for r in ec2.describe_instances()["Reservations"] for i in r["Instances"] if i["State"]["Name"] in ("pending", "running"))


def aws_rounds(res, rounds, tmp):
    for r in range(rounds):
        for contender in ("aws CLI", "kpki"):
            moto, port = start_moto()  # fresh each time
            try:
                warm_up(port)
                d = os.path.join(tmp, f"aws-{contender.replace(' ', '-')}-{r}")
                os.makedirs(d)
                if contender == "aws CLI":
                    s, m = timed(["bash", os.path.join(ROOT, "scripts", "tutorial-aws.sh"), d], env=aws_env(port))
                else:
                    s, m = timed([KPKI, "bootstrap", "--provider", "aws", "--out", os.path.join(d, "pki"), "--ssh-dir", os.path.join(d, "ssh")], env=aws_env(port))
                    check([KPKI, "verify", "--dir", os.path.join(d, "pki")], "kpki bootstrap --provider aws")
                if count_instances(port) != 6:
                    sys.exit(f"bench: {contender} did not leave 6 instances")
                res.add(f"provisioning: {contender}", s, m)
            finally:
                moto.kill()
                moto.wait()


def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cfssl = subprocess.run(["cfssl", "version"], capture_output=True, text=True).stdout.split("\n")[0]
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, {platform.system()} {platform.release()}; {cfssl}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--write", help="write the table to this Markdown file")
    ap.add_argument("--check", action="store_true", help="exit 1 if any ratio is below its target")
    ap.add_argument("--skip-aws", action="store_true")
    a = ap.parse_args()
    res = Results()
    measure_overhead()
    with tempfile.TemporaryDirectory() as tmp:
        certificate_rounds(res, a.rounds, tmp)
        if not a.skip_aws:
            aws_rounds(res, a.rounds, tmp)
    ops = subprocess.run(["cargo", "run", "--quiet", "--release", "--example", "ops"], cwd=ROOT, capture_output=True, text=True)
    lines = [
        f"Machine: {machine()}",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {a.rounds} alternating rounds; outputs verified after every run; "
        f"harness overhead of {HARNESS_OVERHEAD[0] * 1000:.1f} ms (starting `true` the same way) subtracted from each timing.",
        "",
    ]
    lines += ["| run | min (s) | median (s) | peak RSS (MB) |", "|---|---:|---:|---:|"]
    for name, ts in res.times.items():
        lines.append(f"| {name} | {min(ts):.3f} | {statistics.median(ts):.3f} | {res.rss[name]:.1f} |")
    ratios = {
        "RSA-2048 set: cfssl sequence / kpki bootstrap": res.median("RSA-2048 set: cfssl") / res.median("RSA-2048 set: bootstrap"),
        "P-256 set: cfssl sequence / kpki bootstrap": res.median("P-256 set: cfssl") / res.median("P-256 set: bootstrap"),
        "RSA-2048, per command: cfssl / kpki as cfssl": res.median("RSA-2048 set: cfssl") / res.median("RSA-2048 set: kpki-links"),
        "P-256, per command: cfssl / kpki as cfssl": res.median("P-256 set: cfssl") / res.median("P-256 set: kpki-links"),
    }
    if not a.skip_aws:
        ratios["provisioning: aws CLI sequence / kpki bootstrap --provider aws"] = res.median("provisioning: aws CLI") / res.median("provisioning: kpki")
    lines += ["", "| ratio (medians) | measured | target | |", "|---|---:|---:|---|"]
    failed = []
    for name, value in ratios.items():
        ok = value >= TARGETS[name]
        failed += [] if ok else [name]
        lines.append(f"| {name} | {value:.1f}x | {TARGETS[name]:.1f}x | {'ok' if ok else 'BELOW'} |")
    boot_rss = max(res.rss["RSA-2048 set: bootstrap"], res.rss["P-256 set: bootstrap"])
    mem_ok = boot_rss < MEMORY_LIMIT_MB
    failed += [] if mem_ok else ["peak memory"]
    lines.append(f"| peak RSS of kpki bootstrap (cfssl sequence: {res.rss['RSA-2048 set: cfssl']:.1f} MB) | {boot_rss:.1f} MB | < {MEMORY_LIMIT_MB:.0f} MB | {'ok' if mem_ok else 'BELOW'} |")
    lines += ["", "Per operation inside one process (`cargo run --release --example ops`):", "", "```", ops.stdout.strip() or ops.stderr.strip()[-800:], "```"]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.write:
        with open(a.write, "w") as f:
            f.write("# Benchmarks\n\n`make bench` writes this file; `make bench-check` fails below the targets.\n\n" + text)
    if a.check and failed:
        sys.exit(f"bench: below target: {', '.join(failed)}")


if __name__ == "__main__":
    main()
