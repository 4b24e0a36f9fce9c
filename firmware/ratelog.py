"""Bounded logging of a record kind that a host can repeat without end (refused demand boluses, an
unexpected error in a command): every record is a flash write (firmware/logstore.py).

The first `per_window` records of a window of `window_s` (monotonic s) are logged one by one; later
ones are counted, per error code, and written as one "<kind>_suppressed" record {"error", "count",
"window_s"} when the window is over (at the next record, or at housekeeping). So a flood costs at most
per_window + one record per code a window, and every occurrence is counted.
"""


class RateLog:
    def __init__(self, log, timebase, kind, window_s, per_window):
        self._log = log              # the EventLog
        self._timebase = timebase    # wall_s for the records, mono_s() for the windows
        self.kind = kind
        self.window_s = window_s
        self.per_window = per_window
        self._start = None       # monotonic s of the window's first record
        self._count = 0
        self._suppressed = {}    # error code -> records counted, not logged

    def add(self, data):
        """Log `data` (a dict with "error") as a record of this kind, or count it."""
        tb = self._timebase
        now = tb.mono_s()
        self.flush(now)
        if self._start is None:
            self._start = now
        self._count += 1
        if self._count <= self.per_window:
            self._log.add(tb.wall_s, self.kind, data)
        else:
            code = data.get("error")
            self._suppressed[code] = self._suppressed.get(code, 0) + 1

    def flush(self, now):
        """Close the window if it is over, writing its counts. True while a window stays open (its
        owner's housekeeping must come back), False when none is. The usual answer (no window open)
        is one comparison, in a frame small enough for the C stack (tools/bench/cpython_frames.py)."""
        start = self._start
        if start is None:
            return False
        if 0 <= now - start < self.window_s:
            return True
        if self._suppressed:
            self._write_counts()
        self._start = None
        self._count = 0
        return False

    def _write_counts(self):
        wall = self._timebase.wall_s
        for code, count in self._suppressed.items():
            self._log.add(wall, self.kind + "_suppressed",
                          {"error": code, "count": count, "window_s": self.window_s})
        self._suppressed = {}
