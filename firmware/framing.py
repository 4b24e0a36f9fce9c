"""Line framing for the serial link: bytes in, complete lines out, in a preallocated buffer.

A line longer than MAX_LINE is discarded up to its newline and reported once as too long, so garbage
can never grow memory or stall the loop. CR and LF both end a line; empty lines are ignored.
One poll() reads at most _MAX_CHUNKS * _CHUNK bytes, so a flood of input cannot hold the loop.

A complete line must be strict UTF-8 (RFC 3629: no overlong form, no surrogate, nothing above
U+10FFFF, no cut sequence) with no JSON escape of a surrogate (\\uD800-\\uDFFF): MicroPython's
decoder and JSON parser accept both and its replies would echo bytes no host can decode. Such a line
is returned as BAD_TEXT (answered E_ENCODING). 24 flex steps fit in MAX_LINE as [start_s, dose] pairs
(docs/protocol.md).
"""

from micropython import const

MAX_LINE = const(1024)
_CHUNK = const(64)
_MAX_CHUNKS = const(8)

TOO_LONG = const(1)
BAD_TEXT = const(2)


def text_ok(data):
    """True if `data` (bytes) is strict UTF-8 holding no JSON escape of a UTF-16 surrogate."""
    if b"\\" not in data and (not data or max(data) < 0x80):
        return True      # plain ASCII without escapes: the usual frame, checked in C
    n = len(data)
    i = 0
    while i < n:
        b = data[i]
        i += 1
        if b < 0x80:
            if b == 0x5C and i < n:           # a backslash escapes the next character
                c = data[i]
                if c == 0x75 and i + 2 < n and data[i + 1] | 0x20 == 0x64 and data[i + 2] in b"89abcdefABCDEF":
                    return False              # \\uD800..\\uDFFF
                if c < 0x80:
                    i += 1                    # "\\\\" never starts a second escape
            continue
        if b < 0xC2 or b > 0xF4:
            return False                      # continuation byte, overlong 2-byte lead, or > U+10FFFF
        if b < 0xE0:
            need, lo, hi = 1, 0x80, 0xBF
        elif b < 0xF0:
            need = 2
            lo = 0xA0 if b == 0xE0 else 0x80  # E0: no overlong 3-byte form
            hi = 0x9F if b == 0xED else 0xBF  # ED: no surrogate
        else:
            need = 3
            lo = 0x90 if b == 0xF0 else 0x80  # F0: no overlong 4-byte form
            hi = 0x8F if b == 0xF4 else 0xBF  # F4: nothing above U+10FFFF
        if i + need > n or not lo <= data[i] <= hi:
            return False
        for k in range(i + 1, i + need):
            if not 0x80 <= data[k] <= 0xBF:
                return False
        i += need
    return True


class LineReader:
    def __init__(self, serial):
        self._serial = serial
        self._buf = bytearray(MAX_LINE)
        self._len = 0
        self._overflow = False
        self._pending = b""
        self._pos = 0
        self.buffered = False   # False: no byte read from the port is waiting here (cheap check per wake-up)

    def poll(self):
        """One complete line (bytes, without the newline), TOO_LONG, or None if none is ready."""
        chunks = 0
        while True:
            if self._pos >= len(self._pending):
                self.buffered = False
                if chunks >= _MAX_CHUNKS or not self._serial.any():
                    return None
                self._pending = self._serial.read(_CHUNK)
                self._pos = 0
                chunks += 1
                if not self._pending:
                    return None
                self.buffered = True
            data = self._pending
            i = self._pos
            n = len(data)
            while i < n:
                b = data[i]
                i += 1
                if b == 10 or b == 13:
                    line = self._finish()
                    if line is not None:
                        self._pos = i
                        return line
                elif self._overflow:
                    pass
                elif self._len >= MAX_LINE:
                    self._overflow = True
                else:
                    self._buf[self._len] = b
                    self._len += 1
            self._pos = i

    def has_line(self):
        """True if a complete line is already buffered (read from the port but not yet returned):
        the loop must not sleep on it, since the port itself no longer shows input."""
        if not self.buffered:
            return False
        data = self._pending
        pos = self._pos
        return pos < len(data) and (data.find(b"\n", pos) >= 0 or data.find(b"\r", pos) >= 0)

    def _finish(self):
        if self._overflow:
            self._overflow = False
            self._len = 0
            return TOO_LONG
        if self._len == 0:
            return None
        line = bytes(memoryview(self._buf)[:self._len])   # one copy of the line, not two
        self._len = 0
        return line if text_ok(line) else BAD_TEXT
