#!/usr/bin/env bash
# Requests per second through the service on loopback, beside the same cmdlets in embedded mode,
# with curl's GET /healthz on a kept-alive TLS connection as the anchor (the floor of one HTTPS
# request to this service), all measured in the same run on the organization the setup runbook
# makes. Bounded: loopback only, N requests per client, C clients at once.
# Usage: benches/service_load.sh [BIN] [N] [C]
#   BIN: the custkey binary (default target/release/custkey), N: requests per client (default
#   300), C: concurrent clients and service workers (default 2).
# Each client is one custkey process running a script loop, so its requests share one
# connection; embedded mode runs the same loop in C processes over the store directly.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(realpath "${1:-target/release/custkey}")"
n="${2:-300}"
c="${3:-2}"
d="$(mktemp -d)"
svc=""
trap '[ -n "$svc" ] && kill "$svc" 2>/dev/null; rm -rf "$d"' EXIT
unset SSH_AUTH_SOCK CUSTKEY_SERVER CUSTKEY_SERVER_THUMBPRINT
mkdir -p "$d/data" "$d/bk"
export CUSTKEY_KEYRING=off
srv_env=(env CUSTKEY_STORE="$d/data/service.db" CUSTKEY_CONFIG_DIR="$d/srvcfg" HOME="$d")
"${srv_env[@]}" "$bin" -File examples/setup.ps1 "$d/bk" >/dev/null
owner="admin@contoso.onmicrosoft.com"
"${srv_env[@]}" "$bin" Start-CustomerKeyService -Listen 127.0.0.1:0 -Workers "$c" >"$d/srv.out" 2>"$d/srv.log" &
svc=$!
for _ in $(seq 100); do [ -s "$d/srv.out" ] && [ "$(wc -l <"$d/srv.out")" -ge 2 ] && break; sleep 0.1; done
url=$(sed -n 1p "$d/srv.out" | awk '{print $3}')
thumb=$(sed -n 2p "$d/srv.out" | awk '{print $4}')
for i in $(seq "$c"); do
    mkdir -p "$d/c$i"
    cp "$d/srvcfg/identities/$owner" "$d/c$i/owner.key"
    chmod 600 "$d/c$i/owner.key"
    cl=(env CUSTKEY_CONFIG_DIR="$d/c$i/config" HOME="$d/c$i" CUSTKEY_STORE="$d/c$i/none/service.db")
    "${cl[@]}" "$bin" Connect-CustomerKeyService -Url "$url" -CertificateThumbprint "$thumb" >/dev/null
    "${cl[@]}" "$bin" Connect-AzAccount -AccountId "$owner" -KeyFile "$d/c$i/owner.key" >/dev/null
done
loop() { # the script of one client: N runs of the cmdlet line "$1"
    printf 'for ($i = 0; $i -lt %s; $i++) { %s | Out-Null }\n' "$n" "$1"
}
rate() { # requests per second of C processes running "$@" at once, best of 3 rounds
    local best=0
    for _ in 1 2 3; do
        local t0 t1
        t0=$(date +%s.%N)
        for i in $(seq "$c"); do "$@" "$i" & done
        wait
        t1=$(date +%s.%N)
        best=$(python3 -c "r=$c*$n/($t1-$t0); print(round(max(r, $best), 1))")
    done
    echo "$best"
}
remote() { env CUSTKEY_CONFIG_DIR="$d/c$2/config" HOME="$d/c$2" CUSTKEY_STORE="$d/c$2/none/service.db" "$bin" -Command "$(loop "$1")" >/dev/null; }
local_() { "${srv_env[@]}" "$bin" -Command "$(loop "$1")" >/dev/null; }
healthz() { local urls=(); for _ in $(seq "$n"); do urls+=("$url/healthz"); done; curl -sk "${urls[@]}" >/dev/null; }
get_mailbox="Get-Mailbox -Identity alice"
unwrap="Test-DataEncryptionPolicy -Identity 'US Mailboxes'"
r_anchor=$(rate healthz)
r_get=$(rate remote "$get_mailbox")
r_unwrap=$(rate remote "$unwrap")
kill "$svc"; wait "$svc" 2>/dev/null || true; svc=""
e_get=$(rate local_ "$get_mailbox")
e_unwrap=$(rate local_ "$unwrap")
printf 'requests/s, %s clients x %s requests, best of 3\n' "$c" "$n"
printf 'curl GET /healthz (anchor):             %s\n' "$r_anchor"
printf 'Get-Mailbox -Identity, service:         %s   embedded: %s\n' "$r_get" "$e_get"
printf 'Test-DataEncryptionPolicy, service:     %s   embedded: %s\n' "$r_unwrap" "$e_unwrap"
python3 -c "print(f'service/anchor: Get-Mailbox {$r_get/$r_anchor:.3f}x, Test-DataEncryptionPolicy {$r_unwrap/$r_anchor:.3f}x; service/embedded: {$r_get/$e_get:.2f}x, {$r_unwrap/$e_unwrap:.2f}x')"
