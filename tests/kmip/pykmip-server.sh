#!/usr/bin/env bash
# Start a PyKMIP 0.11 server on 127.0.0.1 for the KMIP tests, in a directory of its own.
#
#   tests/kmip/pykmip-server.sh DIR VENV     starts it; prints the environment to export
#   kill "$(cat DIR/server.pid)"             stops it
#
# DIR gets a CA, an ECDSA P-256 server certificate (SAN IP:127.0.0.1) and client certificate
# (PyKMIP's TLS 1.2 suite offers ECDHE-ECDSA with AES-GCM, which rustls does), server.conf, the
# server's SQLite database and its log. VENV is a virtual environment with `pip install pykmip`.
set -euo pipefail
dir="$1"
venv="$2"
mkdir -p "$dir/policies"
chmod 700 "$dir"
cd "$dir"
ossl() { openssl "$@" >/dev/null 2>&1; }
ossl ecparam -name prime256v1 -genkey -noout -out ca.key
ossl req -x509 -new -key ca.key -sha256 -days 2 -subj "/CN=custkey test KMIP CA" -out ca.crt
for who in server client; do
    ossl ecparam -name prime256v1 -genkey -noout -out "$who.key.sec1"
    ossl pkcs8 -topk8 -nocrypt -in "$who.key.sec1" -out "$who.key"
    rm -f "$who.key.sec1"
    ossl req -new -key "$who.key" -subj "/CN=custkey-test-$who" -out "$who.csr"
    cat > "$who.ext" <<EXT
basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyAgreement
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
EXT
    ossl x509 -req -in "$who.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -sha256 \
        -extfile "$who.ext" -out "$who.crt"
done
chmod 600 ./*.key
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cat > server.conf <<CONF
[server]
hostname=127.0.0.1
port=$port
certificate_path=$dir/server.crt
key_path=$dir/server.key
ca_path=$dir/ca.crt
auth_suite=TLS1.2
enable_tls_client_auth=True
policy_path=$dir/policies
database_path=$dir/pykmip.db
logging_level=INFO
CONF
"$venv/bin/pykmip-server" -f server.conf -l "$dir/server.log" >"$dir/stdout.log" 2>&1 &
echo $! > server.pid
for _ in $(seq 1 100); do
    if grep -q "successfully bound" "$dir/server.log" 2>/dev/null; then
        break
    fi
    if ! kill -0 "$(cat server.pid)" 2>/dev/null; then
        cat "$dir/stdout.log" "$dir/server.log" >&2 || true
        echo "pykmip-server exited" >&2
        exit 1
    fi
    sleep 0.2
done
grep -q "successfully bound" "$dir/server.log" || { echo "pykmip-server did not start" >&2; exit 1; }
echo "export CUSTKEY_TEST_KMIP=127.0.0.1:$port"
echo "export CUSTKEY_TEST_KMIP_CERT=$dir/client.crt"
echo "export CUSTKEY_TEST_KMIP_KEY=$dir/client.key"
echo "export CUSTKEY_TEST_KMIP_CA=$dir/ca.crt"
echo "export CUSTKEY_TEST_KMIP_PID=$(cat server.pid)"
