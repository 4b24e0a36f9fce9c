"""Command handlers. Each validates every argument before it changes anything, then acts.

Handlers take (pump, request dict) and return a dict of results (or None). Values cross the link
in integer base units: ng/day, nL, pL, pg, seconds.
"""

from firmware import VERSION, units
from firmware import therapy as th
from firmware.errors import (
    E_ARG_UNKNOWN,
    E_CAPACITY,
    E_MODE,
    E_NO_DRUG,
    E_NOT_SUPPORTED,
    E_RATE,
    CommandError,
)
from firmware.planner import rate_allowed

_BASE_KEYS = ("id", "cmd")
_MAX_DOSE_NG_DAY = 100_000_000       # 100 mg/day: a sanity bound; the drug library sets real limits
_MAX_CONC_MCG_ML = 100_000
_MAX_VOLUME_NL = 100_000_000         # 100 mL


def _only(req, *keys):
    for key in req:
        if key not in keys and key not in _BASE_KEYS:
            raise CommandError(E_ARG_UNKNOWN, "unexpected argument '%s'" % str(key)[:40])


def info(pump, req):
    _only(req)
    return {"firmware": VERSION, "board": pump.hw.board, "serial": pump.hw.serial_no}


def status(pump, req):
    _only(req)
    acct = pump.acct
    return {
        "t_s": pump.timebase.wall_s,
        "therapy": pump.therapy.describe(),
        "rate_nl_day": pump.planner.rate_nl_day if pump.planner.running else 0,
        "drug": acct.drug,
        "conc_mcg_ml": acct.conc_mcg_ml,
        "step_pl": acct.step_pl,
        "steps": acct.steps,
        "delivered_pl": acct.delivered_pl(),
        "delivered_pg": acct.delivered_pg(),
        "reservoir_pl": acct.reservoir_pl(),
        "low_reservoir_nl": pump.config.low_reservoir_nl,
        "capacity_nl": pump.config.reservoir_capacity_nl,
        "refill_due_s": pump.refill_due_s(),
        "alarms": pump.alarms.summary(),
        "safe_state": pump.safe,
        "wakeups": pump.wakeups,
    }


def program(pump, req):
    mode = req.get("mode")
    if mode == th.CONTINUOUS:
        _only(req, "mode", "dose_mcg_day")
        dose = units.scaled_int(req, "dose_mcg_day", 1000, 1, _MAX_DOSE_NG_DAY)
        if pump.acct.drug is None:
            raise CommandError(E_NO_DRUG, "fill the reservoir (refill) before programming a dose")
        rate = th.rate_nl_day(dose, pump.acct.conc_mcg_ml)
        if not rate_allowed(pump.acct.step_pl, rate):
            raise CommandError(E_RATE, "%d nL/day cannot be delivered with %d pL steps" % (
                rate, pump.acct.step_pl))
        old = pump.therapy.describe()
        pump.therapy.set_continuous(dose)
    elif mode == th.STOPPED:
        _only(req, "mode")
        old = pump.therapy.describe()
        pump.therapy.stop()
    else:
        raise CommandError(E_MODE, "unknown mode '%s'" % str(mode)[:20])
    new = pump.therapy.describe()
    pump.log.add(pump.timebase.wall_s, "program", {"old": old, "new": new})
    pump.apply_rate()
    return {"therapy": new, "rate_nl_day": pump.planner.rate_nl_day if pump.planner.running else 0}


def refill(pump, req):
    _only(req, "drug", "conc_mcg_ml", "volume_ml", "volume_ul")
    drug = units.text(req, "drug", 24)
    conc = units.whole_int(req, "conc_mcg_ml", 1, _MAX_CONC_MCG_ML)
    if "volume_ul" in req:
        volume_nl = units.scaled_int(req, "volume_ul", 1000, 0, _MAX_VOLUME_NL)
    else:
        # mL resolved to whole uL: a 32-bit float keeps that exactly
        volume_nl = units.scaled_int(req, "volume_ml", 1000, 0, _MAX_VOLUME_NL // 1000) * 1000
    capacity = pump.config.reservoir_capacity_nl
    if volume_nl > capacity:
        raise CommandError(E_CAPACITY, "%d nL is more than the reservoir holds (%d nL)" % (volume_nl, capacity))
    rate = th.rate_nl_day(pump.therapy.dose_ng_day, conc)
    if not rate_allowed(pump.acct.step_pl, rate):
        raise CommandError(E_RATE, "the programmed dose at %d mcg/mL cannot be delivered" % conc)
    acct = pump.acct
    t_s = pump.timebase.wall_s
    before = {"drug": acct.drug, "conc_mcg_ml": acct.conc_mcg_ml, "estimate_pl": acct.reservoir_pl()}
    acct.refill(drug, conc, volume_nl)
    pump.log.add(t_s, "refill", {"before": before, "drug": drug, "conc_mcg_ml": conc,
                                 "volume_nl": volume_nl})
    if volume_nl > pump.config.low_reservoir_nl:
        pump.alarms.clear("LOW_RESERVOIR", t_s)
    if volume_nl >= (acct.step_pl + 999) // 1000:
        pump.alarms.clear("EMPTY_RESERVOIR", t_s)
    pump.apply_rate()
    return {"reservoir_pl": acct.reservoir_pl(), "refill_due_s": pump.refill_due_s()}


def log(pump, req):
    _only(req, "since", "limit")
    since = units.whole_int(req, "since", 0, (1 << 30) - 1, required=False, default=0)
    limit = units.whole_int(req, "limit", 1, 64, required=False, default=32)
    recs = pump.log.records(since, limit)
    events = [{"seq": r[0], "t_s": r[1], "type": r[2], "data": r[3]} for r in recs]
    return {"events": events, "next": pump.log.next_seq, "dropped": pump.log.dropped}


def bench(pump, req):
    """Simulator-only commands (time control, mock pump state): handed to the board's bench."""
    if pump.hw.bench is None:
        raise CommandError(E_NOT_SUPPORTED, "bench commands exist only on the simulator")
    return pump.hw.bench.handle(pump, req)


_TABLE = {
    "info": info,
    "status": status,
    "program": program,
    "refill": refill,
    "log": log,
}


def lookup(cmd):
    if cmd.startswith("sim."):
        return bench
    return _TABLE.get(cmd)
