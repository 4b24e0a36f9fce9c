"""Line framing: complete lines out, garbage bounded, never a stall."""

from firmware.framing import MAX_LINE, TOO_LONG, LineReader
from hal.mock.serial import MockSerial


def _lines(data):
    serial = MockSerial()
    serial.push(data)
    reader = LineReader(serial)
    out = []
    for _ in range(1000):
        line = reader.poll()
        if line is None and not serial.any():
            line = reader.poll()
            if line is None:
                break
        if line is not None:
            out.append(line)
    return out


def test_lines_split_on_lf_and_cr():
    assert _lines(b'{"a":1}\n{"b":2}\r\n\n{"c":3}\r') == [b'{"a":1}', b'{"b":2}', b'{"c":3}']


def test_partial_line_waits_for_newline():
    serial = MockSerial()
    reader = LineReader(serial)
    serial.push(b'{"cmd":')
    assert reader.poll() is None
    serial.push(b'"info"}\n')
    assert reader.poll() == b'{"cmd":"info"}'


def test_too_long_line_is_dropped_and_reported_once():
    out = _lines(b"x" * (MAX_LINE + 500) + b"\n" + b"ok\n")
    assert out == [TOO_LONG, b"ok"]


def test_exactly_max_line_is_accepted():
    out = _lines(b"y" * MAX_LINE + b"\n")
    assert out == [b"y" * MAX_LINE]


def test_one_poll_reads_a_bounded_amount():
    serial = MockSerial()
    serial.push(b"z" * 100_000)
    reader = LineReader(serial)
    assert reader.poll() is None
    assert serial.any() > 90_000  # most of the flood is still waiting: the loop was not held


# --- strict UTF-8 (issue 13 item 16) ------------------------------------------------------------------

_BAD_TEXT = (
    b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\xaf", b"\xe0\x9f\xbf", b"\xf0\x80\x80\xaf", b"\xf0\x8f\xbf\xbf",  # overlong
    b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xed\xa0\xbd\xed\xb8\x80",                                        # surrogates
    b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xff", b"\xfe", b"\x80", b"\xbf",        # > U+10FFFF, stray bytes
    b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\xc3\x28", b"\xe2\x28\xa1", b"\xf0\x9f\x28\x80",             # cut short
    b"\\ud800", b"\\uDBFF", b"\\udc00", b"\\uDFFF", b"\\ud83d\\ude00",                          # escaped surrogates
)
_GOOD_TEXT = (b"abc", b"\xc2\x80", b"\xc3\xa9", b"\xdf\xbf", b"\xe0\xa0\x80", b"\xe2\x82\xac", b"\xed\x9f\xbf",
              b"\xee\x80\x80", b"\xef\xbf\xbf", b"\xf0\x90\x80\x80", b"\xf0\x9f\x98\x80", b"\xf4\x8f\xbf\xbf",
              b"\\u00e9", b"\\ud7ff", b"\\ue000", b"\\\\ud800", b"\\\\\\u00e9", b"\\\\")


def test_strict_utf8_refuses_overlong_surrogate_and_cut_sequences():
    from firmware.framing import BAD_TEXT
    for text in _BAD_TEXT:
        line = b'{"id": "' + text + b'", "cmd": "info"}'
        assert _lines(line + b"\n") == [BAD_TEXT], text
    for text in _GOOD_TEXT:
        line = b'{"id": "' + text + b'", "cmd": "info"}'
        assert _lines(line + b"\n") == [line], text


def test_bad_text_is_answered_e_encoding_and_every_reply_is_valid_utf8_json():
    import json

    from helpers import filled_sim, ok, refused
    sim = filled_sim(500, 2000, 20)
    for text in _BAD_TEXT:
        sim.serial.push(b'{"id": "' + text + b'", "cmd": "info"}\n')
        sim.clock.horizon_ms = sim.clock.elapsed_ms
        sim.run_to_horizon()
        out = sim.serial.take_output()
        reply = json.loads(out.decode("utf-8"))       # the host can read every byte of it
        refused(reply, "E_ENCODING")
        assert reply["id"] is None
    for text, value in ((b"\xc3\xa9", "\u00e9"), (b"\xe2\x82\xac", "\u20ac"), (b"\xf0\x9f\x98\x80", "\U0001f600"),
                        (b"\\u00e9", "\u00e9"), (b"\\\\ud800", "\\ud800")):
        sim.serial.push(b'{"id": "' + text + b'", "cmd": "info"}\n')
        sim.clock.horizon_ms = sim.clock.elapsed_ms
        sim.run_to_horizon()
        reply = json.loads(sim.serial.take_output().decode("utf-8"))
        assert ok(reply)["id"] == value, (text, reply)
    assert not sim.pump.safe
