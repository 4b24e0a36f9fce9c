"""The refill-due forecast (firmware/forecast.py, closed form per cycle) against an independent
reference: an event walk in exact rationals over every rate change, every demand bolus taken as soon
as the lockout and the rolling 24 h maximum allow, and the bridge's end (issue 13 items 6, 7, 14).

Host only (fractions); the firmware tests in tests_host/fw check hand-computed cases on every
interpreter. Without a bridge the two agree to the second; with one, the forecast may be early (never
late) by at most the ratio of the bridge's rate to the new rate, in seconds: it lets the bridge end on
a whole second, on the side that uses more.
"""

import math
import random
from fractions import Fraction

from firmware import forecast
from firmware.therapy import Therapy

DAY = 86400


def _next_grant(grants, now, spacing, per_day):
    t = now
    if grants:
        t = max(t, grants[-1] + spacing)
    if len(grants) >= per_day:
        t = max(t, grants[-per_day] + DAY)
    return t


def _reference(now, above_pl, therapy, conc, minimum, demand, bridge_pl, bridge_conc):
    """Floor of the exact second the use reaches above_pl; demand = (pL, spacing_s, per_day, history)."""
    target = Fraction(above_pl * 86400)
    bridge = Fraction(bridge_pl * 86400) if bridge_pl > 0 else Fraction(0)
    used = Fraction(0)
    t = Fraction(now)
    grants = list(demand[3]) if demand else []
    upcoming = _next_grant(grants, now, demand[1], demand[2]) if demand else None
    for _ in range(1_000_000):
        if upcoming is not None and upcoming <= t:
            used += demand[0] * 86400
            grants.append(upcoming)
            upcoming = _next_grant(grants, now, demand[1], demand[2])
            if used >= target:
                return math.floor(t)
            continue
        in_bridge = used < bridge
        rate = therapy.rate_at(math.floor(t), bridge_conc if in_bridge else conc, minimum)
        change = therapy.next_change_s(math.floor(t))
        end = Fraction(change) if change is not None else None
        if upcoming is not None and (end is None or upcoming < end):
            end = Fraction(upcoming)
        if in_bridge and rate > 0:
            switch = t + (bridge - used) / (rate * 1000)
            if end is None or switch < end:
                end = switch
        if rate > 0:
            cross = t + (target - used) / (rate * 1000)
            if end is None or cross <= end:
                return math.floor(cross)
        if end is None:
            return None
        used += rate * 1000 * (end - t)
        t = end
    raise AssertionError("the reference walk did not end")


def _therapy(rng):
    therapy = Therapy()
    mode = rng.choice(["continuous", "flex", "flex", "minimum"])
    if mode == "continuous":
        therapy.set_continuous(rng.randint(1, 2000) * 1000)
    elif mode == "minimum":
        therapy.set_minimum()
    else:
        cycle = rng.choice([DAY, 7 * DAY])
        n = rng.randint(1, 24)
        therapy.set_flex(cycle, sorted(rng.sample(range(0, cycle, 60), n)),
                         [rng.randint(1, 2000) * 1000 for _ in range(n)])
    return therapy


def _case(rng):
    therapy = _therapy(rng)
    conc = rng.choice([500, 1000, 2000])
    minimum = rng.randint(10, 200) * 1000
    now = rng.randint(0, 30 * DAY)
    above_pl = rng.randint(1, 3000) * 1_000_000 + rng.randint(0, 999_999)
    demand = plan = None
    if rng.random() < 0.6:
        per_day = rng.randint(1, 24)
        history = sorted(now - rng.randint(0, 2 * DAY) for _ in range(rng.randint(0, per_day)))
        demand = (rng.randint(1, 600) * 50_000, rng.choice([600, 3600, 5000, 10_800, 36_000, DAY, 2 * DAY]),
                  per_day, history)
        plan = forecast.DemandPlan(demand[0], demand[1], per_day, history, now)
    bridge_pl = bridge_conc = 0
    if rng.random() < 0.4:
        bridge_pl = rng.randint(1, 2000) * 1_000_000
        bridge_conc = rng.choice([50, 500, 1000, 2000])
    basal = forecast.profile(therapy, conc, minimum)
    bridge_basal = forecast.profile(therapy, bridge_conc, minimum) if bridge_pl else None
    got = forecast.refill_due_s(now, above_pl, basal, plan, bridge_pl, bridge_basal)
    want = _reference(now, above_pl, therapy, conc, minimum, demand, bridge_pl, bridge_conc)
    early_s = 0
    if bridge_pl:
        slowest = min([r for r in basal[2] if r > 0] or [1])
        early_s = max(bridge_basal[2]) // slowest + 1
    return got, want, early_s


def test_forecast_agrees_with_an_exact_event_walk():
    rng = random.Random(20240613)
    for i in range(600):
        got, want, early_s = _case(rng)
        if want is None:
            assert got is None, (i, got)
        else:
            assert got is not None and want - early_s <= got <= want, (i, got, want, early_s)
