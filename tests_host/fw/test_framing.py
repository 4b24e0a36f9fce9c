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
