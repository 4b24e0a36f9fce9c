"""Mock buzzer, analog inputs (battery) and watchdog. Each records what the firmware did to it."""

from hal.contracts import AnalogIn, Buzzer, Watchdog


class MockBuzzer(Buzzer):
    """Records (elapsed_ms, freq_hz) for every change (freq 0 means off): the first MAX_RECORD
    changes since the last clear(), and counts them all (a long alarm must not eat the host's RAM).
    The record grows in small preallocated chunks (CHUNK changes each, reused after clear()): no
    object per change and no block bigger than a chunk, so it never needs a large free block of a
    board-sized heap (the 32-bit build's 1 MiB heap fragments: a list grown to 4000 tuples failed
    there) and costs nothing while no alarm sounds (the RAM budget run, tools/bench/cpython_heap_run.py)."""

    MAX_RECORD = 4096
    CHUNK = 128

    def __init__(self, clock):
        self._clock = clock
        self.freq_hz = 0
        self._chunks = []            # lists of 2 * CHUNK slots: elapsed_ms, freq_hz, elapsed_ms, ...
        self._n = 0                  # changes recorded since the last clear()
        self.count = 0

    def __getattr__(self, name):
        """`changes`: [(elapsed_ms, freq_hz)] recorded since the last clear() (a new list: host side).
        Not a property: a property makes MicroPython look the class up on every attribute store."""
        if name == "changes":
            out = []
            for k in range(self._n):
                chunk = self._chunks[k // self.CHUNK]
                i = 2 * (k % self.CHUNK)
                out.append((chunk[i], chunk[i + 1]))
            return out
        raise AttributeError(name)

    def _record(self, freq_hz):
        self.count += 1
        n = self._n
        if n >= self.MAX_RECORD:
            return
        index = n // self.CHUNK
        if index == len(self._chunks):
            self._chunks.append([0] * (2 * self.CHUNK))
        chunk = self._chunks[index]
        i = 2 * (n % self.CHUNK)
        chunk[i] = self._clock.elapsed_ms
        chunk[i + 1] = freq_hz
        self._n = n + 1

    def clear(self):
        self._n = 0

    def tone(self, freq_hz):
        self.freq_hz = freq_hz
        self._record(freq_hz)

    def off(self):
        if self.freq_hz:
            self.freq_hz = 0
            self._record(0)


class MockAnalog(AnalogIn):
    def __init__(self, mv):
        self.mv = mv

    def read_mv(self):
        return self.mv


class MockWatchdog(Watchdog):
    """Counts feeds and remembers the virtual time of the last one; `expired()` tells whether a board
    watchdog of `timeout_ms` would have reset by now."""

    def __init__(self, clock, timeout_ms=8000):
        self._clock = clock
        self.timeout_ms = timeout_ms
        self.feeds = 0
        self.last_feed_ms = 0

    def feed(self):
        self.feeds += 1
        self.last_feed_ms = self._clock.elapsed_ms

    def expired(self):
        return self._clock.elapsed_ms - self.last_feed_ms > self.timeout_ms


class MockBattery(AnalogIn):
    """Battery voltage falling linearly with virtual time (drain_uv_per_day microvolts per day of the
    virtual clock, integer; never below 0 mV), with a fault override (mV)."""

    def __init__(self, clock, start_mv=4000, drain_uv_per_day=0):
        self._clock = clock
        self.start_mv = start_mv
        self.drain_uv_per_day = drain_uv_per_day
        self.override_mv = None

    def read_mv(self):
        if self.override_mv is not None:
            return self.override_mv
        mv = self.start_mv - self.drain_uv_per_day * (self._clock.elapsed_ms // 1000) // 86_400_000
        return mv if mv > 0 else 0
