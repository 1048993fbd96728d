#!/usr/bin/env bash
# Writes the container/sidecar configuration to stdout: config/openrisk.yaml (the shipped rulebook, unchanged)
# with the settings a container needs instead of the demo's loopback ones:
#   listen            0.0.0.0:8080                    (clients come from outside the container)
#   upstream.url      ${ORC_UPSTREAM_URL}             (the backend: the simulator, the real API, localhost in a pod)
#   cache.key_secret  key_secret_file: ${ORC_KEY_SECRET_FILE}   (secrets as files: compose secrets, k8s Secret)
#   logging.format    json
#   admin             listen 0.0.0.0:9464, token_file ${ORC_ADMIN_TOKEN_FILE}
# ORC_JWT_PUBLIC_KEY_FILE and ORC_REDIS_URL keep their meaning from the shipped file. With --sentinel, the
# redis section also finds its master through Sentinel: redis.sentinel.master ${ORC_REDIS_SENTINEL_MASTER},
# redis.sentinel.nodes ${ORC_REDIS_SENTINELS} (host:port,host:port,...); ORC_REDIS_URL then gives only the
# password and the database. With --cluster, it is a Redis Cluster: redis.cluster ${ORC_REDIS_CLUSTER} (seed
# nodes, host:port,host:port,...); ORC_REDIS_URL then gives only the password (database 0).
# Used by deploy/Dockerfile (the image's /etc/openrisk-cache/openrisk.yaml) and to render
# deploy/kubernetes/configmap.yaml; tests/deploy/check_deploy.sh checks that both stay in sync.
# Each substitution must apply exactly once, so a change of config/openrisk.yaml that breaks it fails loudly.
# Usage: deploy/render-config.sh [--sentinel | --cluster] [config/openrisk.yaml]
set -euo pipefail
mode=single
case "${1:-}" in
  --sentinel) mode=sentinel; shift ;;
  --cluster) mode=cluster; shift ;;
esac
src=${1:-"$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/config/openrisk.yaml"}

expect_once() { # pattern
  local n
  n=$(grep -c -- "$1" "$src" || true)
  if [ "$n" != 1 ]; then
    echo "render-config.sh: expected exactly one line matching '$1' in $src, found $n" >&2
    exit 1
  fi
}
expect_once '^listen: '
expect_once '^  url: http://'
expect_once '^  key_secret: '
expect_once '^  format: '
expect_once '^  url: ${ORC_REDIS_URL}$'
if grep -q '^admin:' "$src"; then
  echo "render-config.sh: $src already has an admin section; update this script" >&2
  exit 1
fi

# shellcheck disable=SC2016  # ${...} are the daemon's environment references, not the shell's
sed -e 's|^listen: .*|listen: 0.0.0.0:8080|' \
    -e 's|^  url: http://.*|  url: ${ORC_UPSTREAM_URL}|' \
    -e 's|^  key_secret: .*|  key_secret_file: ${ORC_KEY_SECRET_FILE}|' \
    -e 's|^  format: .*|  format: json|' \
    -e '1,/^$/s|^# openrisk-cache: the shipped configuration.*|# openrisk-cache: the container configuration, rendered by deploy/render-config.sh from config/openrisk.yaml.|' \
    "$src" |
  case "$mode" in
    sentinel)
      # shellcheck disable=SC2016
      sed -e '/^  url: ${ORC_REDIS_URL}$/a\
  # Added by deploy/render-config.sh --sentinel: the master is where the sentinels say, and follows their\
  # failovers; ORC_REDIS_URL gives only the password and the database (docs/operations.md, "Redis Sentinel").\
  sentinel:\
    master: ${ORC_REDIS_SENTINEL_MASTER}\
    nodes: ${ORC_REDIS_SENTINELS}' ;;
    cluster)
      # shellcheck disable=SC2016
      sed -e '/^  url: ${ORC_REDIS_URL}$/a\
  # Added by deploy/render-config.sh --cluster: a Redis Cluster, from these seed nodes; ORC_REDIS_URL gives\
  # only the password, database 0 (docs/operations.md, "Redis Cluster").\
  cluster: ${ORC_REDIS_CLUSTER}' ;;
    *) cat ;;
  esac
# shellcheck disable=SC2016
printf '%s\n' '' \
  '# Added by deploy/render-config.sh: the admin listener on every interface of the container (Prometheus and' \
  '# the kubelet probes reach it there; publish it only on a private network), its token from a file.' \
  'admin:' \
  '  listen: 0.0.0.0:9464' \
  '  token_file: ${ORC_ADMIN_TOKEN_FILE}'
