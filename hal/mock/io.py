"""Mock buzzer, LED, button, analog input and watchdog. Each records what the firmware did to it."""

from hal.interfaces import AnalogIn, Button, Buzzer, Led, Watchdog


class MockBuzzer(Buzzer):
    """Records (elapsed_ms, freq_hz) for every change (freq 0 means off): the first MAX_RECORD
    changes since the last clear(), and counts them all (a long alarm must not eat the host's RAM)."""

    MAX_RECORD = 4000

    def __init__(self, clock):
        self._clock = clock
        self.freq_hz = 0
        self.changes = []
        self.count = 0

    def _record(self, freq_hz):
        self.count += 1
        if len(self.changes) < self.MAX_RECORD:
            self.changes.append((self._clock.elapsed_ms, freq_hz))

    def clear(self):
        self.changes = []

    def tone(self, freq_hz):
        self.freq_hz = freq_hz
        self._record(freq_hz)

    def off(self):
        if self.freq_hz:
            self.freq_hz = 0
            self._record(0)


class MockLed(Led):
    def __init__(self):
        self.on = False

    def set(self, on):
        self.on = bool(on)


class MockButton(Button):
    def __init__(self):
        self.count = 0

    def press(self):
        self.count += 1

    def presses(self):
        return self.count


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
