#!/bin/sh
# Run once by the postgres image when it creates the cluster: the login the Lindra instances serve
# as. It owns nothing and is no superuser, so PostgreSQL's row-level security binds it; the
# migrations (run as the owner, POSTGRES_USER) grant it the tables and add the policies.
set -eu
psql -v ON_ERROR_STOP=1 -v password="$LINDRA_APP_PASSWORD" --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
CREATE ROLE lindra_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD :'password';
SQL
