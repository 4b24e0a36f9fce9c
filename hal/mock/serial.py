"""In-memory serial link: the host side pushes bytes in and takes the firmware's output out."""

from hal.contracts import SerialLink


class MockSerial(SerialLink):
    def __init__(self):
        self._rx = bytearray()
        self._tx = bytearray()

    # firmware side
    def any(self):
        return len(self._rx)

    def read(self, max_bytes):
        n = min(max_bytes, len(self._rx))
        if n == 0:
            return b""
        data = bytes(self._rx[:n])
        self._rx = self._rx[n:]
        return data

    def write(self, data):
        self._tx.extend(data)

    def drop_input(self):
        self._rx = bytearray()

    # host side
    def push(self, data):
        self._rx.extend(data)

    def pending_output(self):
        """Bytes the firmware has written that the host has not taken yet (0 if none)."""
        return len(self._tx)

    def take_output(self):
        data = bytes(self._tx)
        self._tx = bytearray()
        return data
