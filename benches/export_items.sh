#!/usr/bin/env bash
# Export of many small items through the whole process, against `cp` of the same messages as
# an anchor measured in the same run. Usage: benches/export_items.sh [BIN] [N]
#   BIN: the custkey binary (default target/release/custkey), N: messages (default 5000).
# Prints the best of 3 runs of each, in seconds, and the ratio to the anchor.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(realpath "${1:-target/release/custkey}")"
n="${2:-5000}"
d="$(mktemp -d)"
cfg="$(mktemp -d)"   # master keys and the owner's identity: outside the data directory
trap 'rm -rf "$d" "$cfg"' EXIT
export CUSTKEY_STORE="$d/service.db" CUSTKEY_CONFIG_DIR="$cfg" CUSTKEY_KEYRING=off
"$bin" -File examples/setup.ps1 "$d" >/dev/null
mkdir "$d/eml"
python3 - "$d" "$n" <<'PY'
import sys
d, n = sys.argv[1], int(sys.argv[2])
with open(f"{d}/many.mbox", "w") as m:
    for i in range(n):
        body = f"Subject: message {i}\n\nbody {i} " + "x" * 900 + "\n"
        m.write(f"From a@fabrikam.com Mon Jan  1 00:00:00 2024\n{body}\n")
        open(f"{d}/eml/{i:06}.eml", "w").write(body)
PY
"$bin" New-MailboxImportRequest alice "$d/many.mbox" >/dev/null
best() { # best of 3 wall-clock seconds of "$@"
    local b=""
    for _ in 1 2 3; do
        rm -rf "$d/out" "$d/out.mbox"
        local t0 t1
        t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N)
        b=$(python3 -c "t=$t1-$t0; b='$b'; print(t if not b else min(t, float(b)))")
    done
    echo "$b"
}
folder=$(best "$bin" New-MailboxExportRequest alice "$d/out")
mbox=$(best "$bin" New-MailboxExportRequest alice "$d/out.mbox")
cp_folder=$(best cp -r "$d/eml" "$d/out")
cp_mbox=$(best cp "$d/many.mbox" "$d/out.mbox")
items=$("$bin" Get-MailboxStatistics alice -Format Json | python3 -c 'import json,sys; v=json.load(sys.stdin); print((v[0] if isinstance(v, list) else v)["ItemCount"])')
printf 'items %s\n' "$items"
printf 'export to a folder   %.3f s   cp -r of the .eml files %.3f s   ratio %.1f\n' "$folder" "$cp_folder" "$(python3 -c "print($folder/$cp_folder)")"
printf 'export to an mbox    %.3f s   cp of the mbox           %.3f s   ratio %.1f\n' "$mbox" "$cp_mbox" "$(python3 -c "print($mbox/$cp_mbox)")"
