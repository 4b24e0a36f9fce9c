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
        self._restore([r[0] for r in recs], recs)
        if self.store is not None:
            self._trim()

    def restore_from(self, store):
        """Boot: restore(store.load()[0]) holding one record at a time (store: a LogStore); the newest
        `tail` stay in RAM. Returns the count of corrupted slots; raises OSError if the storage fails
        (the log is then left as it was)."""
        seqs, newest, corrupt = store.scan(self.tail)
        self._restore(seqs, newest)
        return corrupt

    def records(self, since_seq=0, limit=64):
        """Records with seq >= since_seq, oldest first, at most `limit`. Raises OSError if one of them
        is neither in RAM nor readable from its slot."""
        out = []
        for rec in self._each(since_seq):
            out.append(rec)
            if len(out) >= limit:
                break
        return out

    def last(self, kind):
        """The newest record of that type, or None. Beyond the newest `tail` it reads the whole log
        (flash too): rarely used. Raises OSError like records()."""
        ram = self._ram
        for i in range(len(ram) - 1, len(ram) - 1 - min(self.count, self.tail), -1):
            if ram[i][2] == kind:
                return ram[i]
        found = None
        for rec in self._each(0):
            if rec[2] == kind:
                found = rec
        return found

    # --- internals ------------------------------------------------------------------------------
    def _each(self, since_seq):
        """The records with seq >= since_seq, oldest first: from RAM, else from their slot (with a
        collection every few slot reads: a long read's garbage stays small on a board)."""
        runs = self._runs
        reads = 0
        for k in range(0, len(runs), 2):
            for i in range(runs[k + 1]):
                seq = (runs[k] + i) & _SEQ_MASK
                if seq < since_seq:
                    continue
                rec = self._in_ram(seq)
                if rec is None and self.store is not None:
                    if _COLLECT and reads and reads % _READS_PER_COLLECT == 0:
                        gc.collect()
                    reads += 1
                    try:
                        rec = self.store.read(seq)
                    except OSError as exc:
                        raise OSError("event log record %d unreadable: %r" % (seq, exc))
                if rec is None:
                    raise OSError("event log record %d is no longer on flash" % seq)
                yield rec

    def _in_ram(self, seq):
        for rec in self._ram:
            if rec[0] == seq:
                return rec
        return None

    def _restore(self, seqs, recs):
        for seq in seqs:
            self._append(seq)
        self._ram.extend(recs[-self.capacity:])
        if seqs:
            self.dropped = seqs[-1] + 1 - len(seqs)

    def _append(self, seq):
        """seq becomes the newest in the log (the oldest is dropped first if the log is full)."""
        runs = self._runs
        if self.count == self.capacity:
            old = runs[0]
            runs[0] = (old + 1) & _SEQ_MASK
            runs[1] -= 1
            if not runs[1]:
                del runs[0:2]
            ram = self._ram
            if ram and ram[0][0] == old:
                ram.pop(0)
                if old in self._pinned:
                    self._pinned.remove(old)
            self.count -= 1
            self.dropped += 1
        if runs and (runs[-2] + runs[-1]) & _SEQ_MASK == seq:
            runs[-1] += 1
        else:
            runs.append(seq)
            runs.append(1)
        self.count += 1
        self.next_seq = (seq + 1) & _SEQ_MASK

    def _keep_victim(self, seq):
        """seq's slot holds seq - capacity: if that record is still in the log (only when slots were
        lost at boot), it moves to RAM first; if it cannot be read, it leaves the log, counted."""
        runs = self._runs
        oldest = runs[0]
        victim = (seq - self.capacity) & _SEQ_MASK
        if (seq - oldest) & _SEQ_MASK < self.capacity or self._in_ram(victim) is not None:
            return                      # the log spans fewer seqs than slots, or it is in RAM
        for k in range(0, len(runs), 2):
            first = runs[k]
            n = runs[k + 1]
            at = (victim - first) & _SEQ_MASK
            if at < n:
                break
        else:
            return                      # lost at boot: not in the log
        try:
            rec = self.store.read(victim)
        except OSError:
            rec = None
        if rec is not None:
            ram = self._ram
            i = 0
            while i < len(ram) and (ram[i][0] - oldest) & _SEQ_MASK < (victim - oldest) & _SEQ_MASK:
                i += 1
            ram.insert(i, rec)
            self._pinned.append(victim)
            return
        runs[k + 1] = at                # split the run around the lost record
        if n - at - 1:
            runs.insert(k + 2, (victim + 1) & _SEQ_MASK)
            runs.insert(k + 3, n - at - 1)
        if not at:
            del runs[k:k + 2]
        self.count -= 1
        self.dropped += 1

    def _trim(self):
        """Flash holds them: drop from RAM the records older than the newest `tail`, unless pinned."""
        ram = self._ram
        old = len(ram) - min(self.count, self.tail)
        i = 0
        while old > 0:
            if ram[i][0] in self._pinned:
                i += 1
            else:
                ram.pop(i)
            old -= 1
