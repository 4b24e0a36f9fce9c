"""Event-log records on flash: one slot per record, CRC-checked, a bounded ring.

Record seq n lives in slot n % capacity (file "evNNN"), written with firmware/record.py's encoding
(sequence number + CRC) in a single write: a power cut tears at most the slot being written, which
held the oldest record (about to be dropped anyway) and the new one (the record being written).
At boot every slot is read; valid records are returned oldest first with the count of torn or
corrupted slots. Records are JSON arrays [seq, t_s, type, data].
"""

import json

from firmware import record


def _slot(seq, capacity):
    return "ev%03d" % (seq % capacity)


class LogStore:
    def __init__(self, storage, capacity):
        self._storage = storage
        self.capacity = capacity
        self.bytes_written = 0

    def write(self, rec):
        """Persist one record (seq, t_s, kind, data). Raises OSError on a storage failure."""
        data = record.encode(rec[0], json.dumps([rec[0], rec[1], rec[2], rec[3]]).encode())
        self._storage.write(_slot(rec[0], self.capacity), data)
        self.bytes_written += len(data)

    def load(self):
        """(records oldest first, corrupted slot count). Raises OSError if the storage fails."""
        recs = []
        corrupt = 0
        for i in range(self.capacity):
            data = self._storage.read("ev%03d" % i)
            if data is None:
                continue
            got = record.decode(data)
            if got is None:
                corrupt += 1
                continue
            try:
                seq, t_s, kind, payload = json.loads(got[1])
            except (ValueError, TypeError):
                corrupt += 1
                continue
            recs.append((seq, t_s, kind, payload))
        recs.sort(key=lambda r: r[0])
        return recs, corrupt
