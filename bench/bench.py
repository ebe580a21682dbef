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
    "RSA-2048, per command: cfssl gencert / kpki as cfssl gencert": 1.5,
    "P-256, per command: cfssl gencert / kpki as cfssl gencert": 2.0,
    "provisioning: aws CLI sequence / kpki bootstrap --provider aws": 10.0,
}
MEMORY_LIMIT_MB = 30.0


# One stderr file and one GNU time output file for every run, truncated
# each time: a new temporary file per run would delete an inode per run, and
# on ext4 without a journal every later file creation then pays to skip
# recently deleted inodes (measured: 20 µs per file becomes 300 µs and more).
_ERR = tempfile.TemporaryFile()
_RSS = tempfile.NamedTemporaryFile(delete=False)
_RSS.close()


def timed(cmd, env=None, cwd=None, stdout_path=None):
    """Runs cmd; returns (seconds, peak RSS in MB). GNU time reports the
    peak RSS: a child forked from Python would inherit Python's high-water
    mark across exec, so wait4's ru_maxrss here would be Python's size."""
    _ERR.seek(0)
    _ERR.truncate()
    out = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
    # Untimed: write out what earlier runs left unwritten (cfssl does not
    # sync its files), so that no contender pays for another's writes when
    # it makes its own durable (syncfs(2) would; measured 8.2 ms instead of
    # 4.7 ms for a P-256 bootstrap right after an unsynced cfssl set).
    os.sync()
    start = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", _RSS.name] + cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=_ERR)
    elapsed = time.perf_counter() - start
    if stdout_path:
        out.close()
    if p.returncode != 0:
        _ERR.seek(0)
        sys.exit(f"bench: {' '.join(cmd)} failed: {_ERR.read().decode(errors='replace')[-2000:]}")
    with open(_RSS.name) as f:
        rss_kb = float(f.read().strip().splitlines()[-1])
    return max(elapsed - HARNESS_OVERHEAD[0], 0.0), rss_kb / 1024.0


# The harness's own cost of starting a command (Python, GNU time, exec of
# `true`), measured first and subtracted from every timing, as hyperfine
# does with its shell; each contender's own process start stays in.
HARNESS_OVERHEAD = [0.0]


def file_create_cost(tmp, dirs=8, n=40):
    """µs to create, write and close one small file in `tmp`: the median in
    each of `dirs` new directories, and the worst of those. One directory
    is not enough: new directories land in different block groups, and only
    some may hold recently deleted inodes."""
    worst = 0.0
    for _ in range(dirs):
        d = tempfile.mkdtemp(dir=tmp, prefix="create-cost-")
        runs = []
        for i in range(n):
            start = time.perf_counter()
            fd = os.open(os.path.join(d, f"f{i}"), os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
            os.write(fd, b"x" * 1500)
            os.close(fd)
            runs.append(time.perf_counter() - start)
        worst = max(worst, statistics.median(runs) * 1e6)
    return worst


def settle(tmp, limit_us=60.0, patience_s=240):
    """Waits (up to patience_s) until creating a file costs what it normally
    does. ext4 without a journal, as on this machine, skips inodes deleted
    in the last 60 s (300 s more while their table block is unwritten) when
    it allocates one, so right after a build, a test run or the previous
    benchmark's clean-up every file costs 10-20x more, for cfssl and kpki
    alike — which would measure the file system's recent past, not the
    tools (a P-256 bootstrap, ~35 files, measured 17 ms instead of 5.5).
    Returns the cost when timing starts."""
    os.sync()
    deadline = time.time() + patience_s
    cost = file_create_cost(tmp)
    while cost > limit_us and time.time() < deadline:
        time.sleep(10)
        cost = file_create_cost(tmp)
    return cost


def measure_overhead():
    runs = [timed(["true"])[0] for _ in range(20)]
    HARNESS_OVERHEAD[0] = min(runs)


def check(cmd, what, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"bench: the output of {what} did not verify: {r.stdout}{r.stderr}")


def verify_sequence(d):
    certs = sorted(f for f in os.listdir(d) if f.endswith(".pem") and not f.endswith("-key.pem") and not f.endswith("-bundle.pem"))
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


# The tutorial's ten `cfssl gencert` commands (scripts/tutorial-certs.sh),
# as (output name, arguments after `gencert`).
def tutorial_commands(api="172.31.0.10"):
    signed = ["-ca=ca.pem", "-ca-key=ca-key.pem", "-config=ca-config.json", "-profile=kubernetes"]
    cmds = [("ca", ["-initca", "ca-csr.json"]), ("admin", signed + ["admin-csr.json"])]
    for i in range(3):
        n = f"ip-172-31-0-2{i}"
        cmds.append((n, signed[:3] + [f"-hostname={n},172.31.0.2{i}", signed[3], f"{n}-csr.json"]))
    for n in ("kube-controller-manager", "kube-proxy", "kube-scheduler"):
        cmds.append((n, signed + [f"{n}-csr.json"]))
    hosts = f"10.32.0.1,172.31.0.10,172.31.0.11,172.31.0.12,{api},127.0.0.1,kubernetes.default"
    cmds.append(("master-kubernetes", signed[:3] + [f"-hostname={hosts}", signed[3], "master-kubernetes-csr.json"]))
    cmds.append(("service-account", signed + ["service-account-csr.json"]))
    return cmds


def command_rounds(res, rounds, tmp):
    """Each of the ten commands on its own, fresh process each, stdout to a
    file: `cfssl gencert` (the real one, or kpki through a link named cfssl)
    and then `cfssljson -bare` on that output, timed separately. The outputs
    feed the next command, as in the tutorial, and are verified at the end."""
    real = os.path.dirname(shutil.which("cfssl"))
    fake = os.path.join(tmp, "links")
    for algo, label in (("rsa", "RSA-2048"), ("ecdsa", "P-256")):
        for r in range(rounds):
            for contender, path in (("cfssl", real), ("kpki as cfssl", fake)):
                d = os.path.join(tmp, f"cmd-{algo}-{contender.replace(' ', '-')}-{r}")
                os.makedirs(d)
                for f in os.listdir(os.path.join(ROOT, "ca-config")):
                    if f.endswith(".json"):
                        with open(os.path.join(ROOT, "ca-config", f)) as src, open(os.path.join(d, f), "w") as dst:
                            text = src.read()
                            if algo == "ecdsa":
                                text = text.replace('"algo": "rsa"', '"algo": "ecdsa"').replace('"size": 2048', '"size": 256')
                            dst.write(text)
                gencert_s = json_s = 0.0
                for name, args in tutorial_commands():
                    out = os.path.join(d, f"{name}.json")
                    s, _ = timed(["cfssl", "gencert"] + args, env=env_with_path(path), cwd=d, stdout_path=out)
                    gencert_s += s
                    s, _ = timed(["cfssljson", "-f", out, "-bare", name], env=env_with_path(path), cwd=d)
                    json_s += s
                verify_sequence(d)
                res.add(f"{label} 10 gencert commands: {contender}", gencert_s, 0.0)
                res.add(f"{label} 10 cfssljson commands: {contender.replace('cfssl', 'cfssljson')}", json_s, 0.0)


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
    ap.add_argument("--scratch", default=os.path.join(ROOT, "target", "bench-scratch"),
                    help="where the contenders write (default: target/bench-scratch)")
    a = ap.parse_args()
    res = Results()
    measure_overhead()
    os.makedirs(a.scratch, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=a.scratch) as tmp:
        create_us = settle(tmp)
        certificate_rounds(res, a.rounds, tmp)
        command_rounds(res, a.rounds, tmp)
        if not a.skip_aws:
            aws_rounds(res, a.rounds, tmp)
    ops = subprocess.run(["cargo", "run", "--quiet", "--release", "--locked", "--example", "ops"], cwd=ROOT, capture_output=True, text=True)
    lines = [
        f"Machine: {machine()}",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {a.rounds} alternating rounds; outputs verified after every run; "
        f"harness overhead of {HARNESS_OVERHEAD[0] * 1000:.1f} ms (starting `true` the same way) subtracted from each timing.",
        f"Creating a file in a new directory of the scratch space cost {create_us:.0f} µs (worst of 8 directories) when timing began. Both contenders create 30-45 "
        "files per set; on this machine's ext4 (no journal) that cost rises to 300 µs and more for a few minutes after many "
        "deletions (a build, a test run), so the run syncs and waits until it is back to normal (bench.py `settle`).",
        "",
    ]
    lines += ["| run | min (s) | median (s) | peak RSS (MB) |", "|---|---:|---:|---:|"]
    for name, ts in res.times.items():
        rss = f"{res.rss[name]:.1f}" if res.rss[name] else "–"
        lines.append(f"| {name} | {min(ts):.3f} | {statistics.median(ts):.3f} | {rss} |")
    ratios = {
        "RSA-2048 set: cfssl sequence / kpki bootstrap": res.median("RSA-2048 set: cfssl") / res.median("RSA-2048 set: bootstrap"),
        "P-256 set: cfssl sequence / kpki bootstrap": res.median("P-256 set: cfssl") / res.median("P-256 set: bootstrap"),
        "RSA-2048, per command: cfssl gencert / kpki as cfssl gencert": res.median("RSA-2048 10 gencert commands: cfssl") / res.median("RSA-2048 10 gencert commands: kpki as cfssl"),
        "P-256, per command: cfssl gencert / kpki as cfssl gencert": res.median("P-256 10 gencert commands: cfssl") / res.median("P-256 10 gencert commands: kpki as cfssl"),
    }
    # Reported, no target: kpki's cfssljson fsyncs every file it writes
    # (crash safety, issue #7); cfssljson 1.2 syncs nothing.
    info = {
        "RSA-2048, per command: cfssljson / kpki as cfssljson": res.median("RSA-2048 10 cfssljson commands: cfssljson") / res.median("RSA-2048 10 cfssljson commands: kpki as cfssljson"),
        "P-256, per command: cfssljson / kpki as cfssljson": res.median("P-256 10 cfssljson commands: cfssljson") / res.median("P-256 10 cfssljson commands: kpki as cfssljson"),
        "RSA-2048, the tutorial's script: cfssl / kpki through links": res.median("RSA-2048 set: cfssl") / res.median("RSA-2048 set: kpki-links"),
        "P-256, the tutorial's script: cfssl / kpki through links": res.median("P-256 set: cfssl") / res.median("P-256 set: kpki-links"),
    }
    if not a.skip_aws:
        ratios["provisioning: aws CLI sequence / kpki bootstrap --provider aws"] = res.median("provisioning: aws CLI") / res.median("provisioning: kpki")
    lines += ["", "| ratio (medians) | measured | target | |", "|---|---:|---:|---|"]
    failed = []
    for name, value in ratios.items():
        ok = value >= TARGETS[name]
        failed += [] if ok else [name]
        lines.append(f"| {name} | {value:.1f}x | {TARGETS[name]:.1f}x | {'ok' if ok else 'BELOW'} |")
    for name, value in info.items():
        lines.append(f"| {name} | {value:.1f}x | – | reported |")
    boot_rss = max(res.rss["RSA-2048 set: bootstrap"], res.rss["P-256 set: bootstrap"])
    mem_ok = boot_rss < MEMORY_LIMIT_MB
    failed += [] if mem_ok else ["peak memory"]
    lines.append(f"| peak RSS of kpki bootstrap (cfssl sequence: {res.rss['RSA-2048 set: cfssl']:.1f} MB) | {boot_rss:.1f} MB | < {MEMORY_LIMIT_MB:.0f} MB | {'ok' if mem_ok else 'BELOW'} |")
    lines += ["", "Per operation inside one process (`cargo run --release --example ops`):", "", "```", ops.stdout.strip() or ops.stderr.strip()[-800:], "```"]
    settings = os.path.join(ROOT, "bench", "profile-settings.md")
    if os.path.exists(settings):
        with open(settings) as f:
            lines += ["", f.read().strip()]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.write:
        with open(a.write, "w") as f:
            f.write("# Benchmarks\n\n`make bench` writes this file; `make bench-check` fails below the targets.\n\n" + text)
    if a.check and failed:
        sys.exit(f"bench: below target: {', '.join(failed)}")


if __name__ == "__main__":
    main()
