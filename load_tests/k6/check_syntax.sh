#!/usr/bin/env bash
# CTest load.k6_parse: k6 is not packaged in Debian, so the k6 scripts are syntax-checked as ES modules with
# Node (imports such as 'k6/http' are not resolved by --check). Exit 77 (skipped) when node is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v node >/dev/null; then
  echo "SKIP: node is not installed (apt-get install -y nodejs); k6 scripts not checked"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
n=0
while IFS= read -r f; do
  rel=${f#"$here"/}
  mkdir -p "$tmp/$(dirname "$rel")"
  cp "$f" "$tmp/${rel%.js}.mjs"
  if node --check "$tmp/${rel%.js}.mjs"; then
    echo "ok   $rel"
  else
    echo "FAIL $rel"
    status=1
  fi
  n=$((n + 1))
done < <(find "$here" -name '*.js' | sort)
[ "$n" -gt 0 ] || { echo "no k6 scripts found under $here"; exit 1; }
exit $status
