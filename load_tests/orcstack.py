"""The local stack shared by load_tests/bench and load_tests/soak (python3, standard library only).

Starts redis-server, openrisk-sim and openrisk-cache (config/openrisk.yaml, a few lines rewritten) on
127.0.0.1 ports picked at run time, waits until they answer, and stops them by PID. Nothing here picks
cores or decides durations: the callers do (bench pins with taskset, soak does not).
"""
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIM_REL = "load_tests/openrisk_sim/openrisk-sim"
PROXY_REL = "openrisk-cache"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url, method="GET", body=None, timeout=10):
    req = urllib.request.Request(url, data=body, method=method)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read()


def wait_http(url, proc, what, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} (see its log in the work dir)")
        try:
            http(url, timeout=1)
            return
        except Exception:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not answer {url} within {timeout}s")


class Procs:
    """The processes this run started; stopped by PID, in reverse order."""

    def __init__(self, new_session=False):
        self.items = []
        # new_session: children do not get the terminal's Ctrl-C; the caller stops them itself.
        self.new_session = new_session

    def start(self, name, argv, logfile, env=None):
        f = open(logfile, "ab")
        try:
            p = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                 start_new_session=self.new_session)
        finally:
            f.close()  # the child holds its own copy
        self.items.append((name, p))
        return p

    def stop(self, proc, sig=signal.SIGTERM, timeout=10):
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.items = [(n, p) for n, p in self.items if p is not proc]

    def stop_all(self):
        for _, p in reversed(list(self.items)):
            self.stop(p)


def rss_mib(pid):
    """VmRSS of a live process in MiB, None when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return 0.0


def redis_ping(port):
    try:
        r = subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, timeout=2)
    except subprocess.TimeoutExpired:
        return False
    return r.stdout.strip() == b"PONG"


def start_redis(procs, work, prefix=(), port=None, name="redis", unix_socket=None):
    """A throw-away redis-server (no persistence, loopback; also on the Unix socket `unix_socket`, an absolute
    path, when given). Returns (proc, port)."""
    port = port or free_port()
    socket_args = ["--unixsocket", unix_socket, "--unixsocketperm", "700"] if unix_socket else []
    p = procs.start(name, list(prefix) + [
        "redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", work, "--save", "",
        "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning", "--maxclients", "20000"] + socket_args,
        os.path.join(work, f"{name}.log"))
    for _ in range(200):
        if redis_ping(port):
            return p, port
        if p.poll() is not None:
            break
        time.sleep(0.025)
    raise RuntimeError(f"redis-server did not start on port {port} (see {name}.log)")


def start_sim(procs, build_dir, work, name, latency, jitter, threads, prefix=(), port=None, seed=None,
              key=None, extra=()):
    """openrisk-sim with a 2 h access-token life. Returns (proc, port, public key file)."""
    port = port or free_port()
    key = key or os.path.join(work, f"{name}-jwt.pem")
    argv = list(prefix) + [
        os.path.join(build_dir, SIM_REL), "--listen", f"127.0.0.1:{port}",
        "--jwt-key-out", key, "--threads", str(threads), "--access-ttl", "2h",
        "--latency", latency, "--jitter", jitter] + (["--seed", str(seed)] if seed is not None else []) + list(extra)
    p = procs.start(name, argv, os.path.join(work, f"{name}.log"))
    wait_http(f"http://127.0.0.1:{port}/api/v1/health", p, name)
    return p, port, key


def proxy_config(work, name, sim_port, admin_port, listen_port, threads, quiet=True, rulebook=None, subs=()):
    """config/openrisk.yaml (or `rulebook`, or $RULEBOOK) with the listen address, upstream URL, threads and admin
    listener rewritten; quiet: access log off and log level warn (like nginx's access_log off); subs: more
    (pattern, replacement) rewrites, each of which must match once."""
    with open(rulebook or os.environ.get("RULEBOOK") or os.path.join(ROOT, "config/openrisk.yaml")) as f:
        text = f.read()
    extra = subs
    subs = [
        (r"(?m)^listen: .*$", f"listen: 127.0.0.1:{listen_port}"),
        (r"(?m)^threads: .*$", f"threads: {threads}"),
        (r"(?m)^  url: http://127\.0\.0\.1:8081$", f"  url: http://127.0.0.1:{sim_port}"),
    ]
    if quiet:
        subs += [(r"(?m)^  level: info$", "  level: warn"), (r"(?m)^  access_log: true$", "  access_log: false")]
    subs += list(extra)
    for pat, rep in subs:
        text, n = re.subn(pat, rep, text, count=1)
        if n != 1:
            raise RuntimeError(f"{rulebook or 'config/openrisk.yaml'}: cannot rewrite {pat}")
    text += f"\nadmin:\n  listen: 127.0.0.1:{admin_port}\n"
    path = os.path.join(work, f"{name}.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


def start_proxy(procs, build_dir, work, name, sim_port, key, redis_port, threads, prefix=(), quiet=True,
                env_extra=None, rulebook=None, subs=(), redis_url=None):
    """openrisk-cache with Redis storage: `redis_url`, or the server on 127.0.0.1:`redis_port`. Returns (proc,
    port, admin port)."""
    port, admin = free_port(), free_port()
    cfg = proxy_config(work, name, sim_port, admin, port, threads, quiet, rulebook, subs)
    env = dict(os.environ, ORC_JWT_PUBLIC_KEY_FILE=key, ORC_KEY_SECRET=os.urandom(32).hex(),
               ORC_REDIS_URL=redis_url or f"redis://127.0.0.1:{redis_port}/0", **(env_extra or {}))
    p = procs.start(name, list(prefix) + [os.path.join(build_dir, PROXY_REL), "serve", "--config", cfg],
                    os.path.join(work, f"{name}.log"), env=env)
    wait_http(f"http://127.0.0.1:{port}/api/v1/health", p, name)
    wait_http(f"http://127.0.0.1:{admin}/metrics", p, name)
    return p, port, admin


def metric_sums(admin_port, name, by, where=None, timeout=10):
    """Sums a counter of the proxy's /metrics by one label, keeping samples whose labels satisfy where()."""
    out = {}
    body = http(f"http://127.0.0.1:{admin_port}/metrics", timeout=timeout).decode()
    for m in re.finditer(r'^' + re.escape(name) + r'\{([^}]*)\}\s+([0-9.e+]+)', body, re.M):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if where and not where(labels):
            continue
        out[labels.get(by)] = out.get(labels.get(by), 0) + float(m.group(2))
    return out


def read_results(admin_port):
    """Proxy request counters by result (hit, stale, miss, bypass, ...), reads only (GET/HEAD), and "coalesced":
    the misses that waited for another request's fetch (openrisk_cache_coalesced_requests_total)."""
    out = metric_sums(admin_port, "openrisk_cache_requests_total", "result",
                      lambda labels: labels.get("method") in ("GET", "HEAD"))
    out["coalesced"] = sum(metric_sums(admin_port, "openrisk_cache_coalesced_requests_total", "rule").values())
    return out
