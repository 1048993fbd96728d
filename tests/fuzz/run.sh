#!/usr/bin/env bash
# Fuzzes every libFuzzer target of a build made with ORC_FUZZ=ON for FUZZ_SECONDS each (default 60), JOBS
# targets at a time (default: the number of cores). Each run starts from tests/fuzz/corpus/<target> and
# writes what it learns to a scratch copy, never into the source tree. A crash or an invariant failure stops
# the script with status 1 and prints the input (its file and base64), to be added to the corpus as a
# regression input once fixed (docs/security.md).
#   usage: tests/fuzz/run.sh BUILD_DIR [target ...]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:?usage: run.sh BUILD_DIR [target ...]}"
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(config path_key entry jwt request_head)
seconds="${FUZZ_SECONDS:-60}"
jobs="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
out="$(mktemp -d "${TMPDIR:-/tmp}/orc-fuzz.XXXXXX")"
echo "fuzzing ${targets[*]} for ${seconds}s each, ${jobs} at a time; work dir $out"

run_one() {
  local t="$1" bin="$build/tests/fuzz/fuzz_$1"
  [ -x "$bin" ] || { echo "$t: $bin is missing (configure with CXX=clang++ -DORC_FUZZ=ON)"; return 1; }
  mkdir -p "$out/$t/corpus" "$out/$t/artifacts"
  cp "$here/corpus/$t"/* "$out/$t/corpus/"
  if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$out/$t/artifacts/" "$out/$t/corpus" >"$out/$t/log" 2>&1; then
    echo "$t: ok ($(grep -E '^stat::number_of_executed_units' "$out/$t/log" | awk '{print $2}') inputs," \
         "corpus $(ls "$out/$t/corpus" | wc -l) files)"
  else
    echo "$t: FAILED"
    tail -n 40 "$out/$t/log"
    for a in "$out/$t/artifacts"/*; do
      [ -f "$a" ] || continue
      echo "input $a (base64):"
      base64 -w0 "$a"
      echo
    done
    return 1
  fi
}

status=0
pids=()
names=()
for t in "${targets[@]}"; do
  run_one "$t" &
  pids+=($!)
  names+=("$t")
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
    names=("${names[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
[ "$status" = 0 ] && rm -rf "$out"
exit "$status"
