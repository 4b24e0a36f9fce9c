"""HMAC-SHA256 (RFC 2104) built on hashlib.sha256: MicroPython has no `hmac` module.

    HMAC(K, m) = H((K0 ^ opad) || H((K0 ^ ipad) || m))

K0 is the key padded with zeros to the 64-byte block (a longer key is hashed first); ipad is 0x36
and opad 0x5C repeated. The padded keys are computed once per key (Hmac), so a MAC costs two
SHA-256 runs over the message plus one block. Checked against RFC 4231 and CPython's hmac in
tests_host/fw/test_auth_hmac.py.
"""

import binascii
import hashlib

from micropython import const

BLOCK_BYTES = const(64)
DIGEST_BYTES = const(32)
_IPAD = const(0x36)
_OPAD = const(0x5C)


def _padded(key, pad):
    out = bytearray(BLOCK_BYTES)
    n = len(key)
    for i in range(BLOCK_BYTES):
        out[i] = (key[i] if i < n else 0) ^ pad
    return bytes(out)


class Hmac:
    """A prepared key: digest(msg) and hexdigest(msg) for many messages."""

    def __init__(self, key):
        if len(key) > BLOCK_BYTES:
            key = hashlib.sha256(key).digest()
        self._inner = _padded(key, _IPAD)
        self._outer = _padded(key, _OPAD)

    def digest(self, msg):
        h = hashlib.sha256(self._inner)
        h.update(msg)
        inner = h.digest()
        h = hashlib.sha256(self._outer)
        h.update(inner)
        return h.digest()

    def hexdigest(self, msg):
        """The MAC as 64 lowercase hex characters (bytes)."""
        return binascii.hexlify(self.digest(msg))


def hmac_sha256(key, msg):
    return Hmac(key).digest(msg)


def equal(a, b):
    """a == b for two byte strings, in a time that does not depend on where they differ
    (no early exit), so a forger learns nothing from the reply time. The length is not secret."""
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0
