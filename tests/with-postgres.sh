#!/usr/bin/env bash
# Runs a command against a throwaway PostgreSQL cluster, then removes the cluster.
# usage: tests/with-postgres.sh CMD [ARGS...]
#
# The cluster lives in a fresh mktemp directory (data, log and unix socket), listens on 127.0.0.1 on a free port,
# trusts every local connection and runs with fsync off. CMD sees PGHOST (the socket directory), PGPORT, PGUSER and
# PGDATABASE, which libpq and psql read. The cluster is stopped and deleted on exit, failure or interrupt, and the
# script exits with CMD's status.
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 CMD [ARGS...]" >&2
  exit 2
fi

pgbin=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
if [ -z "$pgbin" ] || [ ! -x "$pgbin/initdb" ]; then
  echo "with-postgres: no PostgreSQL server binaries under /usr/lib/postgresql/*/bin" >&2
  exit 2
fi

# initdb refuses to run as root: run the server as the postgres user then.
if [ "$(id -u)" = 0 ]; then
  if ! id postgres >/dev/null 2>&1; then
    echo "with-postgres: running as root but there is no postgres user" >&2
    exit 2
  fi
  if command -v runuser >/dev/null 2>&1; then
    as_pg() { runuser -u postgres -- "$@"; }
  elif command -v setpriv >/dev/null 2>&1; then
    as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; }
  else
    echo "with-postgres: need runuser or setpriv to run PostgreSQL as the postgres user" >&2
    exit 2
  fi
  superuser=postgres
else
  as_pg() { "$@"; }
  superuser=$(id -un)
fi

# Short path on purpose: unix socket paths are limited to 107 bytes.
pgtmp=$(mktemp -d /tmp/msteams-pg.XXXXXX)
started=0

child=

cleanup() {
  local status=$?
  trap - EXIT INT TERM HUP
  if [ -n "$child" ]; then
    kill -TERM "$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  if [ "$started" = 1 ]; then
    as_pg "$pgbin/pg_ctl" -D "$pgtmp/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf -- "$pgtmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

[ "$(id -u)" = 0 ] && chown postgres: "$pgtmp"

if ! as_pg "$pgbin/initdb" -D "$pgtmp/data" -A trust -U "$superuser" --no-sync -E UTF8 --locale=C.UTF-8 \
    >"$pgtmp/initdb.log" 2>&1; then
  cat "$pgtmp/initdb.log" >&2
  echo "with-postgres: initdb failed" >&2
  exit 1
fi

# A free port: ask the kernel for one, then try the next ones if the server still loses a race for it.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null \
    || echo $(( 20000 + RANDOM % 20000 ))
}

port=
for _ in 1 2 3 4 5; do
  candidate=$(free_port)
  if as_pg "$pgbin/pg_ctl" -D "$pgtmp/data" -l "$pgtmp/server.log" -w -t 30 \
      -o "-k $pgtmp -c listen_addresses=127.0.0.1 -p $candidate -c fsync=off -c synchronous_commit=off \
          -c full_page_writes=off -c max_connections=200" start >/dev/null 2>&1; then
    port=$candidate
    started=1
    break
  fi
done
if [ -z "$port" ]; then
  cat "$pgtmp/server.log" >&2 || true
  echo "with-postgres: the server did not start" >&2
  exit 1
fi

export PGHOST=$pgtmp PGPORT=$port PGUSER=$superuser PGDATABASE=postgres
unset PGPASSWORD PGSERVICE PGHOSTADDR PGSSLMODE 2>/dev/null || true
echo "with-postgres: PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, socket $pgtmp" >&2

# CMD runs in the background so that a signal to this script is handled at once (bash runs traps only between
# foreground commands); cleanup() then stops CMD and the cluster.
set +e
"$@" &
child=$!
wait "$child"
status=$?
child=
set -e
exit "$status"
