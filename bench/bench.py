#!/usr/bin/env python3
"""kpki against cfssl 1.2 and the tutorial's aws CLI sequence, as a user
experiences them. Each contender's whole job is ONE command started from
bash (`bash -c '...'`, or the tutorial's cfssl pipeline as one bash script),
timed from here as the wall clock around it: bash's start-up is included and
nothing is subtracted. Nothing is synced and nobody waits for the file
system between runs, so each command meets whatever unwritten data the one
before it left, as in real use. The contenders alternate round by round
(and which goes first alternates too). Every run's output is verified
afterwards, untimed; a failed command or a failed check stops the benchmark.

The ratios with targets come only from those timings. Everything else
(per command, after a sync, the harness's own start-up, peak RSS, per
operation) is printed as diagnostics, not user-visible.

usage: bench.py [--rounds N] [--warmup N] [--write BENCHMARKS.md] [--check]
                [--skip-aws] [--kpki PATH] [--ops PATH] [--keygens N]
                [--scratch DIR] [--diag-settle]
"""
import argparse
import atexit
import base64
import os
import platform
import re
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
API = "172.31.0.10"  # the seed cluster's API address (master-0), as in the tutorial

# label: (the tutorial script's KEY_ALGO, kpki's key_algo, DER length of the
# SubjectPublicKeyInfo: RSA-2048 with e=65537 is 294 bytes, P-256 91).
SETS = {
    "RSA-2048": ("rsa", "rsa-2048", 294),
    "P-256": ("ecdsa", "ecdsa-p256", 91),
}

# Targets, user-visible (from the one-command wall-clock timings only).
MIN_RATIO = {
    "RSA-2048 set": 3.0,
    "P-256 set": 10.0,
    "provisioning": 10.0,
}
MAX_FLOOR_RATIO = 1.25


def fail(msg):
    sys.exit(f"bench: {msg}")


# ---------------------------------------------------------------- running


def timed(argv, env=None, cwd=None):
    """Runs argv (always a single `bash ...` here) and returns its wall clock
    in seconds, measured around the whole subprocess: fork/exec, bash's
    start-up, the job, exit. stdout is discarded; stderr goes to a pipe, not
    a file, so the harness leaves no data of its own for a contender's sync
    to write. A failure stops the benchmark with the stderr."""
    start = time.perf_counter()
    p = subprocess.run(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if p.returncode != 0:
        fail(f"`{shlex.join(argv)}` failed (exit {p.returncode}):\n{p.stderr.decode(errors='replace')[-3000:]}")
    return elapsed


_RSS = tempfile.NamedTemporaryFile(prefix="bench-rss-", delete=False)
_RSS.close()
atexit.register(os.unlink, _RSS.name)


def peak_rss_mb(argv, env=None, cwd=None):
    """Peak RSS of a job, from a separate, untimed run under GNU time
    (`/usr/bin/time -f %M bash ...`); wrapping the timed runs in it would add
    its own cost to them. What %M reports here: ru_maxrss of wait4() on bash,
    which Linux fills with the larger of bash's own high-water mark and the
    largest of every descendant bash waited for. So it is the largest SINGLE
    process of the tree, not the sum of processes running at once (checked on
    this machine: two 60 MB processes in one pipeline report 62 MB). For the
    cfssl pipeline it is the largest cfssl or cfssljson process of the ten
    commands; for kpki, bash execs kpki, whose figure starts from bash's own
    (~3 MB) mark. GNU time forks bash from its own small process, so Python's
    size is not inherited across exec."""
    p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", _RSS.name] + argv, env=env, cwd=cwd,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if p.returncode != 0:
        fail(f"`{shlex.join(argv)}` failed under GNU time (exit {p.returncode}):\n{p.stderr.decode(errors='replace')[-3000:]}")
    with open(_RSS.name) as f:
        return float(f.read().split()[-1]) / 1024.0


def check(cmd, what, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        fail(f"the output of {what} did not verify: `{shlex.join(cmd)}`:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return r.stdout


def env_with_path(first):
    e = dict(os.environ)
    e["PATH"] = first + ":" + e["PATH"]
    return e


# ------------------------------------------------------------ verification


def spki_der(pem_text, what):
    body = "".join(l for l in pem_text.splitlines() if l and not l.startswith("-----"))
    try:
        return base64.b64decode(body, validate=True)
    except ValueError:
        fail(f"{what}: no public key in openssl's output: {pem_text[:200]!r}")


def verify_set(d, label, what, kpki=None):
    """Checks a certificate set, untimed: every `X.pem` has its `X-key.pem`
    and the other way round; `openssl verify -x509_strict` of every
    certificate (ca.pem too) against ca.pem; each key is its certificate's
    key and of the set's algorithm; for kpki's sets also `kpki verify --dir`.
    Returns the number of keys."""
    files = os.listdir(d)
    keys = sorted(f[: -len("-key.pem")] for f in files if f.endswith("-key.pem"))
    certs = sorted(f[: -len(".pem")] for f in files if f.endswith(".pem") and not f.endswith("-key.pem"))
    if keys != certs or "ca" not in certs:
        fail(f"{what} in {d}: certificates {certs} and keys {keys} do not pair up (or no ca.pem)")
    out = check(["openssl", "verify", "-x509_strict", "-CAfile", os.path.join(d, "ca.pem")]
                + [os.path.join(d, c + ".pem") for c in certs], what)
    if sum(1 for l in out.splitlines() if l.endswith(": OK")) != len(certs):
        fail(f"{what} in {d}: openssl verify did not report OK for all {len(certs)} certificates:\n{out}")
    want = SETS[label][2]
    for c in certs:
        cert_pub = check(["openssl", "x509", "-noout", "-pubkey", "-in", os.path.join(d, c + ".pem")], f"{what} ({c}.pem)")
        key_pub = check(["openssl", "pkey", "-pubout", "-in", os.path.join(d, c + "-key.pem")], f"{what} ({c}-key.pem)")
        der = spki_der(cert_pub, f"{what} ({c}.pem)")
        if der != spki_der(key_pub, f"{what} ({c}-key.pem)"):
            fail(f"{what} in {d}: {c}-key.pem is not the key of {c}.pem")
        if len(der) != want:
            fail(f"{what} in {d}: {c}.pem's public key is {len(der)} bytes of DER, not a {label} key ({want})")
    if kpki:
        check([kpki, "verify", "--dir", d], f"{what} (kpki verify --dir)")
    return len(keys)


# ----------------------------------------------------------------- inputs


def write_inputs(d, algo):
    """The tutorial's CSR JSON and ca-config.json (for ECDSA rewritten as
    scripts/tutorial-certs.sh does), written before any timing: a cfssl user
    has them already."""
    os.makedirs(d)
    src = os.path.join(ROOT, "ca-config")
    for f in sorted(os.listdir(src)):
        if f.endswith(".json"):
            with open(os.path.join(src, f)) as i, open(os.path.join(d, f), "w") as o:
                text = i.read()
                if algo == "ecdsa":
                    text = text.replace('"algo": "rsa"', '"algo": "ecdsa"').replace('"size": 2048', '"size": 256')
                o.write(text)


def write_pipeline(path):
    """The tutorial's cfssl pipeline, taken from scripts/tutorial-certs.sh
    (everything after its `cd "$out"`: the ten `cfssl gencert ... | cfssljson
    -bare ...` commands, the CA first) so the benchmark runs exactly what the
    tests run; only the inputs are read from "$in" instead of being copied
    in by the timed script. Usage: bash PATH IN_DIR OUT_DIR."""
    with open(os.path.join(ROOT, "scripts", "tutorial-certs.sh")) as f:
        text = f.read()
    marker = '\ncd "$out"\n'
    if marker not in text:
        fail('scripts/tutorial-certs.sh changed: no `cd "$out"` line before the cfssl commands')
    body = text.split(marker, 1)[1]
    n_csr, n_cfg = len(re.findall(r"-csr\.json", body)), body.count("-config=ca-config.json")
    body = body.replace("-config=ca-config.json", '-config="$in/ca-config.json"')
    body = re.sub(r"(?<=\s)(\S+-csr\.json)", r'"$in"/\1', body)
    if body.count("cfssl gencert") != n_csr or body.count('"$in"/') != n_csr or body.count('"$in/ca-config.json"') != n_cfg:
        fail("scripts/tutorial-certs.sh changed: could not point its cfssl commands at the input directory")
    with open(path, "w") as f:
        f.write("#!/usr/bin/env bash\n# Written by bench/bench.py from scripts/tutorial-certs.sh.\n"
                f'set -euo pipefail\nin=$1\nout=$2\napi={API}\nmkdir -p "$out"\ncd "$out"\n' + body)


def write_cluster_config(kpki, path, key_algo):
    text = check([kpki, "print-defaults", "cluster"], "kpki print-defaults cluster")
    if 'key_algo = "rsa-2048"' not in text:
        fail('`kpki print-defaults cluster` has no `key_algo = "rsa-2048"` line to rewrite')
    with open(path, "w") as f:
        f.write(text.replace('key_algo = "rsa-2048"', f'key_algo = "{key_algo}"'))


class Bench:
    def __init__(self, a, tmp):
        self.a = a
        self.tmp = tmp
        self.kpki = a.kpki
        self.n = 0
        self.times = {}
        self.rss = {}
        self.keys = {}  # label: keys per set (every contender must make as many)
        self.kpki_keys = {}  # label: keys in kpki bootstrap's set
        real = os.path.dirname(shutil.which("cfssl"))
        links = os.path.join(tmp, "links")
        os.makedirs(links)
        for n in ("cfssl", "cfssljson"):
            os.symlink(self.kpki, os.path.join(links, n))
        self.path = {"cfssl": env_with_path(real), "kpki as cfssl": env_with_path(links)}
        self.pipeline = os.path.join(tmp, "cfssl-pipeline.sh")
        write_pipeline(self.pipeline)
        self.inputs, self.config = {}, {}
        for label, (algo, key_algo, _) in SETS.items():
            self.inputs[label] = os.path.join(tmp, f"inputs-{algo}")
            write_inputs(self.inputs[label], algo)
            self.config[label] = os.path.join(tmp, f"cluster-{algo}.toml")
            write_cluster_config(self.kpki, self.config[label], key_algo)

    def out(self, what):
        """A new output path (not created: each job makes its own)."""
        self.n += 1
        return os.path.join(self.tmp, f"{self.n:04d}-{re.sub(r'[^A-Za-z0-9]+', '-', what)}")

    def add(self, name, seconds):
        self.times.setdefault(name, []).append(seconds)

    def median(self, name):
        return statistics.median(self.times[name])

    # The jobs, each as (argv, env). cfssl's is the whole pipeline as one
    # bash script; kpki's is one `kpki bootstrap` command line under bash.
    def job(self, contender, label, out):
        if contender in ("cfssl", "kpki as cfssl"):
            return ["bash", self.pipeline, self.inputs[label], out], self.path[contender]
        cmd = f"{shlex.quote(self.kpki)} bootstrap --out {shlex.quote(out)}"
        if label != "RSA-2048":  # the embedded seed cluster is the RSA-2048 set
            cmd += f" --config {shlex.quote(self.config[label])}"
        return ["bash", "-c", cmd], None

    def verify(self, contender, label, out):
        what = f"{label} set: {contender}"
        n = verify_set(out, label, what, self.kpki if contender == "kpki bootstrap" else None)
        if self.keys.setdefault(label, n) != n:
            fail(f"{what} made {n} keys, another run {self.keys[label]}: the contenders must make the same set")
        if contender == "kpki bootstrap":
            self.kpki_keys[label] = n
        return n

    def alternate(self, contenders, rounds, warmup, phase, before=None):
        """rounds timed rounds (after warmup untimed ones) of every set and
        contender; the order flips every round (A B A B, then B A B A), so
        most runs of either follow a run of the other. Each run is verified
        afterwards."""
        for r in range(-warmup, rounds):
            for label in SETS:
                for c in contenders if r % 2 == 0 else contenders[::-1]:
                    out = self.out(f"{phase}-{label}-{c}")
                    argv, env = self.job(c, label, out)
                    if before:
                        before()
                    s = timed(argv, env=env)
                    self.verify(c, label, out)
                    if r >= 0:
                        self.add(f"{phase}|{label} set: {c}", s)


# ------------------------------------------------------------- RSA floor


def keygen_mean_ms(ops, n):
    """Mean of n aws-lc RSA-2048 key generations, in-process, from the ops
    example: `ops keygen-rsa2048 N` prints one line `mean_ms=<float>`."""
    r = subprocess.run([ops, "keygen-rsa2048", str(n)], capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"`{ops} keygen-rsa2048 {n}` failed:\n{r.stderr[-2000:]}")
    m = re.search(r"^mean_ms=([0-9.eE+-]+)\s*$", r.stdout, re.M)
    if not m:
        fail(f"`{ops} keygen-rsa2048 {n}` printed no `mean_ms=<float>` line:\n{r.stdout[-1000:]}")
    return float(m.group(1))


# ----------------------------------------------------------- diagnostics


def per_command(b, rounds):
    """Diagnostic: each of the ten commands on its own, exec'd directly from
    here (no shell), fresh process each, stdout to a file: `cfssl gencert`
    (the real one, or kpki through a link named cfssl) and then `cfssljson
    -bare` on that output, timed separately. Outputs feed the next command,
    as in the tutorial, and are verified at the end."""
    signed = ["-ca=ca.pem", "-ca-key=ca-key.pem", "-config=ca-config.json", "-profile=kubernetes"]
    cmds = [("ca", ["-initca", "ca-csr.json"]), ("admin", signed + ["admin-csr.json"])]
    for i in range(3):
        n = f"ip-172-31-0-2{i}"
        cmds.append((n, signed[:3] + [f"-hostname={n},172.31.0.2{i}", signed[3], f"{n}-csr.json"]))
    for n in ("kube-controller-manager", "kube-proxy", "kube-scheduler"):
        cmds.append((n, signed + [f"{n}-csr.json"]))
    hosts = f"10.32.0.1,172.31.0.10,172.31.0.11,172.31.0.12,{API},127.0.0.1,kubernetes.default"
    cmds.append(("master-kubernetes", signed[:3] + [f"-hostname={hosts}", signed[3], "master-kubernetes-csr.json"]))
    cmds.append(("service-account", signed + ["service-account-csr.json"]))
    contenders = ["cfssl", "kpki as cfssl"]
    for r in range(rounds):
        for label in SETS:
            for c in contenders if r % 2 == 0 else contenders[::-1]:
                d = b.out(f"cmd-{label}-{c}")
                write_inputs(d, SETS[label][0])
                env = b.path[c]
                gencert = cfssljson = 0.0
                for name, args in cmds:
                    with open(os.path.join(d, f"{name}.json"), "wb") as out:
                        start = time.perf_counter()
                        p = subprocess.run(["cfssl", "gencert"] + args, env=env, cwd=d, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.PIPE)
                        gencert += time.perf_counter() - start
                    if p.returncode != 0:
                        fail(f"{c}: cfssl gencert {shlex.join(args)} failed:\n{p.stderr.decode(errors='replace')[-2000:]}")
                    start = time.perf_counter()
                    p = subprocess.run(["cfssljson", "-f", f"{name}.json", "-bare", name], env=env, cwd=d, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                    cfssljson += time.perf_counter() - start
                    if p.returncode != 0:
                        fail(f"{c}: cfssljson -bare {name} failed:\n{p.stderr.decode(errors='replace')[-2000:]}")
                b.verify(c, label, d)
                b.add(f"cmd|{label}: 10 x gencert, {c}", gencert)
                b.add(f"cmd|{label}: 10 x cfssljson, {c.replace('cfssl', 'cfssljson')}", cfssljson)


def file_create_cost(tmp, dirs=8, n=40):
    """µs to create, write and close one small file: the median in each of
    `dirs` new directories, and the worst of those."""
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
    """Diagnostic only (--diag-settle), the old harness's conditions: sync,
    then wait until creating a file costs what it does on a quiet ext4
    (which skips recently deleted inodes for minutes after many deletions).
    Returns the per-file cost when it stopped waiting."""
    os.sync()
    deadline = time.time() + patience_s
    cost = file_create_cost(tmp)
    while cost > limit_us and time.time() < deadline:
        time.sleep(10)
        cost = file_create_cost(tmp)
    return cost


# ---------------------------------------------------------- provisioning


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
    fail("moto_server did not start")


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


def boto(port, service):
    import boto3

    return boto3.client(service, endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-2", aws_access_key_id="t", aws_secret_access_key="t")


def warm_up(port):
    """Loads moto's EC2 and ELBv2 backends (seconds of image and instance-type
    catalogues) before the timed run, so both contenders are timed against
    a ready emulator; the server is still fresh (no resources). This readies
    the emulator (which stands in for AWS), not the contenders."""
    boto(port, "ec2").describe_vpcs()
    boto(port, "elbv2").describe_load_balancers()


def count_instances(port):
    ec2 = boto(port, "ec2")
    return sum(1 for r in ec2.describe_instances()["Reservations"] for i in r["Instances"] if i["State"]["Name"] in ("pending", "running"))


def aws_rounds(b, rounds):
    """The tutorial's aws CLI sequence (scripts/tutorial-aws.sh, one bash
    script) against `kpki bootstrap --provider aws` (one command under bash),
    each against a fresh moto emulator, alternating, timed like the sets."""
    contenders = ["aws CLI", "kpki"]
    for r in range(rounds):
        for c in contenders if r % 2 == 0 else contenders[::-1]:
            moto, port = start_moto()
            try:
                warm_up(port)
                d = b.out(f"aws-{c}")
                if c == "aws CLI":
                    argv = ["bash", os.path.join(ROOT, "scripts", "tutorial-aws.sh"), d]
                else:
                    argv = ["bash", "-c", f"{shlex.quote(b.kpki)} bootstrap --provider aws --out {shlex.quote(os.path.join(d, 'pki'))} --ssh-dir {shlex.quote(os.path.join(d, 'ssh'))}"]
                s = timed(argv, env=aws_env(port))
                if c == "kpki":
                    verify_set(os.path.join(d, "pki"), "RSA-2048", "kpki bootstrap --provider aws", b.kpki)
                elif not os.path.getsize(os.path.join(d, "kubernetes.id_rsa")):
                    fail("aws CLI: the key pair's private key is empty")
                n = count_instances(port)
                if n != 6:
                    fail(f"provisioning: {c} left {n} instances, not 6")
                b.add(f"aws|provisioning: {c}", s)
            finally:
                moto.kill()
                moto.wait()


# ---------------------------------------------------------------- report


def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cfssl = subprocess.run(["cfssl", "version"], capture_output=True, text=True).stdout.split("\n")[0]
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, {platform.system()} {platform.release()}; cfssl {cfssl}"


def ms(s):
    return f"{s * 1000:.1f}"


def table(b, prefix, header="run"):
    rows = [f"| {header} | min (ms) | median (ms) | max (ms) |", "|---|---:|---:|---:|"]
    for name, ts in b.times.items():
        if name.startswith(prefix + "|"):
            rows.append(f"| {name.split('|', 1)[1]} | {ms(min(ts))} | {ms(statistics.median(ts))} | {ms(max(ts))} |")
    return rows


def method(rounds, warmup):
    return (
        "How it was measured: each contender's whole job is one command started from bash — "
        "`kpki bootstrap --out DIR` (with `--config` for P-256) under `bash -c`, and the tutorial's "
        "ten `cfssl gencert ... | cfssljson -bare ...` commands as one bash script — timed from Python as the "
        "wall clock around that process (`time.perf_counter`), bash's start-up included and nothing "
        f"subtracted. The contenders alternate round by round ({rounds} timed rounds after {warmup} untimed "
        "warm-up round(s); which goes first alternates too). Nothing is synced and nobody waits for the file "
        "system between runs: each command meets whatever unwritten data the previous one left, as in real "
        "use. Every run's output is verified afterwards, untimed (openssl verify of every certificate against "
        "ca.pem, every key against its certificate, the key algorithm and count; `kpki verify --dir` for "
        "kpki's), and any failure stops the benchmark. cfssl's CSR JSON files are written before timing, as a "
        "user has them. Ratios are of medians."
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default 1)")
    ap.add_argument("--write", help="write the report to this Markdown file")
    ap.add_argument("--check", action="store_true", help="exit 1 if any target is missed")
    ap.add_argument("--skip-aws", action="store_true")
    ap.add_argument("--kpki", default=os.path.join(ROOT, "target", "release", "kpki"), help="the kpki binary (default: target/release/kpki)")
    ap.add_argument("--ops", default=os.path.join(ROOT, "target", "release", "examples", "ops"),
                    help="the ops example, for the RSA floor (default: target/release/examples/ops)")
    ap.add_argument("--keygens", type=int, default=100, help="aws-lc RSA-2048 keygens for the floor, half before and half after the rounds")
    ap.add_argument("--scratch", default=os.path.join(ROOT, "target", "bench-scratch"), help="where the contenders write (default: target/bench-scratch)")
    ap.add_argument("--diag-settle", action="store_true", help="diagnostics: also wait for the file system to settle before the synced rounds")
    a = ap.parse_args()
    a.kpki = os.path.abspath(a.kpki)
    if not os.access(a.kpki, os.X_OK):
        fail(f"{a.kpki} not found: build it with `cargo build --release` (or pass --kpki PATH)")
    if not os.access(a.ops, os.X_OK):
        fail(f"{a.ops} not found: the RSA floor needs it; build it with `cargo build --release --example ops`")
    for tool in ["bash", "cfssl", "cfssljson", "openssl"] + ([] if a.skip_aws else ["aws", "moto_server"]):
        if not shutil.which(tool):
            fail(f"{tool} not found: run scripts/install-test-deps.sh")
    if not os.access("/usr/bin/time", os.X_OK):
        fail("/usr/bin/time (GNU time) not found: peak RSS needs it")
    cores = os.cpu_count() or 1
    half = max(a.keygens // 2, 1)
    os.makedirs(a.scratch, exist_ok=True)
    started = time.gmtime()
    with tempfile.TemporaryDirectory(dir=a.scratch) as tmp:
        b = Bench(a, tmp)
        # User-visible: the sets, then provisioning; the floor's keygens
        # before and after the sets' rounds.
        keygen = [keygen_mean_ms(a.ops, half)]
        b.alternate(["cfssl", "kpki bootstrap"], a.rounds, a.warmup, "user")
        keygen.append(keygen_mean_ms(a.ops, half))
        if not a.skip_aws:
            aws_rounds(b, a.rounds)
        # Diagnostics, not user-visible.
        startup = [timed(["bash", "-c", "true"]) for _ in range(20)]
        rss = {}
        for label in SETS:
            for c in ("cfssl", "kpki bootstrap"):
                for _ in range(3):
                    out = b.out(f"rss-{label}-{c}")
                    argv, env = b.job(c, label, out)
                    rss[(label, c)] = max(rss.get((label, c), 0.0), peak_rss_mb(argv, env=env))
                    b.verify(c, label, out)
        b.alternate(["cfssl", "kpki as cfssl"], a.rounds, 0, "links")
        create_us = settle(tmp) if a.diag_settle else None
        b.alternate(["cfssl", "kpki bootstrap"], a.rounds, 0, "synced", before=os.sync)
        per_command(b, a.rounds)
        ops_table = subprocess.run([a.ops], capture_output=True, text=True, timeout=900)

    keys = b.kpki_keys["RSA-2048"]
    keygen_ms = statistics.mean(keygen)
    floor = keys * keygen_ms / 1000 / cores
    lines = [
        f"Machine: {machine()}",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', started)}; {a.rounds} alternating rounds after {a.warmup} untimed warm-up round(s); "
        f"kpki: `{os.path.relpath(a.kpki, ROOT) if a.kpki.startswith(ROOT) else a.kpki}`.",
        "",
        method(a.rounds, a.warmup),
        "",
        "## User-visible: one command each, wall clock from a shell",
        "",
    ]
    lines += table(b, "user", "job")
    if not a.skip_aws:
        lines += table(b, "aws", "job")[2:]
    lines += [
        f"| RSA floor: {keys} keys x {keygen_ms:.1f} ms (one aws-lc RSA-2048 keygen, mean of {2 * half}) / {cores} cores | | {ms(floor)} | |",
        "",
    ]
    results = []  # (name, measured text, target text, ok)

    def ratio(name, slow, fast, key):
        v = b.median(slow) / b.median(fast)
        results.append((name, f"{v:.1f}x", f">= {MIN_RATIO[key]:.0f}x", v >= MIN_RATIO[key]))

    ratio("RSA-2048 set: cfssl pipeline / kpki bootstrap", "user|RSA-2048 set: cfssl", "user|RSA-2048 set: kpki bootstrap", "RSA-2048 set")
    ratio("P-256 set: cfssl pipeline / kpki bootstrap", "user|P-256 set: cfssl", "user|P-256 set: kpki bootstrap", "P-256 set")
    if not a.skip_aws:
        ratio("provisioning: aws CLI sequence / kpki bootstrap --provider aws", "aws|provisioning: aws CLI", "aws|provisioning: kpki", "provisioning")
    v = b.median("user|RSA-2048 set: kpki bootstrap") / floor
    results.append(("RSA-2048 set: kpki bootstrap / RSA floor", f"{v:.2f}x", f"<= {MAX_FLOOR_RATIO}x", v <= MAX_FLOOR_RATIO))
    for label in SETS:
        k, c = rss[(label, "kpki bootstrap")], rss[(label, "cfssl")]
        results.append((f"peak RSS, {label} set: kpki bootstrap vs cfssl pipeline's largest process (separate runs under GNU time)",
                        f"{k:.1f} MB", f"< {c:.1f} MB", k < c))
    lines += ["| target | measured | target | |", "|---|---:|---:|---|"]
    for name, measured, target, ok in results:
        lines.append(f"| {name} | {measured} | {target} | {'ok' if ok else 'MISSED'} |")
    failed = [name for name, _, _, ok in results if not ok]

    lines += [
        "",
        "## Diagnostics, not user-visible",
        "",
        f"Harness start-up (`bash -c true` timed the same way, 20 runs): min {ms(min(startup))} ms, median {ms(statistics.median(startup))} ms. "
        "It is part of every timing above for every contender, and not subtracted.",
        "",
        "Peak RSS (MB, max of 3 separate runs under `/usr/bin/time -f %M bash ...`; the largest single process of the job):",
        "",
        "| set | cfssl pipeline | kpki bootstrap |",
        "|---|---:|---:|",
    ]
    for label in SETS:
        lines.append(f"| {label} | {rss[(label, 'cfssl')]:.1f} | {rss[(label, 'kpki bootstrap')]:.1f} |")
    lines += ["", "The tutorial's pipeline run with kpki through links named cfssl and cfssljson (same method, alternating with cfssl):", ""]
    lines += table(b, "links")
    for label in SETS:
        lines.append(f"| ratio {label}: cfssl / kpki as cfssl | | {b.median(f'links|{label} set: cfssl') / b.median(f'links|{label} set: kpki as cfssl'):.1f}x | |")
    lines += ["", "The sets again with an untimed `sync` before every run (no contender meets another's unwritten data"
              + (f"; after waiting for the file system to settle: a file cost {create_us:.0f} µs to create when these rounds began" if create_us is not None else "")
              + "); the old harness synced like this before every run, also waited once for the file system to settle "
              "(`--diag-settle` here) and subtracted its own start-up:", ""]
    lines += table(b, "synced")
    for label in SETS:
        lines.append(f"| ratio {label}: cfssl / kpki bootstrap | | {b.median(f'synced|{label} set: cfssl') / b.median(f'synced|{label} set: kpki bootstrap'):.1f}x | |")
    lines += ["", "Per command: each of the ten commands exec'd directly from Python (no shell), gencert's stdout to a file, "
              "then `cfssljson -f`; summed per set:", ""]
    lines += table(b, "cmd")
    for label in SETS:
        lines.append(f"| ratio {label}: 10 x gencert, cfssl / kpki as cfssl | | "
                     f"{b.median(f'cmd|{label}: 10 x gencert, cfssl') / b.median(f'cmd|{label}: 10 x gencert, kpki as cfssl'):.1f}x | |")
    if ops_table.returncode == 0 and ops_table.stdout.strip() and not ops_table.stdout.startswith("mean_ms="):
        lines += ["", f"Per operation inside one process (`{os.path.relpath(a.ops, ROOT) if a.ops.startswith(ROOT) else a.ops}`):", "", "```", ops_table.stdout.strip(), "```"]
    for extra in ("profile-settings.md", "measured-choices.md"):
        path = os.path.join(ROOT, "bench", extra)
        if os.path.exists(path):
            with open(path) as f:
                lines += ["", f.read().strip()]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.write:
        # The serve and keystore sections (bench/serve_bench.py and
        # bench/keystore_bench.py) are kept.
        kept = ""
        try:
            old = open(a.write).read()
            for mark in ("serve-bench", "keystore-bench"):
                start, end = old.find(f"<!-- {mark}:start -->"), old.find(f"<!-- {mark}:end -->")
                if 0 <= start < end:
                    kept += "\n" + old[start:end + len(f"<!-- {mark}:end -->")] + "\n"
        except FileNotFoundError:
            pass
        with open(a.write, "w") as f:
            f.write("# Benchmarks\n\n`make bench` writes this file; `make bench-check` fails when a target is missed.\n\n" + text + kept)
    if a.check and failed:
        fail(f"target missed: {'; '.join(failed)}")


if __name__ == "__main__":
    main()
