"""Named records as files in one directory of the board's flash filesystem (LittleFS on RP2040 and
ESP32 by default).

read() returns None only when the file does not exist; every other OSError propagates, as do write,
rename and remove errors (remove of a missing record is not an error). rename() replaces an existing
target, which LittleFS does atomically; on a FAT filesystem, where rename refuses an existing target,
the target is removed first (then not atomic: keep the boards on LittleFS). Names are plain file names
(no '/').
"""

import os

from micropython import const

_ENOENT = const(2)
_EEXIST = const(17)


def _errno(exc):
    return exc.args[0] if exc.args else 0


class FlashStorage:  # honours hal.contracts.Storage (checked by tests_host/test_hal_contracts.py)
    def __init__(self, directory):
        directory = directory.rstrip("/")
        if not directory:
            raise ValueError("directory")
        self._dir = directory
        try:
            os.mkdir(directory)
        except OSError as exc:
            if _errno(exc) != _EEXIST:
                raise

    def _path(self, name):
        if not name or "/" in name:
            raise ValueError("bad record name")
        return self._dir + "/" + name

    def read(self, name):
        """The record's bytes, or None if it does not exist."""
        try:
            f = open(self._path(name), "rb")
        except OSError as exc:
            if _errno(exc) == _ENOENT:
                return None
            raise
        with f:
            return f.read()

    def write(self, name, data):
        with open(self._path(name), "wb") as f:
            f.write(data)

    def rename(self, old, new):
        src = self._path(old)
        dst = self._path(new)
        try:
            os.rename(src, dst)
        except OSError as exc:
            if _errno(exc) != _EEXIST:
                raise
            os.remove(dst)
            os.rename(src, dst)

    def remove(self, name):
        try:
            os.remove(self._path(name))
        except OSError as exc:
            if _errno(exc) != _ENOENT:
                raise
