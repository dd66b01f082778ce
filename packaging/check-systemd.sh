#!/usr/bin/env bash
# Check packaging/lucarne.service (issue 22):
#   1. what the unit must keep (user, state directory, restart policy, stop timeout,
#      sandbox), so a later edit that drops one of them fails here;
#   2. `systemd-analyze verify` on a copy whose ExecStart points at a real binary (verify
#      insists that the binary exists): any message about the unit fails the check;
#   3. the binary accepts ExecStart's command line, and starts from it with no
#      configuration file at all (only the data directory swapped for a temporary one),
#      answers GET /api/health, and stops cleanly on SIGTERM within TimeoutStopSec;
#   4. `systemd-analyze security --offline=true` (systemd >= 252): fails above
#      MAX_EXPOSURE (the unit scores 1.1 "OK" with systemd 252).
#
# Usage: bash packaging/check-systemd.sh PATH/TO/lucarne
#   e.g. bash packaging/check-systemd.sh ~/.cache/lucarne/target/debug/lucarne
# Installs Debian's `systemd` package when systemd-analyze is missing (needs root and
# apt). Needs no running systemd: it works in a container.
set -euo pipefail

MAX_EXPOSURE=${MAX_EXPOSURE:-1.5}
# TimeoutStopSec must cover the server's drain on SIGTERM (5 + 1 + 10 + 30 s of bounded
# steps, then the final load and checkpoint: see the unit's comment).
MIN_STOP_SECS=60

here=$(cd "$(dirname "$0")" && pwd)
unit_src="$here/lucarne.service"
unit_name=lucarne.service

fail() {
	echo "check-systemd: FAIL: $*" >&2
	exit 1
}
note() { echo "check-systemd: $*"; }
indent() { sed 's/^/  | /'; }

[ $# -eq 1 ] || fail "usage: $0 PATH/TO/lucarne (a built binary)"
[ -f "$unit_src" ] || fail "$unit_src not found"
bin=$(realpath -e -- "$1" 2>/dev/null) || fail "no binary at $1"
[ -x "$bin" ] || fail "$bin is not executable"

if ! command -v systemd-analyze >/dev/null; then
	note "systemd-analyze missing: installing Debian's systemd package"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi
sd_version=$(systemd-analyze --version | awk 'NR == 1 { print $2 }')
note "systemd-analyze $sd_version, binary $bin"

tmp=$(mktemp -d)
server_pid=
cleanup() {
	if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
		kill -KILL "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# --- 1. What the unit must keep ---------------------------------------------------------
# Effective (uncommented) lines only.
lines=$(grep -Ev '^[[:space:]]*([#;]|$)' "$unit_src")
need() {
	grep -Eq -- "^$1\$" <<<"$lines" || fail "$unit_name: no line matching ^$1\$ ($2)"
}
need 'User=lucarne' 'a dedicated, static system user'
need 'StateDirectory=lucarne' 'the data directory /var/lib/lucarne, writable under ProtectSystem=strict'
need 'ExecStart=/usr/local/bin/lucarne serve --data /var/lib/lucarne( .*)?' 'serve the state directory'
need 'EnvironmentFile=-/etc/lucarne/lucarne\.env' 'optional configuration, secrets'
need 'Restart=on-failure' 'restart after a crash'
need 'RestartSec=[0-9]+s?' 'a pause between restarts'
need 'KillSignal=SIGTERM' 'the signal the server drains on'
need 'TimeoutStopSec=.+' 'room for the drain'
need 'ProtectSystem=strict' 'read-only file system but the state directory'
need 'ProtectHome=yes' 'no home directories'
need 'PrivateTmp=yes' 'a private /tmp'
need 'NoNewPrivileges=yes' 'no privilege gain'
need 'CapabilityBoundingSet=' 'no capabilities'
need 'MemoryDenyWriteExecute=yes' 'no W+X memory'
need 'SystemCallFilter=@system-service' 'system call allow list'
need 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' 'sockets the server needs, no others'
need 'UMask=0077' 'private files'
need 'LimitNOFILE=[0-9]+' 'descriptors for many connections'
# --config with a missing file is a start-up error: the TOML file is opt-in through the
# environment file, never on ExecStart.
if grep -Eq '^ExecStart=.*(--config|LUCARNE_CONFIG)' <<<"$lines"; then
	fail "$unit_name: ExecStart passes --config; lucarne refuses to start when the file is missing"
fi
if grep -Eq '^(Environment=.*LUCARNE_CONFIG|DynamicUser=yes)' <<<"$lines"; then
	fail "$unit_name: LUCARNE_CONFIG in Environment= (fails without the file) or DynamicUser=yes (see the unit's comment on User=)"
fi
stop=$(sed -nE 's/^TimeoutStopSec=//p' <<<"$lines" | tail -n 1)
if [[ $stop =~ ^([0-9]+)(s|sec)?$ ]]; then
	stop_secs=${BASH_REMATCH[1]}
elif [[ $stop =~ ^([0-9]+)min( ?([0-9]+)s)?$ ]]; then
	stop_secs=$((BASH_REMATCH[1] * 60 + ${BASH_REMATCH[3]:-0}))
else
	fail "$unit_name: TimeoutStopSec=$stop: not understood by this check (use e.g. 90s)"
fi
[ "$stop_secs" -ge "$MIN_STOP_SECS" ] ||
	fail "$unit_name: TimeoutStopSec=$stop is below the server's ${MIN_STOP_SECS}s of drain on SIGTERM"
note "unit content: ok (TimeoutStopSec ${stop_secs}s)"

# --- 2. systemd-analyze verify ----------------------------------------------------------
# The copy keeps the unit's name; only ExecStart's binary changes.
unit="$tmp/$unit_name"
sed -E "s#^ExecStart=/usr/local/bin/lucarne( |\$)#ExecStart=${bin}\\1#" "$unit_src" >"$unit"
grep -q "^ExecStart=${bin} " "$unit" || fail "could not point ExecStart at $bin"
set +e
verify_out=$(systemd-analyze verify "$unit" 2>&1)
verify_rc=$?
set -e
# Anything naming the unit (a bad key, a bad value, a missing binary) is a failure.
# Lines about other units or the host (a container without a running systemd may print
# some) are shown and ignored.
ours=$(grep -F -e "$unit_name" -e "$tmp" <<<"$verify_out" || true)
others=$(grep -v -F -e "$unit_name" -e "$tmp" <<<"$verify_out" | grep -v '^[[:space:]]*$' || true)
if [ -n "$others" ]; then
	note "systemd-analyze verify, ignored (not about $unit_name):"
	indent <<<"$others"
fi
if [ -n "$ours" ] || [ "$verify_rc" -ne 0 ]; then
	[ -n "$verify_out" ] && indent <<<"$verify_out" >&2
	fail "systemd-analyze verify: exit $verify_rc, messages about $unit_name above"
fi
note "systemd-analyze verify: ok (no message about $unit_name)"

# --- 3. The binary takes ExecStart's command line ---------------------------------------
# ExecStart's arguments after the binary (no quoting in them: the unit has none).
read -r -a exec_args <<<"$(sed -nE 's#^ExecStart=/usr/local/bin/lucarne ##p' <<<"$lines")"
# clap rejects an unknown flag before it prints help.
"$bin" "${exec_args[@]}" --help >"$tmp/help.txt" 2>&1 ||
	fail "lucarne ${exec_args[*]} --help: $(head -n 3 "$tmp/help.txt")"
for var in LUCARNE_CONFIG LUCARNE_LISTEN LUCARNE_DATA LUCARNE_EVENTS LUCARNE_META; do
	grep -q "env: $var=" "$tmp/help.txt" ||
		fail "lucarne serve no longer reads $var (the unit's comments tell operators to set it)"
done
# Start as the unit does, with the data directory swapped for a temporary one and on a
# free port, with no configuration file and no LUCARNE_* variable from this shell.
args=()
for a in "${exec_args[@]}"; do
	[ "$a" = /var/lib/lucarne ] && a="$tmp/data"
	args+=("$a")
done
unset_vars=()
while read -r var; do
	unset_vars+=(-u "$var")
done < <(env | sed -nE 's/^(LUCARNE_[A-Z_]*)=.*/\1/p')
env "${unset_vars[@]}" "$bin" "${args[@]}" --listen 127.0.0.1:0 >"$tmp/server.log" 2>&1 &
server_pid=$!
addr=
for _ in $(seq 1 600); do
	addr=$(sed -nE 's/.*Lucarne is listening\. addr=([0-9.]+:[0-9]+).*/\1/p' "$tmp/server.log" | head -n 1)
	[ -n "$addr" ] && break
	kill -0 "$server_pid" 2>/dev/null || break
	sleep 0.1
done
if [ -z "$addr" ]; then
	indent <"$tmp/server.log" >&2
	fail "lucarne ${args[*]} did not start (log above)"
fi
health=$(
	exec 3<>"/dev/tcp/${addr%:*}/${addr#*:}"
	printf 'GET /api/health HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
	timeout 10 cat <&3
) || true
grep -q '^HTTP/1\.[01] 200' <<<"$health" || fail "GET /api/health on $addr: $(head -n 1 <<<"$health")"
started=$SECONDS
kill -TERM "$server_pid"
stopped=
for _ in $(seq 1 $((stop_secs * 10))); do
	if ! kill -0 "$server_pid" 2>/dev/null; then
		stopped=1
		break
	fi
	sleep 0.1
done
[ -n "$stopped" ] || fail "lucarne did not stop within TimeoutStopSec=${stop_secs}s of SIGTERM"
set +e
wait "$server_pid"
server_rc=$?
set -e
server_pid=
[ "$server_rc" -eq 0 ] || fail "lucarne exited $server_rc after SIGTERM (systemd would count a failure)"
note "ExecStart without a configuration file: started, /api/health 200, stopped cleanly in $((SECONDS - started))s (exit 0)"

# --- 4. systemd-analyze security --------------------------------------------------------
if [ "${sd_version%%[!0-9]*}" -lt 252 ] || ! systemd-analyze security --help 2>&1 | grep -q -- '--offline'; then
	note "systemd-analyze security --offline needs systemd >= 252 (this is $sd_version): skipped"
	exit 0
fi
set +e
security_out=$(SYSTEMD_COLORS=0 systemd-analyze security --offline=true --no-pager "$unit" 2>&1)
security_rc=$?
set -e
score=$(sed -nE "s/.*Overall exposure level for ${unit_name//./\\.}: ([0-9]+\.[0-9]+).*/\1/p" <<<"$security_out")
if [ -z "$score" ]; then
	indent <<<"$security_out" >&2
	fail "systemd-analyze security (exit $security_rc): no exposure score in its output"
fi
note "systemd-analyze security: what still counts against the unit:"
grep -E '^[[:space:]]*✗' <<<"$security_out" | sed -E 's/[[:space:]]+$//' | indent || true
grep -F 'Overall exposure level' <<<"$security_out" | indent
awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }' ||
	fail "exposure $score is above $MAX_EXPOSURE: the sandbox lost something"
note "systemd-analyze security: exposure $score <= $MAX_EXPOSURE"
note "all checks passed"
