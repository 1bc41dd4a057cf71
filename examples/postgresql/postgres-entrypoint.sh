#!/bin/sh
# Start PostgreSQL; on the first start, make the cluster in $PGDATA and the database $POSTGRES_DB
# owned by $POSTGRES_USER, with the password read from $POSTGRES_PASSWORD_FILE (never from the
# environment or a command line).  Other hosts connect with that password (scram-sha-256).
set -eu
: "${POSTGRES_USER:=orthanc}" "${POSTGRES_DB:=orthanc}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ ! -r "${POSTGRES_PASSWORD_FILE:-}" ]; then
    echo "postgres-entrypoint: POSTGRES_PASSWORD_FILE must name a file readable by uid $(id -u)" >&2
    exit 1
  fi
  initdb --pgdata="$PGDATA" --username=postgres --encoding=UTF8 --locale=C.UTF-8 \
    --auth-local=peer --auth-host=scram-sha-256 >/dev/null
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  pg_ctl --pgdata="$PGDATA" --options="-c listen_addresses=''" --wait --silent start
  # psql reads the password itself (\set with a backquoted cat): it is on no command line.
  psql --quiet --set=ON_ERROR_STOP=1 --set=user="$POSTGRES_USER" --set=db="$POSTGRES_DB" \
    --dbname=postgres <<'SQL'
\set password `cat "$POSTGRES_PASSWORD_FILE" | tr -d '\n'`
CREATE ROLE :"user" LOGIN PASSWORD :'password';
CREATE DATABASE :"db" OWNER :"user";
SQL
  pg_ctl --pgdata="$PGDATA" --mode=fast --wait --silent stop
  echo "postgres-entrypoint: made database $POSTGRES_DB for $POSTGRES_USER in $PGDATA"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*'
