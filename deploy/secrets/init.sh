#!/usr/bin/env bash
# Creates the secret files deploy/docker-compose.yaml mounts, when they are missing (never overwrites):
#   admin_token             bearer token of the proxy's admin API (POST /admin/purge, /admin/reload, ...)
#   key_secret              HMAC key of credential-scoped cache keys (cache.key_secret_file)
#   grafana_admin_password  Grafana's admin password
#   slack_webhook_url       Alertmanager's Slack incoming-webhook URL (a placeholder: replace it)
# The directory is 0700. The files are 0644 because compose bind-mounts them as they are and the containers
# run as their own non-root users (proxy 10001, grafana 472, alertmanager nobody).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
chmod 0700 .
random() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; }
make_secret() { # name value
  if [ -e "$1" ]; then echo "kept    deploy/secrets/$1"; return; fi
  (umask 022; printf '%s' "$2" > "$1")
  echo "created deploy/secrets/$1"
}
make_secret admin_token "$(random)"
make_secret key_secret "$(random)"
make_secret grafana_admin_password "$(random | cut -c1-24)"
make_secret slack_webhook_url "https://hooks.slack.com/services/REPLACE/WITH/YOURS"
