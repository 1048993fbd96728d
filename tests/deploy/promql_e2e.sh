#!/usr/bin/env bash
# End-to-end check of the PromQL we ship: a real Prometheus scrapes a real openrisk-cache (in front of
# openrisk-sim, with a real redis-server), loads deploy/prometheus/recording_rules.yml and alert_rules.yml, and
# every expression of those files and of the Grafana dashboard is evaluated through /api/v1/query.
#   - dashboard targets and recording rules: must evaluate without error AND return data;
#   - alert rules: the full expression must evaluate without error (no data is the healthy answer: the alert
#     does not fire); in addition, each operand of its top-level comparisons / and / or / unless, numeric
#     literals dropped, must return data. So `X < 0.75 and on(...) Y >= 0.1` checks that X and Y exist;
#     a misspelt metric or a label the daemon never exports fails instead of silently never firing.
# Everything listens on 127.0.0.1, on ports picked at run time, in a temp dir; only the processes this script
# started are stopped, by PID. Needs: prometheus, redis-server, curl, python3, and a build
# (BUILD_DIR, default build: openrisk-cache and load_tests/openrisk_sim/openrisk-sim).
# Knobs: PROMQL_E2E_ALLOW_EMPTY (regex of expressions allowed to return no data besides the Redis Cluster and
#        Sentinel series, which a single Redis does not export; default none),
#        PROMQL_E2E_KEEP=1 (keep the temp dir and print its path).
# Prints one line per check and `N passed, N failed` last; exits non-zero on any failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD_DIR=${BUILD_DIR:-build}
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac
DAEMON="$BUILD_DIR/openrisk-cache"
SIM="$BUILD_DIR/load_tests/openrisk_sim/openrisk-sim"
PY=${PYTHON:-/usr/bin/python3}

for tool in prometheus redis-server redis-cli curl "$PY"; do
  command -v "$tool" >/dev/null 2>&1 || { echo "FAIL  $tool is not installed"; echo "0 passed, 1 failed"; exit 2; }
done
for bin in "$DAEMON" "$SIM"; do
  [ -x "$bin" ] || { echo "FAIL  $bin is not built (BUILD_DIR=$BUILD_DIR)"; echo "0 passed, 1 failed"; exit 2; }
done

WORK=$(mktemp -d)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "${PROMQL_E2E_KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
# wait_log FILE REGEX: bounded wait (10 s) for a log line; prints the first match.
wait_log() {
  local i
  for i in $(seq 1 100); do
    if grep -m1 -E "$2" "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "timed out waiting for /$2/ in $1" >&2
  sed -e 's/^/    /' "$1" >&2 || true
  return 1
}
wait_http() { # URL [tries of 0.1 s]
  local i
  for i in $(seq 1 "${2:-100}"); do
    curl -sf -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.1
  done
  return 1
}

# ---- redis-server -------------------------------------------------------------------------------------------
REDIS_PORT=$(free_port)
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$WORK" --save "" --appendonly no \
  --daemonize no --loglevel warning --logfile "$WORK/redis.log" &
pids+=($!)
for _ in $(seq 1 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
echo "redis-server      127.0.0.1:$REDIS_PORT"

# ---- openrisk-sim: reads take 200 ms, so concurrent identical misses overlap and coalesce -------------------------
"$SIM" --listen 127.0.0.1:0 --jwt-key-out "$WORK/jwt-public.pem" --class-latency read=200ms >"$WORK/sim.log" 2>&1 &
pids+=($!)
SIM_PORT=$(wait_log "$WORK/sim.log" 'listening on' | sed -E 's/.*listening on [0-9.]+:([0-9]+).*/\1/')
echo "openrisk-sim      127.0.0.1:$SIM_PORT"

# ---- openrisk-cache with a small rulebook and the admin listener ---------------------------------------------
ADMIN_PORT=$(free_port)
printf 'e2e-admin-token-%s' "$RANDOM$RANDOM" >"$WORK/admin-token"
cat >"$WORK/openrisk.yaml" <<EOF
listen: 127.0.0.1:0
threads: 2
upstream: { url: "http://127.0.0.1:$SIM_PORT" }
logging: { level: info, access_log: false }
identity:
  credential: [{ header: Authorization }]
  jwt: { algorithm: RS256, public_key_file: "$WORK/jwt-public.pem", issuer: openrisk, audience: openrisk-api,
         user_claim: sub, tenant_claim: tenant_id, leeway: 0s }
redis: { url: "redis://127.0.0.1:$REDIS_PORT/0", key_prefix: "e2e:" }
# Verify mode on every hit: verdicts per rule for the verify panels and recordings, and skips (a key's verify
# takes the simulator's 200 ms, so the hits that follow it at once find it in flight).
cache: { verify: { sample: 1, max_per_second: 1000, concurrency: 4 } }
admin: { listen: "127.0.0.1:$ADMIN_PORT", token_file: "$WORK/admin-token" }
rules:
  - name: health
    match: { method: GET, path: /api/v1/health }
    cache: { ttl: 1m, scope: public }
  - name: stats
    match: { method: GET, path: /api/v1/stats }
    cache: { ttl: 1m, scope: tenant, tags: ["risk-agg:{tenant}"] }
  - name: risk-list
    match: { method: GET, path: /api/v1/risks }
    cache: { ttl: 1m, scope: tenant, key: { query: [page, limit] }, tags: ["risks:{tenant}"] }
  - name: risk-detail
    match: { method: GET, path: "/api/v1/risks/:id" }
    cache: { ttl: 1m, scope: tenant, tags: ["risk:{tenant}:{id}", "risks:{tenant}"] }
  - name: risk-create
    # The answer (the new risk) names it: a tag from the answer, for the fallback counter's panel.
    match: { method: POST, path: /api/v1/risks }
    invalidate: ["risks:{tenant}", "risk-agg:{tenant}", { tag: "risk:{tenant}:{answer.id}", fallback: "risks:{tenant}" }]
  - name: risk-patch
    match: { method: PATCH, path: "/api/v1/risks/:id" }
    invalidate: ["risks:{tenant}", { tag: "risk-agg:{tenant}", unless_body_only: [title] }]
  - name: auth
    match: { path: "/api/v1/auth/**" }
    pass: true
EOF
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok    $1"; }
fail() { failed=$((failed + 1)); echo "FAIL  $1"; }

if "$DAEMON" check --config "$WORK/openrisk.yaml" >"$WORK/check.out" 2>&1; then
  ok "openrisk-cache check accepts the e2e rulebook"
else
  fail "openrisk-cache check accepts the e2e rulebook"
  sed -e 's/^/        /' "$WORK/check.out"
  echo "$passed passed, $failed failed"
  exit 1
fi
"$DAEMON" serve --config "$WORK/openrisk.yaml" >"$WORK/daemon.log" 2>&1 &
DAEMON_PID=$!
pids+=("$DAEMON_PID")
PROXY_PORT=$(wait_log "$WORK/daemon.log" "listening on 127\.0\.0\.1:[0-9]+" | sed -E 's/.*listening on [0-9.]+:([0-9]+).*/\1/' | grep -vx "$ADMIN_PORT" | head -1)
PROXY=http://127.0.0.1:$PROXY_PORT
wait_http "$PROXY/api/v1/health" || { fail "proxy answers on $PROXY"; echo "$passed passed, $failed failed"; exit 1; }
echo "openrisk-cache    $PROXY, admin 127.0.0.1:$ADMIN_PORT"
SCRAPE_TARGET=127.0.0.1:$ADMIN_PORT
if wait_http "http://$SCRAPE_TARGET/metrics" 50; then
  ok "admin listener serves /metrics on $SCRAPE_TARGET"
  # A real scrape must be valid exposition text with nothing promtool would complain about.
  if lint=$(curl -sf "http://$SCRAPE_TARGET/metrics" | promtool check metrics 2>&1) && [ -z "$lint" ]; then
    ok "promtool check metrics: a real scrape has no problem"
  else
    fail "promtool check metrics: $lint"
  fi
else
  fail "admin listener serves /metrics on $SCRAPE_TARGET (not implemented yet? the rest will find no data)"
fi

# ---- prometheus: 1 s scrapes and evaluations, the shipped rule files --------------------------------------
PROM_PORT=$(free_port)
mkdir -p "$WORK/prom"
cp "$ROOT/deploy/prometheus/recording_rules.yml" "$ROOT/deploy/prometheus/alert_rules.yml" "$WORK/prom/"
cat >"$WORK/prom/prometheus.yml" <<EOF
global: { scrape_interval: 1s, evaluation_interval: 1s }
rule_files: [recording_rules.yml, alert_rules.yml]
scrape_configs:
  - job_name: openrisk-cache
    static_configs: [{ targets: ["$SCRAPE_TARGET"] }]
EOF
prometheus --config.file="$WORK/prom/prometheus.yml" --storage.tsdb.path="$WORK/prom/data" \
  --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn >"$WORK/prometheus.log" 2>&1 &
pids+=($!)
PROM=http://127.0.0.1:$PROM_PORT
if wait_http "$PROM/-/ready" 150; then
  echo "prometheus        $PROM"
else
  fail "prometheus is ready on $PROM"
  sed -e 's/^/        /' "$WORK/prometheus.log" | tail -20
  echo "$passed passed, $failed failed"
  exit 1
fi
# A scrape before the traffic, so that counters have a starting point: poll (bounded) until Prometheus
# holds a sample of the proxy's target.
scraped=""
for _ in $(seq 1 100); do
  if curl -sf --max-time 1 "$PROM/api/v1/query?query=up%7Bjob%3D%22openrisk-cache%22%7D" | grep -q '"value"'; then
    scraped=1
    break
  fi
  sleep 0.1
done
[ -n "$scraped" ] && ok "prometheus scraped the proxy before the traffic" || fail "prometheus scraped the proxy before the traffic"

# ---- traffic: a bounded burst of hits, misses, coalesced misses, bypasses, passes, writes, a reload -------------
TOKEN=$(curl -sf -X POST "$PROXY/api/v1/auth/login" -H 'Content-Type: application/json' \
  -d '{"email":"analyst@acme.test","password":"sim-password"}' |
  "$PY" -c 'import json,sys; print(json.load(sys.stdin)["token_pair"]["access_token"])')
AUTH="Authorization: Bearer $TOKEN"
req() { curl -s -o /dev/null --max-time 10 "$@" || true; }
n=1
for _ in $(seq 1 60); do req "$PROXY/api/v1/health"; n=$((n + 1)); done # 1 miss, then hits
for _ in $(seq 1 20); do req -H "$AUTH" "$PROXY/api/v1/stats" & done # concurrent misses: coalesced
wait_jobs() { local j; for j in $(jobs -p); do case " ${pids[*]} " in *" $j "*) ;; *) wait "$j" || true ;; esac; done; }
wait_jobs
n=$((n + 20))
for _ in $(seq 1 40); do req -H "$AUTH" "$PROXY/api/v1/stats"; n=$((n + 1)); done # hits
for page in $(seq 1 30); do # a miss and a hit per page
  req -H "$AUTH" "$PROXY/api/v1/risks?page=$page&limit=5"
  req -H "$AUTH" "$PROXY/api/v1/risks?page=$page&limit=5"
  n=$((n + 2))
done
for _ in $(seq 1 10); do req "$PROXY/api/v1/risks?page=1&limit=5"; n=$((n + 1)); done # no identity: bypass
for i in 1 2; do
  req -X POST -H "$AUTH" -H 'Content-Type: application/json' -d "{\"title\":\"e2e risk $i\"}" "$PROXY/api/v1/risks"
  req -H "$AUTH" "$PROXY/api/v1/stats" # a miss after the purge
  n=$((n + 2))
done
# A title-only edit: the risk-patch rule's conditional tag (risk-counts) is left unpurged and counted.
RISK=$(curl -s --max-time 10 -X POST -H "$AUTH" -H 'Content-Type: application/json' -d '{"title":"e2e risk 3"}' \
  "$PROXY/api/v1/risks" | "$PY" -c 'import json,sys; print(json.load(sys.stdin).get("id", ""))' || true)
req -X PATCH -H "$AUTH" -H 'Content-Type: application/json' -d '{"title":"e2e renamed"}' "$PROXY/api/v1/risks/$RISK"
n=$((n + 2))
for _ in $(seq 1 10); do req -H "$AUTH" "$PROXY/api/v1/users/me"; n=$((n + 1)); done # no rule: pass
kill -HUP "$DAEMON_PID" # a successful reload
echo "traffic           $n requests, 4 writes, 1 reload"
TRAFFIC_END=$(date +%s.%N)

# ---- wait (bounded) for two scrapes and a rule evaluation after the traffic, then evaluate everything ---------
"$PY" - "$PROM" "$TRAFFIC_END" "$ROOT" "${PROMQL_E2E_ALLOW_EMPTY:-}" "$WORK/promql.counts" <<'PYEOF' || true
import json, re, sys, time, urllib.parse, urllib.request
import yaml

prom, traffic_end, root, allow_empty = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
# The Redis topology's series exist only with redis.cluster or redis.sentinel; this stack runs one Redis, so
# their panel's queries are checked for errors only (CacheClusterTest and CacheSentinelTest check the series).
topology = r"openrisk_cache_redis_(cluster|sentinel)_"
allow = re.compile(topology + ("|" + allow_empty if allow_empty else ""))

def api(path, **params):
    url = prom + path + ("?" + urllib.parse.urlencode(params) if params else "")
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        return json.load(e)

passed = failed = 0
def ok(msg):
    global passed
    passed += 1
    print("ok    " + msg)
def fail(msg):
    global failed
    failed += 1
    print("FAIL  " + msg)

# Two scrapes after the traffic (the second one makes rate() see the burst from both ends), then one
# evaluation of every rule group after that.
deadline = time.time() + 30
scrapes_after = 0
while time.time() < deadline:
    ts = api("/api/v1/query", query='timestamp(up{job="openrisk-cache"})')
    res = ts.get("data", {}).get("result", [])
    if res and float(res[0]["value"][1]) > traffic_end:
        scrapes_after += 1
        if scrapes_after >= 2:
            break
        time.sleep(1.1)
        continue
    time.sleep(0.2)
if scrapes_after >= 2:
    ok("prometheus scraped openrisk-cache twice after the traffic")
else:
    fail("prometheus scraped openrisk-cache twice after the traffic (scrapes seen: %d)" % scrapes_after)
scraped_at = time.time()
while time.time() < deadline:
    groups = api("/api/v1/rules").get("data", {}).get("groups", [])
    def evaluated_after(g):
        t = g.get("lastEvaluation", "")
        m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", t)
        if not m:
            return False
        import datetime
        base = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
        tz = m.group(3)
        off = 0 if tz == "Z" else (int(tz[1:3]) * 3600 + int(tz[4:6]) * 60) * (1 if tz[0] == "+" else -1)
        epoch = (base - datetime.datetime(1970, 1, 1)).total_seconds() - off + float(m.group(2) or 0)
        return epoch > scraped_at
    if groups and all(evaluated_after(g) for g in groups):
        break
    time.sleep(0.2)
up = api("/api/v1/query", query='up{job="openrisk-cache"}').get("data", {}).get("result", [])
if up and up[0]["value"][1] == "1":
    ok('up{job="openrisk-cache"} is 1')
else:
    fail('up{job="openrisk-cache"} is 1 (got %s)' % (up[0]["value"][1] if up else "no series"))

def query(expr):
    r = api("/api/v1/query", query=expr)
    if r.get("status") != "success":
        return None, r.get("error", "?")
    return r["data"]["result"], None

def check_data(what, expr):
    res, err = query(expr)
    if err:
        fail("%s: error: %s\n        %s" % (what, err, expr))
    elif not res and not (allow and allow.search(expr)):
        fail("%s: no data\n        %s" % (what, expr))
    else:
        ok("%s: %d series%s" % (what, len(res), "" if res else " (allowed empty)"))

# Top-level operands of comparisons and set operators (outside (), [], {} and strings), numeric literals
# and the operators' modifiers (bool, on(...), ignoring(...), group_left(...)) dropped.
OP = re.compile(r"\s+(?:and|or|unless)\s+|==|!=|>=|<=|>|<")
MOD = re.compile(r"\s*(?:bool\b\s*)?(?:(?:on|ignoring)\s*\([^)]*\)\s*)?(?:(?:group_left|group_right)\s*(?:\([^)]*\))?\s*)?")
def operands(expr):
    parts, depth, start, i, quote = [], 0, 0, 0, None
    while i < len(expr):
        c = expr[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"'`":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0:
            m = OP.match(expr, i)
            if m:
                parts.append(expr[start:i])
                i = MOD.match(expr, m.end()).end()
                start = i
                continue
        i += 1
    parts.append(expr[start:])
    return [p.strip() for p in parts if p.strip() and not re.fullmatch(r"[-+]?[0-9.eE+]+", p.strip())]

print("# dashboard targets and recording rules: no error, and data;")
print("# alert rules: the full expression without error (empty = not firing), each operand of its top-level")
print("#   comparison / and / or / unless (thresholds dropped) with data.")
dash = json.load(open(root + "/deploy/grafana/dashboards/openrisk-cache.json"))
subst = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}
for p in dash["panels"]:
    for t in p.get("targets", []):
        e = t["expr"]
        for k, v in subst.items():
            e = e.replace(k, v)
        e = re.sub(r"\$\{?(job|instance|rule)\}?", ".+", e)
        check_data("dashboard %r %s" % (p["title"], t["refId"]), e)
for f in ("recording_rules.yml", "alert_rules.yml"):
    doc = yaml.safe_load(open(root + "/deploy/prometheus/" + f))
    for g in doc["groups"]:
        for r in g["rules"]:
            e = " ".join(r["expr"].split())
            if "record" in r:
                check_data("record %s" % r["record"], e)
            else:
                res, err = query(e)
                if err:
                    fail("alert %s: error: %s" % (r["alert"], err))
                else:
                    ok("alert %s: evaluates (%s)" % (r["alert"], "firing/pending: %d series" % len(res) if res else "not firing"))
                for o in operands(e):
                    check_data("alert %s operand" % r["alert"], o)
open(sys.argv[5], "w").write("%d %d\n" % (passed, failed))
PYEOF
read -r q_passed q_failed <"$WORK/promql.counts" || { q_passed=0; q_failed=1; }
passed=$((passed + q_passed))
failed=$((failed + q_failed))
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
