#!/usr/bin/env bash
# fuzz.sh - the CI fuzzing step: builds every libFuzzer target of
# tests/fuzz/CMakeLists.txt with clang (ASan + UBSan + libFuzzer) in
# ./build-fuzz and runs each for a bounded time on a copy of its seed corpus
# (new inputs and crash artifacts go to build-fuzz/fuzz-run, never into the
# repository). Exits non-zero on any crash, leak, timeout or OOM.
#   tools/fuzz.sh [target...]   all registered targets when none is named
# Environment: FUZZ_SECONDS (per target, default 15), FW_JOBS (build, default 2).
set -euo pipefail

cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-15}"
jobs="${FW_JOBS:-2}"
build="build-fuzz"
run_dir="$build/fuzz-run"

case "$seconds" in
  '' | *[!0-9]*) echo "fuzz.sh: FUZZ_SECONDS must be a whole number of seconds" >&2; exit 2 ;;
esac
if ! command -v clang >/dev/null 2>&1; then
  echo "fuzz.sh: clang not found (tools/install-deps.sh installs it)" >&2
  exit 2
fi

# Targets: the names in FW_FUZZ_TARGETS ("fuzz_x:fw_lib") whose source exists.
if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  targets=()
  while read -r t; do
    if [ -f "tests/fuzz/$t.c" ]; then
      targets+=("$t")
    fi
  done < <(grep -o '"fuzz_[A-Za-z0-9_]*:' tests/fuzz/CMakeLists.txt | tr -d '":')
fi
if [ "${#targets[@]}" -eq 0 ]; then
  echo "fuzz.sh: no fuzz targets registered" >&2
  exit 2
fi

start=$(date +%s)
# -O1 with assertions on (Debug keeps NDEBUG off) is the usual fuzzing trade-off.
CC=clang cmake -S . -B "$build" \
  -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-O1 -g" \
  -DFW_WERROR=ON -DFW_FUZZ=ON -DFW_SANITIZE=ON \
  -DFW_INTEGRATION=OFF -DFW_BENCH=OFF -DFW_BUILD_TESTS=ON >/dev/null
cmake --build "$build" -j"$jobs" --target "${targets[@]}"
built=$(date +%s)

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

rm -rf "$run_dir"
mkdir -p "$run_dir"
failed=()
summary=()
for t in "${targets[@]}"; do
  corpus="$run_dir/$t/corpus"
  artifacts="$run_dir/$t/artifacts"
  log="$run_dir/$t/fuzz.log"
  mkdir -p "$corpus" "$artifacts"
  if [ -d "tests/fuzz/corpus/$t" ]; then
    cp -R "tests/fuzz/corpus/$t/." "$corpus/"
  fi
  seeds=$(find "$corpus" -type f | wc -l)
  echo "fuzz.sh: $t for ${seconds}s on $seeds seed(s)"
  rc=0
  "$build/tests/fuzz/$t" -max_total_time="$seconds" -rss_limit_mb=2048 \
    -timeout=10 -print_final_stats=1 -artifact_prefix="$artifacts/" \
    "$corpus" >"$log" 2>&1 || rc=$?

  runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
  cov=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
  ft=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
  corp=$(find "$corpus" -type f | wc -l)
  if [ "$rc" -eq 0 ] && [ -n "$runs" ]; then
    line=$(printf '%-16s ok    runs=%s cov=%s ft=%s corpus=%s' "$t" "$runs" "${cov:-?}" "${ft:-?}" "$corp")
  else
    failed+=("$t")
    line=$(printf '%-16s FAIL  exit=%s cov=%s ft=%s' "$t" "$rc" "${cov:-?}" "${ft:-?}")
    echo "---- $t: last lines of $log" >&2
    tail -n 60 "$log" >&2
    inputs=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log")
    if [ -n "$inputs" ]; then
      while read -r f; do
        echo "fuzz.sh: $t: failing input: $f" >&2
        line="$line input=$f"
      done <<<"$inputs"
    else
      echo "fuzz.sh: $t: no input written (see $log)" >&2
    fi
  fi
  summary+=("$line")
done

end=$(date +%s)
echo "fuzz.sh: summary (${seconds}s per target; build $((built - start))s, total $((end - start))s)"
printf '  %s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz.sh: FAILED: ${failed[*]} (reproduce: $build/tests/fuzz/<target> <input>)" >&2
  exit 1
fi
echo "fuzz.sh: all ${#targets[@]} targets clean"
