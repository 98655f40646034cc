#!/usr/bin/env bash
# Connections a PostgreSQL store's process opens, and what reusing them saves: one process
# imports a small message into each of N mailboxes (a pipeline; every import writes a pack in
# the database through a connection beside the store's own). Prints the wall time and the
# sessions the database saw (pg_stat_database.sessions), over the Unix socket and over TLS.
# Usage: CUSTKEY_TEST_POSTGRES=... CUSTKEY_TEST_POSTGRES_TLS=... benches/pg_connections.sh [BIN...] [-n N]
#   BIN: custkey binaries to compare (default target/release/custkey); N: mailboxes (default 200).
set -euo pipefail
cd "$(dirname "$0")/.."
n=200
bins=()
while [ $# -gt 0 ]; do
    case "$1" in
        -n) n="$2"; shift 2 ;;
        *) bins+=("$(realpath "$1")"); shift ;;
    esac
done
[ ${#bins[@]} -gt 0 ] || bins=("$(realpath target/release/custkey)")
: "${CUSTKEY_TEST_POSTGRES:?set it to the URL of a server, as .ci/postgres-start prints}"
export CUSTKEY_KEYRING=off
unset SSH_AUTH_SOCK
dirs=()
trap 'rm -rf "${dirs[@]}"' EXIT
kinds=(socket)
[ -n "${CUSTKEY_TEST_POSTGRES_TLS:-}" ] && kinds+=(tls)
for kind in "${kinds[@]}"; do
    for bin in "${bins[@]}"; do
        d="$(mktemp -d)"; dirs+=("$d")
        mkdir -p "$d/data" "$d/cfg" "$d/mail"
        db="conns_$$_$RANDOM"
        psql -q "$CUSTKEY_TEST_POSTGRES" -c "CREATE DATABASE $db"
        base="$CUSTKEY_TEST_POSTGRES"
        [ "$kind" = tls ] && base="$CUSTKEY_TEST_POSTGRES_TLS"
        export CUSTKEY_STORE="${base/\/postgres\?/\/$db?}" CUSTKEY_DATA_DIR="$d/data" CUSTKEY_CONFIG_DIR="$d/cfg"
        "$bin" -File examples/setup.ps1 "$d" >/dev/null
        printf 'Subject: hi\r\n\r\nhello\r\n' >"$d/mail/a.eml"
        python3 -c 'import sys; n = int(sys.argv[1]); print(", ".join("\x27p%05d\x27" % i for i in range(n)) + " | New-Mailbox -Shared | Out-Null")' "$n" >"$d/create.ps1"
        "$bin" -File "$d/create.ps1"
        s0=$(psql -qAt "$CUSTKEY_TEST_POSTGRES" -c "SELECT sessions FROM pg_stat_database WHERE datname = '$db'")
        t0=$(date +%s.%N)
        "$bin" -Command "Get-Mailbox -Filter \"Name -like 'p*'\" -ResultSize Unlimited | ForEach-Object { New-MailboxImportRequest -Mailbox \$_.Name -FilePath $d/mail } | Out-Null"
        t1=$(date +%s.%N)
        sleep 1
        s1=$(psql -qAt "$CUSTKEY_TEST_POSTGRES" -c "SELECT sessions FROM pg_stat_database WHERE datname = '$db'")
        printf '%-7s %-40s %s imports in one process: %6.2f s, %s sessions\n' "$kind" "$bin" "$n" \
            "$(python3 -c "print($t1-$t0)")" "$((s1 - s0))"
        psql -q "$CUSTKEY_TEST_POSTGRES" -c "DROP DATABASE $db" || true
    done
done
