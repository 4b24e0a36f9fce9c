"""Refill-date forecast: when the reservoir estimate reaches the low threshold.

Assumes the programme runs as scheduled, a running bolus completes, and every allowed demand bolus is
taken (max_per_day activations per 24 h, spread evenly: the conservative rule of
../shared/domain-notes.md). Integer arithmetic; off the step path (called after changes only).
"""

from micropython import const

_MAX_SEGMENTS = const(20_000)   # a weekly 24-step cycle over 16 years; beyond that: no forecast


def refill_due_s(now_s, above_pl, therapy, conc_mcg_ml, minimum_nl_day, demand_nl_day):
    """Wall second at which `above_pl` more pL will have been used, or None if never (no rate).
    Rounded down: the forecast errs early, the safe side."""
    if above_pl <= 0:
        return now_s
    t = now_s
    for _ in range(_MAX_SEGMENTS):
        rate = therapy.rate_at(t, conc_mcg_ml, minimum_nl_day) + demand_nl_day
        nxt = therapy.next_change_s(t)
        if rate > 0:
            if nxt is None:
                return t + above_pl * 86400 // (rate * 1000)
            used = rate * 1000 * (nxt - t) // 86400
            if used >= above_pl:
                return t + above_pl * 86400 // (rate * 1000)
            above_pl -= used
        elif nxt is None:
            return None
        t = nxt
    return None
