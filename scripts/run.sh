#!/usr/bin/env bash
# Run Lucarne on the embedded default (DuckDB + SQLite in ./lucarne-data).
#   ./scripts/run.sh                 serve on 127.0.0.1:8080
#   ./scripts/run.sh --demo          demo site with months of synthetic traffic
#   ./scripts/run.sh <any lucarne command and flags>, e.g. site add example.com
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lucarne/target}"
if [[ "${1:-}" == "--demo" ]]; then
  shift
  exec cargo run --locked -q -p lucarne -- demo "$@"
elif [[ $# -eq 0 || "${1:-}" == --* ]]; then
  exec cargo run --locked -q -p lucarne -- serve "$@"
else
  exec cargo run --locked -q -p lucarne -- "$@"
fi
