"""Wall-clock seconds carried forward from ticks, so all firmware time comes from one clock.

Invariant: at ticks `ticks`, the wall time is `wall_s` seconds plus `sub_ms` ms (0 <= sub_ms < 1000).
update() must be called at least every 2**29 ms (the main loop wakes far more often).
`jump_s` sums every correction the host made to the clock; mono_s() = wall_s - jump_s never jumps, so
lockouts and rolling 24 h windows cannot be shortened or stretched by setting the clock.

update() runs on every wake-up: its tick difference is written out in small ints (the HAL wrap,
2**30; idiom in hal/interfaces.py) instead of calling clock.ticks_diff.

Range: wall seconds are small ints on a board only below 2**30 (2058). The host may set the clock up
to WALL_MAX_S (2045-12-31 23:59:59); from there wall_s, mono_s and every deadline the firmware derives
from them (wall_s + a day, + a bolus, + a lockout) stay below 2**30 for 12 more years of running.
"""

from micropython import const

_TICKS_HALF = const(0x20000000)   # hal.interfaces.COUNTER_PERIOD // 2
WALL_MAX_S = const(694_310_399)   # 2045-12-31 23:59:59 (8036 days after 2024-01-01) + 12 years < 2**30


class Timebase:
    def __init__(self, clock, wall_s, now_ticks):
        self._clock = clock
        self.wall_s = wall_s
        self.sub_ms = 0
        self.ticks = now_ticks
        self.jump_s = 0

    def update(self, now_ticks):
        delta = now_ticks - self.ticks            # ticks_diff written out (hal/interfaces.py)
        if delta >= _TICKS_HALF:
            delta = delta - _TICKS_HALF - _TICKS_HALF
        elif delta < -_TICKS_HALF:
            delta = delta + _TICKS_HALF + _TICKS_HALF
        if delta <= 0:
            return
        self.ticks = now_ticks
        sub = self.sub_ms + delta
        if sub >= 1000:
            self.wall_s += sub // 1000
            sub %= 1000
        self.sub_ms = sub

    def ticks_at(self, wall_s, limit_ms):
        """Ticks of wall second `wall_s`, or of now + limit_ms if that is sooner (limit < 2**29)."""
        ahead = wall_s - self.wall_s
        if ahead * 1000 - self.sub_ms >= limit_ms:
            return self._clock.ticks_add(self.ticks, limit_ms)
        return self._clock.ticks_add(self.ticks, ahead * 1000 - self.sub_ms)

    def wall_at(self, ticks):
        """Wall second (floor) at `ticks`, which may lie a little before or after the last update."""
        return self.wall_s + (self.sub_ms + self._clock.ticks_diff(ticks, self.ticks)) // 1000

    def resume_at(self, wall_s):
        """Boot without a kept RTC: the wall clock goes on from the journal's time (not a jump)."""
        self.wall_s = wall_s

    def mono_s(self):
        return self.wall_s - self.jump_s

    def snapshot(self):
        """The sum of the clock's jumps (s) for the journal: mono_s() continues across a reset."""
        return self.jump_s

    def restore(self, jump_s):
        """After a reset, with wall_s already set: mono_s() resumes where the journal left it."""
        if isinstance(jump_s, bool) or not isinstance(jump_s, int):
            raise TypeError("jump %r" % (jump_s,))
        self.jump_s = jump_s

    def set_wall(self, wall_s):
        """The host set the clock. Returns the jump in seconds (for the log)."""
        jump = wall_s - self.wall_s
        self.wall_s = wall_s
        self.jump_s += jump
        return jump
