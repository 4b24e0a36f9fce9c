"""Refill-date forecast: when the reservoir estimate reaches the low threshold.

Assumes the programme runs as scheduled, a running bolus completes at once, a running bridge pushes
its volume at the OLD concentration's rate before the new one takes over (issue 13, item 6), and every
allowed demand bolus is taken as soon as it is allowed: after the lockout (or the bolus's own duration,
whichever is longer) and while fewer than max_per_day fall in the last 24 h (item 7: the rule of a
patient programmer's demand bolus, firmware/demand.py). Demand boluses count whole at their start, so
the forecast errs early.

Closed form per cycle (item 14): the basal volume up to any second is whole cycles times the cycle's
volume plus the part of one cycle (<= 24 steps); the demand boluses taken as soon as allowed settle
into a pattern that repeats every max(24 h, max_per_day x spacing) after at most 2 x max_per_day
boluses, so their count up to any second is a short sum too. Without demand boluses the crossing is
solved directly; with them, by bisection on the second (about 30 evaluations), whatever the horizon.
Exact integers in units of 1/86400 pL (a rate of R nL/day adds R * 1000 units per second); the result
is the whole second at or before the crossing. The bridge's end is taken on a whole second, on the
side that uses more: with a bridge the forecast may be early by the ratio of the two rates in seconds
(tests_host/test_forecast_reference.py checks all this against an exact event walk). Off the step
path (firmware/app.py defers it out of the delivery loop): long ints are fine here.
"""

from micropython import const

from firmware import therapy as th

_DAY_S = const(86400)
_HORIZON_S = 1 << 40             # no crossing within this: no forecast


def profile(therapy, conc_mcg_ml, minimum_nl_day):
    """The basal schedule as (cycle_s, starts, rates nL/day, prefix units at each start, units per
    cycle); the rate before the first start is the cycle's last one (firmware/therapy.py)."""
    if therapy.mode == th.FLEX:
        cycle = therapy.cycle_s
        starts = therapy.starts_s
        rates = [th.rate_nl_day(d, conc_mcg_ml) for d in therapy.doses_ng_day]
    else:
        cycle = _DAY_S
        starts = (0,)
        rate = therapy.rate_at(0, conc_mcg_ml, minimum_nl_day) if therapy.mode != th.STOPPED else 0
        rates = [rate]
    n = len(starts)
    prefix = [rates[n - 1] * 1000 * starts[0]]
    for i in range(1, n):
        prefix.append(prefix[i - 1] + rates[i - 1] * 1000 * (starts[i] - starts[i - 1]))
    return cycle, starts, rates, prefix, prefix[n - 1] + rates[n - 1] * 1000 * (cycle - starts[n - 1])


def _cum(p, t):
    """Basal units from wall second 0 (a cycle start) to t."""
    cycle, starts, rates, prefix, per_cycle = p
    k = t // cycle
    o = t - k * cycle
    if o < starts[0]:
        return k * per_cycle + rates[len(rates) - 1] * 1000 * o
    i = len(starts) - 1
    while starts[i] > o:
        i -= 1
    return k * per_cycle + prefix[i] + rates[i] * 1000 * (o - starts[i])


def _rate(p, t):
    """Basal rate (nL/day) in force during wall second t."""
    cycle, starts, rates = p[0], p[1], p[2]
    o = t % cycle
    i = len(starts) - 1
    while i >= 0 and starts[i] > o:
        i -= 1
    return rates[i]       # i == -1: before the first start, the cycle's last rate


def _reach(p, a, units):
    """The whole second at or before the basal from `a` reaches `units` (> 0) more; None if never."""
    cycle, starts, rates, prefix, per_cycle = p
    if per_cycle <= 0:
        return None
    target = _cum(p, a) + units
    k = target // per_cycle
    rem = target - k * per_cycle
    if rem == 0 and k > 0:      # reached at the end of cycle k-1 (or earlier if it ends at rate 0)
        k -= 1
        rem = per_cycle
    # the first segment of cycle k whose end reaches rem; segment 0 runs the last rate before starts[0]
    n = len(starts)
    seg_start = 0
    seg_units = 0
    for i in range(-1, n):
        rate = rates[n - 1] if i < 0 else rates[i]
        seg_end = starts[0] if i < 0 else (starts[i + 1] if i + 1 < n else cycle)
        end_units = seg_units + rate * 1000 * (seg_end - seg_start)
        if end_units >= rem and rate > 0:
            return k * cycle + seg_start + (rem - seg_units) // (rate * 1000)
        seg_start = seg_end
        seg_units = end_units
    return k * cycle + cycle     # not reached (cannot happen: rem <= per_cycle)


class DemandPlan:
    """Demand boluses taken as soon as allowed from `now_s` on: grant k+1 comes at
    max(grant k + spacing, grant k+1-per_day + 24 h). Wall seconds; `history` oldest first."""

    def __init__(self, volume_pl, spacing_s, per_day, history, now_s):
        self.volume_pl = volume_pl
        self.per_day = per_day
        self.period_s = _DAY_S if per_day * spacing_s < _DAY_S else per_day * spacing_s
        times = list(history)
        first = len(times)
        for _ in range(3 * per_day):        # the pattern repeats after at most 2 x per_day (module doc)
            t = now_s
            if times:
                t = max(t, times[len(times) - 1] + spacing_s)
            if len(times) >= per_day:
                t = max(t, times[len(times) - per_day] + _DAY_S)
            times.append(t)
        self.explicit = times[first:]
        self.base = self.explicit[len(self.explicit) - per_day:]

    def count(self, t):
        """Boluses started at or before wall second t."""
        n = 0
        for g in self.explicit:
            if g <= t:
                n += 1
        period = self.period_s
        for b in self.base:
            if t > b:
                n += (t - b) // period
        return n

    def start_of(self, j):
        """Wall second of the j-th bolus (0-based)."""
        if j < len(self.explicit):
            return self.explicit[j]
        j -= len(self.explicit)
        return self.base[j % self.per_day] + (j // self.per_day + 1) * self.period_s


def refill_due_s(now_s, above_pl, basal, demand=None, bridge_pl=0, bridge_basal=None, accrued=0):
    """Wall second at which `above_pl` more pL will have been used, or None if never. `basal`: the
    programme's profile(); `demand`: a DemandPlan or None; `bridge_pl` pL still to push at the
    `bridge_basal` profile's rates first; `accrued`: units the basal planner has accrued toward its
    next step (used, though no step has counted them yet)."""
    units = above_pl * 86400 - accrued
    if units <= 0:
        return now_s
    bridge_units = bridge_pl * 86400 - accrued
    if bridge_units <= 0:
        bridge_basal = None
    if demand is None and bridge_basal is None:
        return _reach(basal, now_s, units)
    switch = None          # the second the bridge has been pushed (the new rates apply from there)
    if bridge_basal is not None:
        switch = _solve(now_s, bridge_units, bridge_basal, None, demand)
        if switch is None:
            basal = bridge_basal
            bridge_basal = None
        elif (_rate(bridge_basal, switch) > _rate(basal, switch)
              and _used(now_s, switch, bridge_basal, None, demand) < bridge_units):
            switch += 1    # the bridge ends inside (switch, switch + 1): that second at the higher rate
    return _solve(now_s, units, basal, (bridge_basal, switch) if bridge_basal is not None else None, demand)


def _used(now_s, t, basal, bridge, demand):
    """Units used from now_s to wall second t (demand boluses whole at their start)."""
    if bridge is None:
        used = _cum(basal, t) - _cum(basal, now_s)
    else:
        bridge_basal, switch = bridge
        if t <= switch:
            used = _cum(bridge_basal, t) - _cum(bridge_basal, now_s)
        else:
            used = _cum(bridge_basal, switch) - _cum(bridge_basal, now_s) + _cum(basal, t) - _cum(basal, switch)
    if demand is not None:
        used += demand.count(t) * demand.volume_pl * 86400
    return used


def _solve(now_s, units, basal, bridge, demand):
    """The whole second at or before the use from now_s reaches `units`; None if never."""
    # an upper bound: the basal alone (after the bridge), else the demand boluses alone
    start = now_s if bridge is None else bridge[1]
    hi = _reach(basal, start, units)
    if hi is not None:
        hi += 1
    elif demand is not None and demand.volume_pl > 0:
        hi = demand.start_of((units + demand.volume_pl * 86400 - 1) // (demand.volume_pl * 86400) - 1)
    else:
        return None
    if hi - now_s > _HORIZON_S:
        return None
    lo = now_s - 1         # used(lo) < units <= used(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _used(now_s, mid, basal, bridge, demand) >= units:
            hi = mid
        else:
            lo = mid
    # hi: the first whole second at which the use has reached `units`. If the basal alone (without a
    # bolus starting at hi) passed it, the crossing lies inside (hi - 1, hi): its whole second is hi - 1
    if hi > now_s and demand is not None:
        cont = _used(now_s, hi, basal, bridge, None) + demand.count(hi - 1) * demand.volume_pl * 86400
    else:
        cont = _used(now_s, hi, basal, bridge, demand)
    if hi > now_s and cont > units:
        return hi - 1
    return hi


def for_delivery(delivery, demand, config, timebase, now_ticks):
    """The forecast from the pump's present state (firmware/app.py Pump.commit): None without a drug or
    while delivery is stopped."""
    acct = delivery.acct
    if acct.drug is None or delivery.stop_mask:
        return None
    therapy = delivery.therapy
    bolus = delivery.bolus
    bolus_left_pl = bolus.steps_left * acct.step_pl if bolus.active() else 0
    above_pl = acct.reservoir_pl() - config.low_reservoir_nl * 1000 - bolus_left_pl
    now = timebase.wall_s
    d = demand
    plan = None
    if d.enabled and therapy.mode != th.STOPPED and acct.conc_mcg_ml > 0:
        steps = d.dose_ng * 1_000_000 // acct.conc_mcg_ml // acct.step_pl
        if steps > 0:
            history = [g + timebase.jump_s for g in d.grant_times()]      # monotonic -> wall seconds
            plan = DemandPlan(steps * acct.step_pl, max(d.lockout_s, d.duration_s), d.max_per_day, history, now)
    basal = profile(therapy, acct.conc_mcg_ml, config.minimum_nl_day)
    bridge_pl = delivery.bridge_volume_pl() - bolus_left_pl
    bridge_basal = None
    if bridge_pl > 0:
        bridge_basal = profile(therapy, delivery.bridge_conc_mcg_ml, config.minimum_nl_day)
    planner = delivery.planner
    accrued = planner.progress_at(now_ticks) if planner.running else 0
    return refill_due_s(now, above_pl, basal, plan, bridge_pl, bridge_basal, accrued)
