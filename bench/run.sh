#!/usr/bin/env bash
# Lucarne's benchmarks, one command:   bash bench/run.sh
#   1. ingest over loopback with wrk (64 connections): a no-op endpoint on the same
#      HTTP stack, then Lucarne's /api/event (202 = committed), in the same run;
#   2. the 30-day dashboard over EVENTS synthetic events (default 10 million);
#   3. bytes on disk per stored event;
#   4. the share-cascade report of one page whose share graph has EDGES edges (default
#      100000), over 1 million background events;
#   5. short-link redirects with wrk: a no-op redirect, then Lucarne's /l/{slug} (every
#      request classified, clicks/scans/previews recorded through the spool);
#   6. the conversion report over the store of step 2 (goals purchase, signup, /checkout).
# Environment: EVENTS (default 10000000), DURATION (wrk seconds, default 20),
# CONNECTIONS (default 64), EDGES (default 100000). Prints a Markdown block for
# bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lucarne/target}"
EVENTS="${EVENTS:-10000000}"
DURATION="${DURATION:-20}"
CONNECTIONS="${CONNECTIONS:-64}"
EDGES="${EDGES:-100000}"

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
echo "Command: \`bash bench/run.sh\` (EVENTS=$EVENTS DURATION=$DURATION CONNECTIONS=$CONNECTIONS EDGES=$EDGES), build profile: dev (opt-level 1, dependencies opt-level 3)"
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

# 4. Short-link redirects: a no-op redirect on the same stack, then Lucarne's /l/{slug}
#    (every request classified; clicks, scans and previews recorded through the spool).
P3="$(free_port)"
"$BENCH" noop --listen "127.0.0.1:$P3" & PIDS+=($!)
wait_http "http://127.0.0.1:$P3/api/event"
echo
echo "### No-op redirect (same axum/tokio stack, GET → 302), wrk -c$CONNECTIONS -d${DURATION}s"
echo '```'
wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s bench/redirect.lua "http://127.0.0.1:$P3" 2>&1 | sed -n '/Latency Distribution/,$p'
echo '```'
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true
"$BIN" site add bench.test --data "$WORK/links" >/dev/null 2>&1
for i in $(seq 0 49); do
  "$BIN" link create "https://bench.test/landing/$i" --slug "bench$i" --channel whatsapp --campaign bench --site bench.test --data "$WORK/links" >/dev/null
done
P4="$(free_port)"
LUCARNE_LOG=warn "$BIN" serve --listen "127.0.0.1:$P4" --data "$WORK/links" --trusted-proxy 127.0.0.1 & PIDS+=($!)
LPID=$!
wait_http "http://127.0.0.1:$P4/api/health"
echo
echo "### Lucarne GET /l/{slug} (50 links; 1 in 10 a QR scan, 1 in 20 a WhatsApp preview), wrk -c$CONNECTIONS -d${DURATION}s"
echo '```'
wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s bench/redirect.lua "http://127.0.0.1:$P4" 2>&1 | sed -n '/Latency Distribution/,$p'
echo '```'
curl -s "http://127.0.0.1:$P4/metrics" | grep -E '^lucarne_link_(requests|events_dropped)' || true
kill -TERM "$LPID"; wait "$LPID" 2>/dev/null || true
KEY="$("$BIN" key create --data "$WORK/links" | tail -1)"
LUCARNE_LOG=warn "$BIN" serve --listen "127.0.0.1:$P4" --data "$WORK/links" & PIDS+=($!)
LPID=$!
wait_http "http://127.0.0.1:$P4/api/health"
STORED="$(curl -s -H "Authorization: Bearer $KEY" "http://127.0.0.1:$P4/api/v1/stats/breakdown?site_id=bench.test&period=day&property=event:name&metrics=events" | python3 -c 'import sys,json; print(", ".join(str(r["name"]) + ": " + str(r["events"]) for r in json.load(sys.stdin)["results"]))')"
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

# 6. Conversions over the same store.
echo
echo "### Conversion report over the $EVENTS events (all of their span), 3 goals"
echo '```'
"$BENCH" conversions --data "$WORK/query" --site bench.test --runs 20 2>&1 | grep -v ' INFO '
echo '```'

# 4. Share cascades.
echo
echo "### Share-cascade report: one page with $EDGES share-graph edges, 1 M background events, 30 days"
echo '```'
"$BENCH" cascade --data "$WORK/cascade" --edges "$EDGES" --runs 20 2>&1 | grep -v ' INFO '
echo '```'
