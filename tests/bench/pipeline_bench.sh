#!/usr/bin/env bash
# pipeline_bench.sh - ingest benchmark of flywheel with the full pipeline in
# place (store, topology, RED; SPEC.md 8). Starts flywheel on free loopback
# ports and replays one pre-encoded realistic ExportTraceServiceRequest
# (gen_otlp_payload: traces of five spans, HTTP server/client pairs joined
# across two services, postgres and redis client spans) over OTLP/gRPC with
# h2load:
#   1. full speed at a few concurrency levels (connections x streams),
#   2. about half the best measured rate (--rps), for the p99 latency bar,
# and prints for each: requests/s, spans/s (= requests/s x spans per
# request), export latency percentiles from h2load's per-request log, the
# spans flywheel counted as accepted, and flywheel's CPU time and RSS. At the
# end: memory per stored span = flywheel_memory_used_bytes /
# flywheel_store_spans (the store's own accounting), the same with the RED,
# topology and dictionary memory added, and RSS / stored spans.
# With -p, also records a perf profile of flywheel during the first
# full-speed level and prints its top symbols.
#
# Caveats, printed with the figures: h2load runs on the same machine and
# shares its cores with flywheel; every request carries the same body, so
# the same trace and span ids recur (the store keeps every copy; the
# topology joins each client span with a server span of the same ids).
# Prints figures only; never asserts times. Every request loop is bounded
# (-n) and only talks to 127.0.0.1.
#
# usage: tests/bench/pipeline_bench.sh [-b BUILD_DIR] [-s SPANS_PER_REQUEST]
#          [-n REQUESTS_PER_LEVEL] [-l LEVELS (c:m,c:m,...)] [-t H2LOAD_THREADS]
#          [-w FLYWHEEL_WORKERS] [-g PAYLOAD_GENERATOR] [-p]
# -g: another build of gen_otlp_payload (same options and output files).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
build="${here}/../../build"
spans=500
requests=4000
levels="1:1,2:8,4:16,8:32"
threads=1
workers=0
profile=0
gen=""

while getopts "b:s:n:l:t:w:g:ph" opt; do
  case "$opt" in
    b) build="$OPTARG" ;;
    s) spans="$OPTARG" ;;
    n) requests="$OPTARG" ;;
    l) levels="$OPTARG" ;;
    t) threads="$OPTARG" ;;
    w) workers="$OPTARG" ;;
    g) gen="$OPTARG" ;;
    p) profile=1 ;;
    *) sed -n '2,29p' "$0"; exit 2 ;;
  esac
done
[[ "$levels" =~ ^[0-9]+:[0-9]+(,[0-9]+:[0-9]+)*$ ]] || { echo "pipeline_bench: -l wants c:m[,c:m...]" >&2; exit 2; }

flywheel="${build}/collector/flywheel"
gen="${gen:-${build}/tests/bench/gen_otlp_payload}"
for f in "$flywheel" "$gen"; do
  [[ -x "$f" ]] || { echo "pipeline_bench: $f not built (configure with -DFW_BENCH=ON)" >&2; exit 2; }
done
command -v h2load >/dev/null || { echo "pipeline_bench: h2load missing (apt-get install nghttp2-client)" >&2; exit 2; }
command -v curl >/dev/null || { echo "pipeline_bench: curl missing" >&2; exit 2; }
if [[ "$profile" == 1 ]] && ! command -v perf >/dev/null; then
  echo "pipeline_bench: -p needs perf (apt-get install linux-perf)" >&2; exit 2
fi

work="$(mktemp -d /tmp/flywheel-pipeline-bench.XXXXXX)"
fw_pid=""
perf_pid=""
cleanup() {
  if [[ -n "$perf_pid" ]] && kill -0 "$perf_pid" 2>/dev/null; then
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" 2>/dev/null || true
  fi
  if [[ -n "$fw_pid" ]] && kill -0 "$fw_pid" 2>/dev/null; then
    kill -TERM "$fw_pid" 2>/dev/null || true
    wait "$fw_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

"$gen" --spans "$spans" --out-dir "$work" > "$work/gen.txt"
spans=$(awk '{print $2}' "$work/gen.txt")
req_bytes=$(awk '{print $4}' "$work/gen.txt")
framed="$work/traces_${spans}.grpc"

"$flywheel" serve --grpc-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --api-listen 127.0.0.1:0 \
  --data-dir "$work/data" --set "server.workers=${workers}" --set log.level=warn \
  > "$work/stdout" 2> "$work/stderr" &
fw_pid=$!

# Bounded wait for the three "listening" lines, then for /readyz.
port_of() { awk -v n="$1" '$1 == "listening" && $2 == n { sub(/.*:/, "", $3); print $3 }' "$work/stdout"; }
for _ in $(seq 1 400); do
  [[ -n "$(port_of api)" && -n "$(port_of otlp-grpc)" && -n "$(port_of otlp-http)" ]] && break
  kill -0 "$fw_pid" 2>/dev/null || { echo "pipeline_bench: flywheel exited:" >&2; cat "$work/stderr" >&2; exit 1; }
  sleep 0.05
done
grpc_port=$(port_of otlp-grpc); api_port=$(port_of api)
[[ -n "$api_port" && -n "$grpc_port" ]] || { echo "pipeline_bench: no listening lines" >&2; cat "$work/stderr" >&2; exit 1; }
ready=0
for _ in $(seq 1 400); do
  if [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${api_port}/readyz")" == 200 ]]; then ready=1; break; fi
  sleep 0.05
done
[[ "$ready" == 1 ]] || { echo "pipeline_bench: /readyz never answered 200" >&2; cat "$work/stderr" >&2; exit 1; }

clk_tck=$(getconf CLK_TCK)
rss() { awk '/^VmRSS/ {r=$2} /^VmHWM/ {h=$2} END {printf "rss %.1f MiB, peak %.1f MiB", r/1024, h/1024}' "/proc/${fw_pid}/status"; }
# flywheel's user+system CPU seconds so far (all threads).
cpu_s() { awk -v t="$clk_tck" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / t }' "/proc/${fw_pid}/stat"; }
# "tid name cpu-ticks" of every flywheel thread.
thread_ticks() {
  local f
  for f in /proc/"${fw_pid}"/task/*/stat; do
    awk '{ tid = $1; name = $2; sub(/^.*\) /, ""); print tid, name, $12 + $13 }' "$f" 2>/dev/null || true
  done
}
scrape() { curl -s "http://127.0.0.1:${api_port}/metrics" > "$work/metrics.txt"; }
# Sum of every series of metric $1 in the last scrape (labels ignored).
metric() { awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $2 } END { printf "%.0f", s }' "$work/metrics.txt"; }
accepted() { scrape; metric flywheel_spans_accepted_total; }

# percentiles of column 3 (microseconds) of an h2load log, status 2xx only
pcts() {
  awk -F'\t' '$2 >= 200 && $2 < 300 { print $3 }' "$1" | sort -n |
    awk '{ v[NR] = $1 } END {
      if (NR == 0) { print "no successful requests"; exit }
      split("50 90 99 99.9", q, " ");
      out = "";
      for (i = 1; i <= 4; i++) { k = int(NR * q[i] / 100 + 0.999999); if (k < 1) k = 1; if (k > NR) k = NR;
        out = out sprintf("p%s %.2f ms  ", q[i], v[k] / 1000) }
      printf "%smax %.2f ms (%d requests)\n", out, v[NR] / 1000, NR }'
}

grpc_url="http://127.0.0.1:${grpc_port}/opentelemetry.proto.collector.trace.v1.TraceService/Export"

# run NAME N CONNS STREAMS [extra h2load args...]; sets last_rps
run() {
  local name="$1" n="$2" c="$3" m="$4"; shift 4
  local log="$work/${name}.log" out="$work/${name}.out"
  local before cpu0 cpu1 after
  before=$(accepted); cpu0=$(cpu_s); thread_ticks > "$work/${name}.threads0"
  local TIMEFORMAT='%U %S'
  { time h2load -n "$n" -c "$c" -m "$m" -t "$threads" -d "$framed" \
      -H 'content-type: application/grpc' -H 'te: trailers' --log-file="$log" "$@" "$grpc_url" > "$out" 2>&1 || true; } 2> "$work/${name}.time"
  cpu1=$(cpu_s); thread_ticks > "$work/${name}.threads1"; after=$(accepted)
  local rps secs ok failed
  rps=$(awk '/^finished in/ { gsub(",", "", $4); print $4 }' "$out")
  secs=$(awk '/^finished in/ { gsub(",", "", $3); sub(/s$/, "", $3); print $3 }' "$out")
  ok=$(awk '/^requests:/ { print $8 }' "$out")
  failed=$(awk '/^requests:/ { print $10 }' "$out")
  echo "== ${name}"
  echo "   h2load: ${n} requests x ${spans} spans (${req_bytes} B each), -c ${c} -m ${m} -t ${threads} $*"
  echo "   finished in ${secs:-?}s: ${rps:-?} req/s, $(awk -v r="${rps:-0}" -v s="$spans" 'BEGIN { printf "%.0f", r * s }') spans/s; succeeded ${ok:-?}, failed ${failed:-?}"
  echo "   status codes: $(awk '/^status codes:/ { sub(/^status codes: /, ""); print }' "$out")"
  echo "   export latency: $(pcts "$log")"
  echo "   flywheel: $((after - before)) spans accepted (expected $((n * spans))); cpu $(awk -v a="$cpu0" -v b="$cpu1" -v s="${secs:-0}" 'BEGIN { d = b - a; printf "%.2f s (%.2f cores)", d, (s > 0 ? d / s : 0) }'); $(rss)"
  echo "   flywheel cpu per thread (s): $(awk -v t="$clk_tck" 'NR == FNR { a[$1] = $3; next }
      { d = ($3 - a[$1]) / t; if (d >= 0.01) printf "%s%s=%.2f", (n++ ? " " : ""), $2, d }' \
      "$work/${name}.threads0" "$work/${name}.threads1")"
  echo "   h2load cpu: $(awk -v s="${secs:-0}" '{ d = $1 + $2; printf "%.2f s (%.2f cores)", d, (s > 0 ? d / s : 0) }' "$work/${name}.time")"
  last_rps="${rps:-0}"
}

echo "flywheel pipeline benchmark (store + topology + RED): $(nproc) cores shared by flywheel AND h2load, flywheel workers=${workers} (0 = one per core), pid ${fw_pid}"
echo "payload: ${spans} spans per request, ${req_bytes} bytes ($(awk -v b="$req_bytes" -v s="$spans" 'BEGIN { printf "%.0f", b / s }') B/span); the same body every request"
echo "idle: $(rss)"

run warmup $((requests / 10 + 1)) 4 16 > /dev/null
best_rps=0
best_level=""
first=1
IFS=',' read -r -a level_list <<< "$levels"
for lv in "${level_list[@]}"; do
  c="${lv%%:*}"; m="${lv##*:}"
  if [[ "$profile" == 1 && "$first" == 1 ]]; then
    perf record -F 499 -g -o "$work/perf.data" -p "$fw_pid" > "$work/perf.out" 2>&1 &
    perf_pid=$!
    sleep 0.5 # let perf attach before the load starts (a measurement aid, not synchronization)
  fi
  run "grpc-c${c}-m${m}" "$requests" "$c" "$m"
  if [[ -n "$perf_pid" ]]; then
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" 2>/dev/null || true
    perf_pid=""
  fi
  first=0
  if awk -v a="$last_rps" -v b="$best_rps" 'BEGIN { exit !(a > b) }'; then best_rps="$last_rps"; best_level="$lv"; fi
done

c="${best_level%%:*}"; m="${best_level##*:}"
half=$(awk -v r="$best_rps" -v c="$c" 'BEGIN { v = int(r / 2 / c); if (v < 1) v = 1; print v }')
echo "(best: ${best_rps} req/s at c:m ${best_level}; half load = ${half} req/s per connection x ${c})"
run "grpc-half-load-c${c}-m${m}" $((requests / 2)) "$c" "$m" --rps="$half"

if [[ "$profile" == 1 && -s "$work/perf.data" ]]; then
  echo "== perf profile of flywheel during the first level (self time, top 25)"
  perf report -i "$work/perf.data" --no-children --sort symbol --stdio 2>/dev/null |
    awk '/^ +[0-9.]+%/ && n < 25 { sub(/[ -]+$/, ""); print "   " $0; n++ }' || true
fi

scrape
stored=$(metric flywheel_store_spans)
acc=$(metric flywheel_spans_accepted_total)
mem_used=$(metric flywheel_memory_used_bytes)
red_mem=$(metric flywheel_red_memory_used_bytes)
topo_mem=$(metric flywheel_topology_memory_used_bytes)
intern_mem=$(metric flywheel_intern_memory_used_bytes)
evicted=$(metric flywheel_evicted_spans_total)
rss_kib=$(awk '/^VmRSS/ { print $2 }' "/proc/${fw_pid}/status")
echo "== flywheel at the end: $(rss)"
echo "   accepted ${acc} spans; the store holds ${stored} (evicted ${evicted})"
echo "   flywheel_memory_used_bytes ${mem_used}; red ${red_mem}, topology ${topo_mem}, dictionary ${intern_mem}"
awk -v s="$stored" -v m="$mem_used" -v a="$red_mem" -v t="$topo_mem" -v i="$intern_mem" -v r="$rss_kib" 'BEGIN { if (s > 0) {
  printf "   per stored span: %.1f B by flywheel_memory_used_bytes / flywheel_store_spans\n", m / s;
  printf "                    %.1f B with RED, topology and dictionary memory added\n", (m + a + t + i) / s;
  printf "                    %.1f B by RSS / flywheel_store_spans\n", r * 1024 / s } }'
