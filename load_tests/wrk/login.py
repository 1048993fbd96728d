#!/usr/bin/env python3
"""Logs the load-test users in to the OpenRisk simulator (or the real API) and writes the users file the wrk
script reads: one line per user, "token|can_write|tenant|id1,id2,...", ids being that tenant's risks.

    python3 load_tests/wrk/login.py --base http://127.0.0.1:8081 --out /tmp/tokens.txt

Users: admin, analyst and viewer of acme, globex and initech (password sim-password); admins and analysts
write, viewers only read. Standard library only.
"""
import argparse
import json
import sys
import urllib.request

TENANTS = ["acme", "globex", "initech"]
ROLES = [("admin", True), ("analyst", True), ("viewer", False)]


def call(base, method, path, body=None, token=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


def emails(slug, members_per_role):
    """The users of one tenant: its admin, then `members_per_role` analysts and viewers (the simulator's
    --members-per-role names them ROLE@S.test, ROLE-2@S.test, ...)."""
    for role, writer in ROLES:
        for k in range(1, (1 if role == "admin" else members_per_role) + 1):
            yield (f"{role}@{slug}.test" if k == 1 else f"{role}-{k}@{slug}.test"), writer


def login_all(base, password="sim-password", tenants=TENANTS, members_per_role=1):
    users = []
    ids_by_tenant = {}
    for slug in tenants:
        for email, writer in emails(slug, members_per_role):
            out = call(base, "POST", "/api/v1/auth/login", {"email": email, "password": password})
            pair = out.get("token_pair") or {}
            token = pair.get("access_token") or out.get("token")
            if not token:
                raise SystemExit(f"login.py: no token for {email}: {out}")
            if slug not in ids_by_tenant:
                ids = []
                for page in (1, 2, 3):
                    items = call(base, "GET", f"/api/v1/risks?page={page}&limit=200&sort=created_at:asc",
                                 token=token).get("items", [])
                    ids += [r["id"] for r in items]
                    if len(items) < 200:
                        break
                if not ids:
                    raise SystemExit(f"login.py: tenant {slug} has no risks")
                ids_by_tenant[slug] = ids
            users.append((token, writer, slug, ids_by_tenant[slug]))
    return users


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", default="http://127.0.0.1:8081", help="API base URL (the simulator)")
    ap.add_argument("--out", default="tokens.txt")
    ap.add_argument("--password", default="sim-password")
    ap.add_argument("--members-per-role", type=int, default=1,
                    help="analysts and viewers per tenant (the simulator's --members-per-role)")
    a = ap.parse_args()
    users = login_all(a.base.rstrip("/"), a.password, members_per_role=a.members_per_role)
    with open(a.out, "w") as f:
        for token, writer, slug, ids in users:
            f.write(f"{token}|{1 if writer else 0}|{slug}|{','.join(ids)}\n")
    print(f"login.py: {len(users)} users written to {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
