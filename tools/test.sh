#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds with ASan+UBSan, checks formatting,
# runs every ctest label (unit, pg, e2e, slow; e2e includes `browser`, the console in headless
# chromium) against a throwaway PostgreSQL, then every libFuzzer target for LIVEQL_FUZZ_SECONDS
# (default 30; 0 skips them) with clang.
# Developers: `ctest --test-dir build/asan -L unit` for the fast loop.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

tools/deps.sh

build=${LIVEQL_BUILD_DIR:-build/asan}
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
# Objects are shared between clones and worktrees: paths relative to the source, not hashed.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DLIVEQL_SANITIZE=ON \
  -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" >/dev/null
cmake --build "$build" -j"$(nproc)"

ctest --test-dir "$build" --output-on-failure -j2 "$@"

# Fuzz smoke run (tests/fuzz): the seed corpora plus a short mutation run per target.
fuzz_seconds=${LIVEQL_FUZZ_SECONDS:-30}
if [ "$fuzz_seconds" = 0 ]; then
  echo "fuzzers skipped: LIVEQL_FUZZ_SECONDS=0"
elif ! command -v clang++ >/dev/null 2>&1; then
  echo "fuzzers skipped: clang++ not found"
else
  tools/fuzz.sh build
  tools/fuzz.sh smoke "$fuzz_seconds"
fi
