"""Event log: a bounded ring of records (seq, t_s, type, data). The oldest is dropped first, and
dropped records are counted, never hidden. Sequence numbers wrap at 2**30 (a billion events).

Every record is persisted (firmware/logstore.py) as it is added; a record that could not be written
stays in RAM and is counted in `unsaved`. At boot restore() refills the ring from flash.
"""


class EventLog:
    def __init__(self, capacity=200):
        self.capacity = capacity
        self._ring = [None] * capacity
        self._start = 0
        self.count = 0
        self.next_seq = 0
        self.dropped = 0
        self.unsaved = 0
        self.listener = None  # called with each new record (notices)
        self.store = None     # LogStore, or None (no persistence)
        self.on_store_error = None

    def add(self, t_s, kind, data=None):
        rec = (self.next_seq, t_s, kind, data)
        self.next_seq = (self.next_seq + 1) & 0x3FFFFFFF
        self._put(rec)
        if self.store is not None:
            try:
                self.store.write(rec)
            except OSError as exc:
                self.unsaved += 1
                if self.on_store_error is not None:
                    self.on_store_error(exc)
        if self.listener is not None:
            self.listener(rec)
        return rec

    def _put(self, rec):
        if self.count == self.capacity:
            self._ring[self._start] = rec
            self._start = (self._start + 1) % self.capacity
            self.dropped += 1
        else:
            self._ring[(self._start + self.count) % self.capacity] = rec
            self.count += 1

    def restore(self, recs):
        """Boot: records read back from flash, oldest first. Older ones not on flash were dropped."""
        for rec in recs:
            self._put(rec)
        if recs:
            self.next_seq = (recs[-1][0] + 1) & 0x3FFFFFFF
            self.dropped = recs[-1][0] + 1 - len(recs)

    def records(self, since_seq=0, limit=64):
        """Records with seq >= since_seq, oldest first, at most `limit`."""
        out = []
        for i in range(self.count):
            rec = self._ring[(self._start + i) % self.capacity]
            if rec[0] >= since_seq:
                out.append(rec)
                if len(out) >= limit:
                    break
        return out

    def last(self, kind):
        for i in range(self.count - 1, -1, -1):
            rec = self._ring[(self._start + i) % self.capacity]
            if rec[2] == kind:
                return rec
        return None
