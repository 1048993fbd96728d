#!/usr/bin/env bash
# Static checks of the deployment and monitoring files in deploy/ (no server, no network, no running service):
# Prometheus config, rules and their unit tests, Alertmanager config and routing, the compose file, the
# systemd unit, the Kubernetes manifests, the Grafana dashboard, the runbook anchors of docs/operations.md, and
# the container configuration rendered from config/openrisk.yaml.
# Needs Debian 12's prometheus (promtool), prometheus-alertmanager (amtool), docker-compose, python3-yaml,
# python3-jsonschema; systemd-analyze, shellcheck, kubectl and a built openrisk-cache are used when present
# (a SKIP line otherwise). Prints one line per check and `N passed, N failed` last; exits 1 on any failure.
set -u

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEPLOY="$ROOT/deploy"
PY="${PYTHON:-/usr/bin/python3}" # Debian's python3 has yaml/jsonschema; a pyenv python3 on PATH may not
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

passed=0
failed=0
skipped=0
ok() { passed=$((passed + 1)); echo "ok    $1"; }
fail() {
  failed=$((failed + 1))
  echo "FAIL  $1"
  [ -n "${2:-}" ] && sed -e 's/^/        /' "$2" | head -40
  return 0
}
skip() { skipped=$((skipped + 1)); echo "SKIP  $1"; }
# run NAME CMD...: one check, passes when CMD exits 0; its output is shown on failure only.
run() {
  local name=$1
  shift
  if "$@" >"$TMP/out" 2>&1; then ok "$name"; else fail "$name" "$TMP/out"; fi
}
have() { command -v "$1" >/dev/null 2>&1; }

for tool in promtool amtool docker-compose "$PY"; do
  have "$tool" || fail "tool $tool is installed (apt-get install -y prometheus prometheus-alertmanager docker-compose python3-yaml)"
done
if ! "$PY" -c 'import yaml' 2>/dev/null; then fail "$PY can import yaml (python3-yaml)"; fi

# ---- Prometheus ----------------------------------------------------------------------------------------------
if have promtool; then
  # The rule files are referenced relative to prometheus.yml (as mounted in the container): copy them beside it.
  mkdir -p "$TMP/prom"
  cp "$DEPLOY/prometheus/prometheus.yml" "$DEPLOY/prometheus/recording_rules.yml" \
    "$DEPLOY/prometheus/alert_rules.yml" "$TMP/prom/"
  run "promtool check config deploy/prometheus/prometheus.yml" promtool check config "$TMP/prom/prometheus.yml"
  run "promtool check rules recording_rules.yml alert_rules.yml" \
    promtool check rules "$DEPLOY/prometheus/recording_rules.yml" "$DEPLOY/prometheus/alert_rules.yml"
  tests=("$DEPLOY"/prometheus/tests/*.yml)
  if [ -e "${tests[0]}" ]; then
    # promtool resolves rule_files relative to the test file: run from its directory.
    run "promtool test rules deploy/prometheus/tests/*.yml" \
      bash -c 'cd "$1" && shift && promtool test rules "$@"' _ "$DEPLOY/prometheus/tests" "${tests[@]##*/}"
  else
    fail "deploy/prometheus/tests/*.yml exist"
  fi
fi

# Every alert: severity, summary, description, runbook_url -> an existing heading of docs/operations.md, and
# unit tests where it fires and where it does not. Every metric name used is in the contract or recorded.
cat >"$TMP/rules_meta.py" <<'PYEOF'
import glob, json, os, re, sys
import yaml

root, mode = sys.argv[1], sys.argv[2]
deploy = os.path.join(root, "deploy")
rules = yaml.safe_load(open(os.path.join(deploy, "prometheus", "alert_rules.yml")))
recs = yaml.safe_load(open(os.path.join(deploy, "prometheus", "recording_rules.yml")))
alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
records = {r["record"] for g in recs["groups"] for r in g["rules"] if "record" in r}
problems = []

def slug(heading):
    # GitHub's anchor: lower case, punctuation dropped (except - and _), spaces to hyphens.
    h = heading.strip().lower()
    h = re.sub(r"[^\w\- ]", "", h)
    return h.replace(" ", "-")

if mode == "alerts":
    if not alerts:
        problems.append("no alerts in alert_rules.yml")
    for a in alerts:
        name = a["alert"]
        sev = a.get("labels", {}).get("severity")
        if sev not in ("critical", "warning"):
            problems.append("%s: severity label is %r, want critical or warning" % (name, sev))
        ann = a.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            if not str(ann.get(key, "")).strip():
                problems.append("%s: no %s annotation" % (name, key))
        if not re.fullmatch(r"docs/operations\.md#[a-z0-9_-]+", str(ann.get("runbook_url", ""))):
            problems.append("%s: runbook_url %r is not docs/operations.md#<anchor>" % (name, ann.get("runbook_url")))
elif mode == "anchors":
    doc = os.path.join(root, "docs", "operations.md")
    text = open(doc).read() if os.path.exists(doc) else ""
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    anchors = {slug(m.group(2)) for m in re.finditer(r"^(#{1,6})\s+(.+?)\s*#*\s*$", text, re.M)}
    for a in alerts:
        url = str(a.get("annotations", {}).get("runbook_url", ""))
        anchor = url.split("#", 1)[1] if "#" in url else ""
        if anchor not in anchors:
            problems.append("%s: runbook anchor #%s is not a heading of docs/operations.md" % (a["alert"], anchor))
    for a in alerts:
        if slug(a["alert"]) not in anchors:
            problems.append("%s: no runbook section headed with the alert's name" % a["alert"])
elif mode == "tests":
    firing, quiet = set(), set()
    for path in sorted(glob.glob(os.path.join(deploy, "prometheus", "tests", "*.yml"))):
        doc = yaml.safe_load(open(path)) or {}
        for t in doc.get("tests", []):
            for c in t.get("alert_rule_test", []):
                (firing if c.get("exp_alerts") else quiet).add(c["alertname"])
    for a in alerts:
        if a["alert"] not in firing:
            problems.append("%s: no promtool test where it fires" % a["alert"])
        if a["alert"] not in quiet:
            problems.append("%s: no promtool test where it does not fire" % a["alert"])
elif mode == "names":
    contract = set(sys.argv[3].split())
    suffixes = ("_bucket", "_sum", "_count")
    exprs = [r["expr"] for g in rules["groups"] + recs["groups"] for r in g["rules"]]
    dash = json.load(open(os.path.join(deploy, "grafana", "dashboards", "openrisk-cache.json")))
    exprs += [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    for e in exprs:
        e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', e)  # label values are not names
        for name in set(re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b(?=\s*[{\[)]|\s*$|\s+(?:[<>=!]|and|or|unless|/|\*|-|\+))", e)):
            if ":" in name:
                if name not in records:
                    problems.append("%r uses %s, which no recording rule defines" % (e[:60], name))
            elif name.startswith("openrisk_cache_"):
                base = name
                for s in suffixes:
                    if base.endswith(s) and base[: -len(s)] in contract:
                        base = base[: -len(s)]
                if base not in contract:
                    problems.append("%r uses %s, which is not in the metric contract" % (e[:60], name))
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
PYEOF
CONTRACT="openrisk_cache_requests_total openrisk_cache_request_duration_seconds openrisk_cache_upstream_requests_total
openrisk_cache_upstream_duration_seconds openrisk_cache_redis_commands_total openrisk_cache_redis_duration_seconds
openrisk_cache_redis_up openrisk_cache_purges_owed_tags openrisk_cache_l1_up openrisk_cache_l1_bytes
openrisk_cache_l1_entries openrisk_cache_l1_hits_total openrisk_cache_storage_info openrisk_cache_invalidations_total
openrisk_cache_invalidated_tags_total openrisk_cache_purges_skipped_total openrisk_cache_purge_fallbacks_total
openrisk_cache_coalesced_requests_total
openrisk_cache_bypasses_total
openrisk_cache_stored_bytes_total
openrisk_cache_served_bytes_total openrisk_cache_inflight_requests openrisk_cache_open_connections
openrisk_cache_config_reloads_total openrisk_cache_config_last_reload_success_timestamp_seconds
openrisk_cache_build_info openrisk_cache_verify_total openrisk_cache_verify_skipped_total openrisk_cache_accept_pauses_total openrisk_cache_access_log_dropped_total
openrisk_cache_redis_cluster_masters openrisk_cache_redis_cluster_map_refreshes_total
openrisk_cache_redis_cluster_redirects_total openrisk_cache_redis_sentinel_failovers_total
openrisk_cache_connections_refused_total
process_resident_memory_bytes process_virtual_memory_bytes process_open_fds process_max_fds
process_cpu_seconds_total process_start_time_seconds"
run "every alert has severity, summary, description, runbook_url" "$PY" "$TMP/rules_meta.py" "$ROOT" alerts
run "every runbook_url anchor is a heading of docs/operations.md" "$PY" "$TMP/rules_meta.py" "$ROOT" anchors
run "every alert has a promtool test firing and one not firing" "$PY" "$TMP/rules_meta.py" "$ROOT" tests
run "rules and dashboard use only contract metrics and defined recordings" \
  "$PY" "$TMP/rules_meta.py" "$ROOT" names "$CONTRACT"

# ---- Grafana -------------------------------------------------------------------------------------------------
DASH="$DEPLOY/grafana/dashboards/openrisk-cache.json"
run "dashboard JSON parses (python3 -m json.tool)" "$PY" -m json.tool "$DASH"
cat >"$TMP/dash.py" <<'PYEOF'
import json, sys
dash = json.load(open(sys.argv[1]))
problems, ids = [], set()
panels = [p for p in dash.get("panels", []) if p.get("type") != "row"]
if not panels:
    problems.append("no panels")
for p in panels:
    title = p.get("title", "?")
    if p.get("id") in ids:
        problems.append("%s: duplicate panel id %s" % (title, p.get("id")))
    ids.add(p.get("id"))
    targets = [t for t in p.get("targets", []) if str(t.get("expr", "")).strip()]
    if not targets:
        problems.append("%s: no target with an expression" % title)
    if "gridPos" not in p:
        problems.append("%s: no gridPos" % title)
if not dash.get("uid"):
    problems.append("no uid")
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
PYEOF
run "every dashboard panel has at least one target" "$PY" "$TMP/dash.py" "$DASH"
# The dashboard's PromQL, template variables replaced, checked by promtool's parser as recording rules.
if have promtool; then
  cat >"$TMP/dash_rules.py" <<'PYEOF'
import json, re, sys
import yaml
dash = json.load(open(sys.argv[1]))
subst = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}
rules = []
for p in dash["panels"]:
    for t in p.get("targets", []):
        e = t["expr"]
        for k, v in subst.items():
            e = e.replace(k, v)
        e = re.sub(r"\$\{?(job|instance|rule)\}?", ".+", e)
        rules.append({"record": "dashboard:panel%d_%s:expr" % (p["id"], t["refId"]), "expr": e})
print(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
PYEOF
  if "$PY" "$TMP/dash_rules.py" "$DASH" >"$TMP/dash_rules.yml" 2>"$TMP/out"; then
    run "dashboard PromQL parses (promtool)" promtool check rules "$TMP/dash_rules.yml"
  else
    fail "dashboard PromQL parses (promtool)" "$TMP/out"
  fi
fi
cat >"$TMP/provisioning.py" <<'PYEOF'
import os, sys
import yaml
g = os.path.join(sys.argv[1], "deploy", "grafana")
ds = yaml.safe_load(open(os.path.join(g, "provisioning", "datasources", "prometheus.yml")))
dp = yaml.safe_load(open(os.path.join(g, "provisioning", "dashboards", "openrisk-cache.yml")))
assert ds["datasources"][0]["type"] == "prometheus", "datasource type"
assert dp["providers"][0]["options"]["path"], "dashboard provider path"
PYEOF
run "grafana provisioning files parse" "$PY" "$TMP/provisioning.py" "$ROOT"

# ---- Alertmanager --------------------------------------------------------------------------------------------
if have amtool; then
  # amtool does not open the Slack URL file, but give the copy a real one so the path is right everywhere.
  mkdir -p "$TMP/am/secrets"
  echo "https://hooks.slack.com/services/T000/B000/XXXX" >"$TMP/am/secrets/slack_webhook_url"
  sed -e "s|/etc/alertmanager/secrets/slack_webhook_url|$TMP/am/secrets/slack_webhook_url|" \
    "$DEPLOY/alertmanager/alertmanager.yml" >"$TMP/am/alertmanager.yml"
  run "amtool check-config deploy/alertmanager/alertmanager.yml" amtool check-config "$TMP/am/alertmanager.yml"
  route_is() { # expected-receiver label=value...
    local want=$1 got
    shift
    # stdout only: amtool warns on stderr that --config.file overrides --alertmanager.url.
    got=$(amtool config routes test --config.file="$TMP/am/alertmanager.yml" "$@" 2>/dev/null) || return 1
    [ "$got" = "$want" ] || { echo "labels $*: routed to '$got', want '$want'"; return 1; }
  }
  run "amtool routes: critical -> slack-critical" route_is slack-critical alertname=OpenRiskCacheDown severity=critical
  run "amtool routes: warning -> slack-warning" route_is slack-warning alertname=OpenRiskCacheHitRatioLow severity=warning
  run "amtool routes: no severity -> slack-warning (default)" route_is slack-warning alertname=Other
fi

# ---- docker compose ------------------------------------------------------------------------------------------
if have docker-compose; then
  run "docker-compose -f deploy/docker-compose.yaml config -q" \
    docker-compose -f "$DEPLOY/docker-compose.yaml" config -q
  run "docker-compose --profile openrisk config -q" \
    docker-compose -f "$DEPLOY/docker-compose.yaml" --profile openrisk config -q
  run "docker-compose with the Sentinel overlay config -q" \
    docker-compose -f "$DEPLOY/docker-compose.yaml" -f "$DEPLOY/docker-compose.sentinel.yaml" config -q
  run "docker-compose with the Cluster overlay config -q" \
    docker-compose -f "$DEPLOY/docker-compose.yaml" -f "$DEPLOY/docker-compose.cluster.yaml" config -q
  # Every file the compose stack bind-mounts from the repository exists (secrets/ is created by init.sh).
  cat >"$TMP/compose_mounts.py" <<'PYEOF'
import os, sys
import yaml
cfg = yaml.safe_load(sys.stdin)
deploy = sys.argv[1]
problems = []
for name, svc in cfg["services"].items():
    for v in svc.get("volumes", []):
        src = v.get("source", "") if isinstance(v, dict) else v.split(":")[0]
        typ = v.get("type", "bind") if isinstance(v, dict) else ("bind" if src.startswith("/") else "volume")
        if typ == "bind" and not src.startswith(os.path.join(deploy, "secrets")) and not os.path.exists(src):
            problems.append("%s mounts %s, which does not exist" % (name, src))
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
PYEOF
  if docker-compose -f "$DEPLOY/docker-compose.yaml" --profile openrisk config >"$TMP/compose.yml" 2>"$TMP/out"; then
    run "compose bind mounts exist in deploy/" "$PY" "$TMP/compose_mounts.py" "$DEPLOY" <"$TMP/compose.yml"
  else
    fail "compose bind mounts exist in deploy/" "$TMP/out"
  fi
fi

# ---- systemd -------------------------------------------------------------------------------------------------
UNIT="$DEPLOY/systemd/openrisk-cache.service"
# systemd-analyze verify works without a running systemd; it insists that ExecStart binaries exist, and it
# exits 0 on unknown keys and bad values (it only prints them): so the binary path points at a stub and any
# output is a failure.
if have systemd-analyze && systemd-analyze --version >/dev/null 2>&1; then
  mkdir -p "$TMP/systemd"
  printf '#!/bin/sh\nexit 0\n' >"$TMP/systemd/openrisk-cache" && chmod +x "$TMP/systemd/openrisk-cache"
  sed -e "s|/usr/local/bin/openrisk-cache|$TMP/systemd/openrisk-cache|g" "$UNIT" >"$TMP/systemd/openrisk-cache.service"
  verify_unit() {
    local out
    out=$(systemd-analyze verify --man=no "$TMP/systemd/openrisk-cache.service" 2>&1) || { echo "$out"; return 1; }
    [ -z "$out" ] || { echo "$out"; return 1; }
  }
  run "systemd-analyze verify deploy/systemd/openrisk-cache.service (no warnings)" verify_unit
  if systemd-analyze security --help 2>/dev/null | grep -q -- '--offline'; then
    run "systemd-analyze security --offline: exposure <= 2.0" \
      systemd-analyze security --offline=true --threshold=20 --no-pager "$TMP/systemd/openrisk-cache.service"
  else
    skip "systemd-analyze security (no --offline in this systemd)"
  fi
else
  skip "systemd-analyze verify (systemd-analyze not usable here)"
fi
unit_has() {
  local missing=0 line
  for line in "DynamicUser=yes" "NoNewPrivileges=yes" "ProtectSystem=strict" "ProtectHome=yes" "PrivateTmp=yes" \
    "CapabilityBoundingSet=" "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX" \
    "SystemCallFilter=@system-service" "ExecReload=/bin/kill -HUP \$MAINPID" "Restart=on-failure" \
    "EnvironmentFile=-/etc/openrisk-cache/env"; do
    grep -qxF -- "$line" "$UNIT" || { echo "missing: $line"; missing=1; }
  done
  grep -q '^MemoryMax=' "$UNIT" || { echo "missing: MemoryMax="; missing=1; }
  return $missing
}
run "systemd unit carries the required hardening lines" unit_has

# ---- container image and configuration -----------------------------------------------------------------------
run "deploy/render-config.sh renders config/openrisk.yaml" bash -c '"$1" >"$2"' _ "$DEPLOY/render-config.sh" "$TMP/container.yaml"
run "deploy/render-config.sh --sentinel renders config/openrisk.yaml" \
  bash -c '"$1" --sentinel >"$2"' _ "$DEPLOY/render-config.sh" "$TMP/container-sentinel.yaml"
run "deploy/render-config.sh --cluster renders config/openrisk.yaml" \
  bash -c '"$1" --cluster >"$2"' _ "$DEPLOY/render-config.sh" "$TMP/container-cluster.yaml"
if "$PY" -c 'import jsonschema' 2>/dev/null; then
  cat >"$TMP/schema.py" <<'PYEOF'
import json, sys
import jsonschema, yaml
schema = json.load(open(sys.argv[1]))
doc = yaml.safe_load(open(sys.argv[2]))
errs = list(jsonschema.Draft202012Validator(schema).iter_errors(doc))
for e in errs:
    print("/".join(map(str, e.absolute_path)), e.message)
sys.exit(1 if errs else 0)
PYEOF
  run "container configuration validates against the JSON Schema" \
    "$PY" "$TMP/schema.py" "$ROOT/config/openrisk-cache.schema.json" "$TMP/container.yaml"
  run "container configuration with Sentinel validates against the JSON Schema" \
    "$PY" "$TMP/schema.py" "$ROOT/config/openrisk-cache.schema.json" "$TMP/container-sentinel.yaml"
  run "container configuration with a Cluster validates against the JSON Schema" \
    "$PY" "$TMP/schema.py" "$ROOT/config/openrisk-cache.schema.json" "$TMP/container-cluster.yaml"
else
  skip "container configuration against the JSON Schema (no python3-jsonschema)"
fi
# The daemon: $ORC_BIN, else the most recently built build*/openrisk-cache (an older build may predate features).
BIN=${ORC_BIN:-}
if [ -z "$BIN" ]; then
  # shellcheck disable=SC2012  # names are build*/openrisk-cache, no odd characters
  BIN=$(ls -t "$ROOT"/build*/openrisk-cache 2>/dev/null | head -1)
fi
[ -n "$BIN" ] && [ -x "$BIN" ] || BIN=""
if [ -n "$BIN" ] && have openssl; then
  mkdir -p "$TMP/secrets"
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null | openssl pkey -pubout >"$TMP/secrets/jwt.pem" 2>/dev/null
  printf 'k%.0s' {1..32} >"$TMP/secrets/key"
  printf 't%.0s' {1..32} >"$TMP/secrets/token"
  run "openrisk-cache check accepts the container configuration (${BIN#"$ROOT"/})" \
    env ORC_UPSTREAM_URL=http://backend:8081 ORC_REDIS_URL=redis://redis:6379/1 \
    ORC_JWT_PUBLIC_KEY_FILE="$TMP/secrets/jwt.pem" ORC_KEY_SECRET_FILE="$TMP/secrets/key" \
    ORC_ADMIN_TOKEN_FILE="$TMP/secrets/token" "$BIN" check --config "$TMP/container.yaml"
  run "openrisk-cache check accepts the container configuration with Sentinel" \
    env ORC_UPSTREAM_URL=http://backend:8081 ORC_REDIS_URL=redis://redis:6379/1 ORC_REDIS_SENTINEL_MASTER=orc \
    ORC_REDIS_SENTINELS=sentinel-1:26379,sentinel-2:26379 \
    ORC_JWT_PUBLIC_KEY_FILE="$TMP/secrets/jwt.pem" ORC_KEY_SECRET_FILE="$TMP/secrets/key" \
    ORC_ADMIN_TOKEN_FILE="$TMP/secrets/token" "$BIN" check --config "$TMP/container-sentinel.yaml"
  run "openrisk-cache check accepts the container configuration with a Cluster" \
    env ORC_UPSTREAM_URL=http://backend:8081 ORC_REDIS_URL=redis://redis-c1:6379 \
    ORC_REDIS_CLUSTER=redis-c1:6379,redis-c2:6379 \
    ORC_JWT_PUBLIC_KEY_FILE="$TMP/secrets/jwt.pem" ORC_KEY_SECRET_FILE="$TMP/secrets/key" \
    ORC_ADMIN_TOKEN_FILE="$TMP/secrets/token" "$BIN" check --config "$TMP/container-cluster.yaml"
else
  skip "openrisk-cache check of the container configuration (no built openrisk-cache or no openssl)"
fi
run "deploy/kubernetes/configmap.yaml is up to date (render-configmap.sh)" \
  bash -c '"$1" --stdout | diff -u "$2" - ' _ "$DEPLOY/kubernetes/render-configmap.sh" "$DEPLOY/kubernetes/configmap.yaml"
for mode in sentinel cluster; do
  run "deploy/kubernetes-$mode/configmap.yaml is up to date (render-configmap.sh)" \
    bash -c '"$1" --stdout "--$2" | diff -u "$3" - ' _ "$DEPLOY/kubernetes/render-configmap.sh" "$mode" \
    "$DEPLOY/kubernetes-$mode/configmap.yaml"
done

dockerfile_ok() {
  local f="$DEPLOY/Dockerfile" bad=0
  grep -q '^FROM debian:12 AS build' "$f" || { echo "no debian:12 build stage"; bad=1; }
  grep -q '^FROM debian:12-slim' "$f" || { echo "no debian:12-slim runtime stage"; bad=1; }
  grep -q '^USER 10001' "$f" || { echo "no non-root USER"; bad=1; }
  grep -q '^EXPOSE 8080 9464' "$f" || { echo "no EXPOSE 8080 9464"; bad=1; }
  grep -q 'http://127.0.0.1:9464/healthz' "$f" || { echo "no HEALTHCHECK on /healthz"; bad=1; }
  grep -qF 'ENTRYPOINT ["/usr/local/bin/openrisk-cache", "serve", "--config", "/etc/openrisk-cache/openrisk.yaml"]' "$f" ||
    { echo "ENTRYPOINT differs"; bad=1; }
  return $bad
}
run "Dockerfile: stages, user, ports, health check, entrypoint" dockerfile_ok
# The runtime stage installs the package of every shared library the built binaries need.
runtime_libs_ok() {
  local f="$DEPLOY/Dockerfile" bin lib pkg bad=0 runtime
  runtime=$(sed -n '/^FROM debian:12-slim/,$p' "$f")
  for bin in "$@"; do
    for lib in $(ldd "$bin" | awk '$3 ~ /^\// {print $3}'); do
      pkg=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -1 | cut -d: -f1) ||
        pkg=$(dpkg -S "$lib" 2>/dev/null | head -1 | cut -d: -f1)
      [ -z "$pkg" ] && pkg=$(dpkg -S "${lib#/usr}" 2>/dev/null | head -1 | cut -d: -f1)
      case "$pkg" in libc6 | libgcc-s1 | libstdc++6 | "") continue ;; esac # in debian:12-slim already
      grep -qw -- "$pkg" <<<"$runtime" || { echo "$(basename "$bin") needs $lib from $pkg, not installed"; bad=1; }
    done
  done
  return $bad
}
SIM=""
[ -n "$BIN" ] && [ -x "$(dirname "$BIN")/load_tests/openrisk_sim/openrisk-sim" ] && SIM="$(dirname "$BIN")/load_tests/openrisk_sim/openrisk-sim"
if [ -n "$BIN" ] && [ -n "$SIM" ] && have dpkg; then
  run "Dockerfile runtime stage installs every shared library of the binaries" runtime_libs_ok "$BIN" "$SIM"
else
  skip "Dockerfile runtime libraries (no built openrisk-cache and openrisk-sim)"
fi

# ---- Kubernetes ----------------------------------------------------------------------------------------------
cat >"$TMP/k8s.py" <<'PYEOF'
import glob, os, sys
import yaml
d = os.path.join(sys.argv[1], "deploy", "kubernetes")
docs = {}
for path in glob.glob(os.path.join(d, "*.yaml")):
    for doc in yaml.safe_load_all(open(path)):
        if doc:
            docs.setdefault(doc["kind"], []).append(doc)
problems = []
def need(cond, msg):
    if not cond:
        problems.append(msg)
dep = docs.get("Deployment", [None])[0]
need(dep is not None, "no Deployment")
if dep:
    pod = dep["spec"]["template"]
    ann = pod["metadata"].get("annotations", {})
    need(ann.get("prometheus.io/scrape") == "true" and ann.get("prometheus.io/port") == "9464"
         and ann.get("prometheus.io/path") == "/metrics", "pod lacks prometheus.io scrape annotations for 9464")
    cs = {c["name"]: c for c in pod["spec"]["containers"]}
    need(len(cs) == 2, "want 2 containers (proxy + backend), got %s" % list(cs))
    px = cs.get("openrisk-cache", {})
    ports = {p["name"]: p["containerPort"] for p in px.get("ports", [])}
    need(ports.get("http") == 8080 and ports.get("admin") == 9464, "proxy ports %s" % ports)
    need(px.get("livenessProbe", {}).get("httpGet", {}) == {"path": "/healthz", "port": "admin"}, "liveness /healthz on admin")
    need(px.get("readinessProbe", {}).get("httpGet", {}) == {"path": "/readyz", "port": "admin"}, "readiness /readyz on admin")
    env = {e["name"]: e.get("value") for e in px.get("env", [])}
    mounts = {m["name"]: m["mountPath"] for m in px.get("volumeMounts", [])}
    for var, mount in (("ORC_JWT_PUBLIC_KEY_FILE", "secrets"), ("ORC_KEY_SECRET_FILE", "secrets"),
                       ("ORC_ADMIN_TOKEN_FILE", "secrets")):
        need(str(env.get(var, "")).startswith(mounts.get(mount, "?") + "/"), "%s not in the Secret mount" % var)
    need(px.get("command", [])[-1:] == [mounts.get("config", "?") + "/openrisk.yaml"], "--config not in the ConfigMap mount")
    vols = {v["name"]: v for v in pod["spec"]["volumes"]}
    cm = docs.get("ConfigMap", [{}])[0]
    sec = docs.get("Secret", [{}])[0]
    need(vols.get("config", {}).get("configMap", {}).get("name") == cm.get("metadata", {}).get("name"), "ConfigMap name")
    need(vols.get("secrets", {}).get("secret", {}).get("secretName") == sec.get("metadata", {}).get("name"), "Secret name")
    keys = set(sec.get("stringData", {}))
    for var in ("ORC_JWT_PUBLIC_KEY_FILE", "ORC_KEY_SECRET_FILE", "ORC_ADMIN_TOKEN_FILE"):
        need(os.path.basename(str(env.get(var))) in keys, "%s: no such key in the Secret" % var)
    cfg = yaml.safe_load(cm.get("data", {}).get("openrisk.yaml", "{}"))
    need(cfg.get("listen") == "0.0.0.0:8080" and cfg.get("admin", {}).get("listen") == "0.0.0.0:9464",
         "ConfigMap listen/admin.listen")
    backend = cs.get("backend", {})
    bport = {p["name"]: p["containerPort"] for p in backend.get("ports", [])}.get("backend")
    need(env.get("ORC_UPSTREAM_URL") == "http://127.0.0.1:%s" % bport, "proxy upstream is not the backend container")
svc = docs.get("Service", [None])[0]
need(svc is not None and svc["spec"]["ports"][0]["targetPort"] == "http", "Service does not target the proxy port")
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
PYEOF
run "kubernetes: sidecar pod, probes, annotations, ConfigMap, Secret, Service" "$PY" "$TMP/k8s.py" "$ROOT"
# The Sentinel and Cluster overlays: the base, their ConfigMap and Deployment patches, and every variable their
# configuration reads set in the proxy's environment (the base's or the patch's).
cat >"$TMP/k8s_overlay.py" <<'PYEOF'
import os, re, sys
import yaml
root, mode = sys.argv[1], sys.argv[2]
d = os.path.join(root, "deploy", "kubernetes-" + mode)
problems = []
def need(cond, msg):
    if not cond:
        problems.append(msg)
k = yaml.safe_load(open(os.path.join(d, "kustomization.yaml")))
need(k.get("resources") == ["../kubernetes"], "resources is not the base ../kubernetes")
need(sorted(p.get("path") for p in k.get("patches", [])) == ["configmap.yaml", "deployment-patch.yaml"],
     "patches are not configmap.yaml and deployment-patch.yaml")
def proxy_env(path):
    dep = yaml.safe_load(open(path))
    for c in dep["spec"]["template"]["spec"]["containers"]:
        if c["name"] == "openrisk-cache":
            return {e["name"]: e.get("value") for e in c.get("env", [])}
    return {}
env = proxy_env(os.path.join(root, "deploy", "kubernetes", "deployment.yaml"))
env.update(proxy_env(os.path.join(d, "deployment-patch.yaml")))
text = yaml.safe_load(open(os.path.join(d, "configmap.yaml")))["data"]["openrisk.yaml"]
cfg = yaml.safe_load(text)
need(mode in cfg.get("redis", {}), "the configuration has no redis.%s" % mode)
for var in sorted(set(re.findall(r"\$\{(ORC_[A-Z_]+)\}", text))):
    need(var in env, "%s is read by the configuration but not set in the proxy's environment" % var)
if mode == "cluster":
    need(re.search(r"/[1-9][0-9]*$", str(env.get("ORC_REDIS_URL"))) is None, "a Cluster has database 0 only")
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
PYEOF
for mode in sentinel cluster; do
  run "kubernetes-$mode: overlay of the sidecar, its ConfigMap and environment" "$PY" "$TMP/k8s_overlay.py" "$ROOT" "$mode"
done
if have kubectl && kubectl kustomize --help >/dev/null 2>&1; then
  for dir in kubernetes kubernetes-sentinel kubernetes-cluster; do
    run "kubectl kustomize deploy/$dir" kubectl kustomize "$DEPLOY/$dir"
  done
else
  skip "kubectl kustomize deploy/kubernetes{,-sentinel,-cluster} (no kubectl)"
fi

# ---- scripts -------------------------------------------------------------------------------------------------
scripts=("$DEPLOY/render-config.sh" "$DEPLOY/kubernetes/render-configmap.sh" "$DEPLOY/secrets/init.sh"
  "$ROOT/tests/deploy/check_deploy.sh" "$ROOT/tests/deploy/promql_e2e.sh")
run "bash -n on the deploy scripts" bash -c 'for f; do bash -n "$f" || exit 1; done' _ "${scripts[@]}"
if have shellcheck; then
  run "shellcheck on the deploy scripts" shellcheck -S warning "${scripts[@]}"
else
  skip "shellcheck (not installed)"
fi

[ "$skipped" -gt 0 ] && echo "$skipped skipped"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
