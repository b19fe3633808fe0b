#!/bin/sh
# Entrypoint of the warden-postgres image: on first start (an empty $PGDATA)
# makes the cluster with POSTGRES_USER (default postgres) as its superuser,
# whose password is POSTGRES_PASSWORD, and the database POSTGRES_DB (default:
# the user's name); then runs postgres in the foreground. Other hosts log in
# with scram-sha-256; the socket in the container trusts its own users.
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"
user=${POSTGRES_USER:-postgres}
database=${POSTGRES_DB:-$user}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD: the password of $user for other hosts}"
  password_file=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$password_file"
  initdb --pgdata="$PGDATA" --username="$user" --pwfile="$password_file" \
    --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$password_file"
  {
    echo "listen_addresses = '*'"
    echo "unix_socket_directories = '/var/run/postgresql'"
  } >>"$PGDATA/postgresql.conf"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  if [ "$database" != postgres ]; then
    pg_ctl --pgdata="$PGDATA" --silent --wait \
      --options="-c listen_addresses='' -c unix_socket_directories=/var/run/postgresql" start
    createdb --host=/var/run/postgresql --username="$user" "$database"
    pg_ctl --pgdata="$PGDATA" --silent --wait stop
  fi
  echo "postgres-entrypoint: new cluster in $PGDATA (user $user, database $database)"
fi
exec postgres -D "$PGDATA" "$@"
