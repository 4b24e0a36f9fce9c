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
