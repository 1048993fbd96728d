#!/usr/bin/env bash
# `make run`: the OpenRisk simulator on 127.0.0.1:8081 and openrisk-cache in front of it on 127.0.0.1:8080,
# in the foreground. Ctrl-C stops both (only the processes this script started).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build}
SIM_PORT=${SIM_PORT:-8081}
PROXY_URL=http://127.0.0.1:8080

workdir=$(mktemp -d)
pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

# Waits (bounded) until a URL answers.
wait_for() {
  for _ in $(seq 1 100); do
    curl -sf -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "run.sh: $1 did not come up" >&2
  return 1
}

"$BUILD_DIR/openrisk-sim" --listen "127.0.0.1:$SIM_PORT" --jwt-key-out "$workdir/jwt-public.pem" &
pids+=($!)
wait_for "http://127.0.0.1:$SIM_PORT/api/v1/health"

"$BUILD_DIR/openrisk-cache" serve --config config/openrisk.yaml &
pids+=($!)
wait_for "$PROXY_URL/api/v1/health"

cat <<EOT

  openrisk-cache   $PROXY_URL   (config/openrisk.yaml)
  openrisk-sim     http://127.0.0.1:$SIM_PORT   (seed users: admin|analyst|viewer@acme.test, password sim-password)

  Try:
    curl -s $PROXY_URL/api/v1/health
    TOKEN=\$(curl -s -X POST $PROXY_URL/api/v1/auth/login -H 'Content-Type: application/json' \\
        -d '{"email":"analyst@acme.test","password":"sim-password"}' | sed 's/.*"access_token":"\\([^"]*\\)".*/\\1/')
    curl -si "$PROXY_URL/api/v1/risks?page=1&limit=5" -H "Authorization: Bearer \$TOKEN"
    curl -si $PROXY_URL/api/v1/stats -H "Authorization: Bearer \$TOKEN"
    curl -sN "$PROXY_URL/api/v1/mitigations/events?token=\$TOKEN"     # server-sent events

  Ctrl-C stops both.
EOT

# Stay in the foreground until one of them exits or Ctrl-C.
wait -n "${pids[@]}"
