"""Therapy commands: program (all modes), bolus, prime, demand."""

from firmware import calibration, limits, units
from firmware import therapy as th
from firmware.bolus import bolus_rate_nl_day
from firmware.errors import E_BOLUS_TOO_SMALL, E_MODE, E_RATE, E_SCHEDULE, E_STATE, CommandError
from firmware.params import begin, flag, only, require_can_deliver, require_drug, volume_pl
from firmware.planner import rate_allowed

_MAX_DOSE_NG_DAY = 100_000_000       # 100 mg/day: a sanity bound; the drug library sets the real limits
_MAX_BOLUS_NG = 100_000_000
_MAX_PRIME_NL = 2_000_000            # 2 mL at most in one priming bolus


def _check_rate(pump, rate, what):
    if not rate_allowed(pump.acct.step_pl, rate):
        raise CommandError(E_RATE, "%s: %d nL/day cannot be delivered with %d pL steps" % (
            what, rate, pump.acct.step_pl))


def _dose(pump, req, key, confirm):
    dose = units.scaled_int(req, key, 1000, 1, _MAX_DOSE_NG_DAY)
    limits.check(pump.acct.drug, "dose_day", dose, confirm)
    _check_rate(pump, th.rate_nl_day(dose, pump.acct.conc_mcg_ml), "dose %d ng/day" % dose)
    return dose


def _flex(pump, req, confirm, new):
    """Steps as objects {"start_s", "dose_mcg_day"} or, compact, as pairs [start_s, dose_mcg_day]: the
    pairs let the documented 24 steps fit in one frame (docs/protocol.md)."""
    cycle = req.get("cycle", "day")
    if not isinstance(cycle, str) or cycle not in th.CYCLES:
        raise CommandError(E_SCHEDULE, "cycle must be 'day' or 'week'")
    cycle_s = th.CYCLES[cycle]
    steps = req.get("steps")
    if not isinstance(steps, list) or not 1 <= len(steps) <= th.MAX_FLEX_STEPS:
        raise CommandError(E_SCHEDULE, "steps must be a list of 1..%d steps" % th.MAX_FLEX_STEPS)
    starts = []
    doses = []
    for i, step in enumerate(steps):
        if isinstance(step, list) and len(step) == 2:
            step = {"start_s": step[0], "dose_mcg_day": step[1]}
        elif not isinstance(step, dict):
            raise CommandError(E_SCHEDULE, "steps[%d] must be an object or a pair [start_s, dose_mcg_day]" % i)
        only(step, "start_s", "dose_mcg_day")
        start = units.whole_int(step, "start_s", 0, cycle_s - 1)
        if starts and start <= starts[-1]:
            raise CommandError(E_SCHEDULE, "steps[%d]: starts must increase within the cycle" % i)
        starts.append(start)
        doses.append(_dose(pump, step, "dose_mcg_day", confirm))
    new.set_flex(cycle_s, starts, doses)


def program(pump, req):
    mode = req.get("mode")
    confirm = flag(req, "confirm")
    dry_run = flag(req, "dry_run")
    new = pump.therapy.copy()
    common = ("mode", "confirm", "dry_run")
    if mode == th.CONTINUOUS:
        only(req, "dose_mcg_day", *common)
        require_drug(pump)
        new.set_continuous(_dose(pump, req, "dose_mcg_day", confirm))
    elif mode == th.FLEX:
        only(req, "cycle", "steps", *common)
        require_drug(pump)
        _flex(pump, req, confirm, new)
    elif mode == th.MINIMUM:
        only(req, *common)
        require_drug(pump)
        _check_rate(pump, pump.config.minimum_nl_day, "minimum rate")
        new.set_minimum()
    elif mode == th.STOPPED:
        only(req, *common)
        new.stop()
    else:
        raise CommandError(E_MODE, "unknown mode '%s' (use %s)" % (str(mode)[:20], ", ".join(th.MODES)))
    old = pump.therapy.describe()
    new_desc = new.describe()
    if dry_run:
        return {"old": old, "new": new_desc, "applied": False}
    begin(pump)
    pump.save_settings(therapy=new)
    pump.therapy = new
    pump.log.add(pump.timebase.wall_s, "program", {"old": old, "new": new_desc})
    pump.apply_basal()
    pump.update_forecast()
    pump.supervisor.review_guard()
    return {"old": old, "new": new_desc, "applied": True,
            "stopped_by": pump.supervisor.stop_names(pump.stop_mask),
            "rate_nl_day": pump.planner.rate_nl_day if pump.planner.running else 0,
            "refill_due_s": pump.refill_due_s}


def _start(pump, kind, steps, rate, dose_ng, duration_s):
    if steps <= 0:
        raise CommandError(E_BOLUS_TOO_SMALL, "less than one pump step (%d pL)" % pump.acct.step_pl)
    if rate > pump.config.max_rate_nl_day:
        raise CommandError(E_RATE, "%d nL/day is faster than the maximum safe rate %d nL/day" % (
            rate, pump.config.max_rate_nl_day))
    _check_rate(pump, rate, kind)
    begin(pump)
    wall = pump.timebase.wall_s
    if kind != "demand":      # demand boluses are inside the prescription's own allowance
        step_pl = pump.acct.step_pl       # in pulses of no less than the nominal step's band (calibration.py)
        pulses = calibration.guard_pulses(steps * step_pl, step_pl, pump.config.nominal_step_pl)
        pump.supervisor.guard.grant(pulses, pump.timebase.mono_s(), duration_s)
    pump.bolus.start(kind, steps, rate, pump.hw.clock.ticks_ms(), wall, dose_ng)
    pump.log.add(wall, "bolus_start", {"kind": kind, "dose_ng": dose_ng, "steps": steps,
                                       "duration_s": duration_s, "rate_nl_day": rate})
    pump.apply_basal()
    pump.update_forecast()
    pump.journal_soon()
    return {"kind": kind, "steps": steps, "volume_pl": steps * pump.acct.step_pl, "rate_nl_day": rate,
            "refill_due_s": pump.refill_due_s}


def bolus(pump, req):
    """A clinician bolus: dose_mcg over duration_s on top of the basal rate; the programme resumes
    by itself (from 'stopped' this is the screening-trial test bolus)."""
    only(req, "dose_mcg", "duration_s", "confirm")
    confirm = flag(req, "confirm")
    dose_ng = units.scaled_int(req, "dose_mcg", 1000, 1, _MAX_BOLUS_NG)
    duration_s = units.whole_int(req, "duration_s", 1, 7 * 86400)
    require_can_deliver(pump)
    limits.check(pump.acct.drug, "bolus", dose_ng, confirm)
    steps = volume_pl(dose_ng, pump.acct.conc_mcg_ml) // pump.acct.step_pl
    rate = bolus_rate_nl_day(steps, pump.acct.step_pl, duration_s) if steps else 0
    return _start(pump, "bolus", steps, rate, dose_ng, duration_s)


def prime(pump, req):
    """Priming bolus: volume_ul (catheter dead space) at the maximum safe rate."""
    only(req, "volume_ul")
    vol_nl = units.scaled_int(req, "volume_ul", 1000, 1, _MAX_PRIME_NL)
    require_can_deliver(pump)
    steps = vol_nl * 1000 // pump.acct.step_pl
    rate = pump.config.max_rate_nl_day
    dose_ng = steps * pump.acct.step_pl * pump.acct.conc_mcg_ml // 1_000_000
    duration_s = steps * pump.acct.step_pl * 86400 // (rate * 1000) + 1
    return _start(pump, "prime", steps, rate, dose_ng, duration_s)


def demand(pump, req):
    """Patient-activated bolus within the clinician's limits; a refusal is logged with its reason."""
    only(req)
    mono = pump.timebase.mono_s()
    refusal = pump.demand.refusal(mono)
    if refusal is None and pump.therapy.mode == th.STOPPED:
        refusal = (E_STATE, "therapy is stopped")
    if refusal is None:
        try:
            require_can_deliver(pump)
        except CommandError as err:
            refusal = (err.code, err.msg)
    if refusal is not None:   # logged, a few records per window then a count (flash wear)
        pump.protocol.demand_refusals.add({"error": refusal[0], "reason": refusal[1]})
        raise CommandError(refusal[0], refusal[1])
    d = pump.demand
    steps = volume_pl(d.dose_ng, pump.acct.conc_mcg_ml) // pump.acct.step_pl
    rate = bolus_rate_nl_day(steps, pump.acct.step_pl, d.duration_s) if steps else 0
    result = _start(pump, "demand", steps, rate, d.dose_ng, d.duration_s)
    d.grant(mono)
    pump.update_forecast()                # the grant sets when the next demand bolus may come
    result["refill_due_s"] = pump.refill_due_s
    result["granted_24h"] = d.granted_in_24h(mono)
    return result



def calibrate(pump, req):
    """Bench calibration run: exactly `steps` steps at the maximum safe rate, therapy stopped. The
    fluid is weighed on the host side, which then sets nl_per_step (see pumpctl calibrate)."""
    only(req, "steps")
    steps = units.whole_int(req, "steps", 1, 1_000_000)
    if pump.therapy.mode != th.STOPPED:
        raise CommandError(E_STATE, "stop the therapy before a calibration run")
    require_can_deliver(pump)
    rate = pump.config.max_rate_nl_day
    duration_s = steps * pump.acct.step_pl * 86400 // (rate * 1000) + 1
    return _start(pump, "calibration", steps, rate, 0, duration_s)
