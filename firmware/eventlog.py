"""Event log: a bounded ring of records (seq, t_s, type, data). The oldest is dropped first, and
dropped records are counted, never hidden. Sequence numbers wrap at 2**30.

The log is also the firmware's place to persist records (a later layer writes each record to flash
before it is acknowledged); here it keeps the RAM ring that the host exports with `log`.
"""


class EventLog:
    def __init__(self, capacity=256):
        self.capacity = capacity
        self._ring = [None] * capacity
        self._start = 0
        self.count = 0
        self.next_seq = 0
        self.dropped = 0
        self.listener = None  # called with each new record (notices, persistence)

    def add(self, t_s, kind, data=None):
        rec = (self.next_seq, t_s, kind, data)
        self.next_seq = (self.next_seq + 1) & 0x3FFFFFFF
        if self.count == self.capacity:
            self._ring[self._start] = rec
            self._start = (self._start + 1) % self.capacity
            self.dropped += 1
        else:
            self._ring[(self._start + self.count) % self.capacity] = rec
            self.count += 1
        if self.listener is not None:
            self.listener(rec)
        return rec

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
