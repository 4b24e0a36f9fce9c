"""Reservoir and configuration commands: refill (with residual check and bridge bolus) and set."""

from firmware import calibration, limits, stops, units
from firmware import therapy as th
from firmware.demand import MAX_PER_DAY_CAP
from firmware.errors import (
    E_ARG_RANGE,
    E_ARG_TYPE,
    E_BENCH_DISABLED,
    E_BOLUS_ACTIVE,
    E_CAPACITY,
    E_RATE,
    E_STATE,
    CommandError,
)
from firmware.params import check_rate, flag, only, require_drug
from firmware.planner import rate_allowed

_MAX_VOLUME_NL = 100_000_000         # 100 mL: no implant reservoir is larger


def _volume_nl(req, key_ml, key_ul, required=True):
    """A volume given in mL (resolved to whole uL, exact in a 32-bit float) or uL."""
    if key_ul in req:
        return units.scaled_int(req, key_ul, 1000, 0, _MAX_VOLUME_NL)
    value = units.scaled_int(req, key_ml, 1000, 0, _MAX_VOLUME_NL // 1000, required=required)
    return None if value is None else value * 1000


def _rates_ok_at(ctl, therapy, conc, step_pl):
    """Every rate the programme can ask for is deliverable at this concentration and step."""
    if therapy.mode == th.CONTINUOUS:
        doses = (therapy.dose_ng_day,)
    elif therapy.mode == th.FLEX:
        doses = therapy.doses_ng_day
    elif therapy.mode == th.MINIMUM:
        return rate_allowed(step_pl, ctl.config.minimum_nl_day)
    else:
        return True
    for dose in doses:
        if not rate_allowed(step_pl, th.rate_nl_day(dose, conc)):
            return False
    return True


def refill(ctl, req):
    """Drain, then fill with volume of drug at conc. Optional residual_ml (what was drained) is
    compared with the estimate; bridge: true pushes the catheter's old drug at the old rate."""
    only(req, "drug", "conc_mcg_ml", "volume_ml", "volume_ul", "residual_ml", "bridge")
    drug = units.text(req, "drug", 24)
    conc = units.whole_int(req, "conc_mcg_ml", 1, 100_000)
    limits.check_concentration(drug, conc)
    volume_nl = _volume_nl(req, "volume_ml", "volume_ul")
    residual_nl = _volume_nl(req, "residual_ml", "residual_ul", required=False)
    bridge = flag(req, "bridge")
    cfg = ctl.config
    acct = ctl.acct
    therapy = ctl.therapy()
    if volume_nl > cfg.reservoir_capacity_nl:
        raise CommandError(E_CAPACITY, "%d uL is more than the reservoir holds (%d uL)" % (
            volume_nl // 1000, cfg.reservoir_capacity_nl // 1000))
    if ctl.bolus.active():
        raise CommandError(E_BOLUS_ACTIVE, "a bolus is running (%s): refill after it ends" % ctl.bolus.kind)
    same_drug = drug == acct.drug
    if same_drug and not _rates_ok_at(ctl, therapy, conc, acct.step_pl):
        raise CommandError(E_RATE, "the programme cannot be delivered at %d mcg/mL" % conc)
    old_conc = ctl.basal_conc()
    do_bridge = bridge and same_drug and conc != acct.conc_mcg_ml and therapy.mode != th.STOPPED
    if bridge and not same_drug and acct.drug is not None:
        raise CommandError(E_STATE, "a bridge bolus needs the same drug (%s in the pump)" % acct.drug)
    # --- all checks passed: save first (a storage failure changes nothing), then act ---
    ctl.begin()
    drug_changed = acct.drug is not None and not same_drug
    if drug_changed:
        ctl.save_settings(therapy=th.Therapy(), drug=drug, conc=conc, demand=None)
    else:
        ctl.save_settings(drug=drug, conc=conc)
    log = ctl.log
    t_s = ctl.wall_s()
    estimate_pl = acct.reservoir_pl()
    before = {"drug": acct.drug, "conc_mcg_ml": acct.conc_mcg_ml, "estimate_pl": estimate_pl}
    if residual_nl is not None:
        before["residual_nl"] = residual_nl
        mismatch_nl = residual_nl - estimate_pl // 1000
        if mismatch_nl > cfg.residual_tolerance_nl or -mismatch_nl > cfg.residual_tolerance_nl:
            log.add(t_s, "warning", {"code": "REFILL_MISMATCH", "mismatch_nl": mismatch_nl,
                                          "detail": "drained volume differs from the estimate: "
                                                    "possible pocket fill or leak"})
    if drug_changed:
        old = therapy.describe()
        stopped = th.Therapy()
        ctl.set_therapy(stopped)
        ctl.demand.disable()
        log.add(t_s, "program", {"old": old, "new": stopped.describe(), "why": "drug changed"})
    ctl.fill(drug, conc, volume_nl)
    log.add(t_s, "refill", {"before": before, "drug": drug, "conc_mcg_ml": conc, "volume_nl": volume_nl,
                                 "bridge": do_bridge})
    if do_bridge:
        ctl.set_bridge(old_conc, cfg.catheter_volume_nl * 1000)
        log.add(t_s, "bridge_start", {"old_conc_mcg_ml": old_conc, "volume_nl": cfg.catheter_volume_nl})
    else:
        ctl.set_bridge(old_conc, 0)
        if same_drug and conc != before["conc_mcg_ml"] and ctl.therapy().mode != th.STOPPED:
            log.add(t_s, "warning", {"code": "CONC_CHANGE_NO_BRIDGE",
                                          "detail": "the catheter still holds %d mcg/mL" % before["conc_mcg_ml"]})
    if volume_nl > cfg.low_reservoir_nl:
        ctl.alarms.clear("LOW_RESERVOIR", t_s)
    if volume_nl >= (acct.step_pl + 999) // 1000:
        ctl.alarms.clear("EMPTY_RESERVOIR", t_s)
        ctl.unblock(stops.EMPTY)
    ctl.commit()
    ctl.storage_refilled()
    return {"reservoir_pl": acct.reservoir_pl(), "refill_due_s": ctl.refill_due_s(), "bridge": do_bridge}


def _check_calibration(req, step_pl, nominal_pl, bench_present, new):
    """The `set` command's calibration checks, after nl_per_step was parsed (step_pl: the calibration
    the command leaves; nominal_pl: the nominal step now). `nominal_nl_per_step` only with a bench
    (simulator or bench jumper: the provisioning bench). Puts a new nominal into `new`; raises
    CommandError, changing nothing."""
    if "nominal_nl_per_step" in req:
        if not bench_present:
            raise CommandError(E_BENCH_DISABLED, "the nominal step is set on the bench only (bench jumper)")
        nominal_pl = units.scaled_int(req, "nominal_nl_per_step", 1000, calibration.MIN_STEP_PL,
                                      calibration.MAX_STEP_PL)
        new["nominal_step_pl"] = nominal_pl
    if not calibration.plausible(step_pl, nominal_pl):
        raise CommandError(E_ARG_RANGE, "a %d pL step is more than %d %% from the pump's nominal %d pL step: "
                           "refused (a new pump head: set nominal_nl_per_step on the bench)" % (
                               step_pl, calibration.STEP_TOLERANCE_PCT, nominal_pl))


def _demand_settings(ctl, value, confirm):
    if value is None:
        return None
    if not isinstance(value, dict):
        raise CommandError(E_ARG_TYPE, "'demand' must be an object or null")
    only(value, "dose_mcg", "duration_s", "lockout_s", "max_per_day")
    require_drug(ctl)
    dose_ng = units.scaled_int(value, "dose_mcg", 1000, 1, 100_000_000)
    duration_s = units.whole_int(value, "duration_s", 1, 86400)
    lockout_s = units.whole_int(value, "lockout_s", 0, 86400)
    per_day = units.whole_int(value, "max_per_day", 1, MAX_PER_DAY_CAP)
    drug = ctl.acct.drug
    limits.check(drug, "demand_dose", dose_ng, confirm)
    limits.check(drug, "demand_per_day", per_day, confirm, unit_scale=1, unit="")
    return (dose_ng, duration_s, lockout_s, per_day)


def set_config(ctl, req):
    """Change settings; every value is validated before any is applied. Logged as old -> new."""
    keys = ("reservoir_capacity_ml", "low_reservoir_ml", "minimum_ul_day", "catheter_volume_ul",
            "nl_per_step", "max_rate_ul_h", "residual_tolerance_ml", "demand", "journal_interval_s",
            "tubing_service_ml", "nominal_nl_per_step", "confirm")
    only(req, *keys)
    confirm = flag(req, "confirm")
    cfg = ctl.config
    acct = ctl.acct
    new = {}
    if "reservoir_capacity_ml" in req:
        cap = units.scaled_int(req, "reservoir_capacity_ml", 1000, 1000, _MAX_VOLUME_NL // 1000) * 1000
        if cap < acct.reservoir_pl() // 1000:
            raise CommandError(E_CAPACITY, "the reservoir already holds more than that")
        new["reservoir_capacity_nl"] = cap
    if "low_reservoir_ml" in req:
        new["low_reservoir_nl"] = units.scaled_int(req, "low_reservoir_ml", 1000, 0, _MAX_VOLUME_NL // 1000) * 1000
    if new.get("low_reservoir_nl", cfg.low_reservoir_nl) >= new.get("reservoir_capacity_nl",
                                                                    cfg.reservoir_capacity_nl):
        raise CommandError(E_CAPACITY, "the low-reservoir threshold must be below the capacity")
    step_pl = cfg.step_pl
    if "nl_per_step" in req:
        step_pl = units.scaled_int(req, "nl_per_step", 1000, calibration.MIN_STEP_PL, calibration.MAX_STEP_PL)
        if ctl.bolus.active():
            raise CommandError(E_BOLUS_ACTIVE, "calibrate after the bolus ends")
        if acct.drug and not _rates_ok_at(ctl, ctl.therapy(), acct.conc_mcg_ml, step_pl):
            raise CommandError(E_RATE, "the programme cannot be delivered with %d pL steps" % step_pl)
        new["step_pl"] = step_pl
    # within +/- 25 % of the nominal step (H4)
    _check_calibration(req, step_pl, cfg.nominal_step_pl, ctl.hw.bench is not None, new)
    if "minimum_ul_day" in req:
        minimum = units.scaled_int(req, "minimum_ul_day", 1000, 1, 10_000_000)
        check_rate(minimum, step_pl)
        new["minimum_nl_day"] = minimum
    if "catheter_volume_ul" in req:
        new["catheter_volume_nl"] = units.scaled_int(req, "catheter_volume_ul", 1000, 0, 2_000_000)
    if "max_rate_ul_h" in req:
        rate = units.scaled_int(req, "max_rate_ul_h", 24_000, 24_000, 240_000_000)
        check_rate(rate, step_pl)
        new["max_rate_nl_day"] = rate
    if "residual_tolerance_ml" in req:
        new["residual_tolerance_nl"] = units.scaled_int(req, "residual_tolerance_ml", 1000, 0, 100_000) * 1000
    demand = _demand_settings(ctl, req["demand"], confirm) if "demand" in req else False
    if "tubing_service_ml" in req:
        new["tubing_service_nl"] = units.scaled_int(req, "tubing_service_ml", 1000, 0, 10_000_000) * 1000
    if "step_pl" in new:      # a calibration starts the tubing's service interval again
        new["tubing_base_ul"] = acct.delivered_ul()
    if "journal_interval_s" in req:
        new["journal_interval_s"] = units.whole_int(req, "journal_interval_s", 60, 86400)
    # --- all checks passed: save first (a storage failure changes nothing), then act ---
    ctl.begin()
    if demand is False:
        ctl.save_settings(config=new)
    else:
        ctl.save_settings(config=new, demand=demand)
    changes = {}
    for key, value in new.items():
        changes[key] = [getattr(cfg, key), value]
    ctl.set_config(new)
    if demand is not False:
        changes["demand"] = [ctl.demand.describe(), None]
        if demand is None:
            ctl.demand.disable()
        else:
            ctl.demand.configure(*demand)
        changes["demand"][1] = ctl.demand.describe()
    wall = ctl.wall_s()
    ctl.log.add(wall, "set", changes)
    if acct.drug is not None and acct.reservoir_nl > cfg.low_reservoir_nl:
        ctl.alarms.clear("LOW_RESERVOIR", wall)
    ctl.commit()
    return {"changes": changes, "refill_due_s": ctl.refill_due_s()}
