"""Mock flash: named records in RAM, with injectable faults.

`fail_writes` / `fail_reads` make the next operations raise OSError (EIO) like a failing flash.
`tear_after` cuts the next write after that many bytes (power loss mid-write): the record keeps the
bytes written so far, the write raises, and `torn` is set. `bytes_written` counts wear.
"""

from hal.contracts import Storage

_EIO = 5


class PowerLoss(BaseException):
    """The power went at this instant (not an error the firmware can handle: nothing runs after it)."""


class MockFlash(Storage):
    def __init__(self):
        self.files = {}
        self.fail_writes = False
        self.fail_reads = False
        self.tear_after = None
        self.torn = False
        self.bytes_written = 0
        self.writes = 0
        self._tear_countdown = None   # (writes to let through, bytes of the torn one)

    def read(self, name):
        if self.fail_reads:
            raise OSError(_EIO)
        data = self.files.get(name)
        return None if data is None else bytes(data)

    def tear_on_write(self, index, cut):
        """Cut the power during the index-th write from now (0 = the next), after `cut` bytes."""
        self._tear_countdown = [index, cut]

    def tear_cancel(self):
        self._tear_countdown = None

    def write(self, name, data):
        if self.fail_writes:
            raise OSError(_EIO)
        if self._tear_countdown is not None:
            if self._tear_countdown[0] == 0:
                cut = self._tear_countdown[1]
                self._tear_countdown = None
                self.files[name] = bytes(data[:cut])
                self.bytes_written += min(cut, len(data))
                raise PowerLoss()
            self._tear_countdown[0] -= 1
        if self.tear_after is not None:
            cut = self.tear_after
            self.tear_after = None
            self.files[name] = bytes(data[:cut])
            self.bytes_written += min(cut, len(data))
            self.torn = True
            raise OSError(_EIO)
        self.files[name] = bytes(data)
        self.bytes_written += len(data)
        self.writes += 1

    def rename(self, old, new):
        if self.fail_writes:
            raise OSError(_EIO)
        if self._tear_countdown is not None and self._tear_countdown[0] == 0:
            raise PowerLoss()       # cut between the last byte written and the rename
        self.files[new] = self.files.pop(old)

    def remove(self, name):
        if self.fail_writes:
            raise OSError(_EIO)
        self.files.pop(name, None)
