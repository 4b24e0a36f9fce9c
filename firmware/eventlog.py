"""Event log: the last `capacity` records (seq, t_s, type, data), oldest first. The oldest is dropped
first, and dropped records are counted, never hidden. Sequence numbers wrap at 2**30 (a billion events).

Every record is persisted as it is added (firmware/logstore.py: record seq in slot seq % capacity), so
RAM holds only what flash cannot serve:
- the sequence numbers in the log, as runs [first seq, length, ...] (one run unless slots were lost);
- the newest `tail` records (what notices and a host's polling read);
- every record not on flash: its write failed (counted in `unsaved`; it leaves RAM when it leaves the
  log, and a reset loses it), no LogStore was attached when it was added, or its slot is about to take
  a newer record while it is still in the log (possible only after slots were lost at boot).
Older records are read from their slot when asked for (records(), last()); a record that cannot be
read there raises OSError: a record is never skipped in silence. At boot restore() or restore_from()
sets the log from flash.
"""

import gc

from micropython import const

_SEQ_MASK = const(0x3FFFFFFF)
_READS_PER_COLLECT = const(4)    # slot reads between collections: a board's file object is ~1.2 KB
_COLLECT = hasattr(gc, "mem_alloc")   # MicroPython's heap: garbage stays until a collection


class EventLog:
    def __init__(self, capacity=200, tail=8):
        self.capacity = capacity
        self.tail = tail              # the newest records kept in RAM
        self.count = 0
        self.next_seq = 0
        self.dropped = 0
        self.unsaved = 0
        self.listener = None  # called with each new record (notices)
        self.store = None     # LogStore, or None (no persistence: every record stays in RAM)
        self.on_store_error = None
        self._runs = []       # [first seq, length, ...]: the records in the log, oldest first
        self._ram = []        # the records held in RAM, oldest first (a subsequence of the log)
        self._pinned = []     # seqs of the records in _ram that flash does not hold

    def add(self, t_s, kind, data=None):
        seq = self.next_seq
        rec = (seq, t_s, kind, data)
        self.next_seq = (seq + 1) & _SEQ_MASK
        if self.count == self.capacity:
            self._drop_oldest()
        self._append(seq)
        self._ram.append(rec)
        store = self.store
        if store is None:
            self._pinned.append(seq)
        else:
            self._keep_victim(seq)
            try:
                store.write(rec)
            except OSError as exc:
                self._pinned.append(seq)
                self.unsaved += 1
                if self.on_store_error is not None:
                    self.on_store_error(exc)
            self._trim()
        if self.listener is not None:
            self.listener(rec)
        return rec

    def restore(self, recs):
        """Boot: records read back from flash, oldest first (older ones not on flash were dropped).
        They stay in RAM until a LogStore is attached; then only the newest `tail` do."""
        for rec in recs:
            if self.count == self.capacity:
                self._drop_oldest()
            self._append(rec[0])
            self._ram.append(rec)
        if recs:
            self.next_seq = (recs[-1][0] + 1) & _SEQ_MASK
            self.dropped = recs[-1][0] + 1 - len(recs)
        if self.store is not None:
            self._trim()

    def restore_from(self, store):
        """Boot: restore(store.load()[0]) with one record at a time in RAM (store: a LogStore); the
        newest `tail` stay. Returns the count of corrupted slots; raises OSError if the storage fails
        (the log is then left as it was)."""
        seqs, newest, corrupt = store.scan(self.tail)
        for seq in seqs:
            if self.count == self.capacity:
                self._drop_oldest()
            self._append(seq)
        self._ram.extend(newest)
        if seqs:
            self.next_seq = (seqs[-1] + 1) & _SEQ_MASK
            self.dropped = seqs[-1] + 1 - len(seqs)
        return corrupt

    def records(self, since_seq=0, limit=64):
        """Records with seq >= since_seq, oldest first, at most `limit`. Raises OSError if one of them
        is neither in RAM nor readable from its slot."""
        out = []
        runs = self._runs
        reads = [0]
        for k in range(0, len(runs), 2):
            first = runs[k]
            for i in range(runs[k + 1]):
                seq = (first + i) & _SEQ_MASK
                if seq >= since_seq:
                    out.append(self._get(seq, reads))
                    if len(out) >= limit:
                        return out
        return out

    def last(self, kind):
        """The newest record of that type, or None (reads flash back from the newest: rarely used).
        Raises OSError like records()."""
        runs = self._runs
        reads = [0]
        for k in range(len(runs) - 2, -1, -2):
            first = runs[k]
            for i in range(runs[k + 1] - 1, -1, -1):
                rec = self._get((first + i) & _SEQ_MASK, reads)
                if rec[2] == kind:
                    return rec
        return None

    # --- internals ------------------------------------------------------------------------------
    def _get(self, seq, reads):
        """Record seq from RAM, else from its slot (reads[0] counts slot reads: a collection every few
        keeps a long read's garbage small on a board)."""
        for rec in self._ram:
            if rec[0] == seq:
                return rec
        rec = None
        if self.store is not None:
            if _COLLECT and reads[0] and reads[0] % _READS_PER_COLLECT == 0:
                gc.collect()
            reads[0] += 1
            try:
                rec = self.store.read(seq)
            except OSError as exc:
                raise OSError("event log record %d unreadable: %r" % (seq, exc))
        if rec is None:
            raise OSError("event log record %d is no longer on flash" % seq)
        return rec

    def _append(self, seq):
        runs = self._runs
        if runs and (runs[-2] + runs[-1]) & _SEQ_MASK == seq:
            runs[-1] += 1
        else:
            runs.append(seq)
            runs.append(1)
        self.count += 1

    def _drop_oldest(self):
        runs = self._runs
        seq = runs[0]
        if runs[1] == 1:
            del runs[0:2]
        else:
            runs[0] = (seq + 1) & _SEQ_MASK
            runs[1] -= 1
        ram = self._ram
        if ram and ram[0][0] == seq:
            ram.pop(0)
            if seq in self._pinned:
                self._pinned.remove(seq)
        self.count -= 1
        self.dropped += 1

    def _holds(self, seq):
        runs = self._runs
        for k in range(0, len(runs), 2):
            if (seq - runs[k]) & _SEQ_MASK < runs[k + 1]:
                return k
        return -1

    def _keep_victim(self, seq):
        """seq's slot holds seq - capacity: a record still in the log (only when slots were lost at
        boot) moves to RAM first; if it cannot be read it leaves the log, counted as dropped."""
        runs = self._runs
        if (seq - runs[0]) & _SEQ_MASK < self.capacity:
            return                      # the log spans fewer seqs than slots: nothing to overwrite
        victim = (seq - self.capacity) & _SEQ_MASK
        k = self._holds(victim)
        if k < 0:
            return
        ram = self._ram
        for rec in ram:
            if rec[0] == victim:
                return
        try:
            rec = self.store.read(victim)
        except OSError:
            rec = None
        if rec is None:
            self._forget(k, victim)
            return
        oldest = runs[0]
        at = 0
        while at < len(ram) and (ram[at][0] - oldest) & _SEQ_MASK < (victim - oldest) & _SEQ_MASK:
            at += 1
        ram.insert(at, rec)
        self._pinned.append(victim)

    def _forget(self, k, seq):
        """Take seq (in the run at k) out of the log: counted as dropped."""
        runs = self._runs
        first = runs[k]
        n = runs[k + 1]
        at = (seq - first) & _SEQ_MASK
        if n == 1:
            del runs[k:k + 2]
        elif at == 0:
            runs[k] = (seq + 1) & _SEQ_MASK
            runs[k + 1] = n - 1
        elif at == n - 1:
            runs[k + 1] = n - 1
        else:
            runs[k + 1] = at
            runs.insert(k + 2, (seq + 1) & _SEQ_MASK)
            runs.insert(k + 3, n - at - 1)
        self.count -= 1
        self.dropped += 1

    def _trim(self):
        """Flash holds them: drop from RAM the records older than the newest `tail`, unless pinned."""
        ram = self._ram
        pinned = self._pinned
        old = len(ram) - min(self.count, self.tail)
        i = 0
        while old > 0:
            if ram[i][0] in pinned:
                i += 1
            else:
                ram.pop(i)
            old -= 1
