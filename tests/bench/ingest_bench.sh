#!/usr/bin/env bash
# ingest_bench.sh - first ingest benchmark of flywheel (SPEC.md 8).
# Starts flywheel on free loopback ports, replays one pre-encoded realistic
# ExportTraceServiceRequest (gen_otlp_payload) with h2load:
#   1. OTLP/gRPC TraceService/Export (gRPC-framed body), full speed
#   2. the same at about half the measured rate (--rps), for the p99 bar
#   3. OTLP/HTTP protobuf POST /v1/traces over h2c, full speed
# and prints requests/s, spans/s (= requests/s x spans per request), latency
# percentiles from h2load's per-request log, the spans flywheel counted as
# accepted, and flywheel's RSS. Prints figures only; never asserts times.
# Every request loop is bounded (-n) and only talks to 127.0.0.1.
#
# usage: tests/bench/ingest_bench.sh [-b BUILD_DIR] [-s SPANS_PER_REQUEST]
#          [-n REQUESTS] [-c CONNECTIONS] [-m STREAMS_PER_CONNECTION] [-t H2LOAD_THREADS]
#          [-w FLYWHEEL_WORKERS]
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
build="${here}/../../build"
spans=500
requests=4000
conns=4
streams=16
threads=1
workers=0

while getopts "b:s:n:c:m:t:w:h" opt; do
  case "$opt" in
    b) build="$OPTARG" ;;
    s) spans="$OPTARG" ;;
    n) requests="$OPTARG" ;;
    c) conns="$OPTARG" ;;
    m) streams="$OPTARG" ;;
    t) threads="$OPTARG" ;;
    w) workers="$OPTARG" ;;
    *) sed -n '2,17p' "$0"; exit 2 ;;
  esac
done

flywheel="${build}/collector/flywheel"
gen="${build}/tests/bench/gen_otlp_payload"
for f in "$flywheel" "$gen"; do
  [[ -x "$f" ]] || { echo "ingest_bench: $f not built (configure with -DFW_BENCH=ON)" >&2; exit 2; }
done
command -v h2load >/dev/null || { echo "ingest_bench: h2load missing (apt-get install nghttp2-client)" >&2; exit 2; }

work="$(mktemp -d /tmp/flywheel-bench.XXXXXX)"
fw_pid=""
cleanup() {
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
pb="$work/traces_${spans}.pb"
framed="$work/traces_${spans}.grpc"

"$flywheel" serve --grpc-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --api-listen 127.0.0.1:0 \
  --data-dir "$work/data" --set "server.workers=${workers}" --set log.level=warn \
  > "$work/stdout" 2> "$work/stderr" &
fw_pid=$!

# Bounded wait for the three "listening" lines, then for /readyz.
port_of() { awk -v n="$1" '$1 == "listening" && $2 == n { sub(/.*:/, "", $3); print $3 }' "$work/stdout"; }
for _ in $(seq 1 400); do
  [[ -n "$(port_of api)" && -n "$(port_of otlp-grpc)" && -n "$(port_of otlp-http)" ]] && break
  kill -0 "$fw_pid" 2>/dev/null || { echo "ingest_bench: flywheel exited:" >&2; cat "$work/stderr" >&2; exit 1; }
  sleep 0.05
done
grpc_port=$(port_of otlp-grpc); http_port=$(port_of otlp-http); api_port=$(port_of api)
[[ -n "$api_port" ]] || { echo "ingest_bench: no listening lines" >&2; cat "$work/stderr" >&2; exit 1; }
for _ in $(seq 1 400); do
  [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${api_port}/readyz")" == 200 ]] && break
  sleep 0.05
done

rss() { awk '/^VmRSS/ {r=$2} /^VmHWM/ {h=$2} END {printf "rss %.1f MiB, peak %.1f MiB", r/1024, h/1024}' "/proc/${fw_pid}/status"; }
accepted() {
  curl -s "http://127.0.0.1:${api_port}/metrics" |
    awk -v p="$1" '$1 ~ "^flywheel_spans_accepted_total\\{.*protocol=\"" p "\"" { s += $2 } END { printf "%d", s }'
}

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

# run NAME URL BODY CONTENT_TYPE N [extra h2load args...]
run() {
  local name="$1" url="$2" body="$3" ctype="$4" n="$5"; shift 5
  local log="$work/${name}.log" out="$work/${name}.out"
  local before; before=$(accepted "$proto")
  h2load -n "$n" -c "$conns" -m "$streams" -t "$threads" -d "$body" \
    -H "content-type: ${ctype}" -H 'te: trailers' --log-file="$log" "$@" "$url" > "$out" 2>&1 || true
  local after; after=$(accepted "$proto")
  local rps secs ok failed
  rps=$(awk '/^finished in/ { gsub(",", "", $4); print $4 }' "$out")
  secs=$(awk '/^finished in/ { gsub(",", "", $3); print $3 }' "$out")
  ok=$(awk '/^requests:/ { print $8 }' "$out")
  failed=$(awk '/^requests:/ { print $10 }' "$out")
  echo "== ${name}"
  echo "   h2load: ${n} requests x ${spans} spans (${req_bytes} B each), -c ${conns} -m ${streams} -t ${threads} $*"
  echo "   finished in ${secs:-?}: ${rps:-?} req/s, $(awk -v r="${rps:-0}" -v s="$spans" 'BEGIN { printf "%.0f", r * s }') spans/s; succeeded ${ok:-?}, failed ${failed:-?}"
  echo "   status codes: $(awk '/^status codes:/ { sub(/^status codes: /, ""); print }' "$out")"
  echo "   latency: $(pcts "$log")"
  echo "   h2load time for request: $(awk '/^time for request:/ { print "min " $4 " max " $5 " mean " $6 " sd " $7 }' "$out")"
  echo "   flywheel counted $((after - before)) spans accepted (${proto}); expected $((n * spans)); $(rss)"
  last_rps="${rps:-0}"
}

echo "flywheel ingest benchmark: $(nproc) cores, flywheel workers=${workers} (0 = one per core), pid ${fw_pid}"
echo "payload: ${spans} spans per request, ${req_bytes} bytes ($(awk -v b="$req_bytes" -v s="$spans" 'BEGIN { printf "%.0f", b / s }') B/span)"
echo "idle: $(rss)"

grpc_url="http://127.0.0.1:${grpc_port}/opentelemetry.proto.collector.trace.v1.TraceService/Export"
http_url="http://127.0.0.1:${http_port}/v1/traces"

proto=grpc
run grpc-warmup "$grpc_url" "$framed" application/grpc $((requests / 10 + 1)) > /dev/null
run grpc "$grpc_url" "$framed" application/grpc "$requests"
half=$(awk -v r="$last_rps" -v c="$conns" 'BEGIN { v = int(r / 2 / c); if (v < 1) v = 1; print v }')
run grpc-half-load "$grpc_url" "$framed" application/grpc $((requests / 2)) --rps="$half"
proto=http_protobuf
run http-protobuf-h2c "$http_url" "$pb" application/x-protobuf "$requests"

metric() {
  curl -s "http://127.0.0.1:${api_port}/metrics" |
    awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $2 } END { printf "%.0f", s }'
}
stored=$(metric flywheel_store_spans)
mem_used=$(metric flywheel_memory_used_bytes)
evicted=$(metric flywheel_evicted_spans_total)
rss_kib=$(awk '/^VmRSS/ { print $2 }' "/proc/${fw_pid}/status")
echo "== flywheel at the end: $(rss)"
echo "   store holds ${stored} spans (evicted ${evicted}); flywheel_memory_used_bytes ${mem_used}"
awk -v s="$stored" -v m="$mem_used" -v r="$rss_kib" 'BEGIN { if (s > 0)
  printf "   per stored span: %.0f B by flywheel_memory_used_bytes, %.0f B by RSS\n", m / s, r * 1024 / s }'

if ! grep -q . "$work/stderr"; then
  echo "flywheel stderr: empty"
else
  echo "flywheel stderr (last 5 lines):"; tail -n 5 "$work/stderr" | sed 's/^/   /'
fi
kill -TERM "$fw_pid"
if wait "$fw_pid"; then echo "flywheel exited 0 after SIGTERM"; else echo "flywheel exit code $? after SIGTERM"; fi
fw_pid=""
