"""Atomic records: a torn write at any byte leaves the old or the new record, never a mix."""

from firmware import record
from hal.mock.storage import MockFlash


def test_round_trip_and_newest_wins():
    flash = MockFlash()
    record.save(flash, "settings", 1, b"old settings")
    record.save(flash, "settings", 2, b"new settings")
    assert record.load(flash, "settings") == (record.OK, 2, b"new settings")


def test_missing_and_corrupt_are_told_apart():
    flash = MockFlash()
    assert record.load(flash, "x")[0] == record.MISSING
    flash.files["x"] = b"PR\x01garbage"
    assert record.load(flash, "x")[0] == record.CORRUPT


def test_power_cut_after_every_byte_keeps_old_or_new():
    old, new = b"prescription A" * 3, b"prescription B, longer" * 3
    total = len(record.encode(2, new))
    outcomes = {"old": 0, "new": 0}
    for cut in range(total + 1):
        flash = MockFlash()
        record.save(flash, "rx", 1, old)
        flash.tear_after = cut
        try:
            record.save(flash, "rx", 2, new)
        except OSError:
            pass
        status, seq, payload = record.load(flash, "rx")
        assert status == record.OK, cut
        assert (seq, payload) in ((1, old), (2, new)), (cut, seq)
        outcomes["old" if seq == 1 else "new"] += 1
    assert outcomes["old"] == total      # every torn write falls back to the old record
    assert outcomes["new"] == 1          # the complete write (cut at the end is no tear here)


def test_single_bit_flip_is_detected():
    flash = MockFlash()
    record.save(flash, "rx", 1, b"abcdef")
    data = bytearray(flash.files["rx"])
    data[12] ^= 0x04
    flash.files["rx"] = bytes(data)
    assert record.load(flash, "rx")[0] == record.CORRUPT


def _by_hand(seq, payload, version=1, magic=b"PR"):
    """The documented layout, written out: b"PR" | version u8 | seq u32 | length u16 | payload | crc32 u32."""
    import binascii
    body = magic + bytes([version]) + seq.to_bytes(4, "little") + len(payload).to_bytes(2, "little") + payload
    return body + (binascii.crc32(body) & 0xFFFFFFFF).to_bytes(4, "little")


def test_decode_reads_the_documented_layout_and_refuses_every_malformed_copy():
    payload = b'{"dose_mcg_day": 500}'
    good = _by_hand(0xFFFFFFFE, payload)
    assert record.encode(0xFFFFFFFE, payload) == good
    for form in (good, bytearray(good), memoryview(good)):      # what a storage may hand back
        seq, got = record.decode(form)
        assert seq == 0xFFFFFFFE and got == payload and isinstance(got, bytes)
    assert record.decode(_by_hand(7, b"")) == (7, b"")
    bad = [None, b"", good[:12], _by_hand(7, b"")[:-1], good[:-1], good + b"\x00", b"\x00" + good[:-1],
           _by_hand(1, payload, version=2), _by_hand(1, payload, magic=b"RP")]
    for cut in range(len(good)):
        bad.append(good[:cut])
    for at in range(len(good)):
        flipped = bytearray(good)
        flipped[at] ^= 0x80
        bad.append(bytes(flipped))
    for data in bad:
        assert record.decode(data) is None, data
