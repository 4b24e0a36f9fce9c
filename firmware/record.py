"""Atomic, checked records on the storage HAL: a half-written update leaves the previous one intact.

A record is written to `<name>.new`, then renamed over `<name>`. Each copy carries a header
(magic, format version, sequence number, payload length) and a CRC-32 over header and payload. On load
both copies are read and the valid one with the higher sequence wins, so a power cut at any byte of
the write, or between write and rename, yields either the old or the new record, never a mix.

Layout (little-endian): b"PR" | version u8 | seq u32 | length u16 | payload | crc32 u32
"""

import binascii
import struct

from micropython import const

FORMAT_VERSION = const(1)
_HEADER = "<2sBIH"
_HEADER_LEN = const(9)
_MAGIC = b"PR"

OK = const(0)
MISSING = const(1)
CORRUPT = const(2)


def encode(seq, payload):
    header = struct.pack(_HEADER, _MAGIC, FORMAT_VERSION, seq & 0xFFFFFFFF, len(payload))
    crc = binascii.crc32(payload, binascii.crc32(header)) & 0xFFFFFFFF
    return header + payload + struct.pack("<I", crc)


def decode(data):
    """(seq, payload) or None if the bytes are not one complete, valid record. Reads the header and
    the CRC in place and checks the CRC over a memoryview: the payload is the only copy made (a boot
    decodes up to 200 log slots, a log export up to 64)."""
    if data is None:
        return None
    n = len(data)
    if n < _HEADER_LEN + 4:
        return None
    magic, version, seq, length = struct.unpack_from(_HEADER, data, 0)
    if magic != _MAGIC or version != FORMAT_VERSION or n != _HEADER_LEN + length + 4:
        return None
    view = memoryview(data)
    if binascii.crc32(view[:n - 4]) & 0xFFFFFFFF != struct.unpack_from("<I", data, n - 4)[0]:
        return None
    return seq, bytes(view[_HEADER_LEN:n - 4])


def save(storage, name, seq, payload):
    """Write atomically. Raises OSError if the storage fails (the old record then stays valid)."""
    tmp = name + ".new"
    storage.write(tmp, encode(seq, payload))
    storage.rename(tmp, name)


def load(storage, name):
    """(status, seq, payload): status OK with the newest valid copy, MISSING if neither copy exists,
    CORRUPT if a copy exists but none is valid. Raises OSError if the storage cannot be read."""
    main = storage.read(name)
    new = storage.read(name + ".new")
    best = None
    for data in (main, new):
        got = decode(data)
        if got is not None and (best is None or got[0] > best[0]):
            best = got
    if best is not None:
        return OK, best[0], best[1]
    if main is None and new is None:
        return MISSING, 0, b""
    return CORRUPT, 0, b""
