#!/usr/bin/env python3
"""Virtual users with the seed's k6 load shape (the Phase 5 `cache_test.js`), for load_tests/bench.

wrk keeps every connection busy (a closed loop without think time); the Phase 5 test did not. Each virtual user
here is one keep-alive connection that repeats the seed's iteration:

    GET /api/v1/risks?page=0&limit=20        sleep 0.3-0.5 s
    GET /api/v1/stats                        sleep 0.3-0.5 s
    GET /api/v1/stats/risk-matrix            sleep 0.3-0.5 s
    GET /api/v1/risks?search=WORD            sleep 0.3-0.5 s
    GET /api/v1/stats/trends                 sleep 0.3-0.5 s
    GET /api/v1/risks?limit=1, then GET /api/v1/risks/:id of its first item
    sleep 1 s

Users are logged in once beforehand (load_tests/wrk/login.py's file: "token|can_write|tenant|ids"); the
virtual users are spread over them, so over the three tenants. Writes: after each read, a writer (admin or
analyst) sends a write with the probability that makes WRITE_SHARE of all requests writes. The writes, in
equal shares: a new risk (POST /risks), a risk edit (PATCH /risks/:id: a title, a description, tags, a status
or a new impact and probability, in equal shares), a new mitigation plan (POST /risks/:id/mitigations), and a
sub-action checked or unchecked (POST /mitigations/:id/sub-actions/:aid/complete or /revert, on a plan and a
sub-action the user created at its first such write).

    python3 load_tests/vus.py --url http://127.0.0.1:8080 --tokens tokens.txt --vus 200 --seconds 20 \
        --write-share 0.05 --report out.json

The report has wrk's JSON shape (load_tests/wrk/openrisk.lua's done()): requests, duration_us, latency_us
(mean, p50, p95, p99), errors (connect, read, write, status, timeout), reads_sent, writes_sent; plus writes by
kind and, per request group ("GET /api/v1/risks/:id", "write: risk-patch"), count, mean, p50 and p95 (routes). Standard library only; every request has a timeout and the run stops at its deadline.
"""
import argparse
import asyncio
import json
import random
import re
import statistics
import sys
import time

WORDS = ["data", "access", "vendor", "cloud", "phishing", "backup"]
STATUSES = ["OPEN", "IN_PROGRESS", "MITIGATED"]
REQUEST_TIMEOUT = 10.0


class HttpError(Exception):
    def __init__(self, kind):
        super().__init__(kind)
        self.kind = kind  # connect | read | write | timeout


class Conn:
    """One keep-alive HTTP/1.1 connection (reopened after an error)."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.r = self.w = None

    async def close(self):
        if self.w:
            self.w.close()
        self.r = self.w = None

    async def request(self, method, path, token, body=None):
        if not self.w:
            try:
                self.r, self.w = await asyncio.wait_for(asyncio.open_connection(self.host, self.port),
                                                        REQUEST_TIMEOUT)
            except (OSError, asyncio.TimeoutError):
                raise HttpError("connect")
        data = b"" if body is None else json.dumps(body).encode()
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAuthorization: Bearer {token}\r\n"
                + (f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n" if body is not None else "")
                + "\r\n").encode()
        try:
            self.w.write(head + data)
            await asyncio.wait_for(self.w.drain(), REQUEST_TIMEOUT)
        except (OSError, asyncio.TimeoutError):
            await self.close()
            raise HttpError("write")
        try:
            return await asyncio.wait_for(self._response(method), REQUEST_TIMEOUT)
        except asyncio.TimeoutError:
            await self.close()
            raise HttpError("timeout")
        except (OSError, asyncio.IncompleteReadError, ValueError):
            await self.close()
            raise HttpError("read")

    async def _response(self, method):
        head = await self.r.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if method == "HEAD" or status in (204, 304):
            return status, b""
        m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
        if m:
            return status, await self.r.readexactly(int(m.group(1)))
        if re.search(rb"(?i)\r\ntransfer-encoding:[^\r]*chunked", head):
            body = b""
            while True:
                size = int((await self.r.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.r.readuntil(b"\r\n")  # no trailers expected
                    return status, body
                body += await self.r.readexactly(size)
                await self.r.readexactly(2)
        raise ValueError("response without framing")


class RunOver(Exception):
    """The run's deadline passed: the virtual user stops."""


class Stats:
    def __init__(self):
        self.lat_us = []
        self.errors = {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}
        self.reads = self.writes = 0
        self.write_kinds = {}
        self.failed = {}  # "METHOD /path/:id STATUS": count of 4xx and 5xx answers
        self.routes = {}  # request group ("GET /api/v1/risks/:id", "PATCH risk-patch"): latencies in µs


async def virtual_user(n, user, url_host, url_port, deadline, write_p, stats, rng):
    token, writer, ids = user["token"], user["writer"], user["ids"]
    conn = Conn(url_host, url_port)
    own = {}  # the plan and sub-action this user toggles

    async def call(method, path, body=None, is_write=False, group=None):
        if time.monotonic() >= deadline:
            raise RunOver
        t0 = time.perf_counter()
        try:
            status, data = await conn.request(method, path, token, body)
        except HttpError as e:
            stats.errors[e.kind] += 1
            return None, b""
        finally:
            if is_write:
                stats.writes += 1
            else:
                stats.reads += 1
        stats.lat_us.append((time.perf_counter() - t0) * 1e6)
        group = group or f"{method} {re.sub(r'/[0-9a-f-]{8,}', '/:id', re.sub(r'search=[^&]*', 'search=*', path))}"
        stats.routes.setdefault(group, []).append(stats.lat_us[-1])
        if status >= 400:
            stats.errors["status"] += 1
            what = f"{method} {re.sub(r'/[0-9a-f-]{8,}', '/:id', path.split('?')[0])} {status}"
            stats.failed[what] = stats.failed.get(what, 0) + 1
        return status, data

    async def write():
        kind = rng.choice(("risk-create", "risk-patch", "mitigation-create", "sub-action"))
        stats.write_kinds[kind] = stats.write_kinds.get(kind, 0) + 1
        rid = rng.choice(ids)
        if kind == "risk-create":
            await call("POST", "/api/v1/risks", {"title": f"load test risk {n}", "description": "vus.py",
                                                 "impact": rng.randint(1, 5), "probability": rng.randint(1, 5)},
                       True, "write: risk-create")
        elif kind == "risk-patch":
            body = rng.choice(({"title": f"edited by user {n}"}, {"description": f"note {rng.random():.6f}"},
                               {"tags": ["load", f"u{n}"]}, {"status": rng.choice(STATUSES)},
                               {"impact": rng.randint(1, 5), "probability": rng.randint(1, 5)}))
            await call("PATCH", f"/api/v1/risks/{rid}", body, True, "write: risk-patch")
        elif kind == "mitigation-create":
            await call("POST", f"/api/v1/risks/{rid}/mitigations", {"title": "load test plan", "priority": "MEDIUM"},
                       True, "write: mitigation-create")
        else:
            if "aid" not in own:
                # The user's own plan and sub-action, made once (two writes), then checked and unchecked.
                status, data = await call("POST", f"/api/v1/risks/{rid}/mitigations",
                                          {"title": f"plan of user {n}", "priority": "LOW"}, True,
                                          "write: sub-action")
                if status not in (200, 201):
                    return
                own["mid"] = json.loads(data)["id"]
                status, data = await call("POST", f"/api/v1/mitigations/{own['mid']}/sub-actions",
                                          {"title": "check"}, True, "write: sub-action")
                if status not in (200, 201):
                    return
                own["aid"] = json.loads(data)["sub_actions"][-1]["id"]  # the answer is the whole plan
                own["done"] = False
                return
            own["done"] = not own["done"]
            await call("POST", f"/api/v1/mitigations/{own['mid']}/sub-actions/{own['aid']}/"
                       + ("complete" if own["done"] else "revert"), None, True, "write: sub-action")

    async def read(path):
        result = await call("GET", path)
        if writer and rng.random() < write_p:
            await write()
        return result

    async def think(lo, hi):
        await asyncio.sleep(rng.uniform(lo, hi))

    try:
        await asyncio.sleep(rng.uniform(0, 1))  # users do not all start in the same millisecond
        while time.monotonic() < deadline:
            await read("/api/v1/risks?page=0&limit=20")
            await think(0.3, 0.5)
            await read("/api/v1/stats")
            await think(0.3, 0.5)
            await read("/api/v1/stats/risk-matrix")
            await think(0.3, 0.5)
            await read(f"/api/v1/risks?search={rng.choice(WORDS)}")
            await think(0.3, 0.5)
            await read("/api/v1/stats/trends")
            await think(0.3, 0.5)
            status, data = await read("/api/v1/risks?limit=1")
            rid = None
            if status == 200:
                try:
                    items = json.loads(data).get("items") or []
                    rid = items[0]["id"] if items else None
                except (ValueError, KeyError, TypeError):
                    rid = None
            await read(f"/api/v1/risks/{rid or rng.choice(ids)}")
            await think(1.0, 1.0)
    except RunOver:
        pass
    finally:
        await conn.close()


def percentile(sorted_vals, q):
    if not sorted_vals:
        return 0.0
    k = min(len(sorted_vals) - 1, max(0, int(round(q * (len(sorted_vals) - 1)))))
    return sorted_vals[k]


async def run(args):
    users = []
    with open(args.tokens) as f:
        for line in f:
            p = line.strip().split("|")
            if len(p) == 4:
                users.append({"token": p[0], "writer": p[1] == "1", "tenant": p[2], "ids": p[3].split(",")})
    if not users:
        raise SystemExit("vus.py: no users in " + args.tokens)
    m = re.match(r"^http://([^:/]+):(\d+)/?$", args.url)
    if not m:
        raise SystemExit("vus.py: --url must be http://HOST:PORT")
    host, port = m.group(1), int(m.group(2))
    # Writes are WRITE_SHARE of all requests; only writers write, after a read, so their per-read chance is
    # raised by the share of readers among the virtual users.
    vus = [users[i % len(users)] for i in range(args.vus)]
    writers = sum(1 for u in vus if u["writer"])
    s = args.write_share
    write_p = min(1.0, s / (1 - s) * len(vus) / writers) if writers and 0 < s < 1 else 0.0
    stats = Stats()
    rng = random.Random(args.seed)
    t0 = time.monotonic()
    deadline = t0 + args.seconds
    await asyncio.gather(*[virtual_user(i, u, host, port, deadline, write_p, stats, random.Random(rng.random()))
                           for i, u in enumerate(vus)])
    elapsed = time.monotonic() - t0
    lat = sorted(stats.lat_us)
    return {"requests": len(lat), "duration_us": int(elapsed * 1e6), "bytes": 0,
            "reads_sent": stats.reads, "writes_sent": stats.writes, "write_kinds": stats.write_kinds,
            "failed": stats.failed,
            "routes": {g: {"count": len(v), "mean_ms": statistics.fmean(v) / 1000,
                           "p50_ms": percentile(sorted(v), 0.50) / 1000, "p95_ms": percentile(sorted(v), 0.95) / 1000}
                       for g, v in sorted(stats.routes.items())},
            "errors": stats.errors, "vus": args.vus,
            "latency_us": {"mean": statistics.fmean(lat) if lat else 0.0, "p50": percentile(lat, 0.50),
                           "p95": percentile(lat, 0.95), "p99": percentile(lat, 0.99),
                           "max": lat[-1] if lat else 0.0}}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--vus", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--write-share", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--report", default=None)
    args = ap.parse_args()
    out = json.dumps(asyncio.run(run(args)))
    if args.report:
        with open(args.report, "w") as f:
            f.write(out + "\n")
    else:
        print(out)


if __name__ == "__main__":
    sys.exit(main())
