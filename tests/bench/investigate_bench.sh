#!/usr/bin/env bash
# investigate_bench.sh - investigation benchmark of flywheel (SPEC.md 8: an
# investigation over 30 minutes of data from 20 services and several million
# spans completes in under 1 s).
# Starts flywheel on free loopback ports (memory limit and span/log caps big
# enough to hold everything), loads 30 minutes of backdated telemetry from
# two `flywheel simulate` runs in parallel - the shop topology (10 services)
# and the rides topology (11 services), 21 distinct services - with a fault
# in each (a bad deployment of checkout, throttling of DynamoDB in rides),
# then times investigations: POST /api/v1/investigations (scoped to the
# faulty service, default window = the last 30 minutes), bounded polling
# until complete, and prints the server-side duration (completed_at -
# created_at), the wall time seen by the client, the spans held
# (flywheel_store_spans) and flywheel's RSS. Prints figures only; never
# asserts times. Only talks to 127.0.0.1.
#
# usage: tests/bench/investigate_bench.sh [-b BUILD_DIR] [-r RATE_PER_TOPOLOGY]
#          [-d BACKDATE] [-n INVESTIGATIONS] [-m MEMORY_LIMIT] [-k]
#   -r entry requests/s of each simulator (default 150: about 2.9M shop +
#      rides spans over 30m); -k keeps the server running at the end (prints
#      its API URL and pid, for profiling) instead of stopping it.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
build="${here}/../../build"
rate=150
backdate=30m
runs=5
memlimit=8GiB
keep=0

while getopts "b:r:d:n:m:kh" opt; do
  case "$opt" in
    b) build="$OPTARG" ;;
    r) rate="$OPTARG" ;;
    d) backdate="$OPTARG" ;;
    n) runs="$OPTARG" ;;
    m) memlimit="$OPTARG" ;;
    k) keep=1 ;;
    *) sed -n '2,22p' "$0"; exit 2 ;;
  esac
done

flywheel="${build}/collector/flywheel"
[[ -x "$flywheel" ]] || { echo "investigate_bench: $flywheel not built" >&2; exit 2; }
for t in curl python3; do
  command -v "$t" >/dev/null || { echo "investigate_bench: $t missing" >&2; exit 2; }
done

work="$(mktemp -d /tmp/flywheel-invbench.XXXXXX)"
fw_pid=""
cleanup() {
  if [[ "$keep" -eq 0 && -n "$fw_pid" ]] && kill -0 "$fw_pid" 2>/dev/null; then
    kill -TERM "$fw_pid" 2>/dev/null || true
    wait "$fw_pid" 2>/dev/null || true
  fi
  [[ "$keep" -eq 1 ]] || rm -rf "$work"
}
trap cleanup EXIT

"$flywheel" serve --grpc-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --api-listen 127.0.0.1:0 \
  --data-dir "$work/data" --set log.level=warn \
  --set "storage.memory_limit=${memlimit}" --set storage.max_spans=20000000 \
  --set storage.max_logs=20000000 --set storage.retention=2h \
  > "$work/stdout" 2> "$work/stderr" &
fw_pid=$!

port_of() { awk -v n="$1" '$1 == "listening" && $2 == n { sub(/.*:/, "", $3); print $3 }' "$work/stdout"; }
for _ in $(seq 1 400); do
  [[ -n "$(port_of api)" && -n "$(port_of otlp-grpc)" && -n "$(port_of otlp-http)" ]] && break
  kill -0 "$fw_pid" 2>/dev/null || { echo "investigate_bench: flywheel exited:" >&2; cat "$work/stderr" >&2; exit 1; }
  sleep 0.05
done
grpc_port=$(port_of otlp-grpc); api_port=$(port_of api)
[[ -n "$api_port" ]] || { echo "investigate_bench: no listening lines" >&2; cat "$work/stderr" >&2; exit 1; }
api="http://127.0.0.1:${api_port}"
for _ in $(seq 1 400); do
  [[ "$(curl -s -o /dev/null -w '%{http_code}' "${api}/readyz")" == 200 ]] && break
  sleep 0.05
done

rss() { awk '/^VmRSS/ {r=$2} /^VmHWM/ {h=$2} END {printf "rss %.1f MiB, peak %.1f MiB", r/1024, h/1024}' "/proc/${fw_pid}/status"; }
metric() { curl -s "${api}/metrics" | awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $2 } END { printf "%d", s }'; }

echo "flywheel investigation benchmark: $(nproc) cores, pid ${fw_pid}, memory limit ${memlimit}"
echo "loading ${backdate} backdated: shop + rides topologies at ${rate} entry requests/s each ..."
t0=$(date +%s.%N)
sim() {
  "$flywheel" simulate --endpoint "127.0.0.1:${grpc_port}" --api "$api" --backdate "$backdate" \
    --rate "$rate" --batch 2000 "$@"
}
sim --topology shop --seed 11 --fault bad-deploy:checkout > "$work/shop.json" 2> "$work/shop.err" &
p1=$!
sim --topology rides --seed 12 --fault throttling:DynamoDB > "$work/rides.json" 2> "$work/rides.err" &
p2=$!
rc=0
wait "$p1" || rc=$?
wait "$p2" || rc=$?
t1=$(date +%s.%N)
if [[ "$rc" -ne 0 ]]; then
  echo "investigate_bench: a simulator failed:" >&2; tail -5 "$work/shop.err" "$work/rides.err" >&2; exit 1
fi
truth() { python3 -c 'import json,sys; t=json.loads(open(sys.argv[1]).read().strip().splitlines()[-1]); print(t["service"], t["spans"], t["logs"], t["traces"])' "$1"; }
read -r shop_svc shop_spans shop_logs shop_traces < <(truth "$work/shop.json")
read -r rides_svc rides_spans rides_logs rides_traces < <(truth "$work/rides.json")
load_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
sent=$((shop_spans + rides_spans))
echo "sent ${sent} spans ($((shop_traces + rides_traces)) traces, $((shop_logs + rides_logs)) logs) in ${load_s} s" \
     "($(awk -v n="$sent" -v s="$load_s" 'BEGIN { printf "%.0f", n / s }') spans/s)"

# Bounded wait until the store holds what was acknowledged (ingest is async).
for _ in $(seq 1 600); do
  [[ "$(metric flywheel_store_spans)" -ge "$sent" ]] && break
  sleep 0.1
done
held=$(metric flywheel_store_spans)
services=$(curl -s "${api}/api/v1/services" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(len(j.get("services", j) if isinstance(j, dict) else j))' 2>/dev/null || echo "?")
echo "store: flywheel_store_spans ${held}, services ${services}; $(rss)"

# investigate SERVICE -> prints "server_ms wall_ms hypotheses top"
investigate() {
  local svc="$1" id t_a t_b body
  t_a=$(date +%s%N)
  id=$(curl -s -X POST -H 'content-type: application/json' -d "{\"service\":\"${svc}\"}" \
        "${api}/api/v1/investigations" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  for _ in $(seq 1 6000); do # 0.01 s steps: bounded at about 60 s
    body=$(curl -s "${api}/api/v1/investigations/${id}")
    [[ "$body" == *'"status":"running"'* ]] || break
    sleep 0.01
  done
  t_b=$(date +%s%N)
  printf '%s' "$body" | python3 -c '
import json, sys
from datetime import datetime
j = json.load(sys.stdin)
def ns(s):
    base, _, frac = s.rstrip("Z").partition(".")
    return int(datetime.fromisoformat(base + "+00:00").timestamp()) * 10**9 + int((frac + "000000000")[:9])
h = j.get("hypotheses") or []
top = "%s/%s" % (h[0]["cause"], h[0]["component"]["service"]) if h else "-"
print("%.1f %.1f %d %s %s" % ((ns(j["completed_at"]) - ns(j["created_at"])) / 1e6,
      (int(sys.argv[1]) - int(sys.argv[2])) / 1e6, len(h), top, j["status"]))' "$t_b" "$t_a"
}

for svc in "$shop_svc" "$rides_svc"; do
  echo "== investigation scoped to ${svc} (window: the last 30 minutes), ${runs} runs"
  for i in $(seq 1 "$runs"); do
    read -r srv wall nh top status < <(investigate "$svc")
    echo "   run ${i}: server ${srv} ms (completed_at - created_at), client wall ${wall} ms, ${status}, ${nh} hypotheses, top ${top}"
  done
done
echo "after: flywheel_store_spans $(metric flywheel_store_spans); $(rss)"
if [[ "$keep" -eq 1 ]]; then
  echo "kept running: pid ${fw_pid}, API ${api}, work dir ${work}"
fi
