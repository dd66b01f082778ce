#!/usr/bin/env bash
# Lucarne's benchmarks, one command:   bash bench/run.sh
#   1. ingest over loopback with wrk (64 connections): a no-op endpoint on the same
#      HTTP stack, then Lucarne's /api/event (202 = committed), in the same run;
#   2. the 30-day dashboard over EVENTS synthetic events (default 10 million);
#   3. bytes on disk per stored event.
# Environment: EVENTS (default 10000000), DURATION (wrk seconds, default 20),
# CONNECTIONS (default 64). Prints a Markdown block for bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lucarne/target}"
EVENTS="${EVENTS:-10000000}"
DURATION="${DURATION:-20}"
CONNECTIONS="${CONNECTIONS:-64}"

if ! command -v wrk >/dev/null; then
  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk
fi
cargo build --locked -q -p lucarne -p lucarne-bench
BIN="$CARGO_TARGET_DIR/debug/lucarne"
BENCH="$CARGO_TARGET_DIR/debug/lucarne-bench"

WORK="$(mktemp -d)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 300); do curl -fs -o /dev/null "$1" 2>/dev/null && return 0; curl -s -o /dev/null -X POST "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "not ready: $1" >&2; return 1; }
run_wrk() { wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s bench/ingest.lua "$1" 2>&1; }

echo "## Run of $(date -u +%Y-%m-%dT%H:%MZ)"
echo
echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr); $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
echo "Command: \`bash bench/run.sh\` (EVENTS=$EVENTS DURATION=$DURATION CONNECTIONS=$CONNECTIONS), build profile: dev (opt-level 1, dependencies opt-level 3)"
echo

# 1a. The no-op ceiling.
P1="$(free_port)"
"$BENCH" noop --listen "127.0.0.1:$P1" & PIDS+=($!)
wait_http "http://127.0.0.1:$P1/api/event"
echo "### No-op endpoint (same axum/tokio stack), wrk -c$CONNECTIONS -d${DURATION}s"
echo '```'
run_wrk "http://127.0.0.1:$P1" | sed -n '/Latency Distribution/,$p'
echo '```'
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true

# 1b. Lucarne, durable acknowledgements.
P2="$(free_port)"
"$BIN" site add bench.test --data "$WORK/ingest" >/dev/null 2>&1
LUCARNE_LOG=warn "$BIN" serve --listen "127.0.0.1:$P2" --data "$WORK/ingest" --trusted-proxy 127.0.0.1 & PIDS+=($!)
LPID=$!
wait_http "http://127.0.0.1:$P2/api/health"
echo
echo "### Lucarne POST /api/event (202 only after commit), wrk -c$CONNECTIONS -d${DURATION}s"
echo '```'
OUT="$(run_wrk "http://127.0.0.1:$P2")"
echo "$OUT" | sed -n '/Latency Distribution/,$p'
echo '```'
curl -s "http://127.0.0.1:$P2/metrics" | grep -E '^lucarne_events_(accepted|dropped)' || true
kill -TERM "$LPID"; wait "$LPID" 2>/dev/null || true
KEY="$("$BIN" key create --data "$WORK/ingest" | tail -1)"
LUCARNE_LOG=warn "$BIN" serve --listen "127.0.0.1:$P2" --data "$WORK/ingest" --trusted-proxy 127.0.0.1 & PIDS+=($!)
LPID=$!
wait_http "http://127.0.0.1:$P2/api/health"
STORED="$(curl -s -H "Authorization: Bearer $KEY" "http://127.0.0.1:$P2/api/v1/stats/aggregate?site_id=bench.test&period=day&metrics=events" | python3 -c 'import sys,json; print(json.load(sys.stdin)["results"]["events"]["value"])')"
echo "events stored after the run (stats API): $STORED"
kill -TERM "$LPID"; wait "$LPID" 2>/dev/null || true

# 2–3. Queries over EVENTS events.
echo
echo "### Dashboard queries over $EVENTS synthetic events (365 days)"
echo '```'
/usr/bin/time -f "generate: %e s wall, %M KB max RSS" "$BIN" generate --data "$WORK/query" --site bench.test --events "$EVENTS" --days 365 2>&1 | grep -v '^\s*$' | grep -E 'stored|generate:'
"$BENCH" query --data "$WORK/query" --runs 20
echo '```'
echo
echo "### Dashboard overview page (every query + HTML) and its weight, same data, 30 days"
echo '```'
"$BENCH" page --data "$WORK/query" --site bench.test --runs 20 --query 'period=30d' 2>&1 | grep -v ' INFO '
"$BENCH" page --data "$WORK/query" --site bench.test --runs 20 --query 'period=30d&compare=1' 2>&1 | grep -E 'median'
echo '```'
