#!/usr/bin/env bash
# The store's two backends side by side, whole process, each beside its own engine's client
# doing the same work in the same run (sqlite3 on the file; psql over the same Unix socket):
#   1. Get-Mailbox -Identity on a store of N mailboxes, beside the same SELECT;
#   2. a pipeline reassignment of M shared mailboxes (Get-Mailbox -Filter | Set-Mailbox
#      -DataEncryptionPolicy), beside the SELECT of those rows and one UPDATE of them;
#   3. (PostgreSQL) import throughput into content in the database, beside psql's \copy of
#      the same bytes, in binary COPY format, into a table shaped like content_chunk.
# The organization is made by custkey (examples/setup.ps1: vaults, keys, the DEP); the N + M
# mailboxes are inserted with SQL (the cmdlets would take minutes for 100,000).
# Usage: benches/store_backends.sh [BIN] [N] [RUNS] [M] [IMPORT_MIB]
#   BIN: custkey binary (default target/release/custkey); N: mailboxes (default 100000);
#   RUNS: processes per round for the lookups (default 50, best of 3 rounds, ms a process);
#   M: mailboxes reassigned (default 10000; best of 3, each assignment undone in between);
#   IMPORT_MIB: MiB of mail imported (default 256; 64 messages; best of 3).
# PostgreSQL: $CUSTKEY_BENCH_POSTGRES or $CUSTKEY_TEST_POSTGRES (a URL to a server's postgres
# database), else a server of its own started with .ci/postgres-start (Debian's postgresql).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(realpath "${1:-target/release/custkey}")"
n="${2:-100000}"
runs="${3:-50}"
m="${4:-10000}"
import_mib="${5:-256}"
d="$(mktemp -d)"
pgdir=""
cleanup() {
    [ -n "$pgdir" ] && .ci/postgres-stop "$pgdir"
    rm -rf "$d"
}
trap cleanup EXIT
base="${CUSTKEY_BENCH_POSTGRES:-${CUSTKEY_TEST_POSTGRES:-}}"
if [ -z "$base" ]; then
    base="$(CUSTKEY_PG_PORT=54397 .ci/postgres-start 2>"$d/pgdir")"
    pgdir="$(tail -n 1 "$d/pgdir")"
fi
db="bench_$$"
psql -q "$base" -c "CREATE DATABASE $db" >/dev/null
pg="${base/\/postgres\?/\/$db?}"
export CUSTKEY_KEYRING=off
unset SSH_AUTH_SOCK CUSTKEY_CONTENT
mkdir -p "$d/sqlite" "$d/pgdata" "$d/backups-sqlite" "$d/backups-pg"

now() { date +%s.%N; }
best() { # best of 3 rounds: milliseconds per run of "$@"
    local b=""
    for _ in 1 2 3; do
        local t0 t1
        t0=$(now)
        for _ in $(seq "$runs"); do "$@" >/dev/null; done
        t1=$(now)
        b=$(python3 -c "t=($t1-$t0)*1000/$runs; b='$b'; print(round(t if not b else min(t, float(b)), 2))")
    done
    echo "$b"
}
secs() { # wall-clock seconds of one run of "$@"
    local t0 t1
    t0=$(now); "$@" >/dev/null; t1=$(now)
    python3 -c "print(round($t1-$t0, 3))"
}
min() { python3 -c "a='$1'; print($2 if not a else min(float(a), $2))"; }
on_sqlite() { CUSTKEY_STORE="$d/sqlite/service.db" CUSTKEY_CONFIG_DIR="$d/config-sqlite" "$@"; }
on_pg() { CUSTKEY_STORE="$pg" CUSTKEY_DATA_DIR="$d/pgdata" CUSTKEY_CONFIG_DIR="$d/config-pg" "$@"; }

# The organization on each backend: the setup runbook (vaults, keys, the DEP, three mailboxes).
on_sqlite "$bin" -File examples/setup.ps1 "$d/backups-sqlite" >/dev/null
on_pg "$bin" -File examples/setup.ps1 "$d/backups-pg" >/dev/null

cols="guid, exchange_guid, name, alias, display_name, primary_smtp, upn, kind, licenses, when_created, when_changed"
# N user mailboxes (userNNNNNN) and M shared ones (reassignNNNNNN), the same rows on both.
sq="$d/sqlite/service.db"
rows_sqlite() { # $1 first number, $2 count, $3 name prefix, $4 kind, $5 guid tag
    sqlite3 "$sq" "WITH RECURSIVE c(i) AS (SELECT $1 UNION ALL SELECT i + 1 FROM c WHERE i < $1 + $2 - 1)
  INSERT INTO recipient ($cols) SELECT printf('%08x-$5-4000-8000-%012x', i, i), printf('%08x-$5-4001-8000-%012x', i, i),
  printf('$3%06d', i), printf('$3%06d', i), printf('$3 %d', i), printf('$3%06d@contoso.com', i),
  printf('$3%06d@contoso.com', i), '$4', '[]', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z' FROM c;"
}
rows_pg() {
    psql -q "$pg" -c "INSERT INTO recipient ($cols) SELECT format('%s-$5-4000-8000-%s', lpad(to_hex(i), 8, '0'), lpad(to_hex(i), 12, '0')),
  format('%s-$5-4001-8000-%s', lpad(to_hex(i), 8, '0'), lpad(to_hex(i), 12, '0')),
  format('$3%s', lpad(i::text, 6, '0')), format('$3%s', lpad(i::text, 6, '0')), format('$3 %s', i),
  format('$3%s@contoso.com', lpad(i::text, 6, '0')), format('$3%s@contoso.com', lpad(i::text, 6, '0')),
  '$4', '[]', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z' FROM generate_series($1, $1 + $2 - 1) i;" >/dev/null
}
rows_sqlite 1 "$n" user UserMailbox 0000
rows_sqlite 1 "$m" reassign SharedMailbox 2222
rows_pg 1 "$n" user UserMailbox 0000
rows_pg 1 "$m" reassign SharedMailbox 2222
sqlite3 "$sq" "ANALYZE"
psql -q "$pg" -c "ANALYZE" >/dev/null

# 1. The lookup.
who="user$(printf '%06d' $((n / 2)))"
query="SELECT $cols FROM recipient WHERE name = '$who' COLLATE NOCASE"
# Each side finds the mailbox (a lookup that failed or found nothing would time nothing).
on_sqlite "$bin" Get-Mailbox -Identity "$who" | grep -q "$who"
on_pg "$bin" Get-Mailbox -Identity "$who" | grep -q "$who"
sqlite3 "$sq" "$query" | grep -q "$who"
psql -qAt "$pg" -c "$query" | grep -q "$who"
sqlite_cmd=$(on_sqlite best "$bin" Get-Mailbox -Identity "$who")
sqlite_anchor=$(best sqlite3 "$sq" "$query")
pg_cmd=$(on_pg best "$bin" Get-Mailbox -Identity "$who")
pg_anchor=$(best psql -qAt "$pg" -c "$query")
echo "load: $(cut -d' ' -f1-3 /proc/loadavg); $(date -u '+%Y-%m-%d %H:%M UTC')"
printf '1. Get-Mailbox -Identity %s among %s mailboxes; %s processes per round, best of 3\n' "$who" "$((n + m + 3))" "$runs"
printf '   SQLite      custkey: %8s ms   sqlite3 same query: %8s ms\n' "$sqlite_cmd" "$sqlite_anchor"
printf '   PostgreSQL  custkey: %8s ms   psql same query:    %8s ms\n' "$pg_cmd" "$pg_anchor"

# 2. The reassignment: M shared mailboxes to the DEP and back, best of 3 each way.
assign="Get-Mailbox -Filter \"Name -like 'reassign*'\" -ResultSize Unlimited | Set-Mailbox -DataEncryptionPolicy 'US Mailboxes'"
undo="Get-Mailbox -Filter \"Name -like 'reassign*'\" -ResultSize Unlimited | Set-Mailbox -DataEncryptionPolicy \$null"
select_rows="SELECT $cols, dep_guid FROM recipient WHERE name LIKE 'reassign%'"
reassign() { # $1 on_sqlite|on_pg; prints "assign undo" best seconds
    local a="" u="" t
    for _ in 1 2 3; do
        t=$($1 secs "$bin" -Command "$assign"); a=$(min "$a" "$t")
        t=$($1 secs "$bin" -Command "$undo"); u=$(min "$u" "$t")
    done
    echo "$a $u"
}
read -r sq_assign sq_undo <<<"$(reassign on_sqlite)"
# The assignment happened (each side checks its rows).
on_sqlite "$bin" -Command "$assign" >/dev/null
[ "$(sqlite3 "$sq" "SELECT count(*) FROM recipient WHERE name LIKE 'reassign%' AND dep_guid IS NOT NULL")" = "$m" ]
dep_sq="$(sqlite3 "$sq" "SELECT dep_guid FROM recipient WHERE name = 'reassign000001'")"
on_sqlite "$bin" -Command "$undo" >/dev/null
read -r pg_assign pg_undo <<<"$(reassign on_pg)"
on_pg "$bin" -Command "$assign" >/dev/null
[ "$(psql -qAt "$pg" -c "SELECT count(*) FROM recipient WHERE name LIKE 'reassign%' AND dep_guid IS NOT NULL")" = "$m" ]
dep_pg="$(psql -qAt "$pg" -c "SELECT dep_guid FROM recipient WHERE name = 'reassign000001'")"
on_pg "$bin" -Command "$undo" >/dev/null
# Anchors: the rows read, and written in one statement, by each engine's client.
sq_select=$(runs=1 best sqlite3 "$sq" "$select_rows")
pg_select=$(runs=1 best psql -qAt "$pg" -c "$select_rows")
sq_update=$(secs sqlite3 "$sq" "UPDATE recipient SET dep_guid = '$dep_sq' WHERE name LIKE 'reassign%'")
sqlite3 "$sq" "UPDATE recipient SET dep_guid = NULL WHERE name LIKE 'reassign%'"
pg_update=$(secs psql -qAt "$pg" -c "UPDATE recipient SET dep_guid = '$dep_pg' WHERE name LIKE 'reassign%'")
psql -qAt "$pg" -c "UPDATE recipient SET dep_guid = NULL WHERE name LIKE 'reassign%'" >/dev/null
printf '2. %s shared mailboxes reassigned by pipeline (Get-Mailbox -Filter | Set-Mailbox), best of 3, seconds\n' "$m"
printf '   SQLite      to the DEP: %7s   back to none: %7s   sqlite3 SELECT of the rows: %6s   one UPDATE: %6s\n' \
    "$sq_assign" "$sq_undo" "$(python3 -c "print(round($sq_select/1000, 4))")" "$sq_update"
printf '   PostgreSQL  to the DEP: %7s   back to none: %7s   psql SELECT of the rows:    %6s   one UPDATE: %6s\n' \
    "$pg_assign" "$pg_undo" "$(python3 -c "print(round($pg_select/1000, 4))")" "$pg_update"

# 3. Import throughput into PostgreSQL content, beside \copy of the same bytes.
mkdir -p "$d/mail"
python3 - "$d" "$import_mib" <<'PY'
import os, struct, sys
d, mib = sys.argv[1], int(sys.argv[2])
msgs = 64
size = (mib << 20) // msgs
chunk = 256 * 1024
# The messages (text, as mail is), and the same bytes as binary COPY rows (off, data) of
# 256 KiB, the size of custkey's content chunks.
with open(f"{d}/copy.bin", "wb") as c:
    c.write(b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0))
    off = 0
    for i in range(msgs):
        head = f"Subject: message {i}\r\n\r\n".encode()
        body = os.urandom((size - len(head)) // 2).hex().encode()
        msg = head + body
        open(f"{d}/mail/{i:03}.eml", "wb").write(msg)
        for at in range(0, len(msg), chunk):
            part = msg[at:at + chunk]
            c.write(struct.pack("!hiqi", 2, 8, off, len(part)) + part)
            off += len(part)
    c.write(struct.pack("!h", -1))
PY
bytes=$(cat "$d"/mail/*.eml | wc -c)
mib=$(python3 -c "print($bytes / 1048576)")
# STORAGE EXTERNAL: stored as sent, no compression tried. custkey's chunks are ciphertext,
# which PostgreSQL's pglz gives up on at once; the mail's text is not, and compressing it
# would make the anchor slower than the database's floor for these bytes.
psql -q "$pg" -c "CREATE TABLE copy_anchor (off BIGINT NOT NULL, data BYTEA NOT NULL);
  ALTER TABLE copy_anchor ALTER COLUMN data SET STORAGE EXTERNAL" >/dev/null
best_import="" best_copy=""
for r in 1 2 3; do
    psql -q "$pg" -c "TRUNCATE copy_anchor" >/dev/null
    t=$(secs psql -q "$pg" -c "\\copy copy_anchor (off, data) FROM '$d/copy.bin' WITH (FORMAT binary)")
    best_copy=$(min "$best_copy" "$t")
    # A mailbox of its own each round (an item already in the mailbox is skipped).
    on_pg "$bin" New-Mailbox -Name "importbox$r" -Shared >/dev/null
    on_pg "$bin" Set-Mailbox -Identity "importbox$r" -DataEncryptionPolicy 'US Mailboxes' >/dev/null
    t=$(on_pg secs "$bin" New-MailboxImportRequest -Mailbox "importbox$r" -FilePath "$d/mail")
    best_import=$(min "$best_import" "$t")
    [ "$(on_pg "$bin" -Command "(Get-MailboxStatistics -Identity importbox$r).ItemCount")" = 64 ]
done
[ "$(psql -qAt "$pg" -c "SELECT sum(length(data)) FROM copy_anchor")" = "$bytes" ]
[ "$(psql -qAt "$pg" -c "SELECT count(*) FROM content_pack WHERE storage = 'database'")" -ge 3 ]
content=$(psql -qAt "$pg" -c "SELECT sum(length(data)) FROM content_chunk")
printf '3. import of %.0f MiB (64 messages) into a PostgreSQL store, content in the database, best of 3\n' "$mib"
printf '   custkey New-MailboxImportRequest: %7.1f MiB/s (%s s)   psql \\copy of the same bytes (binary, 256 KiB rows): %7.1f MiB/s (%s s)   ratio %s\n' \
    "$(python3 -c "print($mib/$best_import)")" "$best_import" "$(python3 -c "print($mib/$best_copy)")" "$best_copy" \
    "$(python3 -c "print(round($best_import/$best_copy, 2))")"
printf '   (custkey stored %s bytes of ciphertext for %s bytes of mail, 3 rounds)\n' "$content" "$((bytes * 3))"
psql -q "$base" -c "DROP DATABASE $db" >/dev/null || true
