"""Settings and journal on flash (firmware/record.py: atomic, versioned, CRC-checked).

settings: what the clinician set: prescription, drug and concentration in the pump, configuration,
  demand limits. Written on every committed change, BEFORE the change takes effect in RAM; a torn
  write leaves the previous settings whole.
journal: the reservoir estimate, delivered totals, demand grants and the guard's window. Written every
  journal_interval_s and after every change. It carries a RESERVE: the most the pump could deliver
  before the next journal write (highest programmed rate over one interval, plus any bolus still
  running). On restore the reserve counts as delivered, so after a reset the estimate errs by at most
  one interval and always on the safe side (more delivered, less left). When the RTC kept time, the
  reserve is cut to what the highest rates could have delivered between the journal and the boot
  (the power went at or before the boot), which is still never less than the truth.
Payloads are compact JSON with a version key "v".
"""

import json

from firmware import calibration, record
from firmware.therapy import Therapy

SETTINGS = "settings"
JOURNAL = "journal"
PAYLOAD_VERSION = 1

# configuration kept by name: a newer firmware reading older settings keeps its defaults for new keys
_CONFIG_KEYS = ("step_pl", "reservoir_capacity_nl", "low_reservoir_nl", "minimum_nl_day", "catheter_volume_nl",
                "max_rate_nl_day", "residual_tolerance_nl", "journal_interval_s", "tubing_service_nl",
                "tubing_base_ul", "nominal_step_pl")


KEEP = object()


def settings_payload(pump, therapy=None, drug=KEEP, conc=None, config=None, demand=KEEP):
    """The settings as they will be after a change (overrides) — written before the change is made.
    config: dict of Config attributes to override; demand: (dose_ng, duration_s, lockout_s, per_day),
    None to disable, or KEEP."""
    t = therapy or pump.therapy
    cfg = pump.config
    overrides = config or {}
    if demand is KEEP:
        d = pump.demand
        demand = [d.dose_ng, d.duration_s, d.lockout_s, d.max_per_day] if d.enabled else None
    return json.dumps({
        "v": PAYLOAD_VERSION,
        "cfg": {k: overrides[k] if k in overrides else getattr(cfg, k) for k in _CONFIG_KEYS},
        "rx": [t.mode, t.dose_ng_day, t.cycle_s, list(t.starts_s), list(t.doses_ng_day)],
        "drug": [pump.acct.drug if drug is KEEP else drug, pump.acct.conc_mcg_ml if conc is None else conc],
        "demand": list(demand) if demand else None,
    }).encode()


def apply_settings(pump, payload):
    """Restore settings into a freshly booted pump, then hand every consumer its value
    (pump.apply_config(): the calibration reaches the accounts and the planners before the journal is
    applied). Everything is read and checked before anything is applied: a record that is malformed
    or holds a calibration outside the nominal step's band raises ValueError/KeyError/TypeError and
    leaves the board defaults untouched."""
    data = json.loads(payload)
    if data["v"] != PAYLOAD_VERSION:
        raise ValueError("settings version %r" % data["v"])
    cfg_values = data["cfg"]
    for key, value in cfg_values.items():
        if key in _CONFIG_KEYS and not isinstance(value, int):
            raise ValueError("settings value %s" % key)
    mode, dose, cycle_s, starts, doses = data["rx"]
    t = Therapy()
    if mode == "continuous":
        t.set_continuous(dose)
    elif mode == "flex":
        t.set_flex(cycle_s, starts, doses)
    elif mode == "minimum":
        t.set_minimum()
    elif mode != "stopped":
        raise ValueError("mode %r" % mode)
    drug, conc = data["drug"]
    demand = data["demand"]
    if demand and len(demand) != 4:
        raise ValueError("demand %r" % (demand,))
    cfg = pump.config
    step_pl = cfg_values.get("step_pl", cfg.step_pl)
    nominal_pl = cfg_values.get("nominal_step_pl", cfg.nominal_step_pl)
    if not calibration.plausible(step_pl, nominal_pl):
        raise ValueError("calibration %d pL outside the nominal %d pL step's band" % (step_pl, nominal_pl))
    for key in _CONFIG_KEYS:
        if key in cfg_values:
            setattr(cfg, key, cfg_values[key])
    pump.therapy = t
    pump.acct.drug = drug
    pump.acct.conc_mcg_ml = conc
    if demand:
        pump.demand.configure(*demand)
    pump.apply_config()


def journal_payload(pump, reserve_pl):
    acct = pump.acct
    bolus = pump.bolus
    tb = pump.timebase
    guard = pump.supervisor.guard
    d = pump.demand
    return json.dumps({
        "v": PAYLOAD_VERSION,
        "t": tb.wall_s,
        "jump": tb.jump_s,
        "reserve": reserve_pl,
        "rates": [pump.top_rate_nl_day(), bolus.planner.rate_nl_day if bolus.active() else 0,
                  bolus.steps_left * acct.step_pl if bolus.active() else 0, acct.step_pl],
        "res": [acct.reservoir_nl, acct._reservoir_owed_pl],
        "fill": [acct.fill_nl, acct._fill_pl],
        "bank": [acct._bank_ul, acct._bank_pl, acct._bank_mcg, acct._bank_pg],
        "steps": acct.steps,
        "bridge": [pump.bridge_volume_pl(), pump.bridge_conc_mcg_ml],
        "bolus": [bolus.kind, bolus.steps_total, bolus.steps_left] if bolus.active() else None,
        "grants": d.grant_times(),
        "guard": guard.snapshot(),
        "stop": pump.stop_mask & pump.persistent_stop_bits(),
    }).encode()


def read_journal(payload):
    data = json.loads(payload)
    if data["v"] != PAYLOAD_VERSION:
        raise ValueError("journal version %r" % data["v"])
    return data


def reserve_for(data, elapsed_s):
    """pL to count as delivered after the journal: the full reserve, or (elapsed time known) what the
    highest rates could have pushed in that time, whichever is less."""
    reserve = data["reserve"]
    if elapsed_s is None or elapsed_s < 0:
        return reserve
    basal_nl_day, bolus_nl_day, bolus_left_pl, step_pl = data["rates"]
    bound = basal_nl_day * 1000 * elapsed_s // 86400 + step_pl
    bound += min(bolus_left_pl, bolus_nl_day * 1000 * elapsed_s // 86400 + step_pl)
    return min(reserve, bound)


def apply_journal(pump, data, reserve, time_known):
    """Restore the journal read by read_journal(); `reserve` pL count as delivered. The guard assumes
    the reserve's pulses sent only when the time off is known (time_known: see firmware/guard.py)."""
    acct = pump.acct
    acct.reservoir_nl, acct._reservoir_owed_pl = data["res"]
    acct.fill_nl, acct._fill_pl = data["fill"]
    acct._bank_ul, acct._bank_pl, acct._bank_mcg, acct._bank_pg = data["bank"]
    acct.steps = data["steps"]
    acct.consume_pl(reserve)
    bridge_pl, pump.bridge_conc_mcg_ml = data["bridge"]
    pump.set_bridge_pl(bridge_pl - reserve)
    for t_s in data["grants"]:
        pump.demand.grant(t_s)
    pump.timebase.jump_s = data["jump"]
    # the reserve already holds one whole step for each planner's partial step: floor, not + 1
    assumed = reserve // data["rates"][3] if time_known else 0
    pump.supervisor.guard.restore(data["guard"], assumed, pump.timebase.mono_s())
    return data["stop"]


def save(pump, name, payload):
    """Write a record; the sequence number is the pump's write counter for that name."""
    seq = pump.persist_seq.get(name, 0) + 1
    record.save(pump.hw.storage, name, seq, payload)
    pump.persist_seq[name] = seq
