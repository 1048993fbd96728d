#!/usr/bin/env bash
# `make run`: the OpenRisk simulator on 127.0.0.1:8081 and openrisk-cache in front of it on 127.0.0.1:8080,
# and a throw-away redis-server, in the foreground. Ctrl-C stops all three (only what this script started).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build}
SIM_PORT=${SIM_PORT:-8081}
REDIS_PORT=${REDIS_PORT:-6380}
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

# A throw-away Redis: loopback only, its own directory, no persistence.
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$workdir" --save "" --appendonly no \
  --daemonize no --loglevel warning --logfile "$workdir/redis.log" &
pids+=($!)
for _ in $(seq 1 100); do
  redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
  sleep 0.1
done
export ORC_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"

"$BUILD_DIR/load_tests/openrisk_sim/openrisk-sim" --listen "127.0.0.1:$SIM_PORT" --jwt-key-out "$workdir/jwt-public.pem" &
pids+=($!)
wait_for "http://127.0.0.1:$SIM_PORT/api/v1/health"

# The shipped rulebook verifies the simulator's tokens (tenant scope) and keys credential-scoped entries on
# an HMAC with a per-run secret.
export ORC_JWT_PUBLIC_KEY_FILE="$workdir/jwt-public.pem"
ORC_KEY_SECRET=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
export ORC_KEY_SECRET
"$BUILD_DIR/openrisk-cache" serve --config config/openrisk.yaml &
pids+=($!)
wait_for "$PROXY_URL/api/v1/health"

cat <<EOT

  openrisk-cache   $PROXY_URL   (config/openrisk.yaml)
  openrisk-sim     http://127.0.0.1:$SIM_PORT   (seed users: admin|analyst|viewer@acme.test, password sim-password)
  redis-server     127.0.0.1:$REDIS_PORT   (cache storage, no persistence)

  Try:
    curl -s $PROXY_URL/api/v1/health
    TOKEN=\$(curl -s -X POST $PROXY_URL/api/v1/auth/login -H 'Content-Type: application/json' \\
        -d '{"email":"analyst@acme.test","password":"sim-password"}' | sed 's/.*"access_token":"\\([^"]*\\)".*/\\1/')
    curl -si "$PROXY_URL/api/v1/risks?page=1&limit=5" -H "Authorization: Bearer \$TOKEN"
    curl -si $PROXY_URL/api/v1/stats -H "Authorization: Bearer \$TOKEN"    # twice: X-Cache MISS, then HIT
    curl -sN "$PROXY_URL/api/v1/mitigations/events?token=\$TOKEN"     # server-sent events

  Ctrl-C stops all three.
EOT

# Stay in the foreground until one of them exits or Ctrl-C.
wait -n "${pids[@]}"
