#!/usr/bin/env python3
"""Independent check of custkey's format vectors with Python's `cryptography` package.

Written from docs/format.md alone (no custkey code): it decrypts every positive vector,
re-encrypts it with the recorded randomness and compares bytes, and checks that every negative
vector (`*_invalid_*.json`) fails with the error the file names.

    pip install cryptography   # 44 or newer (Argon2id)
    python3 tests/vectors/check_vectors.py
"""

import glob
import json
import os
import sys
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

HERE = os.path.dirname(os.path.abspath(__file__))
SEG = 65536
TAG = 16
HEADER_LEN = 99


class Fail(Exception):
    """A decryption failure, named like the Rust CryptoError variant."""


def hx(v, k):
    return bytes.fromhex(v[k])


def field(tag, value):
    return bytes([tag]) + len(value).to_bytes(2, "big") + value


def content_binding(owner_id, item_id):
    return field(0x02, uuid.UUID(owner_id).bytes) + field(0x03, item_id)


def hkdf(salt, ikm, info, length):
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


# ------------------------------------------------------------------ content (format.md §3)

def content_decrypt(v):
    ct = hx(v, "ciphertext")
    if len(ct) < HEADER_LEN:
        raise Fail("Truncated")
    h = ct[:HEADER_LEN]
    if h[:4] != b"CKCT" or h[4] != 1 or h[5] != 1 or h[6] not in (5, 6, 7) or h[7] != 16:
        raise Fail("Malformed")
    if h[8:24] != uuid.UUID(v["key_id"]).bytes or int.from_bytes(h[24:28], "big") != v["key_version"]:
        raise Fail("BindingMismatch")
    binding = content_binding(v["owner_id"], hx(v, "item_id"))
    okm = hkdf(h[28:60], hx(v, "parent_key"), b"custkey/v1 content key" + h[:28] + binding, 64)
    if okm[32:] != h[67:99]:
        raise Fail("KeyCommitment")
    aead = AESGCM(okm[:32])
    body, pos, counter, out = ct[HEADER_LEN:], 0, 0, b""
    while True:
        rest = len(body) - pos
        last = rest <= SEG + TAG
        seg = body[pos:] if last else body[pos:pos + SEG + TAG]
        if len(seg) < TAG:
            raise Fail("Truncated")
        nonce = h[60:67] + counter.to_bytes(4, "big") + bytes([1 if last else 0])
        try:
            out += aead.decrypt(nonce, seg, h)
        except InvalidTag:
            raise Fail("Authentication")
        if last:
            return out
        pos += SEG + TAG
        counter += 1


def content_encrypt(v):
    pt = hx(v, "plaintext")
    tier = {"mailbox": 5, "workload": 6, "site": 7}[v["key_tier"]]
    prefix28 = (b"CKCT" + bytes([1, 1, tier, 16]) + uuid.UUID(v["key_id"]).bytes
                + v["key_version"].to_bytes(4, "big"))
    binding = content_binding(v["owner_id"], hx(v, "item_id"))
    okm = hkdf(hx(v, "salt"), hx(v, "parent_key"), b"custkey/v1 content key" + prefix28 + binding, 64)
    header = prefix28 + hx(v, "salt") + hx(v, "nonce_prefix") + okm[32:]
    aead = AESGCM(okm[:32])
    chunks = [pt[i:i + SEG] for i in range(0, len(pt), SEG)] or [b""]
    out = header
    for i, chunk in enumerate(chunks):
        last = i == len(chunks) - 1
        nonce = hx(v, "nonce_prefix") + i.to_bytes(4, "big") + bytes([1 if last else 0])
        out += aead.encrypt(nonce, chunk, header)
    return out, okm


def check_content(v):
    if v["result"] == "valid":
        assert content_decrypt(v) == hx(v, "plaintext"), v["name"]
        again, okm = content_encrypt(v)
        assert again == hx(v, "ciphertext"), v["name"]
        assert okm[:32] == hx(v, "item_key") and okm[32:] == hx(v, "commitment"), v["name"]
        return
    try:
        content_decrypt(v)
    except Fail as e:
        assert str(e) == v["expected_error"], (v["name"], str(e), v["expected_error"])
        return
    raise AssertionError("negative vector decrypted: " + v["name"])


# ------------------------------------------------------------------ wrapped keys (format.md §2)

def key_binding(v):
    b = v["binding_fields"]
    out = field(0x01, uuid.UUID(b["dep_id"]).bytes)
    if "owner_id" in b:
        out += field(0x02, uuid.UUID(b["owner_id"]).bytes)
    return out


def unwrap(v):
    w = hx(v, "wrapped")
    if len(w) < 28 or w[:4] != b"CKWK" or w[4] != 1:
        raise Fail("Malformed")
    alg, child_tier, parent_tier = w[5], w[6], w[27]
    if child_tier != v["child_tier"]:
        raise Fail("TierMismatch")
    binding = key_binding(v)
    if alg == 1:
        if len(w) != 108:
            raise Fail("InvalidLength")
        if parent_tier != v["parent_tier"]:
            raise Fail("TierMismatch")
        if (w[28:44] != uuid.UUID(v["parent_key_id"]).bytes
                or int.from_bytes(w[44:48], "big") != v["parent_key_version"]):
            raise Fail("BindingMismatch")
        try:
            return AESGCM(hx(v, "parent_key")).decrypt(w[48:60], w[60:], w[:48] + binding)
        except InvalidTag:
            raise Fail("Authentication")
    if alg in (2, 3) and parent_tier == 1:
        pos = 28
        n = int.from_bytes(w[pos:pos + 2], "big"); pos += 2 + n
        n = int.from_bytes(w[pos:pos + 2], "big"); pos += 2 + n
        check_at = pos
        pos += 32
        n = int.from_bytes(w[pos:pos + 2], "big"); pos += 2
        rsa_ct = w[pos:pos + n]
        if pos + n != len(w):
            raise Fail("Malformed")
        h = hashes.SHA256() if alg == 2 else hashes.SHA1()
        sk = serialization.load_der_private_key(hx(v, "rsa_private_key_pkcs8"), password=None)
        try:
            key = sk.decrypt(rsa_ct, padding.OAEP(mgf=padding.MGF1(algorithm=h), algorithm=h, label=None))
        except ValueError:
            raise Fail("RsaDecryption")
        check = hkdf(None, key, b"custkey/v1 root-wrap check" + w[:check_at] + binding, 32)
        if len(key) != 32 or check != w[check_at:check_at + 32]:
            raise Fail("Authentication")
        return key
    raise Fail("UnsupportedAlgorithm")


def check_wrap(v):
    if v["result"] == "valid":
        assert unwrap(v) == hx(v, "child_key"), v["name"]
        if v["kind"] == "aes-256-gcm":
            w = hx(v, "wrapped")
            again = w[:48] + w[48:60] + AESGCM(hx(v, "parent_key")).encrypt(
                hx(v, "nonce"), hx(v, "child_key"), w[:48] + key_binding(v))
            assert again == w and hx(v, "aad") == w[:48] + key_binding(v), v["name"]
        return
    try:
        unwrap(v)
    except Fail as e:
        assert str(e) == v["expected_error"], (v["name"], str(e), v["expected_error"])
        return
    raise AssertionError("negative vector unwrapped: " + v["name"])


# ------------------------------------------------------------------ key commitments (format.md §2.4)

def commitment(v, key, tier, key_id, key_version):
    ck = hkdf(None, hx(v, "master_key"), b"custkey/v1 key-commitment key", 32)
    assert ck == hx(v, "commitment_key"), v["name"]
    binding = key_binding(v)
    assert binding == hx(v, "binding"), v["name"]
    info = (b"custkey/v1 key-commitment" + bytes([tier]) + key_id
            + key_version.to_bytes(4, "big") + binding)
    return hkdf(ck, key, info, 32)


def check_commitment(v):
    if "wrapped" in v:
        # A forged root wrap: it unwraps (its check value is right) but its key is not committed.
        key = unwrap(v)
        w = hx(v, "wrapped")
        got = commitment(v, key, w[6], w[7:23], int.from_bytes(w[23:27], "big"))
    else:
        got = commitment(v, hx(v, "key"), v["tier"], uuid.UUID(v["key_id"]).bytes, v["key_version"])
    if v["result"] == "valid":
        assert got == hx(v, "commitment"), v["name"]
    else:
        assert got != hx(v, "commitment") and v["expected_error"] == "Authentication", v["name"]


# ------------------------------------------------------------------ sealed blobs and the KDF

def check_sealed(v):
    s = hx(v, "sealed")
    try:
        pt = AESGCM(hx(v, "key")).decrypt(s[:12], s[12:], hx(v, "aad"))
    except InvalidTag:
        assert v["result"] == "invalid" and v["expected_error"] == "Authentication"
        return
    assert v["result"] == "valid" and pt == hx(v, "plaintext")


def check_kdf(v):
    from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
    k = Argon2id(salt=hx(v, "salt"), length=32, iterations=v["t_cost"], lanes=v["p_cost"],
                 memory_cost=v["m_cost_kib"]).derive(hx(v, "passphrase"))
    assert k == hx(v, "key"), v["name"]


def main():
    counts = {"passed": 0, "failed": 0}
    checkers = [("content_v1", check_content), ("wrapped_key_v1", check_wrap),
                ("sealed_v1", check_sealed), ("kdf_argon2id_v1", check_kdf),
                ("key_commitment_v1", check_commitment)]
    for path in sorted(glob.glob(os.path.join(HERE, "*.json"))):
        name = os.path.basename(path)
        check = next((c for p, c in checkers if name.startswith(p)), None)
        if check is None:
            continue
        for v in json.load(open(path))["vectors"]:
            if ("_invalid_" in name) != (v["result"] == "invalid"):
                raise SystemExit(f"{name}: negative vectors must be marked in the file name")
            try:
                check(v)
                counts["passed"] += 1
            except AssertionError as e:
                counts["failed"] += 1
                print(f"FAIL {name} {v['name']}: {e}", file=sys.stderr)
    print(f"{counts['passed']} passed, {counts['failed']} failed")
    sys.exit(1 if counts["failed"] else 0)


if __name__ == "__main__":
    main()
