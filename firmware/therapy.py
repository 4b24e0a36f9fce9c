"""The programme in force: mode, doses and the flex schedule -> basal rate in whole nL/day.

Rate arithmetic: volume/day = dose/day / concentration. With the dose in ng/day and the
concentration in mcg/mL (= ng/uL), rate_nl_day = dose_ng_day * 1000 // conc_mcg_ml, rounded DOWN to
the whole nL/day (never over; the loss is < 1 nL/day, < 0.001 % at intrathecal rates).

Modes: stopped; continuous (one daily dose); flex (a repeating day or week cycle of up to 24 steps,
each a start offset in s and a daily dose, aligned to the pump's wall clock: offset 0 is 00:00 on
day 0, a Monday); minimum (the configured minimum rate in nL/day, whatever the drug).
"""

from micropython import const

STOPPED = "stopped"
CONTINUOUS = "continuous"
FLEX = "flex"
MINIMUM = "minimum"

MODES = (STOPPED, CONTINUOUS, FLEX, MINIMUM)
CYCLES = {"day": 86400, "week": 7 * 86400}
MAX_FLEX_STEPS = const(24)


def rate_nl_day(dose_ng_day, conc_mcg_ml):
    if dose_ng_day <= 0 or conc_mcg_ml <= 0:
        return 0
    return dose_ng_day * 1000 // conc_mcg_ml


class Therapy:
    def __init__(self):
        self.mode = STOPPED
        self.dose_ng_day = 0        # continuous
        self.cycle_s = 86400        # flex
        self.starts_s = ()
        self.doses_ng_day = ()

    def set_continuous(self, dose_ng_day):
        self.mode = CONTINUOUS
        self.dose_ng_day = dose_ng_day

    def set_flex(self, cycle_s, starts_s, doses_ng_day):
        """starts_s strictly increasing within [0, cycle_s); one dose per start (validated by caller)."""
        self.mode = FLEX
        self.cycle_s = cycle_s
        self.starts_s = tuple(starts_s)
        self.doses_ng_day = tuple(doses_ng_day)

    def set_minimum(self):
        self.mode = MINIMUM

    def stop(self):
        self.mode = STOPPED

    def copy(self):
        """An equal, independent Therapy (a programme is built on a copy, then replaces the old one)."""
        return from_snapshot(self.snapshot())

    def snapshot(self):
        """[mode, dose_ng_day, cycle_s, starts_s, doses_ng_day] for the settings record (from_snapshot)."""
        return [self.mode, self.dose_ng_day, self.cycle_s, list(self.starts_s), list(self.doses_ng_day)]

    def dose_at(self, wall_s):
        """Programmed daily dose (ng/day) in force at wall second wall_s; 0 if none (stopped,
        minimum)."""
        if self.mode == CONTINUOUS:
            return self.dose_ng_day
        if self.mode == FLEX:
            return self.doses_ng_day[self._flex_index(wall_s % self.cycle_s)]
        return 0

    def rate_at(self, wall_s, conc_mcg_ml, minimum_nl_day):
        """Basal rate in nL/day at wall second wall_s."""
        if self.mode == MINIMUM:
            return minimum_nl_day
        return rate_nl_day(self.dose_at(wall_s), conc_mcg_ml)

    def next_change_s(self, wall_s):
        """Wall second of the next scheduled rate change after wall_s, or None."""
        if self.mode != FLEX or len(self.starts_s) < 2:
            return None
        offset = wall_s % self.cycle_s
        base = wall_s - offset
        for start in self.starts_s:
            if start > offset:
                return base + start
        return base + self.cycle_s + self.starts_s[0]

    def _flex_index(self, offset):
        starts = self.starts_s
        index = len(starts) - 1      # before the first start, the cycle's last step still runs
        for i in range(len(starts)):
            if starts[i] <= offset:
                index = i
            else:
                break
        return index

    def max_dose_ng_day(self):
        if self.mode == CONTINUOUS:
            return self.dose_ng_day
        if self.mode == FLEX:
            return max(self.doses_ng_day)
        return 0

    def describe(self):
        out = {"mode": self.mode}
        if self.mode == CONTINUOUS:
            out["dose_ng_day"] = self.dose_ng_day
        elif self.mode == FLEX:
            out["cycle"] = "week" if self.cycle_s != 86400 else "day"
            out["steps"] = [{"start_s": s, "dose_ng_day": d} for s, d in zip(self.starts_s, self.doses_ng_day)]
        return out


def _whole(value, lo, hi, what):
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError("%s %r" % (what, value))
    return value


def from_snapshot(rx):
    """The Therapy of Therapy.snapshot() (settings at boot). Only the fields of the mode in force are
    taken. Raises ValueError (unknown mode, a value of the wrong type or out of range, a flex schedule
    that set_flex would not accept), TypeError or IndexError on a malformed list; builds nothing then."""
    mode, dose, cycle_s, starts, doses = rx
    t = Therapy()
    if mode == CONTINUOUS:
        t.set_continuous(_whole(dose, 0, 0x3FFFFFFF, "dose"))
    elif mode == FLEX:
        if _whole(cycle_s, 1, 0x3FFFFFFF, "cycle") not in (CYCLES["day"], CYCLES["week"]):
            raise ValueError("cycle %r" % (cycle_s,))
        if not 1 <= len(starts) <= MAX_FLEX_STEPS or len(doses) != len(starts):
            raise ValueError("flex steps")
        last = -1
        for i in range(len(starts)):
            last = _whole(starts[i], last + 1, cycle_s - 1, "flex start")
            _whole(doses[i], 0, 0x3FFFFFFF, "flex dose")
        t.set_flex(cycle_s, starts, doses)
    elif mode == MINIMUM:
        t.set_minimum()
    elif mode != STOPPED:
        raise ValueError("mode %r" % (mode,))
    return t
