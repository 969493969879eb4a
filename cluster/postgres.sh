#!/usr/bin/env bash
# A private PostgreSQL server for tests and local sweeps: Debian's PostgreSQL 15, started without systemd, listening
# on 127.0.0.1 only, on a port of its own and with a socket folder of its own, its data under .cluster/postgres in
# this checkout (git-ignored).
#
#   cluster/postgres.sh start   initialise (first time) and start the server, and create the database; idempotent
#   cluster/postgres.sh stop    stop it (fast shutdown: open sessions are ended), wait until it has exited
#   cluster/postgres.sh env     print `export APERTURE_TEST_POSTGRES=postgresql://…` for a shell to eval
#   cluster/postgres.sh status  say whether it runs
#
# The port is derived from the checkout's path, so two checkouts on one machine do not collide; set
# APERTURE_POSTGRES_PORT to choose it. Set APERTURE_POSTGRES_BIN to use binaries other than Debian's version 15.
# Authentication is `trust` on loopback: this server is for tests on one machine, never for a shared cluster
# (docs/cluster.md says how to point Aperture at a real one).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
base="$repo/.cluster/postgres"
data="$base/data"
sockets="$base/sockets"
log="$base/server.log"
bin="${APERTURE_POSTGRES_BIN:-/usr/lib/postgresql/15/bin}"
database=aperture
role=aperture

if [ -n "${APERTURE_POSTGRES_PORT:-}" ]; then
    port="$APERTURE_POSTGRES_PORT"
elif [ -f "$base/port" ]; then
    port="$(cat "$base/port")"
else
    # 20000–39999, from the checkout's path.
    port=$(( 20000 + $(printf '%s' "$repo" | cksum | cut -d' ' -f1) % 20000 ))
fi

die() { echo "cluster/postgres.sh: $*" >&2; exit 1; }

# PostgreSQL refuses to run as root: as root, run its programs as the postgres user; otherwise as oneself.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

running() { [ -f "$data/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; }

psql_admin() { as_owner psql -X -q -v ON_ERROR_STOP=1 -h "$sockets" -p "$port" -d postgres "$@"; }

url() { echo "postgresql://$role@127.0.0.1:$port/$database"; }

start() {
    [ -x "$bin/initdb" ] || die "no PostgreSQL binaries in $bin: install Debian's postgresql package (apt-get install postgresql) or set APERTURE_POSTGRES_BIN"
    [ "$(id -u)" -ne 0 ] || id postgres >/dev/null 2>&1 || die "running as root needs the postgres user (made by Debian's postgresql package)"
    mkdir -p "$base"
    # The server runs as postgres: it must be able to reach its folder.
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- test -x "$base" || die "the postgres user cannot reach $base (a parent folder is closed to it); clone the repository somewhere it can read"
    fi
    if [ ! -s "$data/PG_VERSION" ]; then
        rm -rf "$data"
        mkdir -p "$data"
        [ "$(id -u)" -ne 0 ] || chown postgres: "$data"
        chmod 700 "$data"
        as_owner "$bin/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$base/initdb.log" 2>&1 \
            || { cat "$base/initdb.log" >&2; die "initdb failed (log above)"; }
        cat >>"$data/postgresql.conf" <<EOF

# cluster/postgres.sh: loopback only, a private port and socket folder.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sockets'
max_connections = 200
fsync = on
EOF
        echo "$port" >"$base/port"
    fi
    mkdir -p "$sockets"
    [ "$(id -u)" -ne 0 ] || chown postgres: "$sockets" "$base"
    if ! running; then
        touch "$log"
        [ "$(id -u)" -ne 0 ] || chown postgres: "$log"
        as_owner "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 start >/dev/null \
            || { tail -n 20 "$log" >&2; die "the server did not start (last lines of $log above)"; }
    fi
    # The role and database, made once.
    if [ "$(psql_admin -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$role'")" != 1 ]; then
        psql_admin -c "CREATE ROLE $role LOGIN"
    fi
    if [ "$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = '$database'")" != 1 ]; then
        psql_admin -c "CREATE DATABASE $database OWNER $role"
    fi
    echo "PostgreSQL runs at $(url) (data in $data)"
}

stop() {
    if running; then
        as_owner "$bin/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null
        echo "PostgreSQL stopped"
    else
        echo "PostgreSQL was not running"
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    env) echo "export APERTURE_TEST_POSTGRES=$(url)" ;;
    status) if running; then echo "running at $(url)"; else echo "stopped"; exit 3; fi ;;
    *) echo "usage: cluster/postgres.sh start|stop|env|status" >&2; exit 2 ;;
esac
