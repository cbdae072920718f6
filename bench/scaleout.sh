#!/usr/bin/env bash
# Scale-out throughput on this machine: the ingest role into Redis, then one processor from
# Redis into ClickHouse.
#
#   bench/scaleout.sh [SECONDS]        (default 20)
#
# 1. Starts redis-server (AOF, appendfsync always, as deploy/ runs it), the ClickHouse test
#    server (tests/chdb_server.py, ClickHouse's engine through chDB; or SPYGLASS_TEST_CLICKHOUSE_URL)
#    and one ingest role, and loads it with the load generator over OTLP/gRPC for SECONDS:
#    acknowledged spans/s is the ingest role's rate into the Redis streams.
# 2. Then starts one processor and times how long it takes to empty the streams: spans/s
#    through the engine into ClickHouse.
#
# Needs the release build (scripts/env.sh's target dir), redis-server, and the test venv
# with chdb (scripts/test makes it). Results in bench/results/scaleout-<timestamp>/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

SECS="${1:-20}"
CONC="${CONC:-32}"
BIN="$CARGO_TARGET_DIR/release"
PY="${SPYGLASS_TEST_PYTHON:-$HOME/.cache/spyglass-test-venv/bin/python}"
OUT="bench/results/scaleout-$(date -u +%Y%m%d-%H%M%S)"
WORK="$(mktemp -d)"
mkdir -p "$OUT"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK" --appendonly yes \
    --appendfsync always --save '' >"$OUT/redis.log" 2>&1 &
pids+=($!)

if [ -n "${SPYGLASS_TEST_CLICKHOUSE_URL:-}" ]; then
    CH="${SPYGLASS_TEST_CLICKHOUSE_URL%/}/bench_$$"
else
    CH_PORT=$(free_port)
    "$PY" tests/chdb_server.py --port "$CH_PORT" --data "$WORK/ch" >"$WORK/ch.out" 2>"$OUT/chdb.log" &
    pids+=($!)
    until grep -q LISTENING "$WORK/ch.out"; do sleep 0.1; done
    CH="http://127.0.0.1:$CH_PORT/bench"
fi
QUEUE="redis://127.0.0.1:$REDIS_PORT"

role() { # role name api_port [grpc_port http_port]
    local role=$1 api=$2 grpc=${3:-$(free_port)} http=${4:-$(free_port)}
    "$BIN/spyglass" serve --role "$role" --store "$CH" --queue "$QUEUE" \
        --data-dir "$WORK/$role-$api" --http-addr "127.0.0.1:$api" \
        --otlp-grpc-addr "127.0.0.1:$grpc" --otlp-http-addr "127.0.0.1:$http" \
        >"$OUT/$role-$api.log" 2>&1 &
    pids+=($!)
    until curl -sf "http://127.0.0.1:$api/readyz" >/dev/null; do sleep 0.1; done
}

pending() { # entries left in the span streams
    local n=0
    for p in $(seq 0 15); do
        n=$((n + $(redis-cli -p "$REDIS_PORT" XLEN "spyglass:spans:$p")))
    done
    echo "$n"
}

INGEST_API=$(free_port); GRPC=$(free_port)
role ingest "$INGEST_API" "$GRPC"
echo "== ingest role into Redis: $SECS s, gRPC, concurrency $CONC"
"$BIN/spyglass-loadgen" ingest --protocol grpc --grpc "http://127.0.0.1:$GRPC" --api "" \
    --duration "$SECS" --concurrency "$CONC" | tee "$OUT/ingest.json"
entries=$(pending)
spans=$(curl -s "http://127.0.0.1:$INGEST_API/metrics" | awk '/^spyglass_queue_spans_enqueued_total/ {print $2}')
echo "entries waiting: $entries, spans enqueued: $spans"

echo "== one processor from Redis into ClickHouse"
start=$(date +%s.%N)
role processor "$(free_port)"
while [ "$(pending)" -gt 0 ]; do sleep 0.5; done
end=$(date +%s.%N)
secs=$(echo "$end - $start" | bc -l)
rate=$(echo "$spans / $secs" | bc -l)
printf '{"spans": %s, "seconds": %.1f, "spans_per_s": %.0f}\n' "$spans" "$secs" "$rate" | tee "$OUT/processor.json"
