"""Line framing for the serial link: bytes in, complete lines out, in a preallocated buffer.

A line longer than MAX_LINE is discarded up to its newline and reported once as too long, so garbage
can never grow memory or stall the loop. CR and LF both end a line; empty lines are ignored.
One poll() reads at most _MAX_CHUNKS * _CHUNK bytes, so a flood of input cannot hold the loop.
"""

from micropython import const

MAX_LINE = const(1024)
_CHUNK = const(64)
_MAX_CHUNKS = const(8)

TOO_LONG = const(1)


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
        line = bytes(self._buf[:self._len])
        self._len = 0
        return line
