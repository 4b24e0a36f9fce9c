"""Patient-activated (demand) bolus policy: dose, duration, lockout and a rolling 24 h maximum.

Grant times are kept in a preallocated ring of MAX_PER_DAY_CAP monotonic seconds (mono_s: the wall
clock less every jump the host made, firmware/timebase.py), so setting the clock can neither shorten a
lockout nor empty the 24 h window; a request is refused
with a reason if demand is not enabled, the lockout since the last grant has not passed, or the
rolling 24 h count has reached max_per_day.
"""

from micropython import const

from firmware.errors import E_DEMAND_LOCKOUT, E_DEMAND_MAX_PER_DAY, E_DEMAND_NOT_SET

MAX_PER_DAY_CAP = const(24)
_DAY_S = const(86400)


class DemandPolicy:
    def __init__(self):
        self.enabled = False
        self.dose_ng = 0
        self.duration_s = 0
        self.lockout_s = 0
        self.max_per_day = 0
        self._grants = [0] * MAX_PER_DAY_CAP
        self._count = 0            # grants stored (<= cap)
        self._next = 0             # ring index of the next write

    def configure(self, dose_ng, duration_s, lockout_s, max_per_day):
        self.enabled = True
        self.dose_ng = dose_ng
        self.duration_s = duration_s
        self.lockout_s = lockout_s
        self.max_per_day = max_per_day

    def disable(self):
        self.enabled = False

    def settings(self):
        """[dose_ng, duration_s, lockout_s, max_per_day] for the settings record, or None (disabled)."""
        if not self.enabled:
            return None
        return [self.dose_ng, self.duration_s, self.lockout_s, self.max_per_day]

    def granted_in_24h(self, mono_s):
        n = 0
        for i in range(self._count):
            if mono_s - self._grants[i] < _DAY_S:
                n += 1
        return n

    def last_grant_s(self):
        if self._count == 0:
            return None
        return self._grants[(self._next - 1) % MAX_PER_DAY_CAP]

    def refusal(self, mono_s):
        """None if a demand bolus may start at monotonic second mono_s, else (error code, reason)."""
        if not self.enabled:
            return E_DEMAND_NOT_SET, "demand boluses are not enabled"
        last = self.last_grant_s()
        if last is not None and mono_s - last < self.lockout_s:
            return E_DEMAND_LOCKOUT, "lockout: next demand allowed in %d s" % (self.lockout_s - (mono_s - last))
        if self.granted_in_24h(mono_s) >= self.max_per_day:
            return E_DEMAND_MAX_PER_DAY, "%d demand boluses in the last 24 h (maximum %d)" % (
                self.granted_in_24h(mono_s), self.max_per_day)
        return None

    def grant(self, mono_s):
        """A demand bolus was granted at monotonic second mono_s."""
        self._grants[self._next] = mono_s
        self._next = (self._next + 1) % MAX_PER_DAY_CAP
        if self._count < MAX_PER_DAY_CAP:
            self._count += 1

    def grant_times(self):
        """Grant times still inside any 24 h window, oldest first (for the journal)."""
        out = []
        for i in range(self._count):
            out.append(self._grants[(self._next - self._count + i) % MAX_PER_DAY_CAP])
        return out

    def snapshot(self):
        """The grant times (monotonic s, oldest first) for the journal: grant_times()."""
        return self.grant_times()

    def restore(self, times):
        """The grants become the times of snapshot() (oldest first; after a reset). Every time is
        checked first: not a list of ints, TypeError (nothing changed)."""
        for t_s in times:
            if isinstance(t_s, bool) or not isinstance(t_s, int):
                raise TypeError("grant time %r" % (t_s,))
        self._count = 0
        self._next = 0
        for t_s in times:
            self.grant(t_s)

    def describe(self):
        if not self.enabled:
            return None
        return {"dose_ng": self.dose_ng, "duration_s": self.duration_s, "lockout_s": self.lockout_s,
                "max_per_day": self.max_per_day}
