#!/usr/bin/env bash
# The cost of one whole custkey process on a small store: a read (Get-OrganizationConfig), which
# now proves the signed-in principal (opens the service master key, signs and checks a fresh
# challenge with the account's Ed25519 key), against the same row read by the sqlite3 CLI as the
# anchor, measured in the same run. Usage: benches/command_overhead.sh [BIN] [N]
#   BIN: the custkey binary (default target/release/custkey), N: processes per round (default 200).
# Prints the best of 3 rounds of each, in milliseconds per process, and the ratio to the anchor.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(realpath "${1:-target/release/custkey}")"
n="${2:-200}"
d="$(mktemp -d)"
trap 'rm -rf "$d"' EXIT
export CUSTKEY_STORE="$d/data/service.db" CUSTKEY_CONFIG_DIR="$d/config" CUSTKEY_KEYRING=off
unset SSH_AUTH_SOCK
mkdir "$d/data"
"$bin" Get-OrganizationConfig >/dev/null   # creates the store and registers the owner
best() { # best of 3 rounds: milliseconds per run of "$@"
    local b=""
    for _ in 1 2 3; do
        local t0 t1
        t0=$(date +%s.%N)
        for _ in $(seq "$n"); do "$@" >/dev/null; done
        t1=$(date +%s.%N)
        b=$(python3 -c "t=($t1-$t0)*1000/$n; b='$b'; print(round(t if not b else min(t, float(b)), 3))")
    done
    echo "$b"
}
read_cmd=$(best "$bin" Get-OrganizationConfig)
true_cmd=$(best "$bin" Get-Date)
anchor=$(best sqlite3 "$CUSTKEY_STORE" "SELECT * FROM organization")
printf 'custkey Get-OrganizationConfig (authenticated): %s ms\n' "$read_cmd"
printf 'custkey Get-Date (no store, no key):           %s ms\n' "$true_cmd"
printf 'sqlite3 SELECT (anchor):                        %s ms\n' "$anchor"
python3 -c "print(f'ratio to sqlite3: {$read_cmd/$anchor:.2f}x; authentication and store over a bare process: {$read_cmd-$true_cmd:.2f} ms')"
