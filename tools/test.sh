#!/usr/bin/env bash
# test.sh - the README's test command: installs what is missing, builds
# and runs every test with ctest.
#   tools/test.sh             build in ./build (warnings are errors), run ctest
#   tools/test.sh --sanitize  same in ./build-asan with ASan + UBSan
# Extra arguments after the options go to ctest (e.g. -L unit).
set -euo pipefail

cd "$(dirname "$0")/.."
build="build"
cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DFW_WERROR=ON)
if [ "${1:-}" = "--sanitize" ]; then
  shift
  build="build-asan"
  cmake_args=(-DCMAKE_BUILD_TYPE=Debug -DFW_WERROR=ON -DFW_SANITIZE=ON)
  # Leaks fail the run; a UBSan report stops the process (-fno-sanitize-recover).
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
fi

tools/install-deps.sh

if [ -f tests/integration/package-lock.json ]; then
  # npm ci reinstalls node_modules from the lock file; skip when it is
  # already in sync (a second run, or the sanitizer pass of .ci/run).
  lock=tests/integration/package-lock.json
  stamp=tests/integration/node_modules/.package-lock.json
  if [ ! -f "$stamp" ] || [ "$lock" -nt "$stamp" ]; then
    npm ci --prefix tests/integration --no-audit --no-fund
  fi
fi

jobs="${FW_JOBS:-2}"
cmake -S . -B "$build" "${cmake_args[@]}"
cmake --build "$build" -j"$jobs"
ctest --test-dir "$build" --output-on-failure -j"$jobs" "$@"
