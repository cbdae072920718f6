#!/usr/bin/env bash
# Spyglass ingest and query benchmark on this machine, with the load generator.
#
#   bench/run.sh [SECONDS] [TARGET_SPANS]
#
# 1. idle RSS of a fresh server;
# 2. sustained durable ingest over gRPC, then over HTTP (spans/s acknowledged = committed),
#    request latency p50/p99, export→visible p50/p95/p99 through the live WebSocket, peak RSS;
#    then export→visible again at a steady RATE (default 50,000 spans/s), below saturation,
#    where it measures the pipeline rather than the queue in front of a saturated server;
# 3. keeps loading until TARGET_SPANS spans are stored (default 10,000,000), then times
#    trace-by-id and filtered trace-list queries through the API;
# 4. bytes per span on disk after a clean shutdown (checkpointed).
# The load generator runs on the same machine and takes CPU from the server: figures are a
# floor for a dedicated machine. Results go to bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-30}"
TARGET="${2:-10000000}"
CONC="${CONC:-32}"
source scripts/env.sh # the tests' build configuration: no second DuckDB build
cargo build "${CARGO_FLAGS[@]}" >&2
BIN="$CARGO_TARGET_DIR/release"
OUT="bench/results/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
DATA="$(mktemp -d)/data"
IDS="$OUT/trace-ids.txt"

rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

"$BIN/spyglass" serve --data-dir "$DATA" >"$OUT/server.log" 2>&1 &
PID=$!
trap 'kill -9 $PID 2>/dev/null || true' EXIT
until curl -sf http://127.0.0.1:6060/readyz >/dev/null; do sleep 0.2; done
sleep 3
echo "{\"idle_rss_mib\": $(( $(rss_kib $PID) / 1024 ))}" | tee "$OUT/idle.json"

for proto in grpc http; do
    "$BIN/spyglass-loadgen" ingest --protocol "$proto" --duration "$SECS" --concurrency "$CONC" \
        --trace-ids-out "$IDS" | tee "$OUT/ingest-$proto.json"
done
echo "{\"peak_rss_mib\": $(( $(hwm_kib $PID) / 1024 ))}" | tee "$OUT/peak.json"
"$BIN/spyglass-loadgen" ingest --protocol grpc --duration "$SECS" --concurrency "$CONC" \
    --rate "${RATE:-50000}" --trace-ids-out "$IDS" | tee "$OUT/steady-grpc.json"

stored() { curl -s http://127.0.0.1:6060/metrics | awk '/^spyglass_store_spans_committed_total/ {print int($2)}'; }
while [ "$(stored)" -lt "$TARGET" ]; do
    echo "stored $(stored) of $TARGET spans; loading more…" >&2
    "$BIN/spyglass-loadgen" ingest --protocol grpc --duration 60 --concurrency "$CONC" --api "" \
        --trace-ids-out "$IDS" > "$OUT/fill-last.json"
done
echo "{\"stored_spans\": $(stored), \"rss_mib_loaded\": $(( $(rss_kib $PID) / 1024 ))}" | tee "$OUT/loaded.json"
sleep 5
"$BIN/spyglass-loadgen" query --trace-ids "$IDS" --requests 600 | tee "$OUT/query.json"

kill -TERM $PID
wait $PID || true
trap - EXIT
BYTES=$(du -sb "$DATA" | awk '{print $1}')
SPANS=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["stored_spans"])' "$OUT/loaded.json")
echo "{\"disk_bytes\": $BYTES, \"bytes_per_span\": $(( BYTES / SPANS ))}" | tee "$OUT/disk.json"
echo "results in $OUT" >&2
