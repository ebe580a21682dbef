#!/usr/bin/env python3
"""`kpki serve` against `cfssl serve` (cfssl 1.2) under the same concurrent
load, as a client experiences them: throughput and p99 latency of P-256
`newcert` and `sign`, and each server's peak RSS under that load.

The load generator is wrk (compiled; a Python client saturates near 2k
requests/s on 2 cores, below what cfssl serve already does). Both servers
run on the same P-256 CA, signing config and request bodies; only one is
under load at a time. For each endpoint the contenders alternate round by
round (and which goes first alternates too). There is no warm-up and no
settling, and nothing is subtracted: each figure is what wrk saw.

Every wrk run must have no non-2xx answers (wrk counts status >= 400) and
no socket errors, or the benchmark stops. Outside the timed part, one
newcert and one sign answer of each server are checked with openssl (chain
to ca.pem, subject, issuer, SAN, P-256 key, newcert's key matches its
certificate, sign's certificate carries the CSR's key).

The ratios with targets come from medians over the rounds of wrk's req/s
and p99, and from the servers' VmHWM (/proc/PID/status) after all the load.
Everything else (p50, CPU use of server and wrk, per-thread CPU, sampled
RSS) is printed as diagnostics.

usage: serve_bench.py [--rounds N] [--duration S] [--threads N]
                      [--connections N] [--kpki PATH] [--write FILE]
                      [--check] [--scratch DIR] [--keep]
"""
import argparse
import atexit
import datetime
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sections  # noqa: E402  (bench/sections.py)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = "127.0.0.1"
START_MARK = "<!-- serve-bench:start -->"
END_MARK = "<!-- serve-bench:end -->"
CONTENDERS = ("cfssl", "kpki")
ENDPOINTS = ("newcert", "sign")

# Targets (user-visible: from wrk's figures and the servers' peak RSS).
MIN_RPS_RATIO = 5.0      # kpki req/s / cfssl req/s
MAX_P99_RATIO = 1 / 3    # kpki p99 / cfssl p99
# Peak RSS under load: kpki's below cfssl's.

NEWCERT_BODY = {"request": {"CN": "bench", "hosts": ["bench.example.com"], "key": {"algo": "ecdsa", "size": 256}}}
SIGN_CN, SIGN_HOST = "bench-sign", "sign.example.com"

CLK_TCK = os.sysconf("SC_CLK_TCK")


def fail(msg):
    sys.exit(f"serve_bench: {msg}")


def check(argv, what, **kw):
    p = subprocess.run(argv, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        fail(f"{what}: `{' '.join(argv)}` exited {p.returncode}: {p.stderr.strip()[-2000:]}")
    return p.stdout


# ---------------------------------------------------------------- setup


def require_tools():
    if not shutil.which("wrk"):
        fail("wrk is not installed (the load generator): install it with\n"
             "  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y wrk")
    for t in ("cfssl", "openssl"):
        if not shutil.which(t):
            fail(f"{t} is not installed")


def assert_real_cfssl(kpki):
    """cfssl must be cfssl 1.2 itself, not kpki under cfssl's name."""
    cfssl = os.path.realpath(shutil.which("cfssl"))
    out = check(["cfssl", "version"], "cfssl version")
    if not re.search(r"^Version: 1\.2\.0$", out, re.M):
        fail(f"`cfssl version` does not say Version: 1.2.0:\n{out}")
    if cfssl == os.path.realpath(kpki):
        fail(f"cfssl ({cfssl}) is kpki")
    with open(cfssl, "rb") as f:
        if b"kpki" in f.read():
            fail(f"{cfssl} contains b'kpki': not the real cfssl")
    return cfssl, "cfssl " + out.split("\n")[0].strip()


def make_inputs(kpki, d):
    """A P-256 CA, a signing config with a default profile, and a P-256 CSR."""
    with open(os.path.join(d, "ca-csr.json"), "w") as f:
        json.dump({"CN": "bench CA", "key": {"algo": "ecdsa", "size": 256}}, f)
    check([kpki, "gencert", "-initca", "-bare", "ca", "ca-csr.json"], "kpki gencert -initca", cwd=d)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump({"signing": {"default": {"expiry": "8760h", "usages": ["signing", "key encipherment", "server auth", "client auth"]}}}, f, indent=2)
    with open(os.path.join(d, "leaf-csr.json"), "w") as f:
        json.dump({"CN": SIGN_CN, "hosts": [SIGN_HOST], "key": {"algo": "ecdsa", "size": 256}}, f)
    check([kpki, "genkey", "-bare", "leaf", "leaf-csr.json"], "kpki genkey", cwd=d)
    for n in ("ca.pem", "ca-key.pem", "leaf.csr", "leaf-key.pem"):
        if not os.path.isfile(os.path.join(d, n)):
            fail(f"{n} was not written in {d}")
    with open(os.path.join(d, "leaf.csr")) as f:
        csr = f.read()
    return {"newcert": json.dumps(NEWCERT_BODY), "sign": json.dumps({"certificate_request": csr})}, csr


def lua_string(s):
    out = []
    for b in s.encode():
        c = chr(b)
        out.append(c if 32 <= b < 127 and c not in '"\\' else "\\%03d" % b)
    return '"' + "".join(out) + '"'


LUA_DONE = r'''
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "SERVEBENCH requests=%d duration_us=%d rps=%.3f p50_us=%d p90_us=%d p99_us=%d max_us=%d mean_us=%.1f non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    e.status, e.connect, e.read, e.write, e.timeout))
end
'''


def write_lua(path, body):
    with open(path, "w") as f:
        f.write("-- Written by bench/serve_bench.py.\n")
        f.write('wrk.method = "POST"\n')
        f.write(f"wrk.body = {lua_string(body)}\n")
        f.write('wrk.headers["Content-Type"] = "application/json"\n')
        f.write(LUA_DONE)


# ---------------------------------------------------------------- servers


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, name, argv, exe, d):
        self.name, self.exe = name, exe
        self.port = free_port()
        self.log_path = os.path.join(d, f"{name}-serve.log")
        self.log = open(self.log_path, "wb")
        argv = argv + ["-address", HOST, "-port", str(self.port), "-ca", "ca.pem", "-ca-key", "ca-key.pem", "-config", "config.json"]
        self.argv = argv
        self.p = subprocess.Popen(argv, cwd=d, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        atexit.register(self.stop)
        self.wait_ready()
        real = os.path.realpath(f"/proc/{self.p.pid}/exe")
        if real != os.path.realpath(exe):
            fail(f"{name}: the process runs {real}, not {exe}")

    def url(self, endpoint):
        return f"http://{HOST}:{self.port}/api/v1/cfssl/{endpoint}"

    def wait_ready(self, limit=30.0):
        # cfssl 1.2 has no health endpoint: wait for the port to accept.
        end = time.monotonic() + limit
        while time.monotonic() < end:
            if self.p.poll() is not None:
                fail(f"{self.name} serve exited {self.p.returncode}: {self.log_tail()}")
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        fail(f"{self.name} serve did not listen on {HOST}:{self.port} within {limit:.0f} s: {self.log_tail()}")

    def log_tail(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read()[-2000:].decode(errors="replace")

    def alive(self):
        if self.p.poll() is not None:
            fail(f"{self.name} serve exited {self.p.returncode} during the benchmark: {self.log_tail()}")

    def status(self):
        """VmRSS, VmHWM (bytes) and Threads from /proc/PID/status."""
        out = {}
        with open(f"/proc/{self.p.pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    out[k] = int(v.split()[0]) * 1024
                elif k == "Threads":
                    out[k] = int(v)
        return out

    def cpu(self):
        """Process CPU seconds (user+system) and per-thread (tid: (comm, seconds))."""
        total = proc_cpu(f"/proc/{self.p.pid}/stat")[1]
        threads = {}
        for tid in os.listdir(f"/proc/{self.p.pid}/task"):
            try:
                threads[int(tid)] = proc_cpu(f"/proc/{self.p.pid}/task/{tid}/stat")
            except OSError:
                pass  # the thread ended
        return total, threads

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()


def proc_cpu(path):
    with open(path) as f:
        s = f.read()
    comm = s[s.index("(") + 1:s.rindex(")")]
    fields = s[s.rindex(")") + 2:].split()
    # fields[0] is state (field 3); utime and stime are fields 14 and 15.
    return comm, (int(fields[11]) + int(fields[12])) / CLK_TCK


class Sampler(threading.Thread):
    """VmRSS and Threads of a server every 100 ms while a run lasts."""

    def __init__(self, server):
        super().__init__(daemon=True)
        self.server, self.stop_ev = server, threading.Event()
        self.max_rss = self.max_threads = 0

    def run(self):
        while True:
            try:
                st = self.server.status()
                self.max_rss = max(self.max_rss, st.get("VmRSS", 0))
                self.max_threads = max(self.max_threads, st.get("Threads", 0))
            except OSError:
                return
            if self.stop_ev.wait(0.1):
                return


# ---------------------------------------------------------------- runs


def run_wrk(a, server, endpoint, script):
    server.alive()
    argv = ["wrk", f"-t{a.threads}", f"-c{a.connections}", f"-d{a.duration}s", "--latency", "-s", script, server.url(endpoint)]
    sampler = Sampler(server)
    cpu0, threads0 = server.cpu()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    sampler.start()
    t0 = time.monotonic()
    p = subprocess.run(argv, capture_output=True, text=True)
    wall = time.monotonic() - t0
    sampler.stop_ev.set()
    sampler.join()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu1, threads1 = server.cpu()
    st = server.status()
    server.alive()
    if p.returncode != 0:
        fail(f"{' '.join(argv)} exited {p.returncode}: {p.stderr.strip()}\n{p.stdout}")
    m = re.search(r"^SERVEBENCH (.*)$", p.stdout, re.M)
    if not m:
        fail(f"no SERVEBENCH line in wrk's output:\n{p.stdout}\n{p.stderr}")
    r = {k: float(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
    bad = {k: int(r[k]) for k in ("non2xx", "connect", "read", "write", "timeout") if r[k]}
    if bad:
        fail(f"{server.name} {endpoint}: wrk saw errors {bad} (non2xx counts status >= 400); wrk said:\n{p.stdout}\nlog tail: {server.log_tail()}")
    if r["requests"] <= 0:
        fail(f"{server.name} {endpoint}: wrk made no requests:\n{p.stdout}")
    per_thread = []
    for tid, (comm, secs) in threads1.items():
        used = secs - threads0.get(tid, (comm, 0.0))[1]
        if used > 0:
            per_thread.append((used, tid, comm))
    per_thread.sort(reverse=True)
    r.update({
        "wall": wall,
        "server_cpu": cpu1 - cpu0,
        "wrk_cpu": (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime),
        "max_rss_sampled": sampler.max_rss,
        "max_threads": max(sampler.max_threads, st.get("Threads", 0)),
        "hwm": st["VmHWM"],
        "threads_used": per_thread,
        "threads_total": len(threads1),
        "wrk_out": p.stdout,
    })
    return r


# ---------------------------------------------------------------- verification


def post(server, endpoint, body):
    req = urllib.request.Request(server.url(endpoint), data=body.encode(), method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, text = resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        fail(f"{server.name} {endpoint}: HTTP {e.code}: {e.read()[:500]!r}")
    if status // 100 != 2:
        fail(f"{server.name} {endpoint}: HTTP {status}")
    try:
        answer = json.loads(text)
    except ValueError:
        fail(f"{server.name} {endpoint}: not JSON: {text[:500]!r}")
    if answer.get("success") is not True:
        fail(f"{server.name} {endpoint}: success is not true: {text[:1000]}")
    res = answer.get("result") or {}
    if not isinstance(res.get("certificate"), str) or "BEGIN CERTIFICATE" not in res["certificate"]:
        fail(f"{server.name} {endpoint}: no certificate in the result: {text[:1000]}")
    return res


def pubkey(argv, what, stdin_path):
    return check(argv + ["-in", stdin_path], what).strip()


def check_cert(server, endpoint, cert_pem, cn, host, d):
    what = f"{server.name} {endpoint}"
    path = os.path.join(d, f"check-{server.name}-{endpoint}.pem")
    with open(path, "w") as f:
        f.write(cert_pem)
    out = check(["openssl", "x509", "-noout", "-subject", "-issuer", "-in", path], f"{what}: openssl x509")
    subj = re.search(r"^subject=\s*(.*)$", out, re.M)
    iss = re.search(r"^issuer=\s*(.*)$", out, re.M)
    if not subj or not re.search(rf"CN\s*=\s*{re.escape(cn)}(,|$)", subj.group(1)):
        fail(f"{what}: subject is not CN={cn}: {out}")
    if not iss or not re.search(r"CN\s*=\s*bench CA(,|$)", iss.group(1)):
        fail(f"{what}: issuer is not CN=bench CA: {out}")
    v = check(["openssl", "verify", "-CAfile", os.path.join(d, "ca.pem"), path], f"{what}: openssl verify")
    if not v.strip().endswith(": OK"):
        fail(f"{what}: openssl verify: {v}")
    text = check(["openssl", "x509", "-noout", "-text", "-in", path], f"{what}: openssl x509 -text")
    if "prime256v1" not in text and "P-256" not in text:
        fail(f"{what}: the certificate's key is not P-256")
    if f"DNS:{host}" not in text:
        fail(f"{what}: no DNS:{host} in the certificate")
    return path


def verify_server(server, bodies, d):
    """One newcert and one sign, untimed, checked with openssl."""
    res = post(server, "newcert", bodies["newcert"])
    cert = check_cert(server, "newcert", res["certificate"], "bench", "bench.example.com", d)
    key_path = os.path.join(d, f"check-{server.name}-newcert-key.pem")
    with open(key_path, "w") as f:
        f.write(res.get("private_key") or "")
    if not res.get("private_key"):
        fail(f"{server.name} newcert: no private_key")
    if pubkey(["openssl", "pkey", "-pubout"], f"{server.name} newcert: openssl pkey", key_path) != pubkey(["openssl", "x509", "-noout", "-pubkey"], f"{server.name} newcert: openssl x509 -pubkey", cert):
        fail(f"{server.name} newcert: private_key does not match the certificate")
    res = post(server, "sign", bodies["sign"])
    cert = check_cert(server, "sign", res["certificate"], SIGN_CN, SIGN_HOST, d)
    if pubkey(["openssl", "req", "-noout", "-pubkey"], "openssl req -pubkey", os.path.join(d, "leaf.csr")) != pubkey(["openssl", "x509", "-noout", "-pubkey"], f"{server.name} sign: openssl x509 -pubkey", cert):
        fail(f"{server.name} sign: the certificate does not carry the CSR's key")


# ---------------------------------------------------------------- report


def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    nproc = check(["nproc"], "nproc").strip()
    return f"{nproc} cores ({cpu}), Linux {os.uname().release}"


def mb(b):
    return f"{b / 1e6:.1f} MB"


def report(a, runs, hwm, cfssl_version, wrk_version):
    med = {(c, e, k): statistics.median(r[k] for r in runs[(c, e)]) for c in CONTENDERS for e in ENDPOINTS for k in ("rps", "p99_us", "p50_us")}
    missed, L = [], []
    L.append("## `kpki serve` vs `cfssl serve` under load (wrk)\n")
    L.append(f"Machine: {machine()}; {cfssl_version}; {wrk_version}.")
    L.append(f"Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; {a.rounds} alternating round(s) per endpoint, no warm-up; kpki: `{os.path.relpath(a.kpki, ROOT) if a.kpki.startswith(ROOT) else a.kpki}`.\n")
    L.append(f"How it was measured: both servers run on the same P-256 CA, signing config (default profile, 8760h) and request bodies, "
             f"listening on {HOST} with their access logs going to files. Load: `wrk -t{a.threads} -c{a.connections} -d{a.duration}s --latency` with a Lua script "
             "POSTing the JSON body (newcert: a P-256 key and certificate for CN=bench, hosts bench.example.com; sign: a P-256 CSR made by `kpki genkey`), "
             "one server under load at a time, the contenders alternating round by round (which goes first alternates too). "
             "req/s is wrk's completed requests over its run time and p99 wrk's latency percentile (client-side, closed loop); the figures are medians over the rounds, nothing subtracted. "
             "Every run must have no answer with status >= 400 and no socket errors. Peak RSS is the server's VmHWM (/proc/PID/status) after all its runs. "
             "Outside the timed part, one newcert and one sign answer from each server are checked with openssl (chain to ca.pem, subject, issuer, SAN, P-256, newcert's key against its certificate, sign's certificate against the CSR's key).\n")
    L.append("| endpoint | cfssl req/s | kpki req/s | ratio (target >= 5x) | cfssl p99 | kpki p99 | ratio (target <= 1/3) | peak RSS cfssl | peak RSS kpki |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for e in ENDPOINTS:
        c_rps, k_rps = med[("cfssl", e, "rps")], med[("kpki", e, "rps")]
        c_p99, k_p99 = med[("cfssl", e, "p99_us")], med[("kpki", e, "p99_us")]
        rr, pr = k_rps / c_rps, k_p99 / c_p99
        ok_r, ok_p = rr >= MIN_RPS_RATIO, pr <= MAX_P99_RATIO
        if not ok_r:
            missed.append(f"{e}: kpki/cfssl req/s {rr:.2f}x < {MIN_RPS_RATIO:g}x")
        if not ok_p:
            missed.append(f"{e}: kpki/cfssl p99 {pr:.3f} > 1/3")
        L.append(f"| P-256 {e} | {c_rps:.0f} | {k_rps:.0f} | {rr:.2f}x {'ok' if ok_r else 'MISSED'} | {c_p99 / 1000:.2f} ms | {k_p99 / 1000:.2f} ms | "
                 f"{pr:.3f} {'ok' if ok_p else 'MISSED'} | {mb(max(r['max_rss_sampled'] for r in runs[('cfssl', e)]))} | {mb(max(r['max_rss_sampled'] for r in runs[('kpki', e)]))} |")
    ok_m = hwm["kpki"] < hwm["cfssl"]
    if not ok_m:
        missed.append(f"peak RSS: kpki {mb(hwm['kpki'])} is not below cfssl's {mb(hwm['cfssl'])}")
    L.append("")
    L.append(f"Peak RSS under load (VmHWM after all runs, both endpoints; target: kpki below cfssl): cfssl {mb(hwm['cfssl'])}, kpki {mb(hwm['kpki'])} — {'ok' if ok_m else 'MISSED'}. "
             "The table's RSS columns are the largest VmRSS sampled every 100 ms during that endpoint's runs.\n")
    L.append("### Diagnostics, not targets\n")
    L.append("Every run: wrk's figures, then CPU time over the run (server: utime+stime from /proc/PID/stat; wrk: its rusage) as a share of one core "
             f"(this machine has {os.cpu_count()}), CPU per request, and the server's thread count.\n")
    L.append("| endpoint | server | round | req/s | p50 | p99 | max | requests | server CPU | server CPU/req | wrk CPU | threads (busy >1%) |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for e in ENDPOINTS:
        for c in CONTENDERS:
            for i, r in enumerate(runs[(c, e)], 1):
                busy = sum(1 for used, _, _ in r["threads_used"] if used > 0.01 * r["wall"])
                L.append(f"| {e} | {c} | {i} | {r['rps']:.0f} | {r['p50_us'] / 1000:.2f} ms | {r['p99_us'] / 1000:.2f} ms | {r['max_us'] / 1000:.1f} ms | {int(r['requests'])} | "
                         f"{100 * r['server_cpu'] / r['wall']:.0f}% | {1e6 * r['server_cpu'] / r['requests']:.0f} µs | {100 * r['wrk_cpu'] / r['wall']:.0f}% | {r['max_threads']} ({busy}) |")
    L.append("")
    L.append("Busiest server threads in each contender's last run of each endpoint (CPU seconds over the run, thread name):\n")
    for e in ENDPOINTS:
        for c in CONTENDERS:
            r = runs[(c, e)][-1]
            top = ", ".join(f"{used:.2f} s {comm}" for used, _, comm in r["threads_used"][:8])
            L.append(f"- {e}, {c} ({r['wall']:.1f} s run, {r['threads_total']} threads): {top}")
    L.append("")
    return "\n".join(L), missed


def write_section(path, text):
    sections.write_section(path, text, START_MARK, END_MARK)


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per endpoint (default 3)")
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    ap.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    ap.add_argument("--connections", type=int, default=8, help="wrk connections (default 8)")
    ap.add_argument("--kpki", default=os.path.join(ROOT, "target", "release", "kpki"), help="the kpki binary (default: target/release/kpki)")
    ap.add_argument("--write", help="replace (or append) the section between the serve-bench markers in this Markdown file")
    ap.add_argument("--check", action="store_true", help="exit non-zero when a target is missed")
    ap.add_argument("--scratch", help="working directory (default: a new temporary directory, removed at the end)")
    ap.add_argument("--keep", action="store_true", help="keep the working directory (logs, scripts, checked certificates)")
    a = ap.parse_args()
    if a.rounds < 1:
        fail("--rounds must be at least 1")
    a.kpki = os.path.abspath(a.kpki)
    if not os.access(a.kpki, os.X_OK):
        fail(f"{a.kpki} not found: build it with `cargo build --release` (or pass --kpki PATH)")
    require_tools()
    cfssl, cfssl_version = assert_real_cfssl(a.kpki)
    wrk_version = (subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split("\n")[0].split("[")[0].strip() or "wrk")

    if a.scratch:
        os.makedirs(a.scratch, exist_ok=True)
        d = os.path.abspath(a.scratch)
    else:
        d = tempfile.mkdtemp(prefix="serve-bench-")
        if not a.keep:
            atexit.register(shutil.rmtree, d, True)
    bodies, _ = make_inputs(a.kpki, d)
    scripts = {}
    for e in ENDPOINTS:
        scripts[e] = os.path.join(d, f"{e}.lua")
        write_lua(scripts[e], bodies[e])

    servers = {
        "cfssl": Server("cfssl", [cfssl, "serve"], cfssl, d),
        "kpki": Server("kpki", [a.kpki, "serve"], a.kpki, d),
    }
    print(f"serve_bench: cfssl on :{servers['cfssl'].port}, kpki on :{servers['kpki'].port}; work dir {d}", file=sys.stderr)

    runs = {(c, e): [] for c in CONTENDERS for e in ENDPOINTS}
    n = 0
    for e in ENDPOINTS:
        for i in range(a.rounds):
            order = CONTENDERS if n % 2 == 0 else CONTENDERS[::-1]
            n += 1
            for c in order:
                r = run_wrk(a, servers[c], e, scripts[e])
                runs[(c, e)].append(r)
                print(f"serve_bench: {e} round {i + 1} {c}: {r['rps']:.0f} req/s, p99 {r['p99_us'] / 1000:.2f} ms, server CPU {100 * r['server_cpu'] / r['wall']:.0f}%, wrk CPU {100 * r['wrk_cpu'] / r['wall']:.0f}%", file=sys.stderr)
    hwm = {c: servers[c].status()["VmHWM"] for c in CONTENDERS}

    # Untimed: a sample of answers from each server, checked.
    for c in CONTENDERS:
        verify_server(servers[c], bodies, d)
    for c in CONTENDERS:
        servers[c].alive()
        servers[c].stop()

    text, missed = report(a, runs, hwm, cfssl_version, wrk_version)
    print(text)
    if a.write:
        write_section(a.write, text)
    if missed:
        print("serve_bench: targets missed:\n  " + "\n  ".join(missed), file=sys.stderr)
        if a.check:
            sys.exit(1)


if __name__ == "__main__":
    main()
