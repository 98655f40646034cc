#!/usr/bin/env bash
# The operators' own paths through the whole process, each beside an anchor measured in the same
# run (dd, sqlite3, openssl speed), printing the ratios issue 18 sets goals for.
# Usage: benches/paths.sh [BIN] [N] [PATHS]
#   BIN:   the custkey binary (default target/release/custkey)
#   N:     mailboxes for the pipeline paths (default 10000)
#   PATHS: which groups to run, comma-separated (default all): mailboxes,spo,convert,ram
# Sizes (MiB) through the environment: SPO_MIB (256), CONVERT_MIB (192), RAM_MIB (1024).
# PostgreSQL: BENCH_STORE=postgres runs the "mailboxes" group on a PostgreSQL store (a fresh
# database on the server $CUSTKEY_BENCH_POSTGRES or $CUSTKEY_TEST_POSTGRES names, a URL to its
# postgres database; dropped at exit), with psql over the same socket as the anchors.
# The store is in a temporary folder under $TMPDIR (default /tmp, the VM disk), except for the
# "ram" group, which puts its store and mail in /dev/shm. Each timed command runs once unless
# noted (best of 3 for the short ones); the anchors run right beside what they anchor.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(realpath "${1:-target/release/custkey}")"
n="${2:-10000}"
paths="${3:-mailboxes,spo,convert,ram}"
engine="${BENCH_STORE:-sqlite}"
pg_base="${CUSTKEY_BENCH_POSTGRES:-${CUSTKEY_TEST_POSTGRES:-}}"
case "$engine" in
sqlite) ;;
postgres)
    [ -n "$pg_base" ] || { echo "BENCH_STORE=postgres needs CUSTKEY_BENCH_POSTGRES or CUSTKEY_TEST_POSTGRES" >&2; exit 2; }
    [ "$paths" = mailboxes ] || [ -z "${3:-}" ] || { echo "BENCH_STORE=postgres runs the mailboxes group only" >&2; exit 2; }
    paths=mailboxes ;;
*) echo "BENCH_STORE is sqlite or postgres, not $engine" >&2; exit 2 ;;
esac
spo_mib="${SPO_MIB:-256}"
convert_mib="${CONVERT_MIB:-192}"
ram_mib="${RAM_MIB:-1024}"
tmp_dirs=()
pg_dbs=()
cleanup() {
    rm -rf "${tmp_dirs[@]}"
    for db in "${pg_dbs[@]}"; do psql -q "$pg_base" -c "DROP DATABASE IF EXISTS $db" >/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM
unset SSH_AUTH_SOCK
export CUSTKEY_KEYRING=off

# A fresh organization in $1 (a folder): the setup runbook's vaults, DEP and three mailboxes.
# Master keys and the owner's identity go to a folder beside it, never inside the data directory.
fresh() {
    local base="$1"
    mkdir -p "$base/data" "$base/cfg"
    export CUSTKEY_STORE="$base/data/service.db" CUSTKEY_CONFIG_DIR="$base/cfg"
    if [ "$engine" = postgres ]; then
        local db="paths_$$_${#pg_dbs[@]}"
        psql -q "$pg_base" -c "CREATE DATABASE $db" >/dev/null
        pg_dbs+=("$db")
        export CUSTKEY_STORE="${pg_base/\/postgres\?/\/$db?}" CUSTKEY_DATA_DIR="$base/data"
    fi
    "$bin" -File examples/setup.ps1 "$base" >/dev/null
}
newdir() { # sets $d to a new temporary folder under $1 (default $TMPDIR), removed at exit
    d="$(mktemp -d -p "${1:-${TMPDIR:-/tmp}}")"
    tmp_dirs+=("$d")
}
secs() { # wall-clock seconds of "$@" (output discarded)
    local t0 t1
    t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N)
    python3 -c "print(f'{$t1-$t0:.4f}')"
}
best3() { # best of 3 wall-clock seconds of "$@"
    local b="" t
    for _ in 1 2 3; do
        t=$(secs "$@")
        b=$(python3 -c "b='$b'; print($t if not b else min($t, float(b)))")
    done
    echo "$b"
}
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
rate() { python3 -c "print(f'{$1/$2:.1f}')"; } # MiB, seconds -> MiB/s
line() { printf '%-62s %s\n' "$1" "$2"; }

if [[ ",$paths," == *",mailboxes,"* ]]; then
    newdir
    fresh "$d"
    python3 - "$d" "$n" <<'PY'
import sys
d, n = sys.argv[1], int(sys.argv[2])
names = ", ".join(f"'m{i:06}'" for i in range(n))
open(f"{d}/create-pipe.ps1", "w").write(f"{names} | New-Mailbox -Shared | Out-Null\n")
with open(f"{d}/create-lines.ps1", "w") as f:
    for i in range(n):
        f.write(f"New-Mailbox -Name l{i:06} -Shared | Out-Null\n")
PY
    echo "== mailboxes: $n shared mailboxes ($engine store; load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u '+%Y-%m-%d %H:%M UTC')) =="
    create_pipe=$(secs "$bin" -File "$d/create-pipe.ps1")
    line "create $n by pipeline ('m1', ... | New-Mailbox -Shared)" "$create_pipe s"
    read_cmd=$(best3 "$bin" Get-Mailbox -ResultSize Unlimited)
    line "read: Get-Mailbox -ResultSize Unlimited, the table (best of 3)" "$read_cmd s"
    read_null=$(best3 "$bin" -Command 'Get-Mailbox -ResultSize Unlimited | Out-Null')
    line "read: Get-Mailbox -ResultSize Unlimited | Out-Null (best of 3)" "$read_null s"
    # The engine's own client: sqlite3 on the file, psql over the same socket. The write anchor
    # is one transaction doing in three statements what the reassignment stores: every shared
    # mailbox's DEP, one new 300-byte key row and one audit row each (rolled back).
    dep_sel="(SELECT guid FROM dep WHERE name = 'US Mailboxes')"
    write_sql="BEGIN;
UPDATE recipient SET dep_guid = $dep_sel, when_changed = '2026-12-03T00:00:00Z' WHERE kind = 'SharedMailbox';
INSERT INTO mailbox_key (mailbox_guid, key_id, key_version, dep_guid, wrapped, current)
  SELECT guid, 'anchor', 1, $dep_sel, ZEROBLOB, 1 FROM recipient WHERE kind = 'SharedMailbox';
INSERT INTO audit_record (creation_time, record_type, operation, organization_id, user_id, object_id, parameters)
  SELECT '2026-12-03T00:00:00Z', 'ExchangeAdmin', 'Set-Mailbox', 'org', '', guid, '{}' FROM recipient WHERE kind = 'SharedMailbox';
ROLLBACK;"
    if [ "$engine" = postgres ]; then
        client=psql
        blob="decode(repeat('00', 300), 'hex')"
        anchor() { psql -qAt -v ON_ERROR_STOP=1 "$CUSTKEY_STORE" -c "$1"; }
    else
        client=sqlite3
        blob="zeroblob(300)"
        anchor() { sqlite3 -bail "$CUSTKEY_STORE" "$1"; }
    fi
    sql=$(best3 anchor "SELECT * FROM recipient")
    line "anchor: $client SELECT * FROM recipient (best of 3)" "$sql s"
    write_sql="${write_sql//ZEROBLOB/$blob}"
    anchor "$write_sql" # fails the run if the anchor's SQL does
    write=$(best3 anchor "$write_sql")
    line "anchor: $client UPDATE + 2 INSERT ... SELECT of $n rows (best of 3)" "$write s"
    assign=$(secs "$bin" -Command "Get-Mailbox -ResultSize Unlimited | Set-Mailbox -DataEncryptionPolicy 'US Mailboxes'")
    line "pipeline: Get-Mailbox -ResultSize Unlimited | Set-Mailbox -DEP X" "$assign s  ($(ratio "$assign" "$read_cmd")x the read, $(ratio "$assign" "$write")x the write anchor)"
    back=$(secs "$bin" -Command "Get-Mailbox -ResultSize Unlimited | Set-Mailbox -DataEncryptionPolicy \$null")
    line "pipeline: ... | Set-Mailbox -DataEncryptionPolicy \$null" "$back s  ($(ratio "$back" "$read_cmd")x the read)"
    filt=$(secs "$bin" -Command "Get-Mailbox -Filter \"Name -like 'm*'\" -ResultSize Unlimited | Set-Mailbox -DataEncryptionPolicy 'US Mailboxes'")
    line "-Filter: Get-Mailbox -Filter \"Name -like 'm*'\" | Set-Mailbox" "$filt s  ($(ratio "$filt" "$read_cmd")x the read)"
    "$bin" -Command "Get-Mailbox -ResultSize Unlimited | Set-Mailbox -DataEncryptionPolicy \$null" >/dev/null
    cat >"$d/rollout.toml" <<'TOML'
[[dep]]
name = "US Mailboxes"
description = "Root keys for US mailboxes"
key_ids = [
    "https://contoso-ck-va1.vault.azure.net/keys/Key001",
    "https://contoso-ck-va2.vault.azure.net/keys/Key002",
]

[[assignment]]
dep = "US Mailboxes"
filter = "RecipientTypeDetails -eq 'SharedMailbox'"
TOML
    roll=$(secs "$bin" Start-CustomerKeyRollout "$d/rollout.toml")
    line "rollout apply: Start-CustomerKeyRollout (filter: shared)" "$roll s  ($(ratio "$roll" "$read_cmd")x the read, $(ratio "$roll" "$write")x the write anchor)"
    create_lines=$(secs "$bin" -File "$d/create-lines.ps1")
    line "create $n by $n lines (New-Mailbox -Name lN -Shared)" "$create_lines s"
fi

if [[ ",$paths," == *",spo,"* ]]; then
    newdir
    fresh "$d"
    "$bin" -File examples/sharepoint.ps1 "$d" >/dev/null
    head -c "$((spo_mib << 20))" /dev/urandom >"$d/big.bin"
    echo "== SharePoint: one file of $spo_mib MiB, best of 3 rounds (each: anchor, upload, download, anchor) =="
    mkdir "$d/down"
    site=https://contoso.sharepoint.com/sites/marketing
    best_up="" best_dd_w="" best_down="" best_dd_r="" best_dd_c=""
    min() { python3 -c "a='$1'; print($2 if not a else min(float(a), $2))"; }
    for _ in 1 2 3; do
        t=$(secs dd if="$d/big.bin" of="$d/dd.out" bs=1M oflag=direct conv=fdatasync status=none)
        best_dd_w=$(min "$best_dd_w" "$t")
        rm -f "$d/dd.out"
        t=$(secs "$bin" Add-PnPFile -Path "$d/big.bin" -Folder "Shared Documents" -Site "$site")
        best_up=$(min "$best_up" "$t")
        rm -f "$d/down/big.bin"
        t=$(secs "$bin" Get-PnPFile -Url "Shared Documents/big.bin" -Site "$site" -AsFile -Path "$d/down")
        best_down=$(min "$best_down" "$t")
        cmp "$d/big.bin" "$d/down/big.bin"
        rm -f "$d/down/big.bin"
        # The same bytes read from the disk (not the page cache: the upload wrote its pack with
        # direct I/O) and written out durably, as Get-PnPFile does.
        t=$(secs dd if="$d/big.bin" iflag=direct of="$d/down/dd.out" bs=1M conv=fdatasync status=none)
        best_dd_r=$(min "$best_dd_r" "$t")
        rm -f "$d/down/dd.out"
        # And from the page cache (the local file was just read).
        t=$(secs dd if="$d/big.bin" of="$d/down/dd.out" bs=1M conv=fdatasync status=none)
        best_dd_c=$(min "$best_dd_c" "$t")
        rm -f "$d/down/dd.out"
    done
    line "Add-PnPFile" "$(rate "$spo_mib" "$best_up") MiB/s"
    line "anchor: dd oflag=direct conv=fdatasync" "$(rate "$spo_mib" "$best_dd_w") MiB/s  ratio $(ratio "$best_dd_w" "$best_up")"
    line "Get-PnPFile -AsFile" "$(rate "$spo_mib" "$best_down") MiB/s"
    line "anchor: dd iflag=direct, conv=fdatasync (the same bytes out)" "$(rate "$spo_mib" "$best_dd_r") MiB/s  ratio $(ratio "$best_dd_r" "$best_down")"
    line "anchor: dd from the page cache, conv=fdatasync" "$(rate "$spo_mib" "$best_dd_c") MiB/s  ratio $(ratio "$best_dd_c" "$best_down")"
fi

if [[ ",$paths," == *",convert,"* ]]; then
    newdir
    fresh "$d"
    mkdir "$d/eml"
    # Messages of 4 MiB with text lines (some begin with "From ", which mbox must quote).
    python3 - "$d" "$convert_mib" <<'PY'
import os, sys
d, mib = sys.argv[1], int(sys.argv[2])
line = b"From the desk of a sender: " + b"x" * 50 + b"\n"
body = (line + os.urandom(38).hex().encode() + b"\n") * ((4 << 20) // (len(line) + 77))
with open(f"{d}/all.mbox", "wb") as m:
    for i in range(mib // 4):
        msg = f"Subject: message {i}\n\n".encode() + body
        open(f"{d}/eml/{i:04}.eml", "wb").write(msg)
        m.write(b"From a@fabrikam.com Mon Jan  1 00:00:00 2024\n" + msg.replace(b"\nFrom ", b"\n>From ") + b"\n")
PY
    echo "== export with conversion: $convert_mib MiB as 4 MiB messages =="
    imp_eml=$(secs "$bin" New-MailboxImportRequest alice "$d/eml")
    exp_mbox=$(secs "$bin" New-MailboxExportRequest alice "$d/out.mbox")
    imp_mbox=$(secs "$bin" New-MailboxImportRequest bob "$d/all.mbox")
    exp_eml=$(secs "$bin" New-MailboxExportRequest bob "$d/out-eml")
    exp_same=$(secs "$bin" New-MailboxExportRequest alice "$d/out-same")
    line "import .eml folder" "$(rate "$convert_mib" "$imp_eml") MiB/s"
    line "export those as one mbox (converts)" "$(rate "$convert_mib" "$exp_mbox") MiB/s  ratio to import $(ratio "$imp_eml" "$exp_mbox")"
    line "import mbox" "$(rate "$convert_mib" "$imp_mbox") MiB/s"
    line "export those as .eml files (converts)" "$(rate "$convert_mib" "$exp_eml") MiB/s  ratio to import $(ratio "$imp_mbox" "$exp_eml")"
    line "export .eml items as .eml (no conversion)" "$(rate "$convert_mib" "$exp_same") MiB/s"
    cp_t=$(secs cp -r "$d/eml" "$d/cp-eml")
    line "anchor: cp -r of the .eml folder" "$(rate "$convert_mib" "$cp_t") MiB/s"
fi

if [[ ",$paths," == *",ram,"* ]]; then
    newdir /dev/shm
    fresh "$d"
    python3 - "$d" "$ram_mib" <<'PY'
import os, sys
d, mib = sys.argv[1], int(sys.argv[2])
chunk = os.urandom(2 << 20).hex().encode()[: (4 << 20) - 64]
with open(f"{d}/big.mbox", "wb") as m:
    for i in range(mib // 4):
        m.write(b"From a@fabrikam.com Mon Jan  1 00:00:00 2024\nSubject: m\n\n" + chunk + b"\n\n")
PY
    size=$(python3 -c "import os; print(round(os.path.getsize('$d/big.mbox') / (1 << 20)))")
    echo "== import with the store in RAM (/dev/shm): $size MiB as 4 MiB messages =="
    ssl=$(openssl speed -seconds 3 -bytes 1048576 -evp aes-256-gcm 2>/dev/null | awk 'tolower($1) == "aes-256-gcm" {print $2}' | tr -d k)
    imp=$(secs "$bin" New-MailboxImportRequest alice "$d/big.mbox")
    ssl2=$(openssl speed -seconds 3 -bytes 1048576 -evp aes-256-gcm 2>/dev/null | awk 'tolower($1) == "aes-256-gcm" {print $2}' | tr -d k)
    # openssl prints thousands of bytes per second.
    core=$(python3 -c "print(f'{max($ssl, $ssl2) * 1000 / (1 << 20):.0f}')")
    line "New-MailboxImportRequest (store in RAM)" "$(rate "$size" "$imp") MiB/s"
    line "anchor: openssl speed aes-256-gcm 1 MiB (best of 2)" "$core MiB/s  ratio $(python3 -c "print(f'{$size/$imp/$core:.2f}')")"
fi
