"""Therapy commands: program (all modes), bolus, prime, demand."""

from firmware import calibration, limits, units
from firmware import therapy as th
from firmware.bolus import bolus_rate_nl_day
from firmware.errors import E_BOLUS_TOO_SMALL, E_MODE, E_RATE, E_SCHEDULE, E_STATE, CommandError
from firmware.params import check_rate, flag, only, require_can_deliver, require_drug, volume_pl

_MAX_DOSE_NG_DAY = 100_000_000       # 100 mg/day: a sanity bound; the drug library sets the real limits
_MAX_BOLUS_NG = 100_000_000
_MAX_PRIME_NL = 2_000_000            # 2 mL at most in one priming bolus


def _dose(ctl, req, key, confirm):
    dose = units.scaled_int(req, key, 1000, 1, _MAX_DOSE_NG_DAY)
    acct = ctl.acct
    limits.check(acct.drug, "dose_day", dose, confirm)
    check_rate(th.rate_nl_day(dose, acct.conc_mcg_ml), acct.step_pl, "dose %d ng/day" % dose)
    return dose


def _flex(ctl, req, confirm, new):
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
        doses.append(_dose(ctl, step, "dose_mcg_day", confirm))
    new.set_flex(cycle_s, starts, doses)


def program(ctl, req):
    mode = req.get("mode")
    confirm = flag(req, "confirm")
    dry_run = flag(req, "dry_run")
    new = ctl.therapy().copy()
    common = ("mode", "confirm", "dry_run")
    if mode == th.CONTINUOUS:
        only(req, "dose_mcg_day", *common)
        require_drug(ctl)
        new.set_continuous(_dose(ctl, req, "dose_mcg_day", confirm))
    elif mode == th.FLEX:
        only(req, "cycle", "steps", *common)
        require_drug(ctl)
        _flex(ctl, req, confirm, new)
    elif mode == th.MINIMUM:
        only(req, *common)
        require_drug(ctl)
        check_rate(ctl.config.minimum_nl_day, ctl.acct.step_pl, "minimum rate")
        new.set_minimum()
    elif mode == th.STOPPED:
        only(req, *common)
        new.stop()
    else:
        raise CommandError(E_MODE, "unknown mode '%s' (use %s)" % (str(mode)[:20], ", ".join(th.MODES)))
    old = ctl.therapy().describe()
    new_desc = new.describe()
    if dry_run:
        return {"old": old, "new": new_desc, "applied": False}
    ctl.begin()
    ctl.save_settings(therapy=new)
    ctl.set_therapy(new)
    ctl.log.add(ctl.wall_s(), "program", {"old": old, "new": new_desc})
    ctl.commit()
    ctl.review_guard()
    return {"old": old, "new": new_desc, "applied": True, "stopped_by": ctl.stopped_by(),
            "rate_nl_day": ctl.rate_now_nl_day(), "refill_due_s": ctl.refill_due_s()}


def _start(ctl, kind, steps, rate, dose_ng, duration_s):
    step_pl = ctl.acct.step_pl
    cfg = ctl.config
    if steps <= 0:
        raise CommandError(E_BOLUS_TOO_SMALL, "less than one pump step (%d pL)" % step_pl)
    if rate > cfg.max_rate_nl_day:
        raise CommandError(E_RATE, "%d nL/day is faster than the maximum safe rate %d nL/day" % (
            rate, cfg.max_rate_nl_day))
    check_rate(rate, step_pl, kind)
    ctl.begin()
    pulses = 0
    if kind != "demand":      # demand boluses are inside the prescription's own allowance
        # in pulses of no less than the nominal step's band (calibration.py)
        pulses = calibration.guard_pulses(steps * step_pl, step_pl, cfg.nominal_step_pl)
    ctl.start_bolus(kind, steps, rate, dose_ng, pulses, duration_s)
    ctl.log.add(ctl.wall_s(), "bolus_start", {"kind": kind, "dose_ng": dose_ng, "steps": steps,
                                              "duration_s": duration_s, "rate_nl_day": rate})
    ctl.commit()
    return {"kind": kind, "steps": steps, "volume_pl": steps * step_pl, "rate_nl_day": rate,
            "refill_due_s": ctl.refill_due_s()}


def bolus(ctl, req):
    """A clinician bolus: dose_mcg over duration_s on top of the basal rate; the programme resumes
    by itself (from 'stopped' this is the screening-trial test bolus)."""
    only(req, "dose_mcg", "duration_s", "confirm")
    confirm = flag(req, "confirm")
    dose_ng = units.scaled_int(req, "dose_mcg", 1000, 1, _MAX_BOLUS_NG)
    duration_s = units.whole_int(req, "duration_s", 1, 7 * 86400)
    require_can_deliver(ctl)
    limits.check(ctl.acct.drug, "bolus", dose_ng, confirm)
    steps = volume_pl(dose_ng, ctl.acct.conc_mcg_ml) // ctl.acct.step_pl
    rate = bolus_rate_nl_day(steps, ctl.acct.step_pl, duration_s) if steps else 0
    return _start(ctl, "bolus", steps, rate, dose_ng, duration_s)


def prime(ctl, req):
    """Priming bolus: volume_ul (catheter dead space) at the maximum safe rate."""
    only(req, "volume_ul")
    vol_nl = units.scaled_int(req, "volume_ul", 1000, 1, _MAX_PRIME_NL)
    require_can_deliver(ctl)
    steps = vol_nl * 1000 // ctl.acct.step_pl
    rate = ctl.config.max_rate_nl_day
    dose_ng = steps * ctl.acct.step_pl * ctl.acct.conc_mcg_ml // 1_000_000
    duration_s = steps * ctl.acct.step_pl * 86400 // (rate * 1000) + 1
    return _start(ctl, "prime", steps, rate, dose_ng, duration_s)


def demand(ctl, req):
    """Patient-activated bolus within the clinician's limits; a refusal is logged with its reason."""
    only(req)
    mono = ctl.mono_s()
    refusal = ctl.demand.refusal(mono)
    if refusal is None and ctl.therapy().mode == th.STOPPED:
        refusal = (E_STATE, "therapy is stopped")
    if refusal is None:
        try:
            require_can_deliver(ctl)
        except CommandError as err:
            refusal = (err.code, err.msg)
    if refusal is not None:   # logged, a few records per window then a count (flash wear)
        ctl.demand_refused(refusal[0], refusal[1])
        raise CommandError(refusal[0], refusal[1])
    d = ctl.demand
    steps = volume_pl(d.dose_ng, ctl.acct.conc_mcg_ml) // ctl.acct.step_pl
    rate = bolus_rate_nl_day(steps, ctl.acct.step_pl, d.duration_s) if steps else 0
    result = _start(ctl, "demand", steps, rate, d.dose_ng, d.duration_s)
    ctl.grant_demand(mono)
    ctl.commit()                          # the grant sets when the next demand bolus may come
    result["refill_due_s"] = ctl.refill_due_s()
    result["granted_24h"] = d.granted_in_24h(mono)
    return result


def calibrate(ctl, req):
    """Bench calibration run: exactly `steps` steps at the maximum safe rate, therapy stopped. The
    fluid is weighed on the host side, which then sets nl_per_step (see pumpctl calibrate)."""
    only(req, "steps")
    steps = units.whole_int(req, "steps", 1, 1_000_000)
    if ctl.therapy().mode != th.STOPPED:
        raise CommandError(E_STATE, "stop the therapy before a calibration run")
    require_can_deliver(ctl)
    rate = ctl.config.max_rate_nl_day
    duration_s = steps * ctl.acct.step_pl * 86400 // (rate * 1000) + 1
    return _start(ctl, "calibration", steps, rate, 0, duration_s)
