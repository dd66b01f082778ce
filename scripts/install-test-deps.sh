#!/usr/bin/env bash
# Installs what Lucarne's integration tests need on Debian 12 (bookworm).
# Idempotent: each section installs only what is missing (root is needed only then),
# then prints versions.
#
#   sudo scripts/install-test-deps.sh
#
# Sections: browser (tests/browser.rs). Add one function per dependency below and call
# it from main.
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

# install_clickhouse() { ... }   # events store, ClickHouse back end
# install_postgresql() { ... }   # metadata store, PostgreSQL back end

main() {
    install_browser
    install_maxmind_writer
}

main "$@"
