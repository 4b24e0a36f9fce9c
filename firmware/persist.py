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
from firmware.therapy import from_snapshot

SETTINGS = "settings"
JOURNAL = "journal"
PAYLOAD_VERSION = 1

# configuration kept by name: a newer firmware reading older settings keeps its defaults for new keys
CONFIG_KEYS = ("step_pl", "reservoir_capacity_nl", "low_reservoir_nl", "minimum_nl_day", "catheter_volume_nl",
               "max_rate_nl_day", "residual_tolerance_nl", "journal_interval_s", "tubing_service_nl",
               "tubing_base_ul", "nominal_step_pl")

def encode_settings(snap):
    """snap: {"cfg": {key: int}, "rx": Therapy.snapshot(), "drug": [drug, conc], "demand": [4 ints] or None}."""
    data = {"v": PAYLOAD_VERSION}
    data.update(snap)
    return json.dumps(data).encode()


def decode_settings(payload, defaults):
    """The settings record read back and checked, before anything is applied:
    {"cfg": {key: int} (only known keys), "therapy": Therapy, "drug": str or None, "conc": int,
    "demand": [dose_ng, duration_s, lockout_s, per_day] or None}. `defaults` is the board's Config (for
    keys an older record lacks). A record that is malformed or holds a calibration outside the nominal
    step's band raises ValueError/KeyError/TypeError/IndexError."""
    data = json.loads(payload)
    if data["v"] != PAYLOAD_VERSION:
        raise ValueError("settings version %r" % data["v"])
    cfg = {}
    for key, value in data["cfg"].items():
        if key in CONFIG_KEYS:
            if not isinstance(value, int):
                raise ValueError("settings value %s" % key)
            cfg[key] = value
    therapy = from_snapshot(data["rx"])
    drug, conc = data["drug"]
    demand = data["demand"]
    if demand and len(demand) != 4:
        raise ValueError("demand %r" % (demand,))
    step_pl = cfg.get("step_pl", defaults.step_pl)
    nominal_pl = cfg.get("nominal_step_pl", defaults.nominal_step_pl)
    if not calibration.plausible(step_pl, nominal_pl):
        raise ValueError("calibration %d pL outside the nominal %d pL step's band" % (step_pl, nominal_pl))
    return {"cfg": cfg, "therapy": therapy, "drug": drug, "conc": conc, "demand": demand or None}


def encode_journal(snap):
    """snap: firmware/store.py Store.journal_snapshot()."""
    data = {"v": PAYLOAD_VERSION}
    data.update(snap)
    return json.dumps(data).encode()


def decode_journal(payload):
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


def save(storage, name, seq, payload):
    """Write one record (firmware/record.py: atomic, CRC-checked)."""
    record.save(storage, name, seq, payload)


def load(storage, name):
    """(status, seq, payload) of a record (firmware/record.py)."""
    return record.load(storage, name)
