#!/usr/bin/env bash
# The same load against Arize Phoenix and against Spyglass, in one run, on this machine.
#
#   bench/compare_phoenix.sh [SECONDS]
#
# Phoenix (pip install arize-phoenix; `phoenix serve`) takes OTLP on the same ports: gRPC
# 4317 and HTTP at :6006/v1/traces. Each server runs alone with a fresh data directory, the
# load generator sends the identical traces at the same concurrency, and the acknowledged
# spans/s are compared. Note what an acknowledgement means: Spyglass acknowledges after the
# spans are committed to disk; Phoenix acknowledges once the request is queued in memory and
# writes to its database afterwards. So for Phoenix the script also waits until its database
# stops growing and reports the stored rate: spans in the database / (load + drain time).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-30}"
CONC="${CONC:-32}"
source scripts/env.sh # the tests' build configuration: no second DuckDB build
cargo build "${CARGO_FLAGS[@]}" >&2
BIN="$CARGO_TARGET_DIR/release"
OUT="bench/results/phoenix-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
VENV="${PHOENIX_VENV:-$HOME/.cache/phoenix-venv}"
if [ ! -x "$VENV/bin/phoenix" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet arize-phoenix
fi
"$VENV/bin/pip" show arize-phoenix | awk '/^Version/ {print "{\"phoenix_version\": \"" $2 "\"}"}' | tee "$OUT/phoenix-version.json"

run_load() { # name proto grpc_url http_url api
    "$BIN/spyglass-loadgen" ingest --protocol "$2" --duration "$SECS" --concurrency "$CONC" \
        --grpc "$3" --http "$4" --api "$5" | tee "$OUT/$1-$2.json"
}

# Phoenix
PDIR="$(mktemp -d)"
PHOENIX_WORKING_DIR="$PDIR" PHOENIX_PORT=6006 PHOENIX_GRPC_PORT=4317 "$VENV/bin/phoenix" serve >"$OUT/phoenix.log" 2>&1 &
PPID_=$!
trap 'kill -9 $PPID_ 2>/dev/null || true' EXIT
until curl -sf http://127.0.0.1:6006/ >/dev/null; do sleep 0.5; done
phoenix_spans() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True).execute("select count(*) from spans").fetchone()[0])' "$PDIR/phoenix.db" 2>/dev/null || echo 0; }
for proto in grpc http; do
    before=$(phoenix_spans)
    t0=$(date +%s.%N)
    run_load phoenix "$proto" http://127.0.0.1:4317 http://127.0.0.1:6006/v1/traces ""
    # Wait until Phoenix has stored what it acknowledged, has stored nothing for 60 s, or
    # DRAIN_SECONDS (default 300) have passed; the stored rate is over the whole wait.
    expected=$(( before + $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["accepted_spans"])' "$OUT/phoenix-$proto.json") ))
    last=-1; still=0
    for _ in $(seq "${DRAIN_SECONDS:-300}"); do
        now=$(phoenix_spans)
        if [ "$now" = "$last" ]; then still=$((still + 1)); else still=0; last=$now; fi
        [ "$now" -ge "$expected" ] || [ $still -ge 60 ] && break
        sleep 1
    done
    t1=$(date +%s.%N)
    python3 -c 'import json,sys; b,a,e,t0,t1=map(float,sys.argv[1:]); n=int(a-b); print(json.dumps({"acknowledged_spans": int(e-b), "stored_spans": n, "seconds": round(t1-t0,1), "stored_spans_per_s": round(n/(t1-t0))}))' \
        "$before" "$last" "$expected" "$t0" "$t1" | tee "$OUT/phoenix-$proto-stored.json"
done
echo "{\"phoenix_peak_rss_mib\": $(( $(awk '/VmHWM/ {print $2}' /proc/$PPID_/status) / 1024 ))}" | tee "$OUT/phoenix-rss.json"
# Phoenix finishes its backlog before it exits: give it 30 s, then stop it.
kill -TERM $PPID_; timeout 30 tail --pid=$PPID_ -f /dev/null || kill -9 $PPID_; wait $PPID_ || true
trap - EXIT

# Spyglass
SDIR="$(mktemp -d)/data"
"$BIN/spyglass" serve --data-dir "$SDIR" >"$OUT/spyglass.log" 2>&1 &
SPID=$!
trap 'kill -9 $SPID 2>/dev/null || true' EXIT
until curl -sf http://127.0.0.1:6060/readyz >/dev/null; do sleep 0.2; done
for proto in grpc http; do
    run_load spyglass "$proto" http://127.0.0.1:4317 http://127.0.0.1:4318/v1/traces http://127.0.0.1:6060
done
echo "{\"spyglass_peak_rss_mib\": $(( $(awk '/VmHWM/ {print $2}' /proc/$SPID/status) / 1024 ))}" | tee "$OUT/spyglass-rss.json"
kill -TERM $SPID; wait $SPID || true
trap - EXIT

python3 - "$OUT" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
rows = {}
for proto in ("grpc", "http"):
    p = json.loads((out / f"phoenix-{proto}.json").read_text())
    s = json.loads((out / f"spyglass-{proto}.json").read_text())
    stored = json.loads((out / f"phoenix-{proto}-stored.json").read_text())
    rows[proto] = {
        "phoenix_acknowledged_spans_per_s": p["accepted_spans_per_s"],
        "phoenix_stored_spans_per_s": stored["stored_spans_per_s"],
        "phoenix_failed_requests": p["failed_requests"],
        "spyglass_spans_per_s": s["accepted_spans_per_s"],
        "ratio_over_phoenix_acknowledged": round(s["accepted_spans_per_s"] / max(p["accepted_spans_per_s"], 1), 2),
        "ratio_over_phoenix_stored": round(s["accepted_spans_per_s"] / max(stored["stored_spans_per_s"], 1), 2),
        "phoenix_req_p99_ms": p["request_latency_ms"]["p99"],
        "spyglass_req_p99_ms": s["request_latency_ms"]["p99"],
    }
print(json.dumps(rows, indent=2))
(out / "comparison.json").write_text(json.dumps(rows, indent=2))
PY
