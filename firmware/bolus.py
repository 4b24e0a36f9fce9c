"""Bolus channel: a bolus (clinician, prime or demand) on top of the basal rate.

It has its own planner, so the basal delivery owed during a bolus is never lost: the basal planner
keeps running and the pump emits the steps of both. A bolus is an exact number of steps (its volume
divided by the step volume, rounded down: never more than asked) spread evenly over its duration.
"""

from firmware.planner import Planner

IDLE = None


def bolus_rate_nl_day(steps, step_pl, duration_s):
    """Smallest whole nL/day that fits `steps` steps in `duration_s` (ceil; the last step lands at or
    before the end)."""
    num = steps * step_pl * 864
    den = duration_s * 10
    return (num + den - 1) // den


class BolusChannel:
    def __init__(self, clock, step_pl):
        self.planner = Planner(clock, step_pl)
        self.kind = IDLE        # "bolus", "prime", "demand" or None
        self.steps_left = 0
        self.steps_total = 0
        self.dose_ng = 0
        self.started_s = 0

    def active(self):
        return self.kind is not None

    def start(self, kind, steps, rate_nl_day, at_ticks, wall_s, dose_ng):
        self.kind = kind
        self.steps_left = steps
        self.steps_total = steps
        self.dose_ng = dose_ng
        self.started_s = wall_s
        self.planner.start_fresh(rate_nl_day, at_ticks)

    def on_step(self):
        """Called after a bolus step went out. True when that was the last one. Allocation-free."""
        self.planner.advance()
        self.steps_left -= 1
        if self.steps_left <= 0:
            self.planner.set_rate(0, self.planner.next_ticks)
            return True
        return False

    def stop(self, at_ticks):
        """End now (finished or cancelled). Returns the steps that were not delivered."""
        left = self.steps_left
        self.planner.set_rate(0, at_ticks)
        self.planner.reset_progress(at_ticks)
        self.kind = IDLE
        self.steps_left = 0
        return left

    def set_step_pl(self, step_pl, at_ticks):
        self.planner.set_step_pl(step_pl, at_ticks)

    def snapshot(self):
        """[kind, steps_total, steps_left] for the journal, or None when no bolus runs."""
        if self.kind is None:
            return None
        return [self.kind, self.steps_total, self.steps_left]

    def describe(self):
        if self.kind is None:
            return None
        return {"kind": self.kind, "steps_left": self.steps_left, "steps_total": self.steps_total,
                "dose_ng": self.dose_ng, "started_s": self.started_s, "rate_nl_day": self.planner.rate_nl_day}
