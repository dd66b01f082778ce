#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs, then checks
# formatting, lints, and runs every test (unit, integration, real-browser, durability).
set -euo pipefail
cd "$(dirname "$0")/.."

# One target directory outside the clone, kept between runs on the same machine, so the
# bundled DuckDB C++ build (about 23 minutes cold) happens once.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lucarne/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
mkdir -p "$CARGO_TARGET_DIR"

bash scripts/install-test-deps.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT
set +e
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$LOG"
STATUS=${PIPESTATUS[0]}
# The router tests again on the scale-out back ends: ClickHouse for events, PostgreSQL
# for metadata (real servers on free loopback ports, started and stopped by the tests).
# The test binaries of lucarne-server the step above built are run again, from the
# package's directory as cargo runs them: `cargo test -p lucarne-server` would resolve
# some dependencies' features for that package alone and compile about twenty crates
# again (6 minutes of a cold run).
echo "== cargo test (router tests on ClickHouse + PostgreSQL)"
SCALE_STATUS=0
SERVER_TESTS="$(cargo test --workspace --locked --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") \
            and m["profile"]["test"] and m["target"]["src_path"].startswith(sys.argv[1]):
        print(m["executable"])' "$PWD/crates/server/")"
if [ -z "$SERVER_TESTS" ]; then
  echo "no lucarne-server test binaries found" | tee -a "$LOG"
  SCALE_STATUS=1
fi
for t in $SERVER_TESTS; do
  echo "     Running $(basename "$t") (LUCARNE_TEST_BACKEND=scale)"
  (cd crates/server && LUCARNE_TEST_BACKEND=scale "$t") 2>&1 | tee -a "$LOG"
  if [ "${PIPESTATUS[0]}" -ne 0 ]; then SCALE_STATUS=1; fi
done
if [ "$STATUS" -eq 0 ]; then STATUS=$SCALE_STATUS; fi
# Dependencies: licences, sources, wildcards (deny.toml), offline.
echo "== scripts/check-deps.sh (cargo-deny: licenses, bans, sources)"
if bash scripts/check-deps.sh; then
  echo "test result: ok. 1 passed; 0 failed (scripts/check-deps.sh)" | tee -a "$LOG"
else
  echo "test result: FAILED. 0 passed; 1 failed (scripts/check-deps.sh)" | tee -a "$LOG"
  STATUS=1
fi
# The systemd unit, against the binary the tests just built (packaging/check-systemd.sh).
echo "== packaging/lucarne.service (systemd-analyze verify, security; the binary from its ExecStart)"
bash packaging/check-systemd.sh "$CARGO_TARGET_DIR/debug/lucarne"
UNIT_STATUS=$?
if [ "$UNIT_STATUS" -eq 0 ]; then
  echo "test result: ok. 1 passed; 0 failed (packaging/check-systemd.sh)" | tee -a "$LOG"
else
  echo "test result: FAILED. 0 passed; 1 failed (packaging/check-systemd.sh)" | tee -a "$LOG"
  if [ "$STATUS" -eq 0 ]; then STATUS=$UNIT_STATUS; fi
fi
set -e
# One closing line for the whole suite (cargo prints one per test binary, the last of
# which is often a doc-test run with nothing in it).
PASSED=$(grep -Eo '^test result: [a-zA-Z]+\. [0-9]+ passed' "$LOG" | awk '{s+=$4} END {print s+0}')
FAILED=$(grep -Eo '[0-9]+ failed;' "$LOG" | awk '{s+=$1} END {print s+0}')
echo "total: ${PASSED} passed, ${FAILED} failed"
exit "$STATUS"
