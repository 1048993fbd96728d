#!/usr/bin/env bash
# Runs one GoogleTest binary as JOBS shards side by side (GTEST_TOTAL_SHARDS / GTEST_SHARD_INDEX), each shard's
# output kept apart and printed when it ends; fails when any shard fails. `make test-tsan` runs the TSan
# subset of the integration suite this way.
#   usage: JOBS=2 tests/run_shards.sh BINARY [gtest flags ...]
set -uo pipefail
bin="${1:?usage: run_shards.sh BINARY [gtest flags ...]}"
shift
jobs="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
out="$(mktemp -d "${TMPDIR:-/tmp}/orc-shards.XXXXXX")"
pids=()
for ((i = 0; i < jobs; i++)); do
  GTEST_TOTAL_SHARDS="$jobs" GTEST_SHARD_INDEX="$i" "$bin" "$@" >"$out/$i.log" 2>&1 &
  pids+=($!)
done
status=0
for ((i = 0; i < jobs; i++)); do
  if wait "${pids[$i]}"; then
    echo "shard $((i + 1))/$jobs: $(grep -E '^\[  PASSED  \]' "$out/$i.log" || echo 'no tests')"
  else
    status=1
    echo "shard $((i + 1))/$jobs FAILED:"
    cat "$out/$i.log"
  fi
done
rm -rf "$out"
exit "$status"
