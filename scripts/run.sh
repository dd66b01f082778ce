#!/usr/bin/env bash
# Run Lucarne on the embedded default (DuckDB + SQLite in ./lucarne-data).
#   ./scripts/run.sh                 serve on 127.0.0.1:8080
#   ./scripts/run.sh --demo          demo site with months of synthetic traffic
#   ./scripts/run.sh <any lucarne command and flags>, e.g. site add example.com
# The first run builds Lucarne and DuckDB's C++ engine (tens of minutes on a small
# machine; see README "Quick start"); later runs start in seconds. The build directory
# is CARGO_TARGET_DIR (default ~/.cache/lucarne/target), kept between runs and shared
# with ./scripts/test.sh, so DuckDB is compiled once.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lucarne/target}"
BIN="$CARGO_TARGET_DIR/debug/lucarne"

# DuckDB's compiled library lives in the build directory once built.
if ! compgen -G "$CARGO_TARGET_DIR/debug/build/libduckdb-sys-*/out/libduckdb.a" >/dev/null; then
  cat >&2 <<'EOF'
lucarne: first build. Cargo compiles Lucarne and the DuckDB engine it embeds (about
300 C++ files). On a 2-core machine this took 30 to 42 minutes (measured 2026-12-07
and 2026-12-06); it is done once, later starts take seconds. The long step shows as
`libduckdb-sys(build)`.
EOF
  FIRST=1
else
  FIRST=0
fi

# Cargo's own progress bar on a terminal; elsewhere (a log, CI), a line a minute so that
# a long C++ step never looks hung.
ticker=""
if [[ "$FIRST" == 1 && ! -t 2 ]]; then
  (
    start=$SECONDS
    while sleep 60; do echo "lucarne: still building ($(((SECONDS - start) / 60)) min)…" >&2; done
  ) &
  ticker=$!
fi
status=0
cargo build --locked -p lucarne || status=$?
if [[ -n "$ticker" ]]; then kill "$ticker" 2>/dev/null || true; fi
[[ "$status" == 0 ]] || exit "$status"

if [[ "${1:-}" == "--demo" ]]; then
  shift
  exec "$BIN" demo "$@"
elif [[ $# -eq 0 || "${1:-}" == --* ]]; then
  exec "$BIN" serve "$@"
else
  exec "$BIN" "$@"
fi
