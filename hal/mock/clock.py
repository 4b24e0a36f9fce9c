"""Virtual clock: ticks wrap at 2**30 exactly like a board; time moves only when the firmware sleeps.

`elapsed_ms` is the true virtual time since the clock was made (an unbounded host int: the mock is
never on a board). A `horizon_ms` bounds how far sleeping may move time: the simulator sets it from the
host's `run` command and reads the next host line only when the clock stands at the horizon.

The ticks are kept as they move (never computed from elapsed_ms), in small ints, so that on a 32-bit
MicroPython build a wake-up allocates nothing in the clock (tests measure the firmware's allocation
through the simulator). elapsed_ms itself becomes a long int there after 2**30 ms (12.4 days).
"""

from hal.contracts import Clock
from hal.interfaces import COUNTER_PERIOD

_MASK = COUNTER_PERIOD - 1
_HALF = COUNTER_PERIOD >> 1


class VirtualClock(Clock):
    def __init__(self, start_ticks=0, wall_start_s=0):
        self._ticks = start_ticks % COUNTER_PERIOD   # ticks_ms() now, kept as time moves (small int)
        self.elapsed_ms = 0
        self.horizon_ms = None  # None: unbounded (tests that drive time themselves)
        self._wall_start_s = wall_start_s
        self._rtc_offset_s = 0
        self._rtc_set = True
        self.sleeps = 0  # number of sleep_until calls that moved time (wake-ups)

    def ticks_ms(self):
        return self._ticks

    def rtc_s(self):
        if not self._rtc_set:
            return -1
        return self._wall_start_s + self._rtc_offset_s + self.elapsed_ms // 1000

    def set_rtc_s(self, wall_s):
        self._rtc_offset_s = wall_s - self._wall_start_s - self.elapsed_ms // 1000
        self._rtc_set = True

    def lose_rtc(self):
        """A board without a backup battery: the RTC restarts unset (rtc_s() == -1) until set."""
        self._rtc_set = False

    def sleep_until(self, deadline_ticks, serial):
        if serial is not None and serial.any():
            return
        # ticks_diff(deadline, ticks_ms()) written out in small ints: once per simulated wake-up
        ticks = self._ticks
        delta = deadline_ticks - ticks
        if delta >= _HALF:
            delta = delta - _HALF - _HALF
        elif delta < -_HALF:
            delta = delta + _HALF + _HALF
        if delta <= 0:
            return
        horizon = self.horizon_ms
        if horizon is not None and delta > horizon - self.elapsed_ms:
            delta = horizon - self.elapsed_ms
            if delta <= 0:
                return
        self.elapsed_ms += delta
        room = _MASK - ticks                   # ticks_add(ticks, delta) in small ints
        self._ticks = delta - room - 1 if delta > room else ticks + delta
        self.sleeps += 1

    def advance_ms(self, delta_ms):
        """Move time directly (tests, power cuts: as if the CPU were busy or the board off)."""
        self.elapsed_ms += delta_ms
        self._ticks = (self._ticks + delta_ms) % COUNTER_PERIOD   # any size (not a per-wake-up path)

    def at_horizon(self):
        return self.horizon_ms is not None and self.elapsed_ms >= self.horizon_ms
