#!/usr/bin/env bash
# Get-Mailbox -Identity on a store of N mailboxes, whole process, on SQLite and on PostgreSQL,
# each beside its own engine's command-line client running the same lookup in the same run
# (sqlite3 on the file; psql over the same Unix socket). The mailboxes are inserted with SQL
# (the cmdlets would take minutes for 100,000); the organization and its owner are made by
# custkey first. Usage: benches/store_backends.sh [BIN] [N] [RUNS]
#   BIN: custkey binary (default target/release/custkey); N: mailboxes (default 100000);
#   RUNS: processes per round (default 50). Prints the best of 3 rounds, ms per process.
# PostgreSQL: $CUSTKEY_BENCH_POSTGRES (a URL to a server's postgres database), else a server of
# its own started with .ci/postgres-start (needs Debian's postgresql package).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(realpath "${1:-target/release/custkey}")"
n="${2:-100000}"
runs="${3:-50}"
d="$(mktemp -d)"
pgdir=""
cleanup() {
    [ -n "$pgdir" ] && .ci/postgres-stop "$pgdir"
    rm -rf "$d"
}
trap cleanup EXIT
base="${CUSTKEY_BENCH_POSTGRES:-}"
if [ -z "$base" ]; then
    base="$(CUSTKEY_PG_PORT=54397 .ci/postgres-start 2>"$d/pgdir")"
    pgdir="$(tail -n 1 "$d/pgdir")"
fi
db="bench_$$"
psql -q "$base" -c "CREATE DATABASE $db" >/dev/null
pg="${base/\/postgres\?/\/$db?}"
export CUSTKEY_CONFIG_DIR="$d/config" CUSTKEY_KEYRING=off
unset SSH_AUTH_SOCK
mkdir -p "$d/sqlite" "$d/pgdata"

best() { # best of 3 rounds: milliseconds per run of "$@"
    local b=""
    for _ in 1 2 3; do
        local t0 t1
        t0=$(date +%s.%N)
        for _ in $(seq "$runs"); do "$@" >/dev/null; done
        t1=$(date +%s.%N)
        b=$(python3 -c "t=($t1-$t0)*1000/$runs; b='$b'; print(round(t if not b else min(t, float(b)), 2))")
    done
    echo "$b"
}

cols="guid, exchange_guid, name, alias, display_name, primary_smtp, upn, kind, licenses, when_created, when_changed"
# SQLite store: created and owned by custkey, then N rows.
sq="$d/sqlite/service.db"
CUSTKEY_STORE="$sq" CUSTKEY_CONFIG_DIR="$d/config-sqlite" "$bin" Get-OrganizationConfig >/dev/null
sqlite3 "$sq" "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $n)
  INSERT INTO recipient ($cols) SELECT printf('%08x-0000-4000-8000-%012x', i, i), printf('%08x-1111-4000-8000-%012x', i, i),
  printf('user%06d', i), printf('user%06d', i), printf('User %d', i), printf('user%06d@contoso.com', i),
  printf('user%06d@contoso.com', i), 'UserMailbox', '[]', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z' FROM c;"
# PostgreSQL store, the same rows.
CUSTKEY_STORE="$pg" CUSTKEY_DATA_DIR="$d/pgdata" CUSTKEY_CONFIG_DIR="$d/config-pg" "$bin" Get-OrganizationConfig >/dev/null
psql -q "$pg" -c "INSERT INTO recipient ($cols) SELECT format('%s-0000-4000-8000-%s', lpad(to_hex(i), 8, '0'), lpad(to_hex(i), 12, '0')),
  format('%s-1111-4000-8000-%s', lpad(to_hex(i), 8, '0'), lpad(to_hex(i), 12, '0')),
  format('user%s', lpad(i::text, 6, '0')), format('user%s', lpad(i::text, 6, '0')), format('User %s', i),
  format('user%s@contoso.com', lpad(i::text, 6, '0')), format('user%s@contoso.com', lpad(i::text, 6, '0')),
  'UserMailbox', '[]', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z' FROM generate_series(1, $n) i; ANALYZE;" >/dev/null

who="user$(printf '%06d' $((n / 2)))"
query="SELECT $cols FROM recipient WHERE name = '$who' COLLATE NOCASE"
# Each side finds the mailbox (a lookup that failed or found nothing would time nothing).
CUSTKEY_STORE="$sq" CUSTKEY_CONFIG_DIR="$d/config-sqlite" "$bin" Get-Mailbox -Identity "$who" | grep -q "$who"
CUSTKEY_STORE="$pg" CUSTKEY_DATA_DIR="$d/pgdata" CUSTKEY_CONFIG_DIR="$d/config-pg" "$bin" Get-Mailbox -Identity "$who" | grep -q "$who"
sqlite3 "$sq" "$query" | grep -q "$who"
psql -qAt "$pg" -c "$query" | grep -q "$who"
sqlite_cmd=$(CUSTKEY_STORE="$sq" CUSTKEY_CONFIG_DIR="$d/config-sqlite" best "$bin" Get-Mailbox -Identity "$who")
sqlite_anchor=$(best sqlite3 "$sq" "$query")
pg_cmd=$(CUSTKEY_STORE="$pg" CUSTKEY_DATA_DIR="$d/pgdata" CUSTKEY_CONFIG_DIR="$d/config-pg" best "$bin" Get-Mailbox -Identity "$who")
pg_anchor=$(best psql -qAt "$pg" -c "$query")
printf 'mailboxes: %s; lookup of %s; %s processes per round, best of 3\n' "$n" "$who" "$runs"
printf 'SQLite      custkey Get-Mailbox -Identity: %8s ms   sqlite3 same query: %8s ms\n' "$sqlite_cmd" "$sqlite_anchor"
printf 'PostgreSQL  custkey Get-Mailbox -Identity: %8s ms   psql same query:    %8s ms\n' "$pg_cmd" "$pg_anchor"
