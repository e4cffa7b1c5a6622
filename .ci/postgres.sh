# Sourced by .ci/run: a private PostgreSQL server for the ledger tests, stopped on exit.
#
# Installs the Debian package `postgresql` if needed, runs `initdb` into a temporary
# folder as the `postgres` user (password authentication, a random password), starts
# the server on a free port on 127.0.0.1 only, and exports
#   XL_PMPM_TEST_POSTGRES=postgresql://postgres@127.0.0.1:PORT/postgres
#   PGPASSWORD=...            (the password travels in the environment, never in the URL)
# The tests that need a server read XL_PMPM_TEST_POSTGRES and are skipped without it.
# On exit (normal or not) the server is stopped and its folder removed.

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "installing PostgreSQL for the ledger tests"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
XL_PG_BIN="$(dirname "$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)")"
XL_PG_DIR="$(mktemp -d /tmp/xl-pmpm-pg.XXXXXX)"
chown postgres: "$XL_PG_DIR"
chmod 700 "$XL_PG_DIR"
XL_PG_PORT="$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
PGPASSWORD="$(python -c 'import secrets; print(secrets.token_hex(16))')"
export PGPASSWORD
printf '%s\n' "$PGPASSWORD" >"$XL_PG_DIR/pw"
chown postgres: "$XL_PG_DIR/pw"
runuser -u postgres -- "$XL_PG_BIN/initdb" -D "$XL_PG_DIR/data" -U postgres \
  --auth=scram-sha-256 --pwfile="$XL_PG_DIR/pw" -E UTF8 >/dev/null
rm -f "$XL_PG_DIR/pw"
runuser -u postgres -- "$XL_PG_BIN/pg_ctl" -D "$XL_PG_DIR/data" -l "$XL_PG_DIR/server.log" -w \
  -o "-h 127.0.0.1 -p $XL_PG_PORT -k $XL_PG_DIR -c max_connections=200 -c fsync=off" \
  start >/dev/null

xl_pg_stop() {
  runuser -u postgres -- "$XL_PG_BIN/pg_ctl" -D "$XL_PG_DIR/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$XL_PG_DIR"
}
trap xl_pg_stop EXIT

export XL_PMPM_TEST_POSTGRES="postgresql://postgres@127.0.0.1:$XL_PG_PORT/postgres"
echo "PostgreSQL for the ledger tests: $XL_PMPM_TEST_POSTGRES"
