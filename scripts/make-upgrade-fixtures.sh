#!/usr/bin/env bash
# Upgrade fixtures (issue 22): data directories written by every earlier schema version
# of the embedded default, with that version's own answers, for
# crates/lucarne/tests/upgrade.rs.
#
#   scripts/make-upgrade-fixtures.sh            every schema version (about 20 builds)
#   scripts/make-upgrade-fixtures.sh COMMIT…    only these (e.g. the commit that added a
#                                               migration: run it once, commit the archive)
#
# A schema version is a commit that added a file under crates/store/migrations/duckdb or
# crates/store/migrations/sqlite. For each, this script
#   1. makes a git worktree of the commit ($WORK/wt), puts the repository's current
#      Cargo.lock in it (and a rust-toolchain.toml pinning 1.95.0 when the commit has
#      none), so DuckDB's C++ (libduckdb-sys, the same version in every commit) is not
#      compiled again, and builds that commit's `lucarne` (`cargo build -p lucarne`, with
#      CARGO_TARGET_DIR, default ~/.cache/lucarne/target-upgrade); when that fails, with
#      the commit's own Cargo.lock. When the commit has no working binary (it does not
#      compile, or its `lucarne generate` fails), the next commits with the same
#      migrations are tried, and the fixture is that of the first that works (meta.json
#      says so); when none does, the schema version is skipped (said at the end, and in
#      $WORK/skipped.txt);
#   2. with that binary writes a small data directory: `lucarne generate` ($EVENTS events
#      over $DAYS days ending now, seed $SEED, site $SITE), an API key (`lucarne key
#      create`), where the version has them a goal (`lucarne goal add`, else the goals
#      API) and a short link (`lucarne link create`), and its rollups (`lucarne rollup`);
#   3. starts that binary's server on a free loopback port and saves its answers to the
#      stats API for a fixed, closed period (the $DAYS-1 whole UTC days before the day it
#      ran): aggregate, timeseries, breakdowns by visit:source, event:page and
#      visit:channel, and where they exist the conversions report, goals and links. Each
#      report asks for the most of visitors, visits, pageviews and events that version
#      accepts: counts, exact whether a report reads raw events or rollups (bounce rate and
#      visit duration are not: rollups end a visit at UTC midnight, README "Rollups").
#      Then SIGTERM, and a wait for the process to end, so nothing is left in the spool;
#   4. packs crates/lucarne/tests/fixtures/upgrade/<NN>-<shortsha>.tar.gz (the commit
#      whose binary wrote it; NN is the schema version's rank, oldest first): data/ (the data
#      directory), expected.json (the answers and the exact requests) and meta.json
#      (commit, date, migration numbers, command lines, the period, the key, and the
#      metrics the test must not compare, with the commit whose fix changed them: see
#      EXCLUDED below).
#
# Needs git, cargo, curl, python3, tar and gzip; network only for cargo (crates an old
# commit needs that the current lock lacks). Environment: WORK (default
# /tmp/lucarne-upgrade), CARGO_TARGET_DIR, EVENTS (2000: archives of 60 to 340 KB, the
# larger for versions with more rollup tables; fewer events hardly shrink those), DAYS (6:
# the test rebuilds each day's rollups, ~1.5 s a day), SEED (22),
# ALLOW_DUCKDB_BUILD=1 to let a build compile DuckDB's C++ (else it is stopped within
# seconds: a recompile takes 40 minutes on 2 cores and means the lock or the toolchain
# differs from the one the target directory was built with), REBUILD=1 to build again
# the binaries an earlier run kept in $WORK/bin (a full run from them takes 2 minutes;
# each build, once the target directory holds DuckDB, 1 to 4).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lucarne/target-upgrade}"
WORK="${WORK:-/tmp/lucarne-upgrade}"
EVENTS="${EVENTS:-2000}"
DAYS="${DAYS:-6}"
SEED="${SEED:-22}"
SITE="upgrade.example"
OUT="$ROOT/crates/lucarne/tests/fixtures/upgrade"
WT="$WORK/wt"
mkdir -p "$WORK/bin" "$OUT"
: >"$WORK/skipped.txt"

# Metrics whose definition a later release changed on purpose (a bug fix): not compared
# for fixtures written before the fix. One line each: FIX_COMMIT REPORT METRIC REASON…
# (REPORT is a report name of expected.json, or * for all; METRIC a field of its answer).
EXCLUDED=$(cat <<'EOF'
cb12cb3 * visitors Visitors were DuckDB's HyperLogLog estimate (approx_count_distinct: off by a few percent at this size, even above visits); since cb12cb3 a report with fewer than 50,000 distinct visitors counts them exactly.
EOF
)

# Every schema version, oldest first.
mapfile -t VERSIONS < <(git log --reverse --diff-filter=A --format=%H -- \
  crates/store/migrations/duckdb crates/store/migrations/sqlite)
if [[ $# -gt 0 ]]; then
  WANTED=()
  for c in "$@"; do WANTED+=("$(git rev-parse --verify "$c^{commit}")"); done
else
  WANTED=("${VERSIONS[@]}")
fi

rank() { # the 1-based position of a commit in VERSIONS, two digits
  local i
  for i in "${!VERSIONS[@]}"; do
    if [[ "${VERSIONS[$i]}" == "$1" ]]; then printf '%02d' $((i + 1)); return; fi
  done
  echo "$1 is not a commit that added a migration" >&2
  return 1
}

remove_worktree() {
  if [[ -e "$WT" ]]; then git worktree remove --force "$WT"; fi
  git worktree prune
}

# `cargo build -p lucarne` in the worktree, in its own process group so it can be
# stopped whole. Stopped as soon as it starts compiling libduckdb-sys (unless allowed).
build() {
  local log="$1" pid status
  : >"$log" # before the build starts, so that no earlier log is read
  (cd "$WT" && exec setsid nice -n 10 cargo build -v -p lucarne) >>"$log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    if [[ "${ALLOW_DUCKDB_BUILD:-0}" != 1 ]] && grep -q "Compiling libduckdb-sys" "$log"; then
      kill -TERM -- "-$pid" 2>/dev/null || true
      wait "$pid" || true
      echo "  stopped: the build started compiling DuckDB's C++; cargo says why:" >&2
      grep -E "Dirty|libduckdb-sys" "$log" | head -20 >&2
      return 2
    fi
    sleep 2
  done
  status=0
  wait "$pid" || status=$?
  return "$status"
}

# DuckDB's build script depends on serde, whose derive macro depends on syn: when the
# proc-macros of a commit unify syn's features differently from the current tree's, the
# build script (and so DuckDB's C++) compiles again. The one proc-macro crate the current
# tree has and earlier commits lack is async-trait (through lettre, since 15d9120; it asks
# for syn's visit-mut): it is added to the worktree's `lucarne` crate, unused, only to
# align syn's features. (`cargo tree` does not show the features a build unifies, so the
# build itself is watched: see build.)
align_host_features() {
  if ! git -C "$WT" show HEAD:Cargo.lock | grep -q '^name = "async-trait"$'; then
    sed -i 's/^\[dependencies\]$/[dependencies]\nasync-trait = "0.1"/' "$WT/crates/lucarne/Cargo.toml"
    build_note="async-trait added to crates/lucarne/Cargo.toml (aligns syn's features with the current tree's)"
  fi
}

# The commit, then (when it does not build, or its `generate` fails) up to six later
# commits on the way to the next schema version whose migrations are the same.
candidates() {
  local next="" i
  for i in "${!VERSIONS[@]}"; do
    if [[ "${VERSIONS[$i]}" == "$1" && -n "${VERSIONS[$((i + 1))]:-}" ]]; then next="${VERSIONS[$((i + 1))]}"; fi
  done
  echo "$1"
  git rev-list --reverse --first-parent "$1..${next:-HEAD}" | while read -r c; do
    [[ "$c" == "$next" ]] && break
    git diff --quiet "$1" "$c" -- crates/store/migrations || break
    echo "$c"
  done | head -6
}

# Builds `lucarne` at a commit in a fresh worktree: with the current Cargo.lock, else
# with the commit's own; the binary is kept as $WORK/bin/lucarne-SHORT (with what its
# build needed in .note) and used again by later runs unless REBUILD=1. Sets bin, lock,
# build_note, why; 0 when the binary works. Exits the script when a build with the
# current lock starts compiling DuckDB.
try_build() {
  local c="$1" cshort status log
  cshort="$(git rev-parse --short=7 "$c")"
  log="$WORK/build-$cshort.log"
  bin="$WORK/bin/lucarne-$cshort"
  if [[ -x "$bin" && -e "$bin.note" && "${REBUILD:-0}" != 1 ]]; then
    lock="$(sed -n 1p "$bin.note")"
    build_note="$(sed -n 2p "$bin.note")"
    echo "  $cshort: the binary of an earlier run ($bin)"
  else
    remove_worktree
    git worktree add --quiet --detach "$WT" "$c"
    lock="current"
    build_note=""
    cp "$ROOT/Cargo.lock" "$WT/Cargo.lock"
    [[ -e "$WT/rust-toolchain.toml" ]] || printf '[toolchain]\nchannel = "1.95.0"\nprofile = "minimal"\n' >"$WT/rust-toolchain.toml"
    align_host_features
    status=0
    build "$log" || status=$?
    if [[ "$status" == 2 ]]; then exit 1; fi
    if [[ "$status" != 0 ]]; then
      why="$(grep -E '^error' "$log" | head -2 | tr '\n' ' ')"
      echo "  $cshort does not build with the current Cargo.lock ($why); trying its own"
      git -C "$WT" checkout -- Cargo.lock
      lock="own"
      status=0
      build "$log" || status=$?
      if [[ "$status" == 2 ]]; then why="its own lock compiles DuckDB again; $why"; fi
    fi
    remove_worktree
    if [[ "$status" != 0 ]]; then
      [[ -n "$first_why" ]] || first_why="does not compile: $why"
      echo "  $cshort: no binary"
      return 1
    fi
    cp "$CARGO_TARGET_DIR/debug/lucarne" "$bin"
    printf '%s\n%s\n' "$lock" "$build_note" >"$bin.note"
  fi
  # A binary whose `generate` fails cannot write a fixture either (6fa6e5a's panicked:
  # two arguments named `events`, fixed by fb363c4).
  rm -rf "$WORK/smoke"
  if ! "$bin" generate --data "$WORK/smoke" --site smoke.example --events 10 --days 1 \
    </dev/null >"$log.generate" 2>&1; then
    why="its \`lucarne generate\` fails: $(grep -m1 -E 'panicked|rror' -A1 "$log.generate" | tr '\n' ' ')"
    [[ -n "$first_why" ]] || first_why="$why"
    echo "  $cshort: $why"
    return 1
  fi
  rm -rf "$WORK/smoke"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The highest migration number of a kind at the commit whose binary is used.
migration() {
  git ls-tree --name-only "$built" "crates/store/migrations/$1/" |
    sed -E 's|.*/0*([0-9]+)_.*|\1|' | sort -n | tail -1
}

server=""
on_exit() { # a failure leaves no server running and no worktree
  if [[ -n "$server" ]] && kill -0 "$server" 2>/dev/null; then kill -KILL "$server"; fi
  remove_worktree
}
trap on_exit EXIT

made=()
for commit in "${WANTED[@]}"; do
  nn="$(rank "$commit")"
  short="$(git rev-parse --short=7 "$commit")"
  name="$nn-$short"
  first_why=""
  echo "== $name: $(git log -1 --format='%ad %s' --date=short "$commit" | cut -c1-100)"
  started=$SECONDS

  # 1. The binary of that commit, or of the first commit after it with the same
  # migrations that builds and generates (2a29edc did not compile; 6fa6e5a's generate
  # panicked).
  built=""
  for candidate in $(candidates "$commit"); do
    if try_build "$candidate"; then built="$candidate"; break; fi
  done
  if [[ -z "$built" ]]; then
    echo "  SKIPPED: neither $short nor a later commit with its migrations builds: $why"
    echo "$name $commit does not build: $why" >>"$WORK/skipped.txt"
    remove_worktree
    continue
  fi
  bshort="$(git rev-parse --short=7 "$built")"
  [[ "$built" == "$commit" ]] || build_note="built from $bshort, the first commit after $short with the same migrations whose binary works ($short: $first_why)${build_note:+; $build_note}"
  duckdb_m="$(migration duckdb)"
  sqlite_m="$(migration sqlite)"
  echo "  binary of $bshort ready in $((SECONDS - started)) s (lock: $lock; DuckDB migration $duckdb_m, SQLite $sqlite_m)"

  # 2. A data directory written by it.
  stage="$WORK/stage-$name"
  rm -rf "$stage"
  mkdir -p "$stage"
  data="$stage/data"
  commands=()
  run() { # records the command line (data dir as DATA), runs it, prints its stdout
    local shown="lucarne"
    for a in "$@"; do shown+=" ${a//$data/DATA}"; done
    commands+=("$shown")
    "$bin" "$@" </dev/null
  }
  today="$(date -u +%F)"
  from="$(date -u -d "$today - $((DAYS - 1)) days" +%F)"
  to="$(date -u -d "$today - 1 day" +%F)"
  run generate --data "$data" --site "$SITE" --events "$EVENTS" --days "$DAYS" --seed "$SEED"
  run key create --name upgrade --data "$data" >"$stage/key.out"
  key="$(awk 'NF { last = $0 } END { print last }' "$stage/key.out" | tr -d '[:space:]')"
  goal=""
  if "$bin" goal --help >/dev/null 2>&1; then
    run goal add "$SITE" --event signup --name Signup --data "$data"
    goal="cli"
  fi
  if "$bin" link --help >/dev/null 2>&1; then
    run link create "https://$SITE/pricing" --slug upgrade-pricing --campaign upgrade --site "$SITE" --data "$data"
  fi
  if "$bin" rollup --help >/dev/null 2>&1; then
    run rollup --data "$data"
  fi

  # 3. Its answers.
  port="$(free_port)"
  "$bin" serve --listen "127.0.0.1:$port" --data "$data" </dev/null >"$WORK/serve-$name.log" 2>&1 &
  server=$!
  for _ in $(seq 1 300); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$port/api/health" 2>/dev/null; then break; fi
    if ! kill -0 "$server" 2>/dev/null; then cat "$WORK/serve-$name.log" >&2; exit 1; fi
    sleep 0.1
  done
  curl -fsS -o /dev/null "http://127.0.0.1:$port/api/health" ||
    { echo "  the server is not healthy after 30 s" >&2; cat "$WORK/serve-$name.log" >&2; exit 1; }
  commands+=("lucarne serve --listen 127.0.0.1:PORT --data DATA")
  printf '%s\n' "${commands[@]}" >"$stage/commands.txt"
  printf '%s\n' "$EXCLUDED" >"$stage/excluded.txt"
  status=0
  BASE="http://127.0.0.1:$port" KEY="$key" SITE="$SITE" FROM="$from" TO="$to" GOAL="$goal" \
    STAGE="$stage" COMMIT="$built" SCHEMA_COMMIT="$commit" SHORT="$bshort" NAME="$name" LOCK="$lock" \
    BUILD_NOTE="$build_note" DUCKDB_M="$duckdb_m" SQLITE_M="$sqlite_m" EVENTS="$EVENTS" DAYS="$DAYS" SEED="$SEED" \
    VERSION_LINE="$("$bin" --version)" ROOT="$ROOT" \
    python3 - <<'PY' || status=$?
import json, os, subprocess, urllib.error, urllib.request

env = os.environ
base, key, site = env["BASE"], env["KEY"], env["SITE"]
period = f"period=custom&date={env['FROM']},{env['TO']}"
stage = env["STAGE"]


def call(method, path, body=None):
    req = urllib.request.Request(base + path, method=method)
    req.add_header("Authorization", f"Bearer {key}")
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, data, timeout=60) as r:
            # Addresses the server gives (a short link's) name its port: the test's
            # differs, so both sides say {BASE}.
            return r.status, json.loads(r.read().decode().replace(base, "{BASE}") or "null")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


notes = []
if env["GOAL"] != "cli":
    status, body = call("POST", "/api/v1/goals",
                        {"site_id": site, "kind": "event", "event_name": "signup", "name": "Signup"})
    if status in (200, 201):
        notes.append("goal created through POST /api/v1/goals (this version's CLI has no `goal`)")
    else:
        notes.append(f"no goal: POST /api/v1/goals answered {status}")

METRICS = {
    "aggregate": ["visitors,visits,pageviews,events", "visitors,visits,pageviews"],
    "timeseries": ["visitors,visits,pageviews", "visitors,pageviews", "visitors"],
    "visit": ["visitors,visits,pageviews", "visitors,visits", "visitors"],
    "page": ["visitors,visits,pageviews", "visitors,pageviews", "visitors"],
}
SPECS = [
    ("aggregate", "aggregate", None, METRICS["aggregate"]),
    ("timeseries", "timeseries", "date", METRICS["timeseries"]),
    ("breakdown visit:source", "breakdown&property=visit:source", "source", METRICS["visit"]),
    ("breakdown event:page", "breakdown&property=event:page", "page", METRICS["page"]),
    ("breakdown visit:channel", "breakdown&property=visit:channel", "channel", METRICS["visit"]),
]
reports = []
for name, what, row_key, candidates in SPECS:
    endpoint, _, prop = what.partition("&")
    for metrics in candidates:
        path = f"/api/v1/stats/{endpoint}?site_id={site}&{period}&metrics={metrics}"
        if prop:
            path += f"&{prop}&limit=1000"
        status, body = call("GET", path)
        if status == 200:
            if isinstance(body.get("results"), list):
                assert len(body["results"]) < 1000, f"{name}: 1000 rows, raise the limit"
            reports.append({"name": name, "path": path, "row_key": row_key,
                            "metrics": metrics.split(","), "answer": body})
            break
        notes.append(f"{name} with metrics={metrics}: {status}")
    else:
        notes.append(f"{name}: not answered by this version")
for name, path in [
    ("conversions", f"/api/v1/stats/conversions?site_id={site}&{period}"),
    ("goals", f"/api/v1/goals?site_id={site}"),
    ("links", f"/api/v1/links?site_id={site}"),
]:
    status, body = call("GET", path)
    if status == 200:
        reports.append({"name": name, "path": path, "row_key": None, "metrics": None,
                        "answer": body})
    else:
        notes.append(f"{name}: {status}, not recorded")

agg = next(r for r in reports if r["name"] == "aggregate")["answer"]["results"]
assert agg["pageviews"]["value"] > 0, f"no pageviews in the period: {agg}"

excluded = []
for line in open(os.path.join(stage, "excluded.txt")):
    parts = line.split(None, 3)
    if len(parts) < 4:
        continue
    fix, report, metric, why = parts
    fix_full = subprocess.run(["git", "-C", env["ROOT"], "rev-parse", fix],
                              capture_output=True, text=True, check=True).stdout.strip()
    before_fix = subprocess.run(["git", "-C", env["ROOT"], "merge-base", "--is-ancestor",
                                 env["COMMIT"], fix_full]).returncode == 0
    if before_fix and fix_full != env["COMMIT"]:
        excluded.append({"report": report, "metric": metric, "fixed_by": fix_full[:7],
                         "why": why.strip()})

log = subprocess.run(["git", "-C", env["ROOT"], "log", "-1", "--format=%aI%n%s", env["COMMIT"]],
                     capture_output=True, text=True, check=True).stdout.split("\n", 1)
meta = {
    "commit": env["COMMIT"],
    "schema_commit": env["SCHEMA_COMMIT"],
    "short": env["SHORT"],
    "date": log[0],
    "subject": log[1].strip()[:200],
    "version": env["VERSION_LINE"],
    "duckdb_migration": int(env["DUCKDB_M"]),
    "sqlite_migration": int(env["SQLITE_M"]),
    "cargo_lock": env["LOCK"],
    "build_note": env["BUILD_NOTE"],
    "site": site,
    "key": key,
    "period": {"from": env["FROM"], "to": env["TO"]},
    "generated": {"events": int(env["EVENTS"]), "days": int(env["DAYS"]), "seed": int(env["SEED"])},
    "commands": [l for l in open(os.path.join(stage, "commands.txt")).read().splitlines() if l],
    "notes": notes,
    "excluded": excluded,
}
with open(os.path.join(stage, "expected.json"), "w") as f:
    json.dump({"site": site, "key": key, "reports": reports}, f, indent=1, sort_keys=True)
    f.write("\n")
with open(os.path.join(stage, "meta.json"), "w") as f:
    json.dump(meta, f, indent=1)
    f.write("\n")
for n in notes:
    print("  note:", n)
print(f"  recorded {len(reports)} reports for {env['FROM']}..{env['TO']}:",
      ", ".join(f"{m}={agg[m]['value']}" for m in ("visitors", "visits", "pageviews")))
PY
  kill -TERM "$server"
  for _ in $(seq 1 600); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$server" 2>/dev/null; then
    echo "  the server did not stop within 60 s of SIGTERM" >&2
    kill -KILL "$server"
    exit 1
  fi
  wait "$server" || true
  server=""
  [[ "$status" == 0 ]] || { echo "  recording the answers failed" >&2; exit 1; }
  rm -f "$stage/commands.txt" "$stage/excluded.txt" "$stage/key.out" "$data/admin.sock"

  # 4. The archive (reproducible order and owners).
  archive="$OUT/$nn-$bshort.tar.gz"
  rm -f "$OUT/$nn-"*.tar.gz
  tar -C "$stage" --sort=name --owner=0 --group=0 --numeric-owner \
    -cf - data expected.json meta.json | gzip -9n >"$archive"
  echo "  $archive: $(du -k "$archive" | cut -f1) KB, $((SECONDS - started)) s in all"
  made+=("$nn-$bshort")
  rm -rf "$stage"
  remove_worktree
done

echo "made ${#made[@]} fixture(s): ${made[*]:-none}"
if [[ -s "$WORK/skipped.txt" ]]; then
  echo "skipped (name them in README's Upgrades paragraph):"
  cat "$WORK/skipped.txt"
fi
