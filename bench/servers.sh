# Sourced by bench/run.sh (step 7): ClickHouse and PostgreSQL servers from Debian's
# packages, as lucarne-testkit starts them for the tests (same configuration: loopback
# only, free ports, a temporary directory each), without adding the testkit to the
# bench binary. Every process started here is recorded in SERVER_PIDS / PG_DATA_DIRS
# and stopped by stop_servers (run.sh calls it on exit).
SERVER_PIDS=()
PG_DATA_DIRS=()
PG_BIN="${LUCARNE_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}"

ch_ping() { [ "$(curl -s --max-time 1 "http://127.0.0.1:$1/ping" 2>/dev/null)" = "Ok." ]; }

# ch_config DIR HTTP TCP INTER [SHARD_TCP…]: the testkit's config.xml (cluster `lucarne`
# with one shard per listed TCP port, no ZooKeeper).
ch_config() {
  local d="$1" http="$2" tcp="$3" inter="$4"; shift 4
  local remote=""
  if [ "$#" -gt 0 ]; then
    remote="  <remote_servers>\n    <lucarne>\n"
    for p in "$@"; do remote+="      <shard><replica><host>127.0.0.1</host><port>$p</port></replica></shard>\n"; done
    remote+="    </lucarne>\n  </remote_servers>\n"
  fi
  mkdir -p "$d/data" "$d/tmp" "$d/user_files" "$d/format_schemas"
  cat > "$d/users.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <profiles><default></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas>
</yandex>
XML
  { cat <<XML
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$d/server.log</log><errorlog>$d/server.err.log</errorlog><size>10M</size><count>1</count></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>$http</http_port>
  <tcp_port>$tcp</tcp_port>
  <interserver_http_port>$inter</interserver_http_port>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <max_concurrent_queries>100</max_concurrent_queries>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <path>$d/data/</path>
  <tmp_path>$d/tmp/</tmp_path>
  <user_files_path>$d/user_files/</user_files_path>
  <format_schema_path>$d/format_schemas/</format_schema_path>
  <users_config>$d/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mlock_executable>false</mlock_executable>
XML
    printf "%b" "$remote"
    echo "</yandex>"
  } > "$d/config.xml"
}

# ch_spawn DIR HTTP: start the server of DIR and wait for /ping (30 s).
ch_spawn() {
  local d="$1" http="$2" bin=/usr/sbin/clickhouse-server
  [ -x "$bin" ] || bin=/usr/bin/clickhouse-server
  (cd "$d" && exec "$bin" --config-file="$d/config.xml" >"$d/stdout.log" 2>&1) &
  local pid=$!
  SERVER_PIDS+=("$pid")
  for _ in $(seq 1 300); do
    ch_ping "$http" && return 0
    kill -0 "$pid" 2>/dev/null || { echo "clickhouse-server exited: $(tail -5 "$d/stdout.log" "$d/server.err.log" 2>/dev/null)" >&2; return 1; }
    sleep 0.1
  done
  echo "clickhouse-server did not answer /ping on $http" >&2; return 1
}

# start_clickhouse SHARDS BASEDIR: sets CH_URL to the events URL (one server, or SHARDS
# servers as the shards of the cluster `lucarne`). Not in $(…): the PIDs must be kept.
start_clickhouse() {
  local shards="$1" base="$2" i https=() tcps=() inters=()
  for i in $(seq 1 "$shards"); do https+=("$(free_port)"); tcps+=("$(free_port)"); inters+=("$(free_port)"); done
  local hosts=()
  for i in $(seq 0 $((shards - 1))); do
    local d="$base/ch$i"
    if [ "$shards" -gt 1 ]; then ch_config "$d" "${https[$i]}" "${tcps[$i]}" "${inters[$i]}" "${tcps[@]}"
    else ch_config "$d" "${https[$i]}" "${tcps[$i]}" "${inters[$i]}"; fi
    ch_spawn "$d" "${https[$i]}" || return 1
    hosts+=("127.0.0.1:${https[$i]}")
  done
  local IFS=,
  if [ "$shards" -gt 1 ]; then CH_URL="clickhouse://${hosts[*]}/lucarne?cluster=lucarne"; else CH_URL="clickhouse://${hosts[*]}/lucarne"; fi
}

pg_as() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# start_postgres DB: initdb + postgres on a free loopback port, in a new directory
# under /tmp (the postgres user must reach it; removed by stop_servers), durability
# settings of the testkit (fsync off, synchronous_commit off); sets PG_URL to
# postgres://…/DB. Not in $(…): the data directory must be kept for stop_servers.
start_postgres() {
  local db="$1" port d
  d="$(mktemp -d /tmp/lucarne-bench-pg.XXXXXX)"
  chmod 755 "$d"
  mkdir -p "$d/socket"
  if [ "$(id -u)" = 0 ]; then chown -R postgres:postgres "$d"; fi
  pg_as "$PG_BIN/initdb" --pgdata "$d/data" --username postgres --auth trust --encoding UTF8 \
    --locale C.UTF-8 --no-sync --no-instructions >"$d/initdb.log" 2>&1 || { cat "$d/initdb.log" >&2; return 1; }
  port="$(free_port)"
  (cd "$d" && exec $( [ "$(id -u)" = 0 ] && echo "runuser -u postgres --" ) "$PG_BIN/postgres" -D "$d/data" -p "$port" \
     -c listen_addresses=127.0.0.1 -c "unix_socket_directories=$d/socket" -c fsync=off \
     -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 \
     -c shared_buffers=32MB -c logging_collector=off >"$d/postgres.log" 2>&1) &
  PG_DATA_DIRS+=("$d/data")
  SERVER_PIDS+=("$!")
  for _ in $(seq 1 300); do
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres && break
    sleep 0.1
  done
  PG_PORT="$port"
  pg_database "$db"
}

# pg_database DB: another database on the server start_postgres started; sets PG_URL.
pg_database() {
  "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres -w "$1" >&2 || return 1
  PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/$1"
}

stop_servers() {
  local d p
  for d in "${PG_DATA_DIRS[@]}"; do
    pg_as "$PG_BIN/pg_ctl" stop --pgdata "$d" --mode immediate --wait --timeout 20 >/dev/null 2>&1 || true
    rm -rf "$(dirname "$d")"
  done
  PG_DATA_DIRS=()
  for p in "${SERVER_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${SERVER_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  SERVER_PIDS=()
}
