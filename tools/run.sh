#!/usr/bin/env bash
# run.sh - the README's run command: installs what is missing, builds in
# ./build and runs the collector with its embedded defaults
# (OTLP/gRPC 127.0.0.1:4317, OTLP/HTTP 127.0.0.1:4318, API 127.0.0.1:4320).
# Arguments go to `flywheel serve`, e.g. tools/run.sh --config deploy/flywheel.yaml
set -euo pipefail

cd "$(dirname "$0")/.."
tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFW_INTEGRATION=OFF -DFW_BENCH=OFF
cmake --build build -j"${FW_JOBS:-2}" --target flywheel
exec build/collector/flywheel serve "$@"
