#!/usr/bin/env bash
# Installs what liveql needs to build, test and run its demo, from Debian's packages and npm.
# Idempotent: does nothing that is already done. Run as root (or with sudo available).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

apt_packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libboost-system1.81-dev
  librocksdb-dev libfmt-dev libspdlog-dev libsimdjson-dev libyaml-cpp-dev libssl-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev libpq-dev
  postgresql-15 postgresql-15-wal2json postgresql-contrib
  # PostGIS: geometry/geography columns (the pg and e2e tests create the extension)
  postgresql-15-postgis-3
  nodejs curl procps openssl python3
  # the console's browser test (tests/browser): headless, driven by puppeteer-core
  chromium
  # libFuzzer targets (tools/fuzz.sh): clang and its runtime, which holds libclang_rt.fuzzer
  clang libclang-rt-14-dev
)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Some images ship nodejs without npm (NodeSource's nodejs conflicts with Debian's npm package).
if ! command -v npm >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq npm >/dev/null
fi

# npm packages from the committed lockfiles: the end-to-end clients, the console's GraphiQL and
# React (copied next to the binary by the build), the browser test's puppeteer-core.
for dir in tests/e2e console tests/browser; do
  if [ -f "$here/../$dir/package-lock.json" ]; then
    (
      cd "$here/../$dir"
      if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
        npm ci --no-audit --no-fund --loglevel=error
      fi
    )
  fi
done
