"""HMAC-SHA256 built on hashlib (firmware/hmac_sha256.py): RFC 4231 vectors on both interpreters,
and CPython's hmac module on random keys and messages where it exists (CPython)."""

import binascii

from firmware.hmac_sha256 import Hmac, equal, hmac_sha256

# RFC 4231, test cases 1-4, 6, 7 (key, data, HMAC-SHA256); 5 is truncated (prefix checked below)
RFC4231 = (
    (b"\x0b" * 20, b"Hi There",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (b"Jefe", b"what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (b"\xaa" * 20, b"\xdd" * 50,
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    (bytes(range(1, 26)), b"\xcd" * 50,
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    (b"\xaa" * 131, b"This is a test using a larger than block-size key and a larger than block-size data. "
                    b"The key needs to be hashed before being used by the HMAC algorithm.",
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
)


def test_rfc4231_vectors():
    for key, data, expected in RFC4231:
        assert binascii.hexlify(hmac_sha256(key, data)).decode() == expected
        assert Hmac(key).hexdigest(data) == expected.encode()


def test_rfc4231_truncated_case_5():
    mac = Hmac(b"\x0c" * 20).hexdigest(b"Test With Truncation")
    assert mac[:32] == b"a3b6167473100ee06e0c796c2955552b"


def test_prepared_key_is_reusable_and_keys_at_the_block_edge():
    prepared = Hmac(b"k" * 64)
    assert prepared.digest(b"one") == prepared.digest(b"one") == hmac_sha256(b"k" * 64, b"one")
    assert prepared.digest(b"one") != prepared.digest(b"two")
    assert hmac_sha256(b"k" * 64, b"m") != hmac_sha256(b"k" * 65, b"m")
    assert hmac_sha256(b"", b"m") == hmac_sha256(b"\x00", b"m")   # RFC 2104 pads keys with zeros
    assert len(prepared.hexdigest(b"")) == 64


def test_matches_cpython_hmac_on_random_inputs():
    try:
        import hashlib
        import hmac
    except ImportError:      # MicroPython: no hmac module (the vectors above cover it there)
        return
    import random
    rng = random.Random(20240101)
    for _ in range(300):
        key = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 150)))
        msg = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 1100)))
        assert hmac_sha256(key, msg) == hmac.new(key, msg, hashlib.sha256).digest()


def test_equal_compares_whole_strings():
    a = b"0" * 64
    assert equal(a, b"0" * 64)
    assert not equal(a, b"1" + b"0" * 63)
    assert not equal(a, b"0" * 63 + b"1")
    assert not equal(a, b"0" * 63)
    assert not equal(a, b"")
