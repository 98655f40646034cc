#!/usr/bin/env bash
# Root-key unwrap latency, local vault vs SoftHSM2 token vs PyKMIP, with the token's own RSA
# private operation timed by pkcs11-tool in the same run (docs/performance.md).
#
#   benches/root_unwrap.sh [VENV]
#
# VENV: a virtual environment with `pip install pykmip` (started with tests/kmip/pykmip-server.sh
# unless CUSTKEY_TEST_KMIP is already set). Needs softhsm2, opensc (pkcs11-tool) and openssl.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
cleanup() {
    if [ -n "${started_pid:-}" ]; then kill "$started_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

if [ -z "${CUSTKEY_TEST_KMIP:-}" ] && [ -n "${1:-}" ]; then
    eval "$(tests/kmip/pykmip-server.sh "$work/kmip" "$1")"
    started_pid="$CUSTKEY_TEST_KMIP_PID"
fi

# 1. The library path, per call (criterion): local, token (session reused), raw C_Decrypt, KMIP.
cargo bench --bench vault_unwrap 2>&1 | grep -E "^vault_unwrap|time:" | paste - - || true

# 2. pkcs11-tool: one process per operation. The RSA-3072 OAEP decrypt, and the same process
# without it (module load, C_Initialize, login, find): the difference is the token's RSA op.
module=""
for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so; do
    [ -e "$m" ] && module="$m" && break
done
[ -n "$module" ] || { echo "no SoftHSM2 module: pkcs11-tool anchor skipped"; exit 0; }
mkdir -p "$work/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\n' "$work/tokens" > "$work/softhsm2.conf"
export SOFTHSM2_CONF="$work/softhsm2.conf"
softhsm2-util --init-token --free --label anchor --so-pin 12345678 --pin 1234 >/dev/null
p11() { pkcs11-tool --module "$module" --token-label anchor --login --pin 1234 "$@"; }
p11 --keypairgen --key-type rsa:3072 --id 01 --label anchor >/dev/null 2>&1
p11 --read-object --type pubkey --id 01 -o "$work/pub.der" >/dev/null 2>&1
openssl pkey -pubin -inform DER -in "$work/pub.der" -out "$work/pub.pem" 2>/dev/null
head -c 32 /dev/urandom > "$work/dek"
openssl pkeyutl -encrypt -pubin -inkey "$work/pub.pem" -pkeyopt rsa_padding_mode:oaep \
    -pkeyopt rsa_oaep_md:sha1 -in "$work/dek" -out "$work/ct"
n=40
t0=$(date +%s%N)
for _ in $(seq $n); do
    p11 --decrypt --id 01 -m RSA-PKCS-OAEP --hash-algorithm SHA-1 --mgf MGF1-SHA1 \
        --input-file "$work/ct" --output-file "$work/out" >/dev/null 2>&1
done
t1=$(date +%s%N)
cmp -s "$work/out" "$work/dek" || { echo "pkcs11-tool decrypt gave other bytes"; exit 1; }
for _ in $(seq $n); do
    p11 --list-objects --type privkey >/dev/null 2>&1
done
t2=$(date +%s%N)
dec=$(( (t1 - t0) / n / 1000 ))
base=$(( (t2 - t1) / n / 1000 ))
echo "pkcs11-tool RSA-3072 OAEP decrypt, whole process: ${dec} us; same process without the decrypt: ${base} us; the token's RSA operation: $(( dec - base )) us ($n runs each)"
