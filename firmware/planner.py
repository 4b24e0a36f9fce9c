"""Step planner: the tick of the next pump step, from an integer accumulator. No float, no drift.

Model. At a rate of R nL/day the pump accrues R *units* per ms, one unit being 1/86400 pL
(R nL/day = R*1000 pL per 86_400_000 ms = R/86400 pL per ms). A step of S pL costs C = S*86400 units.
Steps fall where the accrued volume crosses each multiple of C, so they are spread evenly and the
count over any span is exact to one step.

Step path (Bresenham). With C = q*R + r (q whole ms, 0 <= r < R) and `_excess` e = units accrued at
the next step beyond its cost (0 <= e < R), the interval to the step after it is q+1 ms if r > e
(then e' = e - r + R) else q ms (then e' = e - r). Only small ints there: e, r < R < 2**30 and
q < MAX_INTERVAL_MS, so stepping never allocates on a board.

Rate or calibration changes carry the progress toward the next step over exactly. C may exceed 2**30,
so that arithmetic may make a transient long int: it runs only at a change, never per step.
"""

from micropython import const

_TICKS_MASK = const(0x3FFFFFFF)        # HAL ticks wrap at 2**30 (advance() adds inline: once per step)
UNITS_PER_PL = const(86400)
MAX_RATE_NL_DAY = const(500_000_000)   # 0.5 L/day: far above any intrathecal rate, below 2**30
MAX_INTERVAL_MS = const(1 << 28)       # 3.1 days between steps at most (ticks_diff needs < 2**29)


def interval_ms(step_pl, rate_nl_day):
    """Whole ms between steps at this rate (0 if stopped). For validation and display only."""
    if rate_nl_day <= 0:
        return 0
    return step_pl * UNITS_PER_PL // rate_nl_day


def rate_allowed(step_pl, rate_nl_day):
    """True if the planner can run this rate: 0, or one step every 1 ms .. MAX_INTERVAL_MS."""
    if rate_nl_day == 0:
        return True
    if rate_nl_day < 0 or rate_nl_day > MAX_RATE_NL_DAY:
        return False
    q = interval_ms(step_pl, rate_nl_day)
    return 1 <= q < MAX_INTERVAL_MS


class Planner:
    def __init__(self, clock, step_pl):
        self._clock = clock
        self.step_pl = step_pl
        self._cost = step_pl * UNITS_PER_PL
        self.rate_nl_day = 0
        self._q = 0
        self._r = 0
        self._excess = 0
        self._idle_progress = 0   # units toward the next step while the rate is 0
        self.next_ticks = 0
        self.running = False

    def progress_at(self, at_ticks):
        """Units accrued toward the next step at `at_ticks` (0 <= progress < cost).
        Valid for at_ticks between the last step and the next one."""
        if not self.running:
            return self._idle_progress
        left_ms = self._clock.ticks_diff(self.next_ticks, at_ticks)
        progress = self._cost + self._excess - self.rate_nl_day * left_ms
        if progress < 0:
            return 0
        if progress >= self._cost:
            return self._cost - 1
        return progress

    def set_rate(self, rate_nl_day, at_ticks):
        """Change the rate at `at_ticks` (not after the next step: emit due steps first)."""
        progress = self.progress_at(at_ticks)
        self.rate_nl_day = rate_nl_day
        self._restart(progress, at_ticks)

    def set_step_pl(self, step_pl, at_ticks):
        """New calibration: the fraction of a step already accrued is kept."""
        progress = self.progress_at(at_ticks)
        new_cost = step_pl * UNITS_PER_PL
        progress = progress * new_cost // self._cost
        self.step_pl = step_pl
        self._cost = new_cost
        self._restart(progress, at_ticks)

    def start_fresh(self, rate_nl_day, at_ticks):
        """Run at rate_nl_day from at_ticks with nothing accrued (a bolus starting)."""
        self.rate_nl_day = rate_nl_day
        self._restart(0, at_ticks)

    def reset_progress(self, at_ticks):
        """Forget the partial step (after a refill or a stop that must not carry credit)."""
        self._restart(0, at_ticks)

    def _restart(self, progress, at_ticks):
        rate = self.rate_nl_day
        if rate <= 0:
            self.running = False
            self._idle_progress = progress
            return
        cost = self._cost                 # // and %, not divmod(): see hal/interfaces.py
        self._q = cost // rate
        self._r = cost % rate
        remaining = self._cost - progress
        wait_ms = (remaining + rate - 1) // rate
        self._excess = rate * wait_ms - remaining
        self.next_ticks = self._clock.ticks_add(at_ticks, wait_ms)
        self.running = True

    def is_due(self, now_ticks):
        return self.running and self._clock.ticks_diff(now_ticks, self.next_ticks) >= 0

    def advance(self):
        """The step at next_ticks was emitted: plan the following one. Allocation-free: every
        intermediate is below 2**30 (excess - r + R < 2R <= 2 * MAX_RATE_NL_DAY; q + 1 <= MAX_INTERVAL_MS)."""
        excess = self._excess
        r = self._r
        q = self._q
        if r > excess:
            self._excess = excess - r + self.rate_nl_day
            q += 1
        else:
            self._excess = excess - r
        # ticks_add(next_ticks, q) written out in small ints (hal/interfaces.py): once per step
        t = self.next_ticks
        room = _TICKS_MASK - t
        self.next_ticks = q - room - 1 if q > room else t + q
