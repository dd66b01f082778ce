#!/usr/bin/env bash
# Lucarne's benchmarks, one command:   bash bench/run.sh
#   1. ingest over loopback (64 connections): a no-op endpoint on the same
#      HTTP stack, then Lucarne's /api/event (202 = committed), in the same run, each
#      with the server's CPU time per request; then the storage path alone
#      (lucarne-bench load: spool + loader + DuckDB, CPU per stored row);
#   2. the 30-day dashboard over EVENTS synthetic events (default 10 million);
#   3. bytes on disk per stored event;
#   4. the share-cascade report of one page whose share graph has EDGES edges (default
#      100000), over 1 million background events;
#   5. short-link redirects: a no-op redirect, then Lucarne's /l/{slug} (every
#      request classified, clicks/scans/previews recorded through the spool);
#   6. the conversion report over the store of step 2 (goals purchase, signup, /checkout);
#   7. scale-out (issue 7): the same EVENTS events generated into DuckDB and into
#      ClickHouse + PostgreSQL (both from the same fixed start, so the same rows), the
#      30-day dashboard on each; then ingest against one Lucarne node and two
#      nodes on ClickHouse + PostgreSQL (one server, then a two-shard cluster), every
#      acknowledged event checked through the stats API. Servers: Debian's
#      clickhouse-server and PostgreSQL, on free loopback ports (bench/servers.sh).
#   8. attacks (issue 17): the figures the attack tests measure against the real binary,
#      one test at a time: 300 concurrent wrong logins (password checks, memory), 1,000
#      stalled sockets (health latency, when they are closed), 20,000 forged share tokens
#      over a million events (pageview p99 against the same load without tokens), a flood
#      of distinct visitors with the longest fields (visit table, memory).
#   9. publisher scale (issue 20): PUB_EVENTS (default 10 million) events in one 30-day
#      window, every dashboard page over HTTP as a logged-in owner (the overview for 30
#      and 7 days and with one filter, Sharing, Links, Conversions) and every stats API
#      report with a key; RUNS_HTTP (default 5) requests each, median and slowest; then
#      PUB_TODAY (default 700,000) more events over the last two days and the ranges into
#      today. The site's zone is PUB_TZ (default Pacific/Kiritimati, UTC+14: its day began
#      at least 10 hours ago whenever the step runs, so today's raw rows are a real day's).
#  10. a year at publisher scale (issue 20): YEAR_EVENTS (default 100 million) events over
#      12 months, rolled up, then the 12-month and 30-day overviews and the stats API over
#      HTTP (about 1 h 30 on 2 cores, most of it the rollup; YEAR_DATA keeps the store).
# Every Lucarne server here runs with --site-rate-limit 1000000: the benchmark sends one
# site's events at tens of thousands a second, past the default fair share of 10,000 a
# site, and the limiter stays on the path (measured, not bypassed).
# The load generator is `lucarne-bench hammer` (LOADGEN=hammer, the default) or wrk with
# bench/ingest.lua and bench/redirect.lua (LOADGEN=wrk): the same requests either way.
# Environment: EVENTS (default 10000000), DURATION (load seconds, default 20), LOADGEN,
# NOTIFY (1: step 1's site has alert and digest subscribers, so notification rounds run
# during the load; LUCARNE_LOG="warn,lucarne_server::notify=debug" shows each round and
# its elapsed_ms), THREADS (load generator threads, default 1), CONNECTIONS (default 64), EDGES (default 100000), STEPS (default "1 2 3 4 5 6 7 8 9 10": the
# steps to run, e.g. STEPS=7; step 6 needs step 2's store), LUCARNE_BIN (the binary to run; default the
# debug build it makes). Prints a Markdown block for
# bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lucarne/target}"
EVENTS="${EVENTS:-10000000}"
DURATION="${DURATION:-20}"
CONNECTIONS="${CONNECTIONS:-64}"
EDGES="${EDGES:-100000}"
STEPS="${STEPS:-1 2 3 4 5 6 7 8 9 10}"
LOADGEN="${LOADGEN:-hammer}"
THREADS="${THREADS:-1}"
# Requests each wrk thread builds before the run (bench/ingest.lua, bench/redirect.lua):
# enough for 60,000 requests/s a thread, so the fast no-op runs never build on the fly.
export POOL="${POOL:-$((DURATION * 60000))}"
want() { [[ " $STEPS " == *" $1 "* ]]; }

if [ "$LOADGEN" = wrk ] && ! command -v wrk >/dev/null; then
  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk
fi
# The whole workspace: selecting packages (-p) can resolve other features and build DuckDB again.
cargo build --locked -q --workspace --bins
BIN="${LUCARNE_BIN:-$CARGO_TARGET_DIR/debug/lucarne}"
BENCH="$CARGO_TARGET_DIR/debug/lucarne-bench"

WORK="$(mktemp -d)"
PIDS=()
SERVER_PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ "${#SERVER_PIDS[@]}" -gt 0 ]; then stop_servers; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 300); do curl -fs -o /dev/null "$1" 2>/dev/null && return 0; curl -s -o /dev/null -X POST "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "not ready: $1" >&2; return 1; }
# The load: SCENARIO (ingest | redirect) against URL, with THREADS threads (default 1),
# CONNECTIONS/… connections (default all) and PROC (visitors of its own, default 0).
# LOADGEN=hammer (default): lucarne-bench hammer, a Rust load generator (one mio loop a
# thread, requests formatted into a reused buffer); LOADGEN=wrk: wrk with
# bench/SCENARIO.lua. Both send the same requests and print wrk's shape of output.
load() {
  local scenario="$1" url="$2" threads="${3:-$THREADS}" conns="${4:-$CONNECTIONS}" proc="${5:-0}"
  if [ "$LOADGEN" = wrk ]; then
    WRK_PROC="$proc" wrk -t"$threads" -c"$conns" -d"${DURATION}s" --latency -s "bench/$scenario.lua" "$url" 2>&1
  else
    "$BENCH" hammer --addr "${url#http://}" --scenario "$scenario" --threads "$threads" \
      --connections "$conns" --duration "$DURATION" --proc-id "$proc" 2>&1
  fi
}
run_wrk() { load ingest "$1"; }
# CPU time (user + system, in clock ticks) a process has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# "server CPU per request" from two cpu_ticks readings and wrk's output.
cpu_per_request() {
  local n; n="$(awk '/requests in/{print $1}' <<<"$3")"
  python3 -c "print(f'server CPU per request: {($2 - $1) * 1e6 / $(getconf CLK_TCK) / $n:.1f} µs ({$n} requests)')"
}

# The same, counted until every acknowledged event is in DuckDB: a stats query makes
# the loader load what is still pending, so work deferred past the run is counted too.
# usage: loaded_cpu C0 PID PORT KEY WRK_OUTPUT
loaded_cpu() {
  curl -s -o /dev/null -H "Authorization: Bearer $4" "http://127.0.0.1:$3/api/v1/stats/aggregate?site_id=bench.test&period=day&metrics=events"
  local c2; c2="$(cpu_ticks "$2")"
  local n; n="$(awk '/requests in/{print $1}' <<<"$5")"
  python3 -c "print(f'server CPU per request once every event is loaded: {($c2 - $1) * 1e6 / $(getconf CLK_TCK) / $n:.1f} µs')"
}

echo "## Run of $(date -u +%Y-%m-%dT%H:%MZ)"
echo
echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr); $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
echo "Command: \`bash bench/run.sh\` (EVENTS=$EVENTS DURATION=$DURATION CONNECTIONS=$CONNECTIONS EDGES=$EDGES STEPS=\"$STEPS\" LOADGEN=$LOADGEN THREADS=$THREADS), build profile: dev (opt-level 1, dependencies opt-level 3)"
echo "Load before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

if want 1; then
# 1a. The no-op ceiling.
P1="$(free_port)"
"$BENCH" noop --listen "127.0.0.1:$P1" & PIDS+=($!)
wait_http "http://127.0.0.1:$P1/api/event"
echo "### No-op endpoint (same axum/tokio stack), $LOADGEN -t$THREADS -c$CONNECTIONS -d${DURATION}s"
echo '```'
C0="$(cpu_ticks "${PIDS[-1]}")"
OUT="$(run_wrk "http://127.0.0.1:$P1")"
C1="$(cpu_ticks "${PIDS[-1]}")"
echo "$OUT" | sed -n '/Latency Distribution/,$p'
cpu_per_request "$C0" "$C1" "$OUT"
echo '```'
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true

# 1b. Lucarne, durable acknowledgements.
P2="$(free_port)"
"$BIN" site add bench.test --data "$WORK/ingest" >/dev/null 2>&1
KEY="$("$BIN" key create --data "$WORK/ingest" | tail -1)"
# NOTIFY=1: the site's owner subscribes to alerts and the weekly digest, so every minute
# the notification round reads the last hour's events (alerts) while the load runs; its
# e-mails go to an SMTP port where nothing listens (they fail and are retried).
NOTIFY_ENV=()
if [ "${NOTIFY:-0}" = 1 ]; then
  printf 'bench password 0123456789\n' | "$BIN" user add owner@bench.test --owner-of bench.test --data "$WORK/ingest" >/dev/null
  "$BIN" notify subscribe bench.test owner@bench.test alerts --data "$WORK/ingest" >/dev/null
  "$BIN" notify subscribe bench.test owner@bench.test weekly --data "$WORK/ingest" >/dev/null
  NOTIFY_ENV=(LUCARNE_SMTP_URL="smtp://127.0.0.1:$(free_port)" LUCARNE_MAIL_FROM="bench@bench.test")
  echo "(NOTIFY=1: owner@bench.test subscribed to alerts and the weekly digest)"
fi
env LUCARNE_LOG="${LUCARNE_LOG:-warn}" "${NOTIFY_ENV[@]}" "$BIN" serve --site-rate-limit 1000000 --listen "127.0.0.1:$P2" --data "$WORK/ingest" --trusted-proxy 127.0.0.1 & PIDS+=($!)
LPID=$!
wait_http "http://127.0.0.1:$P2/api/health"
echo
echo "### Lucarne POST /api/event (202 only after commit), $LOADGEN -t$THREADS -c$CONNECTIONS -d${DURATION}s"
echo '```'
C0="$(cpu_ticks "$LPID")"
OUT="$(run_wrk "http://127.0.0.1:$P2")"
C1="$(cpu_ticks "$LPID")"
echo "$OUT" | sed -n '/Latency Distribution/,$p'
cpu_per_request "$C0" "$C1" "$OUT"
loaded_cpu "$C0" "$LPID" "$P2" "$KEY" "$OUT"
echo '```'
curl -s "http://127.0.0.1:$P2/metrics" | grep -E '^lucarne_events_(accepted|dropped)' || true
kill -TERM "$LPID"; wait "$LPID" 2>/dev/null || true
LUCARNE_LOG=warn "$BIN" serve --site-rate-limit 1000000 --listen "127.0.0.1:$P2" --data "$WORK/ingest" --trusted-proxy 127.0.0.1 & PIDS+=($!)
LPID=$!
wait_http "http://127.0.0.1:$P2/api/health"
STORED="$(curl -s -H "Authorization: Bearer $KEY" "http://127.0.0.1:$P2/api/v1/stats/aggregate?site_id=bench.test&period=day&metrics=events" | python3 -c 'import sys,json; print(json.load(sys.stdin)["results"]["events"]["value"])')"
echo "events stored after the run (stats API): $STORED"
kill -TERM "$LPID"; wait "$LPID" 2>/dev/null || true
# 1c. The storage path alone (spool + loader + DuckDB, no HTTP): what a stored event
#     costs of the server CPU above.
echo
echo "### Storage path alone: lucarne-bench load (1.5 M tracker-shaped rows, batches of 1,000)"
echo '```'
"$BENCH" load --rows 1500000
echo '```'
fi

if want 5; then
# 5. Short-link redirects: a no-op redirect on the same stack, then Lucarne's /l/{slug}
#    (every request classified; clicks, scans and previews recorded through the spool).
P3="$(free_port)"
"$BENCH" noop --listen "127.0.0.1:$P3" & PIDS+=($!)
wait_http "http://127.0.0.1:$P3/api/event"
echo
echo "### No-op redirect (same axum/tokio stack, GET → 302), $LOADGEN -t$THREADS -c$CONNECTIONS -d${DURATION}s"
echo '```'
C0="$(cpu_ticks "${PIDS[-1]}")"
OUT="$(load redirect "http://127.0.0.1:$P3")"
C1="$(cpu_ticks "${PIDS[-1]}")"
echo "$OUT" | sed -n '/Latency Distribution/,$p'
cpu_per_request "$C0" "$C1" "$OUT"
echo '```'
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true
"$BIN" site add bench.test --data "$WORK/links" >/dev/null 2>&1
for i in $(seq 0 49); do
  "$BIN" link create "https://bench.test/landing/$i" --slug "bench$i" --channel whatsapp --campaign bench --site bench.test --data "$WORK/links" >/dev/null
done
KEY="$("$BIN" key create --data "$WORK/links" | tail -1)"
P4="$(free_port)"
LUCARNE_LOG=warn "$BIN" serve --site-rate-limit 1000000 --listen "127.0.0.1:$P4" --data "$WORK/links" --trusted-proxy 127.0.0.1 & PIDS+=($!)
LPID=$!
wait_http "http://127.0.0.1:$P4/api/health"
echo
echo "### Lucarne GET /l/{slug} (50 links; 1 in 10 a QR scan, 1 in 20 a WhatsApp preview), $LOADGEN -t$THREADS -c$CONNECTIONS -d${DURATION}s"
echo '```'
C0="$(cpu_ticks "$LPID")"
OUT="$(load redirect "http://127.0.0.1:$P4")"
C1="$(cpu_ticks "$LPID")"
echo "$OUT" | sed -n '/Latency Distribution/,$p'
cpu_per_request "$C0" "$C1" "$OUT"
loaded_cpu "$C0" "$LPID" "$P4" "$KEY" "$OUT"
echo '```'
curl -s "http://127.0.0.1:$P4/metrics" | grep -E '^lucarne_link_(requests|events_dropped)' || true
kill -TERM "$LPID"; wait "$LPID" 2>/dev/null || true
LUCARNE_LOG=warn "$BIN" serve --site-rate-limit 1000000 --listen "127.0.0.1:$P4" --data "$WORK/links" & PIDS+=($!)
LPID=$!
wait_http "http://127.0.0.1:$P4/api/health"
STORED="$(curl -s -H "Authorization: Bearer $KEY" "http://127.0.0.1:$P4/api/v1/stats/breakdown?site_id=bench.test&period=day&property=event:name&metrics=events" | python3 -c 'import sys,json; print(", ".join(str(r["name"]) + ": " + str(r["events"]) for r in json.load(sys.stdin)["results"]))')"
echo "events stored after the run (stats API): $STORED"
kill -TERM "$LPID"; wait "$LPID" 2>/dev/null || true
fi

if want 2 || want 3; then
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
fi

if want 6; then
# 6. Conversions over the same store.
echo
echo "### Conversion report over the $EVENTS events (all of their span), 3 goals"
echo '```'
"$BENCH" conversions --data "$WORK/query" --site bench.test --runs 20 2>&1 | grep -v ' INFO '
echo '```'
fi

if want 4; then
# 4. Share cascades.
echo
echo "### Share-cascade report: one page with $EDGES share-graph edges, 1 M background events, 30 days"
echo '```'
"$BENCH" cascade --data "$WORK/cascade" --edges "$EDGES" --runs 20 2>&1 | grep -v ' INFO '
echo '```'
fi

# 7. Scale-out: ClickHouse + PostgreSQL next to DuckDB; one Lucarne node against two.
if want 7; then
source bench/servers.sh
CH_VERSION="$(dpkg-query -W -f '${Version}' clickhouse-server 2>/dev/null || echo '?')"
PG_VERSION="$("$PG_BIN/postgres" --version | awk '{print $3}')"
# One fixed start for both stores (as `lucarne generate`: 365 days ending about now, seed 1),
# so that DuckDB and ClickHouse hold exactly the same events.
START="$(date -u -d "@$(( $(date -u +%s) / 3600 * 3600 - 365 * 86400 ))" +%FT%H:%M:%SZ)"
echo
echo "### Scale-out (issue 7): $EVENTS events in DuckDB and in ClickHouse $CH_VERSION + PostgreSQL $PG_VERSION (fsync off, as in the tests), same rows"
echo "Load before step 7: $(cut -d' ' -f1-3 /proc/loadavg)"
echo '```'
start_clickhouse 1 "$WORK/ch-single"; CH1="$CH_URL"
start_postgres gen; PG_GEN="$PG_URL"
/usr/bin/time -f "DuckDB + SQLite: %e s wall, %M KB max RSS (lucarne-bench generate)" \
  "$BENCH" generate --data "$WORK/duck7" --site bench.test --count "$EVENTS" --days 365 --start "$START" 2>&1 | grep -E 'stored|wall'
/usr/bin/time -f "ClickHouse (one server) + PostgreSQL: %e s wall, %M KB max RSS (lucarne-bench generate)" \
  "$BENCH" generate --data "$WORK/gen-ch" --events "$CH1" --meta "$PG_GEN" --site bench.test --count "$EVENTS" --days 365 --start "$START" 2>&1 | grep -E 'stored|wall'
echo '```'
echo
echo "### 30-day dashboard over the $EVENTS events: DuckDB, then ClickHouse (one server), same rows, twice (alternating, so both see the same load)"
echo '```'
for round in 1 2; do
  echo "round $round, load $(cut -d' ' -f1-3 /proc/loadavg):"
  "$BENCH" query --data "$WORK/duck7" --runs 20 2>&1 | grep -v ' INFO '
  echo "--"
  "$BENCH" query --data "$WORK/q-ch" --events "$CH1" --runs 20 2>&1 | grep -v ' INFO '
  [ "$round" = 2 ] || echo "--"
done
echo '```'
echo
echo "### Dashboard overview page (all its queries + HTML), 30 days, 10 runs: DuckDB, then ClickHouse"
echo '```'
"$BENCH" page --data "$WORK/duck7" --site bench.test --runs 10 --query 'period=30d' 2>&1 | grep -E 'each query|median'
echo "--"
"$BENCH" page --data "$WORK/q-ch" --events "$CH1" --meta "$PG_GEN" --site bench.test --runs 10 --query 'period=30d' 2>&1 | grep -E 'each query|median'
echo '```'

# Ingest: N nodes (each its own data directory, spool and node id) on EVENTS_URL + META_URL,
# one wrk per node with CONNECTIONS/N connections, all at once; then every node is
# stopped (SIGTERM: spool loaded), restarted, and the stats API of each must count every
# acknowledged event.
ingest_nodes() {
  local n="$1" events_url="$2" meta_url="$3" label="$4" i
  local ports=() pids=() dirs=() outs=()
  "$BIN" site add bench.test --data "$WORK/$label-0" --events "$events_url" --meta "$meta_url" >/dev/null 2>&1
  for i in $(seq 0 $((n - 1))); do
    ports+=("$(free_port)"); dirs+=("$WORK/$label-$i")
    LUCARNE_LOG=warn "$BIN" serve --site-rate-limit 1000000 --listen "127.0.0.1:${ports[$i]}" --data "${dirs[$i]}" --events "$events_url" \
      --meta "$meta_url" --node-id "$label-$i" --trusted-proxy 127.0.0.1 2>>"$WORK/log-$label-$i.txt" & PIDS+=($!); pids+=($!)
  done
  for i in $(seq 0 $((n - 1))); do wait_http "http://127.0.0.1:${ports[$i]}/api/health"; done
  echo
  echo "### Ingest, $n node(s) on $label (ClickHouse + PostgreSQL), $( [ "$n" = 1 ] && echo "$LOADGEN -t$THREADS -c$CONNECTIONS" || echo "one $LOADGEN -t1 -c$((CONNECTIONS / n)) per node, at once") -d${DURATION}s"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo '```'
  for i in $(seq 0 $((n - 1))); do
    if [ "$n" = 1 ]; then
      run_wrk "http://127.0.0.1:${ports[$i]}" > "$WORK/wrk-$label-$i.txt" &
    else
      load ingest "http://127.0.0.1:${ports[$i]}" 1 "$((CONNECTIONS / n))" "$i" > "$WORK/wrk-$label-$i.txt" &
    fi
    outs+=($!)
  done
  for p in "${outs[@]}"; do wait "$p"; done
  sleep 1 # requests still in flight when wrk stopped are answered (and counted) meanwhile
  local total=0 accepted=0 a
  for i in $(seq 0 $((n - 1))); do
    echo "node $i:"
    sed -n '/Latency Distribution/,$p' "$WORK/wrk-$label-$i.txt"
    total="$(python3 -c "print($total + $(awk '/Requests\/sec/{print $2}' "$WORK/wrk-$label-$i.txt"))")"
    a="$(curl -s "http://127.0.0.1:${ports[$i]}/metrics" | awk '/^lucarne_events_accepted_total/{print $2}')"
    curl -s "http://127.0.0.1:${ports[$i]}/metrics" | grep -E '^lucarne_(events_(accepted|dropped)|shared_visit_)' | sed "s/^/  node $i: /" || true
    accepted=$((accepted + ${a:-0}))
  done
  echo '```'
  echo "acknowledged events/s, all nodes: $total; acknowledged events: $accepted; load after: $(cut -d' ' -f1-3 /proc/loadavg)"
  for p in "${pids[@]}"; do kill -TERM "$p"; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  local key stored=()
  key="$("$BIN" key create --data "${dirs[0]}" --events "$events_url" --meta "$meta_url" 2>/dev/null | tail -1)"
  pids=()
  for i in $(seq 0 $((n - 1))); do
    LUCARNE_LOG=warn "$BIN" serve --site-rate-limit 1000000 --listen "127.0.0.1:${ports[$i]}" --data "${dirs[$i]}" --events "$events_url" \
      --meta "$meta_url" --node-id "$label-$i" 2>>"$WORK/log-$label-$i.txt" & PIDS+=($!); pids+=($!)
  done
  for i in $(seq 0 $((n - 1))); do
    wait_http "http://127.0.0.1:${ports[$i]}/api/health"
    stored+=("$(curl -s -H "Authorization: Bearer $key" "http://127.0.0.1:${ports[$i]}/api/v1/stats/aggregate?site_id=bench.test&period=day&metrics=events,visits,visitors" | python3 -c 'import sys,json; r=json.load(sys.stdin)["results"]; print("%s events, %s visits, %s visitors" % (r["events"]["value"], r["visits"]["value"], r["visitors"]["value"]))')")
  done
  for i in $(seq 0 $((n - 1))); do echo "after a restart, node $i's stats API: ${stored[$i]} (acknowledged: $accepted)"; done
  # Duplicates? Each row carries its node and spool position (load_node, load_seq).
  local h="${events_url#clickhouse://}" db="${events_url##*/}"
  h="${h%%[,/]*}"; db="${db%%\?*}"
  echo "in ClickHouse: $(curl -s "http://$h/?database=$db" --data-binary "SELECT concat(toString(count()), ' rows, ', toString(uniqExact(load_node, load_seq)), ' distinct (node, spool position)') FROM events")"
  for p in "${pids[@]}"; do kill -TERM "$p"; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for i in $(seq 0 $((n - 1))); do
    echo "node $i's log: $(grep -c ' WARN ' "$WORK/log-$label-$i.txt" || true) warnings, $(grep -c ' ERROR ' "$WORK/log-$label-$i.txt" || true) errors; $(grep -c 'deadlock detected' "$WORK/log-$label-$i.txt" || true) 'deadlock detected' (shared visits written back), $(grep -c 'slow statement' "$WORK/log-$label-$i.txt" || true) slow PostgreSQL statements (> 1 s)"
  done
}

CH_HOST1="${CH1#clickhouse://}"; CH_HOST1="${CH_HOST1%%/*}"
CH1_DB="${CH1%/lucarne}"
pg_database ingest1; ingest_nodes 1 "$CH1_DB/ingest1" "$PG_URL" one-node
pg_database ingest2; ingest_nodes 2 "$CH1_DB/ingest2" "$PG_URL" two-nodes
start_clickhouse 2 "$WORK/ch-cluster"; CH2="$CH_URL"
pg_database ingest3; ingest_nodes 2 "${CH2/\/lucarne?/\/ingest3?}" "$PG_URL" two-nodes-two-shards
stop_servers
fi

# One GET, RUNS_HTTP times, against the server on port P9: the median and the slowest
# of curl's time_total (the server's answer time on loopback).
time_get() { # label, path, extra curl args…
  local label="$1" path="$2"; shift 2
  local t=() code
  for _ in $(seq "$RUNS_HTTP"); do
    read -r code secs < <(curl -s -o /dev/null -w '%{http_code} %{time_total}\n' "$@" "http://127.0.0.1:$P9$path")
    [ "$code" = 200 ] || { echo "$label: HTTP $code"; return; }
    t+=("$secs")
  done
  printf '%s\n' "${t[@]}" | sort -n | awk -v l="$label" '{a[NR]=$1} END {printf "%-62s median %7.0f ms, max %7.0f ms\n", l, a[int((NR+1)/2)]*1000, a[NR]*1000}'
}
PUB_PW='bench password 0123456789'
RUNS_HTTP="${RUNS_HTTP:-5}"
if want 9; then
# 9. Publisher scale (issue 20): PUB_EVENTS (default 10 million) in one 30-day window,
# every dashboard page over real HTTP as a logged-in owner and the stats API with a key,
# RUNS_HTTP (default 5) requests each, the median and the slowest of the server's answer
# time (curl's time_total on loopback). On each of PUB_BACKENDS (default: the embedded
# DuckDB, then one ClickHouse server from Debian's package, bench/servers.sh): with
# rollups, then the same data with LUCARNE_ROLLUPS=off (raw events only; on ClickHouse,
# where a raw page takes tens of seconds, only the 30-day overview and two API calls).
PUB_EVENTS="${PUB_EVENTS:-10000000}"
PUB_BACKENDS="${PUB_BACKENDS:-duckdb clickhouse}"
PUB_TZ="${PUB_TZ:-Pacific/Kiritimati}"
PUB_TODAY="${PUB_TODAY:-700000}"
for PUB_BACKEND in $PUB_BACKENDS; do
PUBD="$WORK/pub-$PUB_BACKEND"
EVENV=()
PUB_LABEL="the embedded DuckDB"
if [ "$PUB_BACKEND" = clickhouse ]; then
  source bench/servers.sh
  start_clickhouse 1 "$WORK/ch-pub"
  EVENV=(LUCARNE_EVENTS="$CH_URL")
  PUB_LABEL="ClickHouse $(dpkg-query -W -f '${Version}' clickhouse-server 2>/dev/null || echo '?') (one server)"
fi
echo
echo "### Publisher scale: $PUB_EVENTS events in 30 days on $PUB_LABEL, every page over HTTP (logged in), $RUNS_HTTP runs each"
echo '```'
lu() { env "${EVENV[@]}" "$BIN" "$@"; }
# The site's zone: whatever the time of day, its current day began at least 10 hours ago
# (UTC+14), so the raw part of a range into today is a real day's worth of rows.
lu site add bench.test --timezone "$PUB_TZ" --data "$PUBD" >/dev/null
/usr/bin/time -f "generate: %e s wall, %M KB max RSS" env "${EVENV[@]}" "$BIN" generate --data "$PUBD" --site bench.test --events "$PUB_EVENTS" --days 30 2>&1 | grep -E 'stored|generate:'
printf '%s\n' "$PUB_PW" | lu user add owner@bench.test --owner-of bench.test --data "$PUBD" >/dev/null
PUB_KEY="$(lu key create --data "$PUBD" | tail -1)"
# The Conversions tab with goals (the generator's purchases and signups, a page goal).
lu goal add bench.test --event purchase --data "$PUBD" >/dev/null
lu goal add bench.test --event signup --data "$PUBD" >/dev/null
lu goal add bench.test --page /checkout --data "$PUBD" >/dev/null
# The rollups reports read (ARCHITECTURE.md, "Reports at publisher scale"), built before
# the server starts, as `lucarne rollup` does after an upgrade or an import.
/usr/bin/time -f "lucarne rollup: %e s wall, %M KB max RSS" env "${EVENV[@]}" "$BIN" rollup --data "$PUBD" 2>&1 | grep -E 'rolled up|rollup:'
JAR="$WORK/pub-cookies"
P9="$(free_port)"
start_pub() { # extra environment for the server…
  P9="$(free_port)"
  env LUCARNE_LOG=warn "${EVENV[@]}" "$@" "$BIN" serve --listen "127.0.0.1:$P9" --data "$PUBD" & PIDS+=($!)
  wait_http "http://127.0.0.1:$P9/api/health"
  local pre
  pre="$(curl -s -c "$JAR" "http://127.0.0.1:$P9/login" | grep -o 'name="csrf" value="[^"]*"' | head -1 | sed 's/.*value="//; s/"$//')"
  curl -s -b "$JAR" -c "$JAR" -o /dev/null --data-urlencode "csrf=$pre" --data-urlencode "email=owner@bench.test" \
    --data-urlencode "password=$PUB_PW" --data-urlencode "next=/sites" "http://127.0.0.1:$P9/login"
}
stop_pub() { kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true; unset 'PIDS[-1]'; }
measure_pub() { # "all", or "few" (the 30-day overview and two API calls)
  S=/sites/bench.test
  D="date=$LAST"
  local pages=("$S?period=30d&$D") apis
  A="/api/v1/stats"
  apis=("$A/aggregate?site_id=bench.test&period=30d&$D&metrics=visitors,visits,pageviews,bounce_rate,visit_duration,dark_share"
        "$A/breakdown?site_id=bench.test&period=30d&$D&property=visit:channel&metrics=visitors,visits,dark_share")
  if [ "$1" = into-today ]; then
    pages+=("$S?period=7d&$D" "$S?period=30d&$D&f=visit:channel_group%3D%3Dprivate-message" "$S/conversions?period=30d&$D")
    apis+=("$A/conversions?site_id=bench.test&period=30d&$D")
  fi
  if [ "$1" = all ]; then
    pages+=("$S?period=7d&$D" "$S?period=30d&$D&f=visit:channel_group%3D%3Dprivate-message"
            "$S?period=30d&$D&f=visit:entry_page%3D%3D%2Fpricing" "$S?period=30d&$D&f=visit:utm_source%3D%3Dnewsletter"
            "$S?period=30d&$D&f=event:page%3D%3D%2Fpricing"
            "$S/shares?period=30d&$D" "$S/links?period=30d&$D" "$S/conversions?period=30d&$D")
    apis+=("$A/timeseries?site_id=bench.test&period=30d&$D"
           "$A/breakdown?site_id=bench.test&period=30d&$D&property=event:page&metrics=visitors,pageviews"
           "$A/aggregate?site_id=bench.test&period=30d&$D&metrics=visitors,visits,bounce_rate,visit_duration&filters=event:page%3D%3D%2Fpricing"
           "$A/shares?site_id=bench.test&period=30d&$D" "$A/conversions?site_id=bench.test&period=30d&$D"
           "$A/surveys?site_id=bench.test&period=30d&$D")
  fi
  for page in "${pages[@]}"; do
    time_get "GET ${page/&$D/}" "$page" -b "$JAR"
  done
  for api in "${apis[@]}"; do
    label="GET ${api%%\?*}"
    case "$api" in *property=*) prop="${api##*property=}"; label="$label ${prop%%&*}";; esac
    time_get "$label" "$api" -H "Authorization: Bearer $PUB_KEY"
  done
}
start_pub
# Every window ends on the last day with events (the generator stops at PUB_EVENTS,
# which can be before its 30 days are over).
LAST="$(curl -s -H "Authorization: Bearer $PUB_KEY" "http://127.0.0.1:$P9/api/v1/stats/timeseries?site_id=bench.test&period=12mo&interval=date" \
  | python3 -c 'import json,sys; print([r["date"] for r in json.load(sys.stdin)["results"] if r["visitors"]][-1][:10])')"
echo "window: the 30 days ending $LAST"
echo "-- with rollups (closed days from rollups, today raw):"
measure_pub all
stop_pub
echo "-- baseline, same data: LUCARNE_ROLLUPS=off (raw events only):"
start_pub LUCARNE_ROLLUPS=off
if [ "$PUB_BACKEND" = clickhouse ]; then measure_pub few; else measure_pub all; fi
stop_pub
# Into today: PUB_TODAY more events over the last two days (a publisher's daily rate),
# their closed UTC days rolled up; the 30 days ending today read today's rows raw. The
# slowest of the runs is the first, before the settled part of today is kept (DuckDB).
env "${EVENV[@]}" "$BIN" generate --data "$PUBD" --site bench.test --events "$PUB_TODAY" --days 2 2>&1 | grep -E 'stored'
env "${EVENV[@]}" "$BIN" rollup --data "$PUBD" 2>&1 | grep -E 'rolled up'
start_pub
TODAY="$(TZ="$PUB_TZ" date +%F)"
LAST="$TODAY"
echo "-- into today ($TODAY in $PUB_TZ, $(TZ="$PUB_TZ" date +%H:%M) there), with rollups; today so far:"
curl -s -H "Authorization: Bearer $PUB_KEY" "http://127.0.0.1:$P9/api/v1/stats/aggregate?site_id=bench.test&period=day&date=$TODAY&metrics=visitors,visits,pageviews,events" \
  | python3 -c 'import json,sys; r=json.load(sys.stdin)["results"]; print(", ".join(k + " " + str(v["value"]) for k, v in r.items()))'
measure_pub into-today
stop_pub
echo '```'
if [ "$PUB_BACKEND" = clickhouse ]; then stop_servers; SERVER_PIDS=(); fi
rm -rf "$PUBD"
done
fi

if want 10; then
# 10. A year at publisher scale (issue 20): YEAR_EVENTS (default 100 million) events
# generated over 12 months into the embedded DuckDB (about YEAR_EVENTS, the 365 days
# filled up to now; until 2026-12-07 the generator stopped at YEAR_EVENTS after about 292
# days, as the figures of that date say), every closed day rolled up (timed), then the
# 12-month and 30-day overviews (unfiltered and filtered by a channel group) over
# HTTP as a logged-in owner and the stats API's 12-month aggregate and timeseries with a
# key, RUNS_HTTP runs each. YEAR_DATA keeps the store in a directory of your choice
# (default: the run's scratch directory, removed at the end).
YEAR_EVENTS="${YEAR_EVENTS:-100000000}"
YD="${YEAR_DATA:-$WORK/year}"
echo
echo "### A year at publisher scale: $YEAR_EVENTS events over 12 months on the embedded DuckDB, over HTTP (logged in), $RUNS_HTTP runs each"
echo '```'
"$BIN" site add bench.test --data "$YD" >/dev/null
/usr/bin/time -f "generate: %e s wall, %M KB max RSS" "$BIN" generate --data "$YD" --site bench.test --events "$YEAR_EVENTS" --days 365 2>&1 | grep -E 'stored|generate:'
printf '%s\n' "$PUB_PW" | "$BIN" user add owner@bench.test --owner-of bench.test --data "$YD" >/dev/null
YEAR_KEY="$("$BIN" key create --data "$YD" | tail -1)"
/usr/bin/time -f "lucarne rollup: %e s wall, %M KB max RSS" "$BIN" rollup --data "$YD" 2>&1 | grep -E 'rolled up|rollup:'
echo "on disk: $(du -sb "$YD" | cut -f1) bytes"
P9="$(free_port)"
LUCARNE_LOG=warn "$BIN" serve --listen "127.0.0.1:$P9" --data "$YD" & PIDS+=($!)
wait_http "http://127.0.0.1:$P9/api/health"
JAR="$WORK/year-cookies"
pre="$(curl -s -c "$JAR" "http://127.0.0.1:$P9/login" | grep -o 'name="csrf" value="[^"]*"' | head -1 | sed 's/.*value="//; s/"$//')"
curl -s -b "$JAR" -c "$JAR" -o /dev/null --data-urlencode "csrf=$pre" --data-urlencode "email=owner@bench.test" \
  --data-urlencode "password=$PUB_PW" --data-urlencode "next=/sites" "http://127.0.0.1:$P9/login"
# Windows end on the last day with events.
LAST="$(curl -s -H "Authorization: Bearer $YEAR_KEY" "http://127.0.0.1:$P9/api/v1/stats/timeseries?site_id=bench.test&period=12mo&interval=date" \
  | python3 -c 'import json,sys; print([r["date"] for r in json.load(sys.stdin)["results"] if r["visitors"]][-1][:10])')"
echo "windows end on $LAST; the 12 months hold $(curl -s -H "Authorization: Bearer $YEAR_KEY" "http://127.0.0.1:$P9/api/v1/stats/aggregate?site_id=bench.test&period=12mo&date=$LAST&metrics=events" | python3 -c 'import json,sys; print(json.load(sys.stdin)["results"]["events"]["value"])') events"
S=/sites/bench.test
for q in "period=12mo" "period=30d" "period=12mo&f=visit:channel_group%3D%3Dprivate-message" "period=30d&f=visit:channel_group%3D%3Dprivate-message"; do
  time_get "GET $S?$q" "$S?$q&date=$LAST" -b "$JAR"
done
A="/api/v1/stats"
time_get "GET $A/aggregate (12 months)" "$A/aggregate?site_id=bench.test&period=12mo&date=$LAST&metrics=visitors,visits,pageviews,bounce_rate,visit_duration,dark_share" -H "Authorization: Bearer $YEAR_KEY"
time_get "GET $A/timeseries (12 months, by month)" "$A/timeseries?site_id=bench.test&period=12mo&date=$LAST&interval=month" -H "Authorization: Bearer $YEAR_KEY"
time_get "GET $A/breakdown visit:channel (12 months)" "$A/breakdown?site_id=bench.test&period=12mo&date=$LAST&property=visit:channel&metrics=visitors,visits,dark_share" -H "Authorization: Bearer $YEAR_KEY"
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true; unset 'PIDS[-1]'
echo '```'
fi

if want 8; then
echo "### Attacks on the real binary (issue 17), as the tests measure them"
echo '```'
cargo test --locked -q -p lucarne --test security --test slow_clients -- --nocapture --test-threads 1 \
  a_login_flood forged_tokens a_flood_of_distinct a_flood_of_unknown stalled slowloris idle 2>&1 \
  | grep -oE '(login flood|pageview p99|distinct-visitor flood|2,000 unknown slugs|1,000 stalled|/api/health under|stalled|slowloris|idle keep-alive|probe behind).*' || true
echo '```'
fi
