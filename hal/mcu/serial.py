"""Host link over the REPL's stdio: USB CDC on RP2040, the USB-UART bridge (UART0) on ESP32 dev boards.

Input: sys.stdin.buffer, polled with select.poll and read one byte per positive poll into a
preallocated buffer, so a read never waits for bytes that are not there. any() moves what the stream
holds now into that buffer and returns the exact count read() would return now (capped at the buffer
size, _RX_SIZE). Output: sys.stdout.buffer (raw bytes, no newline translation). The port drops output
when no host has the USB port open; with a host attached a write can wait while the host drains it.

Ctrl-C (0x03) is a plain data byte here while the pump runs in the field: main.py switches the
interrupt character off (boards/start.py), so no byte on the link stops the pump or opens the REPL.
With the bench jumper closed it raises KeyboardInterrupt again (mpremote's way in on the bench). The
JSON protocol never sends that byte.
"""

import json
import select

from micropython import const

_RX_SIZE = const(256)
_POLLIN = const(0x0001)     # select.POLLIN
_POLLERR = const(0x0008)    # select.POLLERR
_POLLHUP = const(0x0010)    # select.POLLHUP


class UsbSerial:  # honours hal.contracts.SerialLink (checked by tests_host/test_hal_contracts.py)
    """`stream_in` / `stream_out` are sys.stdin.buffer and sys.stdout.buffer on a board.

    `stream` (the input stream) is public: McuClock.sleep_until polls it to wake on input.
    """

    def __init__(self, stream_in, stream_out):
        self.stream = stream_in
        self._out = stream_out
        self._poll = select.poll()
        self._poll.register(stream_in, _POLLIN)
        self._buf = bytearray(_RX_SIZE)
        self._mv = memoryview(self._buf)
        self._one = bytearray(1)
        self._start = 0              # unread bytes are _buf[_start:_end]
        self._end = 0
        self.eof = False             # the stream reported end of input (host pipes only)

    def _readable(self):
        for _obj, events in self._poll.ipoll(0):
            return events & (_POLLIN | _POLLERR | _POLLHUP) != 0
        return False

    def _fill(self):
        """Read what the port holds into the buffer, without blocking. Runs on every wake-up (any()):
        its frame stays within 11 words, so MicroPython keeps it on the C stack (tools/bench/cpython_frames.py)."""
        if self._start == self._end:
            self._start = self._end = 0
        elif self._end == _RX_SIZE and self._start:
            self._compact()
        end = self._end
        one = self._one
        while end < _RX_SIZE and not self.eof and self._readable():
            if not self.stream.readinto(one):
                self.eof = True
                break
            self._buf[end] = one[0]
            end += 1
        self._end = end

    def _compact(self):
        """Move the unread tail to the front (forward byte copy, no allocation)."""
        buf = self._buf
        start = self._start
        n = self._end - start
        for i in range(n):
            buf[i] = buf[start + i]
        self._start = 0
        self._end = n

    def any(self):
        """Bytes that read() would return now (0 if none)."""
        self._fill()
        return self._end - self._start

    def read(self, max_bytes):
        """Up to max_bytes bytes that are here now; b'' if none. Never blocks."""
        self._fill()
        n = self._end - self._start
        if n > max_bytes:
            n = max_bytes
        if n <= 0:
            return b""
        start = self._start
        data = bytes(self._mv[start:start + n])
        self._start = start + n
        return data

    def write(self, data):
        self._out.write(data)

    def write_json(self, obj):
        """obj as one JSON line, streamed into the output (json.dump writes piece by piece)."""
        json.dump(obj, self._out)
        self._out.write(b"\n")
