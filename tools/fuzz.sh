#!/usr/bin/env bash
# libFuzzer targets (tests/fuzz/), built with clang into build/fuzz.
#   tools/fuzz.sh build                # configure build/fuzz with clang, build every target
#   tools/fuzz.sh run TARGET SECONDS   # one target on a scratch copy of its seed corpus
#   tools/fuzz.sh smoke [SECONDS]      # every target for SECONDS (default 30): what CI runs
#   tools/fuzz.sh list                 # the target names
# A run prints one line: execs/s, total execs, coverage (cov = edges, ft = features), and the
# crash file if the target failed (kept in build/fuzz/artifacts/TARGET/). Reproduce a crash with
#   build/fuzz/tests/fuzz/TARGET build/fuzz/artifacts/TARGET/crash-...
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

build=${LIVEQL_FUZZ_BUILD_DIR:-build/fuzz}
targets=(compile_fuzz metadata_fuzz wal2json_fuzz copy_message_fuzz ws_protocol_fuzz jwt_fuzz)

usage() {
  sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

build_targets() {
  command -v clang++ >/dev/null || { echo "fuzz: clang++ not found (tools/deps.sh installs it)" >&2; exit 1; }
  export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}
  CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DLIVEQL_FUZZ=ON \
    -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" >/dev/null
  # Only the fuzzers and the pure libraries they link: nothing with Beast, libpq or RocksDB.
  nice cmake --build "$build" --target liveql_fuzzers -j"$(nproc)"
}

# run TARGET SECONDS: prints the summary line; returns 1 when the target found a failure.
run_target() {
  local target=$1 seconds=$2
  local exe="$build/tests/fuzz/$target"
  [ -x "$exe" ] || { echo "fuzz: $exe not built (tools/fuzz.sh build)" >&2; return 2; }
  local scratch
  scratch=$(mktemp -d "${TMPDIR:-/tmp}/liveql-fuzz-$target.XXXXXX")
  # The corpus grows during a run: work on a copy so the repository stays as committed.
  mkdir -p "$scratch/corpus" "$build/artifacts/$target"
  if [ -d "tests/fuzz/corpus/$target" ]; then cp -r "tests/fuzz/corpus/$target/." "$scratch/corpus/"; fi
  local args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
              -artifact_prefix="$build/artifacts/$target/")
  if [ -f "tests/fuzz/dict/$target.dict" ]; then args+=(-dict="tests/fuzz/dict/$target.dict"); fi
  local rc=0
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$exe" "${args[@]}" "$scratch/corpus" >"$scratch/log" 2>&1 || rc=$?
  local execs per_sec cov ft
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$scratch/log" | tail -1)
  per_sec=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$scratch/log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$scratch/log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$scratch/log" | tail -1 | cut -d' ' -f2)
  printf '%-18s %5ss  %8s execs/s  %10s execs  cov %6s  ft %7s  %s\n' "$target" "$seconds" \
    "${per_sec:-?}" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$([ $rc -eq 0 ] && echo ok || echo FAILED)"
  if [ $rc -ne 0 ]; then
    grep -E 'ERROR: |runtime error|fuzz invariant failed|SUMMARY|Test unit written' "$scratch/log" | head -20 >&2
    cp "$scratch/log" "$build/artifacts/$target/last-failure.log"
    echo "fuzz: full log in $build/artifacts/$target/last-failure.log" >&2
  fi
  rm -rf "$scratch"
  return $((rc == 0 ? 0 : 1))
}

case "${1:-}" in
  build)
    build_targets
    ;;
  run)
    [ $# -eq 3 ] || usage
    run_target "$2" "$3"
    ;;
  smoke)
    seconds=${2:-30}
    failed=0
    for t in "${targets[@]}"; do run_target "$t" "$seconds" || failed=1; done
    exit $failed
    ;;
  list)
    printf '%s\n' "${targets[@]}"
    ;;
  *)
    usage
    ;;
esac
