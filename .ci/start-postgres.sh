#!/usr/bin/env bash
# Start a throwaway PostgreSQL 15 on 127.0.0.1 for the tests and print its URL.
# The server binaries refuse to run as root, so the cluster belongs to an unprivileged user.
set -euo pipefail
PGPORT="${PGPORT:-54329}"
PGROOT="${PGROOT:-/tmp/mailconsole-pg}"
PGUSER_OS="${PGUSER_OS:-mcpg}"
BINDIR="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
if [ -z "$BINDIR" ] || [ ! -x "$BINDIR/initdb" ]; then
  if command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) >&2
    BINDIR="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
  else
    echo "PostgreSQL server binaries not found" >&2; exit 1
  fi
fi
run_as() {
  if [ "$(id -u)" = "0" ]; then
    id "$PGUSER_OS" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$PGUSER_OS"
    su -s /bin/sh "$PGUSER_OS" -c "$*"
  else
    sh -c "$*"
  fi
}
if [ -f "$PGROOT/data/postmaster.pid" ] && run_as "$BINDIR/pg_ctl -D $PGROOT/data status" >/dev/null 2>&1; then
  echo "postgresql://mailconsole@127.0.0.1:$PGPORT/postgres"
  exit 0
fi
rm -rf "$PGROOT"
mkdir -p "$PGROOT"
if [ "$(id -u)" = "0" ]; then
  id "$PGUSER_OS" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$PGUSER_OS"
  chown "$PGUSER_OS" "$PGROOT"
fi
run_as "$BINDIR/initdb -D $PGROOT/data -U mailconsole --auth=trust -E UTF8 --no-locale" >/dev/null
cat >> "$PGROOT/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$PGROOT'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
shared_buffers = 256MB
CONF
[ "$(id -u)" = "0" ] && chown "$PGUSER_OS" "$PGROOT/data/postgresql.conf"
run_as "$BINDIR/pg_ctl -D $PGROOT/data -l $PGROOT/server.log -w -t 60 start" >/dev/null
echo "postgresql://mailconsole@127.0.0.1:$PGPORT/postgres"
