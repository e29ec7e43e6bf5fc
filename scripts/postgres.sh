#!/usr/bin/env bash
# A private, throwaway PostgreSQL on loopback for the tests on the second store: its own data
# directory, port and socket, stopped by its own data directory. Never touches another server.
#
#   eval "$(scripts/postgres.sh start [DIR])"   # prints `export SWITCHBOARD_TEST_DATABASE_URL=...`
#   scripts/postgres.sh stop [DIR]              # stops it and removes DIR/data
#
# DIR defaults to $PG_RIG_DIR or /tmp/switchboard-postgres; the port to $PG_RIG_PORT, else the
# first free one from 55432 (kept in DIR/port for `url`).
# Debian's server refuses to run as root, so as root it runs as the `postgres` user.
set -euo pipefail

cmd=${1:-}
dir=${2:-${PG_RIG_DIR:-/tmp/switchboard-postgres}}
free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [[ -n "${PG_RIG_PORT:-}" ]]; then
  port=$PG_RIG_PORT
elif [[ -f "$dir/port" ]]; then
  port=$(cat "$dir/port")
else
  port=55432
  while ! free "$port" && (( port < 55532 )); do port=$((port + 1)); done
fi
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -n "$bin" ]] || { echo "postgres.sh: no PostgreSQL server installed (apt-get install postgresql)" >&2; exit 1; }
as_pg=()
[[ $(id -u) == 0 ]] && as_pg=(runuser -u postgres --)
url="postgres://postgres@127.0.0.1:$port/switchboard_test"

case "$cmd" in
start)
  mkdir -p "$dir"
  [[ ${#as_pg[@]} -gt 0 ]] && chown postgres "$dir"
  echo "$port" >"$dir/port"
  if [[ ! -f "$dir/data/PG_VERSION" ]]; then
    "${as_pg[@]}" "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  if ! "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    # fsync off: a test database need not survive a power cut, and the suite writes a lot.
    "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w start \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=500" >/dev/null \
      || { echo "postgres.sh: PostgreSQL did not start on port $port:" >&2; tail -5 "$dir/log" >&2; exit 1; }
  fi
  psql -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'switchboard_test'" | grep -q 1 \
    || psql -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -c "CREATE DATABASE switchboard_test" >/dev/null
  echo "export SWITCHBOARD_TEST_DATABASE_URL=$url"
  ;;
stop)
  if [[ -f "$dir/data/PG_VERSION" ]]; then
    "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir/data"
  fi
  ;;
url)
  echo "$url"
  ;;
*)
  echo "usage: $0 start|stop|url [DIR]" >&2
  exit 2
  ;;
esac
