"""Event-log records on flash: one slot per record, CRC-checked, a bounded ring.

Record seq n lives in slot n % capacity (file "evNNN"), written with firmware/record.py's encoding
(sequence number + CRC) in a single write: a power cut tears at most the slot being written, which
held the oldest record (about to be dropped anyway) and the new one (the record being written).
At boot every slot is read; valid records are returned oldest first with the count of torn or
corrupted slots. Records are JSON arrays [seq, t_s, type, data]. firmware/eventlog.py keeps the newest
in RAM and reads older ones back one slot at a time (read()).
"""

import json

from firmware import record


def _slot(seq, capacity):
    return "ev%03d" % (seq % capacity)


def _decode(data):
    """(seq, t_s, kind, data) from a slot's bytes; None if missing, torn or corrupted."""
    got = record.decode(data)
    if got is None:
        return None
    try:
        seq, t_s, kind, payload = json.loads(got[1])
    except (ValueError, TypeError):
        return None
    return (seq, t_s, kind, payload)


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

    def read(self, seq):
        """Record seq as (seq, t_s, kind, data), or None if its slot holds no valid copy of it (torn,
        corrupted, or another record). Raises OSError if the storage fails."""
        rec = _decode(self._storage.read(_slot(seq, self.capacity)))
        if rec is None or rec[0] != seq:
            return None
        return rec

    def _slots(self):
        """Each written slot's record, or None for a torn or corrupted one (one slot read at a time).
        Raises OSError if the storage fails."""
        for i in range(self.capacity):
            data = self._storage.read("ev%03d" % i)
            if data is not None:
                rec = _decode(data)
                data = None
                yield rec

    def load(self):
        """(records oldest first, corrupted slot count). Raises OSError if the storage fails."""
        recs = []
        corrupt = 0
        for rec in self._slots():
            if rec is None:
                corrupt += 1
            else:
                recs.append(rec)
        recs.sort(key=lambda r: r[0])
        return recs, corrupt

    def scan(self, keep):
        """load() holding one record at a time: (seqs of the valid records, oldest first; the newest
        `keep` records, oldest first; corrupted slot count). Raises OSError if the storage fails."""
        seqs = []
        newest = []
        corrupt = 0
        for rec in self._slots():
            if rec is None:
                corrupt += 1
                continue
            seq = rec[0]
            seqs.append(seq)
            if len(newest) == keep:
                if not keep or seq < newest[0][0]:
                    continue
                newest.pop(0)
            at = len(newest)
            while at and newest[at - 1][0] > seq:
                at -= 1
            newest.insert(at, rec)
        seqs.sort()
        return seqs, newest, corrupt
